"""Fixed-test F1 with 0 / 50 / 100 / all synthetic items added to training (issue 10's curve).

    .venv/bin/python bench/synthetic_curve.py --json bench/results/synthetic_curve.json            # feature CRF only (seconds)
    .venv/bin/python bench/synthetic_curve.py --model --json bench/results/synthetic_curve.json    # + the default model (~5 min per point)

Every point trains on the train and dev sections (what the shipped model trains on) plus the first N
synthetic items, and scores the 12 test sections. The feature CRF is scored with and without
document consistency; the model (configs/default.yaml) alone and mixed with the feature CRF at its
config weight. The model's epochs shrink as synthetic text grows, so that every point takes about
the same number of optimizer steps (the CV grid does the same: bench/cv_grid.py). The cross-validated
curve, which is what decides, is in bench/RESULTS.md; this one is the held-out view of the same.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

POINTS = (0, 50, 100, 210)
STEPS = {0: (60, 5), 50: (35, 3), 100: (24, 2), 210: (12, 1)}
"""Synthetic items -> (probe epochs, fine-tuning epochs): about equal optimizer steps per point."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    parser.add_argument("--data-dir", default=str(ROOT / "data"))
    parser.add_argument("--model", action="store_true", help="also train the model at every point (slow)")
    parser.add_argument("--points", type=int, nargs="+", default=list(POINTS))
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    from civic_ner.config import load_config
    from civic_ner.consistency import propagate_by_document
    from civic_ner.cv import model_variants
    from civic_ner.evaluation import span_scores
    from civic_ner.training import fit_feature_crf, load_examples, written_for
    from civic_ner.types import LABELS

    config = load_config(args.config)
    splits = load_examples(args.data_dir)
    train = list(splits["train"]) + list(splits["dev"])
    test = list(splits["test"])
    pool = {"synthetic": list(splits.get("synthetic", []))}
    gold = [r.spans for r, _ in test]
    texts, sources = [r.text for r, _ in test], [r.source for r, _ in test]

    def scores(predicted) -> dict:
        s = span_scores(gold, predicted)
        return {k: round(v["f1"], 4) for k, v in s.items() if k in ("ORG", "PROGRAM", "MONEY", "COUNT", "micro")}

    rows = []
    for n in args.points:
        # the same items (round-robin over provinces, training.written_for) for the CRF and the model
        cfg = replace(config, synthetic=n > 0, synthetic_items=n, grounded=False,
                      crf_ensemble_labels=list(LABELS))  # the rows' names: the mix for every label
        use = written_for(cfg, pool)
        started = time.time()
        crf = fit_feature_crf(train + use)  # the same CRF the shipped model mixes in
        raw = crf.predict(texts, sources, [f for _, f in test])
        rows.append({"system": "feature CRF", "synthetic_items": len(use), "scores": scores(raw),
                     "scores_with_consistency": scores(propagate_by_document(texts, raw, sources)),
                     "seconds": round(time.time() - started, 1)})
        print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
        if not args.model:
            continue
        probe_epochs, epochs = STEPS.get(n, STEPS[210])
        cfg = replace(cfg, probe_epochs=probe_epochs, epochs=epochs)
        started = time.time()
        weights = tuple(sorted({0.0, cfg.crf_ensemble}))
        variants, _ = model_variants(cfg, train, test, pool, cfg.seed, weights)
        for weight in weights:
            predicted, _ = variants[weight]
            name = "model" if weight == 0 else f"model + feature CRF x{weight}"
            rows.append({"system": name, "synthetic_items": len(use), "probe_epochs": probe_epochs, "epochs": epochs,
                         "scores": scores(predicted), "seconds": round(time.time() - started, 1)})
            print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"-> {args.json}")


if __name__ == "__main__":
    main()
