"""Relations given gold entities against the amount of annotated text: would more relation
annotation close the gap? The relation CV by province (``bench/relation_scorer.py``'s units, dealings
and decoding), each fold's training sections sampled down to a share (seeded per dealing and fold;
the held-out fold is untouched). The linear model at several shares over the three dealings (seconds
a fit); with ``--pair-shares``, the pair encoder (and the shipped mix) at those shares on
``--pair-seeds`` (minutes a fold).

  python bench/relation_curve.py [--shares 0.25 0.5 0.75 1.0]
      [--pair-shares 0.5 --pair-seeds 13] [--json bench/results/relation_curve.json]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import relation_scorer as rs  # noqa: E402
from civic_ner.evaluation import RELATION_ROWS, relation_prf  # noqa: E402


def sampled(train: list, share: float, seed: int, fold: int) -> list:
    """A seeded share of a fold's training sections (all of them at 1.0)."""
    return train if share >= 1.0 else random.Random(seed * 10 + fold).sample(train, int(len(train) * share))


def curve_point(records, rows: dict, share: float, seed: int, pairs: bool) -> dict[str, float]:
    """Micro F1 of one dealing with each fold's training sections cut to ``share``: the linear model,
    and with ``pairs`` the pair encoder alone and the shipped mix."""
    from relation_pairs import fold_scores, mean_probabilities

    from civic_ner.relation_pairs import PairSettings

    uniform = dict.fromkeys(RELATION_ROWS, rs.THRESHOLD)
    assignment = rs.dealing(records, 5, seed)
    found: dict[str, list] = {"linear": []} | ({"pair encoder": [], "mean (shipped)": []} if pairs else {})
    scored_before = 0  # the pair encoder's seed, as relation_scorer.py seeds it: at 1.0 its rows are reproduced
    for fold in range(5):
        train = sampled([r for r in records if assignment[r.id] != fold], share, seed, fold)
        test = [r for r in records if assignment[r.id] == fold]
        if pairs:
            pair, linear = fold_scores(train, test, rows, PairSettings(), seed=scored_before, log=lambda *_: None)
            scored = {"linear": linear, "pair encoder": pair, "mean (shipped)": mean_probabilities(pair, linear)}
        else:
            scored = {"linear": rs.fit_and_score(rs.ROWS[-1], train, test, rows, rs.Options(rs.THRESHOLD), assignment)}
        for name, by_id in scored.items():
            found[name] += [(rs.gold_of(r), rs.decoded(r, by_id[r.id], uniform)) for r in test]
        scored_before += len(test)
    return {name: round(relation_prf(pairs_)["micro"]["f1"], 4) for name, pairs_ in found.items()}


def main(argv: list[str] | None = None) -> None:
    from civic_ner import fileio

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--shares", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    p.add_argument("--seeds", type=int, nargs="+", default=list(rs.SEEDS))
    p.add_argument("--pair-shares", type=float, nargs="*", default=[], help="shares the pair encoder is fitted at")
    p.add_argument("--pair-seeds", type=int, nargs="+", default=[13])
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "relation_curve.json"))
    args = p.parse_args(argv)
    records = rs.cv_records(args.data_dir)
    rows = rs.precompute(records)
    linear = []
    for share in args.shares:
        f1s = [curve_point(records, rows, share, seed, pairs=False)["linear"] for seed in args.seeds]
        linear.append({"share": share, "f1": round(statistics.mean(f1s), 4), "f1_std": round(statistics.pstdev(f1s), 4),
                       "f1_dealings": f1s})
        print(f"linear, {share:.0%} of the training sections: {linear[-1]['f1']:.3f} ± {linear[-1]['f1_std']:.3f}", flush=True)
    pair = []
    for share in args.pair_shares:
        for seed in args.pair_seeds:
            pair.append({"share": share, "dealing": seed, "micro": curve_point(records, rows, share, seed, pairs=True)})
            print(f"pair encoder, {share:.0%}, dealing {seed}: {pair[-1]['micro']}", flush=True)
    command = " ".join(["python bench/relation_curve.py", "--shares", *map(str, args.shares),
                        "--seeds", *map(str, args.seeds)]
                       + (["--pair-shares", *map(str, args.pair_shares), "--pair-seeds", *map(str, args.pair_seeds)]
                          if args.pair_shares else [])
                       + ([f"--data-dir {args.data_dir}"] if args.data_dir != str(ROOT / "data") else []))
    fileio.write_json(args.json, {"command": command, "sections": len(records),
                                  "relations": sum(len(r.relations) for r in records), "dealings": args.seeds,
                                  "linear": linear, "pair_encoder": pair})
    print(f"-> {args.json}")


if __name__ == "__main__":
    main()
