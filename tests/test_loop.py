"""Retrain gate, learning curve, suggestions, and the Label Studio pull/push paths that need no server."""
from __future__ import annotations

import csv
import json
import re
import shutil
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from civic_ner import cli, corpus, fileio, labelstudio, labelstudio_tasks, loop
from civic_ner.api import NER
from civic_ner.model_dir import model_version
from civic_ner.config import TrainConfig
from civic_ner.corpus import AnnotationError, Record, Span

ROOT = Path(__file__).resolve().parents[1]


def small_data(target: Path, gold_records) -> Path:
    pick = sorted(gold_records, key=lambda r: len(r.text))
    splits = {"train": pick[8:16], "dev": pick[16:18], "test": pick[18:21]}
    for split, records in splits.items():
        fileio.write_jsonl(target / f"{split}.jsonl", (r.to_json() for r in records))
    return target


def tiny_yaml(path: Path, encoder: Path, data: Path, **extra) -> Path:
    from conftest import TINY_RECIPE

    settings = {"name": "tiny", "model": str(encoder), "data_dir": str(data), **TINY_RECIPE,
                "probe_epochs": 1, **extra}
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def tiny_model(tiny_model_dir) -> Path:
    return tiny_model_dir


# ---------------------------------------------------------------- retrain


def test_retrain_promotes_first_then_gates_then_force(tmp_path, tiny_encoder_dir, gold_records, capsys):
    data = small_data(tmp_path / "data", gold_records)
    cfg = tiny_yaml(tmp_path / "tiny.yaml", tiny_encoder_dir, data)
    current = tmp_path / "runs" / "current"
    test_before = (data / "test.jsonl").read_bytes()

    code = cli.main(["retrain", "--config", str(cfg), "--current", str(current), "--no-rebuild"])
    out = capsys.readouterr().out
    assert code == 0 and "promoted: no current model" in out
    assert (current / "model" / "head.safetensors").exists()
    gate = json.loads((current / "gate.json").read_text())
    assert gate["promoted"] and gate["old_dev"] is None and gate["gate_split"] == "dev"
    assert gate["dev_sections"] and "new_test" in gate  # test is reported, dev decides
    test_ids = {json.loads(line)["id"] for line in test_before.decode("utf-8").splitlines()}
    assert not set(gate["dev_sections"]) & test_ids
    first_weights = (current / "model" / "head.safetensors").read_bytes()

    # an impossible bar: the candidate must beat the current model by a whole F1 point of 1.0
    code = cli.main(["retrain", "--config", str(cfg), "--current", str(current), "--no-rebuild", "--tolerance", "-1"])
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("civic-ner: error: ")]
    assert code == loop_cli_exit() and len(errors) == 1 and "not promoted" in errors[0]
    for label in ("micro", "ORG", "PROGRAM", "MONEY", "COUNT"):
        assert label in captured.out
    assert (current / "model" / "head.safetensors").read_bytes() == first_weights  # untouched
    rejected = json.loads((tmp_path / "runs" / "current.rejected" / "gate.json").read_text())
    assert rejected["promoted"] is False and rejected["old_dev"]["micro"]["f1"] == gate["new_dev"]["micro"]["f1"]

    code = cli.main(
        ["retrain", "--config", str(cfg), "--current", str(current), "--no-rebuild", "--tolerance", "-1",
         "--force", "--warm-start"]
    )
    assert code == 0 and "forced" in capsys.readouterr().out
    assert json.loads((current / "gate.json").read_text())["warm_start"] is True
    assert (data / "test.jsonl").read_bytes() == test_before  # the held-out split never moved
    assert not [p for p in current.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left


def loop_cli_exit() -> int:
    from civic_ner.loop_cli import EXIT_NOT_PROMOTED

    return EXIT_NOT_PROMOTED


def test_retrain_rebuilds_data_and_keeps_splits(tmp_path, tiny_encoder_dir, gold_records):
    annotations = tmp_path / "annotations" / "tasks.json"
    corpus.save_tasks(annotations, sorted(gold_records, key=lambda r: len(r.text))[:24])
    data = tmp_path / "data"
    corpus.build_dataset(annotations, data)
    splits_before = json.loads((data / "splits.json").read_text())["assignments"]
    more = sorted(gold_records, key=lambda r: len(r.text))[:27]
    corpus.save_tasks(annotations, more)
    cfg = tiny_yaml(tmp_path / "tiny.yaml", tiny_encoder_dir, data)
    code = cli.main(["retrain", "--config", str(cfg), "--current", str(tmp_path / "cur"), "--annotations", str(annotations)])
    assert code == 0
    after = json.loads((data / "splits.json").read_text())["assignments"]
    assert {k: after[k] for k in splits_before} == splits_before
    assert len(after) == 27 and all(after[r.id] == "train" for r in more[24:])


# ---------------------------------------------------------------- curve


def test_curve_writes_table_csv_and_png(tmp_path, tiny_encoder_dir, gold_records, capsys):
    pytest.importorskip("matplotlib")
    data = small_data(tmp_path / "data", gold_records)
    cfg = tiny_yaml(tmp_path / "tiny.yaml", tiny_encoder_dir, data)
    out = tmp_path / "curve"
    code = cli.main(["curve", "--config", str(cfg), "--fractions", "0.5", "1.0", "--repeats", "2", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    png = (out / "curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader((out / "curve.csv").open(encoding="utf-8")))
    assert len(rows) == 4 and {r["fraction"] for r in rows} == {"0.5", "1"}
    train = corpus.load_split(data, "train")
    full = [r for r in rows if r["fraction"] == "1"]
    assert all(int(r["spans"]) == sum(len(x.spans) for x in train) for r in full)
    half = [r for r in rows if r["fraction"] == "0.5"]
    assert all(int(r["sections"]) == 4 for r in half)
    for r in rows:
        assert 0.0 <= float(r["micro_f1"]) <= 1.0 and "COUNT_f1" in r
    table = (out / "curve.md").read_text(encoding="utf-8")
    assert "| fraction | sections | spans | micro F1 | ORG F1 |" in table and "±" in table
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_curve_subsets_are_seeded_and_nested(gold_records):
    a = loop.subset_ids(gold_records, 0.25, 13)
    b = loop.subset_ids(gold_records, 0.75, 13)
    assert a == loop.subset_ids(gold_records, 0.25, 13) and set(a) < set(b)
    assert a != loop.subset_ids(gold_records, 0.25, 14)


def test_curve_bad_fraction(tmp_path, tiny_encoder_dir, gold_records, capsys):
    cfg = tiny_yaml(tmp_path / "tiny.yaml", tiny_encoder_dir, small_data(tmp_path / "d", gold_records))
    code = cli.main(["curve", "--config", str(cfg), "--fractions", "0", "1.5", "-o", str(tmp_path / "c"), "--no-plot"])
    assert code == 2 and "--fractions must lie in (0, 1]" in capsys.readouterr().err


# ---------------------------------------------------------------- suggest


def test_suggest_ranks_unlabelled_sections(tmp_path, tiny_model, capsys):
    raw = sorted((ROOT / "data" / "raw").glob("*.txt"))[:2]
    out = tmp_path / "next.jsonl"
    code = cli.main(
        ["suggest", *map(str, raw), "--model", str(tiny_model), "-n", "3", "--include-annotated", "-o", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    rows = fileio.read_jsonl(out)
    assert len(rows) == 3 and [r["rank"] for r in rows] == [1, 2, 3]
    assert rows[0]["score"] >= rows[1]["score"] >= rows[2]["score"]
    assert all(0.0 <= r["mean_entropy"] <= 1.0 and 0.0 < r["min_confidence"] <= 1.0 for r in rows)
    # the written file is valid input again (e.g. for `ls push`)
    assert [r.id for r in loop.load_sections([out])] == [r["id"] for r in rows]

    # the gold corpus covers these bulletins: by default nothing is left to suggest
    code = cli.main(["suggest", *map(str, raw), "--model", str(tiny_model)])
    assert code == 2 and "already annotated" in capsys.readouterr().err


def test_least_confident_strategy_orders_by_min_confidence(tiny_model, gold_records):
    from civic_ner.prediction import Tagger

    tagger = Tagger.from_dir(tiny_model)
    ranked = loop.rank(loop.uncertainty(tagger, gold_records[:6]), "least-confident")
    confidences = [s.min_confidence for s in ranked]
    assert confidences == sorted(confidences)


# ---------------------------------------------------------------- Label Studio without a server


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A temporary copy of annotations/ and data/ (the jsonl splits and splits.json)."""
    (tmp_path / "annotations").mkdir()
    shutil.copy(ROOT / "annotations" / "tasks.json", tmp_path / "annotations" / "tasks.json")
    shutil.copy(ROOT / "annotations" / "label_config.xml", tmp_path / "annotations" / "label_config.xml")
    (tmp_path / "data").mkdir()
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "splits.json"):
        shutil.copy(ROOT / "data" / name, tmp_path / "data" / name)
    return tmp_path


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def exported(task_id: int, section_id: str, text: str, spans: list[tuple[int, int, str]], **annotation) -> dict:
    result = [labelstudio_tasks.result_item(text, Span(s, e, l), i) for i, (s, e, l) in enumerate(spans)]
    return {
        "id": task_id,
        "data": {"text": text, "section_id": section_id, "source": "new.txt"},
        "annotations": [{"id": 100 + task_id, "result": result, "was_cancelled": False, "ground_truth": False,
                         "completed_by": 1, **annotation}],
        "predictions": [],
    }


class FakeProject:
    def __init__(self, id: int, title: str) -> None:
        self.id, self.title = id, title


def fake_server(monkeypatch, tasks: list[dict]) -> None:
    monkeypatch.setattr(labelstudio, "connect", lambda *a, **k: object())
    monkeypatch.setattr(labelstudio, "find_project", lambda client, title: FakeProject(7, title))
    monkeypatch.setattr(labelstudio, "export_tasks", lambda client, pid, all_tasks=True: tasks)


def test_pull_merges_adds_replaces_and_reports_skipped(workspace, monkeypatch, capsys, gold_records):
    old = gold_records[0]
    text = "威海市民政局启动“银龄安康”工程,投入资金300万元,惠及老人1200名。"
    relabelled = exported(2, old.id, old.text, [(s.start, s.end, s.label) for s in old.spans[1:]])
    tasks = [
        exported(1, "new_bulletin-00", text, [(0, 6, "ORG"), (9, 13, "PROGRAM"), (21, 26, "MONEY"), (31, 36, "COUNT")]),
        relabelled,
        {"id": 3, "data": {"text": "跳过的段落", "section_id": "new_bulletin-01"},
         "annotations": [{"id": 9, "result": [], "was_cancelled": True}]},
        {"id": 4, "data": {"text": "还没标的段落", "section_id": "new_bulletin-02"}, "annotations": []},
    ]
    fake_server(monkeypatch, tasks)
    splits_before = json.loads((workspace / "data" / "splits.json").read_text())["assignments"]
    code = cli.main(
        ["ls", "pull", "--project", "p", "--annotations", str(workspace / "annotations" / "tasks.json"),
         "--data-dir", str(workspace / "data")]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "added 1: new_bulletin-00" in out and f"replaced (re-annotated) 1: {old.id}" in out
    assert "skipped in Label Studio, not imported: 1" in out and "not annotated yet, not imported: 1" in out
    records = {r.id: r for r in corpus.load_annotations(workspace / "annotations" / "tasks.json")}
    assert len(records) == len(gold_records) + 1
    assert records["new_bulletin-00"].spans == [Span(0, 6, "ORG"), Span(9, 13, "PROGRAM"), Span(21, 26, "MONEY"), Span(31, 36, "COUNT")]
    assert records[old.id].spans == old.spans[1:]
    assert "new_bulletin-01" not in records and "new_bulletin-02" not in records
    after = json.loads((workspace / "data" / "splits.json").read_text())["assignments"]
    assert {k: after[k] for k in splits_before} == splits_before and after["new_bulletin-00"] == "train"
    assert "new_bulletin-00" in (workspace / "data" / "train.jsonl").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "bad_spans, message",
    [
        ([(0, 6, "ORG"), (3, 9, "PROGRAM")], "overlapping spans"),
        ([(0, 6, "ORG"), (30, 99, "COUNT")], "out of range"),
        ([(0, 6, "PERSON")], "unknown label"),
    ],
)
def test_pull_rejects_bad_export_and_writes_nothing(workspace, monkeypatch, capsys, bad_spans, message):
    text = "威海市民政局启动“银龄安康”工程,投入资金300万元,惠及老人1200名。"
    good = exported(11, "fine-00", text, [(0, 6, "ORG")])
    bad = exported(12, "broken-00", text, [])
    bad["annotations"][0]["result"] = [
        {"id": f"r{i}", "from_name": "label", "to_name": "text", "type": "labels",
         "value": {"start": s, "end": e, "labels": [l]}}
        for i, (s, e, l) in enumerate(bad_spans)
    ]
    fake_server(monkeypatch, [good, bad])
    before = snapshot(workspace)
    code = cli.main(
        ["ls", "pull", "--project", "p", "--annotations", str(workspace / "annotations" / "tasks.json"),
         "--data-dir", str(workspace / "data")]
    )
    err = capsys.readouterr().err
    assert code == 2 and message in err and "id=12" in err and "broken-00" in err
    assert snapshot(workspace) == before  # nothing merged, nothing rebuilt


def test_merge_export_validates_everything_first(gold_records):
    text = "威海市民政局"
    tasks = [exported(1, "a-00", text, [(0, 6, "ORG")]), exported(2, "a-01", text, [(0, 3, "ORG"), (2, 5, "ORG")])]
    with pytest.raises(AnnotationError, match=r"id=2 section a-01: overlapping spans"):
        labelstudio.merge_export(tasks, list(gold_records), "<export>")


class _Refuse(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        body = b'{"detail": "Invalid token."}'
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:  # keep test output quiet
        pass


@pytest.fixture
def refusing_server():
    server = HTTPServer(("127.0.0.1", 0), _Refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", ["down", "wrong-key", "no-env"])
@pytest.mark.parametrize("command", ["pull", "push"])
def test_server_problems_are_one_line_and_change_nothing(workspace, monkeypatch, capsys, refusing_server, case, command):
    if case == "down":
        monkeypatch.setenv("LABEL_STUDIO_URL", f"http://127.0.0.1:{free_port()}")
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "abc123456")
    elif case == "wrong-key":
        monkeypatch.setenv("LABEL_STUDIO_URL", refusing_server)
        monkeypatch.setenv("LABEL_STUDIO_API_KEY", "wrong-key-123")
    else:
        monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
        monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    before = snapshot(workspace)
    if command == "pull":
        argv = ["ls", "pull", "--project", "p", "--annotations", str(workspace / "annotations" / "tasks.json"),
                "--data-dir", str(workspace / "data")]
    else:
        argv = ["ls", "push", "--project", "p", "--label-config", str(workspace / "annotations" / "label_config.xml"),
                str(sorted((ROOT / "data" / "raw").glob("*.txt"))[0])]
    code = cli.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("civic-ner: error: ")
    expected = {
        "down": "cannot reach Label Studio",
        "wrong-key": "refused the API key (HTTP 401",
        "no-env": "set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY",
    }[case]
    assert expected in err
    assert snapshot(workspace) == before


def test_push_builds_pre_annotated_tasks(tiny_model, gold_records):
    from civic_ner.prediction import Tagger

    tagger = Tagger.from_dir(tiny_model)
    record = Record("x-00", gold_records[0].text, [], "x.txt", {"raw_start": 0})
    entities = tagger.predict([record.text])[0]
    version = model_version(tiny_model)
    # one id per model: the one `predict --format labelstudio` and the Python API give it
    assert version == model_version(tiny_model) and version == NER(tagger, tiny_model).version
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    task = labelstudio_tasks.section_task(record, labelstudio_tasks.prediction(record.text, entities, version))
    assert task["data"] == {"text": record.text, "section_id": "x-00", "source": "x.txt", "raw_start": 0}
    (prediction,) = task["predictions"]
    assert prediction["model_version"] == version and len(prediction["result"]) == len(entities)
    for item, entity in zip(prediction["result"], sorted(entities, key=lambda e: (e.start, e.end))):
        assert item["value"]["start"] == entity.start and item["value"]["text"] == record.text[entity.start : entity.end]
        assert item["from_name"] == "label" and item["to_name"] == "text" and 0 < item["score"] <= 1


def test_load_sections_ids_follow_clean_sections(tmp_path):
    raw = sorted((ROOT / "data" / "raw").glob("*.txt"))[0]
    records = loop.load_sections([raw])
    assert records and all(r.id.startswith(raw.stem + "-") and r.source == raw.name for r in records)
    assert records[0].id == f"{raw.stem}-00"
    with pytest.raises(loop.LoopError, match="no such file"):
        loop.load_sections([tmp_path / "missing.txt"])
    with pytest.raises(loop.LoopError, match="more than once"):
        loop.load_sections([raw, raw])


def test_pull_round_trips_relations_and_refuses_bad_ones(workspace, monkeypatch, capsys):
    text = "威海市民政局投入5万元开展“暖冬行动”"
    money = text.index("5万元")
    program = text.index("暖冬行动")
    spans = [(0, 6, "ORG"), (money, money + 3, "MONEY"), (program, program + 4, "PROGRAM")]
    task = exported(1, "rel-00", text, spans)
    task["annotations"][0]["result"] += [
        {"type": "relation", "from_id": "s0", "to_id": "s1", "direction": "right", "labels": ["gives"]},
        {"type": "relation", "from_id": "s1", "to_id": "s2", "direction": "right", "labels": ["amount_of"]},
    ]
    fake_server(monkeypatch, [task])
    tasks_path = workspace / "annotations" / "tasks.json"
    code = cli.main(["ls", "pull", "--project", "p", "--annotations", str(tasks_path), "--data-dir", str(workspace / "data")])
    assert code == 0, capsys.readouterr().err
    merged = {r.id: r for r in corpus.load_annotations(tasks_path)}
    assert {(r.source, r.target, r.label) for r in merged["rel-00"].relations} == {(0, 1, "gives"), (1, 2, "amount_of")}
    row = next(json.loads(l) for l in (workspace / "data" / "train.jsonl").read_text(encoding="utf-8").splitlines()
               if json.loads(l)["id"] == "rel-00")
    assert row["relations"] == [{"from": 0, "to": 1, "label": "gives"}, {"from": 1, "to": 2, "label": "amount_of"}]
    before = tasks_path.read_bytes()
    for bad, message in (
        ({"type": "relation", "from_id": "s0", "to_id": "s9", "labels": ["gives"]}, "no labelled region with id s9"),
        ({"type": "relation", "from_id": "s2", "to_id": "s0", "labels": ["gives"]}, "gives cannot link PROGRAM"),
        ({"type": "relation", "from_id": "s0", "to_id": "s1", "labels": ["funds"]}, "unknown relation label"),
    ):
        broken = exported(2, "rel-01", text, spans)
        broken["annotations"][0]["result"].append(bad)
        fake_server(monkeypatch, [broken])
        code = cli.main(["ls", "pull", "--project", "p", "--annotations", str(tasks_path), "--data-dir", str(workspace / "data")])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "id=2 section rel-01" in err, err
        assert tasks_path.read_bytes() == before  # nothing merged
