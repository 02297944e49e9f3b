"""The Label Studio round trip against a real server: push with pre-annotations, annotate, pull.

The server is the session fixture ``label_studio_server`` (tests/conftest.py): ``label-studio start`` on
127.0.0.1 with a throw-away data directory and a legacy API token. Skipped when label-studio is not
installed. Slow (about a minute: the server migrates a fresh SQLite database on start).
"""
from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from civic_ner import cli, corpus, labelstudio, labelstudio_tasks
from civic_ner.model_dir import model_version
from civic_ner.corpus import Span
from civic_ner.config import TrainConfig
from conftest import LS_TOKEN, spans_at

pytestmark = pytest.mark.labelstudio

ROOT = Path(__file__).resolve().parents[1]
TOKEN = LS_TOKEN
PROJECT = "civic-ner integration"

BULLETIN_A = """威海市民政局启动银龄安康工程

威海市民政局近日启动“银龄安康”工程,投入资金300万元,惠及老人1200名。

乳山市虹桥拉手活动开展21年

乳山市妇联组织“虹桥拉手”活动,累计帮扶困境儿童1125名。
"""
BULLETIN_B = """荣成市扶贫办开展“暖冬行动”

荣成市扶贫办开展“暖冬行动”,发放救助金50万元,帮扶困难群众860户。
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_encoder_dir, gold_records) -> Path:
    from civic_ner import fileio
    from civic_ner.training import train

    base = tmp_path_factory.mktemp("ls-model")
    pick = sorted(gold_records, key=lambda r: len(r.text))
    for split, records in {"train": pick[8:14], "dev": pick[14:16], "test": pick[16:18]}.items():
        fileio.write_jsonl(base / "data" / f"{split}.jsonl", (r.to_json() for r in records))
    config = TrainConfig(
        name="tiny", model=str(tiny_encoder_dir), data_dir=str(base / "data"), max_length=48, stride=8,
        epochs=1, batch_size=8, learning_rate=1e-3, freeze_embeddings=False,
    )
    train(config, base / "run", log=lambda *_: None)
    return base / "run" / "model"


def test_push_annotate_pull_round_trip(label_studio_server, tiny_model, tmp_path, monkeypatch, capsys):
    started = time.monotonic()
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio_server)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", TOKEN)
    # a temporary copy of annotations/ and data/
    work = tmp_path / "repo"
    (work / "annotations").mkdir(parents=True)
    for name in ("tasks.json", "label_config.xml"):
        shutil.copy(ROOT / "annotations" / name, work / "annotations" / name)
    (work / "data").mkdir()
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "splits.json"):
        shutil.copy(ROOT / "data" / name, work / "data" / name)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "itest_a.txt").write_text(BULLETIN_A, encoding="utf-8")
    (raw / "itest_b.txt").write_text(BULLETIN_B, encoding="utf-8")
    sections = labelstudio_sections(raw)
    assert len(sections) == 3  # two sections of bulletin A, one of B
    old_records = corpus.load_annotations(work / "annotations" / "tasks.json")
    old_splits = json.loads((work / "data" / "splits.json").read_text())["assignments"]

    # push: a new project, every section imported with the tiny model's predictions
    push = ["ls", "push", "--project", PROJECT, "--model", str(tiny_model),
            "--label-config", str(work / "annotations" / "label_config.xml"), str(raw)]
    assert cli.main(push) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "created" in out and f"imported {len(sections)} section(s)" in out
    # pushing again imports nothing twice
    assert cli.main(push) == 0
    assert f"left {len(sections)} section(s) already in the project alone" in capsys.readouterr().out

    client = labelstudio.connect()
    project = labelstudio.find_project(client, PROJECT)
    version = model_version(tiny_model)
    exported = labelstudio.export_tasks(client, project.id)
    assert sorted(t["data"]["section_id"] for t in exported) == sorted(s.id for s in sections)
    from civic_ner.prediction import Tagger

    tagger = Tagger.from_dir(tiny_model)
    predicted_total = 0
    for task in exported:  # the JSON export lists prediction ids; read the predictions themselves
        (prediction,) = client.predictions.list(task=task["id"])
        assert prediction.model_version == version
        expected = [e.span for e in tagger.predict([task["data"]["text"]])[0]]
        got = sorted(Span(i["value"]["start"], i["value"]["end"], i["value"]["labels"][0]) for i in prediction.result)
        assert got == sorted(expected)
        predicted_total += len(got)
        for item in prediction.result:
            value = item["value"]
            assert task["data"]["text"][value["start"] : value["end"]] == value["text"]
            assert value["labels"][0] in ("ORG", "PROGRAM", "MONEY", "COUNT")

    # annotate two tasks as an annotator would (one section of each bulletin)
    tasks = {t.data["section_id"]: t for t in client.tasks.list(project=project.id)}
    a_id = next(s.id for s in sections if s.id.startswith("itest_a") and "银龄安康" in s.text)
    b_id = next(s.id for s in sections if s.id.startswith("itest_b") and "暖冬行动" in s.text and "万元" in s.text)
    submitted = {
        a_id: spans_at(tasks[a_id].data["text"], [("威海市民政局", "ORG"), ("银龄安康", "PROGRAM"), ("300万元", "MONEY"), ("1200名", "COUNT")]),
        b_id: spans_at(tasks[b_id].data["text"], [("荣成市扶贫办", "ORG"), ("暖冬行动", "PROGRAM"), ("50万元", "MONEY")]),
    }
    for sid, spans in submitted.items():
        text = tasks[sid].data["text"]
        result = [labelstudio_tasks.result_item(text, span, i) for i, span in enumerate(spans)]
        client.annotations.create(id=tasks[sid].id, result=result, was_cancelled=False, lead_time=3.0)

    # pull into the temporary copy
    pull = ["ls", "pull", "--project", PROJECT, "--annotations", str(work / "annotations" / "tasks.json"),
            "--data-dir", str(work / "data")]
    assert cli.main(pull) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "added 2" in out and f"not annotated yet, not imported: {len(sections) - 2}" in out
    merged = {r.id: r for r in corpus.load_annotations(work / "annotations" / "tasks.json")}
    assert len(merged) == len(old_records) + 2
    for sid, spans in submitted.items():
        assert merged[sid].spans == spans and merged[sid].text == tasks[sid].data["text"]
        assert merged[sid].source in ("itest_a.txt", "itest_b.txt")
    for record in old_records:
        assert merged[record.id].to_json() == record.to_json()
    new_splits = json.loads((work / "data" / "splits.json").read_text())["assignments"]
    assert {k: new_splits[k] for k in old_splits} == old_splits
    assert new_splits[a_id] == new_splits[b_id] == "train"
    train_ids = {r.id for r in corpus.load_split(work / "data", "train")}
    assert {a_id, b_id} <= train_ids
    assert len(corpus.load_split(work / "data", "all")) == len(merged)

    # a re-annotation replaces the section; an unchanged pull writes nothing
    fixed = submitted[b_id] + spans_at(tasks[b_id].data["text"], [("860户", "COUNT")])
    text = tasks[b_id].data["text"]
    client.annotations.create(
        id=tasks[b_id].id, result=[labelstudio_tasks.result_item(text, s, i) for i, s in enumerate(sorted(fixed))], was_cancelled=False
    )
    assert cli.main(pull) == 0
    assert f"replaced (re-annotated) 1: {b_id}" in capsys.readouterr().out
    merged = {r.id: r for r in corpus.load_annotations(work / "annotations" / "tasks.json")}
    assert merged[b_id].spans == sorted(fixed)
    before = (work / "annotations" / "tasks.json").read_bytes()
    assert cli.main(pull) == 0
    assert "nothing new" in capsys.readouterr().out
    assert (work / "annotations" / "tasks.json").read_bytes() == before
    print(f"round trip took {time.monotonic() - started:.1f} s (server already up); {predicted_total} pre-annotated spans")


def test_wrong_key_against_real_server(label_studio_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio_server)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "not-the-token-123")
    tasks = tmp_path / "tasks.json"
    shutil.copy(ROOT / "annotations" / "tasks.json", tasks)
    before = tasks.read_bytes()
    code = cli.main(["ls", "pull", "--project", PROJECT, "--annotations", str(tasks), "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "refused the API key" in err and len(err.splitlines()) == 1
    assert tasks.read_bytes() == before and not (tmp_path / "d").exists()


def labelstudio_sections(raw: Path):
    from civic_ner.loop import load_sections

    return load_sections([raw])
