"""The shards of a corpus-scale run (``civic-ner predict --engine ray``): how inputs are cut, read and written.

A run is planned in the driver from cheap metadata only (file names, sizes and times, JSONL line
offsets, Parquet row groups), so that the workers, not the driver, read the text. Each shard is
``--shard-docs`` documents of one input and is written as one file, atomically, named
``part-<index>-<key>``; the key is a hash of the model version and of the name, size and
modification time (and line or row range) of every input the shard covers. A rerun with the same
inputs and model finds the file and skips the shard; a changed input or another model gives a new
name, so nothing stale is reused. Kept free of Ray so that it is tested and read on its own.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CivicNerError
from .reading import InputError, clean_bulletin, expand_inputs, read_bulletin

FORMATS = ("parquet", "jsonl")
DEFAULT_SHARD_DOCS = 64


class ScaleError(CivicNerError, ValueError):
    """A corpus-scale run that cannot start: Ray missing, an unusable input, a bad setting."""


@dataclass(frozen=True)
class Shard:
    """One unit of work and of output. ``items``: the .txt paths (kind ``txt``), ``[byte offset, first line
    number, lines]`` (``jsonl``) or ``[first row, row group, ...]`` (``parquet``) of ``path``."""

    name: str
    kind: str
    path: str
    items: tuple
    root: str = ""  # the driver's working directory: paths stay as the user gave them (they name the
    # documents), an actor whose working directory differs resolves them against it

    def file(self, fmt: str) -> str:
        return f"{self.name}.{fmt}"

    def locate(self, path: str) -> str:
        return os.path.join(self.root, path) if self.root else path

    def row(self) -> dict[str, str]:
        """Flat, for a Ray Data row (lists travel as JSON)."""
        return {"name": self.name, "kind": self.kind, "path": self.path, "root": self.root,
                "items": json.dumps(list(self.items), ensure_ascii=False)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Shard":
        return cls(str(row["name"]), str(row["kind"]), str(row["path"]), tuple(json.loads(str(row["items"]))), str(row["root"]))


# ---------------------------------------------------------------- planning (driver)


def _stamp(path: Path) -> str:
    stat = path.stat()
    return f"{path}|{stat.st_size}|{stat.st_mtime_ns}"


def _key(version: str, kind: str, members: Sequence[str]) -> str:
    digest = hashlib.sha256(f"{version}|{kind}".encode())
    for member in members:
        digest.update(b"\0" + member.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()[:12]


def _txt_units(folder: str, shard_docs: int) -> list[tuple[str, str, tuple, list[str]]]:
    inputs, errors = expand_inputs([folder])
    if errors:
        name, message = errors[0]
        raise ScaleError(f"{name}: {message}")
    paths = [str(item.path) for item in inputs]
    return [("txt", folder, tuple(chunk), [_stamp(Path(p)) for p in chunk])
            for chunk in (paths[i : i + shard_docs] for i in range(0, len(paths), shard_docs))]


def _jsonl_units(path: Path, shard_docs: int) -> list[tuple[str, str, tuple, list[str]]]:
    """Shards of ``shard_docs`` lines, located by byte offset (a worker seeks, never rescans the file)."""
    units = []
    stamp = _stamp(path)
    offset, line, start, first = 0, 0, 0, 1
    with open(path, "rb") as handle:
        for raw in handle:
            line += 1
            offset += len(raw)
            if line - first + 1 == shard_docs:
                units.append(("jsonl", str(path), (start, first, shard_docs), [f"{stamp}|{start}|{shard_docs}"]))
                start, first = offset, line + 1
    if line >= first:
        units.append(("jsonl", str(path), (start, first, line - first + 1), [f"{stamp}|{start}|{line - first + 1}"]))
    return units


def _parquet_units(path: Path, shard_docs: int) -> list[tuple[str, str, tuple, list[str]]]:
    """Shards of whole row groups, at least ``shard_docs`` rows each (row groups are Parquet's unit of reading)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise ScaleError(f"{path}: not a readable Parquet file ({exc})") from None
    names = meta.schema.to_arrow_schema().names
    if "text" not in names:
        raise ScaleError(f"{path}: no 'text' column (columns: {', '.join(names)})")
    units, groups, rows, first = [], [], 0, 0
    stamp = _stamp(path)
    for g in range(meta.num_row_groups):
        groups.append(g)
        rows += meta.row_group(g).num_rows
        if rows >= shard_docs or g == meta.num_row_groups - 1:
            units.append(("parquet", str(path), (first, *groups), [f"{stamp}|{first}|{groups}"]))
            first, groups, rows = first + rows, [], 0
    return units


def plan_shards(inputs: Sequence[str], version: str, shard_docs: int = DEFAULT_SHARD_DOCS) -> list[Shard]:
    """The shards of every input, in order: a folder (``*.txt``, recursively), a ``.jsonl`` or a ``.parquet`` file."""
    if shard_docs < 1:
        raise ScaleError(f"--shard-docs must be at least 1, not {shard_docs}")
    units = []
    for name in inputs:
        path = Path(name)
        if path.is_dir():
            units += _txt_units(name, shard_docs)
        elif not path.is_file():
            raise ScaleError(f"{name}: no such file or directory")
        elif path.suffix.lower() in (".jsonl", ".json"):
            units += _jsonl_units(path, shard_docs)
        elif path.suffix.lower() == ".parquet":
            units += _parquet_units(path, shard_docs)
        else:
            raise ScaleError(f"{name}: the ray engine reads a folder of .txt, a .jsonl or a .parquet file")
    return [Shard(f"part-{i:05d}-{_key(version, kind, members)}", kind, where, items, os.getcwd())
            for i, (kind, where, items, members) in enumerate(units)]


# ---------------------------------------------------------------- reading (worker)


@dataclass
class Document:
    id: str
    source: str
    text: str | None  # cleaned; None when the input failed
    error: str | None = None


def _from_text(id_: str, source: str, where: str, text: Any) -> Document:
    if not isinstance(text, str):
        return Document(id_, source, None, f"{where}: expected a 'text' string")
    try:
        return Document(id_, source, clean_bulletin(text))
    except InputError as exc:
        return Document(id_, source, None, f"{where}: {exc}")


def _jsonl_documents(shard: Shard) -> Iterator[Document]:
    start, first, lines = shard.items
    with open(shard.locate(shard.path), "rb") as handle:
        handle.seek(start)
        for number in range(first, first + lines):
            raw = handle.readline()
            if not raw.strip():
                continue
            where = f"{shard.path}: line {number}"
            try:
                obj = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as exc:
                yield Document(f"{shard.path}:{number}", shard.path, None, f"{where}: not a JSON line ({exc})")
                continue
            if not isinstance(obj, dict):
                yield Document(f"{shard.path}:{number}", shard.path, None, f"{where}: expected an object with a 'text' string")
                continue
            yield _from_text(str(obj.get("id", f"{shard.path}:{number}")), shard.path, where, obj.get("text"))


def _parquet_documents(shard: Shard) -> Iterator[Document]:
    import pyarrow.parquet as pq

    first, *groups = shard.items
    handle = pq.ParquetFile(shard.locate(shard.path))
    columns = [c for c in ("id", "text") if c in handle.schema_arrow.names]
    table = handle.read_row_groups(groups, columns=columns)
    ids = table.column("id").to_pylist() if "id" in columns else [None] * table.num_rows
    for k, (id_, text) in enumerate(zip(ids, table.column("text").to_pylist())):
        row = first + k
        yield _from_text(str(id_) if id_ is not None else f"{shard.path}:{row}", shard.path, f"{shard.path}: row {row}", text)


def shard_documents(shard: Shard) -> Iterator[Document]:
    """The documents of a shard, cleaned like every input (:mod:`civic_ner.reading`); a bad one carries its error."""
    if shard.kind == "txt":
        for path in shard.items:
            try:
                yield Document(path, path, read_bulletin(shard.locate(path)))
            except InputError as exc:
                yield Document(path, path, None, f"{path}: {exc}")
    elif shard.kind == "jsonl":
        yield from _jsonl_documents(shard)
    elif shard.kind == "parquet":
        yield from _parquet_documents(shard)
    else:
        raise ValueError(f"unknown shard kind {shard.kind!r}")


# ---------------------------------------------------------------- writing (worker)


def _schema():
    import pyarrow as pa

    value = pa.struct([("yuan", pa.float64()), ("currency", pa.string()), ("value", pa.int64()), ("unit", pa.string()),
                       ("approximate", pa.bool_()), ("upper", pa.float64())])
    entity = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string()), ("text", pa.string()),
                        ("score", pa.float64()), ("value", value)])
    end = pa.struct([("start", pa.int32()), ("end", pa.int32()), ("label", pa.string()), ("text", pa.string())])
    fact = pa.struct([("relation", pa.string()), ("from", end), ("to", end), ("sentence", pa.string()),
                      ("sentence_start", pa.int32()), ("sentence_end", pa.int32())])
    return pa.schema([("id", pa.string()), ("source", pa.string()), ("text", pa.string()), ("entities", pa.list_(entity)),
                      ("facts", pa.list_(fact)), ("error", pa.string())])


def document_row(document: Document, doc=None) -> dict[str, Any]:
    """One output row: the cleaned text, its entities (MONEY/COUNT with their ``value``) and facts, or the error."""
    if doc is None:
        return {"id": document.id, "source": document.source, "text": document.text, "entities": [], "facts": [],
                "error": document.error}
    return {"id": document.id, "source": document.source, "text": doc.text,
            "entities": [e.to_json() for e in doc.entities], "facts": [f.to_json(doc.text) for f in doc.facts], "error": None}


def write_shard(rows: list[dict[str, Any]], target: Path, fmt: str) -> None:
    """All rows of a shard into one file, atomically: a file that exists is a finished shard."""
    from .fileio import atomic_path

    with atomic_path(target) as tmp:
        if fmt == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), tmp)
        else:
            with open(tmp, "w", encoding="utf-8") as out:
                for row in rows:
                    out.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_shard_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of one output shard (either format), for tests and for checking a run."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def stale_files(out_dir: Path, shards: Sequence[Shard], fmt: str) -> list[str]:
    """Shard files in ``out_dir`` that this plan does not name (older inputs or model): reported, never removed."""
    wanted = {s.file(fmt) for s in shards}
    return sorted(p.name for p in out_dir.glob(f"part-*.{fmt}") if p.name not in wanted)


def cpu_threads(cpus_per_worker: float) -> int:
    """Torch threads for an actor: its CPU share (else every actor would use every core of the node)."""
    return max(1, int(round(cpus_per_worker))) if cpus_per_worker else max(1, os.cpu_count() or 1)
