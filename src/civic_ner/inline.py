"""Inline annotation marks ``{{LABEL|surface}}`` -> character spans.

Annotators never count offsets: they copy a section's text and wrap entities in marks; this module
strips the marks, checks that what is left is exactly the section text, and computes the offsets.
"""
from __future__ import annotations

import re
from pathlib import Path

from .types import LABELS, Span
from .errors import CivicNerError

MARK_RE = re.compile(r"\{\{([A-Z]+)\|([^{}|]+)\}\}")
BLOCK_RE = re.compile(r"^### (\S+)[^\n]*\n", re.MULTILINE)  # attributes after the id are ignored
RELATION_LINE_RE = re.compile(r"^(\w+)\s+E(\d+)\s+E(\d+)\s*(?:#\s*(.*))?$")
"""A relation annotator's line: ``relation E<from> E<to>   # why`` (E<n>: the n-th span of the section)."""


class InlineError(CivicNerError, ValueError):
    """An inline-annotated block that does not match its section or holds a bad mark."""


def parse_inline(marked: str, where: str = "") -> tuple[str, list[Span]]:
    """Strip marks and return (plain text, spans); every span's surface is asserted against the text."""
    plain: list[str] = []
    spans: list[Span] = []
    cursor = 0
    length = 0
    for match in MARK_RE.finditer(marked):
        before = marked[cursor : match.start()]
        plain.append(before)
        length += len(before)
        label, surface = match.group(1), match.group(2)
        if label not in LABELS:
            raise InlineError(f"{where}: unknown label {label!r} on {surface!r}")
        spans.append(Span(length, length + len(surface), label))
        plain.append(surface)
        length += len(surface)
        cursor = match.end()
    plain.append(marked[cursor:])
    text = "".join(plain)
    if "{{" in text or "}}" in text:
        at = text.find("{{") if "{{" in text else text.find("}}")
        raise InlineError(f"{where}: malformed mark near {text[max(0, at - 10):at + 20]!r}")
    for span in spans:
        surface = text[span.start : span.end]
        if surface != surface.strip() or not surface:
            raise InlineError(f"{where}: span {surface!r} has surrounding whitespace or is empty")
    return text, spans


def read_blocks(path: Path) -> dict[str, str]:
    """``### <section_id>`` blocks of a sections or annotation file, text without the trailing newline."""
    content = Path(path).read_text(encoding="utf-8")
    heads = list(BLOCK_RE.finditer(content))
    blocks: dict[str, str] = {}
    for head, nxt in zip(heads, heads[1:] + [None]):
        body = content[head.end() : nxt.start() if nxt else len(content)]
        blocks[head.group(1)] = body.rstrip("\n")
    return blocks


def write_blocks(path: Path, blocks: dict[str, str]) -> None:
    Path(path).write_text("".join(f"### {sid}\n{text}\n\n" for sid, text in blocks.items()), encoding="utf-8")


def to_inline(text: str, spans: list[Span]) -> str:
    """Inverse of :func:`parse_inline`, for showing annotations to a reviewer."""
    out, cursor = [], 0
    for span in sorted(spans):
        out.append(text[cursor : span.start])
        out.append(f"{{{{{span.label}|{text[span.start:span.end]}}}}}")
        cursor = span.end
    out.append(text[cursor:])
    return "".join(out)
