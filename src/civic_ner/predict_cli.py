"""``civic-ner predict`` and ``civic-ner facts``: run a model over new bulletins."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .cli_common import EXIT_SOME_INPUTS_FAILED, add_precision_arg, fail

FACT_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".html": "html", ".htm": "html"}


def _run_model(args: argparse.Namespace, fmt: str, writers=None, what: str = "entities") -> int:
    """Load the model, stream the inputs through it into one output; shared by predict and facts."""
    from .api import load
    from .writers import predict_files

    if args.batch_size < 1:
        return fail(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.output not in (None, "-") and Path(args.output).is_dir():
        return fail(f"{args.output}: is a directory; -o takes a file name")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in front of our own output
    started = time.perf_counter()
    ner = load(args.model, device=args.device, precision=args.precision)
    loaded = time.perf_counter() - started

    def report(name: str, message: str) -> None:
        print(f"civic-ner: error: {name}: {message}", file=sys.stderr)

    facts = 0

    def count_facts(doc) -> None:
        nonlocal facts
        facts += len(doc.facts)

    summary = predict_files(ner, args.inputs, fmt, args.output, args.batch_size, report=report, writers=writers,
                            on_document=count_facts if what == "facts" else None)
    target = args.output if args.output not in (None, "-") else "stdout"
    precision = f", {ner.tagger.precision}" if getattr(ner.tagger, "precision", None) else ""
    if summary.written:
        found = f"{facts} facts" if what == "facts" else f"{summary.entities} entities"
        print(
            f"{summary.documents} documents, {found} -> {target} "
            f"(model loaded in {loaded:.1f} s{precision}, predicted in {time.perf_counter() - started - loaded:.1f} s)",
            file=sys.stderr,
        )
        if summary.failed:
            print(f"civic-ner: {len(summary.failed)} input(s) failed (reported above)", file=sys.stderr)
    elif len(summary.failed) != 1:  # a single bad input has said it all in its own line
        print(f"civic-ner: error: none of the {len(summary.failed)} inputs could be read; nothing written", file=sys.stderr)
    return EXIT_SOME_INPUTS_FAILED if summary.failed else 0


def cmd_predict(args: argparse.Namespace) -> int:
    if args.engine == "ray":
        return _run_ray(args)
    if args.format == "parquet":
        return fail("--format parquet is written by --engine ray (shards in a folder)")
    for flag in ("workers", "cpus_per_worker", "gpus_per_worker", "memory_per_worker", "ray_address", "shard_docs"):
        if getattr(args, flag) is not None:
            return fail(f"--{flag.replace('_', '-')} needs --engine ray")
    return _run_model(args, args.format or "jsonl")


def _run_ray(args: argparse.Namespace) -> int:
    """Shards of entities, values and facts under the -o folder, over a pool of Ray actors (resumable)."""
    from .scale import RayOptions, run_ray
    from .shards import DEFAULT_SHARD_DOCS

    if args.output in (None, "-"):
        return fail("--engine ray needs -o FOLDER (it writes one file per shard)")
    if "-" in args.inputs:
        return fail("--engine ray reads folders, .jsonl or .parquet files, not standard input")
    if args.device or args.threads:
        return fail("--engine ray sizes each actor with --cpus-per-worker / --gpus-per-worker, not --device / --threads")
    if args.batch_size < 1:
        return fail(f"--batch-size must be at least 1, not {args.batch_size}")
    given = {k: v for k, v in (("workers", args.workers), ("cpus_per_worker", args.cpus_per_worker),
                                ("gpus_per_worker", args.gpus_per_worker), ("memory_gib", args.memory_per_worker))
             if v is not None}
    options = RayOptions(**given, address=args.ray_address, batch_size=args.batch_size, precision=args.precision)
    shard_docs = DEFAULT_SHARD_DOCS if args.shard_docs is None else args.shard_docs
    summary = run_ray(args.inputs, args.model, args.output, args.format or "parquet", options, shard_docs,
                      report=lambda line: print(line, file=sys.stderr))
    for message in summary.failed:
        print(f"civic-ner: error: {message}", file=sys.stderr)
    if summary.stale:
        print(f"civic-ner: {len(summary.stale)} shard file(s) in {args.output} belong to other inputs or another model "
              f"(e.g. {summary.stale[0]}); remove them before reading the folder as one dataset", file=sys.stderr)
    rate = f", {summary.chars / summary.seconds:,.0f} chars/s" if summary.seconds else ""
    print(f"{summary.shards} shards ({summary.skipped} already done): {summary.documents} documents, "
          f"{summary.entities} entities, {summary.facts} facts -> {args.output} in {summary.seconds:.1f} s{rate}",
          file=sys.stderr)
    return EXIT_SOME_INPUTS_FAILED if summary.failed else 0


def cmd_facts(args: argparse.Namespace) -> int:
    """Who did what with how much: facts as JSONL, the totals as CSV, or both on an HTML page."""
    from .writers import FACT_WRITERS

    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lower() if args.output not in (None, "-") else ".jsonl"
        fmt = FACT_SUFFIXES.get(suffix)
        if fmt is None:
            return fail(f"{args.output}: cannot tell the format from the suffix {suffix!r}; use .jsonl, .csv, .html or --format")
    return _run_model(args, fmt, FACT_WRITERS, what="facts")


def add_model_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="text files, directories (*.txt, recursively) or - for stdin")
    p.add_argument("--model", required=True, help="a model directory written by train.py (runs/<name>/model)")
    p.add_argument("-o", "--output", default=None, help="output file (default: stdout)")
    p.add_argument("--batch-size", type=int, default=32, help="model windows per forward pass (default: %(default)s)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")
    add_precision_arg(p)


def add_engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("corpus scale (--engine ray; pip install civic-ner[scale])")
    g.add_argument("--engine", choices=["process", "ray"], default="process",
                   help="process: this process (default); ray: a pool of Ray actors writing resumable shards to -o FOLDER")
    g.add_argument("--workers", type=int, default=None, help="actors, each with its own model (default: 1)")
    g.add_argument("--cpus-per-worker", type=float, default=None, help="CPUs per actor, also its torch threads (default: 1)")
    g.add_argument("--gpus-per-worker", type=float, default=None, help="GPUs per actor; above 0 runs on CUDA (default: 0)")
    g.add_argument("--memory-per-worker", type=float, default=None, metavar="GIB",
                   help="memory Ray reserves per actor, in GiB (default: none; an actor of the default model holds about 2.5)")
    g.add_argument("--ray-address", default=None, help="join this Ray cluster (auto on one of its nodes, or HEAD:6379)")
    g.add_argument("--shard-docs", type=int, default=None, help="documents per output shard (default: 64)")


def add_predict_commands(sub) -> None:
    p = sub.add_parser("predict", help="tag new bulletins (JSONL, Label Studio pre-annotations, HTML page, CSV)")
    add_model_run_args(p)
    p.add_argument("--format", choices=["jsonl", "labelstudio", "html", "csv", "parquet"], default=None,
                   help="default jsonl; with --engine ray: parquet (default) or jsonl shards")
    add_engine_args(p)
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("facts", help="who did what with how much: facts (JSONL), totals (CSV) or both (HTML)")
    add_model_run_args(p)
    p.add_argument("--format", choices=["jsonl", "csv", "html"], default=None,
                   help="jsonl: one fact per line; csv: totals per organization and program; html: a page with both "
                        "(default: from the -o suffix, else jsonl)")
    p.set_defaults(func=cmd_facts)
