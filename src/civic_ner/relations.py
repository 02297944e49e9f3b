"""The relation schema that links entities into facts (see annotations/GUIDELINES.md, "Relations")."""
from __future__ import annotations

from dataclasses import dataclass

RELATION_TYPES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "runs": (("ORG",), ("PROGRAM",)),
    "gives": (("ORG",), ("MONEY",)),
    "amount_of": (("MONEY",), ("PROGRAM", "ORG")),
    "reaches": (("COUNT",), ("PROGRAM", "ORG")),
    "part_of": (("MONEY", "COUNT"), ("MONEY", "COUNT")),
    "same_as": (("MONEY", "COUNT"), ("MONEY", "COUNT")),
}
"""relation -> (allowed source labels, allowed target labels)."""

SAME_LABEL = ("part_of", "same_as")
"""Relations whose two ends must carry the same label (MONEY with MONEY, COUNT with COUNT)."""


def allowed(relation: str, source_label: str, target_label: str) -> bool:
    """Whether ``relation`` may link an entity of ``source_label`` to one of ``target_label``."""
    if relation not in RELATION_TYPES:
        return False
    sources, targets = RELATION_TYPES[relation]
    if source_label not in sources or target_label not in targets:
        return False
    return relation not in SAME_LABEL or source_label == target_label


@dataclass(frozen=True, order=True)
class Relation:
    """A directed link between two spans of one section, by their index in the sorted span list."""

    source: int
    target: int
    label: str


OWNER_LINKS = {"amount_of": "source", "reaches": "source", "gives": "target"}
"""The relations that give a number an owner (an ORG or PROGRAM), and which end is the number."""


def repeat_roots(relations: set[Relation] | list[Relation]) -> dict[int, int]:
    """Every mention a ``same_as`` touches -> the first mention of its figure (same_as is an
    equivalence: chains to the nearest earlier mention and stars to the first mean the same)."""
    parent: dict[int, int] = {}

    def root(k: int) -> int:
        while parent.get(k, k) != k:
            k = parent[k]
        return k

    for r in relations:
        if r.label == "same_as":
            a, b = root(r.source), root(r.target)
            if a != b:
                parent[max(a, b)] = min(a, b)
    members = {k for r in relations if r.label == "same_as" for k in (r.source, r.target)}
    return {k: root(k) for k in members}


def owned_repeats(relations: set[Relation]) -> set[Relation]:
    """``relations`` without a ``same_as`` between mentions of a figure that no ORG or PROGRAM owns
    through any of its mentions: a repeat is annotated only for a figure that takes part in a fact
    (R4, R17 in the guide). A ``part_of`` stays either way (the whole's owner link is the one most
    often missed, bench/RESULTS.md)."""
    roots = repeat_roots(relations)
    owned = {roots.get(k, k) for r in relations if r.label in OWNER_LINKS for k in (getattr(r, OWNER_LINKS[r.label]),)}
    return {r for r in relations if r.label != "same_as" or roots[r.source] in owned}
