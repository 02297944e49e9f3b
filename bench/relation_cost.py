"""What the facts layer costs beside the linear relation model: the pair encoder's load on first use,
relations per second over the held-out provinces' sections (gold entities; best of two passes), the
size of its weights. Run it on a quiet machine.

  python bench/relation_cost.py --model runs/default/model [--json bench/results/relation_cost.json]
"""
from __future__ import annotations

import argparse
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


def main(argv: list[str] | None = None) -> None:
    import torch

    from civic_ner import fileio
    from civic_ner.corpus import load_split
    from civic_ner.model_dir import RELATION_PAIRS_FILE, load_relation_model
    from civic_ner.relation_pairs import DeferredRelationModel

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a model directory trained with relation_model: pair-encoder")
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "relation_cost.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    records = load_split(args.data_dir, "province_test")
    chars = sum(len(r.text) for r in records)
    started = time.perf_counter()
    deferred = load_relation_model(args.model)
    checked = time.perf_counter() - started
    if not isinstance(deferred, DeferredRelationModel):
        raise SystemExit(f"{args.model}: its relation model has no pair encoder")
    started = time.perf_counter()
    pair = deferred.model
    first_use = time.perf_counter() - started
    out = {"command": f"python bench/relation_cost.py --model {args.model}", "threads": args.threads,
           "sections": len(records), "chars": chars, "load_seconds": round(checked, 3),
           "pair_encoder_load_on_first_use_seconds": round(first_use, 2),
           "pair_weights_mb": round((Path(args.model) / RELATION_PAIRS_FILE).stat().st_size / 2**20, 1),
           "linear": _rate(pair.linear, records, chars), "pair_encoder": _rate(pair, records, chars)}
    fileio.write_json(args.json, out)
    print(out, f"-> {args.json}", sep="\n")


if __name__ == "__main__":
    main()
