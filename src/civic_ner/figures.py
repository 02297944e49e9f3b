"""The numbers of one document as figures: which mentions are one figure, which figures lie inside
which, which are rates and which are approximate.

Two MONEY (or COUNT) mentions are one figure when ``same_as`` joins them (directly or by a chain) or
when they carry the same value in the same unit: a headline figure repeated in the body is counted
once. A figure is *inside* another when ``part_of`` leads from it to that figure (directly, by a
chain, or through a repetition of the whole), or when it stands in parentheses right after it
(投入300万元(含省级100万元)). :mod:`civic_ner.aggregation` adds figures, never mentions.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from .facts import is_rate
from .relations import Relation
from .types import Span

HEDGE_BEFORE = re.compile(r"(?:近|约|大约|将近|接近|超过|超|逾)$")
HEDGE_AFTER = ("左右", "上下")
"""Words outside the span that make a figure approximate (近300万元, 300万元左右)."""
RATE_CUE = re.compile(r"(?:每人|每户|每名|每位|每生|每个|每家|每所|每村|人均|户均)[^，。；,;、：:\n\d]{0,8}$")
RATE_AFTER = re.compile(r"^\s*(?:/|每)(?:人|户|名|位|生|个)")
def figure_is_rate(text: str, span: Span) -> bool:
    """每人500元, 500元/人, 为每人发放慰问金500元: a rate. The cue holds inside its clause and up to
    the next figure: in 每人2000元,共计240万元 and 每人2000元共计240万元 the 240万元 is an amount."""
    before = text[max(0, span.start - 16) : span.start]
    clause = re.split(r"[，。；,;：:\n]", before)[-1]
    return is_rate(text, span) or bool(RATE_CUE.search(clause) or RATE_AFTER.match(text[span.end : span.end + 3]))


def hedged(text: str, span: Span) -> bool:
    """近/约/超过 before the span or 左右/上下 after it: an approximate figure even if the span leaves them out."""
    return bool(HEDGE_BEFORE.search(text[max(0, span.start - 2) : span.start])) or text[span.end :].startswith(HEDGE_AFTER)


class Figures:
    """Identity and containment of the MONEY and COUNT mentions of one document."""

    def __init__(self, text: str, spans: Sequence[Span], relations: Iterable[Relation]) -> None:
        """Join ``same_as`` mentions, parse every value once, and note each figure's direct wholes."""
        self.text, self.spans = text, list(spans)
        relations = list(relations)
        self._root = list(range(len(self.spans)))
        for r in relations:
            if r.label == "same_as":
                self._union(r.source, r.target)
        self.value = [self._value(i) for i in range(len(self.spans))]
        parents: dict[int, set[int]] = {}
        for part, whole in [(r.source, r.target) for r in relations if r.label == "part_of"] + self._parenthetical():
            parents.setdefault(part, set()).add(whole)
        self._parents = parents

    def _union(self, a: int, b: int) -> None:
        ra, rb = self.identity(a), self.identity(b)
        if ra != rb:
            self._root[max(ra, rb)] = min(ra, rb)  # the first mention stands for the figure

    def identity(self, i: int) -> int:
        """The first mention of the figure that mention ``i`` states (its ``same_as`` chain's end)."""
        while self._root[i] != i:
            i = self._root[i]
        return i

    def _value(self, i: int) -> tuple[str, str, float] | None:
        from .values import parse_count, parse_money

        span = self.spans[i]
        surface = self.text[span.start : span.end]
        try:
            if span.label == "MONEY":
                money = parse_money(surface)
                return ("MONEY", money.currency, money.yuan)
            if span.label == "COUNT":
                count = parse_count(surface)
                return ("COUNT", count.unit, float(count.value))
        except (ValueError, ArithmeticError):
            return None
        return None

    def same(self, i: int, j: int) -> bool:
        """One figure: joined by ``same_as``, or the same value in the same unit."""
        return self.identity(i) == self.identity(j) or (self.value[i] is not None and self.value[i] == self.value[j])

    def wholes(self, i: int) -> set[int]:
        """Every figure mention that ``i`` lies inside (part_of chains, through repetitions of a whole)."""
        seen: set[int] = set()
        todo = [k for k in range(len(self.spans)) if self.identity(k) == self.identity(i)]
        while todo:
            k = todo.pop()
            for whole in self._parents.get(k, ()):
                for w in range(len(self.spans)):
                    if w not in seen and self.identity(w) == self.identity(whole):
                        seen.add(w)
                        todo.append(w)
        return seen

    def _parenthetical(self) -> list[tuple[int, int]]:
        """投入300万元(含省级资金100万元): a figure in parentheses right after a figure of the same unit is
        a detail of it."""
        out = []
        for i, span in enumerate(self.spans):
            if span.label not in ("MONEY", "COUNT"):
                continue
            opening = re.match(r"[^，。；,;（(]{0,2}[（(]([^）)]*)", self.text[span.end : span.end + 40])
            if not opening:
                continue
            close = span.end + opening.end()
            for j in range(i + 1, len(self.spans)):
                if self.spans[j].start >= close:
                    break
                if self.spans[j].label == span.label and self._same_unit(i, j):
                    out.append((j, i))
        return out

    def _same_unit(self, i: int, j: int) -> bool:
        """帮扶1000户(3000人): the people are no detail of the households."""
        a, b = self.value[i], self.value[j]
        return a is not None and b is not None and a[:2] == b[:2]

    def distinct(self, numbers: Iterable[int]) -> list[int]:
        """One mention per figure, in document order: the first exact one (a body's 426.5万元 over
        its headline's 400多万元), else the first."""
        kept: list[int] = []
        for n in sorted(set(numbers)):
            same = next((i for i, k in enumerate(kept) if self.same(n, k)), None)
            if same is None:
                kept.append(n)
            elif self.approximate(kept[same]) and not self.approximate(n):
                kept[same] = n
        return sorted(kept)

    def approximate(self, i: int) -> bool:
        """多/余/约 in the span, or 近/约/超过 before it, 左右 after it (an unparsed figure counts as approximate)."""
        from .values import parse_count, parse_money

        span = self.spans[i]
        surface = self.text[span.start : span.end]
        try:
            value = parse_money(surface) if span.label == "MONEY" else parse_count(surface)
        except (ValueError, ArithmeticError):
            return True
        return value.approximate or hedged(self.text, span)

    def outermost(self, numbers: Sequence[int]) -> list[int]:
        """The figures that lie inside none of the others: a part is not added beside its whole."""
        return [n for n in numbers if not any(self.same(w, k) for w in self.wholes(n) for k in numbers if k != n)]
