"""Small shared value types: every stage speaks in character spans over a section's text (:class:`Span`
for gold and plain spans, :class:`Entity` for a predicted span with its score)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LABELS: tuple[str, ...] = ("ORG", "PROGRAM", "MONEY", "COUNT")


@dataclass(frozen=True, order=True)
class Span:
    """A labelled half-open character range ``text[start:end]``."""

    start: int
    end: int
    label: str

    def surface(self, text: str) -> str:
        return text[self.start : self.end]


@dataclass(frozen=True)
class Entity:
    """A predicted span with the model's confidence (mean probability of its characters' tags). In a
    :class:`civic_ner.api.Doc` it also carries its ``text`` (``doc.text[start:end]``) and, for MONEY and
    COUNT, the normalized ``value`` (``None`` when the surface does not parse)."""

    start: int
    end: int
    label: str
    score: float
    text: str = ""
    value: dict[str, Any] | None = None

    @property
    def span(self) -> Span:
        return Span(self.start, self.end, self.label)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "text": self.text,
            "score": round(self.score, 4),
            "value": self.value,
        }
