"""Check an inline-annotated file against its sections file: same ids, identical text once marks are stripped.

usage: python scripts/check_inline.py SECTIONS.md ANNOTATED.md
"""
import sys
from collections import Counter
from pathlib import Path

from civic_ner.inline import InlineError, parse_inline, read_blocks

sections = read_blocks(Path(sys.argv[1]))
annotated = read_blocks(Path(sys.argv[2]))
errors = 0
counts: Counter[str] = Counter()
for sid, marked in annotated.items():
    if sid not in sections:
        print(f"{sid}: not in {sys.argv[1]}"); errors += 1; continue
    try:
        text, spans = parse_inline(marked, sid)
    except InlineError as exc:
        print(exc); errors += 1; continue
    if text != sections[sid]:
        for i, (a, b) in enumerate(zip(text, sections[sid])):
            if a != b:
                break
        else:
            i = min(len(text), len(sections[sid]))
        print(f"{sid}: text differs from the section at char {i}: annotated {text[max(0,i-15):i+15]!r} vs section {sections[sid][max(0,i-15):i+15]!r}")
        errors += 1
    counts.update(s.label for s in spans)
missing = [sid for sid in sections if sid not in annotated]
print(f"{len(annotated)} blocks checked, {errors} errors; missing blocks: {len(missing)} {missing[:5]}")
print("spans:", dict(counts))
sys.exit(1 if errors else 0)
