"""Prediction on new bulletins: reading any encoding, values, output formats, CLI, Python API."""
from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from civic_ner import cli
from civic_ner.cleaning import clean_text
from civic_ner.corpus import tasks_to_records
from civic_ner.api import NER, PIECE_CHARS, entity_value, long_text_pieces
from civic_ner.model_dir import model_version
from civic_ner.reading import InputError, decode_bytes, expand_inputs, read_bulletin
from civic_ner.writers import COLORS, predict_files
from civic_ner.types import Entity
from civic_ner.rules import rule_spans
from civic_ner.types import LABELS, Span
from civic_ner.values import parse_count, parse_money

ROOT = Path(__file__).resolve().parents[1]
RAW = sorted((ROOT / "data" / "raw").glob("*.txt"))


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def model_dir(tiny_model_dir) -> Path:
    """A tiny tagger trained by train() (both stages, features, CRF) on a few sections."""
    return tiny_model_dir


@pytest.fixture(scope="session")
def ner(model_dir) -> NER:
    from civic_ner import load

    return load(model_dir, device="cpu")


class DictionaryTagger:
    """A stand-in tagger with realistic output: MONEY/COUNT by the rules, ORG/PROGRAM by gold surfaces."""

    def __init__(self, gold_records) -> None:
        names = {(r.text[s.start : s.end], s.label) for r in gold_records for s in r.spans if s.label in ("ORG", "PROGRAM")}
        self.names = sorted(names, key=lambda n: -len(n[0]))
        self.calls: list[int] = []

    def predict(self, texts, batch_size=32, progress=False, documents=None):
        self.calls.append(len(texts))
        out = []
        for text in texts:
            spans = list(rule_spans(text))
            taken = [False] * len(text)
            for s in spans:
                taken[s.start : s.end] = [True] * (s.end - s.start)
            for name, label in self.names:
                for m in re.finditer(re.escape(name), text):
                    if not any(taken[m.start() : m.end()]):
                        taken[m.start() : m.end()] = [True] * len(name)
                        spans.append(Span(m.start(), m.end(), label))
            out.append([Entity(s.start, s.end, s.label, 0.9) for s in sorted(spans)])
        return out


@pytest.fixture(scope="session")
def dict_ner(gold_records) -> NER:
    return NER(DictionaryTagger(gold_records), None)


def seed_texts() -> list[str]:
    return [p.read_text(encoding="utf-8") for p in RAW]


# ---------------------------------------------------------------- values


def test_every_gold_money_and_count_span_parses(gold_records):
    failures = []
    n = 0
    for record in gold_records:
        for span in record.spans:
            surface = record.text[span.start : span.end]
            parse = {"MONEY": parse_money, "COUNT": parse_count}.get(span.label)
            if parse is None:
                continue
            n += 1
            try:
                parse(surface)
            except ValueError as exc:
                failures.append(f"{record.id} {span.label} {surface!r}: {exc}")
            assert entity_value(span.label, surface) is not None
    assert n > 100 and not failures, failures


SEED_EXPRESSIONS = [
    # (surface as it appears in data/raw, label, expected value dict subset)
    ("2.369亿元", "MONEY", {"yuan": 236900000, "approximate": False, "currency": "CNY"}),
    ("268.94万元", "MONEY", {"yuan": 2689400, "approximate": False}),
    ("400多万元", "MONEY", {"yuan": 4000000, "approximate": True}),
    ("12.3万户", "COUNT", {"value": 123000, "unit": "户", "approximate": False}),
    ("一万余人", "COUNT", {"value": 10000, "unit": "人", "approximate": True}),
    ("1125名", "COUNT", {"value": 1125, "unit": "名", "approximate": False}),
    ("971.74万元", "MONEY", {"yuan": 9717400, "approximate": False}),
    ("125.2亿元", "MONEY", {"yuan": 12520000000, "approximate": False}),
    ("4.88万个", "COUNT", {"value": 48800, "unit": "个", "approximate": False}),
    ("28.16万人", "COUNT", {"value": 281600, "unit": "人", "approximate": False}),
    ("196.45万份", "COUNT", {"value": 1964500, "unit": "份", "approximate": False}),
    ("170余人次", "COUNT", {"value": 170, "unit": "人次", "approximate": True}),
    ("50余", "COUNT", {"value": 50, "unit": "", "approximate": True}),  # 50余企业: no measure word
    ("20余名", "COUNT", {"value": 20, "unit": "名", "approximate": True}),
]


@pytest.mark.parametrize(("surface", "label", "expected"), SEED_EXPRESSIONS)
def test_seed_expressions(surface, label, expected):
    assert any(surface in t for t in seed_texts()), f"{surface} is not in the seed bulletins"
    value = entity_value(label, surface)
    assert value is not None and {k: value[k] for k in expected} == expected
    for key in ("yuan", "value"):
        if key in value:
            assert type(value[key]) is int


def test_unparsable_spans_get_null_values():
    assert entity_value("MONEY", "乳山市妇联") is None
    assert entity_value("COUNT", "21年") is None
    assert entity_value("COUNT", "") is None
    assert entity_value("ORG", "乳山市妇联") is None
    assert entity_value("MONEY", "3万至4万元") == {"yuan": 30000, "approximate": True, "currency": "CNY", "upper": 40000}


# ---------------------------------------------------------------- reading


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk", "utf-16", "utf-16-be-bom", "utf-32"])
def test_encodings_give_identical_clean_text(tmp_path, encoding):
    for n, raw in enumerate(seed_texts()):
        if encoding == "gbk":  # GBK lacks a few characters of the seeds (e.g. •): keep the rest
            raw = raw.encode("gbk", errors="ignore").decode("gbk")
        data = b"\xfe\xff" + raw.encode("utf-16-be") if encoding == "utf-16-be-bom" else raw.encode(encoding)
        path = tmp_path / f"{n}.{encoding}.txt"
        path.write_bytes(data)
        assert read_bulletin(path) == clean_text(raw), (encoding, n)


def test_short_gbk_text_and_windows_line_ends(tmp_path):
    raw = "威海市民政局\r\n发放救助金268.94万元。\r\n"
    path = tmp_path / "short.txt"
    path.write_bytes(raw.encode("gbk"))
    assert read_bulletin(path) == clean_text(raw.replace("\r\n", "\n"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b" \n\r\n\t ", "empty file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary file"),
        (bytes(range(256)) * 4, "binary file"),
        (bytes([7, 1, 2, 3, 200, 201, 17, 18, 19]) * 50, "binary file"),
    ],
)
def test_bad_bytes_are_refused(data, message):
    with pytest.raises(InputError, match=message):
        decode_bytes(data)


def test_chrome_only_file_is_refused(tmp_path):
    path = tmp_path / "chrome.txt"
    path.write_text("登录\n注册\n2024-01-02 10:00\n", encoding="utf-8")
    with pytest.raises(InputError, match="no text left after cleaning"):
        read_bulletin(path)


def test_expand_inputs_recurses_and_reports(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "x.txt").write_text("x", encoding="utf-8")
    (tmp_path / "a" / "y.txt").write_text("y", encoding="utf-8")
    (tmp_path / "a" / "notes.md").write_text("z", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    inputs, errors = expand_inputs([str(tmp_path / "a"), str(tmp_path / "empty"), str(tmp_path / "nope.txt"), "-", "-"])
    assert [Path(i.source).name for i in inputs] == ["x.txt", "y.txt", "<stdin>"]
    assert [(Path(n).name, m) for n, m in errors] == [
        ("empty", "directory holds no *.txt files"),
        ("nope.txt", "no such file or directory"),
        ("-", "standard input given more than once"),
    ]


def test_split_pieces_cuts_at_line_breaks():
    text = "\n".join("段落" * 40 for _ in range(2000))
    pieces = long_text_pieces(text, limit=1000)
    assert "".join(p for _, p in pieces) == text
    assert all(len(p) <= 1000 and text[o : o + len(p)] == p for o, p in pieces)
    assert all(p.endswith("\n") for _, p in pieces[:-1])
    assert long_text_pieces("短", 1000) == [(0, "短")]


# ---------------------------------------------------------------- Python API


def test_api_load_call_and_pipe(ner, model_dir):
    import civic_ner

    text = "乳山市妇联组织“虹桥拉手”活动累计帮扶1125名困境儿童，投入资金268.94万元。"
    doc = ner(text)
    assert isinstance(doc, civic_ner.Doc) and doc.text == clean_text(text)
    assert doc.entities, "the tiny trained model should tag something (the rule features alone suffice)"
    for e in doc.entities:
        assert doc.text[e.start : e.end] == e.text and e.label in LABELS and 0 < e.score <= 1
        assert e.value is None or e.label in ("MONEY", "COUNT")
    texts = [t[:3000] for t in seed_texts()] + ["", text]
    piped = list(ner.pipe(texts, batch_size=8))
    assert [d.text for d in piped] == [clean_text(t) for t in texts]
    key = lambda d: [(e.start, e.end, e.label, e.text, e.value) for e in d.entities]  # noqa: E731
    assert key(piped[-1]) == key(doc)  # scores may differ in the last digits with padding
    assert [e.score for e in piped[-1].entities] == pytest.approx([e.score for e in doc.entities], abs=1e-4)
    assert piped[-2].entities == []
    assert ner.version == model_version(model_dir) and len(ner.version) == 12


def test_pipe_is_lazy(dict_ner):
    endless = itertools.repeat("威海市民政局发放救助金268.94万元，帮扶1125名困境儿童。")
    docs = list(itertools.islice(dict_ner.pipe(endless, batch_size=2), 3))
    assert len(docs) == 3
    money = [e for e in docs[0].entities if e.label == "MONEY"]
    assert [(e.text, e.value["yuan"]) for e in money] == [("268.94万元", 2689400)]


def test_package_import_is_light():
    code = "import sys, civic_ner; civic_ner.Doc; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_long_document_is_predicted_in_pieces(dict_ner):
    tagger = dict_ner.tagger
    text = "\n".join(seed_texts()) * 12
    assert len(text) > 3 * PIECE_CHARS
    calls_before = len(tagger.calls)
    doc = dict_ner(text)
    assert doc.text == clean_text(text)
    assert len(tagger.calls) > calls_before
    money = [e for e in doc.entities if e.label == "MONEY"]
    assert money and all(doc.text[e.start : e.end] == e.text for e in doc.entities)
    assert all(e.value is not None for e in money)


def test_five_megabyte_bulletin(tmp_path, dict_ner):
    """Reading, cleaning, pieces and writing of a 5 MB file (the stand-in tagger keeps it fast on CPU)."""
    raw = "\n\n".join(seed_texts())
    data = raw.encode("utf-8")
    big = tmp_path / "big.txt"
    big.write_bytes(data * (5_000_000 // len(data) + 1))
    assert big.stat().st_size >= 5_000_000
    calls_before = len(dict_ner.tagger.calls)
    out = tmp_path / "big.jsonl"
    summary = predict_files(dict_ner, [str(big)], "jsonl", out)
    assert summary.documents == 1 and not summary.failed
    assert len(dict_ner.tagger.calls) - calls_before >= 5  # bounded characters per tagger call
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert len(doc["text"]) > 1_000_000
    assert all(doc["text"][e["start"] : e["end"]] == e["text"] for e in doc["entities"])
    assert doc["entities"][-1]["end"] > len(doc["text"]) - 2000  # the end is tagged too


def test_long_bulletin_with_the_real_tagger(tmp_path, ner):
    """A text longer than a piece goes through the model's windows and comes back whole."""
    raw = "\n\n".join(seed_texts())
    text = clean_text(raw * (PIECE_CHARS // len(raw) + 2))
    assert len(text) > PIECE_CHARS
    doc = ner.pipe([text], batch_size=64).__next__()
    assert doc.text == text
    assert all(doc.text[e.start : e.end] == e.text for e in doc.entities)
    assert doc.entities[-1].end > len(text) - 500 and doc.entities[0].start < 500


# ---------------------------------------------------------------- formats


def write_format(dict_ner, tmp_path, fmt, texts=None) -> Path:
    inputs = []
    for n, raw in enumerate(texts or seed_texts()):
        path = tmp_path / "in" / f"{n:03d}.txt"
        path.parent.mkdir(exist_ok=True)
        path.write_text(raw, encoding="utf-8")
        inputs.append(str(path))
    out = tmp_path / f"out.{fmt}"
    summary = predict_files(dict_ner, inputs, fmt, out)
    assert summary.written and not summary.failed
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left behind"
    return out


def test_jsonl_format(dict_ner, tmp_path):
    out = write_format(dict_ner, tmp_path, "jsonl")
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(docs) == len(RAW)
    labels = set()
    for doc, raw in zip(docs, seed_texts()):
        assert set(doc) == {"source", "text", "entities"} and doc["text"] == clean_text(raw)
        for e in doc["entities"]:
            assert set(e) == {"start", "end", "label", "text", "score", "value"}
            assert doc["text"][e["start"] : e["end"]] == e["text"]
            labels.add(e["label"])
            if e["label"] == "MONEY" and e["value"]:
                assert set(e["value"]) >= {"yuan", "approximate", "currency"}
            if e["label"] == "COUNT" and e["value"]:
                assert set(e["value"]) >= {"value", "unit", "approximate"}
            if e["label"] in ("ORG", "PROGRAM"):
                assert e["value"] is None
    assert labels == set(LABELS)
    values = {e["text"]: e["value"] for d in docs for e in d["entities"]}
    assert values["2.369亿元"]["yuan"] == 236900000


def test_labelstudio_format_imports_as_predictions(dict_ner, tmp_path):
    out = write_format(dict_ner, tmp_path, "labelstudio")
    tasks = json.loads(out.read_text(encoding="utf-8"))
    config = ET.parse(ROOT / "annotations" / "label_config.xml").getroot()
    labels_tag = config.find("Labels")
    allowed = {l.get("value") for l in labels_tag.findall("Label")}
    assert len(tasks) == len(RAW)
    for task in tasks:
        assert set(task["data"]) == {"text", "source"}
        (prediction,) = task["predictions"]
        assert re.fullmatch(r"[0-9a-f]{12}|unknown", prediction["model_version"])
        assert 0 <= prediction["score"] <= 1
        for item in prediction["result"]:
            v = item["value"]
            assert item["from_name"] == labels_tag.get("name") and item["to_name"] == labels_tag.get("toName")
            assert item["type"] == "labels" and 0 < item["score"] <= 1
            assert v["labels"][0] in allowed and task["data"]["text"][v["start"] : v["end"]] == v["text"]
    # the corpus validator accepts the predicted spans as if they were annotations
    as_annotations = [
        {"data": {**t["data"], "section_id": f"s{i}"}, "annotations": [{"result": t["predictions"][0]["result"]}]}
        for i, t in enumerate(tasks)
    ]
    records = tasks_to_records(as_annotations)
    assert sum(len(r.spans) for r in records) == sum(len(t["predictions"][0]["result"]) for t in tasks) > 0


class _TagChecker(HTMLParser):
    VOID = {"meta", "br", "img", "link", "input", "hr"}

    def __init__(self):
        super().__init__()
        self.stack, self.errors, self.external = [], [], []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.external.append(value)
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def test_html_format(dict_ner, tmp_path):
    hostile = "测试<script>alert('x')</script> & 威海市民政局 <b>发放</b>救助金268.94万元。\n第二段：帮扶1125名困境儿童。"
    out = write_format(dict_ner, tmp_path, "html", texts=[*seed_texts(), hostile])
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "<script" not in page and "<b>发放" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; " in page
    for label, color in COLORS.items():
        assert color in page and f'<mark class="{label}"' in page
    assert 'class="legend"' in page and "Who did what, with how much" in page and "<th>Facts</th>" in page
    # the totals table shows the amount in yuan (the bulletin writes 2.369亿元, always on the page)
    assert "236,900,000" in page
    assert "<link" not in page and "@import" not in page and "url(" not in page
    checker = _TagChecker()
    checker.feed(page)
    assert not checker.errors and not checker.stack and not checker.external


def test_csv_format(dict_ner, tmp_path):
    out = write_format(dict_ner, tmp_path, "csv")
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == ["source", "label", "text", "value", "unit", "approximate", "score", "start", "end"]
    money = {r["text"]: r for r in rows if r["label"] == "MONEY"}
    assert money["2.369亿元"]["value"] == "236900000" and money["2.369亿元"]["unit"] == "CNY"
    assert money["400多万元"]["approximate"] == "true"
    counts = {r["text"]: r for r in rows if r["label"] == "COUNT"}
    assert counts["12.3万户"]["value"] == "123000" and counts["12.3万户"]["unit"] == "户"
    assert {r["label"] for r in rows} == set(LABELS)
    docs = {r["source"] for r in rows}
    assert len(docs) == len(RAW)


# ---------------------------------------------------------------- CLI


def test_cli_jsonl_over_a_directory(model_dir, tmp_path, capsys):
    (tmp_path / "in" / "week2").mkdir(parents=True)
    for n, path in enumerate(RAW[:3]):
        shutil.copy(path, tmp_path / "in" / ("week2" if n else "") / path.name)
    (tmp_path / "in" / "readme.md").write_text("not a bulletin", encoding="utf-8")
    out = tmp_path / "out" / "pred.jsonl"
    code = cli.main(["predict", "--model", str(model_dir), str(tmp_path / "in"), "-o", str(out), "--batch-size", "16"])
    assert code == 0, capsys.readouterr().err
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [Path(d["source"]).name for d in docs] == [RAW[0].name, RAW[1].name, RAW[2].name]
    assert sum(len(d["entities"]) for d in docs) > 0
    for d in docs:
        for e in d["entities"]:
            assert d["text"][e["start"] : e["end"]] == e["text"]
    assert "3 documents" in capsys.readouterr().err


def test_cli_stdin_gbk(model_dir, tmp_path):
    raw = RAW[3].read_text(encoding="utf-8")
    raw = raw.encode("gbk", errors="ignore")
    proc = subprocess.run(
        [sys.executable, "-m", "civic_ner.cli", "predict", "--model", str(model_dir), "-", "--format", "csv"],
        input=raw, capture_output=True, timeout=120, env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert proc.returncode == 0, proc.stderr.decode()
    text = proc.stdout.decode("utf-8")
    assert text.startswith("\ufeffsource,label,text")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows and {r["source"] for r in rows} == {"<stdin>"}


def test_cli_bad_inputs_other_files_still_processed(model_dir, tmp_path, capsys):
    good = tmp_path / "in" / "good.txt"
    good.parent.mkdir()
    good.write_bytes(RAW[4].read_text(encoding="utf-8").encode("gb18030"))
    (tmp_path / "in" / "empty.txt").write_bytes(b"")
    (tmp_path / "in" / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (tmp_path / "nothing").mkdir()
    out = tmp_path / "out.jsonl"
    args = ["predict", "--model", str(model_dir), str(tmp_path / "in"), str(tmp_path / "nothing"),
            str(tmp_path / "missing.txt"), "-o", str(out)]
    code = cli.main(args)
    err = capsys.readouterr().err
    assert code == 1
    for name, message in [("empty.txt", "empty file"), ("binary.txt", "binary file"),
                          ("nothing", "no *.txt files"), ("missing.txt", "no such file")]:
        assert re.search(rf"civic-ner: error: \S*{name}: .*{re.escape(message)}", err), (name, err)
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [Path(d["source"]).name for d in docs] == ["good.txt"]
    assert docs[0]["text"] == clean_text(RAW[4].read_text(encoding="utf-8"))

    # nothing readable: exit 1 and no output file at all
    out2 = tmp_path / "none.jsonl"
    code = cli.main(["predict", "--model", str(model_dir), str(tmp_path / "in" / "empty.txt"), "-o", str(out2)])
    assert code == 1 and not out2.exists()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].endswith("empty.txt: empty file")  # a single bad input: its own line says it all
    code = cli.main(["predict", "--model", str(model_dir), str(tmp_path / "in" / "empty.txt"), str(tmp_path / "in" / "binary.txt"),
                     "-o", str(out2)])
    assert code == 1 and not out2.exists()
    assert "none of the 2 inputs could be read; nothing written" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_model_and_usage_errors(tmp_path, capsys):
    (tmp_path / "notamodel").mkdir()
    (tmp_path / "a.txt").write_text("威海市民政局发放救助金。", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    code = cli.main(["predict", "--model", str(tmp_path / "notamodel"), str(tmp_path / "a.txt"), "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith("civic-ner: error: ") and "notamodel" in err and "not a civic-ner model" in err
    assert not out.exists()
    code = cli.main(["predict", "--model", str(tmp_path / "no-such-dir"), str(tmp_path / "a.txt")])
    assert code == 2 and "no-such-dir" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["predict", "--model", str(tmp_path), "--format", "xml", str(tmp_path / "a.txt")])
    assert exc.value.code == 2


def test_crash_leaves_no_partial_output(dict_ner, tmp_path, monkeypatch):
    from civic_ner import writers

    inputs = []
    for n, raw in enumerate(seed_texts()):
        path = tmp_path / f"{n}.txt"
        path.write_text(raw, encoding="utf-8")
        inputs.append(str(path))
    original = writers.JsonlWriter.write

    def write_then_crash(self, doc):
        if self.count == 2:
            raise RuntimeError("disk on fire")
        original(self, doc)

    monkeypatch.setattr(writers.JsonlWriter, "write", write_then_crash)
    out = tmp_path / "out" / "pred.jsonl"
    with pytest.raises(RuntimeError, match="disk on fire"):
        predict_files(dict_ner, inputs, "jsonl", out)
    assert not out.exists() and not list(out.parent.iterdir())


# ---------------------------------------------------------------- the page in a real browser


BROWSER_MISSING = shutil.which("chromium") is None and not os.environ.get("CIVIC_NER_REQUIRE_BROWSER")
"""Skip without a browser on a developer's machine; in CI (.ci/run sets the variable) a missing
browser fails the test instead of skipping it."""


class _DomMarks(HTMLParser):
    """Per article: the text of the highlighted document and the (start, end, label) of each mark,
    read from the DOM as the browser built it."""

    def __init__(self) -> None:
        super().__init__()
        self.docs: list[tuple[str, list[tuple[int, int, str]]]] = []
        self.depth = 0  # inside <div class="text">
        self.mark: tuple[int, str] | None = None
        self.in_sub = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div" and attrs.get("class") == "text":
            self.docs.append(("", []))
            self.depth = 1
        elif self.depth:
            if tag == "div":
                self.depth += 1
            elif tag == "mark":
                self.mark = (len(self.docs[-1][0]), attrs.get("class", ""))
            elif tag == "sub":
                self.in_sub = True

    def handle_endtag(self, tag):
        if not self.depth:
            return
        if tag == "div":
            self.depth -= 1
        elif tag == "sub":
            self.in_sub = False
        elif tag == "mark" and self.mark is not None:
            text, marks = self.docs[-1]
            marks.append((self.mark[0], len(text), self.mark[1]))
            self.mark = None

    def handle_data(self, data):
        if self.depth and not self.in_sub:
            text, marks = self.docs[-1]
            self.docs[-1] = (text + data, marks)


@pytest.mark.skipif(BROWSER_MISSING, reason="chromium not installed")
def test_html_renders_in_headless_chromium(dict_ner, tmp_path):
    page = write_format(dict_ner, tmp_path, "html", texts=seed_texts()[:2])
    png = tmp_path / "page.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "screenshot_html.py"), str(page), "-o", str(png), "--height", "900"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    # the DOM the browser built: every entity at its place in the text, nothing else marked
    with __import__("tempfile").TemporaryDirectory(prefix="civic-ner-dom-") as profile:
        dom = subprocess.run(
            [shutil.which("chromium") or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert dom.returncode == 0 and "</html>" in dom.stdout, dom.stderr[-500:]
    reader = _DomMarks()
    reader.feed(dom.stdout)
    expected = list(dict_ner.pipe(seed_texts()[:2]))
    assert len(reader.docs) == len(expected)
    for (text, marks), doc in zip(reader.docs, expected):
        assert text == doc.text
        assert marks == [(e.start, e.end, e.label) for e in sorted(doc.entities, key=lambda e: (e.start, e.end))]


def test_clutter_is_never_an_entity():
    from civic_ner.span_rules import drop_clutter, is_clutter
    from civic_ner.types import Span

    text = "来源：www.hrbgh.org.cn 哈尔滨市总工会\n联系邮箱 zgh@hrb.gov.cn 点击 http://news.cn/a?id=3 阅读"
    org = text.index("哈尔滨市总工会")
    spans = [Span(3, 8, "ORG"), Span(org, org + 7, "ORG"), Span(org, org + 9, "ORG"),
             Span(text.index("hrb"), text.index("hrb") + 3, "ORG"), Span(text.index("news"), text.index("news") + 4, "ORG")]
    kept = drop_clutter(text, spans)
    assert [text[s.start:s.end] for s in kept] == ["哈尔滨市总工会"]
    assert is_clutter(text, org, org + 9) and not is_clutter(text, org, org + 7)


def test_names_in_their_own_quotes_are_cut_apart():
    from civic_ner.span_rules import split_adjacent_quotes
    from civic_ner.types import Span

    text = "开展“送温暖行”“助学行”和“金秋助学”暨“爱心送考”活动"
    whole = Span(text.index("送温暖行"), text.index("助学行") + 3, "PROGRAM")
    joined = Span(text.index("金秋助学"), text.index("爱心送考") + 4, "PROGRAM")
    pieces = split_adjacent_quotes(text, [whole, joined], lambda a, b, s: Span(a, b, s.label))
    assert [text[s.start:s.end] for s in pieces] == ["送温暖行", "助学行", "金秋助学", "爱心送考"]


def _word_tags(words: list[str]) -> list[str]:
    """LAC-style B/I/E/S tags for a segmentation given as words."""
    tags = []
    for w in words:
        tags += ["S-n"] if len(w) == 1 else ["B-n"] + ["I-n"] * (len(w) - 2) + ["E-n"]
    return tags


def test_a_program_cut_inside_a_word_is_completed_to_the_word_end():
    from civic_ner.span_rules import apply_span_rules, complete_words
    from civic_ner.types import Span

    words = ["开展", "“", "阳光", "就业", "行动", "”", "和", "送温暖", "、", "帮扶", "中心", "大病救助工程", "。"]
    text = "".join(words)
    tags = _word_tags(words)
    make = lambda a, b, s: Span(a, b, s.label)  # noqa: E731
    at = text.index
    cut_action = Span(at("阳光"), at("行动") + 1, "PROGRAM")  # 阳光就业行|动
    cut_warmth = Span(at("送温暖"), at("送温暖") + 2, "PROGRAM")  # 送温|暖
    org_cut = Span(at("帮扶"), at("中心") + 1, "ORG")  # ORG spans are left alone
    long_rest = Span(at("大病救助工程"), at("大病救助工程") + 2, "PROGRAM")  # 4 characters missing: not a slip
    whole = Span(at("阳光"), at("行动") + 2, "PROGRAM")
    done = complete_words(text, [cut_action, cut_warmth, org_cut, long_rest], tags, make)
    assert [text[s.start:s.end] for s in done] == ["阳光就业行动", "送温暖", "帮扶中", "大病"]
    assert complete_words(text, [whole], tags, make) == [whole]
    # never into the next span: 送温 followed by a span starting at 暖 stays as it is
    warm = Span(at("送温暖") + 2, at("送温暖") + 3, "PROGRAM")
    assert complete_words(text, [cut_warmth, warm], tags, make)[0] == cut_warmth
    # without a segmentation, apply_span_rules skips the completion
    assert apply_span_rules(text, [cut_warmth], make) == [cut_warmth]
    assert apply_span_rules(text, [cut_warmth], make, tags)[0].end == at("送温暖") + 3


def test_no_gold_span_breaks_a_span_rule(gold_records):
    """The rules only remove what the guide says is never an entity: every gold span passes them."""
    import json

    from civic_ner.span_rules import drop_clutter, split_adjacent_quotes
    from civic_ner.types import Span

    data = Path(__file__).resolve().parents[1] / "data"
    rows = [json.loads(line) for split in ("train", "dev", "test", "synthetic", "grounded", "province_test")
            if (data / f"{split}.jsonl").exists() for line in (data / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(rows) > 300
    for row in rows:
        spans = [Span(s["start"], s["end"], s["label"]) for s in row["spans"]]
        assert drop_clutter(row["text"], spans) == spans, row["id"]
        assert split_adjacent_quotes(row["text"], spans, lambda a, b, s: Span(a, b, s.label)) == spans, row["id"]


def test_document_consistency_propagates_only_its_labels():
    """consistency_labels: [PROGRAM] (the shipped choice) labels a program name found once at its other
    occurrences, and leaves organization names alone."""
    from civic_ner.prediction import _propagate_entities
    from civic_ner.types import Entity

    text = "市妇联开展“春蕾计划”。市妇联表示，春蕾计划今年资助200名女童。"
    first_org, first_program = text.index("市妇联"), text.index("春蕾计划")
    found = [[Entity(first_org, first_org + 3, "ORG", 0.9), Entity(first_program, first_program + 4, "PROGRAM", 0.8)]]
    only_program = _propagate_entities([text], found, None, ("PROGRAM",))[0]
    both = _propagate_entities([text], found, None, ("ORG", "PROGRAM"))[0]
    surfaces = lambda doc: sorted((text[e.start:e.end], e.start) for e in doc)  # noqa: E731
    assert surfaces(only_program) == sorted([("市妇联", first_org), ("春蕾计划", first_program),
                                            ("春蕾计划", text.rindex("春蕾计划"))])
    assert ("市妇联", text.rindex("市妇联")) in surfaces(both)


def test_consistency_labels_are_checked_at_load(tmp_path):
    from civic_ner.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("consistency_labels: [MONEY]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="consistency_labels"):
        load_config(path)
    path.write_text("consistency_labels: [PROGRAM]\nrelation_model: cues\n", encoding="utf-8")
    config = load_config(path)
    assert config.consistency_labels == ["PROGRAM"] and config.relation_model == "cues"


def test_crf_ensemble_labels_are_checked_at_load(tmp_path):
    from civic_ner.config import ConfigError, load_config

    path = tmp_path / "bad.yaml"
    path.write_text("crf_ensemble_labels: [PROGRAM, PLACE]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="crf_ensemble_labels"):
        load_config(path)


def test_one_path_takes_each_label_from_the_decoding_that_reads_it():
    """paths_by_label: the mixed labels' spans from the mix, the others from the network's own path,
    which wins an overlap; the result is a valid BIO path."""
    from civic_ner.prediction import paths_by_label

    own = ["B-ORG", "I-ORG", "O", "B-PROGRAM", "I-PROGRAM", "O", "O", "B-COUNT", "O"]
    mixed = ["B-ORG", "I-ORG", "I-ORG", "O", "B-PROGRAM", "I-PROGRAM", "I-PROGRAM", "O", "B-PROGRAM"]
    assert paths_by_label(own, mixed, ["PROGRAM"]) == [
        "B-ORG", "I-ORG", "O", "O", "B-PROGRAM", "I-PROGRAM", "I-PROGRAM", "B-COUNT", "B-PROGRAM"]
    # a mixed span overlapping a kept span of the network is dropped, not cut
    assert paths_by_label(["O", "B-ORG", "I-ORG"], ["B-PROGRAM", "I-PROGRAM", "O"], ["PROGRAM"]) == ["O", "B-ORG", "I-ORG"]
    assert paths_by_label(own, mixed, ["ORG", "PROGRAM", "MONEY", "COUNT"]) == mixed
