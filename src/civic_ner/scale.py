"""``civic-ner predict --engine ray``: a corpus over many cores or machines with Ray Data.

The driver plans the shards (:mod:`civic_ner.shards`), drops those whose output file exists (resume),
and hands the rest to Ray Data as a dataset of shard descriptions; ``map_batches`` runs them on a pool
of :class:`ShardTagger` actors, each loading the model once and then reading, predicting and writing
whole shards. Ray Data's own readers and writers are not used on purpose: they cut blocks and name
output files themselves, and a resumable run needs output files keyed by the inputs they cover.
The predictions are those of :meth:`civic_ner.api.NER.pipe`, document by document, so the entities
are the single-process path's. Ray is an optional extra (``pip install civic-ner[scale]``).
"""
from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .shards import (
    DEFAULT_SHARD_DOCS, FORMATS, ScaleError, Shard, cpu_threads, document_row, plan_shards, shard_documents,
    stale_files, write_shard,
)


def require_ray():
    """The ``ray`` module with Ray Data, or one line saying how to get it."""
    try:
        import ray
        import ray.data  # noqa: F401  (ray without the [data] extra has no pandas/pyarrow readers)
    except ImportError:
        raise ScaleError("the ray engine needs Ray Data: pip install civic-ner[scale]") from None
    return ray


def _requested_precision(precision: str | None) -> str | None:
    """The precision actors are asked for: an explicit one, else the driver's ``$CIVIC_NER_PRECISION``
    (actors on other nodes do not share its environment), else None (each actor's own auto)."""
    import os

    from .device import PRECISION_ENV

    if precision not in (None, "auto"):
        return precision
    return os.environ.get(PRECISION_ENV) or None


class ShardTagger:
    """A Ray actor: one model load, then whole shards read, predicted and written (one file each)."""

    def __init__(self, model: str, out_dir: str, fmt: str, device: str, threads: int, batch_size: int,
                 precision: str | None = None) -> None:
        import torch

        from .api import load

        torch.set_num_threads(threads)
        self.ner = load(model, device=device, precision=precision)
        self.out_dir = Path(out_dir)
        self.fmt = fmt
        self.batch_size = batch_size

    def run_shard(self, shard: Shard) -> dict[str, Any]:
        started = time.perf_counter()
        documents = list(shard_documents(shard))
        readable = [d for d in documents if d.text is not None]
        docs = iter(self.ner._pipe(((d.text, d.source) for d in readable), self.batch_size))  # cleaned already
        rows = [document_row(d, next(docs) if d.text is not None else None) for d in documents]
        write_shard(rows, self.out_dir / shard.file(self.fmt), self.fmt)
        return {
            "shard": shard.name, "documents": len(readable), "chars": sum(len(d.text) for d in readable),
            "entities": sum(len(r["entities"]) for r in rows), "facts": sum(len(r["facts"]) for r in rows),
            "errors": json.dumps([d.error for d in documents if d.error], ensure_ascii=False),
            "seconds": time.perf_counter() - started,
        }

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        keys = ("name", "kind", "path", "items", "root")
        results = [self.run_shard(Shard.from_row({k: batch[k][i] for k in keys})) for i in range(len(batch["name"]))]
        return {key: [r[key] for r in results] for key in results[0]} if results else {}


@dataclass
class ScaleSummary:
    shards: int = 0
    skipped: int = 0
    documents: int = 0
    chars: int = 0
    entities: int = 0
    facts: int = 0
    seconds: float = 0.0
    failed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


@dataclass
class RayOptions:
    """How the actor pool is sized and where it runs (``address``: an existing cluster, else a local one)."""

    workers: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    address: str | None = None
    batch_size: int = 32
    precision: str | None = None  # None/auto: as the driver's $CIVIC_NER_PRECISION says, else each actor's device
    memory_gib: float | None = None  # memory Ray reserves per actor (None: none, Ray packs actors by CPUs alone)

    def check(self) -> None:
        if self.workers < 1:
            raise ScaleError(f"--workers must be at least 1, not {self.workers}")
        if self.cpus_per_worker <= 0 or self.gpus_per_worker < 0:
            raise ScaleError("--cpus-per-worker must be above 0 and --gpus-per-worker at least 0")
        if self.memory_gib is not None and not 0 < self.memory_gib < math.inf:
            raise ScaleError(f"--memory-per-worker must be above 0 GiB, not {self.memory_gib:g}")

    def memory_bytes(self) -> int | None:
        """The memory request per actor in bytes (rounded up, so that a small request never becomes none)."""
        return None if self.memory_gib is None else math.ceil(self.memory_gib * 2**30)

    def check_fits(self, ray) -> None:
        """Refuse a pool whose memory requests cannot all be placed: an actor must fit on one node, and
        one that fits nowhere would wait forever. Counted on the nodes alive now (a fixed cluster)."""
        need = self.memory_bytes()
        if need is None:
            return
        nodes = [n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive")]
        places = sum(int(memory // need) for memory in nodes)
        if places < self.workers:
            raise ScaleError(f"{self.workers} workers x {self.memory_gib:g} GiB (--memory-per-worker) do not fit: the "
                             f"{len(nodes)} node(s) of this Ray cluster offer {', '.join(f'{m / 2**30:.1f}' for m in nodes)} GiB "
                             f"of memory, room for {places}; lower --workers or --memory-per-worker")

    def remote_args(self) -> dict[str, Any]:
        """What Ray reserves for each actor: CPUs, GPUs and, when asked for, memory."""
        memory = self.memory_bytes()
        return {"num_cpus": self.cpus_per_worker, "num_gpus": self.gpus_per_worker or None} | (
            {"memory": memory} if memory is not None else {})


def _start_ray(ray, address: str | None) -> bool:
    """Join ``address`` or start a local Ray; True when this call started it (and should stop it)."""
    if ray.is_initialized():
        return False
    import logging

    ray.init(address=address, logging_level=logging.WARNING, include_dashboard=False, log_to_driver=True)
    quiet_ray_data(ray)
    return True


def quiet_ray_data(ray) -> None:
    """No progress bars or per-dataset INFO lines: the command prints one line per shard itself."""
    import logging

    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)


def run_ray(
    inputs: Sequence[str], model: str | Path, out_dir: str | Path, fmt: str = "parquet",
    options: RayOptions | None = None, shard_docs: int = DEFAULT_SHARD_DOCS,
    report: Callable[[str], None] | None = None,
) -> ScaleSummary:
    """Predict every input into shards under ``out_dir``, skipping the shards already written there."""
    from .model_dir import model_version, read_meta

    options = options or RayOptions()
    options.check()
    if fmt not in FORMATS:
        raise ScaleError(f"the ray engine writes {' or '.join(FORMATS)}, not {fmt!r}")
    ray = require_ray()
    read_meta(Path(model))  # a bad model directory is one line here, not a traceback from every actor
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ScaleError(f"{out}: not a directory; -o takes a folder with the ray engine")
    out.mkdir(parents=True, exist_ok=True)
    plan = plan_shards(inputs, model_version(model), shard_docs)
    pending = [s for s in plan if not (out / s.file(fmt)).exists()]
    summary = ScaleSummary(shards=len(plan), skipped=len(plan) - len(pending), stale=stale_files(out, plan, fmt))
    if not pending:
        return summary
    started_here = _start_ray(ray, options.address)
    started = time.perf_counter()
    try:
        options.check_fits(ray)
        ds = ray.data.from_items([s.row() for s in pending], override_num_blocks=len(pending))
        device = "cuda" if options.gpus_per_worker > 0 else "cpu"
        ds = ds.map_batches(
            ShardTagger, batch_size=1, compute=ray.data.ActorPoolStrategy(size=options.workers), **options.remote_args(),
            fn_constructor_kwargs={"model": str(Path(model).resolve()), "out_dir": str(out.resolve()), "fmt": fmt,
                                   "device": device, "threads": cpu_threads(options.cpus_per_worker),
                                   "batch_size": options.batch_size, "precision": _requested_precision(options.precision)},
        )
        for row in ds.iter_rows():
            _add(summary, row)
            if report is not None:
                report(f"{row['shard']}: {row['documents']} documents, {row['entities']} entities ({row['seconds']:.1f} s)")
    finally:
        if started_here:
            ray.shutdown()
    summary.seconds = time.perf_counter() - started
    return summary


def _add(summary: ScaleSummary, row: dict[str, Any]) -> None:
    summary.documents += int(row["documents"])
    summary.chars += int(row["chars"])
    summary.entities += int(row["entities"])
    summary.facts += int(row["facts"])
    summary.failed.extend(json.loads(row["errors"]))
