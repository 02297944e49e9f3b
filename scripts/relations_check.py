"""Check a relation-annotation file against its sections file (entity ids, relation types, directions).

usage: python scripts/relations_check.py SECTIONS.md RELATIONS.md
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from civic_ner.relations import RELATION_TYPES, allowed
from civic_ner.inline import RELATION_LINE_RE, read_blocks

ENTITY_RE = re.compile(r"\[E(\d+)\|([A-Z]+)\|([^\]]+)\]")


def main(sections_path: str, relations_path: str) -> int:
    sections = read_blocks(Path(sections_path))
    annotated = read_blocks(Path(relations_path))
    errors = 0
    counts: Counter[str] = Counter()
    for sid in sections:
        if sid not in annotated:
            print(f"{sid}: missing from {relations_path}")
            errors += 1
    for sid, body in annotated.items():
        if sid not in sections:
            print(f"{sid}: not a section of {sections_path}")
            errors += 1
            continue
        labels = {int(n): label for n, label, _ in ENTITY_RE.findall(sections[sid])}
        seen = set()
        for line in body.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = RELATION_LINE_RE.match(line.strip())
            if not m:
                print(f"{sid}: cannot read {line!r} (want: relation E<from> E<to>)")
                errors += 1
                continue
            rel, a, b = m.group(1), int(m.group(2)), int(m.group(3))
            if rel not in RELATION_TYPES:
                print(f"{sid}: unknown relation {rel!r} (one of {', '.join(RELATION_TYPES)})")
                errors += 1
                continue
            if a not in labels or b not in labels:
                print(f"{sid}: {line.strip()!r} names an entity that is not in the section")
                errors += 1
                continue
            if not allowed(rel, labels[a], labels[b]):
                print(f"{sid}: {rel} E{a} ({labels[a]}) -> E{b} ({labels[b]}) is not an allowed direction/type")
                errors += 1
                continue
            if (rel, a, b) in seen:
                print(f"{sid}: {line.strip()!r} given twice")
            seen.add((rel, a, b))
            counts[rel] += 1
    print(f"{len(annotated)} sections, {sum(counts.values())} relations {dict(counts)}; {errors} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
