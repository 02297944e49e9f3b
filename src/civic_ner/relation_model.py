"""A learned relation model: a logistic regression over entity pairs, the cues among its features.

Every plausible pair of one section is a candidate: an ORG/MONEY/COUNT and a PROGRAM/ORG/MONEY in
one paragraph or in the sentence announcing the paragraph's list (runs, gives, amount_of, reaches),
two numbers of one kind in one sentence (part_of), two equal numbers anywhere (same_as). Its
features are what a reader looks at -- the cue extractor's verdict (:mod:`civic_ner.facts`),
distance, order, the entities and the characters in between, the words on either side of the
number, list structure, rates, participants, an actor named after 由, which clause each end sits
in, parts that add up to a whole without 其中 -- and the model is
scikit-learn's logistic regression, saved as JSON weights (``relations.json`` in a model
directory, never pickled). Decoding keeps one owner per number, one whole per part, one earlier
mention per repeat (only of a figure someone owns: R4, R17) and every runner and giver above the threshold. Chosen against the cues alone
by CV by province (``bench/relation_scorer.py``).
"""
from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any

from .facts import (
    GIVE_VERBS, LIST_ITEM, PART_CUES, RECIPIENT_CUES, RUN_VERBS, TOTAL_CUES, _clause_before, _has_any, _participants, _Section,
    _unit_class, is_rate,
)
from .relations import Relation, allowed, owned_repeats
from .types import Span

AWARD_CUES = ("获得", "获评", "荣获", "评为", "评选", "获奖", "奖章", "奖状")
USE_CUES = ("用于", "投向", "支持", "资助", "帮扶", "惠及", "受益")
ACT_AFTER = RUN_VERBS + ("主办", "承办", "协办", "发起", "负责", "出资", "资助")
"""What an actor named after 由 does (活动由X和Y联合主办, 由X出资)."""
BACK_REFERENCES = ("活动", "行动", "项目", "工程", "计划", "该", "这", "此", "本次")
"""A sentence opening with one of these refers back to the program named before it (R2)."""
ROLE_PAIRS = {
    ("MONEY", "PROGRAM"): "amount_of", ("MONEY", "ORG"): "amount_of", ("COUNT", "PROGRAM"): "reaches",
    ("COUNT", "ORG"): "reaches", ("ORG", "MONEY"): "gives", ("ORG", "PROGRAM"): "runs",
}
NUMBERS = ("MONEY", "COUNT")
THRESHOLD = 0.3
"""Probability above which a candidate is kept: chosen by CV by province (0.25-0.5 tried; bench/RESULTS.md)."""
MAX_PAIR_CHARS = 600
"""Pairs further apart than this many characters are candidates only through a list header or the
headline (a long bulletin's pairs would otherwise grow with the square of its length)."""
MAX_PARAGRAPH_GAP = 4
"""Pairs further apart than this many paragraphs are candidates only through a list header or the headline."""
MAX_BETWEEN_BIGRAMS = 24
"""Characters between the two ends read as bigrams (longer gaps say little word by word)."""
CLAUSE_ENDS = "，,；;。！？!?\n"
"""What ends a clause: a number spent on a program is mostly named in the program's clause."""
SUM_TOLERANCE = 0.01
"""Parts add up to a whole when their sum is within this share of it (R16; 约 / 余 totals are rounded)."""


@dataclass(frozen=True)
class Candidate:
    source: int
    target: int
    label: str


CHOICES = ("amount_of", "reaches", "part_of", "same_as")
"""Relation types decoded as a choice: one owner per number and owner label, one whole per part, one
earlier mention per repeat (runs and gives keep every actor)."""


def choice_key(cand: Candidate, spans: Sequence[Span]) -> tuple:
    """The choice a candidate of a CHOICES type competes in, as the decoder keeps one per key."""
    if cand.label in ("part_of", "same_as"):
        return (cand.source, cand.label)
    return (cand.source, f"owner-{spans[cand.target].label}")


def candidates(sec: _Section) -> list[Candidate]:
    """Every pair the schema allows and the text makes plausible (see the module docstring)."""
    out = []
    spans, text = sec.spans, sec.text
    reachable = _reachable(sec)
    for i, a in enumerate(spans):
        for k in reachable(i):
            b = spans[k]
            label = ROLE_PAIRS.get((a.label, b.label))
            gap = abs(sec.para_of[i] - sec.para_of[k])
            close = abs(a.start - b.start) <= MAX_PAIR_CHARS
            if label and ((close and gap <= MAX_PARAGRAPH_GAP) or sec.near(i, k) or sec.near(k, i) or _in_headline(sec, min(i, k))):
                out.append(Candidate(i, k, label))
            elif a.label == b.label and a.label in NUMBERS and gap <= 2 and close:
                out.append(Candidate(i, k, "part_of"))
    figures: dict[tuple, list[int]] = {}
    for k, s in enumerate(spans):  # repeats: one group per figure (same surface or same value)
        if s.label in NUMBERS:
            value = _value(s.label, text[s.start:s.end])
            figures.setdefault((s.label, value if value is not None else text[s.start:s.end]), []).append(k)
    for group in figures.values():
        out += [Candidate(i, k, "same_as") for n, i in enumerate(group) for k in group[:n]]
    return out


def _reachable(sec: _Section):
    """For entity i, in order, the entities a candidate pair with i can reach at all: those within
    MAX_PAIR_CHARS, of its paragraph, of the paragraph announcing its list or listed under its
    paragraph, and the headline's (every entity when i is in the headline). The same pairs as trying
    all of them, found in time linear in a section's entities instead of quadratic."""
    spans = sec.spans
    starts = [s.start for s in spans]
    members: dict[int, list[int]] = {}
    for k, p in enumerate(sec.para_of):
        members.setdefault(p, []).append(k)
    header_of = {p: sec.header_paragraph(p) for p in members}
    listed_under: dict[int, list[int]] = {}
    for p, q in header_of.items():
        if q is not None:
            listed_under.setdefault(q, []).extend(members[p])
    headline = members.get(0, [])

    def reachable(i: int) -> list[int]:
        if sec.para_of[i] == 0:
            return [k for k in range(len(spans)) if k != i]
        lo, hi = bisect_left(starts, spans[i].start - MAX_PAIR_CHARS), bisect_left(starts, spans[i].start + MAX_PAIR_CHARS + 1)
        p = sec.para_of[i]
        found = set(range(lo, hi)) | set(members[p]) | set(headline) | set(listed_under.get(p, ()))
        if header_of[p] is not None:
            found |= set(members.get(header_of[p], ()))
        found.discard(i)
        return sorted(found)

    return reachable


def _in_headline(sec: _Section, k: int) -> bool:
    return sec.para_of[k] == 0


@lru_cache(maxsize=65536)
def _value(label: str, surface: str):
    from .values import parse_count, parse_money

    try:
        return parse_money(surface).yuan if label == "MONEY" else parse_count(surface).value
    except (ValueError, ArithmeticError, AttributeError):
        return None


def _bin(n: int, edges: Sequence[int] = (0, 2, 6, 15, 40, 100)) -> str:
    for edge in edges:
        if n <= edge:
            return str(edge)
    return "more"


def pair_features(sec: _Section, c: Candidate, cues: bool = True, index: _Index | None = None) -> dict[str, float]:
    """Sparse features of one candidate, each conjoined with its relation type."""
    index = index or _Index(sec, cues)
    text, spans = sec.text, sec.spans
    a, b = spans[c.source], spans[c.target]
    first, second = (a, b) if a.start < b.start else (b, a)
    between = text[first.end:second.start]
    lo, hi = min(c.source, c.target), max(c.source, c.target)
    r = f"rel={c.label}|"
    f: dict[str, float] = {
        f"rel={c.label}": 1.0,
        f"{r}pair={a.label}>{b.label}": 1.0,
        f"{r}same_sentence={sec.sent_of[c.source] == sec.sent_of[c.target]}": 1.0,
        f"{r}same_paragraph={sec.para_of[c.source] == sec.para_of[c.target]}": 1.0,
        f"{r}paragraph_gap={_bin(abs(sec.para_of[c.source] - sec.para_of[c.target]), (0, 1, 2, 4))}": 1.0,
        f"{r}sentence_gap={_bin(abs(sec.sent_of[c.source] - sec.sent_of[c.target]), (0, 1, 2, 4, 8))}": 1.0,
        f"{r}headline={_in_headline(sec, c.source)},{_in_headline(sec, c.target)}": 1.0,
        f"{r}clause_break={_has_any(between, '，,；;')}": 1.0,
        f"{r}distance={_bin(len(between))}": 1.0,
        f"{r}target_first={b.start < a.start}": 1.0,
        f"{r}same_type_between={_bin(index.between(b.label, lo, hi), (0, 1, 2))}": 1.0,
        f"{r}source_type_between={_bin(index.between(a.label, lo, hi), (0, 1, 2))}": 1.0,
    }
    if cues:
        f[f"{r}cue={Relation(c.source, c.target, c.label) in index.cues}"] = 1.0
    for name, words in (("give", GIVE_VERBS), ("run", RUN_VERBS), ("to", RECIPIENT_CUES), ("part", PART_CUES),
                        ("total", TOTAL_CUES), ("use", USE_CUES), ("award", AWARD_CUES)):
        if _has_any(between, words):
            f[f"{r}between_{name}"] = 1.0
    if len(between) <= MAX_BETWEEN_BIGRAMS:
        for k in range(len(between) - 1):
            f[f"{r}bigram={between[k:k + 2]}"] = 1.0
    f[f"{r}target_rank={index.rank(spans, c.source, c.target)}|after={b.start > a.start}"] = 1.0
    f[f"{r}source_rank={index.rank(spans, c.target, c.source)}"] = 1.0
    f.update(_number_features(sec, c, r))
    f.update(_structure_features(sec, c, r, index))
    f.update(_clause_features(sec, c, r, index))
    f.update(_part_features(sec, c, r, index))
    if a.label == "ORG":
        f.update(_agent_features(sec, c, r, index))
    return f


class _Index:
    """Per section, computed once: the starts of each label's spans (sorted) and the first span of
    every sentence, so that a candidate's features cost O(log n), not O(n)."""

    def __init__(self, sec: _Section, cues: bool = True) -> None:
        self.starts: dict[str, list[int]] = {}
        self.ids: dict[str, list[int]] = {}
        for k, s in enumerate(sec.spans):
            self.starts.setdefault(s.label, []).append(s.start)
            self.ids.setdefault(s.label, []).append(k)
        self.cues = set(sec.relations) if cues else set()
        self.opener: dict[int, int] = {}
        for k, sentence in enumerate(sec.sent_of):
            self.opener.setdefault(sentence, k)
        inside = {k for s in sec.spans for k in range(s.start + 1, s.end)}  # 滇池情，助学行 is one name
        self.clause_ends = [k for k, ch in enumerate(sec.text) if ch in CLAUSE_ENDS and k not in inside]
        self.text_length = len(sec.text)
        self._kin: dict[tuple, _Kin] = {}

    def kin(self, sec: _Section, k: int) -> "_Kin":
        """The figures of span k's label and unit, gathered once per section (part_of candidates share them)."""
        key = (sec.spans[k].label, _unit_class(sec.text, sec.spans[k]))
        if key not in self._kin:
            self._kin[key] = _Kin(_kin(sec.text, sec.spans, k), sec.para_of)
        return self._kin[key]

    def rank(self, spans: Sequence[Span], anchor: int, other: int) -> int:
        """How many entities of ``other``'s label lie closer to ``anchor`` than ``other`` does (capped
        at 3): the nearest program to a number is its most likely owner."""
        starts = self.starts[spans[other].label]
        at, distance = spans[anchor].start, abs(spans[other].start - spans[anchor].start)
        closer = bisect_left(starts, at + distance) - bisect_left(starts, at - distance + 1)
        closer -= spans[anchor].label == spans[other].label and distance > 0  # the anchor itself
        return min(max(closer, 0), 3)

    def between(self, label: str, lo: int, hi: int) -> int:
        """How many spans of ``label`` sit strictly between the spans at indices ``lo`` < ``hi``."""
        ids = self.ids.get(label, [])
        return max(bisect_left(ids, hi) - bisect_right(ids, lo), 0)

    def clause(self, position: int) -> tuple[int, int]:
        """The clause around ``position``: from after the last clause end before it to the next one."""
        k = bisect_left(self.clause_ends, position)
        lo = self.clause_ends[k - 1] + 1 if k else 0
        return lo, self.clause_ends[k] if k < len(self.clause_ends) else self.text_length

    def count_in(self, label: str, lo: int, hi: int) -> int:
        """How many spans of ``label`` start at a character in [lo, hi)."""
        starts = self.starts.get(label, [])
        return bisect_left(starts, hi) - bisect_left(starts, lo)

    def nearest_before(self, spans: Sequence[Span], label: str, position: int) -> int | None:
        """The last span of ``label`` starting before ``position``."""
        k = bisect_left(self.starts.get(label, []), position) - 1
        return self.ids[label][k] if k >= 0 else None


def _agent_features(sec: _Section, c: Candidate, r: str, index: _Index) -> dict[str, float]:
    """An actor named after the program by 由 (这项行动由X发起; 活动由X和Y联合主办; 由X出资): the
    cues read runners before the program, so these went unlinked, most of all across a sentence."""
    text, spans = sec.text, sec.spans
    a = spans[c.source]
    by = "由" in _clause_before(text, a)
    rest = text[a.end:sec.sentences[sec.sent_of[c.source]][1]][:20]
    clause = rest[:min([rest.find(ch) for ch in "，,；;。" if ch in rest] or [len(rest)])]
    f = {f"{r}by_actor={by}|acts={_has_any(clause, ACT_AFTER)}": 1.0}
    if by:
        opening = text[sec.sentences[sec.sent_of[c.source]][0]:a.start][:6]
        nearest = index.nearest_before(spans, spans[c.target].label, a.start) == c.target
        gap = _bin(abs(sec.sent_of[c.source] - sec.sent_of[c.target]), (0, 1))
        f[f"{r}by_actor|nearest_before={nearest}|back={_has_any(opening, BACK_REFERENCES)}|gap={gap}"] = 1.0
    return f


def _number_features(sec: _Section, c: Candidate, r: str) -> dict[str, float]:
    text, spans = sec.text, sec.spans
    a, b = spans[c.source], spans[c.target]
    number = a if a.label in NUMBERS else b if b.label in NUMBERS else None
    f: dict[str, float] = {}
    if number is None:
        return f
    f[f"{r}rate={is_rate(text, number)}"] = 1.0
    f[f"{r}left={text[max(0, number.start - 2):number.start]}"] = 1.0
    f[f"{r}right={text[number.end:number.end + 2]}"] = 1.0
    if number.label == "COUNT":
        f[f"{r}unit={_unit_class(text, number)}"] = 1.0
        if _participants(text, number):
            f[f"{r}participants"] = 1.0
    near = text[max(0, number.start - 8):number.end + 8]
    if _has_any(near, AWARD_CUES):
        f[f"{r}award_near_number"] = 1.0
    if a.label == b.label and a.label in NUMBERS:
        va, vb = _value(a.label, text[a.start:a.end]), _value(b.label, text[b.start:b.end])
        f[f"{r}same_unit={_unit_class(text, a) == _unit_class(text, b)}"] = 1.0
        if va is not None and vb is not None:
            f[f"{r}source_smaller={va < vb}"] = 1.0
            f[f"{r}equal_value={va == vb}"] = 1.0
        f[f"{r}headline_target={text.find(chr(10)) > b.end}"] = 1.0
    return f


def _structure_features(sec: _Section, c: Candidate, r: str, index: _Index) -> dict[str, float]:
    text, spans = sec.text, sec.spans
    a, b = spans[c.source], spans[c.target]
    f: dict[str, float] = {}
    if sec.para_of[c.target] != sec.para_of[c.source]:
        f[f"{r}via_list_header"] = 1.0
    if "ORG" in (a.label, b.label):
        org = c.target if b.label == "ORG" else c.source
        f[f"{r}org_opens_sentence={org == index.opener[sec.sent_of[org]]}"] = 1.0
        f[f"{r}org_is_recipient={sec.is_recipient(org)}"] = 1.0
    head = sec.paragraphs[sec.para_of[c.target]][0]
    if b.label == "PROGRAM" and (LIST_ITEM.match(text[head:b.start]) or not text[head:b.start].strip(" “\"")):
        f[f"{r}program_heads_paragraph"] = 1.0
    if b.label in ("PROGRAM", "ORG"):
        f[f"{r}nearest_before={index.nearest_before(spans, b.label, a.start) == c.target}"] = 1.0
    return f


def _clause_features(sec: _Section, c: Candidate, r: str, index: _Index) -> dict[str, float]:
    """The strongest break between the ends (。 or a line break / ； / ， / none), and for a number and its owner:
    whether they share a clause, whether the owner's clause has a number of its own and the number's
    clause another owner (筹资1259.4万元开展金秋助学；筹资2984.06万元，慰问…: the second sum is not the program's)."""
    text, spans = sec.text, sec.spans
    a, b = spans[c.source], spans[c.target]
    between = text[min(a.end, b.end):max(a.start, b.start)]
    kind = next((name for name, marks in (("stop", "。！？!?\n"), ("semi", "；;"), ("comma", "，,")) if _has_any(between, marks)), "none")
    f = {f"{r}break={kind}": 1.0}
    if a.label in NUMBERS and b.label in ("PROGRAM", "ORG"):
        owner_clause, number_clause = index.clause(b.start), index.clause(a.start)
        same = owner_clause == number_clause  # then each end is counted in the other's clause: leave it out
        own_number = index.count_in(a.label, *owner_clause) - same
        other_owner = index.count_in(b.label, *number_clause) - same
        f[f"{r}same_clause={same}|target_clause_has_own={own_number > 0}"] = 1.0
        f[f"{r}number_clause_has_other={other_owner > 0}|same={same}"] = 1.0
    return f


def _part_features(sec: _Section, c: Candidate, r: str, index: _Index) -> dict[str, float]:
    """For a part_of candidate: do the parts add up to the target without 其中 (大学生2117名、高中生155名、
    中小学生1406名 of 3678名, R16), is the target the nearest larger figure of the same kind on its
    side, how large a share is the part."""
    if c.label != "part_of" or sec.spans[c.source].label not in NUMBERS:
        return {}
    kin = index.kin(sec, c.source)
    f = {f"{r}sums_to_target={c.source in kin.summands(c.target)}": 1.0}
    part, whole = kin.value.get(c.source), kin.value.get(c.target)
    if part is None or whole is None:
        return f
    after = c.target > c.source
    f[f"{r}nearest_larger={kin.nearest_larger(c.source, after) == c.target}|after={after}"] = 1.0
    f[f"{r}share={_bin(int(100 * part / whole), (5, 30, 70, 99))}"] = 1.0
    return f


class _Kin:
    """The amounts (not rates) of one label and unit in a section, in text order, and what part_of
    candidates ask of them: their values, the runs that add up to a whole, the nearest larger figure."""

    def __init__(self, figures: list[tuple[int, float]], para_of: Sequence[int]) -> None:
        self.figures, self.para_of = figures, para_of
        self.value = dict(figures)
        self._summands: dict[int, set[int]] = {}
        self._nearest_larger: dict[tuple[int, bool], int | None] = {}

    def summands(self, whole: int) -> set[int]:
        if whole not in self._summands:
            self._summands[whole] = _summands(self.figures, whole, self.para_of)
        return self._summands[whole]

    def nearest_larger(self, part: int, after: bool) -> int | None:
        """The first figure larger than the one at ``part``, after it or before it."""
        if (part, after) not in self._nearest_larger:
            value = self.value[part]
            side = (j for j, v in (self.figures if after else reversed(self.figures))
                    if v > value and (j > part if after else j < part))
            self._nearest_larger[part, after] = next(side, None)
        return self._nearest_larger[part, after]


def _kin(text: str, spans: Sequence[Span], k: int) -> list[tuple[int, float]]:
    """(index, value) of the amounts (not rates) of span k's label and unit, in text order."""
    s = spans[k]
    out = []
    for j, t in enumerate(spans):
        if t.label == s.label and _unit_class(text, t) == _unit_class(text, s):
            value = _value(t.label, text[t.start:t.end])
            if value and not is_rate(text, t):
                out.append((j, float(value)))
    return out


def _summands(kin: list[tuple[int, float]], whole: int, para_of: Sequence[int]) -> set[int]:
    """The numbers that with their neighbours of the same kind (two or more in a row, each smaller,
    within two paragraphs) add up to the number at ``whole``."""
    total = dict(kin).get(whole)
    parts = [(j, v) for j, v in kin if j != whole and total and v < total and abs(para_of[j] - para_of[whole]) <= 2]
    if not total or len(parts) < 2:
        return set()
    prefix = list(accumulate((v for _, v in parts), initial=0.0))  # increasing: every figure is positive
    reach = [-1] * len(parts)  # per first part, the last part of the longest run that adds up
    for lo in range(len(parts) - 1):
        hi = bisect_right(prefix, prefix[lo] + total * (1 + SUM_TOLERANCE)) - 2  # the last run not above the band
        if hi > lo and prefix[hi + 1] - prefix[lo] >= total * (1 - SUM_TOLERANCE):
            reach[lo] = hi
    found: set[int] = set()
    covered = -1
    for lo, hi in enumerate(reach):  # the union of the runs, each part once
        if hi > lo:
            found.update(j for j, _ in parts[max(lo, covered + 1):hi + 1])
            covered = max(covered, hi)
    return found


def featurized(text: str, spans: Sequence[Span], cues: bool = True) -> list[tuple[Candidate, dict[str, float]]]:
    """Every candidate of a section with its features."""
    sec = _Section(text, spans)
    index = _Index(sec, cues)
    return [(cand, pair_features(sec, cand, cues, index)) for cand in candidates(sec)]


class RelationModel:
    """Logistic regression over :func:`pair_features` of :func:`candidates`; ``cues=False`` leaves
    the cue extractor's verdict out of the features (an ablation row)."""

    name = "learned relation model"

    def __init__(self, weights: dict[str, float] | None = None, bias: float = 0.0, threshold: float = THRESHOLD,
                 cues: bool = True) -> None:
        self.weights = weights or {}
        self.bias = bias
        self.threshold = threshold
        self.cues = cues

    def fit(self, documents: Sequence[tuple[str, Sequence[Span], Sequence[Relation]]], c: float = 0.5) -> "RelationModel":
        return self.fit_featurized([gold for _, _, gold in documents],
                                   [featurized(text, spans, self.cues) for text, spans, _ in documents], c)

    def fit_featurized(self, golds: Sequence[Sequence[Relation]], sections: Sequence[list], c: float = 0.5) -> "RelationModel":
        """Fit on each section's :func:`featurized` candidates (computed once by a caller that reuses
        them, the pair encoder's inner CV), labelled by its gold relations."""
        rows, labels = [], []
        for gold, section in zip(golds, sections):
            wanted = {(g.source, g.target, g.label) for g in gold}
            for cand, feats in section:
                rows.append(feats)
                labels.append(int((cand.source, cand.target, cand.label) in wanted))
        return self.fit_rows(rows, labels, c)

    def fit_rows(self, rows: list[dict[str, float]], labels: list[int], c: float = 0.5) -> "RelationModel":
        """Fit on feature rows already computed (:func:`featurized`): cross-validation reuses them."""
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.linear_model import LogisticRegression

        if not rows or len(set(labels)) < 2:
            raise ValueError("the relation model needs annotated relations with both outcomes to learn from")
        vectorizer = DictVectorizer()
        model = LogisticRegression(C=c, max_iter=3000).fit(vectorizer.fit_transform(rows), labels)
        self.weights = {name: float(w) for name, w in zip(vectorizer.get_feature_names_out(), model.coef_[0]) if w}
        self.bias = float(model.intercept_[0])
        return self

    def probability(self, feats: dict[str, float]) -> float:
        z = self.bias + sum(self.weights.get(k, 0.0) * v for k, v in feats.items())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def predict(self, text: str, spans: Sequence[Span]) -> list[Relation]:
        """Relations over ``spans`` (sorted) of one section, the same contract as the cues'."""
        scored = [(self.probability(f), cand) for cand, f in featurized(text, spans, self.cues)]
        return self.decode(spans, scored, text)

    def decode(self, spans: Sequence[Span], scored: list[tuple[float, Candidate]], text: str = "",
               owned_repeats_only: bool = True) -> list[Relation]:
        """Scored candidates -> relations: every runner and giver above the threshold; one owner per
        number and target label, one whole per part, one earlier mention per repeat, and (unless
        ``owned_repeats_only`` is off: an ablation) repeats only of a figure someone owns. With ``text``,
        an actor named twice links once, from its likeliest mention."""
        names = [text[s.start:s.end] for s in spans] if text else None
        best: dict[tuple, tuple[float, Candidate]] = {}
        for p, cand in scored:
            if p < self.threshold:
                continue
            if cand.label in CHOICES:
                key = choice_key(cand, spans)
            else:  # runs, gives: every actor, each named once (its likeliest mention, R20)
                key = (cand.target, cand.label, names[cand.source] if names else cand.source)
            if key not in best or p > best[key][0]:
                best[key] = (p, cand)
        out = {Relation(c.source, c.target, c.label) for _, c in best.values()}
        out = {r for r in out if allowed(r.label, spans[r.source].label, spans[r.target].label)}
        return sorted(owned_repeats(out) if owned_repeats_only else out)

    def to_json(self) -> dict[str, Any]:
        return {"kind": "logistic-regression", "cues": self.cues, "bias": self.bias, "threshold": self.threshold,
                "weights": dict(sorted(self.weights.items()))}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "RelationModel":
        return cls({str(k): float(v) for k, v in obj["weights"].items()}, float(obj["bias"]),
                   float(obj.get("threshold", THRESHOLD)), bool(obj.get("cues", True)))

    def save(self, path: str | Path) -> None:
        from . import fileio

        fileio.write_json(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "RelationModel":
        return cls.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
