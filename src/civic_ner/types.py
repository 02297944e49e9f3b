"""Small shared value types: every stage speaks in character spans over a section's text."""
from __future__ import annotations

from dataclasses import dataclass

LABELS: tuple[str, ...] = ("ORG", "PROGRAM", "MONEY", "COUNT")


@dataclass(frozen=True, order=True)
class Span:
    """A labelled half-open character range ``text[start:end]``."""

    start: int
    end: int
    label: str

    def surface(self, text: str) -> str:
        return text[self.start : self.end]
