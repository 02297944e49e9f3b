"""A relation scorer learned from the gold relations, with the reader's cues as its features.

Every plausible pair of entities inside a paragraph (or a list and the sentence announcing it) is a
candidate; a logistic regression (scikit-learn) over cue features -- distance, the entities in
between, giving/running verbs, 给/用于/其中/共计, rates, participants, the cue extractor's own
verdict -- scores it, and decoding keeps one owner per number, every giver and runner above 0.5.
It is kept only where cross-validation shows it beats the cues alone (bench/RESULTS.md); weights
are saved as JSON in the model directory (``relations.json``), never pickled.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civic_ner.facts import (
    GIVE_VERBS, LIST_ITEM, PART_CUES, RECIPIENT_CUES, RUN_VERBS, TOTAL_CUES, _participants, _Section, extract_relations,
    is_rate,
)
from civic_ner.relations import Relation, allowed
from civic_ner.types import Span

AWARD_CUES = ("获得", "获评", "荣获", "评为", "评选", "获奖", "奖章", "奖状")
ROLE_PAIRS = {
    ("MONEY", "PROGRAM"): "amount_of", ("MONEY", "ORG"): "amount_of", ("COUNT", "PROGRAM"): "reaches",
    ("COUNT", "ORG"): "reaches", ("ORG", "MONEY"): "gives", ("ORG", "PROGRAM"): "runs",
}


@dataclass(frozen=True)
class Candidate:
    source: int
    target: int
    label: str


def candidates(ctx: _Section) -> list[Candidate]:
    out = []
    spans = ctx.spans
    for i, a in enumerate(spans):
        for k, b in enumerate(spans):
            if i == k:
                continue
            label = ROLE_PAIRS.get((a.label, b.label))
            if label and (ctx.near(i, k) or ctx.near(k, i)):
                out.append(Candidate(i, k, label))
            elif a.label == b.label and a.label in ("MONEY", "COUNT") and ctx.sent_of[i] == ctx.sent_of[k]:
                out.append(Candidate(i, k, "part_of"))
    return out


def _bin(n: int, edges=(0, 2, 6, 15, 40, 100)) -> str:
    for edge in edges:
        if n <= edge:
            return str(edge)
    return "more"


def features(ctx: _Section, c: Candidate) -> dict[str, float]:
    text, spans = ctx.text, ctx.spans
    a, b = spans[c.source], spans[c.target]
    first, second = (a, b) if a.start < b.start else (b, a)
    between = text[first.end : second.start]
    lo, hi = min(c.source, c.target), max(c.source, c.target)
    inside = spans[lo + 1 : hi]
    number = a if a.label in ("MONEY", "COUNT") else b if b.label in ("MONEY", "COUNT") else None
    f: dict[str, float] = {
        f"rel={c.label}": 1.0,
        f"rel={c.label}|pair={a.label}>{b.label}": 1.0,
        f"rel={c.label}|same_sentence={ctx.sent_of[c.source] == ctx.sent_of[c.target]}": 1.0,
        f"rel={c.label}|same_paragraph={ctx.para_of[c.source] == ctx.para_of[c.target]}": 1.0,
        f"rel={c.label}|clause_break={any(ch in between for ch in '，,；;')}": 1.0,
        f"rel={c.label}|distance={_bin(len(between))}": 1.0,
        f"rel={c.label}|target_first={b.start < a.start}": 1.0,
        f"rel={c.label}|same_type_between={_bin(sum(s.label == b.label for s in inside), (0, 1, 2))}": 1.0,
        f"rel={c.label}|source_type_between={_bin(sum(s.label == a.label for s in inside), (0, 1, 2))}": 1.0,
        f"rel={c.label}|cue={Relation(c.source, c.target, c.label) in ctx.relations}": 1.0,
    }
    for name, words in (("give", GIVE_VERBS), ("run", RUN_VERBS), ("to", RECIPIENT_CUES), ("part", PART_CUES),
                        ("total", TOTAL_CUES), ("use", ("用于", "投向", "支持")), ("award", AWARD_CUES)):
        if any(w in between for w in words):
            f[f"rel={c.label}|between_{name}"] = 1.0
    if number is not None:
        f[f"rel={c.label}|rate={is_rate(text, number)}"] = 1.0
        if number.label == "COUNT" and _participants(text, number):
            f[f"rel={c.label}|participants"] = 1.0
        after = text[number.end : number.end + 8]
        before = text[max(0, number.start - 8) : number.start]
        if any(w in after + before for w in AWARD_CUES):
            f[f"rel={c.label}|award_near_number"] = 1.0
    if ctx.para_of[c.target] != ctx.para_of[c.source]:
        f[f"rel={c.label}|via_list_header"] = 1.0
    sentence_first = next((k for k in range(len(spans)) if ctx.sent_of[k] == ctx.sent_of[c.source]), None)
    if b.label == "ORG" or a.label == "ORG":
        org = c.target if b.label == "ORG" else c.source
        f[f"rel={c.label}|org_opens_sentence={org == sentence_first}"] = 1.0
    head = ctx.paragraphs[ctx.para_of[c.target]][0]
    if b.label == "PROGRAM" and (LIST_ITEM.match(text[head : b.start]) or not text[head : b.start].strip(" “\"")):
        f[f"rel={c.label}|program_heads_paragraph"] = 1.0
    return f


class RelationScorer:
    """Logistic regression over :func:`features` of :func:`candidates`."""

    def __init__(self, weights: dict[str, float] | None = None, bias: float = 0.0, threshold: float = 0.5) -> None:
        self.weights = weights or {}
        self.bias = bias
        self.threshold = threshold

    def fit(self, documents: Sequence[tuple[str, Sequence[Span], Sequence[Relation]]], c: float = 1.0) -> "RelationScorer":
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        rows, labels = [], []
        for text, spans, gold in documents:
            ctx = _Section(text, spans)
            wanted = {(r.source, r.target, r.label) for r in gold}
            for cand in candidates(ctx):
                rows.append(features(ctx, cand))
                labels.append(int((cand.source, cand.target, cand.label) in wanted))
        if not rows or len(set(labels)) < 2:
            raise ValueError("the relation scorer needs annotated relations with both outcomes to learn from")
        vectorizer = DictVectorizer()
        model = LogisticRegression(C=c, max_iter=2000).fit(vectorizer.fit_transform(rows), labels)
        self.weights = {name: float(w) for name, w in zip(vectorizer.get_feature_names_out(), model.coef_[0]) if w}
        self.bias = float(model.intercept_[0])
        return self

    def probability(self, feats: dict[str, float]) -> float:
        z = self.bias + sum(self.weights.get(k, 0.0) * v for k, v in feats.items())
        return 1.0 / (1.0 + math.exp(-z))

    def predict(self, text: str, spans: Sequence[Span]) -> list[Relation]:
        ctx = _Section(text, spans)
        scored = [(self.probability(features(ctx, cand)), cand) for cand in candidates(ctx)]
        scored = [(p, cand) for p, cand in scored if p >= self.threshold]
        out: set[Relation] = set()
        # one owner per number and target kind; one parent per part; every runner and giver
        best: dict[tuple[int, str], tuple[float, Candidate]] = {}
        for p, cand in scored:
            if cand.label in ("amount_of", "reaches", "part_of"):
                key = (cand.source, "part" if cand.label == "part_of" else
                       spans[cand.target].label if cand.label == "amount_of" else "owner")
                if key not in best or p > best[key][0]:
                    best[key] = (p, cand)
            else:
                out.add(Relation(cand.source, cand.target, cand.label))
        out |= {Relation(c.source, c.target, c.label) for _, c in best.values()}
        out |= {r for r in extract_relations(text, spans) if r.label == "same_as"}
        return sorted(r for r in out if allowed(r.label, spans[r.source].label, spans[r.target].label))

    def to_json(self) -> dict[str, Any]:
        return {"kind": "logistic-regression", "bias": self.bias, "threshold": self.threshold, "weights": self.weights}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "RelationScorer":
        return cls({str(k): float(v) for k, v in obj["weights"].items()}, float(obj["bias"]), float(obj.get("threshold", 0.5)))

    def save(self, path: str | Path) -> None:
        from civic_ner import fileio

        fileio.write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "RelationScorer":
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))


def cross_validate(records, folds: int = 5) -> dict[str, dict[str, float]]:
    """Micro P/R/F1 of the cue extractor and of the learned scorer, given gold entities, pooled over
    k folds by section (the scorer learns on k-1 folds; the cues need no training)."""
    from civic_ner.cv import fold_assignment
    from civic_ner.evaluation import prf

    assignment = fold_assignment([(r.id, len(r.spans)) for r in records], folds)
    counts = {name: [0, 0, 0] for name in ("cues", "learned")}  # true positives, predicted, gold
    for fold in range(folds):
        train = [(r.text, r.spans, r.relations) for r in records if assignment[r.id] != fold]
        scorer = RelationScorer().fit(train)
        for r in (r for r in records if assignment[r.id] == fold):
            gold = {(x.source, x.target, x.label) for x in r.relations}
            for name, predicted in (("cues", extract_relations(r.text, r.spans)), ("learned", scorer.predict(r.text, r.spans))):
                got = {(x.source, x.target, x.label) for x in predicted}
                counts[name][0] += len(got & gold)
                counts[name][1] += len(got)
                counts[name][2] += len(gold)
    return {name: prf(tp, n_pred, n_gold) for name, (tp, n_pred, n_gold) in counts.items()}


def main() -> None:
    """python bench/relation_scorer.py [DATA_DIR]: the learned scorer against the cues, 5-fold CV over
    the seeds' train and dev sections (never test), given gold entities -> bench/results/relations_cv.json.

    The cue figure is in-sample: the cues were written after reading the gold relations of every
    section, so CV measures the learned scorer but not the cues (they learn nothing from the folds)."""
    import sys

    from civic_ner import fileio
    from civic_ner.corpus import load_split

    data_dir = sys.argv[1] if len(sys.argv) > 1 else "data"
    records = [r for split in ("train", "dev") for r in load_split(data_dir, split)]
    scores = cross_validate(records)
    for name, s in scores.items():
        kind = "in-sample (cues written over all gold)" if name == "cues" else "5-fold CV by section"
        print(f"{name:8} relations, {kind}, gold entities: P {s['precision']:.3f}  R {s['recall']:.3f}  F1 {s['f1']:.3f}")
    out = Path(__file__).resolve().parent / "results" / "relations_cv.json"
    fileio.write_json(out, {"command": "python bench/relation_scorer.py", "sections": len(records),
                            "splits": ["train", "dev"], "in_sample": ["cues"], "scores": scores})
    print(f"-> {out}")


if __name__ == "__main__":
    main()
