"""Names learned from the training gold: a gazetteer of ORG and PROGRAM surfaces (issue 18's lexicon),
measured as rows of ``bench/cv_grid.py summarize --gazetteer`` and not shipped (bench/RESULTS.md).

A national program (希望工程, 春蕾计划, 金秋助学) or organization (中华慈善总会, 中国扶贫基金会) named in
one province's bulletin is named the same way in another's; a tagger that has seen a name labelled
many times may still miss it in a new sentence. The gazetteer keeps a surface only when the training
text labels it with one type most times it occurs (a share of its occurrences, substrings of longer
names counted), so a word that is usually part of a longer name (民政局 inside 县民政局) or usually
not a name at all never enters. Built from training text only: each fold's training units in CV.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from civic_ner.span_rules import Overlaps

GAZETTEER_LABELS = ("ORG", "PROGRAM")


def build_gazetteer(documents: Iterable[tuple[str, Sequence]], min_count: int = 2, min_share: float = 0.8,
                    min_length: int = 3, labels: Sequence[str] = GAZETTEER_LABELS) -> dict[str, str]:
    """Surface -> label for names labelled at least ``min_count`` times and in at least ``min_share``
    of their occurrences in the texts (each occurrence of the surface, inside longer words included)."""
    docs = list(documents)
    labelled: dict[str, Counter] = {}
    for text, spans in docs:
        for span in spans:
            if span.label in labels and span.end - span.start >= min_length:
                labelled.setdefault(text[span.start : span.end], Counter())[span.label] += 1
    occurrences = Counter()
    for text, _ in docs:
        for surface in labelled:
            if surface[0] in text:
                occurrences[surface] += text.count(surface)
    out = {}
    for surface, by_label in labelled.items():
        label, count = by_label.most_common(1)[0]
        if count >= min_count and count >= min_share * occurrences[surface]:
            out[surface] = label
    return out


def compile_gazetteer(gazetteer: dict[str, str]) -> re.Pattern | None:
    """One alternation, longest names first, so a match is the longest known name at its start."""
    if not gazetteer:
        return None
    return re.compile("|".join(re.escape(s) for s in sorted(gazetteer, key=lambda s: (-len(s), s))))


def fill_from_gazetteer(text: str, spans: Sequence, gazetteer: dict[str, str], pattern: re.Pattern | None,
                        new: Callable[[int, int, str], object], extend: bool = False) -> list:
    """Known names the tagger missed are added where they touch no predicted span; with ``extend``,
    a predicted span of the same type strictly inside a known name (and alone there) grows to it."""
    if pattern is None:
        return list(spans)
    overlapping = Overlaps(spans)
    replaced: dict[int, object] = {}
    added = []
    for m in pattern.finditer(text):
        a, b = m.span()
        label = gazetteer[m.group()]
        touching = overlapping(a, b)
        if not touching:
            added.append(new(a, b, label))
        elif extend and len(touching) == 1:
            s = touching[0]
            if s.label == label and a <= s.start and s.end <= b and (s.start, s.end) != (a, b):
                replaced[id(s)] = new(a, b, label)
    out = [replaced.get(id(s), s) for s in overlapping.spans] + added
    return sorted(out, key=lambda s: (s.start, s.end))
