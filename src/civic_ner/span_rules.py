"""Span rules applied after decoding (``Tagger.predict``): what the guide says no entity can be.

- Page clutter is never an entity: web and e-mail addresses, and a span over a line break (D32).
  Bulletins copied from portals carry URLs and navigation lines; a tagger that has seen few labels
  pieces of them (a domain as ORG).
- Names written one after another in their own quotes are one entity each (D7, D35): a span that
  runs across ``”“`` or ``”暨“`` is cut at the quotes.
- A program name ends where a word ends: a PROGRAM span that stops inside a word of the LAC
  segmentation (送温|暖, 阳光就业行|动) is completed to the word's end, never across punctuation or
  into another span. The network reads subword pieces and sometimes stops one character short;
  ORG spans are left alone (completing them measured worse on province CV).
No gold span of the corpus breaks the first two rules (``tests/test_predict.py``), so they can only
remove errors; the effect of each is measured in bench/RESULTS.md.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

WEB_ADDRESS_RE = re.compile(
    r"(?:https?://|www\.)[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+"  # a URL
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"  # an e-mail address
    r"|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.(?:com|cn|net|org|gov|edu)(?:\.cn)?(?:/[A-Za-z0-9._~/?#=&%-]*)?"  # a bare domain
)


def clutter_ranges(text: str) -> list[tuple[int, int]]:
    """Character ranges of web and e-mail addresses in ``text``."""
    return [m.span() for m in WEB_ADDRESS_RE.finditer(text)]


def is_clutter(text: str, start: int, end: int, ranges: Sequence[tuple[int, int]] | None = None) -> bool:
    """True when [start, end) crosses a line break or overlaps a web or e-mail address."""
    if "\n" in text[start:end]:
        return True
    ranges = clutter_ranges(text) if ranges is None else ranges
    return any(start < b and a < end for a, b in ranges)


def drop_clutter(text: str, spans: Sequence) -> list:
    """The spans (anything with ``start``/``end``) that are not clutter, in their order."""
    ranges = clutter_ranges(text)
    return [s for s in spans if not is_clutter(text, s.start, s.end, ranges)]


_ADJACENT_QUOTES_RE = re.compile(r"”\s*(?:暨|、|和|与)?\s*“")


def split_adjacent_quotes(text: str, spans: Sequence, make) -> list:
    """Cut every span that runs across ``”“`` (or ``”暨“``, ``”、“``) into the quoted names inside
    it; ``make(start, end, span)`` builds a piece of the same type as the span."""
    out = []
    for span in spans:
        inner = text[span.start : span.end]
        cuts = [(m.start(), m.end()) for m in _ADJACENT_QUOTES_RE.finditer(inner)]
        if not cuts:
            out.append(span)
            continue
        start = span.start
        for a, b in cuts:
            if span.start + a > start:
                out.append(make(start, span.start + a, span))
            start = span.start + b
        if span.end > start:
            out.append(make(start, span.end, span))
    return out


WORD_COMPLETED_LABELS = ("PROGRAM",)
MAX_COMPLETION = 2
"""At most this many characters are added to finish a word (longer words are a different error)."""
_NO_COMPLETION = set("，。、；：“”‘’（）《》「」【】！？,.;:()!?\"'·・—-　 \n\t")


def complete_words(text: str, spans: Sequence, lac_tags: Sequence[str], make: Callable) -> list:
    """Extend each PROGRAM span that ends inside a LAC word (tags B-/I-/E-/S-) to that word's end;
    ``make(start, end, span)`` builds the longer span."""
    word_ends = {i + 1 for i, tag in enumerate(lac_tags) if tag[:1] in ("E", "S")}
    starts = sorted(s.start for s in spans)
    out = []
    for span in spans:
        end = span.end
        if span.label in WORD_COMPLETED_LABELS and end not in word_ends and end < len(text):
            new_end = min((e for e in word_ends if e > end), default=end)
            added = text[end:new_end]
            if (0 < len(added) <= MAX_COMPLETION and not set(added) & _NO_COMPLETION
                    and not any(end <= a < new_end for a in starts)):
                span = make(span.start, new_end, span)
        out.append(span)
    return out


def apply_span_rules(text: str, spans: Sequence, make: Callable, lac_tags: Sequence[str] | None = None) -> list:
    """All span rules in their order: quotes cut, clutter dropped, words completed (when the LAC
    segmentation is at hand)."""
    spans = drop_clutter(text, split_adjacent_quotes(text, spans, make))
    return complete_words(text, spans, lac_tags, make) if lac_tags is not None else spans
