"""Other learners over the relation model's candidates, as rows of ``bench/relation_scorer.py`` (issue 19).

Each variant reads the same candidate features (:func:`civic_ner.relation_model.pair_features`,
the cue verdict included) and answers a probability per candidate; the scorer decodes them the same
way as the shipped logistic regression. Rows (``--variants``):

- ``learned + cues + extra features``: the LR plus :func:`extra_features` (from an error analysis of
  one fold: which kind of ORG, how often each end is named, ORG name inside the program's, the words
  around a part's whole);
- ``learned + cues x conjunctions``: the LR over :func:`conjoined` features (each feature crossed with
  the entity-pair labels, the structural features crossed pairwise within a relation type);
- ``gradient-boosted trees``: HistGradientBoostingClassifier over the same features turned dense: the
  columns the training fold has at least ``--gbt-min-count`` times (binary indicators; the long tail
  of bigrams and words below that count is dropped);
- ``gradient-boosted trees + LR logit + extra features``: the trees with one more column, the LR's
  out-of-fold logit on the training rows (inner folds of the training fold, never the held-out one)
  and the full-fit LR's logit on the test rows.

Ablation rows fit the shipped learner itself (``RelationModel``) without one group of the shipped
features (``bench/relation_scorer.py``: the 由 actor features, the clause features, part sums).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import combinations

import numpy as np

from civic_ner.relation_model import _bin  # the shipped features' bins

MIN_COUNT = 20
"""A sparse feature becomes a column of the trees' dense matrix when the training fold has it this often."""
STRUCTURAL = ("cue=", "distance=", "sentence_gap=", "paragraph_gap=", "same_sentence=", "clause_break=",
              "target_rank=", "source_rank=", "target_first=", "headline=", "via_list_header", "same_type_between=",
              "source_type_between=", "nearest_before=", "org_opens_sentence=", "org_is_recipient=",
              "program_heads_paragraph", "rate=", "unit=", "participants")
"""The features whose pairwise conjunctions (within one relation type) the ``lr x conjunctions`` row adds."""

Rows = Sequence[dict[str, float]]
Scorer = Callable[[Rows], list[float]]


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def conjoined(feats: dict[str, float]) -> dict[str, float]:
    """``feats`` plus each feature crossed with the pair's labels and the structural features crossed
    pairwise: a linear model cannot otherwise say "close AND cued" or "rank 0 only in one sentence"."""
    rel = next(k for k in feats if k.startswith("rel=") and "|" not in k)
    r = rel + "|"
    pair = next(k[len(r):] for k in feats if k.startswith(r + "pair="))
    out = dict(feats)
    for k, v in feats.items():
        if k.startswith(r) and not k.startswith(r + "pair="):
            out[f"{r}{pair}|{k[len(r):]}"] = v
    structural = sorted(k[len(r):] for k in feats if k.startswith(r) and k[len(r):].startswith(STRUCTURAL))
    for x, y in combinations(structural, 2):
        out[f"{r}{x}&{y}"] = 1.0
    return out


def fit_lr(rows: Rows, labels: Sequence[int], c: float = 0.5) -> Scorer:
    """The shipped learner (:class:`RelationModel`'s fit) as a scorer."""
    from civic_ner.relation_model import RelationModel

    model = RelationModel().fit_rows(list(rows), list(labels), c)
    return lambda test: [model.probability(f) for f in test]


def fit_conjunctions(rows: Rows, labels: Sequence[int], c: float = 0.5) -> Scorer:
    """The logistic regression over :func:`conjoined` features."""
    scorer = fit_lr([conjoined(f) for f in rows], labels, c)
    return lambda test: scorer([conjoined(f) for f in test])


class Columns:
    """The training fold's frequent features as dense binary columns (the trees need no long tail)."""

    def __init__(self, rows: Rows, min_count: int = MIN_COUNT) -> None:
        counts = Counter(k for f in rows for k in f)
        self.names = sorted(k for k, n in counts.items() if n >= min_count)
        self.index = {k: i for i, k in enumerate(self.names)}

    def matrix(self, rows: Rows) -> np.ndarray:
        out = np.zeros((len(rows), len(self.names)), dtype=np.float32)
        for i, f in enumerate(rows):
            for k, v in f.items():
                j = self.index.get(k)
                if j is not None:
                    out[i, j] = v
        return out


def gbt_settings(min_count: int = MIN_COUNT, learning_rate: float = 0.1, iterations: int = 200) -> dict:
    """The scorer's flags as :func:`fit_gbt`'s keywords."""
    return {"min_count": min_count, "learning_rate": learning_rate, "max_iter": iterations}


def gbt_params(**kw) -> dict:
    """The trees' fixed settings beside the scorer's (learning rate, iterations: :func:`gbt_settings`),
    early stopping off (it would carve its validation set out of the training fold at random, across
    provinces)."""
    return {"max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 1.0, "early_stopping": False,
            "random_state": 0, **kw}


def fit_gbt(rows: Rows, labels: Sequence[int], extra: np.ndarray | None = None, min_count: int = MIN_COUNT,
            **kw) -> Callable[..., list[float]]:
    """Gradient-boosted trees over :class:`Columns`; ``extra`` adds columns (the LR's logit)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    columns = Columns(rows, min_count)
    x = columns.matrix(rows)
    if extra is not None:
        x = np.hstack([x, extra.reshape(len(rows), -1)])
    model = HistGradientBoostingClassifier(**gbt_params(**kw)).fit(x, np.asarray(labels))

    def score(test: Rows, test_extra: np.ndarray | None = None) -> list[float]:
        if not test:
            return []
        t = columns.matrix(test)
        if test_extra is not None:
            t = np.hstack([t, test_extra.reshape(len(test), -1)])
        return model.predict_proba(t)[:, 1].tolist()

    return score


def fit_stacked(rows: Rows, labels: Sequence[int], groups: Sequence[int], **kw) -> Scorer:
    """Trees with the logistic regression's logit as one more column: out of fold on the training
    rows (``groups`` are their inner folds), from the LR fitted on all of them on the test rows."""
    oof = np.zeros(len(rows), dtype=np.float32)
    for g in sorted(set(groups)):
        inner = [i for i, x in enumerate(groups) if x != g]
        held = [i for i, x in enumerate(groups) if x == g]
        lr = fit_lr([rows[i] for i in inner], [labels[i] for i in inner])
        oof[held] = [_logit(p) for p in lr([rows[i] for i in held])]
    trees = fit_gbt(rows, labels, oof, **kw)
    full = fit_lr(rows, labels)
    return lambda test: trees(test, np.asarray([_logit(p) for p in full(test)], dtype=np.float32))


ACTOR_TAILS_LEN = 2
TOTAL_WORDS = ("共", "合计", "累计", "总计", "总共", "一共", "达", "超", "突破")


def extra_features(text: str, spans, c, feats: dict[str, float]) -> dict[str, float]:
    """What the error analysis of one fold asked for: which kind of ORG it is (its last characters:
    工会 acts, 中学 receives), how often each end is named (the article's main actor), whether the
    ORG's name recurs in the program's, and for parts the words around the whole (共, 合计, a colon)."""
    r = f"rel={c.label}|"
    a, b = spans[c.source], spans[c.target]
    f: dict[str, float] = {}
    names = [text[s.start:s.end] for s in (a, b)]
    headline_end = text.find("\n") if "\n" in text else len(text)
    for end, s, name in (("source", a, names[0]), ("target", b, names[1])):
        if s.label in ("ORG", "PROGRAM"):
            f[f"{r}{end}_mentions={_bin(text.count(name), (1, 2, 4))}"] = 1.0
            f[f"{r}{end}_in_headline={text.find(name) < headline_end}"] = 1.0
        if s.label == "ORG":
            f[f"{r}{end}_org_tail={name[-ACTOR_TAILS_LEN:]}"] = 1.0
    if {a.label, b.label} == {"ORG", "PROGRAM"}:
        org, prog = (names[0], names[1]) if a.label == "ORG" else (names[1], names[0])
        f[f"{r}org_in_program={any(org[k:k + 2] in prog for k in range(max(len(org) - 3, 0)))}"] = 1.0
    if c.label == "part_of":
        f[f"{r}whole_left={text[max(0, b.start - 2):b.start]}"] = 1.0
        f[f"{r}whole_right={text[b.end:b.end + 1]}"] = 1.0
        f[f"{r}whole_total_word={any(w in text[max(0, b.start - 4):b.start] for w in TOTAL_WORDS)}"] = 1.0
        lo, hi = min(a.end, b.end), max(a.start, b.start)
        f[f"{r}colon_between={'：' in text[lo:hi] or ':' in text[lo:hi]}"] = 1.0
    return f
