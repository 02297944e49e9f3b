"""The interactive loop end to end: a real Label Studio server, the real ``civic-ner serve`` (a tiny
model built in the test), ``ls connect``, a task opened through Label Studio's API, an annotation
submitted, a retrain run by the webhook and the new ``model_version`` served to Label Studio.

Uses the session's ``label_studio_server`` (tests/conftest.py). About 1-2 minutes on 2 cores beside it.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from civic_ner import cli, fileio, labelstudio, labelstudio_tasks
from civic_ner.corpus import Record, save_tasks
from civic_ner.model_dir import model_version
from conftest import LS_TOKEN, TINY_TRAINED, free_port, running

pytestmark = pytest.mark.labelstudio
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "civic-ner interactive"
RETRAIN_TIMEOUT_S = float(os.environ.get("CIVIC_NER_RETRAIN_TIMEOUT", "240"))


def _get(url: str, token: str | None = None) -> dict:
    headers = {"Authorization": f"Token {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as answer:
        return json.loads(answer.read())


def _wait(what: str, check, timeout: float, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(1)
    pytest.fail(f"{what} not seen after {timeout:.0f} s; backend log:\n" + "\n".join(log.read_text().splitlines()[-40:]))


@pytest.fixture
def loop_dir(tmp_path, tiny_model_dir, tiny_encoder_dir, gold_records) -> Path:
    """A run folder serving the tiny model, a small annotations file with fixed splits, a tiny config."""
    shutil.copytree(tiny_model_dir, tmp_path / "run" / "model")
    pick = sorted(gold_records, key=lambda r: len(r.text))
    splits = {"train": pick[10:16], "dev": pick[16:18], "test": pick[18:20]}
    save_tasks(tmp_path / "annotations" / "tasks.json", [r for rs in splits.values() for r in rs])
    fileio.write_json(tmp_path / "data" / "splits.json", {"assignments": {r.id: s for s, rs in splits.items() for r in rs}})
    config = {"name": "tiny", "model": str(tiny_encoder_dir), "data_dir": str(tmp_path / "data"), **TINY_TRAINED,
              "train_splits": ["train"], "promote_tolerance": 1.0}  # the loop is under test here, not the gate
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    return tmp_path


@pytest.fixture
def backend_url(loop_dir, label_studio_server):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
           "LABEL_STUDIO_URL": label_studio_server, "LABEL_STUDIO_API_KEY": LS_TOKEN}
    command = [sys.executable, "-c", "import sys; from civic_ner.cli import main; sys.exit(main(sys.argv[1:]))", "serve",
               "--model", str(loop_dir / "run" / "model"), "--port", str(port), "--config", str(loop_dir / "tiny.yaml"),
               "--annotations", str(loop_dir / "annotations" / "tasks.json")]
    url = f"http://127.0.0.1:{port}"
    with running(command, env, loop_dir, loop_dir / "backend.log") as process:
        _wait("the backend's /health", lambda: process.poll() is None and _get(f"{url}/health"), 120, loop_dir / "backend.log")
        yield url


def test_connect_predict_annotate_retrain(label_studio_server, backend_url, loop_dir, gold_records, monkeypatch, capsys):
    started = time.monotonic()
    monkeypatch.setenv("LABEL_STUDIO_URL", label_studio_server)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", LS_TOKEN)
    client = labelstudio.connect()
    config = (ROOT / "annotations" / "label_config.xml").read_text(encoding="utf-8")
    project, _ = labelstudio.find_or_create_project(client, PROJECT, config)
    pick = sorted(gold_records, key=lambda r: len(r.text))
    fresh = [pick[20], pick[21]]
    client.projects.import_tasks(id=project.id, request=[labelstudio_tasks.section_task(Record(r.id, r.text, [], r.source, r.meta))
                                                         for r in fresh], return_task_ids=True)
    tasks = {t.data["section_id"]: t for t in client.tasks.list(project=project.id)}
    v1 = model_version(loop_dir / "run" / "model")

    # connect: backend registered, project set up, every task predicted by the served model
    assert cli.main(["ls", "connect", "--project", PROJECT, "--url", backend_url]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert f"model_version {v1}" in out and "predicted 2 unlabelled task(s)" in out
    settings = client.projects.get(id=project.id)
    assert settings.model_version == v1 and settings.sampling == "Uncertainty sampling" and settings.show_collab_predictions
    (backend,) = client.ml.list(project=project.id)
    assert backend.is_interactive and backend.title == v1
    for task in tasks.values():
        (prediction,) = client.predictions.list(task=task.id)
        assert prediction.model_version == v1 and prediction.score is not None
        assert all(task.data["text"][i["value"]["start"] : i["value"]["end"]] == i["value"]["text"]
                   for i in prediction.result if i["type"] == "labels")

    # open a task as the labeling stream does: it comes with the served model's pre-annotation
    opened = _get(f"{label_studio_server}/api/projects/{project.id}/next", LS_TOKEN)
    assert [p["model_version"] for p in opened["predictions"]] == [v1]

    # submit an annotation: the webhook schedules a retrain, which pulls it, trains and promotes
    annotated = fresh[0]
    result = [labelstudio_tasks.result_item(annotated.text, s, i) for i, s in enumerate(sorted(annotated.spans))]
    client.annotations.create(id=tasks[annotated.id].id, result=result, was_cancelled=False, lead_time=2.0)

    def promoted():
        health = _get(f"{backend_url}/health")
        last = health["training"]["last"]
        return health if last and health["training"]["state"] == "idle" and not health["training"]["queued"] else None

    health = _wait("a finished retrain", promoted, RETRAIN_TIMEOUT_S, loop_dir / "backend.log")
    last = health["training"]["last"]
    assert last["result"] == "promoted", last
    v2 = health["model_version"]
    assert v2 != v1 and last["model_version"] == v2 and last["old_version"] == v1
    assert v2 == model_version(loop_dir / "run" / "model")  # promoted into the run folder
    assert "ANNOTATION_CREATED" in last["events"] and last["new_dev_f1"] is not None
    merged = json.loads((loop_dir / "annotations" / "tasks.json").read_text(encoding="utf-8"))
    assert annotated.id in {t["data"]["section_id"] for t in merged}

    # Label Studio follows the new version: backend title, project version, fresh predictions
    assert client.ml.get(id=backend.id).title == v2 and client.projects.get(id=project.id).model_version == v2
    other = tasks[fresh[1].id]
    assert v2 in [p.model_version for p in client.predictions.list(task=other.id)]
    opened = _get(f"{label_studio_server}/api/projects/{project.id}/next", LS_TOKEN)
    assert opened["id"] == other.id and [p["model_version"] for p in opened["predictions"]] == [v2]
    print(f"interactive loop took {time.monotonic() - started:.1f} s (servers already up); retrain {last['seconds']} s")
