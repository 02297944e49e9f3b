"""Adjudicated synthetic gold = synthetic pass 1 + the edits listed here (each one a decision of
annotations/GUIDELINES.md, D11-D31, or a disagreement of the second pass decided against the guide).

Reads annotations/synthetic/work/pass1/*.md, applies EDITS, writes annotations/synthetic/work/gold/*.md
(inline marks, for review) and annotations/synthetic.json (Label Studio tasks, data.synthetic: true).

usage: python scripts/adjudicate_synthetic.py
"""
import sys
from pathlib import Path

from civic_ner import corpus
from civic_ner.inline import parse_inline, to_inline, write_blocks
from civic_ner.types import Span

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from synthetic import read_items  # noqa: E402

# (item, surface, label): remove these spans (every occurrence in the item).
DROP = [
    ("syn-b21", "暖心午餐", "PROGRAM"),  # D31: the lunches themselves, like 威海媳妇饼 the cake (pass 2)
    ("syn-c10", "银龄助餐", "PROGRAM"),  # D30: generic service types (pass 2)
    ("syn-c10", "四点半课堂", "PROGRAM"),  # D30 (pass 2)
    ("syn-e10", "银青结对", "PROGRAM"),  # D15: a quoted name on an internal group (pass 2)
]

# (item, old surface, new surface, label): reshape every span with the old surface.
RESHAPE = [
    ("syn-b32", "博爱家园", "博爱家园重建项目", "PROGRAM"),  # unquoted name keeps its head noun (pass 2)
]

# (item, surface, label, occurrence): add a span at the n-th occurrence (0 = every free occurrence).
ADD = [
    ("syn-a32", "州级未成年人救助保护中心", "ORG", 1),  # D12/D14: a level-prefixed institution (pass 2)
    ("syn-f27", "科技小院", "PROGRAM", 0),  # D21: a program brand counted in units (pass 2)
    ("syn-b27", "科技小院", "PROGRAM", 0),  # D21, the same brand quoted (surface consistency)
    ("syn-a11", "县医院", "ORG", 0),  # D14: the county hospital named by its standard short form
    ("syn-c25", "县医院", "ORG", 0),  # D14
]


def occurrences(text: str, surface: str) -> list[int]:
    out, start = [], text.find(surface)
    while start != -1:
        out.append(start)
        start = text.find(surface, start + 1)
    return out


def apply(sid: str, text: str, spans: list[Span], log: list[str], drop=None, reshape=None, add=None) -> list[Span]:
    """Apply the edit lists (this script's, or another corpus's) to one item's spans."""
    drop, reshape, add = (DROP if drop is None else drop), (RESHAPE if reshape is None else reshape), (ADD if add is None else add)
    for item, surface, label in drop:
        if item == sid:
            before = len(spans)
            spans = [s for s in spans if not (s.label == label and text[s.start : s.end] == surface)]
            if len(spans) == before:
                raise SystemExit(f"{sid}: nothing to drop for {surface!r}")
            log.append(f"drop {label} {surface} in {sid}")
    for item, old, new, label in reshape:
        if item != sid:
            continue
        changed = []
        for s in spans:
            if s.label == label and text[s.start : s.end] == old:
                lo = max(0, s.start - len(new))
                start = text.find(new, lo, s.end + len(new))
                if start == -1:
                    raise SystemExit(f"{sid}: {new!r} not found around {old!r}")
                s = Span(start, start + len(new), label)
                log.append(f"reshape {old} -> {new} in {sid}")
            changed.append(s)
        spans = changed
    for item, surface, label, occurrence in add:
        if item != sid:
            continue
        starts = occurrences(text, surface)
        chosen = starts if occurrence == 0 else [starts[occurrence - 1]]
        for start in chosen:
            span = Span(start, start + len(surface), label)
            if all(span.end <= s.start or span.start >= s.end for s in spans):
                spans.append(span)
                log.append(f"add {label} {surface} in {sid}")
    return sorted(spans)


def adjudicate_batches(work: Path, corpus_name: str, meta_of, edits=(None, None, None), keep_header: bool = False):
    """pass1/batch-*.md of ``work`` + the edits -> gold/*.md (inline marks, for review) and the records;
    shared by the synthetic and the grounded corpus. ``meta_of(attrs)`` gives a task's data fields."""
    gold_dir = work / "gold"
    gold_dir.mkdir(parents=True, exist_ok=True)
    records, log = [], []
    for path in sorted((work / "pass1").glob("batch-*.md")):
        blocks = {}
        for sid, attrs, marked in read_items(path):
            text, spans = parse_inline(marked, f"{path.name}: {sid}")
            spans = apply(sid, text, spans, log, *edits)
            head = " ".join([sid, *(f"{k}={v}" for k, v in attrs.items())]) if keep_header else sid
            blocks[head] = to_inline(text, spans)
            records.append(corpus.Record(sid, text, spans, f"{corpus_name}/{path.stem}", meta_of(attrs)))
        write_blocks(gold_dir / path.name, blocks)
    return records, log


def main() -> None:
    records, log = adjudicate_batches(
        ROOT / "annotations/synthetic/work", "synthetic",
        lambda attrs: {"synthetic": True, "province": attrs.get("province", ""), "topic": attrs.get("topic", "")},
    )
    corpus.save_tasks(ROOT / "annotations/synthetic.json", records)
    corpus.load_annotations(ROOT / "annotations/synthetic.json")  # validate what we wrote
    print("\n".join(log))
    print(f"{len(records)} synthetic items -> annotations/synthetic.json")


if __name__ == "__main__":
    main()
