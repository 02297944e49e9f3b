"""The evaluation report: the model beside the baselines a user would pick instead, on the same spans."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .corpus import Record, load_split
from .dataset import DataError
from .evaluation import bootstrap_f1, error_breakdown, format_table, grouped_scores, seqeval_scores, span_scores
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
    tagger = Tagger.from_dir(model_dir, precision=precision)  # a bad model directory is reported first
    records = load_split(data_dir, split)
    if not records:
        raise DataError(f"{Path(data_dir) / (split + '.jsonl')}: the {split} split is empty")
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
    if any(r.meta.get("province") for r in records):
        scores["provinces"] = grouped_scores([str(r.meta.get("province", "?")) for r in records], gold, predicted)
    relations = relation_report(records, predicted)
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
    if "provinces" in scores:
        lines += ["", "per province (micro F1 | ORG PROGRAM MONEY COUNT):"]
        for province, cell in scores["provinces"].items():
            lines.append(f"  {province:<4} {cell['micro']['f1']:.3f} ({cell['micro']['support']:>4} spans) | "
                         + " ".join(f"{cell[label]['f1']:.3f}" for label in LABELS))
    money = program_money_agreement([r for s in ("train", "dev", "test") for r in load_split(data_dir, s)])
    lines += ["", relations["text"],
              f"money per program on all seed sections (gold entities): the extracted facts give the gold-relation "
              f"total for {money['equal']} of {money['programs']} programs"]
    return {
        "text": "\n".join(lines),
        "json": {
            "split": split,
            "model": str(model_dir),
            "scores": columns,
            "seqeval_agrees": agree,
            "errors": dict(counts),
            "error_examples": [e.__dict__ for e in errors],
            "relations": relations["json"],
            "program_money": money,
        },
    }


RELATION_ROWS = ("runs", "gives", "amount_of", "reaches", "part_of", "same_as")


def relation_scores(records: list[Record], predicted: list[list] | None = None) -> dict[str, dict[str, float]]:
    """P/R/F1 per relation type of the cue extractor against the gold relations. With ``predicted``
    spans (end to end), a relation counts only when both ends match gold spans exactly."""
    from collections import Counter

    from .evaluation import prf
    from .facts import extract_relations

    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for index, record in enumerate(records):
        gold = {(record.spans[r.source], record.spans[r.target], r.label) for r in record.relations}
        spans = sorted(predicted[index]) if predicted is not None else record.spans
        found = {(spans[r.source], spans[r.target], r.label) for r in extract_relations(record.text, spans)}
        n_gold.update(x[2] for x in gold)
        n_pred.update(x[2] for x in found)
        tp.update(x[2] for x in gold & found)
    out = {label: prf(tp[label], n_pred[label], n_gold[label]) for label in RELATION_ROWS}
    out["micro"] = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return out


def relation_report(records: list[Record], predicted: list[list]) -> dict[str, Any]:
    given = relation_scores(records)
    end_to_end = relation_scores(records, predicted)
    lines = ["relations (cue extractor): P / R / F1 given gold entities | end to end from predicted entities"]
    for row in (*RELATION_ROWS, "micro"):
        a, b = given[row], end_to_end[row]
        if not a["support"] and row != "micro" and not b["support"]:
            continue
        lines.append(
            f"  {row:<10}{a['support']:>5} | {a['precision']:.3f} {a['recall']:.3f} {a['f1']:.3f} | "
            f"{b['precision']:.3f} {b['recall']:.3f} {b['f1']:.3f}"
        )
    return {"text": "\n".join(lines), "json": {"given_gold_entities": given, "end_to_end": end_to_end}}


def program_money_agreement(records: list[Record]) -> dict[str, Any]:
    """Money per program aggregated from extracted relations vs from the gold relations (both on
    the gold entities, documents = source bulletins): how many programs get the same total."""
    from .aggregation import Aggregator
    from .facts import extract_relations

    gold_totals, found_totals = Aggregator(), Aggregator()
    for record in records:
        gold_totals.add(record.source, record.text, record.spans, record.relations)
        found_totals.add(record.source, record.text, record.spans, extract_relations(record.text, record.spans))
    rows = []
    for (kind, name), profile in sorted(gold_totals.profiles.items()):
        if kind != "program" or not profile.money:
            continue
        found = found_totals.profiles.get((kind, name))
        found_total = found.money_total if found else 0.0
        rows.append({"program": name, "gold_yuan": profile.money_total, "found_yuan": found_total,
                     "equal": abs(found_total - profile.money_total) < 0.5})
    equal = sum(r["equal"] for r in rows)
    return {"programs": len(rows), "equal": equal, "share": equal / len(rows) if rows else 0.0, "rows": rows}


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
