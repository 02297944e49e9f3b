"""Run a trained model on new bulletins: read any encoding, clean, predict, normalize values, write.

This is the prediction stage end to end, shared by the ``civic-ner predict`` command and the Python
API (``civic_ner.load``):

* :func:`decode_bytes` turns a file's bytes into text (UTF-8 with or without BOM, UTF-16/32 with a
  BOM, GBK/GB18030 and others via charset-normalizer) and rejects empty and binary files;
* the text is cleaned exactly like the corpus (:func:`civic_ner.cleaning.clean_text`), so offsets
  of the output refer to the *cleaned* text, which is written along with the entities;
* :class:`NER` predicts documents in batches; very long documents are cut at paragraph breaks into
  pieces of at most :data:`PIECE_CHARS` characters (the tagger windows each piece itself), which
  keeps memory flat for a 5 MB bulletin;
* MONEY and COUNT spans get a normalized ``value`` (:func:`entity_value`; ``None`` when a predicted
  span does not parse);
* writers for JSONL, Label Studio pre-annotations, one self-contained HTML page and CSV stream one
  document at a time into a temporary file beside the output, renamed at the end.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import html
import io
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any

from .cleaning import clean_text
from .corpus import result_item
from .types import LABELS, Span
from .values import parse_count, parse_money

FORMATS = ("jsonl", "labelstudio", "html", "csv")
PIECE_CHARS = 20_000
"""Documents longer than this are predicted in paragraph-aligned pieces of at most this many characters."""
BUFFER_CHARS = 200_000
"""Characters of documents gathered before one call of the tagger (bounds memory per batch)."""
PROGRESS_MIN_FILES = 10
COLORS = {"ORG": "#4e79a7", "PROGRAM": "#59a14f", "MONEY": "#e15759", "COUNT": "#f28e2b"}
"""Label colours, the same as annotations/label_config.xml."""
LABEL_NAMES = {"ORG": "organization", "PROGRAM": "program", "MONEY": "money", "COUNT": "count"}


class InputError(ValueError):
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


def read_bulletin(path: str | Path) -> str:
    """Read one bulletin file of any supported encoding and clean it like the corpus."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("no such file") from None
    except IsADirectoryError:
        raise InputError("is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read ({exc.strerror or exc})") from None
    return clean_bulletin(data)


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


# ---------------------------------------------------------------- values, documents


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def entity_value(label: str, surface: str) -> dict[str, Any] | None:
    """Normalized value of a MONEY or COUNT surface; ``None`` for other labels or when it does not parse."""
    try:
        if label == "MONEY":
            money = parse_money(surface)
            return {
                "yuan": _number(money.yuan),
                "approximate": money.approximate,
                "currency": money.currency,
                "upper": None if money.upper is None else _number(money.upper),
            }
        if label == "COUNT":
            count = parse_count(surface)
            return {"value": count.value, "unit": count.unit, "approximate": count.approximate, "upper": count.upper}
    except (ValueError, ArithmeticError):
        return None
    return None


@dataclass(frozen=True)
class DocEntity:
    """A predicted span of a :class:`Doc`: ``doc.text[start:end] == text``."""

    start: int
    end: int
    label: str
    text: str
    score: float
    value: dict[str, Any] | None = None

    @property
    def span(self) -> Span:
        return Span(self.start, self.end, self.label)

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "text": self.text,
            "score": round(self.score, 4),
            "value": self.value,
        }


@dataclass
class Doc:
    """A cleaned document and its entities (offsets into ``text``)."""

    text: str
    entities: list[DocEntity] = field(default_factory=list)
    source: str | None = None

    @property
    def ents(self) -> list[DocEntity]:
        return self.entities

    def by_label(self, label: str) -> list[DocEntity]:
        return [e for e in self.entities if e.label == label]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "text": self.text, "entities": [e.to_json() for e in self.entities]}

    def __repr__(self) -> str:
        ents = ", ".join(f"{e.text}/{e.label}" for e in self.entities[:8])
        more = f", … {len(self.entities) - 8} more" if len(self.entities) > 8 else ""
        return f"Doc({self.text[:30]!r}{'…' if len(self.text) > 30 else ''}, [{ents}{more}])"


def split_pieces(text: str, limit: int = PIECE_CHARS) -> list[tuple[int, str]]:
    """Cut a long text at line breaks (else anywhere) into (offset, piece) of at most ``limit`` chars."""
    if len(text) <= limit:
        return [(0, text)]
    pieces: list[tuple[int, str]] = []
    start = 0
    while start < len(text):
        end = min(start + limit, len(text))
        if end < len(text):
            cut = text.rfind("\n", start + limit // 2, end)
            if cut > start:
                end = cut + 1
        pieces.append((start, text[start:end]))
        start = end
    return pieces


def model_version(model_dir: str | Path) -> str:
    """A short stable id of a model: hash of its ``civic_ner.json`` data_hash + created, else of its weights."""
    model_dir = Path(model_dir)
    try:
        meta = json.loads((model_dir / "civic_ner.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if meta.get("data_hash") and meta.get("created"):
        key = f"{meta['data_hash']}|{meta['created']}".encode()
        return hashlib.sha256(key).hexdigest()[:12]
    digest = hashlib.sha256()
    for name in ("model.safetensors", "pytorch_model.bin"):
        weights = model_dir / name
        if weights.exists():
            with open(weights, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            return digest.hexdigest()[:12]
    return "unknown"


class NER:
    """A loaded model: ``ner(text) -> Doc`` and ``ner.pipe(texts) -> Iterator[Doc]``.

    Texts are cleaned like the corpus first (``clean=True``); entity offsets refer to ``doc.text``,
    the cleaned text. Pass ``clean=False`` to tag a text exactly as given.
    """

    def __init__(self, tagger, model_dir: str | Path | None = None, clean: bool = True) -> None:
        self.tagger = tagger
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.clean = clean
        self._version: str | None = None

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = model_version(self.model_dir) if self.model_dir else "unknown"
        return self._version

    def _prepare(self, text: str) -> str:
        return clean_text(text) if self.clean else text

    def __call__(self, text: str, source: str | None = None) -> Doc:
        return next(iter(self.pipe([text], sources=[source])))

    def pipe(
        self,
        texts: Iterable[str],
        batch_size: int = 32,
        sources: Iterable[str | None] | None = None,
    ) -> Iterator[Doc]:
        """Yield one Doc per text, lazily and in order.

        Texts are gathered until about :data:`BUFFER_CHARS` characters (or ``4 * batch_size`` texts)
        are waiting, then predicted together; ``batch_size`` is the number of model windows per
        forward pass. ``sources`` (optional, same length) fill ``Doc.source``.
        """
        source_iter = iter(sources) if sources is not None else None

        def pairs() -> Iterator[tuple[str, str | None]]:
            for text in texts:
                if not isinstance(text, str):
                    raise TypeError(f"expected str, got {type(text).__name__}")
                source = next(source_iter, None) if source_iter is not None else None
                yield self._prepare(text), source

        return self._pipe(pairs(), batch_size)

    def _pipe(self, pairs: Iterable[tuple[str, str | None]], batch_size: int) -> Iterator[Doc]:
        """(text as it is to be tagged, source) -> Docs, predicting a bounded buffer at a time."""
        pending: list[tuple[str, str | None]] = []
        size = 0
        for text, source in pairs:
            pending.append((text, source))
            size += len(text)
            if size >= BUFFER_CHARS or len(pending) >= 4 * batch_size:
                yield from self._predict_docs(pending, batch_size)
                pending, size = [], 0
        if pending:
            yield from self._predict_docs(pending, batch_size)

    def _predict_docs(self, docs: list[tuple[str, str | None]], batch_size: int) -> list[Doc]:
        pieces: list[tuple[int, int, str]] = []  # (doc index, offset, piece)
        for index, (text, _) in enumerate(docs):
            pieces.extend((index, offset, piece) for offset, piece in split_pieces(text))
        out = [Doc(text, [], source) for text, source in docs]
        # predict a bounded number of characters at a time, so that one huge document stays flat
        group: list[tuple[int, int, str]] = []
        size = 0
        for item in [*pieces, None]:
            if item is not None and (not group or size + len(item[2]) <= BUFFER_CHARS):
                group.append(item)
                size += len(item[2])
                continue
            predictions = self.tagger.predict(
                [piece for _, _, piece in group], batch_size=batch_size, documents=[str(index) for index, _, _ in group]
            )
            for (index, offset, _), entities in zip(group, predictions):
                doc = out[index]
                for e in entities:
                    start, end = e.start + offset, e.end + offset
                    surface = doc.text[start:end]
                    doc.entities.append(DocEntity(start, end, e.label, surface, e.score, entity_value(e.label, surface)))
            group, size = ([item], len(item[2])) if item is not None else ([], 0)
        return out


def load(model_dir: str | Path, device: str | None = None, clean: bool = True) -> NER:
    """Load a model directory written by ``civic-ner train`` (raises ``ModelDirError`` if it is not one)."""
    from .prediction import Tagger

    return NER(Tagger.from_dir(model_dir, device=device), model_dir, clean=clean)


# ---------------------------------------------------------------- writers


class Writer:
    """Writes documents one at a time to a text stream."""

    def __init__(self, out: IO[str], model: str = "") -> None:
        self.out = out
        self.model = model
        self.count = 0

    def begin(self) -> None:
        pass

    def write(self, doc: Doc) -> None:
        raise NotImplementedError

    def end(self) -> None:
        pass


class JsonlWriter(Writer):
    def write(self, doc: Doc) -> None:
        self.out.write(json.dumps(doc.to_json(), ensure_ascii=False) + "\n")
        self.count += 1


class LabelStudioWriter(Writer):
    """A JSON list of tasks with the model's spans as ``predictions`` (pre-annotations)."""

    def begin(self) -> None:
        self.out.write("[")

    def write(self, doc: Doc) -> None:
        scores = [e.score for e in doc.entities]
        task = {
            "data": {"text": doc.text, "source": doc.source or ""},
            "predictions": [
                {
                    "model_version": self.model,
                    "score": round(sum(scores) / len(scores), 4) if scores else 0.0,
                    "result": [result_item(doc.text, e.span, i, e.score) for i, e in enumerate(doc.entities)],
                }
            ],
        }
        self.out.write(("\n" if self.count == 0 else ",\n") + json.dumps(task, ensure_ascii=False))
        self.count += 1

    def end(self) -> None:
        self.out.write("\n]\n")


CSV_COLUMNS = ("source", "label", "text", "value", "unit", "approximate", "score", "start", "end")


def _csv_safe(text: str) -> str:
    """Keep a spreadsheet from reading a cell as a formula (``=``, ``+``, ``-``, ``@`` at the start)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class CsvWriter(Writer):
    """One row per entity; MONEY value in yuan (unit: currency code), COUNT value with its measure word."""

    def begin(self) -> None:
        self.out.write("\ufeff")  # UTF-8 BOM: Excel then reads the Chinese correctly
        self.csv = csv.writer(self.out, lineterminator="\r\n")
        self.csv.writerow(CSV_COLUMNS)

    def write(self, doc: Doc) -> None:
        for e in doc.entities:
            value = unit = approximate = ""
            if e.value and e.label == "MONEY":
                value, unit, approximate = e.value["yuan"], e.value["currency"], e.value["approximate"]
            elif e.value and e.label == "COUNT":
                value, unit, approximate = e.value["value"], e.value["unit"], e.value["approximate"]
            self.csv.writerow(
                [_csv_safe(doc.source or ""), e.label, _csv_safe(e.text), value, unit,
                 "" if approximate == "" else str(approximate).lower(), f"{e.score:.4f}", e.start, e.end]
            )
        self.count += 1


def _fmt_number(x: float | int) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def summarize(doc: Doc) -> dict[str, Any]:
    """Per-document summary for the HTML page: organizations, programs, money totals, counts by unit.

    Totals add up every mention, so an amount repeated in a headline and the body is counted twice.
    """
    money: dict[str, list] = defaultdict(lambda: [0.0, False, 0])  # currency -> [total, approximate, mentions]
    counts: dict[str, list] = defaultdict(lambda: [0, False, 0])  # unit -> [total, approximate, mentions]
    unparsed: list[DocEntity] = []
    for e in doc.entities:
        if e.label not in ("MONEY", "COUNT"):
            continue
        if e.value is None:
            unparsed.append(e)
            continue
        if e.label == "MONEY":
            row, amount = money[e.value["currency"]], e.value["yuan"]
        else:
            row, amount = counts[e.value["unit"]], e.value["value"]
        row[0] += amount
        row[1] |= e.value["approximate"]
        row[2] += 1
    return {
        "ORG": Counter(e.text for e in doc.entities if e.label == "ORG"),
        "PROGRAM": Counter(e.text for e in doc.entities if e.label == "PROGRAM"),
        "money": dict(money),
        "counts": dict(counts),
        "unparsed": unparsed,
    }


_HTML_HEAD = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Source Han Sans SC", "PingFang SC", "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif;
  margin: 0; background: #f4f5f7; color: #222; line-height: 1.7; }}
header {{ background: #fff; border-bottom: 1px solid #ddd; padding: 12px 24px; position: sticky; top: 0; z-index: 2; }}
header h1 {{ font-size: 18px; margin: 0 0 4px 0; }}
header .meta {{ font-size: 12px; color: #666; }}
.legend {{ margin-top: 6px; font-size: 13px; }}
.legend span {{ display: inline-block; margin-right: 14px; }}
.legend i {{ display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -1px; margin-right: 4px; }}
main {{ max-width: 1100px; margin: 0 auto; padding: 16px 24px 40px; }}
article {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; margin: 16px 0; padding: 12px 20px; }}
article h2 {{ font-size: 15px; margin: 4px 0 8px; word-break: break-all; }}
.summary {{ border-collapse: collapse; font-size: 13px; margin-bottom: 10px; width: 100%; }}
.summary th {{ text-align: left; white-space: nowrap; vertical-align: top; padding: 3px 12px 3px 0; color: #555; width: 9em; }}
.summary td {{ padding: 3px 0; }}
.chip {{ display: inline-block; border-radius: 3px; padding: 0 5px; margin: 1px 4px 1px 0; font-size: 12px; }}
.text {{ white-space: pre-wrap; font-size: 15px; border-top: 1px solid #eee; padding-top: 8px; }}
mark {{ border-radius: 3px; padding: 1px 2px; color: inherit; }}
mark sub {{ font-size: 9px; font-weight: bold; margin-left: 2px; vertical-align: baseline; opacity: .8; }}
{label_css}
.approx {{ color: #b35c00; }}
.muted {{ color: #888; }}
footer {{ max-width: 1100px; margin: 0 auto; padding: 0 24px 24px; font-size: 12px; color: #666; }}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<div class="meta">{meta}</div>
<div class="legend">{legend}</div>
</header>
<main>
"""


def _hex_to_rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


class HtmlWriter(Writer):
    """One self-contained page (inline CSS, no scripts, no external assets) for a whole run."""

    def __init__(self, out: IO[str], model: str = "", title: str = "civic-ner predictions") -> None:
        super().__init__(out, model)
        self.title = title
        self.entities = 0

    def begin(self) -> None:
        label_css = "\n".join(
            f"mark.{label} {{ background: {_hex_to_rgba(c, 0.22)}; border-bottom: 2px solid {c}; }}\n"
            f"mark.{label} sub {{ color: {c}; }}\n.chip.{label} {{ background: {_hex_to_rgba(c, 0.18)}; }}"
            for label, c in COLORS.items()
        )
        legend = "".join(
            f'<span><i style="background:{COLORS[l]}"></i>{l} <span class="muted">{LABEL_NAMES[l]}</span></span>'
            for l in LABELS
        )
        created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        meta = f"model {html.escape(self.model)} · {created}"
        self.out.write(_HTML_HEAD.format(title=html.escape(self.title), meta=meta, legend=legend, label_css=label_css))

    def write(self, doc: Doc) -> None:
        self.count += 1
        self.entities += len(doc.entities)
        esc = html.escape
        summary = summarize(doc)
        rows = []
        for label, name in (("ORG", "Organizations"), ("PROGRAM", "Programs")):
            items = summary[label]
            cells = "".join(
                f'<span class="chip {label}">{esc(t)}{f" ×{n}" if n > 1 else ""}</span>' for t, n in items.most_common()
            )
            rows.append(f"<tr><th>{name}</th><td>{cells or '<span class=muted>none</span>'}</td></tr>")
        money_parts = []
        for currency, (total, approx, n) in sorted(summary["money"].items()):
            unit = "yuan" if currency == "CNY" else currency
            mark = '<span class="approx" title="approximate">≈ </span>' if approx else ""
            money_parts.append(f"{mark}<b>{_fmt_number(total)}</b> {unit} <span class=muted>({n} mention{'s' * (n > 1)})</span>")
        rows.append(f"<tr><th>Total money</th><td>{'; '.join(money_parts) or '<span class=muted>none</span>'}</td></tr>")
        count_parts = []
        for unit, (total, approx, n) in sorted(summary["counts"].items(), key=lambda kv: -kv[1][0]):
            mark = '<span class="approx" title="approximate">≈ </span>' if approx else ""
            count_parts.append(f'<span class="chip COUNT">{mark}{_fmt_number(total)} {esc(unit or "(no unit)")}</span>')
        rows.append(f"<tr><th>Counts by unit</th><td>{''.join(count_parts) or '<span class=muted>none</span>'}</td></tr>")
        if summary["unparsed"]:
            items = "、".join(esc(e.text) for e in summary["unparsed"])
            rows.append(f"<tr><th>Not normalized</th><td class=muted>{items}</td></tr>")
        self.out.write(
            f'<article id="doc-{self.count}">\n<h2>{self.count}. {esc(doc.source or "(text)")}'
            f' <span class="muted">· {len(doc.text):,} chars · {len(doc.entities)} entities</span></h2>\n'
            f'<table class="summary">{"".join(rows)}</table>\n<div class="text">{self._highlight(doc)}</div>\n</article>\n'
        )

    @staticmethod
    def _highlight(doc: Doc) -> str:
        parts: list[str] = []
        pos = 0
        for e in sorted(doc.entities, key=lambda e: (e.start, e.end)):
            if e.start < pos:  # never produced by the tagger; keep the page valid anyway
                continue
            parts.append(html.escape(doc.text[pos : e.start]))
            title = f"{e.label} · score {e.score:.2f}"
            if e.value and e.label == "MONEY":
                title += f" · {'≈' if e.value['approximate'] else ''}{_fmt_number(e.value['yuan'])} {e.value['currency']}"
            elif e.value and e.label == "COUNT":
                title += f" · {'≈' if e.value['approximate'] else ''}{e.value['value']} {e.value['unit']}"
            parts.append(
                f'<mark class="{e.label}" title="{html.escape(title)}">{html.escape(e.text)}<sub>{e.label}</sub></mark>'
            )
            pos = e.end
        parts.append(html.escape(doc.text[pos:]))
        return "".join(parts)

    def end(self) -> None:
        if self.count == 0:
            self.out.write('<p class="muted">No documents.</p>\n')
        self.out.write(
            f"</main>\n<footer>{self.count} document{'s' * (self.count != 1)}, {self.entities} entities. "
            "Totals add every mention (an amount repeated in a headline and the body counts twice); "
            "≈ marks totals that include an approximate amount (多, 余, 近, 约 ...).</footer>\n</body>\n</html>\n"
        )


WRITERS: dict[str, type[Writer]] = {"jsonl": JsonlWriter, "labelstudio": LabelStudioWriter, "html": HtmlWriter, "csv": CsvWriter}


# ---------------------------------------------------------------- the command


@dataclass
class PredictSummary:
    documents: int = 0
    entities: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    written: bool = False


def _read_input(item: Input, stdin: IO[bytes] | None) -> str:
    if item.path is None:
        stream = stdin if stdin is not None else sys.stdin.buffer
        return clean_bulletin(stream.read())
    return read_bulletin(item.path)


def predict_files(
    ner: NER,
    names: Sequence[str],
    fmt: str = "jsonl",
    output: str | Path | None = None,
    batch_size: int = 32,
    progress: bool | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[str] | None = None,
    report=None,
    on_document=None,
) -> PredictSummary:
    """Read, clean and predict every input, streaming documents into ``output`` (stdout when None or ``-``).

    A file output is written to a temporary file beside it and renamed when all inputs are done, so
    a crash leaves no partial file; it is not created when no document could be read. An input that
    fails is reported through ``report(name, message)`` and skipped; ``on_document(doc)`` is called
    after each document is written (for progress or memory measurements).
    """
    if fmt not in WRITERS:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    summary = PredictSummary()

    def fail(name: str, message: str) -> None:
        summary.failed.append((name, message))
        if report is not None:
            report(name, message)

    inputs, errors = expand_inputs(names)
    for name, message in errors:
        fail(name, message)
    if progress is None:
        progress = len(inputs) >= PROGRESS_MIN_FILES and sys.stderr.isatty()

    def texts() -> Iterator[tuple[str, str]]:
        iterator: Iterable[Input] = inputs
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(inputs, desc="predict", unit="file", file=sys.stderr)
        for item in iterator:
            try:
                yield item.source, _read_input(item, stdin)
            except InputError as exc:
                fail(item.source, str(exc))

    pairs = texts()
    first = next(pairs, None)
    if first is None:  # nothing readable: no output at all
        return summary

    def documents() -> Iterator[tuple[str, str]]:
        yield first[1], first[0]
        for source, text in pairs:
            yield text, source

    def run(out: IO[str]) -> None:
        writer = WRITERS[fmt](out, ner.version)
        writer.begin()
        for doc in ner._pipe(documents(), batch_size):  # texts are cleaned already
            writer.write(doc)
            summary.documents += 1
            summary.entities += len(doc.entities)
            if on_document is not None:
                on_document(doc)
        writer.end()

    if output is None or str(output) == "-":
        if stdout is not None:
            run(stdout)
            stdout.flush()
        elif hasattr(sys.stdout, "buffer"):
            sys.stdout.flush()
            out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="", write_through=True)
            try:
                run(out)
                out.flush()
            finally:
                out.detach()
        else:
            run(sys.stdout)
    else:
        from .fileio import atomic_path

        with atomic_path(output) as tmp:
            with open(tmp, "w", encoding="utf-8", newline="") as out:
                run(out)
    summary.written = True
    return summary
