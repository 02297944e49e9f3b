"""Relations given gold entities: the cues against the learned model, CV by province (issue 19).

The units are those of the NER model's CV (``civic_ner.cv.cv_examples``: the seeds' train and dev
sections, the grounded items of the training provinces; never a test split), dealt into k folds by
whole province (the seeds' sections by bulletin), three different dealings (seeds 13, 14, 15):
scores pooled over the folds of a dealing, mean ± std over dealings. Rows:

- ``cues``: the cue extractor (``civic_ner.facts``); it learns nothing, but its rules were written
  after reading the seeds' gold relations, so on the seeds' sections it is in-sample;
- ``learned, no cues``: the relation model without the cues' verdict among its features;
- ``learned + cues``: the relation model as shipped when CV prefers it.

  python bench/relation_scorer.py [--data-dir data] [--folds 5] [--json bench/results/relations_cv.json]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from civic_ner.cv import CV_SPLITS, group_of  # noqa: E402
from civic_ner.evaluation import RELATION_ROWS, relation_prf  # noqa: E402
from civic_ner.facts import extract_relations  # noqa: E402
from civic_ner.relation_model import THRESHOLD, RelationModel, featurized  # noqa: E402

ROWS = ("cues", "learned, no cues", "learned + cues")
SEEDS = (13, 14, 15)


def dealing(records, folds: int, seed: int) -> dict[str, int]:
    """Section id -> fold: whole groups (province / seed section) in a seeded random order, each to
    the fold with the fewest spans so far (balanced; the seed changes which groups share a fold)."""
    groups: dict[str, int] = Counter()
    for r in records:
        groups[group_of((r, None))] += len(r.spans)
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    load = [0] * folds
    fold_of: dict[str, int] = {}
    for name in names:
        fold_of[name] = min(range(folds), key=lambda f: (load[f], f))
        load[fold_of[name]] += groups[name]
    return {r.id: fold_of[group_of((r, None))] for r in records}


CUE_PREFIX = "|cue="


def precompute(records) -> dict[str, list]:
    """Per section: (candidate, features with the cue verdict, gold or not), computed once."""
    out = {}
    for r in records:
        wanted = {(g.source, g.target, g.label) for g in r.relations}
        out[r.id] = [(cand, feats, int((cand.source, cand.target, cand.label) in wanted))
                     for cand, feats in featurized(r.text, r.spans, cues=True)]
    return out


def without_cues(feats: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in feats.items() if CUE_PREFIX not in k}


def score_fold(train, test, rows: dict, found: dict[str, list], threshold: float = THRESHOLD) -> None:
    """Fit both learned variants on ``train``; append each test section's (gold, found) to ``found``."""
    train_rows = [x for r in train for x in rows[r.id]]
    labels = [y for _, _, y in train_rows]
    models = {
        "learned, no cues": RelationModel(cues=False, threshold=threshold).fit_rows(
            [without_cues(f) for _, f, _ in train_rows], labels),
        "learned + cues": RelationModel(threshold=threshold).fit_rows([f for _, f, _ in train_rows], labels),
    }
    for r in test:
        gold = {(x.source, x.target, x.label) for x in r.relations}
        predicted = {"cues": extract_relations(r.text, r.spans)}
        for name, m in models.items():
            feats = [(c, f if m.cues else without_cues(f)) for c, f, _ in rows[r.id]]
            predicted[name] = m.decode(r.spans, [(m.probability(f), c) for c, f in feats], r.text)
        for name, relations in predicted.items():
            found[name].append((gold, {(x.source, x.target, x.label) for x in relations}))


def cross_validate(records, folds: int, threshold: float = THRESHOLD) -> dict:
    rows = precompute(records)
    per_seed = []
    for seed in SEEDS:
        assignment = dealing(records, folds, seed)
        found: dict[str, list] = {name: [] for name in ROWS}
        for fold in range(folds):
            train = [r for r in records if assignment[r.id] != fold]
            test = [r for r in records if assignment[r.id] == fold]
            score_fold(train, test, rows, found, threshold)
        per_seed.append({name: relation_prf(pairs) for name, pairs in found.items()})
    out = {}
    for name in ROWS:
        out[name] = {}
        for label in (*RELATION_ROWS, "micro"):
            f1s = [s[name][label]["f1"] for s in per_seed]
            first = per_seed[0][name][label]
            out[name][label] = {"f1": round(statistics.mean(f1s), 4), "f1_std": round(statistics.pstdev(f1s), 4),
                                "precision_first_dealing": round(first["precision"], 4),
                                "recall_first_dealing": round(first["recall"], 4), "support": first["support"]}
    return out


def main(argv: list[str] | None = None) -> None:
    from civic_ner import fileio
    from civic_ner.corpus import load_split

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threshold", type=float, default=THRESHOLD,
                   help="probability above which a candidate is kept (default: the shipped %(default)s)")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "relations_cv.json"))
    args = p.parse_args(argv)
    records = [r for split in CV_SPLITS for r in load_split(args.data_dir, split)]
    grounded_done = any(r.relations for r in records if r.meta.get("grounded"))  # the layer is merged for all or none
    annotated = [r for r in records if grounded_done or not r.meta.get("grounded")]
    scores = cross_validate(annotated, args.folds, args.threshold)
    print(f"{len(annotated)} sections, {sum(len(r.relations) for r in annotated)} gold relations; given gold entities; "
          f"{args.folds}-fold CV by province, dealings {SEEDS}: F1 mean ± std")
    print(f"{'relation':<10}" + "".join(f"{name:>22}" for name in ROWS))
    for label in (*RELATION_ROWS, "micro"):
        print(f"{label:<10}" + "".join(f"{scores[n][label]['f1']:>15.3f} ± {scores[n][label]['f1_std']:.3f}" for n in ROWS))
    fileio.write_json(args.json, {
        "command": "python bench/relation_scorer.py" + (f" --threshold {args.threshold}" if args.threshold != THRESHOLD else ""),
        "threshold": args.threshold, "sections": len(annotated), "folds": args.folds,
        "dealings": list(SEEDS), "splits": list(CV_SPLITS), "in_sample": ["cues on the seeds' sections"],
        "relations": sum(len(r.relations) for r in annotated), "scores": scores,
    })
    print(f"-> {args.json}")


if __name__ == "__main__":
    main()
