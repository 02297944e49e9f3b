"""Document-level consistency: a name found once is labelled at its other occurrences in the document.

Bulletins repeat their organizations and programs; a tagger that finds 乳山市妇联 in one sentence
can miss it three sentences later. After tagging, every ORG/PROGRAM surface predicted somewhere in
a document is labelled wherever else it occurs in that document, unless that place already overlaps
a predicted span or continues an ASCII letter/digit run.
"""
from __future__ import annotations

from collections.abc import Sequence

from .types import Span

PROPAGATED_LABELS = ("ORG", "PROGRAM")
MIN_CHARS = 2


def _glued(text: str, start: int, end: int) -> bool:
    """True when the occurrence would cut a Latin/digit token in half (5G inside 15G): the character
    on either side and the surface's own edge character are both ASCII letters or digits. A longer
    name around it (乳山市妇联 around 市妇联) is already handled by the overlap test."""

    def word(ch: str) -> bool:
        return ch.isascii() and ch.isalnum()

    before = text[start - 1] if start > 0 else ""
    after = text[end] if end < len(text) else ""
    return (word(before) and word(text[start])) or (word(after) and word(text[end - 1]))


def propagate(texts: Sequence[str], predicted: Sequence[Sequence[Span]], labels: Sequence[str] = PROPAGATED_LABELS) -> list[list[Span]]:
    """Spans of every text of ONE document (its sections), with each predicted ORG/PROGRAM surface
    added at its other, unlabelled occurrences in any of the texts. Longer surfaces go first."""
    surfaces: dict[str, str] = {}
    votes: dict[str, dict[str, int]] = {}
    for text, spans in zip(texts, predicted):
        for span in spans:
            surface = text[span.start : span.end]
            if span.label in labels and len(surface) >= MIN_CHARS and "\n" not in surface:
                votes.setdefault(surface, {}).setdefault(span.label, 0)
                votes[surface][span.label] += 1
    for surface, by_label in votes.items():
        surfaces[surface] = max(sorted(by_label), key=lambda label: by_label[label])
    out: list[list[Span]] = []
    for text, spans in zip(texts, predicted):
        kept = list(spans)
        taken = [False] * len(text)
        for span in kept:
            for k in range(span.start, span.end):
                taken[k] = True
        for surface in sorted(surfaces, key=lambda s: (-len(s), s)):
            start = text.find(surface)
            while start != -1:
                end = start + len(surface)
                if not any(taken[start:end]) and not _glued(text, start, end):
                    kept.append(Span(start, end, surfaces[surface]))
                    for k in range(start, end):
                        taken[k] = True
                start = text.find(surface, start + 1)
        out.append(sorted(kept))
    return out


def propagate_by_document(
    texts: Sequence[str], predicted: Sequence[Sequence[Span]], documents: Sequence[str],
    labels: Sequence[str] = PROPAGATED_LABELS,
) -> list[list[Span]]:
    """:func:`propagate` within each group of texts that share a document key (a source file)."""
    groups: dict[str, list[int]] = {}
    for index, doc in enumerate(documents):
        groups.setdefault(doc, []).append(index)
    out: list[list[Span]] = [list(p) for p in predicted]
    for indices in groups.values():
        for index, spans in zip(indices, propagate([texts[i] for i in indices], [predicted[i] for i in indices], labels)):
            out[index] = spans
    return out
