"""The Label Studio task format, written in one place: tasks to import (sections, with or without the
model's pre-annotations), tasks as an export holds them (a completed annotation), their result items,
and the one score of a prediction.

Used by ``corpus sections --format labelstudio``, ``predict --format labelstudio``
(:class:`civic_ner.writers.LabelStudioWriter`), ``ls push`` (:mod:`civic_ner.labelstudio`) and
``annotations/tasks.json`` (:func:`civic_ner.corpus.save_tasks`); read back by
:func:`civic_ner.corpus.tasks_to_records`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .relations import Relation
from .types import Entity, Span

if TYPE_CHECKING:  # pragma: no cover
    from .corpus import Record

FROM_NAME = "label"
TO_NAME = "text"


# ---------------------------------------------------------------- Label Studio offsets
# Label Studio counts offsets in UTF-16 code units (JavaScript strings); Python counts code points.
# They differ only after a character outside the BMP (emoji, rare CJK extension B characters).


def _utf16_units(text: str) -> list[int]:
    """Prefix sums: utf16 offset of each code point index (len(text) + 1 entries)."""
    out = [0]
    for ch in text:
        out.append(out[-1] + (2 if ord(ch) > 0xFFFF else 1))
    return out


def to_utf16(text: str, offset: int) -> int:
    return _utf16_units(text)[offset] if any(ord(c) > 0xFFFF for c in text) else offset


def from_utf16(text: str, offset: int) -> int:
    if not any(ord(c) > 0xFFFF for c in text):
        return offset
    units = _utf16_units(text)
    if offset not in units:
        raise ValueError(f"offset {offset} falls inside a surrogate pair")
    return units.index(offset)


# ---------------------------------------------------------------- items


def result_item(text: str, span: Span, index: int, score: float | None = None) -> dict[str, Any]:
    """One ``labels`` result item as Label Studio exports it."""
    item: dict[str, Any] = {
        "id": f"s{index}",
        "from_name": FROM_NAME,
        "to_name": TO_NAME,
        "type": "labels",
        "origin": "manual" if score is None else "prediction",
        "value": {
            "start": to_utf16(text, span.start),
            "end": to_utf16(text, span.end),
            "text": text[span.start : span.end],
            "labels": [span.label],
        },
    }
    if score is not None:
        item["score"] = round(float(score), 4)
    return item


def relation_item(relation: Relation) -> dict[str, Any]:
    """One relation result as Label Studio exports it (``from_id``/``to_id`` are region ids)."""
    return {
        "type": "relation",
        "from_id": f"s{relation.source}",
        "to_id": f"s{relation.target}",
        "direction": "right",
        "labels": [relation.label],
    }


def task(data: dict[str, Any], predictions: list[dict[str, Any]] | None = None,
         annotations: list[dict[str, Any]] | None = None, task_id: int | None = None) -> dict[str, Any]:
    """A Label Studio task: every task civic-ner writes is built here."""
    out: dict[str, Any] = {} if task_id is None else {"id": task_id}
    out["data"] = data
    if annotations is not None:
        out["annotations"] = annotations
    if predictions is not None:
        out["predictions"] = predictions
    return out


def section_data(record: "Record") -> dict[str, Any]:
    """A section's task data: its text, id, source file and the rest of its metadata."""
    return {"text": record.text, "section_id": record.id, "source": record.source, **record.meta}


def task_score(entities: Sequence[Entity]) -> float:
    """The score of a prediction: the mean of its entities' scores (0.0 with no entity).

    The mean, not the least sure span: Label Studio sorts and samples tasks by this score, and the
    minimum of more spans only falls, so a long section would always rank as the least sure whatever
    the model made of it; the mean says how sure the model is of its pre-annotation as a whole, the
    same for a short or a long section. A task with nothing pre-annotated scores 0.0: it is to be read
    from scratch, so it sorts with the least sure."""
    return round(sum(e.score for e in entities) / len(entities), 4) if entities else 0.0


def prediction(text: str, entities: Sequence[Entity], version: str) -> dict[str, Any]:
    """A Label Studio prediction (pre-annotation) from a tagger's entities over ``text``."""
    ordered = sorted(entities, key=lambda e: (e.start, e.end))
    return {
        "model_version": version,
        "score": task_score(ordered),
        "result": [result_item(text, e.span, i, score=e.score) for i, e in enumerate(ordered)],
    }


def section_task(record: "Record", prediction: dict[str, Any] | None = None) -> dict[str, Any]:
    """A section to import, pre-annotated when a ``prediction`` is given."""
    return task(section_data(record), None if prediction is None else [prediction])


def record_to_task(record: Record, task_id: int | None = None) -> dict[str, Any]:
    """A Label Studio task with one completed annotation (the format of an export)."""
    annotation = {
        "result": [result_item(record.text, s, i) for i, s in enumerate(sorted(record.spans))]
        + [relation_item(r) for r in sorted(record.relations)],
        "was_cancelled": False,
        "ground_truth": True,
    }
    return task(section_data(record), predictions=[], annotations=[annotation], task_id=task_id)
