"""Grounded corpus workflow: items written by us from the facts of a real bulletin, never its sentences.

Each item is a ``### <id> province=<省> topic=<主题> form=<版式> source=<URL> writer=<w>`` block with
``{{LABEL|surface}}`` marks. The writer saves the text of the page they read to ``SOURCES/<id>.txt``
*outside* the repository (the source text is never committed) and runs ``check`` with ``--sources``:
an item sharing a 12-character run with its source, or grounded in a held-out page, is refused.

usage:
  python scripts/grounded.py check FILE.md... [--sources DIR]   writing-time check (refuses copies)
  python scripts/grounded.py strip OUT.md FILE.md...            plain text of every block (second pass)
  python scripts/grounded.py sample OUT_DIR --parts N FILE.md... the second-pass sample, stripped, in N parts
  python scripts/grounded.py disagreements PASS1_DIR PASS2_DIR    every span the two passes differ on, in context
"""
from __future__ import annotations

import argparse
import sys
import unicodedata
from collections import Counter
from pathlib import Path

from civic_ner.grounded import held_out_reason, item_problems, read_items
from civic_ner.places import PROVINCES
from civic_ner.inline import InlineError, parse_inline
from civic_ner.rules import disagreements as rule_disagreements

RUN = 12  # a shared run of this many characters is a copied phrase


def _normal(text: str) -> str:
    """NFKC without whitespace, so a copy cannot hide behind full-width commas or line breaks."""
    return "".join(unicodedata.normalize("NFKC", text).split())


def shared_run(written: str, source: str, run: int = RUN) -> str | None:
    """The first ``run``-character string the written text shares with its source, or None."""
    source_runs = {source[i : i + run] for i in range(len(source) - run + 1)}
    for i in range(len(written) - run + 1):
        if written[i : i + run] in source_runs:
            return written[i : i + run]
    return None


def _names_masked(text: str, spans) -> str:
    """The text with every ORG/PROGRAM mention blanked out: a real name is a fact to keep, so only
    the words around names can make a copied run (a sentence kept with its names is still refused
    when 12 characters outside the names match)."""
    chars = list(text)
    for span in spans:
        if span.label in ("ORG", "PROGRAM"):
            chars[span.start : span.end] = ["\x00"] * (span.end - span.start)
    return "".join(chars)


def _rule_differences(where: str, text: str, spans) -> list[str]:
    unmarked, unruled = rule_disagreements(text, spans)
    out = []
    for start, end, label in ((s.start, s.end, s.label) for s in unmarked):
        out.append(f"{where}: note: rules find {label} {text[start:end]!r}, not marked so (…{text[max(0, start - 8):end + 8]}…)")
    for start, end, label in ((s.start, s.end, s.label) for s in unruled):
        out.append(f"{where}: note: marked {label} {text[start:end]!r}, rules do not find it (…{text[max(0, start - 8):end + 8]}…)")
    return out


def check(paths: list[Path], sources: Path | None) -> int:
    errors: list[str] = []
    notes: list[str] = []
    labels: Counter[str] = Counter()
    provinces: Counter[str] = Counter()
    seen: set[str] = set()
    chars = 0
    for path in paths:
        for sid, attrs, marked in read_items(path):
            where = f"{path.name}: {sid}"
            if sid in seen:
                errors.append(f"{where}: duplicate id")
            seen.add(sid)
            try:
                text, spans = parse_inline(marked, where)
            except InlineError as exc:
                errors.append(str(exc))
                continue
            errors += [f"{where}: {p}" for p in item_problems(attrs, text)]
            if sources is not None:
                errors += _source_problems(where, sid, _names_masked(text, spans), sources)
            notes += _rule_differences(where, text, spans)
            provinces[attrs.get("province", "?")] += 1
            labels.update(s.label for s in spans)
            chars += len(text)
    for line in notes + errors:
        print(line)
    print(f"{len(seen)} items, {chars} characters, {sum(labels.values())} spans {dict(labels)}")
    print("provinces: " + ", ".join(f"{p} {n}" for p, n in sorted(provinces.items(), key=lambda kv: PROVINCES.index(kv[0]) if kv[0] in PROVINCES else 99)))
    print(f"{len(errors)} errors")
    return 1 if errors else 0


def _source_problems(where: str, sid: str, text: str, sources: Path) -> list[str]:
    source_file = sources / f"{sid}.txt"
    if not source_file.is_file():
        return [f"{where}: no source text at {source_file} (save the page you read there, outside the repository)"]
    source = source_file.read_text(encoding="utf-8")
    problems = []
    reason = held_out_reason(text=source)
    if reason:
        problems.append(f"{where}: the source page is held out for evaluation ({reason}): write from another page")
    copied = shared_run(_normal(text), _normal(source))
    if copied:
        problems.append(f"{where}: shares the {RUN}-character run {copied!r} with its source: write that sentence anew")
    return problems


def strip(out: Path, paths: list[Path]) -> int:
    blocks = []
    for path in paths:
        for sid, attrs, marked in read_items(path):
            text, _ = parse_inline(marked, f"{path.name}: {sid}")
            blocks.append(f"### {sid} province={attrs.get('province', '?')}\n{text}\n")
    out.write_text("\n".join(blocks), encoding="utf-8")
    print(f"{len(blocks)} items -> {out}")
    return 0


def sample(out_dir: Path, parts: int, paths: list[Path], name: str = "pass2", per_province: int = 2,
           per_test_province: int = 4) -> int:
    """A fixed sample for the second pass: the first items of each province in a hashed order (more
    of the held-out provinces, whose figures matter most), stripped of marks, dealt into ``parts``."""
    import hashlib

    from civic_ner.grounded import TEST_PROVINCES

    by_province: dict[str, list[tuple[str, str, str]]] = {}
    for path in paths:
        for sid, attrs, marked in read_items(path):
            text, _ = parse_inline(marked, f"{path.name}: {sid}")
            by_province.setdefault(attrs.get("province", "?"), []).append((hashlib.sha256(sid.encode()).hexdigest(), sid, text))
    chosen = []
    for province, items in sorted(by_province.items()):
        take = per_test_province if province in TEST_PROVINCES else per_province
        chosen += [(province, sid, text) for _, sid, text in sorted(items)[:take]]
    out_dir.mkdir(parents=True, exist_ok=True)
    for part in range(parts):
        blocks = [f"### {sid} province={province}\n{text}\n" for i, (province, sid, text) in enumerate(chosen) if i % parts == part]
        (out_dir / f"{name}-{part + 1}.md").write_text("\n".join(blocks), encoding="utf-8")
    total = sum(len(items) for items in by_province.values())
    print(f"{len(chosen)} of {total} items ({len(chosen) / max(total, 1):.0%}) -> {out_dir}/{name}-1..{parts}.md")
    return 0


def disagreements(first_dir: Path, second_dir: Path) -> int:
    """Spans only one pass has, with context, for adjudication (item, which pass, label, surface)."""
    def load(directory: Path) -> dict[str, tuple[str, set]]:
        out = {}
        for path in sorted(directory.glob("*.md")):
            for sid, _, marked in read_items(path):
                text, spans = parse_inline(marked, f"{path.name}: {sid}")
                out[sid] = (text, {(s.start, s.end, s.label) for s in spans})
        return out

    first, second = load(first_dir), load(second_dir)
    count = 0
    for sid in sorted(set(first) & set(second)):
        text, a = first[sid]
        if text != second[sid][0]:
            print(f"{sid}\ttexts differ: skipped")
            continue
        for only, spans in (("pass1 only", a - second[sid][1]), ("pass2 only", second[sid][1] - a)):
            for start, end, label in sorted(spans):
                count += 1
                print(f"{sid}\t{only}\t{label}\t{text[start:end]}\t@{start}\t…{text[max(0, start - 12):start]}[{text[start:end]}]{text[end:end + 12]}…".replace("\n", "⏎"))
    print(f"{count} differing spans", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="writing-time check of inline-marked items")
    c.add_argument("files", nargs="+", type=Path)
    c.add_argument("--sources", type=Path, help="folder of <id>.txt source texts (outside the repository)")
    s = sub.add_parser("strip", help="plain text of every item, for a second pass")
    s.add_argument("out", type=Path)
    s.add_argument("files", nargs="+", type=Path)
    m = sub.add_parser("sample", help="the second-pass sample, stripped of marks")
    m.add_argument("out_dir", type=Path)
    m.add_argument("--parts", type=int, default=2)
    m.add_argument("--name", default="pass2", help="file name stem of the parts (default: %(default)s)")
    m.add_argument("files", nargs="+", type=Path)
    d = sub.add_parser("disagreements", help="spans the two passes differ on, in context")
    d.add_argument("first", type=Path)
    d.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    if args.command == "disagreements":
        return disagreements(args.first, args.second)
    if args.command == "sample":
        return sample(args.out_dir, args.parts, args.files, args.name)
    if args.command == "check":
        return check(args.files, args.sources)
    return strip(args.out, args.files)


if __name__ == "__main__":
    sys.exit(main())
