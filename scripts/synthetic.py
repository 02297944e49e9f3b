"""Synthetic corpus workflow: check inline-marked items, strip marks for a second pass, build tasks.

Items are written as ``### <id> province=<省> topic=<主题>`` blocks with ``{{LABEL|surface}}`` marks
(the same inline format as the seed annotation); offsets are computed here, never by hand.

usage:
  python scripts/synthetic.py check FILE.md...          parse, count, compare MONEY/COUNT with the rules
  python scripts/synthetic.py strip OUT.md FILE.md...   plain text of every block (for a second pass)
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

from civic_ner.grounded import read_items  # one reader of ### id key=value blocks
from civic_ner.inline import InlineError, parse_inline
from civic_ner.rules import disagreements as rule_disagreements

MIN_CHARS, MAX_CHARS = 250, 600


def check(paths: list[Path]) -> int:
    errors = 0
    seen: set[str] = set()
    labels: Counter[str] = Counter()
    provinces: Counter[str] = Counter()
    chars = 0
    for path in paths:
        for sid, attrs, marked in read_items(path):
            where = f"{path.name}: {sid}"
            if sid in seen:
                print(f"{where}: duplicate id")
                errors += 1
            seen.add(sid)
            try:
                text, spans = parse_inline(marked, where)
            except InlineError as exc:
                print(exc)
                errors += 1
                continue
            if not MIN_CHARS <= len(text) <= MAX_CHARS:
                print(f"{where}: {len(text)} characters (want {MIN_CHARS}-{MAX_CHARS})")
            for key in ("province", "topic"):
                if key not in attrs:
                    print(f"{where}: header lacks {key}=")
                    errors += 1
            provinces[attrs.get("province", "?")] += 1
            chars += len(text)
            labels.update(s.label for s in spans)
            unmarked, unruled = rule_disagreements(text, spans)
            for start, end, label in ((s.start, s.end, s.label) for s in unmarked):
                print(f"{where}: rules find {label} {text[start:end]!r} that is not marked so (check: …{text[max(0, start - 8):end + 8]}…)")
            for start, end, label in ((s.start, s.end, s.label) for s in unruled):
                print(f"{where}: marked {label} {text[start:end]!r} that the rules do not find (check: …{text[max(0, start - 8):end + 8]}…)")
    print(f"{len(seen)} items, {chars} characters, {sum(labels.values())} spans {dict(labels)}, {len(provinces)} provinces")
    print(f"{errors} errors")
    return 1 if errors else 0


def strip(out: Path, paths: list[Path]) -> int:
    blocks = []
    for path in paths:
        for sid, attrs, marked in read_items(path):
            text, _ = parse_inline(marked, f"{path.name}: {sid}")
            head = " ".join([f"### {sid}", *(f"{k}={v}" for k, v in attrs.items())])
            blocks.append(f"{head}\n{text}\n")
    out.write_text("\n".join(blocks), encoding="utf-8")
    print(f"{len(blocks)} items -> {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("check", "strip"):
        print(__doc__)
        sys.exit(2)
    if sys.argv[1] == "check":
        sys.exit(check([Path(p) for p in sys.argv[2:]]))
    sys.exit(strip(Path(sys.argv[2]), [Path(p) for p in sys.argv[3:]]))
