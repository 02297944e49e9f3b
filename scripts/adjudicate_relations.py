"""Adjudicated relation gold = relation pass 1 + the decisions listed here (annotations/GUIDELINES.md,
"Relations", R1-R4), merged into annotations/tasks.json as Label Studio relation results.

Entity ids E<n> in annotations/relations/work/ are the n-th span of a section in sorted order, which
is also the region id s<n> of annotations/tasks.json. Run after scripts/adjudicate.py.

usage: python scripts/adjudicate_relations.py
"""
from pathlib import Path

from civic_ner import corpus
from civic_ner.inline import RELATION_LINE_RE, read_blocks, write_blocks
from civic_ner.relations import Relation, allowed

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "annotations/relations/work"

# R1: counts of participants (volunteers, member companies, competitors, cadres sent) and award
# results are not what a program reaches. Pass 1 tagged such links with these comments.
DROP_COMMENTS = ("participants", "award outcome")

# R3: a part (part_of) also gets its own link when the text says whose it is (second pass, accepted).
ADD = [
    ("001_9a60edf12366d790-12", "reaches", 4, 0),  # 其中直接资助…500余名 -> 共青团济南市委
    ("002_543f8b9511dbf678-01", "amount_of", 23, 19),  # 市级出资30.6万元 -> 靓居工程
    ("002_543f8b9511dbf678-01", "amount_of", 24, 19),  # 各区市自筹88.2万元 -> 靓居工程
]


def main() -> None:
    tasks_path = ROOT / "annotations/tasks.json"
    records = {r.id: r for r in corpus.load_annotations(tasks_path)}
    gold_blocks: dict[str, dict[str, str]] = {}
    dropped = added = 0
    for path in sorted((WORK / "pass1").glob("rel-*.md")):
        blocks = {}
        for sid, body in read_blocks(path).items():
            record = records[sid]
            kept_lines, relations = [], set()
            for line in body.splitlines():
                m = RELATION_LINE_RE.match(line.strip())
                if not m:
                    continue
                comment = (m.group(4) or "").strip()
                if comment.startswith(DROP_COMMENTS):
                    dropped += 1
                    continue
                relations.add(Relation(int(m.group(2)), int(m.group(3)), m.group(1)))
                kept_lines.append(line.strip())
            for add_sid, label, a, b in ADD:
                if add_sid == sid and Relation(a, b, label) not in relations:
                    relations.add(Relation(a, b, label))
                    kept_lines.append(f"{label} E{a} E{b}   # adjudicated (R3)")
                    added += 1
            for r in relations:
                s, t = record.spans[r.source], record.spans[r.target]
                if not allowed(r.label, s.label, t.label):
                    raise SystemExit(f"{sid}: {r} links {s.label} to {t.label}")
            record.relations = sorted(relations)
            blocks[sid] = "\n".join(kept_lines)
        gold_blocks[path.name] = blocks
    (WORK / "gold").mkdir(exist_ok=True)
    for name, blocks in gold_blocks.items():
        write_blocks(WORK / "gold" / name, blocks)
    ordered = list(records.values())
    corpus.save_tasks(tasks_path, ordered)
    corpus.load_annotations(tasks_path)  # validates relations too
    total = sum(len(r.relations) for r in ordered)
    print(f"{total} relations in {len(ordered)} sections (dropped {dropped} participant/award links, added {added}) -> {tasks_path}")


if __name__ == "__main__":
    main()
