"""Reading bulletins: any encoding in, the corpus cleaning applied, one clear error per bad file.

The one reader of raw bulletins: ``predict``/``facts`` (:func:`read_input`), ``corpus sections``
(:func:`civic_ner.corpus.sections_from_raw`) and the loop's inputs (:func:`civic_ner.loop.load_sections`)
all read files through :func:`read_raw`.

* :func:`decode_bytes` turns a file's bytes into text (UTF-8 with or without BOM, UTF-16/32 with a
  BOM, GBK/GB18030 and others via charset-normalizer) and rejects empty and binary files;
* the text is cleaned exactly like the corpus (:func:`civic_ner.cleaning.clean_text`), so offsets
  of every output refer to the *cleaned* text, which is written along with the entities.
"""
from __future__ import annotations

import codecs
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from .cleaning import clean_text
from .errors import CivicNerError


class InputError(CivicNerError, ValueError):
    """An input file that cannot be read as a bulletin (empty, binary, undecodable, missing)."""


# ---------------------------------------------------------------- reading


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_GB_FAMILY = {"gb2312", "gbk", "gb18030", "hz", "euc_cn", "cp936"}


def _control_share(text: str) -> float:
    bad = sum(1 for ch in text if (ch < " " and ch not in "\n\r\t\f\v") or ch == "\ufffd")
    return bad / max(len(text), 1)


def decode_bytes(data: bytes) -> tuple[str, str]:
    """(text, encoding) of a bulletin's bytes; raise :class:`InputError` for empty or binary data."""
    if not data.strip():
        raise InputError("empty file")
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as exc:
                raise InputError(f"starts with a {encoding} byte-order mark but does not decode ({exc.reason})") from None
    if b"\x00" in data:
        raise InputError("binary file (contains NUL bytes; UTF-16 text needs a byte-order mark)")
    try:
        text, encoding = data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is None or best.encoding is None:
            raise InputError("cannot detect the text encoding (binary file?)") from None
        encoding = best.encoding
        if encoding.replace("-", "_").lower() in _GB_FAMILY:
            encoding = "gb18030"  # superset of GB2312/GBK: never fails where they would succeed
        try:
            text = data.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            text = str(best)
    if _control_share(text) > 0.01:
        raise InputError(f"binary file (control characters after decoding as {encoding})")
    return text, encoding


def read_raw(path: str | Path, empty_ok: bool = False) -> str:
    """The text of one bulletin file of any supported encoding, not yet cleaned (``""`` for an empty
    file with ``empty_ok``); the :class:`InputError` does not name the file (callers add it)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file") from None
    except IsADirectoryError:
        raise InputError("is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})") from None
    if empty_ok and not data.strip():
        return ""
    return decode_bytes(data)[0]


def read_named(path: str | Path, empty_ok: bool = False) -> str:
    """:func:`read_raw`, its error line naming the file."""
    try:
        return read_raw(path, empty_ok)
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None


def read_bulletin(path: str | Path) -> str:
    """Read one bulletin file of any supported encoding and clean it like the corpus."""
    return clean_bulletin(read_raw(path))


def clean_bulletin(data: bytes | str) -> str:
    text = decode_bytes(data)[0] if isinstance(data, bytes) else data
    cleaned = clean_text(text)
    if not cleaned.strip():
        raise InputError("no text left after cleaning (only page chrome or blank lines)")
    return cleaned


@dataclass
class Input:
    """One input to read: a file path, or ``-`` (stdin)."""

    source: str
    path: Path | None = None  # None: standard input


def expand_inputs(names: Sequence[str]) -> tuple[list[Input], list[tuple[str, str]]]:
    """Files, directories (``*.txt`` recursively, sorted) and ``-`` -> (inputs, [(name, error)])."""
    inputs: list[Input] = []
    errors: list[tuple[str, str]] = []
    stdin_seen = False
    for name in names:
        if name == "-":
            if stdin_seen:
                errors.append((name, "standard input given more than once"))
            else:
                inputs.append(Input("<stdin>"))
                stdin_seen = True
            continue
        path = Path(name)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*.txt") if p.is_file())
            if not files:
                errors.append((name, "directory holds no *.txt files"))
            inputs.extend(Input(str(p), p) for p in files)
        elif path.exists():
            inputs.append(Input(str(path), path))
        else:
            errors.append((name, "no such file or directory"))
    return inputs, errors


def read_input(item: Input, stdin: IO[bytes] | None = None) -> str:
    """The cleaned text of one input (a file, or standard input)."""
    if item.path is None:
        stream = stdin if stdin is not None else sys.stdin.buffer
        return clean_bulletin(stream.read())
    return read_bulletin(item.path)
