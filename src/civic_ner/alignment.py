"""Character spans <-> per-character BIO tags <-> model tokens, and windows over long sections.

Gold spans are character offsets. A subword tokenizer (XLM-R SentencePiece in e5) often glues
several Chinese characters into one piece, so a gold boundary can fall inside a token and the
model could not express it. We therefore feed text one character at a time: each non-space
character becomes its own token(s) and carries its own tag, so every boundary is expressible.
Whitespace characters get no token and are never a span boundary.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .types import LABELS, Span

IGNORE = -100


def bio_labels(labels: Sequence[str] = LABELS) -> list[str]:
    return ["O"] + [f"{prefix}-{label}" for label in labels for prefix in ("B", "I")]


def content_positions(text: str) -> list[int]:
    """Offsets of the characters that get a token (everything but whitespace)."""
    return [i for i, ch in enumerate(text) if not ch.isspace()]


def char_units(text: str) -> list[tuple[int, int]]:
    """One unit per content character."""
    return [(p, p + 1) for p in content_positions(text)]


def spans_to_tags(text: str, spans: Sequence[Span]) -> list[str]:
    """One BIO tag per content character (see :func:`content_positions`)."""
    tags, misaligned = spans_to_unit_tags(char_units(text), spans)
    if misaligned:
        bad = [s for s in spans if text[s.start : s.end] != text[s.start : s.end].strip() or s.start >= s.end]
        shown = ", ".join(f"{text[s.start:s.end]!r} [{s.start}:{s.end}]" for s in bad[:3])
        raise ValueError(f"span(s) {shown} start or end on whitespace")
    return tags


def tags_to_spans(text: str, tags: Sequence[str]) -> list[Span]:
    """Decode BIO tags over content characters into character spans (see :func:`unit_tags_to_spans`)."""
    return unit_tags_to_spans(char_units(text), tags)


Unit = tuple[int, int]  # the character range one tagged unit covers (a character, or a subword token)


def spans_to_unit_tags(units: Sequence[Unit], spans: Sequence[Span]) -> tuple[list[str], int]:
    """BIO tags over units, and how many spans do not start and end on unit boundaries.

    Such a span is tagged on the units it touches; decoding then widens it to their edges.
    """
    tags = ["O"] * len(units)
    misaligned = 0
    for span in sorted(spans):
        inside = [i for i, (s, e) in enumerate(units) if s < span.end and span.start < e]
        if not inside:
            misaligned += 1
            continue
        if units[inside[0]][0] != span.start or units[inside[-1]][1] != span.end:
            misaligned += 1
        for n, i in enumerate(inside):
            tags[i] = ("B-" if n == 0 else "I-") + span.label
    return tags, misaligned


def unit_tags_to_spans(units: Sequence[Unit], tags: Sequence[str]) -> list[Span]:
    """Decode BIO tags over units into character spans (lenient: a stray ``I-X`` opens an entity)."""
    if len(tags) != len(units):
        raise ValueError(f"{len(tags)} tags for {len(units)} units")
    spans: list[Span] = []
    current: tuple[int, int, str] | None = None
    for i, tag in enumerate(tags):
        prefix, _, label = tag.partition("-")
        if current and prefix == "I" and label == current[2]:
            current = (current[0], i, label)
            continue
        if current:
            spans.append(Span(units[current[0]][0], units[current[1]][1], current[2]))
            current = None
        if prefix in ("B", "I"):
            current = (i, i, label)
    if current:
        spans.append(Span(units[current[0]][0], units[current[1]][1], current[2]))
    return spans


class CharTokenizer:
    """Maps each content character to token ids of a Hugging Face tokenizer.

    A character found as a whole piece in the vocabulary maps to it directly (CJK, digits, ASCII
    in both WordPiece and SentencePiece vocabularies); anything else goes through the tokenizer,
    and unknown characters map to the unknown token. Results are cached per character.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.vocab = tokenizer.get_vocab()
        self.unk_id = tokenizer.unk_token_id
        self.cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        self.sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._cache: dict[str, list[int]] = {}
        self._bare_prefix_ids = {self.vocab[p] for p in ("▁",) if p in self.vocab}

    def char_ids(self, ch: str) -> list[int]:
        ids = self._cache.get(ch)
        if ids is None:
            if ch in self.vocab:
                ids = [self.vocab[ch]]
            else:
                ids = [i for i in self.tokenizer(ch, add_special_tokens=False)["input_ids"] if i not in self._bare_prefix_ids]
                ids = ids or [self.unk_id]
            self._cache[ch] = ids
        return ids

    def encode_units(self, text: str) -> tuple[list[int], list[int], list[Unit]]:
        """(token ids, unit index of each token, character range of each unit); a unit is a character."""
        ids, owner = self.encode(text)
        return ids, owner, char_units(text)

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        """(token ids, index of the content character each token belongs to)."""
        ids: list[int] = []
        owner: list[int] = []
        for index, pos in enumerate(content_positions(text)):
            piece_ids = self.char_ids(text[pos])
            ids.extend(piece_ids)
            owner.extend([index] * len(piece_ids))
        return ids, owner


class SubwordTokenizer(CharTokenizer):
    """The tokenizer's own segmentation; each token is a unit (a bare ``▁`` joins the next one).

    Faster (fewer tokens) and closer to how the encoder was pretrained, but a gold boundary inside a
    multi-character token cannot be expressed: ``subword_boundary_conflicts`` counts those.
    """

    def encode_units(self, text: str) -> tuple[list[int], list[int], list[Unit]]:
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        ids: list[int] = []
        owner: list[int] = []
        units: list[Unit] = []
        pending: list[int] = []
        for token_id, (start, end) in zip(encoded["input_ids"], encoded["offset_mapping"]):
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start >= end:
                pending.append(token_id)  # whitespace-only piece: goes with the next unit
                continue
            if units and start < units[-1][1]:  # overlaps the previous unit (e.g. "▁" + "稳")
                units[-1] = (units[-1][0], max(end, units[-1][1]))
            else:
                units.append((start, end))
            for pid in [*pending, token_id]:
                ids.append(pid)
                owner.append(len(units) - 1)
            pending = []
        return ids, owner, units


def unit_encoder(tokenizer, tokenization: str = "char") -> CharTokenizer:
    if tokenization == "char":
        return CharTokenizer(tokenizer)
    if tokenization == "subword":
        return SubwordTokenizer(tokenizer)
    raise ValueError(f"unknown tokenization {tokenization!r} (char or subword)")


@dataclass
class Window:
    """A slice of a section's content characters that fits the model, with its token ids."""

    record_index: int
    char_start: int  # index into content characters
    char_end: int
    input_ids: list[int]
    owner: list[int]  # content-character index (absolute) of each token, -1 for special tokens
    label_ids: list[int] | None = None


def make_windows(
    record_index: int,
    ids: list[int],
    owner: list[int],
    max_length: int,
    stride: int,
    cls_id: int,
    sep_id: int,
    char_label_ids: list[int] | None = None,
) -> list[Window]:
    """Cut a token sequence into windows of at most ``max_length`` (with specials), overlapping by
    about ``stride`` tokens, never cutting a character's pieces apart. No text is dropped."""
    body = max_length - 2
    if body <= stride:
        raise ValueError(f"max_length {max_length} must exceed stride {stride} + 2")
    n_chars = owner[-1] + 1 if owner else 0
    # token range of each character
    first_token = [0] * n_chars
    last_token = [0] * n_chars
    for t, c in enumerate(owner):
        if t == 0 or owner[t - 1] != c:
            first_token[c] = t
        last_token[c] = t
    windows: list[Window] = []
    start_char = 0
    while True:
        end_char = start_char
        while end_char < n_chars and last_token[end_char] - first_token[start_char] + 1 <= body:
            end_char += 1
        if end_char == start_char:  # a single character longer than the window: keep it anyway
            end_char = start_char + 1
        t0, t1 = (first_token[start_char], last_token[end_char - 1] + 1) if n_chars else (0, 0)
        labels = None
        if char_label_ids is not None:
            labels = [IGNORE]
            for t in range(t0, t1):
                is_first = t == first_token[owner[t]]
                labels.append(char_label_ids[owner[t]] if is_first else IGNORE)
            labels.append(IGNORE)
        windows.append(
            Window(record_index, start_char, end_char, [cls_id, *ids[t0:t1], sep_id], [-1, *owner[t0:t1], -1], labels)
        )
        if end_char >= n_chars:
            return windows
        # next window starts `stride` tokens before this one's end, but always moves forward
        next_start = end_char
        while next_start > start_char + 1 and t1 - first_token[next_start - 1] <= stride:
            next_start -= 1
        start_char = next_start


def subword_boundary_conflicts(records, tokenizer) -> tuple[int, int, list[str]]:
    """Count gold spans whose start or end falls inside a token of the tokenizer's own segmentation.

    Returns (conflicting spans, total spans, examples). This is why we feed characters.
    """
    conflicts, total, examples = 0, 0, []
    for record in records:
        encoded = tokenizer(record.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        inside = set()
        for start, end in encoded["offset_mapping"]:
            # SentencePiece offsets include the space a "▁" stands for: strip it first
            while start < end and record.text[start].isspace():
                start += 1
            inside.update(range(start + 1, end))
        for span in record.spans:
            total += 1
            if span.start in inside or span.end in inside:
                conflicts += 1
                if len(examples) < 10:
                    examples.append(f"{record.id}: {record.text[span.start:span.end]!r} {span.label}")
    return conflicts, total, examples
