"""Cutting a long text into pieces at line breaks: the tagger's pieces (:mod:`civic_ner.api`) and the
relation layer's blocks (:func:`civic_ner.facts.extract_relations`) are cut the same way, so that
the work on a very long file grows with its length, not with its square."""
from __future__ import annotations


def long_text_pieces(text: str, limit: int) -> list[tuple[int, str]]:
    """Cut a long text at line breaks (else anywhere) into (offset, piece) of at most ``limit`` chars."""
    if len(text) <= limit:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + limit, len(text))
        if end < len(text):
            cut = text.rfind("\n", start + limit // 2, end)
            if cut > start:
                end = cut + 1
        pieces.append((start, text[start:end]))
        start = end
    return pieces
