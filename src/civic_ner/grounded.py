"""The grounded corpus: items we wrote from the facts of real bulletins, one province each.

Why a module: the writing-time check (``scripts/grounded.py``), the corpus build and the tests must
agree on what an item header holds, which provinces exist and which source pages are held out for
evaluation outside the project (``../shared/heldout``, when present).
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from .places import PROVINCES

SEED_PROVINCE = "山东"
TEST_PROVINCES = ("黑龙江", "天津", "江苏", "河南", "广东", "贵州", "陕西", "新疆")
"""Held out whole: no training split, dev or recipe choice reads text of these provinces (the old
synthetic items of these provinces are dropped at build). Eight regions of every part of China,
none the seeds' province; their items were written by other writers from pages no training item uses."""
FORMS = ("portal", "newspaper", "wechat", "epaper", "gov", "repost")
REQUIRED = ("province", "topic", "form", "source", "writer")
MIN_CHARS, MAX_CHARS = 200, 900

HEAD_RE = re.compile(r"^### (\S+)((?: +\w+=\S+)*) *\n", re.MULTILINE)


def read_items(path: str | Path) -> list[tuple[str, dict[str, str], str]]:
    """(id, header attributes, marked body) of every ``### id key=value ...`` block of a file."""
    content = Path(path).read_text(encoding="utf-8")
    heads = list(HEAD_RE.finditer(content))
    items = []
    for head, nxt in zip(heads, heads[1:] + [None]):
        body = content[head.end() : nxt.start() if nxt else len(content)].strip("\n")
        attrs = dict(pair.split("=", 1) for pair in head.group(2).split())
        items.append((head.group(1), attrs, body))
    return items


def item_problems(attrs: dict[str, str], text: str) -> list[str]:
    """What is wrong with one item's header and length (empty when nothing is)."""
    problems = [f"header lacks {key}=" for key in REQUIRED if key not in attrs]
    province = attrs.get("province")
    if province is not None and province not in PROVINCES:
        problems.append(f"unknown province {province!r} (one of {', '.join(PROVINCES)})")
    if attrs.get("form") is not None and attrs["form"] not in FORMS:
        problems.append(f"unknown form {attrs['form']!r} (one of {', '.join(FORMS)})")
    source = attrs.get("source", "")
    if source and not source.startswith(("http://", "https://")):
        problems.append(f"source {source!r} is not a URL")
    elif source and held_out_reason(url=source):
        problems.append(f"source {source} is a page held out for evaluation outside the project")
    if not MIN_CHARS <= len(text) <= MAX_CHARS:
        problems.append(f"{len(text)} characters (want {MIN_CHARS}-{MAX_CHARS})")
    return problems


def heldout_dir() -> Path | None:
    """``$CIVIC_NER_HELDOUT`` or ``../shared/heldout`` beside the checkout; None outside this workplace."""
    configured = os.environ.get("CIVIC_NER_HELDOUT")
    path = Path(configured) if configured else Path(__file__).resolve().parents[3] / "shared" / "heldout"
    return path if (path / "sources.sha256").is_file() else None


def _hash_lines(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    lines = path.read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def held_out_reason(url: str | None = None, text: str | None = None, directory: Path | None = None) -> str | None:
    """Why a page is held out for evaluation (its URL is listed, or its text is a repost), or None.

    Same rule as ``shared/heldout/check.py``: a listed URL hash, or 25+ shared 16-character runs."""
    directory = directory or heldout_dir()
    if directory is None:
        return None
    if url and hashlib.sha256(url.strip().encode("utf-8")).hexdigest() in _hash_lines(directory / "sources.sha256"):
        return "its URL is held out"
    if text:
        flat = re.sub(r"\s+", "", text)
        runs = {hashlib.sha256(flat[i : i + 16].encode("utf-8")).hexdigest()[:16] for i in range(len(flat) - 15)}
        shared = len(runs & _hash_lines(directory / "shingles.txt"))
        if shared >= 25:
            return f"its text shares {shared} 16-character runs with a held-out page"
    return None
