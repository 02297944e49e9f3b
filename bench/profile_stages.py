"""Where the time of the shipped prediction path goes: seconds, chars/s and share per stage, and model load time.

    PYTHONPATH=src .venv/bin/python bench/profile_stages.py --model runs/default/model [--generated-kb 1024] [--threads 2]

The path profiled is ``civic-ner predict`` followed by the facts (what ``civic-ner facts`` and the
Ray shards add): :func:`civic_ner.writers.predict_files` over the inputs into JSONL, ``doc.facts``
on every document. Nothing of the pipeline is copied here: the stages' own functions (reading,
``clean_text``, ``lac_tags``, ``featurize``, ``Scorer.encode``, ``collate``, the network's
``char_vectors`` and ``head``, ``marginals``, the feature CRF's ``marginals``, ``viterbi``, the span
rules, consistency, ``entity_value``, ``document_facts``, the JSONL writer) are wrapped with timers for
the run and unwrapped after it. Times are exclusive (a stage's own time, without the timed stages it
calls), so the rows add up to the run; "rest" is the untimed glue. Inputs: the raw seeds (data/raw)
and one generated file of ``--generated-kb`` KB (sections of the synthetic corpus, bench/scale.py's
generator), each after a warm-up on one seed. Also: LAC alone on the same cleaned texts (the issue's
yardstick) and the model load, cold (a fresh process: imports + load) and warm (a second load).

Writes bench/results/profile.json (``--json``) and prints a markdown table. (Not named ``profile.py``: in
bench/ that name would shadow the standard library's ``profile``, which torch imports through cProfile,
and break every other script there.)
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STAGES: dict[str, list[str]] = {
    "reading (decode)": ["reading:read_raw"],
    "cleaning": ["reading:clean_text"],
    "LAC features": ["features:lac_tags"],
    "other features (rules, quotes, lexicon, shape)": [
        "dataset:char_features", "features:rule_spans", "features:quote_tags", "features:lexicon_tags", "features:span_tags"],
    "datasets.map overhead": ["dataset:featurize"],
    "tokenization + windows (Scorer.encode)": ["prediction:Scorer.encode"],
    "batching (collate)": ["model:collate"],
    "encoder forward": ["net:char_vectors"],
    "head (BiLSTM + classifier)": ["net:head"],
    "network CRF marginals": ["model:batch_marginals"],
    "feature-CRF marginals": ["crf:marginals"],
    "decoding (viterbi)": ["model:viterbi"],
    "spans, span rules, consistency": [
        "alignment:char_units", "alignment:unit_tags_to_spans", "span_rules:split_adjacent_quotes",
        "span_rules:drop_clutter", "prediction:_propagate_entities"],
    "values": ["api:entity_value"],
    "facts": ["facts:document_facts"],
    "writing (JSONL)": ["writers:JsonlWriter.write"],
}


class Timers:
    """Exclusive time per stage: a timed call's time minus that of the timed calls inside it."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[float] = []  # time spent in timed children, per open call

    def wrap(self, stage: str, fn):
        def timed(*args, **kwargs):
            self._stack.append(0.0)
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                children = self._stack.pop()
                self.seconds[stage] = self.seconds.get(stage, 0.0) + elapsed - children
                if self._stack:
                    self._stack[-1] += elapsed

        return timed


def _targets(ner) -> dict[str, tuple[object, str]]:
    """Where each named function lives: (owner object, attribute)."""
    import importlib

    targets: dict[str, tuple[object, str]] = {}
    for names in STAGES.values():
        for name in names:
            where, _, attr = name.partition(":")
            if where == "net":
                owner: object = ner.tagger.net
            elif where == "crf":
                owner = ner.tagger.crf
            else:
                owner = importlib.import_module(f"civic_ner.{where}")
            *path, leaf = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            targets[name] = (owner, leaf)
    return targets


@contextlib.contextmanager
def instrumented(ner, timers: Timers):
    """Every stage function wrapped for the block, restored after it."""
    saved = []
    targets = _targets(ner)
    for stage, names in STAGES.items():
        for name in names:
            owner, attr = targets[name]
            if owner is None:  # no feature CRF in this model
                continue
            original = owner.__dict__.get(attr) if isinstance(owner, type) else getattr(owner, attr)
            saved.append((owner, attr, original, attr in vars(owner)))
            setattr(owner, attr, timers.wrap(stage, getattr(owner, attr)))
    try:
        yield
    finally:
        for owner, attr, original, own in reversed(saved):
            if own:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)


def profile_inputs(ner, inputs: list[str], out: Path) -> dict:
    """One instrumented ``predict_files`` run (plus facts) over ``inputs``: chars, total and per stage."""
    from civic_ner.writers import predict_files

    timers = Timers()
    chars = 0

    def on_document(doc) -> None:
        nonlocal chars
        chars += len(doc.text)
        doc.facts  # noqa: B018  (computed as `civic-ner facts` and the Ray shards do)

    with instrumented(ner, timers):
        t0 = time.perf_counter()
        summary = predict_files(ner, inputs, "jsonl", out, on_document=on_document)
        total = time.perf_counter() - t0
    stages = [{"stage": s, "seconds": round(timers.seconds.get(s, 0.0), 4)} for s in STAGES]
    stages.append({"stage": "rest (glue, untimed)", "seconds": round(total - sum(timers.seconds.values()), 4)})
    for row in stages:
        row["share"] = round(row["seconds"] / total, 4)
        row["chars_per_second"] = round(chars / row["seconds"], 1) if row["seconds"] > 0 else None
    return {"documents": summary.documents, "chars": chars, "seconds": round(total, 3),
            "chars_per_second": round(chars / total, 1), "stages": stages}


def lac_alone(texts: list[str]) -> float:
    """chars/s of LAC alone (ORG tagging, line by line) on the same cleaned texts."""
    from civic_ner.lac import LacOrgTagger

    lac = LacOrgTagger()
    lac.tag_batch(texts[:1])
    t0 = time.perf_counter()
    lac.tag_batch(texts)
    return round(sum(map(len, texts)) / (time.perf_counter() - t0), 1)


def cold_load(model: str, threads: int) -> dict:
    """A fresh process: seconds to import civic-ner's prediction stack, then to load the model."""
    code = (
        "import time, sys, json; t0 = time.perf_counter(); import torch; torch.set_num_threads(%d); "
        "from civic_ner.api import load; t1 = time.perf_counter(); load(sys.argv[1]); t2 = time.perf_counter(); "
        "print(json.dumps({'imports_seconds': round(t1 - t0, 3), 'load_seconds': round(t2 - t1, 3)}))" % threads
    )
    out = subprocess.run([sys.executable, "-c", code, model], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def write_generated(path: Path, kb: int) -> None:
    """One long bulletin of about ``kb`` KB (UTF-8) from bench/scale.py's generator."""
    from scale import bulletin_texts  # bench/scale.py (this script's folder is on the path)

    texts, size = [], 0
    for text in bulletin_texts(max(1, kb // 4)):  # about 6 KB each: more than enough
        texts.append(text)
        size += len(text.encode("utf-8"))
        if size >= kb * 1024:
            break
    path.write_text("\n".join(texts), encoding="utf-8")


def markdown(results: dict) -> str:
    lines = []
    for name, run in results["inputs"].items():
        lines += [f"\n**{name}**: {run['documents']} documents, {run['chars']:,} characters, {run['seconds']} s, "
                  f"{run['chars_per_second']:,.0f} chars/s end to end (LAC alone {run['lac_alone_chars_per_second']:,.0f})\n",
                  "| stage | seconds | share | chars/s |", "|---|---:|---:|---:|"]
        for row in run["stages"]:
            rate = f"{row['chars_per_second']:,.0f}" if row["chars_per_second"] else "-"
            lines.append(f"| {row['stage']} | {row['seconds']:.3f} | {100 * row['share']:.1f} % | {rate} |")
    load = results["model_load"]
    lines.append(f"\nModel load: cold {load['cold']['load_seconds']} s after {load['cold']['imports_seconds']} s of imports "
                 f"(fresh process), warm {load['warm_seconds']} s (second load in one process).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--raw-dir", default=str(ROOT / "data" / "raw"))
    parser.add_argument("--generated-kb", type=int, default=1024, help="size of the generated bulletin (0: skip)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--json", default=str(ROOT / "bench" / "results" / "profile.json"))
    args = parser.parse_args(argv)

    import torch
    from transformers.utils import logging as hf_logging

    from civic_ner.api import load
    from civic_ner.reading import expand_inputs, read_bulletin

    torch.set_num_threads(args.threads)
    hf_logging.disable_progress_bar()
    results: dict = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "model": args.model,
                     "torch_threads": args.threads, "cpu_count": os.cpu_count(), "platform": platform.platform(),
                     "load_average_before": list(os.getloadavg()), "command": " ".join(sys.argv), "inputs": {}}
    results["model_load"] = {"cold": cold_load(args.model, args.threads)}
    ner = load(args.model)
    t0 = time.perf_counter()
    ner = load(args.model)
    results["model_load"]["warm_seconds"] = round(time.perf_counter() - t0, 3)
    results["precision"] = ner.tagger.precision  # auto: what predict runs in on this machine
    saved = json.loads((Path(args.model) / "civic_ner.json").read_text(encoding="utf-8"))
    results["encoder_layers"] = saved.get("config", {}).get("encoder_layers") or None  # None: all of them
    with tempfile.TemporaryDirectory(prefix="civic-ner-profile-") as tmp:
        seeds = [str(item.path) for item in expand_inputs([args.raw_dir])[0]]
        inputs = {"raw seeds": seeds}
        if args.generated_kb:
            generated = Path(tmp) / f"generated_{args.generated_kb}kb.txt"
            write_generated(generated, args.generated_kb)
            inputs[f"generated {args.generated_kb} KB file"] = [str(generated)]
        list(ner.pipe([read_bulletin(seeds[0])]))  # warm-up: LAC session, oneDNN primitives
        for name, files in inputs.items():
            run = profile_inputs(ner, files, Path(tmp) / "out.jsonl")
            run["lac_alone_chars_per_second"] = lac_alone([read_bulletin(f) for f in files])
            results["inputs"][name] = run
            print(f"[profile] {name}: {run['chars_per_second']:,.0f} chars/s", file=sys.stderr, flush=True)
    results["load_average_after"] = list(os.getloadavg())
    table = markdown(results)
    print(table)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
