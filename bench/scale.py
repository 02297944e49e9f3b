"""Corpus-scale benchmark: generated bulletins through the single process and through Ray with 1 and 2 workers.

    PYTHONPATH=src .venv/bin/python bench/scale.py --model runs/default/model [--bulletins 10000] [--workers 1,2]

1. Generator: ``--bulletins`` bulletins of realistic length (1,200-3,000 characters, about 2,000 on
   average, like a county's daily bulletin) written as ``.txt`` files, each a headline and whole
   sections of the synthetic corpus (data/synthetic.jsonl) picked by a seeded random generator, so
   the run is the same every time.
2. Runner: the folder through ``civic-ner predict``'s single-process path (:func:`civic_ner.writers.predict_files`,
   ``--process-threads`` torch threads) and through ``--engine ray`` (:func:`civic_ner.scale.run_ray`,
   one torch thread per worker) for each worker count; cleaned characters per wall second, scaling
   efficiency (rate with k workers / (k x rate with 1 worker)), and whether every document got the same
   entities and facts on both paths. Both paths do the same work: Ray's shards carry every document's
   facts, so the single process computes them too (its JSONL holds the entities; the facts are kept
   for the comparison). Ray's start is timed apart; each Ray figure includes its actors' model loads.
   ``--no-process`` leaves the single process out (a long run of the Ray engine alone; no comparison).

Results go to stdout and, with ``--json``, to a file (bench/results/scale.json).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def bulletin_texts(n: int, seed: int = 23, source: Path = ROOT / "data" / "synthetic.jsonl") -> list[str]:
    """``n`` bulletins made of whole synthetic sections, 1,200-3,000 characters each (seeded)."""
    sections = [json.loads(line)["text"].strip() for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not sections:
        raise SystemExit(f"{source}: no sections to build bulletins from")
    rng = random.Random(seed)
    texts = []
    for i in range(n):
        target = rng.randint(1200, 3000)
        parts = [f"第{i + 1}期 社会救助工作简报"]
        while sum(len(p) for p in parts) < target:
            parts.append(rng.choice(sections))
        texts.append("\n\n".join(parts) + "\n")
    return texts


def write_bulletins(folder: Path, n: int, seed: int = 23) -> int:
    """The bulletins as UTF-8 ``.txt`` files, 1,000 per subfolder; returns their characters."""
    total = 0
    for i, text in enumerate(bulletin_texts(n, seed)):
        path = folder / f"batch{i // 1000:02d}" / f"bulletin_{i:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        total += len(text)
    return total


def entity_tuples(entities: list[dict]) -> list[tuple]:
    """(start, end, label) of each entity as a shard row holds it."""
    return [(e["start"], e["end"], e["label"]) for e in entities]


def fact_tuples(facts: list[dict]) -> list[tuple]:
    """(relation, from start, from end, to start, to end) of each fact as a shard row holds it."""
    return [(f["relation"], f["from"]["start"], f["from"]["end"], f["to"]["start"], f["to"]["end"]) for f in facts]


def run_single(model: str, folder: Path, out: Path, threads: int) -> tuple[dict, dict]:
    """The single-process path, facts included; (figures, {source: (entity tuples, fact tuples)})."""
    import torch

    from civic_ner.api import load
    from civic_ner.shards import Document, document_row
    from civic_ner.writers import predict_files

    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    ner = load(model)
    loaded = time.perf_counter() - t0
    chars = facts = 0
    results: dict[str, tuple] = {}

    def on_document(doc) -> None:
        nonlocal chars, facts
        chars += len(doc.text)
        row = document_row(Document(doc.source, doc.source, doc.text), doc)  # the row a Ray shard writes
        facts += len(row["facts"])
        results[doc.source] = (entity_tuples(row["entities"]), fact_tuples(row["facts"]))

    t0 = time.perf_counter()
    summary = predict_files(ner, [str(folder)], "jsonl", out, on_document=on_document)
    seconds = time.perf_counter() - t0
    figures = {"engine": "process", "torch_threads": threads, "model_load_seconds": round(loaded, 2),
               "documents": summary.documents, "chars": chars, "facts": facts, "seconds": round(seconds, 2),
               "chars_per_second": round(chars / seconds, 1)}
    return figures, results


def run_ray_workers(model: str, folder: Path, out: Path, workers: int, shard_docs: int) -> tuple[dict, dict]:
    """One ``--engine ray`` run with ``workers`` actors of one CPU each; (figures, {source: (entity tuples, fact tuples)})."""
    from civic_ner.scale import RayOptions, run_ray
    from civic_ner.shards import read_shard_rows

    t0 = time.perf_counter()
    summary = run_ray([str(folder)], model, out, "parquet", RayOptions(workers=workers, cpus_per_worker=1.0), shard_docs)
    seconds = time.perf_counter() - t0
    results = {row["source"]: (entity_tuples(row["entities"]), fact_tuples(row["facts"]))
               for f in sorted(out.glob("part-*.parquet")) for row in read_shard_rows(f)}
    figures = {"engine": "ray", "workers": workers, "cpus_per_worker": 1.0, "shard_docs": shard_docs,
               "shards": summary.shards, "documents": summary.documents, "chars": summary.chars,
               "facts": summary.facts, "seconds": round(seconds, 2),
               "chars_per_second": round(summary.chars / seconds, 1), "failed": len(summary.failed)}
    return figures, results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model directory (runs/<name>/model)")
    parser.add_argument("--bulletins", type=int, default=10_000)
    parser.add_argument("--workers", default="1,2", help="Ray worker counts, comma-separated")
    parser.add_argument("--process-threads", type=int, default=1, help="torch threads of the single process")
    parser.add_argument("--shard-docs", type=int, default=64)
    parser.add_argument("--no-process", action="store_true",
                        help="leave the single process out (the Ray engine alone: no same-output check)")
    parser.add_argument("--json", default=None, help="also write the results here (bench/results/scale.json)")
    parser.add_argument("--keep", default=None, help="keep the bulletins and outputs in this folder")
    args = parser.parse_args(argv)
    import importlib.util

    if importlib.util.find_spec("ray") is None:  # fail before the single-process run, not after it
        raise SystemExit("bench/scale.py: Ray is not installed (pip install \"civic-ner[scale]\")")

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="civic-ner-scale-"))
    folder = work / "bulletins"
    if folder.exists():
        shutil.rmtree(folder)
    generated = write_bulletins(folder, args.bulletins)
    results: dict = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": args.model,
        "bulletins": args.bulletins, "generated_chars": generated, "cpu_count": os.cpu_count(),
        "platform": platform.platform(), "load_average": list(os.getloadavg()), "runs": [],
    }
    from civic_ner.device import cpu_has_fast_bf16

    results["cpu_fast_bf16"] = cpu_has_fast_bf16()  # whether `auto` runs bf16 in the workers
    try:
        reference = None
        if not args.no_process:
            single, reference = run_single(args.model, folder, work / "process.jsonl", args.process_threads)
            results["runs"].append(single)
            print(json.dumps(single), flush=True)
        import logging

        import ray

        t0 = time.perf_counter()
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, logging_level=logging.WARNING)
        from civic_ner.scale import quiet_ray_data

        quiet_ray_data(ray)
        results["ray_start_seconds"] = round(time.perf_counter() - t0, 2)
        try:
            for k in (int(w) for w in args.workers.split(",")):
                out = work / f"ray-{k}"
                shutil.rmtree(out, ignore_errors=True)
                figures, found = run_ray_workers(args.model, folder, out, k, args.shard_docs)
                if reference is not None:
                    figures["same_entities_as_process"] = same_part(found, reference, 0)
                    figures["same_facts_as_process"] = same_part(found, reference, 1)
                results["runs"].append(figures)
                print(json.dumps(figures), flush=True)
        finally:
            ray.shutdown()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    add_efficiency(results)
    print_table(results)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


def same_part(found: dict, reference: dict, part: int) -> bool:
    """Whether every document has the same entities (part 0) or facts (part 1) in both results."""
    return {source: pair[part] for source, pair in found.items()} == {source: pair[part] for source, pair in reference.items()}


def add_efficiency(results: dict) -> None:
    """Scaling efficiency of each Ray run against Ray with 1 worker, and each Ray run against the single process."""
    runs = results["runs"]
    single = next((r for r in runs if r["engine"] == "process"), None)
    one = next((r for r in runs if r["engine"] == "ray" and r["workers"] == 1), None)
    for r in runs:
        if r["engine"] == "ray":
            if single is not None:
                r["vs_process"] = round(r["chars_per_second"] / single["chars_per_second"], 3)
            if one is not None:
                r["scaling_efficiency"] = round(r["chars_per_second"] / (r["workers"] * one["chars_per_second"]), 3)


def print_table(results: dict) -> None:
    """The runs as a Markdown table on stdout, for the log of a long run."""
    print(f"\n{results['bulletins']} bulletins, {results['generated_chars']:,} characters, "
          f"{results['cpu_count']} CPUs, load average {results['load_average'][0]:.1f}\n")
    print("| engine | workers | seconds | chars/s | facts | vs process | scaling efficiency | same entities | same facts |")
    print("|---|---:|---:|---:|---:|---:|---:|---|---|")
    for r in results["runs"]:
        print(f"| {r['engine']} | {r.get('workers', '-')} | {r['seconds']} | {r['chars_per_second']:,.0f} | {r.get('facts', '-')} | "
              f"{r.get('vs_process', '-')} | {r.get('scaling_efficiency', '-')} | {r.get('same_entities_as_process', '-')} | "
              f"{r.get('same_facts_as_process', '-')} |")


if __name__ == "__main__":
    sys.exit(main())
