"""Baselines without learning, on the same spans as the model: what a user could do instead.

* ``rules``: the project's regexes for MONEY and COUNT (:mod:`civic_ner.rules`);
* ``lac``: every word Baidu's LAC tags ORG;
* ``signals``: the two together plus PROGRAM = the text inside short quotation marks.
"""
from __future__ import annotations

from collections.abc import Sequence

from .features import OPEN_QUOTES, SHORT_QUOTE
from .types import Span

BASELINES = ("rules", "lac", "signals")
BASELINE_TYPES = {"rules": ("MONEY", "COUNT"), "lac": ("ORG",), "signals": ("ORG", "PROGRAM", "MONEY", "COUNT")}
"""The types each baseline speaks for (a report leaves the others blank)."""


def quoted_spans(text: str, label: str = "PROGRAM") -> list[Span]:
    """The text inside each pair of quotation marks on one line, when short enough to be a name."""
    spans = []
    i = 0
    while i < len(text):
        close = OPEN_QUOTES.get(text[i])
        if close is None:
            i += 1
            continue
        line_end = text.find("\n", i)
        j = text.find(close, i + 1, len(text) if line_end == -1 else line_end)
        if j == -1:
            i += 1
            continue
        inner = text[i + 1 : j]
        if inner.strip() == inner and 0 < len(inner) <= SHORT_QUOTE:
            spans.append(Span(i + 1, j, label))
        i = j + 1
    return spans


def _merge(*layers: Sequence[Span]) -> list[Span]:
    """Union of span lists, earlier layers winning on overlap."""
    kept: list[Span] = []
    for layer in layers:
        for span in layer:
            if all(span.end <= k.start or span.start >= k.end for k in kept):
                kept.append(span)
    return sorted(kept)


def baseline_spans(name: str, texts: Sequence[str]) -> list[list[Span]]:
    from .rules import rule_spans

    if name not in BASELINES:
        raise ValueError(f"unknown baseline {name!r} (one of {', '.join(BASELINES)})")
    if name == "rules":
        return [rule_spans(t) for t in texts]
    from .lac import LacOrgTagger

    lac = LacOrgTagger().tag_batch(texts)
    if name == "lac":
        return lac
    return [_merge(rule_spans(t), quoted_spans(t), orgs) for t, orgs in zip(texts, lac)]
