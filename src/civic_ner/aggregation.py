"""Honest totals: money and reach per organization and per program, from facts.

A money amount counts for a program (``amount_of``), or as money an organization gave (``gives``) or
received (``amount_of`` to an ORG). Totals add *figures*, not mentions (:mod:`civic_ner.figures`):
a figure linked to several mentions of one organization or program, or repeated (``same_as``, or
the same value), counts once per entity; a ``part_of`` amount is left out only of the total of an
entity that also holds its whole (a county's share of the city's sum is still the county's money);
a rate (每人500元) is listed as a rate, never added. Approximate figures (多, 余, 近, 约 …) are marked.
Counts reached are added per unit the same way. Organizations go by their canonical name
(:mod:`civic_ner.names`: 市妇联 = 乳山市妇女联合会), programs by their name.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .figures import Figures, figure_is_rate
from .names import OrgName, resolve_document
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
    aliases: set[str] = field(default_factory=set)  # the names the documents use for it

    @property
    def money_total(self) -> float:
        return sum(a.yuan for a in self.money)

    @property
    def given_total(self) -> float:
        return sum(a.yuan for a in self.given)

    def rows(self) -> list[dict[str, Any]]:
        """Long-format rows for a CSV to pivot: one per measure."""
        base = {"kind": self.kind, "name": self.name, "documents": len(self.documents),
                "aliases": "; ".join(sorted(self.aliases - {self.name}))}
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


ROW_COLUMNS = ("kind", "name", "measure", "value", "unit", "approximate", "mentions", "documents", "detail", "aliases")


MEASURES = {"amount_of": "money", "gives": "given", "reaches": "reached"}


class Aggregator:
    """Add documents one at a time (streaming); ``profiles`` holds the totals so far, keyed by
    (kind, canonical name); an organization whose place is unknown is keyed within its document."""

    def __init__(self) -> None:
        self.profiles: dict[tuple[str, str], Profile] = {}

    def _profile(self, key: tuple[str, str], name: str, source: str) -> Profile:
        profile = self.profiles.setdefault(key, Profile(key[0], name))
        profile.documents.add(source)
        return profile

    def add(self, source: str, text: str, spans: Sequence[Span], relations: Sequence[Relation]) -> None:
        """Add one document: first gather every entity's figures per measure, then count each entity's
        figures once (a figure's identity and its parts are known only once the whole document is read)."""
        spans, relations = list(spans), list(relations)
        entities = _entities(source, text, spans, relations)
        figures = Figures(text, spans, relations)
        claims: dict[tuple[tuple[str, str], str], list[int]] = {}
        for r in relations:
            if r.label == "runs" and r.source in entities and r.target in entities:
                (org_key, org), (program_key, program) = entities[r.source], entities[r.target]
                self._profile(org_key, org, source).programs.add(program)
                self._profile(program_key, program, source).run_by.add(org)
            elif r.label in MEASURES:
                number, owner = (r.target, r.source) if r.label == "gives" else (r.source, r.target)
                if owner in entities and spans[number].label in ("MONEY", "COUNT"):
                    self._profile(*entities[owner], source)
                    claims.setdefault((entities[owner][0], MEASURES[r.label]), []).append(number)
        for k, (key, _) in entities.items():
            if key in self.profiles:
                self.profiles[key].aliases.add(text[spans[k].start : spans[k].end].strip())
        for (key, measure), numbers in claims.items():
            self._count(self.profiles[key], measure, numbers, figures, source)

    def _count(self, profile: Profile, measure: str, numbers: list[int], figures: Figures, source: str) -> None:
        """Add one entity's figures of one measure: each figure once, rates listed, parts inside
        a whole of the same entity left out."""
        text, spans = figures.text, figures.spans
        distinct = [n for n in figures.distinct(numbers) if figures.value[n] is not None]
        rates = [n for n in distinct if figure_is_rate(text, spans[n])]
        for n in rates:
            if spans[n].label == "MONEY":
                profile.rates.append(text[spans[n].start : spans[n].end])
        for n in figures.outermost([n for n in distinct if n not in rates]):
            value, surface = figures.value[n], text[spans[n].start : spans[n].end]
            assert value is not None  # kept above
            approximate = figures.approximate(n)
            if spans[n].label == "MONEY" and measure != "reached":
                amount = Amount(value[2], surface, approximate, source)
                (profile.given if measure == "given" else profile.money).append(amount)
            elif spans[n].label == "COUNT" and measure == "reached":
                unit = value[1] or "?"
                profile.reached[unit] = profile.reached.get(unit, 0) + int(value[2])
                if approximate:
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


def _entities(source: str, text: str, spans: Sequence[Span], relations: Sequence[Relation]) -> dict[int, tuple[tuple[str, str], str]]:
    """ORG and PROGRAM mention -> (profile key, display name): organizations by canonical name,
    programs by name; mentions joined by ``same_as`` take the first mention's."""
    surface = {k: text[s.start : s.end].strip() for k, s in enumerate(spans) if s.label in ("ORG", "PROGRAM")}
    orgs = resolve_document(surface[k] for k in surface if spans[k].label == "ORG")
    out: dict[int, tuple[tuple[str, str], str]] = {}
    for k, name in surface.items():
        if spans[k].label == "ORG":
            out[k] = (("organization", _org_key(orgs[name], source)), orgs[name].name)
        else:
            out[k] = (("program", name), name)
    root = {k: k for k in out}

    def find(k: int) -> int:
        while root[k] != k:
            k = root[k]
        return k

    for r in relations:
        if r.label == "same_as" and r.source in out and r.target in out and spans[r.source].label == spans[r.target].label:
            a, b = find(r.source), find(r.target)
            root[max(a, b)] = min(a, b)
    return {k: out[find(k)] for k in out}


def _org_key(org: OrgName, source: str) -> str:
    """A canonical name with its place is one key everywhere; without (市妇联 of which city?) the
    key holds the document too."""
    return f"{org.name} @ {source}" if org.local else org.name
