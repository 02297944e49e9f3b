"""Honest totals: money and reach per organization and per program, from facts.

A money amount counts for a program (``amount_of``), or as money an organization gave (``gives``) or
received (``amount_of`` to an ORG), once: not when it is ``part_of`` another amount (it is inside
that total), once for all its ``same_as`` repetitions, and not when it is a rate (每人500元),
which is listed as a rate. Approximate amounts (多, 余, 近 …) are marked. Counts reached are added
per unit the same way. Names are grouped by their surface form.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .facts import is_rate
from .relations import Relation
from .types import Span


@dataclass
class Amount:
    """One money amount counted for an organization or a program."""

    yuan: float
    surface: str
    approximate: bool
    source: str


@dataclass
class Profile:
    """What the documents say about one organization or program."""

    kind: str  # "organization" or "program"
    name: str
    money: list[Amount] = field(default_factory=list)  # received / spent in it; parts and repeats excluded
    given: list[Amount] = field(default_factory=list)  # organizations: money given
    rates: list[str] = field(default_factory=list)  # 每人500元 ...: reported, not added
    reached: dict[str, float] = field(default_factory=dict)  # unit -> total
    reached_approximate: set[str] = field(default_factory=set)  # units whose total holds an approximate count
    programs: set[str] = field(default_factory=set)  # organizations: programs run
    run_by: set[str] = field(default_factory=set)  # programs: organizations running it
    documents: set[str] = field(default_factory=set)

    @property
    def money_total(self) -> float:
        return sum(a.yuan for a in self.money)

    @property
    def given_total(self) -> float:
        return sum(a.yuan for a in self.given)

    def rows(self) -> list[dict[str, Any]]:
        """Long-format rows for a CSV to pivot: one per measure."""
        base = {"kind": self.kind, "name": self.name, "documents": len(self.documents)}
        out = []
        for measure, amounts in (("money received or spent", self.money), ("money given", self.given)):
            if amounts:
                out.append({**base, "measure": measure, "value": round(sum(a.yuan for a in amounts), 2), "unit": "yuan",
                            "approximate": any(a.approximate for a in amounts), "mentions": len(amounts),
                            "detail": "; ".join(a.surface for a in amounts)})
        if self.rates:
            out.append({**base, "measure": "rate", "value": "", "unit": "", "approximate": False,
                        "mentions": len(self.rates), "detail": "; ".join(self.rates)})
        for unit, total in sorted(self.reached.items()):
            out.append({**base, "measure": "reached", "value": total, "unit": unit,
                        "approximate": unit in self.reached_approximate, "mentions": "", "detail": ""})
        related = self.programs if self.kind == "organization" else self.run_by
        if related:
            out.append({**base, "measure": "programs run" if self.kind == "organization" else "run by",
                        "value": len(related), "unit": "", "approximate": False, "mentions": "",
                        "detail": "; ".join(sorted(related))})
        return out


ROW_COLUMNS = ("kind", "name", "measure", "value", "unit", "approximate", "mentions", "documents", "detail")


class Aggregator:
    """Add documents one at a time (streaming); ``profiles`` holds the totals so far."""

    def __init__(self) -> None:
        self.profiles: dict[tuple[str, str], Profile] = {}

    def _profile(self, kind: str, name: str, source: str) -> Profile:
        profile = self.profiles.setdefault((kind, name), Profile(kind, name))
        profile.documents.add(source)
        return profile

    def add(self, source: str, text: str, spans: Sequence[Span], relations: Sequence[Relation]) -> None:
        from .values import parse_count, parse_money

        spans = list(spans)
        surface = [text[s.start : s.end] for s in spans]
        excluded = {r.source for r in relations if r.label == "part_of"}
        root = {r.source: r.target for r in relations if r.label == "same_as"}

        def identity(k: int) -> int:
            """A repeated figure is the figure it repeats (same_as chains end at the first mention)."""
            seen = set()
            while k in root and k not in seen:
                seen.add(k)
                k = root[k]
            return k

        counted: set[tuple[int, int, str]] = set()
        for r in relations:
            if r.label == "runs":
                self._profile("organization", surface[r.source], source).programs.add(surface[r.target])
                self._profile("program", surface[r.target], source).run_by.add(surface[r.source])
                continue
            if r.label not in ("amount_of", "reaches", "gives"):
                continue
            number, owner = (r.target, r.source) if r.label == "gives" else (r.source, r.target)
            kind = "program" if spans[owner].label == "PROGRAM" else "organization"
            profile = self._profile(kind, surface[owner], source)
            if (identity(number), owner, r.label) in counted:
                continue
            counted.add((identity(number), owner, r.label))
            if spans[number].label == "MONEY":
                try:
                    value = parse_money(surface[number])
                except (ValueError, ArithmeticError):
                    continue
                if is_rate(text, spans[number]):
                    profile.rates.append(surface[number])
                elif number not in excluded:
                    amount = Amount(float(value.yuan), surface[number], value.approximate, source)
                    (profile.given if r.label == "gives" else profile.money).append(amount)
            elif number not in excluded and not is_rate(text, spans[number]):
                try:
                    count = parse_count(surface[number])
                except (ValueError, ArithmeticError):
                    continue
                unit = count.unit or "?"
                profile.reached[unit] = profile.reached.get(unit, 0) + count.value
                if count.approximate:
                    profile.reached_approximate.add(unit)

    def sorted_profiles(self) -> list[Profile]:
        """Programs and organizations, the most money first, then the most documents."""
        return sorted(self.profiles.values(), key=lambda p: (-(p.money_total + p.given_total), -len(p.documents), p.kind, p.name))


def aggregate(documents: Sequence[tuple[str, str, Sequence[Span], Sequence[Relation]]]) -> dict[tuple[str, str], Profile]:
    """(kind, name) -> Profile over ``(source, text, spans, relations)`` documents."""
    aggregator = Aggregator()
    for source, text, spans, relations in documents:
        aggregator.add(source, text, spans, relations)
    return aggregator.profiles
