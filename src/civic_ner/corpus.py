"""The annotated corpus: Label Studio JSON in, validated span-labelled JSONL splits out.

Label Studio export JSON (a list of tasks) under ``annotations/`` is the source of truth; ``data/``
is rebuilt from it deterministically. ``data/splits.json`` is committed so that a section keeps its
split when new sections arrive.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import fileio
from .cleaning import clean_sections
from .reading import read_named
from .labelstudio_tasks import from_utf16, record_to_task
from .relations import RELATION_TYPES, Relation, allowed
from .splits import SPLITS, assign_splits, span_counts
from .types import LABELS, Span
from .errors import CivicNerError

EXTRA_SPLITS = ("synthetic", "grounded", "province_test")
"""Splits beside train/dev/test that a corpus may lack: written training text, and the test of the
provinces held out from all training and choice."""

class AnnotationError(CivicNerError, ValueError):
    """Bad annotations; the message lists every problem, each naming the task/section and span."""


@dataclass
class Record:
    """One annotated section: what the model trains and is evaluated on."""

    id: str
    text: str
    spans: list[Span]
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)  # indices into ``spans`` (sorted)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "text": self.text,
            "spans": [{"start": s.start, "end": s.end, "label": s.label} for s in self.spans],
            "source": self.source,
            **({"meta": self.meta} if self.meta else {}),
            **({"relations": [{"from": r.source, "to": r.target, "label": r.label} for r in self.relations]}
               if self.relations else {}),
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> "Record":
        spans = [Span(int(s["start"]), int(s["end"]), str(s["label"])) for s in obj.get("spans", [])]
        relations = [Relation(int(r["from"]), int(r["to"]), str(r["label"])) for r in obj.get("relations", [])]
        return cls(str(obj["id"]), str(obj["text"]), sorted(spans), str(obj.get("source", "")), obj.get("meta", {}),
                   sorted(relations))


# ---------------------------------------------------------------- Label Studio tasks -> records


def _pick_annotation(task: dict[str, Any]) -> dict[str, Any] | None:
    """The annotation that counts: ground truth if marked, else the last one that was not cancelled.
    Raises ValueError for annotations that are not a list of objects with a list of results."""
    listed = task.get("annotations") or []
    if not isinstance(listed, list) or not all(isinstance(a, dict) for a in listed):
        raise ValueError("'annotations' is not a list of objects")
    annotations = [a for a in listed if not a.get("was_cancelled")]
    if any(not isinstance(a.get("result") or [], list) for a in annotations):
        raise ValueError("an annotation's 'result' is not a list")
    if not annotations:
        return None
    gold = [a for a in annotations if a.get("ground_truth")]
    return (gold or annotations)[-1]


def task_name(task: dict[str, Any], index: int) -> str:
    data = task.get("data") if isinstance(task.get("data"), dict) else {}
    sid = data.get("section_id")
    tid = task.get("id")
    parts = [f"task #{index}"]
    if tid is not None:
        parts.append(f"id={tid}")
    if sid:
        parts.append(f"section {sid}")
    return " ".join(parts)


def tasks_to_records(
    tasks: list[dict[str, Any]], where: str = "<tasks>", labels: tuple[str, ...] = LABELS
) -> list[Record]:
    """Validate Label Studio tasks and turn them into records; raise listing every problem."""
    problems: list[str] = []
    records: list[Record] = []
    seen: dict[str, str] = {}
    if not isinstance(tasks, list):
        raise AnnotationError(f"{where}: expected a JSON list of Label Studio tasks, got {type(tasks).__name__}")
    for index, task in enumerate(tasks):
        name = task_name(task, index) if isinstance(task, dict) else f"task #{index}"
        if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
            problems.append(f"{where}: {name}: no 'data' object")
            continue
        data = task["data"]
        text = data.get("text")
        section_id = data.get("section_id")
        if not isinstance(text, str) or not text.strip():
            problems.append(f"{where}: {name}: empty or missing data.text")
            continue
        if not section_id:
            problems.append(f"{where}: {name}: missing data.section_id")
            continue
        section_id = str(section_id)
        if section_id in seen:
            problems.append(f"{where}: {name}: duplicate section id {section_id} (also {seen[section_id]})")
            continue
        seen[section_id] = name
        try:
            annotation = _pick_annotation(task)
        except ValueError as exc:
            problems.append(f"{where}: {name}: {exc}")
            continue
        if annotation is None:
            problems.append(f"{where}: {name}: no completed annotation (skipped or missing)")
            continue
        spans, region_span, relation_items = _labelled_spans(annotation, text, f"{where}: {name}", labels, problems)
        spans.sort()
        relations, relation_problems = _relations(relation_items, region_span, spans, text, f"{where}: {name}")
        problems += relation_problems
        for left, right in zip(spans, spans[1:]):
            if right.start < left.end:
                problems.append(
                    f"{where}: {name}: overlapping spans {text[left.start:left.end]!r} [{left.start}:{left.end}]"
                    f" {left.label} and {text[right.start:right.end]!r} [{right.start}:{right.end}] {right.label}"
                )
        meta = {k: v for k, v in data.items() if k not in ("text", "section_id", "source")}
        records.append(Record(section_id, text, spans, str(data.get("source", "")), meta, relations))
    if problems:
        raise AnnotationError(f"{where}: {len(problems)} problem(s) in the annotations:\n" + "\n".join(problems))
    return records


def _labelled_spans(annotation: dict[str, Any], text: str, where: str, labels: tuple[str, ...],
                    problems: list[str]) -> tuple[list[Span], dict[str, Span], list[dict[str, Any]]]:
    """The ``labels`` results of one annotation as spans (each bad one named in ``problems``), the span
    of each region id, and the relation results left for :func:`_relations`."""
    spans: list[Span] = []
    region_span: dict[str, Span] = {}
    relation_items = []
    for item in annotation.get("result") or []:
        if not isinstance(item, dict):
            problems.append(f"{where}: a result item is not an object: {str(item)[:40]!r}")
            continue
        if item.get("type") == "relation":
            relation_items.append(item)
            continue
        if item.get("type") != "labels":
            continue
        value = item.get("value") or {}
        if not isinstance(value, dict):
            problems.append(f"{where}: a result's 'value' is not an object")
            continue
        item_labels = value.get("labels") or []
        if not isinstance(item_labels, list):
            item_labels = [item_labels]
        surface = value.get("text")
        try:
            start, end = from_utf16(text, int(value["start"])), from_utf16(text, int(value["end"]))
        except (KeyError, TypeError, ValueError) as exc:
            problems.append(f"{where}: span {surface!r}: bad offsets ({exc})")
            continue
        where_span = f"{where}: span [{start}:{end}] {surface!r}"
        if len(item_labels) != 1 or item_labels[0] not in labels:
            problems.append(f"{where_span}: unknown label {item_labels!r} (allowed: {', '.join(labels)})")
            continue
        if not 0 <= start < end <= len(text):
            problems.append(f"{where_span}: offsets out of range for a text of {len(text)} characters")
            continue
        if surface is not None and text[start:end] != surface:
            problems.append(f"{where_span}: text[start:end] is {text[start:end]!r}, not the span's text")
            continue
        spans.append(Span(start, end, item_labels[0]))
        if item.get("id") is not None:
            region_span[str(item["id"])] = spans[-1]
    return spans, region_span, relation_items


def _relations(
    items: list[dict[str, Any]], region_span: dict[str, Span], spans: list[Span], text: str, where: str
) -> tuple[list[Relation], list[str]]:
    """Relation results -> relations over span indices; every bad one named (dangling region id,
    unknown label, a pair of entity types the schema does not allow)."""
    index = {span: i for i, span in enumerate(spans)}
    relations: list[Relation] = []
    problems: list[str] = []
    for item in items:
        labels = item.get("labels") or []
        labels = labels if isinstance(labels, list) else [labels]
        ends = (item.get("from_id"), item.get("to_id"))
        what = f"{where}: relation {ends[0]} -> {ends[1]} {labels}"
        if len(labels) != 1 or not isinstance(labels[0], str) or labels[0] not in RELATION_TYPES:
            problems.append(f"{what}: unknown relation label (allowed: {', '.join(RELATION_TYPES)})")
            continue
        missing = [str(e) for e in ends if str(e) not in region_span]
        if missing:
            problems.append(f"{what}: no labelled region with id {', '.join(missing)}")
            continue
        source, target = (region_span[str(e)] for e in ends)
        if not allowed(labels[0], source.label, target.label):
            problems.append(
                f"{what}: {labels[0]} cannot link {source.label} {text[source.start:source.end]!r} to "
                f"{target.label} {text[target.start:target.end]!r}"
            )
            continue
        if source == target:
            problems.append(f"{what}: a relation from a region to itself")
            continue
        relations.append(Relation(index[source], index[target], labels[0]))
    relations = sorted(set(relations))
    for cycle in _part_of_cycles(relations):
        problems.append(f"{where}: part_of cycle through {' -> '.join(text[spans[i].start:spans[i].end] for i in cycle)}")
    return relations, problems


def _part_of_cycles(relations: list[Relation]) -> list[list[int]]:
    """part_of must be a forest: a cycle (A part of B part of A) cannot be summed."""
    parent: dict[int, list[int]] = {}
    for r in relations:
        if r.label == "part_of":
            parent.setdefault(r.source, []).append(r.target)
    cycles, seen = [], set()
    for start in parent:
        path, node = [start], start
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in parent.get(node, []):
                if nxt == start:
                    key = frozenset(path)
                    if key not in seen:
                        seen.add(key)
                        cycles.append(path + [start])
                elif nxt not in path:
                    stack.append((nxt, path + [nxt]))
    return cycles


def load_tasks(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AnnotationError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not UTF-8 text (Label Studio exports are UTF-8 JSON)") from None
    except IsADirectoryError:
        raise AnnotationError(f"{path}: is a directory, not a Label Studio export") from None
    except OSError as exc:
        raise AnnotationError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return tasks


WRITTEN_SOURCES = ("synthetic/", "grounded/")
"""Sources of written items: the batch a writer wrote them in, not a bulletin."""


def document_of(record: Record) -> str:
    """The bulletin a section belongs to, the unit of document consistency and of aggregation: the
    source file of a seed section; a written item (synthetic, grounded) is a bulletin of its own."""
    return record.id if record.source.startswith(WRITTEN_SOURCES) else record.source


def load_annotations(path: str | Path) -> list[Record]:
    return tasks_to_records(load_tasks(path), str(path))


def save_tasks(path: str | Path, records: list[Record]) -> None:
    fileio.write_json(path, [record_to_task(r, i + 1) for i, r in enumerate(records)])


# ---------------------------------------------------------------- raw -> sections


def sections_from_raw(raw_dir: str | Path) -> list[Record]:
    """Clean every ``*.txt`` under ``raw_dir`` into unannotated section records."""
    return sections_of(sorted(Path(raw_dir).rglob("*.txt")))


def sections_of(files: list[Path]) -> list[Record]:
    """Unannotated section records of raw bulletin files (any encoding, :func:`civic_ner.reading.read_named`),
    ids ``<stem>-<nn>``, offsets into the decoded raw text in ``meta``; an empty file has none."""
    records = []
    for path in files:
        for section in clean_sections(read_named(path, empty_ok=True), path.name, path.stem):
            records.append(
                Record(section.id, section.text, [], path.name, {"raw_start": section.raw_start, "raw_end": section.raw_end})
            )
    return records


# ---------------------------------------------------------------- build


def data_hash(records: list[Record]) -> str:
    payload = json.dumps([r.to_json() for r in sorted(records, key=lambda r: r.id)], ensure_ascii=False)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def synthetic_beside(annotations: str | Path) -> Path | None:
    """``synthetic.json`` next to a tasks file, where the project keeps its synthetic corpus."""
    path = Path(annotations).with_name("synthetic.json")
    return path if path.exists() else None


def load_synthetic(path: str | Path, real: list[Record]) -> list[Record]:
    """Synthetic tasks (written by the team, ``data.synthetic: true``), validated like the real ones
    and never sharing an id with a real section."""
    records = load_annotations(path)
    problems = [f"{path}: task for {r.id}: data.synthetic is not true" for r in records if r.meta.get("synthetic") is not True]
    clash = sorted({r.id for r in records} & {r.id for r in real})
    problems += [f"{path}: section id {sid} is also a real section" for sid in clash]
    if problems:
        raise AnnotationError(f"{len(problems)} problem(s) in the synthetic annotations:\n" + "\n".join(problems))
    return sorted(records, key=lambda r: r.id)


def grounded_beside(annotations: str | Path) -> Path | None:
    """``grounded.json`` next to a tasks file, where the project keeps its grounded corpus."""
    path = Path(annotations).with_name("grounded.json")
    return path if path.exists() else None


def load_grounded(path: str | Path, real: list[Record]) -> list[Record]:
    """Grounded tasks (written by us from real bulletins, ``data.grounded: true``): each names its
    province and source URL; a held-out source page, or one page grounding both a training and a
    test item, is refused."""
    from .grounded import TEST_PROVINCES, held_out_reason
    from .places import PROVINCES

    records = load_annotations(path)
    problems = []
    for r in records:
        where = f"{path}: task for {r.id}"
        if r.meta.get("grounded") is not True:
            problems.append(f"{where}: data.grounded is not true")
        if r.meta.get("province") not in PROVINCES:
            problems.append(f"{where}: data.province {r.meta.get('province')!r} is not a provincial-level region")
        url = str(r.meta.get("source_url", ""))
        if not url.startswith(("http://", "https://")):
            problems.append(f"{where}: data.source_url {url!r} is not a URL")
        elif held_out_reason(url=url):
            problems.append(f"{where}: its source {url} is a page held out for evaluation outside the project")
    sides: dict[str, set[bool]] = {}
    for r in records:
        sides.setdefault(str(r.meta.get("source_url")), set()).add(r.meta.get("province") in TEST_PROVINCES)
    problems += [f"{path}: source {url} grounds both a training and a test item" for url, s in sides.items() if len(s) > 1]
    clash = sorted({r.id for r in records} & {r.id for r in real})
    problems += [f"{path}: section id {sid} is also a real section" for sid in clash]
    if problems:
        raise AnnotationError(f"{len(problems)} problem(s) in the grounded annotations:\n" + "\n".join(problems))
    return sorted(records, key=lambda r: r.id)


def by_province(records: list[Record], test: bool) -> list[Record]:
    """The records of the held-out test provinces (``test``), or of every other province."""
    from .grounded import TEST_PROVINCES

    return [r for r in records if (r.meta.get("province") in TEST_PROVINCES) == test]


def build_dataset(
    annotations: str | Path,
    data_dir: str | Path,
    splits_path: str | Path | None = None,
    new_to: str = "train",
    new_share: dict[str, float] | None = None,
    synthetic: str | Path | None = None,
    grounded: str | Path | None = None,
) -> dict[str, list[Record]]:
    """Validate the annotations and (re)write ``data/{train,dev,test}.jsonl`` and ``splits.json``;
    with ``synthetic``, also ``data/synthetic.jsonl``: a split of its own, never dev or test; with
    ``grounded``, ``data/grounded.jsonl`` (training provinces) and ``data/province_test.jsonl`` (the
    held-out provinces). No training split holds text of a held-out province."""
    records = load_annotations(annotations)
    synthetic_records = by_province(load_synthetic(synthetic, records), test=False) if synthetic else []
    grounded_records = load_grounded(grounded, records + synthetic_records) if grounded else []
    data_dir = Path(data_dir)
    splits_path = Path(splits_path) if splits_path else data_dir / "splits.json"
    existing: dict[str, str] = {}
    if splits_path.exists():
        existing = json.loads(splits_path.read_text(encoding="utf-8")).get("assignments", {})
    assignment = assign_splits(records, existing, new_to=new_to, new_share=new_share)
    by_split = {s: sorted((r for r in records if assignment[r.id] == s), key=lambda r: r.id) for s in SPLITS}
    for split in SPLITS:
        fileio.write_jsonl(data_dir / f"{split}.jsonl", (r.to_json() for r in by_split[split]))
    if synthetic:
        fileio.write_jsonl(data_dir / "synthetic.jsonl", (r.to_json() for r in synthetic_records))
        by_split["synthetic"] = synthetic_records
    if grounded:
        by_split["grounded"] = by_province(grounded_records, test=False)
        by_split["province_test"] = by_province(grounded_records, test=True)
        for split in ("grounded", "province_test"):
            fileio.write_jsonl(data_dir / f"{split}.jsonl", (r.to_json() for r in by_split[split]))
    kept = {sid: split for sid, split in sorted(assignment.items()) if sid in {r.id for r in records} or sid in existing}
    fileio.write_json(
        splits_path,
        {
            "about": "Section -> split. Committed so that assignments stay stable as sections are added.",
            "data_hash": data_hash(records),
            "assignments": kept,
        },
    )
    return by_split


def load_split(data_dir: str | Path, split: str) -> list[Record]:
    """Records of one split (``all`` for every split)."""
    if split == "all":
        return [r for s in SPLITS for r in load_split(data_dir, s)]
    if split in EXTRA_SPLITS and not (Path(data_dir) / f"{split}.jsonl").exists():
        return []
    path = Path(data_dir) / f"{split}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such split file (run `civic-ner corpus build` first)")
    return [Record.from_json(obj) for obj in fileio.read_jsonl(path)]


def stats_table(by_split: dict[str, list[Record]]) -> str:
    """Counts per label per split, plus sections and characters."""
    header = ["split", "sections", "chars", *LABELS, "spans"]
    rows = []
    for split, records in by_split.items():
        counts = span_counts(records)
        rows.append(
            [split, len(records), sum(len(r.text) for r in records), *(counts[l] for l in LABELS), sum(counts.values())]
        )
    total = ["total", *(sum(row[i] for row in rows) for i in range(1, len(header)))]
    rows.append(total)
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).rjust(w) for x, w in zip(row, widths)) for row in [header, *rows]]
    return "\n".join(lines)
