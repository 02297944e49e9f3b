"""Adjudicated gold = first pass + the decisions listed here (each one also in annotations/GUIDELINES.md).

Reads annotations/work/pass1/*.md, applies DECISIONS, writes annotations/work/gold/*.md (inline marks,
for review) and annotations/tasks.json (Label Studio export format, the source of truth).

usage: python scripts/adjudicate.py
"""
import re
from pathlib import Path

from civic_ner import corpus
from civic_ner.inline import parse_inline, read_blocks, to_inline, write_blocks
from civic_ner.types import Span

ROOT = Path(__file__).resolve().parents[1]

# COUNT is a statistic: a number of concrete things. A number announcing how many points, aspects,
# levels or tasks a speaker is about to list is structure, not a statistic (decision D1).
ENUMERATION_RE = re.compile(r"^(方面|层面|共同点|维度|(重点|工作)[,，:：。、])")

# (section id, surface, occurrence, label) spans the first pass missed (decision D3).
ADD = [
    ("001_9a60edf12366d790-16", "全国巾帼家政服务提质扩容专题培训班", 1, "PROGRAM"),
    ("001_9a60edf12366d790-16", "全市巾帼脱贫专题培训班", 1, "PROGRAM"),
]

# (section id, surface, new surface) boundary fixes (decision D4: a parenthesised alternative unit
# is not part of the count: 8666人(户) -> 8666人).
RESHAPE = [
    ("001_9a60edf12366d790-17", "8666人(户)", "8666人"),
]


def find(text: str, surface: str, occurrence: int) -> int:
    starts = [m.start() for m in re.finditer(re.escape(surface), text)]
    if len(starts) < occurrence:
        raise SystemExit(f"{surface!r}: occurrence {occurrence} not found")
    return starts[occurrence - 1]


def main() -> None:
    sections = {r.id: r for r in corpus.sections_from_raw(ROOT / "data/raw")}
    gold_dir = ROOT / "annotations/work/gold"
    gold_dir.mkdir(parents=True, exist_ok=True)
    records = []
    changes = []
    for path in sorted((ROOT / "annotations/work/pass1").glob("*.md")):
        blocks = {}
        for sid, marked in read_blocks(path).items():
            text, spans = parse_inline(marked, f"{path.name}: {sid}")
            if sid not in sections or sections[sid].text != text:
                raise SystemExit(f"{path}: {sid}: text no longer matches the cleaned raw section")
            kept = []
            for span in spans:
                after = text[span.end : span.end + 3]
                if span.label == "COUNT" and ENUMERATION_RE.match(after):
                    changes.append(f"D1 drop COUNT {text[span.start:span.end]}|{after} in {sid}")
                    continue
                for fix_sid, old, new in RESHAPE:
                    if fix_sid == sid and text[span.start : span.end] == old:
                        span = Span(span.start, span.start + len(new), span.label)
                        changes.append(f"D4 reshape {old} -> {new} in {sid}")
                kept.append(span)
            for add_sid, surface, occurrence, label in ADD:
                if add_sid == sid:
                    start = find(text, surface, occurrence)
                    kept.append(Span(start, start + len(surface), label))
                    changes.append(f"D3 add {label} {surface} in {sid}")
            kept.sort()
            blocks[sid] = to_inline(text, kept)
            records.append(corpus.Record(sid, text, kept, sections[sid].source, sections[sid].meta))
        write_blocks(gold_dir / path.name.replace("pass1-", "gold-"), blocks)
    order = {sid: i for i, sid in enumerate(sections)}
    records.sort(key=lambda r: order[r.id])
    missing = sorted(set(sections) - {r.id for r in records})
    if missing:
        raise SystemExit(f"sections without annotation: {missing}")
    corpus.save_tasks(ROOT / "annotations/tasks.json", records)
    corpus.load_annotations(ROOT / "annotations/tasks.json")  # validate what we wrote
    print("\n".join(changes))
    print(f"{len(records)} sections, {sum(len(r.spans) for r in records)} spans -> annotations/tasks.json")


if __name__ == "__main__":
    main()
