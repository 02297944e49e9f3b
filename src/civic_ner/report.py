"""The evaluation report: the model beside the baselines a user would pick instead, on the same spans."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .corpus import Record, document_of, load_split
from .dataset import DataError
from .evaluation import (
    RELATION_ROWS, bootstrap_f1, error_breakdown, format_table, grouped_scores, relation_prf, seqeval_scores, span_scores,
)
from .model_dir import load_relation_model
from .prediction import Tagger
from .types import LABELS


def baseline_columns(records: list[Record], data_dir: str | Path, trained_on: list[str]) -> dict[str, list[list]]:
    """Predictions of the rules (MONEY, COUNT), LAC (ORG), the signals together (quotes for PROGRAM),
    and the feature CRF with document consistency, trained on the same splits as the model."""
    from .baselines import baseline_spans
    from .feature_crf import FeatureCRF
    from .dataset import featurize

    texts = [r.text for r in records]
    columns = {name: baseline_spans(name, texts) for name in ("rules", "lac", "signals")}
    train = [r for split in trained_on for r in load_split(data_dir, split)]
    if train:
        crf = FeatureCRF().fit([r.text for r in train], [r.spans for r in train], featurize([r.text for r in train]))
        columns["feature CRF"] = crf.predict(texts, [document_of(r) for r in records], featurize(texts))
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
    tagger = Tagger.from_dir(model_dir, precision=precision)  # a bad model directory is reported first
    records = load_split(data_dir, split)
    if not records:
        raise DataError(f"{Path(data_dir) / (split + '.jsonl')}: the {split} split is empty")
    texts = [r.text for r in records]
    gold = [r.spans for r in records]
    predicted = tagger.predict_spans(texts, documents=[document_of(r) for r in records])
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
    if any(r.meta.get("province") for r in records):
        scores["provinces"] = grouped_scores([str(r.meta.get("province", "?")) for r in records], gold, predicted)
    relations = relation_report(records, predicted, load_relation_model(model_dir, tagger.device, tagger.precision))
    counts, errors = error_breakdown([r.id for r in records], texts, gold, predicted)
    lines = [
        f"{split}: {len(records)} sections, {sum(len(g) for g in gold)} gold spans; model {model_dir} ({tagger.precision})",
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
    if "provinces" in scores:
        lines += ["", "per province (micro F1 | ORG PROGRAM MONEY COUNT):"]
        for province, cell in scores["provinces"].items():
            lines.append(f"  {province:<4} {cell['micro']['f1']:.3f} ({cell['micro']['support']:>4} spans) | "
                         + " ".join(f"{cell[label]['f1']:.3f}" for label in LABELS))
    lines += ["", relations["text"]]
    return {
        "text": "\n".join(lines),
        "json": {
            "split": split,
            "model": str(model_dir),
            "precision": tagger.precision,
            "scores": columns,
            "seqeval_agrees": agree,
            "errors": dict(counts),
            "error_examples": [e.__dict__ for e in errors],
            "relations": relations["json"],
        },
    }


def relation_scores(records: list[Record], predicted: list[list] | None = None, model: Any = None) -> dict[str, dict[str, float]]:
    """P/R/F1 per relation type of the relation layer (``model``, else the cues) against the gold
    relations. With ``predicted`` spans (end to end), a relation counts only when both ends match
    gold spans exactly."""
    from .facts import extract_relations

    def documents():
        for index, record in enumerate(records):
            gold = {(record.spans[r.source], record.spans[r.target], r.label) for r in record.relations}
            spans = sorted(predicted[index]) if predicted is not None else record.spans
            yield gold, {(spans[r.source], spans[r.target], r.label) for r in extract_relations(record.text, spans, model)}

    return relation_prf(documents())


def relation_report(records: list[Record], predicted: list[list], model: Any = None) -> dict[str, Any]:
    given = relation_scores(records, model=model)
    end_to_end = relation_scores(records, predicted, model)
    layer = model.name if model is not None else "cue extractor"
    lines = [f"relations ({layer}): P / R / F1 given gold entities | end to end from predicted entities"]
    for row in (*RELATION_ROWS, "micro"):
        a, b = given[row], end_to_end[row]
        if not a["support"] and row != "micro" and not b["support"]:
            continue
        lines.append(
            f"  {row:<10}{a['support']:>5} | {a['precision']:.3f} {a['recall']:.3f} {a['f1']:.3f} | "
            f"{b['precision']:.3f} {b['recall']:.3f} {b['f1']:.3f}"
        )
    totals = totals_agreement(records, model)
    for name, cell in totals.items():
        lines.append(f"{name} totals equal to the gold relations' (gold entities): {cell['equal']} of {cell['total']}")
    return {"text": "\n".join(lines), "json": {"given_gold_entities": given, "end_to_end": end_to_end,
                                               "layer": layer, "totals": totals}}


def totals_agreement(records: list[Record], model: Any = None, found: list[list] | None = None) -> dict[str, Any]:
    """Money and reach per program and per organization aggregated from the extracted relations vs
    from the gold relations (both on the gold entities, documents = source bulletins): how many
    profiles get exactly the gold total. ``found``: relations already extracted, one list per record
    (cross-validation's out-of-fold relations); else the layer (``model``, else the cues) extracts them."""
    from .aggregation import Aggregator
    from .facts import extract_relations

    if found is not None and len(found) != len(records):
        raise ValueError(f"totals_agreement: {len(found)} relation lists for {len(records)} records")
    gold_totals, found_totals = Aggregator(), Aggregator()
    for index, record in enumerate(records):
        document = document_of(record)
        relations = found[index] if found is not None else extract_relations(record.text, record.spans, model)
        gold_totals.add(document, record.text, record.spans, record.relations)
        found_totals.add(document, record.text, record.spans, relations)
    out: dict[str, Any] = {}
    for kind, measure in TOTALS:
        rows = []
        for key, profile in sorted(gold_totals.profiles.items()):
            gold = _measure(profile, measure)
            if key[0] != kind or not gold:
                continue
            found = _measure(found_totals.profiles.get(key), measure)
            rows.append({"name": profile.name, "gold": gold, "found": found, "equal": found == gold})
        equal = sum(r["equal"] for r in rows)
        out[f"{kind} {measure}"] = {"total": len(rows), "equal": equal,
                                    "share": round(equal / len(rows), 4) if rows else None, "rows": rows}
    return out


TOTALS = (("program", "money"), ("program", "reached"), ("organization", "given"), ("organization", "reached"))
"""The totals an analyst reads: money spent in and people reached by each program, money given by and
people reached by each organization."""
TOTAL_NAMES = tuple(f"{kind} {measure}" for kind, measure in TOTALS)
"""How :func:`totals_agreement` names them ("program money", ...)."""


def _measure(profile, measure: str):
    """A profile's money (yuan, rounded to the fen), money given, or reach per unit; empty when none."""
    if profile is None:
        return {} if measure == "reached" else 0.0
    if measure == "reached":
        return dict(sorted(profile.reached.items()))
    return round(profile.money_total if measure == "money" else profile.given_total, 2)


def side_by_side(reports: dict[str, dict[str, Any]]) -> str:
    """The model's F1 per type on each evaluated split, one column each (the README's headline)."""
    names = list(reports)
    lines = ["model F1 side by side: " + " | ".join(names), f"{'type':<8}" + "".join(f"{n:>15}" for n in names)]
    for row in (*LABELS, "micro"):
        lines.append(f"{row:<8}" + "".join(f"{reports[n]['scores']['model'][row]['f1']:>15.3f}" for n in names))
    return "\n".join(lines)


def _trained_on(model_dir: str | Path, split: str) -> list[str]:
    """The splits the model trained on, minus the evaluated one, so that the feature CRF learns from
    exactly the same sections."""
    from .model_dir import trained_splits

    return [s for s in trained_splits(model_dir) if s != split]
