"""Throughput and memory of ``civic-ner predict`` (the code path of the command, in process).

    .venv/bin/python bench/predict_throughput.py --model runs/default/model [--docs 1000] [--threads N]

1. Speed: the five seed bulletins (data/raw/*.txt) are read, cleaned, predicted and written as JSONL
   by :func:`civic_ner.writers.predict_files`, exactly what ``civic-ner predict data/raw -o X``
   runs after loading the model. Reported: model load seconds (separately), cleaned characters per
   wall second of the prediction run (median over ``--repeats`` runs, after one warm-up run), peak RSS.
2. Memory flatness: ``--docs`` bulletins (default 1,000) are generated into a temporary directory by
   rotating the seed paragraphs (every fifth file saved as GB18030 so that decoding is exercised too)
   and predicted in one run; the resident set size is sampled after document 100 and after the last
   one. Streaming keeps it flat: the difference should be small compared with the model itself.
   ``--docs 0`` skips this part.

Results go to stdout as a table and, with ``--json``, to a file. The CPU figures depend on the
threads torch uses: pass ``--threads`` on a shared machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def current_rss_mb() -> float:
    """Resident set size now (Linux /proc), else the peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return peak_rss_mb()


def peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / (1024 if sys.platform == "darwin" else 1)


def generate_bulletins(raw_dir: Path, out_dir: Path, n: int, seed_step: int = 7) -> int:
    """Write ``n`` bulletins made of rotating windows over the seed paragraphs; returns total bytes."""
    paragraphs = [
        line.strip()
        for path in sorted(raw_dir.glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if len(line.strip()) >= 8
    ]
    total = 0
    for i in range(n):
        start = (i * seed_step) % len(paragraphs)
        length = 12 + (i * 5) % 30
        body = [paragraphs[(start + k) % len(paragraphs)] for k in range(length)]
        text = f"第{i + 1}期 社会救助简报\n\n" + "\n".join(body) + "\n"
        encoding = "gb18030" if i % 5 == 4 else "utf-8"
        data = text.encode(encoding, errors="replace")
        path = out_dir / f"week{i // 100:02d}" / f"bulletin_{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="model directory (runs/<name>/model)")
    parser.add_argument("--raw-dir", default=str(ROOT / "data" / "raw"))
    parser.add_argument("--repeats", type=int, default=3, help="timed runs over the seed bulletins")
    parser.add_argument("--docs", type=int, default=1000, help="generated bulletins for the memory run (0: skip)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--device", default=None)
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    from civic_ner.api import load
    from civic_ner.reading import expand_inputs, read_bulletin
    from civic_ner.writers import predict_files

    hf_logging.disable_progress_bar()
    rss_before_load = current_rss_mb()
    started = time.perf_counter()
    ner = load(args.model, device=args.device)
    load_seconds = time.perf_counter() - started
    rss_after_load = current_rss_mb()

    raw_dir = Path(args.raw_dir)
    inputs, errors = expand_inputs([str(raw_dir)])
    if errors or not inputs:
        print(f"predict_throughput: error: {raw_dir}: no seed bulletins", file=sys.stderr)
        return 2
    chars = sum(len(read_bulletin(i.path)) for i in inputs)
    results: dict = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": str(args.model),
        "model_version": ner.version,
        "device": str(ner.tagger.device),
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "batch_size": args.batch_size,
        "model_load_seconds": round(load_seconds, 3),
        "rss_mb_before_load": round(rss_before_load, 1),
        "rss_mb_after_load": round(rss_after_load, 1),
        "seed_files": len(inputs),
        "seed_clean_chars": chars,
    }

    with tempfile.TemporaryDirectory(prefix="civic-ner-bench-") as tmp:
        out = Path(tmp) / "out.jsonl"
        predict_files(ner, [str(raw_dir)], "jsonl", out, args.batch_size)  # warm-up
        seconds = []
        for _ in range(max(args.repeats, 1)):
            t0 = time.perf_counter()
            summary = predict_files(ner, [str(raw_dir)], "jsonl", out, args.batch_size)
            seconds.append(time.perf_counter() - t0)
        median = statistics.median(seconds)
        results.update(
            seed_seconds=[round(s, 3) for s in seconds],
            seed_chars_per_second=round(chars / median, 1),
            seed_entities=summary.entities,
            peak_rss_mb_after_seed_runs=round(peak_rss_mb(), 1),
        )

        if args.docs > 0:
            corpus = Path(tmp) / "bulletins"
            generated = generate_bulletins(raw_dir, corpus, args.docs)
            samples: dict[int, float] = {}
            count = 0

            def on_document(doc) -> None:
                nonlocal count
                count += 1
                if count % 100 == 0 or count == 1:
                    samples[count] = current_rss_mb()

            t0 = time.perf_counter()
            summary = predict_files(ner, [str(corpus)], "jsonl", Path(tmp) / "many.jsonl", args.batch_size,
                                    on_document=on_document)
            elapsed = time.perf_counter() - t0
            samples[count] = current_rss_mb()
            first = min(n for n in samples if n >= min(100, count))
            last = max(samples)
            results.update(
                flat_docs=summary.documents,
                flat_docs_seen_by_callback=count,
                flat_failed=len(summary.failed),
                flat_bytes=generated,
                flat_seconds=round(elapsed, 2),
                flat_docs_per_second=round(summary.documents / elapsed, 2),
                **{f"rss_mb_after_{n}_docs": round(v, 1) for n, v in sorted(samples.items())},
                rss_mb_growth_after_first_100=round(samples[last] - samples[first], 1),
                peak_rss_mb=round(peak_rss_mb(), 1),
            )

    width = max(len(k) for k in results)
    for key, value in results.items():
        print(f"{key:<{width}}  {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
