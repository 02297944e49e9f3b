"""Entity-level scores: strict span matching, a seqeval cross-check, error breakdown, bootstrap CI.

Strict means a predicted span counts only if start, end and label all equal a gold span (as in
CoNLL, seqeval's strict mode and spaCy's ``ents_p/r/f``).
"""
from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .alignment import spans_to_tags
from .types import LABELS, Span


def prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float]:
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "support": n_gold}


RELATION_ROWS = ("runs", "gives", "amount_of", "reaches", "part_of", "same_as")


def relation_prf(documents: Iterable[tuple[set, set]]) -> dict[str, dict[str, float]]:
    """P/R/F1 per relation type and micro over (gold, found) sets of one document each; a relation is
    any tuple whose last item is its type, matched exactly (both ends and the type)."""
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for gold, found in documents:
        n_gold.update(x[-1] for x in gold)
        n_pred.update(x[-1] for x in found)
        tp.update(x[-1] for x in gold & found)
    out = {label: prf(tp[label], n_pred[label], n_gold[label]) for label in RELATION_ROWS}
    out["micro"] = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    return out


def grouped_scores(groups: Sequence[str], gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict[str, dict]:
    """:func:`span_scores` of each group of documents (a province, a source), groups sorted."""
    index: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        index.setdefault(group, []).append(i)
    return {g: span_scores([gold[i] for i in idx], [pred[i] for i in idx]) for g, idx in sorted(index.items())}


def span_scores(
    gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]], labels: Sequence[str] = LABELS
) -> dict[str, dict[str, float]]:
    """Per-type, micro and macro precision/recall/F1 by exact span match, summed over documents."""
    tp: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for gold_doc, pred_doc in zip(gold, pred, strict=True):
        gold_set, pred_set = set(gold_doc), set(pred_doc)
        n_gold.update(s.label for s in gold_set)
        n_pred.update(s.label for s in pred_set)
        tp.update(s.label for s in gold_set & pred_set)
    scores = {label: prf(tp[label], n_pred[label], n_gold[label]) for label in labels}
    scores["micro"] = prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    present = [label for label in labels if n_gold[label]]
    scores["macro"] = {
        key: sum(scores[label][key] for label in present) / len(present) if present else 0.0
        for key in ("precision", "recall", "f1")
    }
    scores["macro"]["support"] = sum(n_gold.values())
    return scores


def seqeval_scores(texts: Sequence[str], gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]) -> dict:
    """The same scores computed by seqeval (strict IOB2) on per-character tags."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    y_true = [spans_to_tags(t, g) for t, g in zip(texts, gold)]
    y_pred = [spans_to_tags(t, p) for t, p in zip(texts, pred)]
    report = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    return {key: {k: float(v) for k, v in value.items()} for key, value in report.items()}


@dataclass
class ErrorExample:
    kind: str
    section: str
    gold: str
    pred: str
    context: str


def error_breakdown(
    ids: Sequence[str], texts: Sequence[str], gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]]
) -> tuple[Counter[str], list[ErrorExample]]:
    """Classify every error: wrong type (same span), boundary (overlaps a gold span), spurious, missed."""
    counts: Counter[str] = Counter()
    examples: list[ErrorExample] = []

    def show(text: str, span: Span | None) -> str:
        return f"{text[span.start:span.end]}/{span.label}" if span else "-"

    for sid, text, gold_doc, pred_doc in zip(ids, texts, gold, pred):
        gold_set, pred_set = set(gold_doc), set(pred_doc)
        for p in sorted(pred_set - gold_set):
            same_range = [g for g in gold_doc if (g.start, g.end) == (p.start, p.end)]
            overlapping = [g for g in gold_doc if g.start < p.end and p.start < g.end]
            kind = "wrong type" if same_range else "boundary" if overlapping else "spurious"
            g = (same_range or overlapping or [None])[0]
            counts[kind] += 1
            examples.append(ErrorExample(kind, sid, show(text, g), show(text, p), _context(text, p)))
        for g in sorted(gold_set - pred_set):
            if not any(p.start < g.end and g.start < p.end for p in pred_doc):
                counts["missed"] += 1
                examples.append(ErrorExample("missed", sid, show(text, g), "-", _context(text, g)))
    return counts, examples


def _context(text: str, span: Span, width: int = 12) -> str:
    left = text[max(0, span.start - width) : span.start].replace("\n", " ")
    right = text[span.end : span.end + width].replace("\n", " ")
    return f"{left}[{text[span.start:span.end]}]{right}"


def bootstrap_f1(
    gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]], samples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile interval of micro F1, resampling sections with replacement."""
    stats = []
    for g, p in zip(gold, pred):
        gs, ps = set(g), set(p)
        stats.append((len(gs & ps), len(ps), len(gs)))
    if not stats:
        return 0.0, 0.0
    rng = random.Random(seed)
    values = []
    for _ in range(samples):
        tp = n_pred = n_gold = 0
        for _ in range(len(stats)):
            a, b, c = stats[rng.randrange(len(stats))]
            tp, n_pred, n_gold = tp + a, n_pred + b, n_gold + c
        values.append(prf(tp, n_pred, n_gold)["f1"])
    values.sort()
    return values[int(0.025 * samples)], values[min(samples - 1, int(0.975 * samples))]


def format_table(columns: dict[str, dict[str, dict[str, float]]], labels: Sequence[str] = LABELS) -> str:
    """Rows = types + micro + macro; one P/R/F1 block per column (model, baselines).

    A column that does not cover a type (a baseline for MONEY only, say) leaves it blank.
    """
    rows = [*labels, "micro", "macro"]
    header = f"{'type':<8}{'support':>8}" + "".join(f" | {name:^20}" for name in columns)
    sub = f"{'':<8}{'':>8}" + "".join(f" | {'P':>6}{'R':>7}{'F1':>7}" for _ in columns)
    lines = [header, sub, "-" * len(header)]
    first = next(iter(columns.values()))
    for row in rows:
        support = int(first.get(row, {}).get("support", 0))
        cells = []
        for scores in columns.values():
            s = scores.get(row)
            cells.append(f" | {s['precision']:>6.3f}{s['recall']:>7.3f}{s['f1']:>7.3f}" if s else f" | {'':>20}")
        lines.append(f"{row:<8}{support:>8}" + "".join(cells))
    return "\n".join(lines)
