"""Adjudicated grounded gold = the writers' pass + the edits of ``annotations/grounded/edits*.tsv``.

Each edit row (``annotations/grounded/edits*.tsv``, tab-separated with a header line) is a decision of
annotations/GUIDELINES.md applied to one item: ``item  action  label  surface  argument  why`` with action ``drop``
(every occurrence of surface), ``reshape`` (argument = the new surface) or ``add`` (argument = the
n-th occurrence, 0 for every free one).

Reads annotations/grounded/work/pass1/batch-*.md, writes annotations/grounded/work/gold/*.md (inline
marks, for review) and annotations/grounded.json (Label Studio tasks, data.grounded: true, with
province, topic, form, writer and the source URL, never the source text).

usage: python scripts/adjudicate_grounded.py
"""
import csv
import sys
from pathlib import Path

from civic_ner import corpus

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "annotations" / "grounded" / "work"
EDITS = sorted((ROOT / "annotations" / "grounded").glob("edits*.tsv"))
"""edits-pass2.tsv (second-pass disagreements), edits-consistency.tsv (the same string labelled
differently across items), ... : read in name order."""
sys.path.insert(0, str(ROOT / "scripts"))
from adjudicate_synthetic import adjudicate_batches  # noqa: E402


def read_edits(paths: list[Path]) -> tuple[list, list, list]:
    drop, reshape, add = [], [], []
    for path in paths:
        _read_edit_file(path, drop, reshape, add)
    return drop, reshape, add


def _read_edit_file(path: Path, drop: list, reshape: list, add: list) -> None:
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader((line for line in handle if not line.startswith("#")), delimiter="\t"):
            item, action, label, surface, argument = (row[k].strip() for k in ("item", "action", "label", "surface", "argument"))
            if action == "drop":
                drop.append((item, surface, label))
            elif action == "reshape":
                reshape.append((item, surface, argument, label))
            elif action == "add":
                add.append((item, surface, label, int(argument or 0)))
            else:
                raise SystemExit(f"{path}: unknown action {action!r} for {item}")


def main() -> None:
    records, log = adjudicate_batches(WORK, "grounded", lambda attrs: {
        "grounded": True, "province": attrs.get("province", ""), "topic": attrs.get("topic", ""),
        "form": attrs.get("form", ""), "writer": attrs.get("writer", ""), "source_url": attrs.get("source", ""),
    }, read_edits(EDITS), keep_header=True)
    target = ROOT / "annotations" / "grounded.json"
    corpus.save_tasks(target, records)
    corpus.load_grounded(target, [])  # validate what we wrote: provinces, URLs, held-out pages
    print("\n".join(log))
    print(f"{len(records)} grounded items -> {target.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
