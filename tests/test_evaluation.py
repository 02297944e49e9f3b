import random

import pytest

from civic_ner.evaluation import bootstrap_f1, error_breakdown, seqeval_scores, span_scores
from civic_ner.types import LABELS, Span


def test_scores_against_hand_computed_example():
    gold = [[Span(0, 3, "ORG"), Span(5, 9, "PROGRAM"), Span(10, 14, "MONEY")], [Span(0, 2, "COUNT")]]
    pred = [[Span(0, 3, "ORG"), Span(5, 8, "PROGRAM"), Span(10, 14, "COUNT")], [Span(0, 2, "COUNT"), Span(3, 5, "ORG")]]
    s = span_scores(gold, pred)
    # ORG: 1 tp, 2 predicted, 1 gold -> P 0.5 R 1 F 2/3
    assert s["ORG"]["precision"] == 0.5 and s["ORG"]["recall"] == 1.0
    assert s["ORG"]["f1"] == pytest.approx(2 / 3)
    assert s["PROGRAM"]["f1"] == 0.0 and s["MONEY"]["recall"] == 0.0
    # COUNT: 1 tp, 2 predicted, 1 gold
    assert s["COUNT"]["precision"] == 0.5 and s["COUNT"]["recall"] == 1.0
    # micro: 2 tp, 5 predicted, 4 gold -> P .4 R .5 F 4/9
    assert s["micro"]["precision"] == pytest.approx(0.4)
    assert s["micro"]["recall"] == pytest.approx(0.5)
    assert s["micro"]["f1"] == pytest.approx(4 / 9)
    assert s["macro"]["f1"] == pytest.approx((2 / 3 + 0 + 0 + 2 / 3) / 4)


def test_perfect_and_empty_predictions():
    gold = [[Span(0, 3, "ORG")]]
    assert span_scores(gold, gold)["micro"]["f1"] == 1.0
    assert span_scores(gold, [[]])["micro"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def perturb(spans, text_len, rng):
    out = []
    for s in spans:
        roll = rng.random()
        if roll < 0.15:
            continue  # missed
        if roll < 0.3:
            out.append(Span(s.start, s.end, rng.choice([l for l in LABELS if l != s.label])))
        elif roll < 0.45 and s.end - s.start > 1:
            out.append(Span(s.start + 1, s.end, s.label))
        else:
            out.append(s)
    return out


def test_seqeval_agrees_with_span_matcher_on_every_section(gold_records):
    rng = random.Random(0)
    for record in gold_records:
        pred = perturb(record.spans, len(record.text), rng)
        mine = span_scores([record.spans], [pred])
        theirs = seqeval_scores([record.text], [record.spans], [pred])
        for label in LABELS:
            if mine[label]["support"] or any(p.label == label for p in pred):
                assert theirs.get(label, {}).get("f1-score", 0.0) == pytest.approx(mine[label]["f1"]), (record.id, label)
        assert theirs["micro avg"]["f1-score"] == pytest.approx(mine["micro"]["f1"]), record.id


def test_error_breakdown_kinds():
    text = "乳山市妇联拨付268.94万元给市扶贫办"
    gold = [Span(0, 5, "ORG"), Span(7, 15, "MONEY"), Span(16, 20, "ORG")]
    pred = [Span(0, 5, "PROGRAM"), Span(9, 15, "MONEY"), Span(5, 7, "COUNT")]
    counts, examples = error_breakdown(["s"], [text], [gold], [pred])
    assert counts == {"wrong type": 1, "boundary": 1, "spurious": 1, "missed": 1}
    assert {e.kind for e in examples} == {"wrong type", "boundary", "spurious", "missed"}


def test_bootstrap_interval_contains_point_estimate(gold_records):
    rng = random.Random(1)
    gold = [r.spans for r in gold_records]
    pred = [perturb(r.spans, len(r.text), rng) for r in gold_records]
    low, high = bootstrap_f1(gold, pred, samples=300)
    point = span_scores(gold, pred)["micro"]["f1"]
    assert low <= point <= high and high - low < 0.2
    assert bootstrap_f1(gold, gold, samples=50) == (1.0, 1.0)
