"""Writers: documents stream one at a time into JSONL, Label Studio pre-annotations, CSV, or one HTML
page, and facts into JSONL or an aggregate CSV; :func:`predict_files` runs reading -> NER -> writer
into a temporary file beside the output, renamed at the end (nothing half-written on failure)."""
from __future__ import annotations

import csv
import html
import io
import itertools
import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from . import labelstudio_tasks
from .aggregation import Aggregator
from .api import NER, Doc
from .reading import Input, InputError, expand_inputs, read_input
from .types import LABELS

PROGRESS_MIN_FILES = 10
COLORS = {"ORG": "#4e79a7", "PROGRAM": "#59a14f", "MONEY": "#e15759", "COUNT": "#f28e2b"}
"""Label colours, the same as annotations/label_config.xml."""
LABEL_NAMES = {"ORG": "organization", "PROGRAM": "program", "MONEY": "money", "COUNT": "count"}


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
        task = labelstudio_tasks.task({"text": doc.text, "source": doc.source or ""},
                                      [labelstudio_tasks.prediction(doc.text, doc.entities, self.model)])
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


RELATION_WORDS = {
    "runs": "runs", "gives": "gives", "amount_of": "→", "reaches": "reached by", "part_of": "part of", "same_as": "same as",
}


def _fact_html(doc: Doc, fact) -> str:
    esc = html.escape

    def chip(span) -> str:
        return f'<span class="chip {span.label}">{esc(doc.text[span.start:span.end])}</span>'

    if fact.relation == "reaches":
        return f"{chip(fact.source)} reached by {chip(fact.target)}"
    return f"{chip(fact.source)} {RELATION_WORDS[fact.relation]} {chip(fact.target)}"


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
.facts {{ margin: 0; padding-left: 1.2em; font-size: 13px; }}
table.totals {{ border-collapse: collapse; width: 100%; font-size: 13px; background: #fff; }}
table.totals th, table.totals td {{ border-bottom: 1px solid #eee; padding: 4px 8px; text-align: left; vertical-align: top; }}
table.totals td.num {{ text-align: right; white-space: nowrap; }}
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


def page_head(title: str, model: str) -> str:
    """The page up to its first document: styles (a colour per label), the title, the model and a legend."""
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
    meta = f"model {html.escape(model)} · {created}"
    return _HTML_HEAD.format(title=html.escape(title), meta=meta, legend=legend, label_css=label_css)


def totals_html(totals: Aggregator) -> str:
    """The page's table of who did what with how much (one row per organization and program)."""
    esc = html.escape
    rows = []
    for p in totals.sorted_profiles():
        def money(amounts) -> str:
            if not amounts:
                return ""
            approx = '<span class="approx" title="includes an approximate amount">≈ </span>' if any(a.approximate for a in amounts) else ""
            detail = esc(" + ".join(a.surface for a in amounts))
            return f'<span title="{detail}">{approx}{_fmt_number(sum(a.yuan for a in amounts))}</span>'

        reached = "; ".join(
            f"{'≈ ' if unit in p.reached_approximate else ''}{_fmt_number(total)} {esc(unit)}"
            for unit, total in sorted(p.reached.items(), key=lambda kv: -kv[1])
        )
        related = p.programs if p.kind == "organization" else p.run_by
        aliases = sorted(p.aliases - {p.name})
        also = f'<br><span class="muted aliases">also {esc("、".join(aliases))}</span>' if aliases else ""
        rows.append(
            f'<tr><td><span class="chip {"ORG" if p.kind == "organization" else "PROGRAM"}">{esc(p.name)}</span>{also}</td>'
            f'<td class="num">{money(p.money)}</td><td class="num">{money(p.given)}</td>'
            f"<td>{esc('、'.join(p.rates))}</td><td>{reached}</td><td>{esc('、'.join(sorted(related)))}</td>"
            f'<td class="num">{len(p.documents)}</td></tr>'
        )
    if not rows:
        return '<section id="totals"><h2>Who did what, with how much</h2><p class="muted">No facts found.</p></section>\n'
    return (
        '<section id="totals"><h2>Who did what, with how much</h2>\n<table class="totals"><tr><th>organization / program</th>'
        "<th>money received or spent (yuan)</th><th>money given (yuan)</th><th>rates</th><th>reached</th>"
        "<th>programs run / run by</th><th>documents</th></tr>\n" + "\n".join(rows) + "\n</table></section>\n"
    )


def highlight(doc: Doc) -> str:
    """A document's text with every entity marked (its label, score and value on hover)."""
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


class HtmlWriter(Writer):
    """One self-contained page (inline CSS, no scripts, no external assets) for a whole run."""

    def __init__(self, out: IO[str], model: str = "", title: str = "civic-ner predictions") -> None:
        super().__init__(out, model)
        self.title = title
        self.entities = 0
        self.totals = Aggregator()

    def begin(self) -> None:
        self.out.write(page_head(self.title, self.model))

    def write(self, doc: Doc) -> None:
        self.count += 1
        self.entities += len(doc.entities)
        esc = html.escape
        self.totals.add(doc.source or f"document {self.count}", doc.text, doc.spans, doc.relations())
        rows = []
        for label, name in (("ORG", "Organizations"), ("PROGRAM", "Programs")):
            items = Counter(e.text for e in doc.entities if e.label == label)
            cells = "".join(
                f'<span class="chip {label}">{esc(t)}{f" ×{n}" if n > 1 else ""}</span>' for t, n in items.most_common()
            )
            rows.append(f"<tr><th>{name}</th><td>{cells or '<span class=muted>none</span>'}</td></tr>")
        facts = "".join(f"<li>{_fact_html(doc, f)}</li>" for f in doc.facts)
        rows.append(f"<tr><th>Facts</th><td>{f'<ul class=facts>{facts}</ul>' if facts else '<span class=muted>none</span>'}</td></tr>")
        unparsed = [e for e in doc.entities if e.label in ("MONEY", "COUNT") and e.value is None]
        if unparsed:
            items = "、".join(esc(e.text) for e in unparsed)
            rows.append(f"<tr><th>Not normalized</th><td class=muted>{items}</td></tr>")
        self.out.write(
            f'<article id="doc-{self.count}">\n<h2>{self.count}. {esc(doc.source or "(text)")}'
            f' <span class="muted">· {len(doc.text):,} chars · {len(doc.entities)} entities</span></h2>\n'
            f'<table class="summary">{"".join(rows)}</table>\n<div class="text">{highlight(doc)}</div>\n</article>\n'
        )

    def end(self) -> None:
        if self.count == 0:
            self.out.write('<p class="muted">No documents.</p>\n')
        self.out.write(totals_html(self.totals))
        self.out.write(
            f"</main>\n<footer>{self.count} document{'s' * (self.count != 1)}, {self.entities} entities. "
            "Totals count each amount once: a part (其中…) is not added beside its total, a figure repeated in "
            "a headline and the body counts once, an organization's short and full names are one row, per-person rates are listed as rates; ≈ marks totals that "
            "include an approximate amount (多, 余, 近, 约 ...). Facts are found from the predicted entities by "
            "the cues a reader uses; hover a total for the amounts behind it.</footer>\n</body>\n</html>\n"
        )


class FactsJsonlWriter(Writer):
    """One line per fact: the relation, both entities, the sentence, the source and offsets."""

    def write(self, doc: Doc) -> None:
        for fact in doc.facts:
            self.out.write(json.dumps({"source": doc.source, **fact.to_json(doc.text)}, ensure_ascii=False) + "\n")
        self.count += 1


class TotalsCsvWriter(Writer):
    """The aggregate per organization and program, one row per measure (long format, for pivoting)."""

    def __init__(self, out: IO[str], model: str = "") -> None:
        super().__init__(out, model)
        self.totals = Aggregator()

    def write(self, doc: Doc) -> None:
        self.totals.add(doc.source or f"document {self.count + 1}", doc.text, doc.spans, doc.relations())
        self.count += 1

    def end(self) -> None:
        from .aggregation import ROW_COLUMNS

        self.out.write("\ufeff")
        writer = csv.DictWriter(self.out, ROW_COLUMNS, lineterminator="\r\n")
        writer.writeheader()
        for profile in self.totals.sorted_profiles():
            for row in profile.rows():
                writer.writerow({k: _csv_safe(str(v)) if isinstance(v, str) else v for k, v in row.items()})


WRITERS: dict[str, type[Writer]] = {"jsonl": JsonlWriter, "labelstudio": LabelStudioWriter, "html": HtmlWriter, "csv": CsvWriter}
FACT_WRITERS: dict[str, type[Writer]] = {"jsonl": FactsJsonlWriter, "csv": TotalsCsvWriter, "html": HtmlWriter}


# ---------------------------------------------------------------- the command


@dataclass
class PredictSummary:
    documents: int = 0
    entities: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    written: bool = False


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
    writers: dict[str, type[Writer]] | None = None,
) -> PredictSummary:
    """Read, clean and predict every input, streaming documents into ``output`` (stdout when None or ``-``).

    A file output is written to a temporary file beside it and renamed when all inputs are done, so
    a crash leaves no partial file; it is not created when no document could be read. An input that
    fails is reported through ``report(name, message)`` and skipped; ``on_document(doc)`` is called
    after each document is written (for progress or memory measurements).
    """
    writers = writers or WRITERS
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(writers)})")
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
    pairs = _read_inputs(inputs, stdin, fail, progress)
    first = next(pairs, None)
    if first is None:  # nothing readable: no output at all
        return summary

    def run(out: IO[str]) -> None:
        writer = writers[fmt](out, ner.version)
        writer.begin()
        for doc in ner._pipe(itertools.chain([first], pairs), batch_size):  # texts are cleaned already
            writer.write(doc)
            summary.documents += 1
            summary.entities += len(doc.entities)
            if on_document is not None:
                on_document(doc)
        writer.end()

    _write_output(output, stdout, run)
    summary.written = True
    return summary


def _read_inputs(inputs: Sequence[Input], stdin: IO[bytes] | None, fail, progress: bool) -> Iterator[tuple[str, str]]:
    """(cleaned text, source) of every readable input, in order; an unreadable one goes to ``fail(name, message)``."""
    iterator: Iterable[Input] = inputs
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(inputs, desc="predict", unit="file", file=sys.stderr)
    for item in iterator:
        try:
            text = read_input(item, stdin)
        except InputError as exc:
            fail(item.source, str(exc))
            continue
        yield text, item.source


def _write_output(output: str | Path | None, stdout: IO[str] | None, run: Callable[[IO[str]], None]) -> None:
    """``run(stream)`` into standard output (``output`` None or ``-``; UTF-8 whatever the locale) or into
    a temporary file renamed to ``output`` once ``run`` returns."""
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
        return
    from .fileio import atomic_path

    with atomic_path(output) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="") as out:
            run(out)
