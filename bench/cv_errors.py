"""What the shipped recipe still gets wrong, read on cross-validation (never on a test split).

The errors of one recipe's pooled CV predictions on the held-out training provinces (grounded items
only), post-processed as the shipped Tagger does (span rules, no document consistency), classified
by ``civic_ner.evaluation.error_breakdown`` (wrong type, boundary, spurious, missed) per label, with
examples. It says which kinds of error a next fix must aim at -- issue 18 asks for fixes aimed at
error kinds, and choosing them on the test would be choosing on the test.

    python bench/cv_errors.py runs/grid/province.jsonl --examples runs/grid/examples.json \\
        --recipe +grounded --weight 0.5 --seed 13 --json bench/results/cv_errors.json
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from cv_grid import load_examples_file  # noqa: E402  (bench/ is not a package)


def predictions(results: Path, recipe: str, weight: str, seed: int) -> dict[str, list]:
    """Section id -> the raw spans the recipe's CV runs decoded (every fold of one seed)."""
    out: dict[str, list] = {}
    for line in results.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["recipe"] == recipe and row["seed"] == seed and not row.get("error"):
            variant = row["variants"][weight] if weight != "0" else row
            out.update(zip(row["ids"], variant["raw"]))
    return out


def main(argv: list[str] | None = None) -> int:
    from civic_ner.evaluation import error_breakdown
    from civic_ner.span_rules import apply_span_rules
    from civic_ner.types import LABELS, Span

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path)
    p.add_argument("--examples", required=True, help="the exported CV units the runs used")
    p.add_argument("--recipe", default="+grounded")
    p.add_argument("--weight", default="0.5", help="feature-CRF mixing weight of the variant (0: the network alone)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--shown", type=int, default=25, help="examples kept per label and kind")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    real, _ = load_examples_file(args.examples)
    decoded = predictions(args.results, args.recipe, args.weight, args.seed)
    units = [(r, f) for r, f in real if r.id in decoded and r.meta.get("province")]  # grounded: by province
    cut = lambda a, b, s: Span(a, b, s.label)  # noqa: E731
    report: dict = {"recipe": args.recipe, "weight": args.weight, "seed": args.seed, "sections": len(units), "labels": {}}
    for label in LABELS:
        gold = [[s for s in r.spans if s.label == label] for r, _ in units]
        pred = [[s for s in apply_span_rules(r.text, [Span(*x) for x in decoded[r.id]], cut, f["lac"]) if s.label == label]
                for r, f in units]
        counts, examples = error_breakdown([r.id for r, _ in units], [r.text for r, _ in units], gold, pred)
        correct = sum(len(set(g) & set(q)) for g, q in zip(gold, pred))
        report["labels"][label] = {"gold": sum(map(len, gold)), "correct": correct, "errors": dict(counts),
                                   "examples": {k: [e.__dict__ for e in examples if e.kind == k][: args.shown]
                                                for k in counts}}
        print(f"{label:<8} gold {sum(map(len, gold)):>5}  correct {correct:>5}  " +
              "  ".join(f"{k} {v}" for k, v in Counter(counts).most_common()))
    if args.json:
        sys.path.insert(0, str(ROOT.parent / "src"))
        from civic_ner import fileio

        fileio.write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
