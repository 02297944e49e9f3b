"""Surface consistency across the whole corpus (real and synthetic): the same string, labelled the
same way everywhere, or the difference explained by a decision of the annotation guide.

For every ORG or PROGRAM surface, each other occurrence of that string in any section is either
labelled the same, covered by a longer span (outermost wins), or a finding: labelled with another
type, or not labelled at all. Findings whose surface is listed in ``annotations/consistency.tsv``
(surface, label, decision, note) are explained; the rest are reported by ``corpus build`` and fail
the test suite.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .corpus import Record

CHECKED = ("ORG", "PROGRAM")
MIN_CHARS = 2


@dataclass(frozen=True)
class Finding:
    surface: str
    label: str  # how it is labelled elsewhere
    section: str
    start: int
    found: str  # "unlabelled" or the other label
    context: str

    def line(self) -> str:
        return f"{self.section} [{self.start}]: {self.surface!r} is {self.label} elsewhere but {self.found} here: …{self.context}…"


def load_explanations(path: str | Path) -> dict[tuple[str, str], str]:
    """(surface, label) -> decision, from a TSV with a header row."""
    path = Path(path)
    if not path.exists():
        return {}
    out = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            out[(row["surface"], row["label"])] = row["decision"]
    return out


def find_inconsistencies(records: Sequence[Record]) -> list[Finding]:
    labelled: dict[str, set[str]] = defaultdict(set)
    for record in records:
        for span in record.spans:
            surface = record.text[span.start : span.end]
            if span.label in CHECKED and len(surface) >= MIN_CHARS and "\n" not in surface:
                labelled[surface].add(span.label)
    findings = []
    for record in records:
        text = record.text
        exact = {(s.start, s.end): s.label for s in record.spans}
        covered = [False] * (len(text) + 1)
        for s in record.spans:
            for k in range(s.start, s.end):
                covered[k] = True
        for surface, labels in labelled.items():
            start = text.find(surface)
            while start != -1:
                end = start + len(surface)
                here = exact.get((start, end))
                context = text[max(0, start - 10) : end + 10].replace("\n", " ")
                if here is None and not any(covered[start:end]):
                    for label in sorted(labels):
                        findings.append(Finding(surface, label, record.id, start, "unlabelled", context))
                elif here is not None:
                    for label in sorted(labels - {here}):
                        findings.append(Finding(surface, label, record.id, start, here, context))
                start = text.find(surface, start + 1)
    return sorted(findings, key=lambda f: (f.surface, f.section, f.start))


def unexplained(findings: Sequence[Finding], explanations: dict[tuple[str, str], str]) -> list[Finding]:
    return [f for f in findings if (f.surface, f.label) not in explanations]
