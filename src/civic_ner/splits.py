"""Which section goes to train, dev or test: chosen once, then kept as new sections arrive.

The first build searches seeded random splits for one whose test split holds a fair share of every
label and several bulletins (a test split of one bulletin would measure memory of its names); later
sections never move the old ones.
"""
from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from .types import LABELS, Span

SPLITS = ("train", "dev", "test")


class Sectioned(Protocol):
    """What a split needs of a record: its section id and its spans."""

    id: str
    spans: list[Span]


def span_counts(records: Sequence[Sectioned]) -> Counter[str]:
    return Counter(s.label for r in records for s in r.spans)


def bulletin_of(section_id: str) -> str:
    return section_id.rsplit("-", 1)[0]


def assign_splits(
    records: Sequence[Sectioned],
    existing: dict[str, str] | None = None,
    seed: int = 13,
    trials: int = 4000,
    new_to: str = "train",
    new_share: dict[str, float] | None = None,
) -> dict[str, str]:
    """Section -> split. Existing assignments never move.

    With no existing assignment (the first build), search seeded random splits for the one that
    best meets the targets: test ≥ 20 % (aim 25 %) of the spans of every type and sections from at
    least three bulletins, dev about 15 %. Later sections go to ``new_to``, or are drawn by a
    seeded hash into dev/test with the shares in ``new_share``.
    """
    existing = dict(existing or {})
    fresh = [r for r in records if r.id not in existing]
    if existing or not records:
        for record in fresh:
            existing[record.id] = _hash_split(record.id, new_to, new_share or {})
        return existing
    totals = span_counts(records)
    rng = random.Random(seed)
    best: tuple[float, dict[str, str]] | None = None
    for _ in range(trials):
        assignment = {}
        for record in records:
            roll = rng.random()
            assignment[record.id] = "test" if roll < 0.25 else "dev" if roll < 0.40 else "train"
        score = _split_score(records, assignment, totals)
        if best is None or score < best[0]:
            best = (score, assignment)
    assert best is not None
    return best[1]


def _hash_split(section_id: str, default: str, shares: dict[str, float]) -> str:
    roll = int(hashlib.sha256(section_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    edge = 0.0
    for split, share in sorted(shares.items()):
        edge += share
        if roll < edge:
            return split
    return default


def _split_score(records: Sequence[Sectioned], assignment: dict[str, str], totals: Counter[str]) -> float:
    by_split: dict[str, Sequence[Sectioned]] = {s: [] for s in SPLITS}
    for record in records:
        by_split[assignment[record.id]].append(record)
    penalty = 0.0
    targets = {"test": 0.25, "dev": 0.15, "train": 0.60}
    for split, target in targets.items():
        counts = span_counts(by_split[split])
        for label in LABELS:
            share = counts[label] / totals[label] if totals[label] else target
            penalty += (share - target) ** 2
            if split == "test" and share < 0.20:
                penalty += 10 + (0.20 - share)
            if split == "dev" and share < 0.10:
                penalty += 1
    if len({bulletin_of(r.id) for r in by_split["test"]}) < 3:
        penalty += 10
    return penalty


def check_split_requirements(records: Sequence[Sectioned], assignment: dict[str, str]) -> list[str]:
    """Human-readable list of unmet split requirements (empty when all hold)."""
    totals = span_counts(records)
    test = [r for r in records if assignment.get(r.id) == "test"]
    counts = span_counts(test)
    problems = [
        f"test holds {counts[label]}/{totals[label]} {label} spans (< 20 %)"
        for label in LABELS
        if totals[label] and counts[label] / totals[label] < 0.20
    ]
    bulletins = {bulletin_of(r.id) for r in test}
    if len(bulletins) < 3:
        problems.append(f"test holds sections of only {len(bulletins)} bulletin(s)")
    return problems
