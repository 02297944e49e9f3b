"""The relation layer of the grounded corpus (issue 19): annotation batches, agreement, merge.

Annotators see each item with its adjudicated entities as numbered marks ``[E<n>|LABEL|surface]``
(E<n> = the n-th span in sorted order, which is also the region id s<n> of annotations/grounded.json)
and write ``relation E<from> E<to>   # why`` lines (annotations/GUIDELINES.md, "Relations").

  python scripts/relations_grounded.py sections      # batches for pass 1 (by province) and pass 2 (a sample)
  python scripts/relations_grounded.py check          # every pass file: ids, types, directions
  python scripts/relations_grounded.py agreement      # pass 1 vs pass 2 on the shared items, per type
  python scripts/relations_grounded.py disagreements  # the differing relations, for adjudication (TSV)
  python scripts/relations_grounded.py merge          # pass 1 + edits.tsv -> relations in grounded.json

Run ``merge`` after scripts/adjudicate_grounded.py (which rewrites grounded.json without relations),
then ``civic-ner split`` to carry the relations into data/grounded.jsonl and data/province_test.jsonl.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from civic_ner import corpus, fileio
from civic_ner.inline import RELATION_LINE_RE, read_blocks, write_blocks
from civic_ner.relations import RELATION_TYPES, Relation, allowed, repeat_roots

ROOT = Path(__file__).resolve().parents[1]
GROUNDED = ROOT / "annotations" / "grounded.json"
WORK = ROOT / "annotations" / "grounded" / "relations"
EDITS = "edits*.tsv"
"""Adjudication (edits.tsv: the pass-2 disagreements) and consistency review (edits-review-*.tsv)."""
PASS1_BATCHES = 5
PASS2_BATCHES = 2
PASS2_SHARE = 0.21


def marked(text: str, spans) -> str:
    """The item's text with every entity as ``[E<n>|LABEL|surface]``."""
    out, cursor = [], 0
    for n, span in enumerate(spans):
        out.append(text[cursor:span.start])
        out.append(f"[E{n}|{span.label}|{text[span.start:span.end]}]")
        cursor = span.end
    out.append(text[cursor:])
    return "".join(out)


def write_sections(records) -> None:
    """Pass-1 batches hold whole provinces, balanced by entity count; pass 2 gets a seeded sample
    (≥ 20 % of the items, every province represented) split in two."""
    by_province: dict[str, list] = defaultdict(list)
    for r in records:
        by_province[r.meta["province"]].append(r)
    loads = [0] * PASS1_BATCHES
    batches: list[list] = [[] for _ in range(PASS1_BATCHES)]
    for province in sorted(by_province, key=lambda p: -sum(len(r.spans) for r in by_province[p])):
        k = loads.index(min(loads))
        batches[k] += by_province[province]
        loads[k] += sum(len(r.spans) for r in by_province[province])
    rng = random.Random(19)
    sample = []
    for province in sorted(by_province):
        items = sorted(by_province[province], key=lambda r: r.id)
        sample += rng.sample(items, max(2, round(PASS2_SHARE * len(items))))
    sample.sort(key=lambda r: r.id)
    (WORK / "sections").mkdir(parents=True, exist_ok=True)
    for k, batch in enumerate(batches, 1):
        write_blocks(WORK / "sections" / f"rel-{k}.md", {r.id: marked(r.text, r.spans) for r in batch})
    for k in range(PASS2_BATCHES):
        part = sample[k::PASS2_BATCHES]
        write_blocks(WORK / "sections" / f"p2-{k + 1}.md", {r.id: marked(r.text, r.spans) for r in part})
    print(f"pass 1: {[len(b) for b in batches]} items ({loads} entities); pass 2: {len(sample)} items "
          f"({len(sample) / len(records):.0%})")


def read_pass(path: Path, records: dict) -> tuple[dict[str, set[Relation]], list[str]]:
    """Relations of one pass file by item id, and every problem named (file, item, line)."""
    out: dict[str, set[Relation]] = {}
    problems = []
    for sid, body in read_blocks(path).items():
        if sid not in records:
            problems.append(f"{path.name}: {sid}: not an item of {GROUNDED.name}")
            continue
        spans = records[sid].spans
        found: set[Relation] = set()
        for line in body.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = RELATION_LINE_RE.match(line.strip())
            if not m:
                problems.append(f"{path.name}: {sid}: cannot read {line!r} (want: relation E<from> E<to>)")
                continue
            label, a, b = m.group(1), int(m.group(2)), int(m.group(3))
            if label not in RELATION_TYPES or a >= len(spans) or b >= len(spans) or a == b:
                problems.append(f"{path.name}: {sid}: {line.strip()!r}: unknown relation or entity id")
                continue
            if not allowed(label, spans[a].label, spans[b].label):
                problems.append(f"{path.name}: {sid}: {label} cannot link {spans[a].label} E{a} to {spans[b].label} E{b}")
                continue
            found.add(Relation(a, b, label))
        out[sid] = found
    return out, problems


def read_passes(pass_dir: Path, records: dict) -> tuple[dict[str, set[Relation]], list[str]]:
    """Every pass file of a folder, each item's same_as links in their canonical form."""
    merged: dict[str, set[Relation]] = {}
    problems: list[str] = []
    for path in sorted(pass_dir.glob("*.md")):
        found, bad = read_pass(path, records)
        merged.update({sid: canonical_repeats(rels) for sid, rels in found.items()})
        problems += bad
    return merged, problems


def canonical_repeats(relations: set[Relation]) -> set[Relation]:
    """same_as is an equivalence (one figure mentioned again): every group of mentions linked by
    same_as is written as links from each later mention to the first one (annotators wrote chains
    to the nearest earlier mention or stars to the first; both mean the same)."""
    repeats = {Relation(k, first, "same_as") for k, first in repeat_roots(relations).items() if first != k}
    return {r for r in relations if r.label != "same_as"} | repeats


def read_edits(path: Path) -> list[tuple[str, str, Relation, str]]:
    """``item<TAB>add|drop<TAB>relation E<a> E<b><TAB>reason`` rows of the adjudication."""
    rows = []
    if not path.exists():
        return rows
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        m = RELATION_LINE_RE.match(parts[2].strip()) if len(parts) >= 4 else None
        if not m or parts[1] not in ("add", "drop"):
            raise SystemExit(f"{path}:{n}: want item<TAB>add|drop<TAB>relation E<a> E<b><TAB>reason")
        rows.append((parts[0], parts[1], Relation(int(m.group(2)), int(m.group(3)), m.group(1)), parts[3]))
    return rows


def agreement(first: dict, second: dict) -> dict:
    """Per-type and micro F1 between two passes on the items both annotated."""
    shared = sorted(set(first) & set(second))
    counts = {t: Counter() for t in [*RELATION_TYPES, "micro"]}
    for sid in shared:
        for rel in first[sid] | second[sid]:
            key = "both" if rel in first[sid] and rel in second[sid] else ("first" if rel in first[sid] else "second")
            for t in (rel.label, "micro"):
                counts[t][key] += 1
    table = {}
    for t, c in counts.items():
        a, b = c["both"] + c["first"], c["both"] + c["second"]
        table[t] = {"pass1": a, "pass2": b, "both": c["both"], "f1": round(2 * c["both"] / (a + b), 3) if a + b else None}
    return {"items": len(shared), "per_type": table}


def write_disagreements(records: dict, first: dict, second: dict, target: Path) -> None:
    """One row per relation only one pass has: item, which pass, the relation, both surfaces, and the
    sentence(s) around them (our own written text, never a source page)."""
    rows = ["item\tpass\trelation\tsource\ttarget\tcontext"]
    for sid in sorted(set(first) & set(second)):
        r = records[sid]
        for rel in sorted(first[sid] ^ second[sid]):
            a, b = r.spans[rel.source], r.spans[rel.target]
            lo, hi = min(a.start, b.start), max(a.end, b.end)
            context = r.text[max(0, lo - 30):hi + 20].replace("\n", "⏎").replace("\t", " ")
            who = "pass1" if rel in first[sid] else "pass2"
            rows.append(f"{sid}\t{who}\t{rel.label} E{rel.source} E{rel.target}\t"
                        f"{r.text[a.start:a.end]}\t{r.text[b.start:b.end]}\t{context}")
    target.write_text("\n".join(rows) + "\n", encoding="utf-8")
    print(f"{len(rows) - 1} differing relations -> {target.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["sections", "check", "agreement", "disagreements", "merge"])
    args = p.parse_args(argv)
    records = corpus.load_annotations(GROUNDED)
    by_id = {r.id: r for r in records}
    if args.command == "sections":
        write_sections(records)
        return 0
    first, problems1 = read_passes(WORK / "pass1", by_id)
    second, problems2 = read_passes(WORK / "pass2", by_id)
    if args.command == "check":
        for problem in problems1 + problems2:
            print(problem)
        missing = [r.id for r in records if r.id not in first]
        print(f"pass 1: {sum(map(len, first.values()))} relations in {len(first)} items ({len(missing)} missing); "
              f"pass 2: {sum(map(len, second.values()))} in {len(second)}; {len(problems1 + problems2)} problems")
        return 1 if problems1 or problems2 else 0
    if problems1 or problems2:
        raise SystemExit("\n".join(problems1 + problems2))
    if args.command == "disagreements":
        write_disagreements(by_id, first, second, WORK / "disagreements.tsv")
        return 0
    if args.command == "agreement":
        result = agreement(first, second)
        (WORK / "agreement.json").write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        for t, row in result["per_type"].items():
            print(f"{t:10} {row}")
        return 0
    return merge(records, first)


def gold_relations(records, first: dict) -> dict[str, set[Relation]]:
    """Pass 1 with every edits file applied in name order, same_as in canonical form."""
    missing = [r.id for r in records if r.id not in first]
    if missing:
        raise SystemExit(f"pass 1 lacks {len(missing)} items, e.g. {missing[:3]}")
    gold = {sid: set(rels) for sid, rels in first.items()}
    spans_of = {r.id: r.spans for r in records}
    for path in sorted(WORK.glob(EDITS)):
        for sid, action, rel, _reason in read_edits(path):
            if sid not in gold:
                raise SystemExit(f"{path.name}: {sid}: not an item")
            spans = spans_of[sid]
            if (rel.source >= len(spans) or rel.target >= len(spans) or rel.source == rel.target
                    or not allowed(rel.label, spans[rel.source].label, spans[rel.target].label)):
                raise SystemExit(f"{path.name}: {sid}: {rel.label} E{rel.source} E{rel.target}: not an allowed pair of entities")
            if action == "add":
                gold[sid].add(rel)
            elif rel not in gold[sid]:
                raise SystemExit(f"{path.name}: {sid}: drop {rel} which pass 1 does not have")
            else:
                gold[sid].discard(rel)
    return {sid: canonical_repeats(rels) for sid, rels in gold.items()}


def merge(records, first: dict) -> int:
    gold = gold_relations(records, first)
    for r in records:
        r.relations = sorted(gold[r.id])
    check = GROUNDED.with_suffix(".check.json")  # validated before it replaces the committed file
    corpus.save_tasks(check, records)
    try:
        corpus.load_grounded(check, [])  # relation ends, types and part_of cycles
    finally:
        validated = check.read_bytes()
        check.unlink()
    fileio.write_text(GROUNDED, validated.decode("utf-8"))  # atomic replace
    counts = Counter(rel.label for rels in gold.values() for rel in rels)
    print(f"{sum(counts.values())} relations ({dict(counts)}) in {len(records)} items -> {GROUNDED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
