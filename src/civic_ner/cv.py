"""k-fold cross-validation by province and by section: the protocol recipes are chosen on.

The fixed test split holds 118 spans, so one span moves F1 by ~0.7 points: too coarse to choose a
recipe on, and choosing on it would leak. Cross-validation uses every real section once as held-out
text: the seeds' train and dev sections (never test) and the grounded items of the training provinces
are dealt into ``k`` folds, whole provinces at a time (balanced by span count, fixed for a corpus so
that recipes are compared on the same folds); each fold is predicted by a model trained on the others
(+ the written text the recipe uses, minus every item of the fold's provinces), predictions are
pooled over folds into one P/R/F1 per type (also for the provinces and the seeds apart), and that is
repeated for several training seeds: mean ± std. The held-out provinces of ``province_test`` never
enter: the corpus build keeps them out of every split CV reads.

A fold whose model collapsed (no entity predicted, or training loss that never fell) is reported as
such, so a recipe that sometimes collapses cannot hide behind an average.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .corpus import document_of
from .evaluation import span_scores
from .types import LABELS, Span

Example = tuple[Any, dict[str, list[str]]]  # (Record, features)

COLLAPSE_MIN_LOSS_DROP = 0.25
"""A training whose last epoch loss is above (1 - this) x its first epoch loss has not learned."""


def fold_assignment(ids_and_spans: Sequence[tuple[str, int]], k: int) -> dict[str, int]:
    """Deal sections into ``k`` folds, largest first, each to the fold with fewest spans so far (ties:
    fewest sections, lowest index): deterministic, balanced, independent of the training seed."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    if len(ids_and_spans) < k:
        raise ValueError(f"{len(ids_and_spans)} sections cannot fill {k} folds")
    spans = [0] * k
    sizes = [0] * k
    out: dict[str, int] = {}
    for sid, n in sorted(ids_and_spans, key=lambda x: (-x[1], x[0])):
        fold = min(range(k), key=lambda f: (spans[f], sizes[f], f))
        out[sid] = fold
        spans[fold] += n
        sizes[fold] += 1
    return out


@dataclass
class FoldRun:
    seed: int
    fold: int
    seconds: float
    predicted: list[list[Span]]
    raw_predicted: list[list[Span]] | None = None  # before document consistency, when the recipe has it
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def collapsed(self) -> str | None:
        """Why this fold's model counts as collapsed, or None."""
        if not any(self.predicted):
            return "predicted no entity"
        losses = [h["loss"] for h in self.history if "loss" in h]
        if len(losses) >= 3 and losses[-1] > (1 - COLLAPSE_MIN_LOSS_DROP) * losses[0]:
            return f"training loss {losses[0]:.3f} -> {losses[-1]:.3f}"
        return None


FitPredict = Callable[[list[Example], list[Example], dict[str, list[Example]], int],
                      tuple[list[list[Span]], list[list[Span]] | None, list]]
"""(train, test, written pool, seed) -> (predicted spans of test, the same before consistency or None,
history). The pool holds the written text a fold may train on ({"synthetic": ..., "grounded": ...}):
the recipe picks from it (``training.written_for``)."""


def province_of(example: Example) -> str | None:
    """The province of a grounded item (held out by province in CV), None for a seed section."""
    record = example[0]
    return str(record.meta.get("province")) if record.meta.get("grounded") else None


def group_of(example: Example) -> str:
    """The unit folds are dealt in: a whole province for grounded items, a section for the seeds."""
    province = province_of(example)
    return f"province:{province}" if province else example[0].id


def fold_of_examples(examples: Sequence[Example], k: int) -> dict[str, int]:
    """Section id -> fold, dealing whole groups (provinces, seed sections) balanced by spans."""
    spans: dict[str, int] = {}
    for ex in examples:
        spans[group_of(ex)] = spans.get(group_of(ex), 0) + len(ex[0].spans)
    groups = fold_assignment(sorted(spans.items()), k)
    return {ex[0].id: groups[group_of(ex)] for ex in examples}


def fold_pool(examples: Sequence[Example], assignment: dict[str, int], fold: int,
              synthetic: Sequence[Example]) -> tuple[list[Example], dict[str, list[Example]]]:
    """Training sections of a fold and its written pool: no text of a held-out province in either."""
    held = {province_of(ex) for ex in examples if assignment[ex[0].id] == fold} - {None}
    train = [ex for ex in examples if assignment[ex[0].id] != fold and province_of(ex) is None]
    pool = {
        "synthetic": [ex for ex in synthetic if str(ex[0].meta.get("province")) not in held],
        "grounded": [ex for ex in examples if assignment[ex[0].id] != fold and province_of(ex) is not None],
    }
    return train, pool


CV_SPLITS = ("train", "dev", "grounded")
"""What CV deals into folds. Never ``test`` (the seeds' fixed test) nor ``province_test``."""


def cv_examples(by_split: dict[str, list[Example]]) -> list[Example]:
    """The held-out units of CV: the seeds' train and dev sections and the grounded training items."""
    return [ex for split in CV_SPLITS for ex in by_split.get(split, [])]


def cross_validate(
    examples: Sequence[Example],
    fit_predict: FitPredict,
    folds: int = 5,
    seeds: Sequence[int] = (13,),
    synthetic: Sequence[Example] = (),
    log: Callable[[str], None] = print,
    only_folds: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Run ``fit_predict`` on every (seed, fold); scores pooled over folds, mean ± std over seeds.

    ``examples`` are the held-out units: the seeds' train and dev sections (never test) and the
    grounded items of the training provinces, dealt by province; ``synthetic`` is training-only.
    ``only_folds`` (0-based) runs and scores those folds alone: a partial CV on the same units as
    another partial run, marked ``folds_used`` in the result."""
    assignment = fold_of_examples(examples, folds)
    used = sorted(only_folds) if only_folds else list(range(folds))
    runs: list[FoldRun] = []
    for seed in seeds:
        for fold in used:
            train, pool = fold_pool(examples, assignment, fold, synthetic)
            test = [ex for ex in examples if assignment[ex[0].id] == fold]
            started = time.time()
            predicted, raw, history = fit_predict(train, test, pool, seed)
            run = FoldRun(seed, fold, time.time() - started, predicted, raw, history)
            runs.append(run)
            note = f"  COLLAPSED ({run.collapsed})" if run.collapsed else ""
            fold_f1 = span_scores([r.spans for r, _ in test], predicted)["micro"]["f1"]
            log(f"seed {seed} fold {fold + 1}/{folds}: {len(test)} sections, micro F1 {fold_f1:.3f}, {run.seconds:.0f} s{note}")
    scored = [ex for ex in examples if assignment[ex[0].id] in used]
    result = summarize(scored, assignment, runs, folds, list(seeds))
    result["folds_used"] = [f + 1 for f in used]
    return result


def pooled_scores(examples: Sequence[Example], assignment: dict[str, int], runs: Sequence[FoldRun], raw: bool = False,
                  keep: Callable[[Example], bool] = lambda ex: True):
    """Per seed: scores over all sections (those ``keep`` accepts), each predicted by the model that
    did not train on it."""
    by_seed: dict[int, dict[str, list[Span]]] = {}
    for run in runs:
        fold_ids = [r.id for r, _ in examples if assignment[r.id] == run.fold]
        source = run.raw_predicted if raw and run.raw_predicted is not None else run.predicted
        for sid, spans in zip(fold_ids, source):
            by_seed.setdefault(run.seed, {})[sid] = spans
    kept = [ex for ex in examples if keep(ex)]
    gold = [r.spans for r, _ in kept]
    return {
        seed: span_scores(gold, [pred[r.id] for r, _ in kept])
        for seed, pred in by_seed.items()
        if len(pred) == len(examples) and kept
    }


def mean_std(per_seed: dict[int, dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    rows = [*LABELS, "micro", "macro"]
    for row in rows:
        cell: dict[str, float] = {}
        for key in ("precision", "recall", "f1"):
            values = [scores[row][key] for scores in per_seed.values()]
            cell[key] = statistics.fmean(values) if values else 0.0
            cell[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        cell["support"] = next(iter(per_seed.values()))[row]["support"] if per_seed else 0
        out[row] = cell
    return out


def summarize(examples, assignment, runs: Sequence[FoldRun], folds: int, seeds: list[int]) -> dict[str, Any]:
    per_seed = pooled_scores(examples, assignment, runs)
    result: dict[str, Any] = {
        "folds": folds,
        "seeds": seeds,
        "sections": len(examples),
        "spans": sum(len(r.spans) for r, _ in examples),
        "fold_of_section": assignment,
        "scores": mean_std(per_seed),
        "per_seed": {str(s): v for s, v in per_seed.items()},
        "collapsed": [
            {"seed": r.seed, "fold": r.fold + 1, "why": r.collapsed} for r in runs if r.collapsed
        ],
        "runs": [
            {"seed": r.seed, "fold": r.fold + 1, "seconds": round(r.seconds, 1), "history": r.history} for r in runs
        ],
    }
    grounded = [ex for ex in examples if province_of(ex) is not None]
    if grounded:
        result["provinces"] = sorted({province_of(ex) for ex in grounded})
        result["parts"] = {
            "provinces": mean_std(pooled_scores(examples, assignment, runs, keep=lambda ex: province_of(ex) is not None)),
            "seeds": mean_std(pooled_scores(examples, assignment, runs, keep=lambda ex: province_of(ex) is None)),
        }
    if any(r.raw_predicted is not None for r in runs):
        result["scores_without_consistency"] = mean_std(pooled_scores(examples, assignment, runs, raw=True))
        if grounded:
            result["parts_without_consistency"] = {
                "provinces": mean_std(pooled_scores(examples, assignment, runs, raw=True,
                                                    keep=lambda ex: province_of(ex) is not None)),
                "seeds": mean_std(pooled_scores(examples, assignment, runs, raw=True, keep=lambda ex: province_of(ex) is None)),
            }
    return result


def format_cv(result: dict[str, Any], title: str = "") -> str:
    """A table: per type, P / R / F1 as mean ± std over seeds."""
    scores = result["scores"]
    lines = []
    if title:
        lines.append(title)
    unit = "by province (grounded items) and by section (seeds)" if result.get("parts") else "by section"
    lines.append(
        f"{result['folds']}-fold CV {unit} over {result['sections']} sections ({result['spans']} spans), "
        f"seeds {', '.join(map(str, result['seeds']))}: mean ± std over seeds of scores pooled over folds"
    )
    lines.append(f"{'type':<8}{'support':>8} | {'P':>13} | {'R':>13} | {'F1':>13}")
    for row in [*LABELS, "micro", "macro"]:
        c = scores[row]
        lines.append(
            f"{row:<8}{int(c['support']):>8} | {c['precision']:.3f} ± {c['precision_std']:.3f} | "
            f"{c['recall']:.3f} ± {c['recall_std']:.3f} | {c['f1']:.3f} ± {c['f1_std']:.3f}"
        )
    for part, scores_of_part in result.get("parts", {}).items():
        cells = "  ".join(f"{row} {scores_of_part[row]['f1']:.3f}" for row in [*LABELS, "micro"])
        lines.append(f"held-out {part}: {cells} (± {scores_of_part['micro']['f1_std']:.3f})")
    if "scores_without_consistency" in result:
        c = result["scores_without_consistency"]["micro"]
        lines.append(f"without document consistency: micro F1 {c['f1']:.3f} ± {c['f1_std']:.3f}")
    if result["collapsed"]:
        lines.append("COLLAPSED folds: " + "; ".join(f"seed {c['seed']} fold {c['fold']}: {c['why']}" for c in result["collapsed"]))
    else:
        lines.append("collapsed folds: none")
    return "\n".join(lines)


# ---------------------------------------------------------------- recipes


def model_fit_predict(config) -> FitPredict:
    """The fine-tuned tagger of ``config`` as a CV recipe (the config's own seed is replaced)."""

    def run(train: list[Example], test: list[Example], pool: dict[str, list[Example]], seed: int):
        variants, history = model_variants(config, train, test, pool, seed, (config.crf_ensemble,))
        predicted, raw = variants[config.crf_ensemble]
        return predicted, raw if config.consistency else None, history

    return run


def model_variants(config, train, test, pool: dict[str, list[Example]], seed: int, crf_weights=(0.0,)):
    """Train once, predict the test sections with each feature-CRF weight: {weight: (predicted,
    predicted before consistency)}, and the training history. Mixing weights cost no new training."""
    from dataclasses import replace

    from .consistency import propagate_by_document
    from .training import fit, fit_feature_crf, written_for

    cfg = replace(config, seed=seed)
    use = written_for(cfg, pool)
    result = fit(cfg, train, None, use, log=lambda *_: None, progress=False)
    if result.crf is None and any(w > 0 for w in crf_weights):
        result.crf = fit_feature_crf(list(train) + list(use))
    tagger = result.tagger(cfg)
    tagger.consistency = False
    texts = [r.text for r, _ in test]
    feats = [f for _, f in test]
    out = {}
    for weight in crf_weights:
        tagger.crf_weight = weight
        raw = tagger.predict_spans(texts, cfg.eval_batch_size, features=feats)
        documents = [document_of(r) for r, _ in test]
        predicted = propagate_by_document(texts, raw, documents, cfg.consistency_labels) if cfg.consistency else raw
        out[weight] = (predicted, raw)
    history = result.history
    del result, tagger
    _free_memory()
    return out, history


def _free_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


def crf_fit_predict(config) -> FitPredict:
    """The feature CRF baseline as a CV recipe, on the config's written text and with its document
    consistency setting (deterministic: the seed does not matter)."""
    from .consistency import propagate_by_document
    from .feature_crf import CrfSettings, FeatureCRF
    from .training import written_for

    consistency = config.consistency

    def run(train: list[Example], test: list[Example], pool: dict[str, list[Example]], seed: int):
        data = train + written_for(config, pool)
        model = FeatureCRF(CrfSettings(consistency=False)).fit([r.text for r, _ in data], [r.spans for r, _ in data],
                                                               [f for _, f in data])
        texts = [r.text for r, _ in test]
        raw = model.predict(texts, feats=[f for _, f in test])
        if not consistency:
            return raw, None, []
        return propagate_by_document(texts, raw, [document_of(r) for r, _ in test]), raw, []

    return run


def baseline_fit_predict(name: str) -> FitPredict:
    """No-learning baselines on the same folds: ``rules`` (MONEY, COUNT), ``lac`` (ORG), ``signals``
    (quotes as PROGRAM + rules + LAC)."""
    from .baselines import baseline_spans

    def run(train, test, pool, seed):
        return baseline_spans(name, [r.text for r, _ in test]), None, []

    return run
