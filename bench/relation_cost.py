"""What the facts layer costs beside the linear relation model, per precision of the pair encoder:
its load on first use (after one load: imports done, files in the page cache), relations per second over the held-out provinces' sections (gold entities;
best of two passes), the size of its weights, and -- the check every speed change gets -- relation
F1 given gold entities on the held-out provinces' test and the seeds' test. Run it on a quiet machine.

  python bench/relation_cost.py --model runs/default/model [--precisions fp32,bf16]
      [--json bench/results/relation_cost.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _rate(model, records, chars: int) -> dict:
    from civic_ner.facts import extract_relations

    best = float("inf")
    for _ in range(2):
        started = time.perf_counter()
        for r in records:
            extract_relations(r.text, r.spans, model)
        best = min(best, time.perf_counter() - started)
    return {"seconds": round(best, 2), "chars_per_second": round(chars / best)}


def _f1(model, records) -> float:
    from civic_ner.report import relation_scores

    return round(relation_scores(records, model=model)["micro"]["f1"], 4)


def _precision_row(model_dir: str, precision: str, tests: dict, chars: int) -> dict:
    """The pair encoder loaded afresh in ``precision``: load time, rate, F1 given gold entities."""
    from civic_ner.model_dir import load_relation_model
    from civic_ner.relation_pairs import DeferredRelationModel

    deferred = load_relation_model(model_dir, "cpu", precision)
    if not isinstance(deferred, DeferredRelationModel):
        raise SystemExit(f"{model_dir}: its relation model has no pair encoder")
    started = time.perf_counter()
    pair = deferred.model
    first_use = time.perf_counter() - started
    return {"precision": pair.precision, "load_on_first_use_seconds": round(first_use, 2),
            **_rate(pair, tests["province_test"], chars), "f1": {split: _f1(pair, rs) for split, rs in tests.items()}}


def main(argv: list[str] | None = None) -> None:
    import torch

    from civic_ner import fileio
    from civic_ner.corpus import load_split
    from civic_ner.model_dir import RELATION_PAIRS_FILE, RELATIONS_FILE, load_relation_model
    from civic_ner.relation_model import RelationModel

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a model directory trained with relation_model: pair-encoder")
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precisions", default="fp32", help="comma-separated: fp32, bf16, int8 (default %(default)s)")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "relation_cost.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tests = {split: load_split(args.data_dir, split) for split in ("province_test", "test")}
    chars = sum(len(r.text) for r in tests["province_test"])
    started = time.perf_counter()
    load_relation_model(args.model, "cpu", "fp32")  # the description checked, the weights not read yet
    checked = time.perf_counter() - started
    linear = RelationModel.from_json(json.loads((Path(args.model) / RELATIONS_FILE).read_text(encoding="utf-8")))
    load_relation_model(args.model, "cpu", "fp32").model  # noqa: B018 -- imports done, files cached: rows alike
    rows = [_precision_row(args.model, precision, tests, chars) for precision in args.precisions.split(",")]
    command = " ".join(["python bench/relation_cost.py --model", args.model]
                       + ([f"--precisions {args.precisions}"] if args.precisions != "fp32" else [])
                       + ([f"--threads {args.threads}"] if args.threads != 2 else [])
                       + ([f"--data-dir {args.data_dir}"] if args.data_dir != str(ROOT / "data") else []))
    out = {"command": command, "threads": args.threads, "sections": len(tests["province_test"]), "chars": chars,
           "load_seconds": round(checked, 3), "pair_weights_mb": round((Path(args.model) / RELATION_PAIRS_FILE).stat().st_size / 2**20, 1),
           "linear": {**_rate(linear, tests["province_test"], chars), "f1": {s: _f1(linear, rs) for s, rs in tests.items()}},
           "pair_encoder": rows}
    fileio.write_json(args.json, out)
    print(out, f"-> {args.json}", sep="\n")


if __name__ == "__main__":
    main()
