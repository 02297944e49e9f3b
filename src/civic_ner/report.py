"""The evaluation report: the model beside the baselines a user would pick instead, on the same spans."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .corpus import Record, load_split
from .evaluation import bootstrap_f1, error_breakdown, format_table, seqeval_scores, span_scores
from .prediction import Tagger
from .types import LABELS


def baseline_columns(records: list[Record], data_dir: str | Path, trained_on: list[str]) -> dict[str, list[list]]:
    """Predictions of the rules (MONEY, COUNT), LAC (ORG), the signals together (quotes for PROGRAM),
    and the feature CRF with document consistency, trained on the same splits as the model."""
    from .baselines import baseline_spans
    from .crf_baseline import FeatureCRF
    from .dataset import featurize

    texts = [r.text for r in records]
    columns = {name: baseline_spans(name, texts) for name in ("rules", "lac", "signals")}
    train = [r for split in trained_on for r in load_split(data_dir, split)]
    if train:
        crf = FeatureCRF().fit([r.text for r in train], [r.spans for r in train], featurize([r.text for r in train]))
        columns["feature CRF"] = crf.predict(texts, [r.source for r in records], featurize(texts))
    return columns


BASELINE_TYPES = {"rules": ("MONEY", "COUNT"), "lac": ("ORG",), "signals": LABELS, "feature CRF": LABELS}


def evaluate_model(
    model_dir: str | Path,
    data_dir: str | Path,
    split: str = "test",
    baselines: bool = True,
    examples: int = 5,
    precision: str | None = None,
) -> dict[str, Any]:
    """Scores, seqeval cross-check, error breakdown and bootstrap interval, as text and JSON."""
    records = load_split(data_dir, split)
    if not records:
        raise ValueError(f"{data_dir}: the {split} split is empty")
    tagger = Tagger.from_dir(model_dir, precision=precision)
    texts = [r.text for r in records]
    gold = [r.spans for r in records]
    predicted = tagger.predict_spans(texts, documents=[r.source for r in records])
    scores = span_scores(gold, predicted)
    low, high = bootstrap_f1(gold, predicted)
    scores["micro"]["f1_ci95"] = [low, high]
    checked = seqeval_scores(texts, gold, predicted)
    agree = all(
        abs(checked.get(label, {}).get("f1-score", 0.0) - scores[label]["f1"]) < 1e-9
        for label in LABELS
        if scores[label]["support"]
    ) and abs(checked["micro avg"]["f1-score"] - scores["micro"]["f1"]) < 1e-9
    columns = {"model": scores}
    if baselines:
        trained_on = _trained_on(model_dir, split)
        for name, preds in baseline_columns(records, data_dir, trained_on).items():
            kept = BASELINE_TYPES[name]
            column = span_scores(gold, [[s for s in doc if s.label in kept] for doc in preds])
            columns[name] = column if set(kept) == set(LABELS) else {label: column[label] for label in kept}
    counts, errors = error_breakdown([r.id for r in records], texts, gold, predicted)
    lines = [
        f"{split}: {len(records)} sections, {sum(len(g) for g in gold)} gold spans; model {model_dir}",
        format_table(columns),
        f"micro F1 95% bootstrap interval over sections: [{low:.3f}, {high:.3f}]",
        f"seqeval (strict IOB2) agrees with the span matcher: {'yes' if agree else 'NO'}",
        "",
        "errors: " + ", ".join(f"{kind} {counts[kind]}" for kind in ("wrong type", "boundary", "missed", "spurious")),
    ]
    for kind in ("wrong type", "boundary", "missed", "spurious"):
        shown = [e for e in errors if e.kind == kind][:examples]
        for e in shown:
            lines.append(f"  {kind:<10} {e.section}: gold {e.gold}  pred {e.pred}  …{e.context}…")
    return {
        "text": "\n".join(lines),
        "json": {
            "split": split,
            "model": str(model_dir),
            "scores": columns,
            "seqeval_agrees": agree,
            "errors": dict(counts),
            "error_examples": [e.__dict__ for e in errors],
        },
    }


def _trained_on(model_dir: str | Path, split: str) -> list[str]:
    """The real splits the model trained on (from its civic_ner.json), minus the evaluated one, so
    that the feature CRF learns from exactly the same sections."""
    import json

    meta = json.loads((Path(model_dir) / "civic_ner.json").read_text(encoding="utf-8"))
    splits = meta.get("config", {}).get("train_splits", ["train"])
    if meta.get("config", {}).get("synthetic"):
        splits = [*splits, "synthetic"]
    return [s for s in splits if s != split]
