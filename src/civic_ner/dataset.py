"""The corpus as a 🤗 ``DatasetDict`` with typed columns and cached feature columns.

``data/{train,dev,test,synthetic}.jsonl`` (written by ``civic-ner corpus build``) are loaded with
``load_dataset("json")``; the span labels become a ``ClassLabel``; the per-character feature groups
of :mod:`civic_ner.features` are added by ``Dataset.map`` and cached on disk (under
``$CIVIC_NER_CACHE/datasets``), keyed by the data and by a signature of the feature code, so a
cross-validation computes LAC once and a change to the features recomputes them. Prediction runs
new texts through the same ``map`` function (in memory), so features never differ between training
and prediction.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from .corpus import Record
from .features import FEATURE_GROUPS, FEATURES_VERSION, char_features
from .types import LABELS, Span
from .errors import CivicNerError

SPLIT_NAMES = ("train", "dev", "test", "synthetic", "grounded", "province_test")


class DataError(CivicNerError, ValueError):
    """Training data that cannot be used (missing or empty split, bad JSON, unknown label)."""


def check_rows(path: Path) -> str:
    """Validate a split file before 🤗 datasets sees it (its errors are tracebacks, ours are one line
    naming the file and the section); returns the file's hash, part of the cache key."""
    from . import fileio

    data = path.read_bytes()
    try:
        rows = fileio.read_jsonl(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(str(exc) if isinstance(exc, ValueError) else f"{path}: not UTF-8 text") from None
    for number, row in enumerate(rows, 1):
        where = f"{path}: line {number}"
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "id" not in row:
            raise DataError(f"{where}: expected an object with id and text")
        where = f"{path}: section {row['id']}"
        spans = row.get("spans", [])
        if not isinstance(spans, list):
            raise DataError(f"{where}: spans must be a list")
        for span in spans:
            if not isinstance(span, dict) or span.get("label") not in LABELS:
                label = span.get("label") if isinstance(span, dict) else span
                raise DataError(f"{where}: unknown label {label!r} (known: {', '.join(LABELS)})")
            start, end = span.get("start"), span.get("end")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(row["text"])):
                raise DataError(f"{where}: span {span} is outside the text")
    return hashlib.sha256(data).hexdigest()


def span_feature():
    from datasets import ClassLabel, List, Value

    return List({"start": Value("int32"), "end": Value("int32"), "label": ClassLabel(names=list(LABELS))})


@lru_cache(maxsize=1)
def features_signature() -> str:
    """Changes whenever the feature code changes (it takes part in the map cache key)."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256(str(FEATURES_VERSION).encode())
    for name in ("features.py", "rules.py", "lac.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


def add_features(batch: dict[str, list[Any]], signature: str = "") -> dict[str, list[Any]]:
    """``Dataset.map`` function (batched): one string list per feature group and text."""
    rows = char_features(batch["text"])
    return {group: [row[group] for row in rows] for group in FEATURE_GROUPS}


def _quiet() -> None:
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()


def base_features():
    from datasets import Features, Value

    # meta (province, topic, ...) travels as one JSON string: its keys differ between corpora
    return Features({"id": Value("string"), "text": Value("string"), "source": Value("string"), "meta": Value("string"),
                     "spans": span_feature()})


def _rows(path: str, digest: str):
    """Generator for ``Dataset.from_generator``; ``digest`` (the file's hash) is part of the cache key."""
    from . import fileio

    for obj in fileio.read_jsonl(path):
        yield {
            "id": str(obj["id"]), "text": str(obj["text"]), "source": str(obj.get("source", "")),
            "meta": json.dumps(obj.get("meta") or {}, ensure_ascii=False, sort_keys=True),
            "spans": [{"start": int(s["start"]), "end": int(s["end"]), "label": str(s["label"])} for s in obj.get("spans", [])],
        }


def load_corpus(data_dir: str | Path, splits: Sequence[str] = SPLIT_NAMES, cache_dir: str | Path | None = None):
    """The splits of ``data_dir`` that exist and are not empty, as a DatasetDict with feature columns."""
    from datasets import Dataset, DatasetDict

    from .encoder import default_cache_dir

    _quiet()
    cache = str(Path(cache_dir) if cache_dir else default_cache_dir() / "datasets")
    corpus = {}
    for split in splits:
        path = Path(data_dir) / f"{split}.jsonl"
        if not path.exists():
            continue
        if not path.read_bytes().strip():
            continue
        digest = check_rows(path)
        corpus[split] = Dataset.from_generator(
            _rows, features=base_features(), gen_kwargs={"path": str(path), "digest": digest}, cache_dir=cache
        )
    if not corpus:
        raise FileNotFoundError(f"{data_dir}: no {'/'.join(splits)} .jsonl files with sections")
    return DatasetDict(corpus).map(add_features, batched=True, batch_size=64, fn_kwargs={"signature": features_signature()})


def featurize(texts: Sequence[str]) -> list[dict[str, list[str]]]:
    """Feature groups for new texts, through the same ``map`` function as the corpus (not cached)."""
    from datasets import Dataset

    _quiet()
    if not texts:
        return []
    mapped = Dataset.from_dict({"text": list(texts)}).map(
        add_features, batched=True, batch_size=64, fn_kwargs={"signature": features_signature()}
    )
    return [{g: row[g] for g in FEATURE_GROUPS} for row in mapped]


def to_examples(split) -> list[tuple[Record, dict[str, list[str]]]]:
    """(record, features) pairs of a mapped split, spans back as :class:`Span` with label names."""
    names = split.features["spans"].feature["label"].names
    out = []
    for row in split:
        spans = sorted(Span(s["start"], s["end"], names[s["label"]]) for s in row["spans"])
        meta = json.loads(row["meta"]) if row.get("meta") else {}
        out.append((Record(row["id"], row["text"], spans, row["source"], meta), {g: row[g] for g in FEATURE_GROUPS}))
    return out
