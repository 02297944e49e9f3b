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
