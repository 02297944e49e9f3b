"""The ML backend server (civic_ner.serve) through Starlette's test client, and its retrainer
(civic_ner.serve_worker) with stand-in steps; one test serves the real tiny model."""
from __future__ import annotations

import base64
import json
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient  # noqa: E402

from civic_ner import cli  # noqa: E402
from civic_ner.serve import Backend, Limits, Served, create_app, on_promoted  # noqa: E402
from civic_ner.serve_worker import Outcome, Retrainer, Steps, run_retrain  # noqa: E402
from civic_ner.types import Entity  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = (ROOT / "annotations" / "label_config.xml").read_text(encoding="utf-8")
NO_RELATIONS = CONFIG[: CONFIG.index("<Relations>")] + CONFIG[CONFIG.index("</Relations>") + len("</Relations>") :]
TEXT = "威海市民政局启动“银龄安康”工程，投入资金300万元，惠及老人1200名。"
GOLD = [("威海市民政局", "ORG"), ("银龄安康", "PROGRAM"), ("300万元", "MONEY"), ("1200名", "COUNT")]


class FakeTagger:
    """Tags the surfaces of GOLD wherever they occur; a text with BOOM in it makes it raise."""

    def __init__(self, score: float = 0.9) -> None:
        self.score = score
        self.calls = 0

    def predict(self, texts, batch_size: int = 32, **_):
        self.calls += 1
        if any("BOOM" in t for t in texts):
            raise RuntimeError("tagger broke")
        out = []
        for text in texts:
            ents = [Entity(text.index(s), text.index(s) + len(s), label, self.score) for s, label in GOLD if s in text]
            out.append(sorted(ents, key=lambda e: e.start))
        return out


def task(text, task_id=1):
    return {"id": task_id, "data": {"text": text}}


def client_for(backend: Backend, credentials=None) -> TestClient:
    return TestClient(create_app(backend, credentials), raise_server_exceptions=False)


@pytest.fixture
def backend() -> Backend:
    return Backend(Served(FakeTagger(), "v1"), Limits(max_body_bytes=20_000, max_tasks=5, max_text_chars=500))


def test_health_setup_and_predict(backend):
    http = client_for(backend)
    health = http.get("/health").json()
    assert health["status"] == "UP" and health["model_version"] == "v1" and health["training"] == {"state": "off"}
    assert http.post("/setup", json={"project": "1.1", "schema": CONFIG}).json() == {"model_version": "v1"}
    answer = http.post("/predict", json={"tasks": [task(TEXT, 7), task("没有实体的一句话。", 8)], "label_config": NO_RELATIONS}).json()
    assert answer["model_version"] == "v1" and len(answer["results"]) == 2
    first, second = answer["results"]
    assert first["model_version"] == "v1" and first["score"] == pytest.approx(0.9)
    spans = [(i["value"]["text"], i["value"]["labels"][0], i["score"]) for i in first["result"]]
    assert spans == [(s, label, 0.9) for s, label in GOLD]
    for item in first["result"]:
        assert TEXT[item["value"]["start"] : item["value"]["end"]] == item["value"]["text"]
        assert (item["from_name"], item["to_name"], item["type"]) == ("label", "text", "labels")
    assert second == {"model_version": "v1", "score": 0.0, "result": []}  # nothing found: least sure, sorts first


def test_relations_only_when_the_config_has_them(backend):
    http = client_for(backend)
    with_relations = http.post("/predict", json={"tasks": [task(TEXT)], "label_config": CONFIG}).json()["results"][0]
    regions = {i["id"]: i["value"]["labels"][0] for i in with_relations["result"] if i["type"] == "labels"}
    relations = [(regions[i["from_id"]], i["labels"][0], regions[i["to_id"]]) for i in with_relations["result"] if i["type"] == "relation"]
    assert ("ORG", "runs", "PROGRAM") in relations and ("COUNT", "reaches", "PROGRAM") in relations
    plain = http.post("/predict", json={"tasks": [task(TEXT)], "label_config": NO_RELATIONS}).json()["results"][0]
    assert all(i["type"] == "labels" for i in plain["result"])
    only_runs = CONFIG.replace('<Relation value="reaches"/>', "").replace('<Relation value="amount_of"/>', "")
    limited = http.post("/predict", json={"tasks": [task(TEXT)], "label_config": only_runs}).json()["results"][0]
    assert {i["labels"][0] for i in limited["result"] if i["type"] == "relation"} <= {"runs", "gives", "part_of", "same_as"}


def test_malformed_tasks_get_their_own_error(backend):
    http = client_for(backend)
    tasks = ["not a task", {"id": 2}, {"id": 3, "data": {"text": 42}}, task("长" * 501, 4), task(TEXT, 5)]
    results = http.post("/predict", json={"tasks": tasks}).json()["results"]
    assert len(results) == 5
    assert [("error" in r, "result" in r) for r in results] == [(True, False)] * 4 + [(False, True)]
    assert "JSON object" in results[0]["error"] and results[1]["task"] == 2 and "data.text" in results[1]["error"]
    assert "int" in results[2]["error"] and "at most 500" in results[3]["error"]
    assert http.get("/health").status_code == 200


def test_a_task_that_breaks_the_tagger_fails_alone(backend):
    results = client_for(backend).post("/predict", json={"tasks": [task(TEXT, 1), task("BOOM", 2), task(TEXT, 3)]}).json()["results"]
    assert "tagger broke" in results[1]["error"] and results[1]["task"] == 2
    assert len(results[0]["result"]) == len(results[2]["result"]) == 4


@pytest.mark.parametrize("body, status, words", [
    (json.dumps({"tasks": [task("x", i) for i in range(6)]}), 413, "at most 5"),
    (json.dumps({"tasks": [task("长" * 800, i) for i in range(5)]}), 413, "at most 20000"),
    ("{not json", 400, "not JSON"),
    (json.dumps([1, 2]), 400, "JSON object"),
    (json.dumps({"tasks": "x"}), 400, "'tasks' list"),
    (json.dumps({"tasks": [], "label_config": "<View"}), 400, "not valid XML"),
    (json.dumps({"tasks": [], "label_config": {"x": 1}}), 400, "not XML text"),
])
def test_bad_requests_are_refused_with_one_line(backend, body, status, words):
    answer = client_for(backend).post("/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status and words in answer.json()["error"]


def test_setup_refuses_a_config_this_model_cannot_fill(backend):
    other = '<View><Labels name="ner" toName="doc"><Label value="ORG"/></Labels><Text name="doc" value="$doc"/></View>'
    answer = client_for(backend).post("/setup", json={"project": "1.1", "schema": other})
    assert answer.status_code == 400 and 'Labels name="label"' in answer.json()["error"]


def test_basic_auth(backend):
    http = client_for(backend, ("ls", "s3cret"))

    def auth(user, password):
        return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}

    assert http.get("/health").status_code == 401
    assert http.get("/health", headers=auth("ls", "wrong")).status_code == 401
    assert http.post("/predict", json={"tasks": []}, headers={"Authorization": "Basic %%%"}).status_code == 401
    assert http.get("/health", headers=auth("ls", "s3cret")).json()["status"] == "UP"


def test_webhook_actions(backend):
    http = client_for(backend)
    assert http.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 1}}).json()["status"] == "ignored"
    off = http.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 1, "title": "p"}})
    assert off.status_code == 200 and "--no-retrain" in off.json()["status"]
    seen = []

    class Recorder:
        def schedule(self, *args, **kwargs):
            seen.append((args, kwargs))
            return "started"

        def status(self):
            return {"state": "idle"}

    backend.retrainer = Recorder()
    answer = http.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 4, "title": "p"}})
    assert answer.status_code == 201 and seen == [(("START_TRAINING", "p", 4), {"force": True})]
    assert http.post("/webhook", json={"action": "ANNOTATION_CREATED"}).status_code == 400


# ---------------------------------------------------------------- the retrainer


class Gate:
    """Stand-in steps whose training waits for ``release``, then returns ``outcome`` (or raises ``crash``)."""

    def __init__(self, backend: Backend, outcome: Outcome | None = None, crash: Exception | None = None, changed=True):
        self.release, self.training = threading.Event(), threading.Event()
        self.outcome, self.crash, self.changed = outcome, crash, changed
        self.trained = 0
        loader = lambda model_dir: Served(FakeTagger(score=0.5), f"v{self.trained + 1}", model_dir)  # noqa: E731
        self.steps = Steps(lambda job: self.changed, self.train, on_promoted(backend, loader))

    def train(self) -> Outcome:
        self.trained += 1
        self.training.set()
        assert self.release.wait(10)
        if self.crash is not None:
            raise self.crash
        return self.outcome


def retrainer_for(backend: Backend, gate: Gate) -> Retrainer:
    backend.retrainer = Retrainer(gate.steps, version=lambda: backend.served.version)
    return backend.retrainer


def test_events_during_a_run_coalesce_and_old_model_serves_meanwhile(backend, tmp_path):
    gate = Gate(backend, Outcome(True, "new dev micro F1 0.5 >= current 0.4 - tolerance 0.01", 0.4, 0.5, tmp_path))
    worker = retrainer_for(backend, gate)
    http = client_for(backend)
    assert http.post("/webhook", json={"action": "ANNOTATION_CREATED", "project": {"id": 1, "title": "p"}}).json()["status"] == "started"
    assert gate.training.wait(10)
    for _ in range(4):
        assert worker.schedule("ANNOTATION_UPDATED", "p", 1) == "queued"
    health = http.get("/health").json()
    assert health["training"]["state"] == "training" and health["training"]["queued"] is True
    assert http.post("/predict", json={"tasks": [task(TEXT)]}).json()["model_version"] == "v1"  # old model meanwhile
    gate.release.set()
    assert worker.wait_idle(20)
    assert gate.trained == 2  # one run, then one for the four events that arrived during it
    last = http.get("/health").json()["training"]["last"]
    assert last["result"] == "promoted" and last["old_dev_f1"] == 0.4 and last["new_dev_f1"] == 0.5
    assert last["events"] == ["ANNOTATION_UPDATED"] * 4 and last["model_version"] == "v3"
    answer = http.post("/predict", json={"tasks": [task(TEXT)]}).json()
    assert answer["model_version"] == "v3" and answer["results"][0]["score"] == pytest.approx(0.5)


def test_a_crash_in_training_leaves_the_served_model(backend):
    gate = Gate(backend, crash=MemoryError("out of memory"))
    gate.release.set()
    worker = retrainer_for(backend, gate)
    worker.schedule("START_TRAINING", "p", 1, force=True)
    assert worker.wait_idle(20)
    assert backend.served.version == "v1"
    assert worker.status()["last"]["result"] == "failed" and "out of memory" in worker.status()["last"]["error"]
    # the worker lives on: the next event runs again
    gate.crash = None
    gate.outcome = Outcome(False, "new dev micro F1 0.1 < current 0.4 - tolerance 0.01", 0.4, 0.1, None)
    worker.schedule("ANNOTATION_CREATED", "p", 1)
    assert worker.wait_idle(20)
    assert worker.status()["last"]["result"] == "not promoted" and backend.served.version == "v1" and gate.trained == 2


def test_nothing_new_trains_nothing_unless_the_button_says_so(backend, tmp_path):
    gate = Gate(backend, Outcome(True, "ok", None, 0.3, tmp_path), changed=False)
    gate.release.set()
    worker = retrainer_for(backend, gate)
    worker.schedule("ANNOTATION_UPDATED", "p", 1)
    assert worker.wait_idle(20) and gate.trained == 0 and worker.status()["last"]["result"] == "nothing new"
    worker.schedule("START_TRAINING", "p", 1, force=True)
    assert worker.wait_idle(20) and gate.trained == 1 and backend.served.version == "v2"


def test_run_retrain_reads_the_exit_code_and_gate(tmp_path):
    current = tmp_path / "run"
    rejected = tmp_path / "run.rejected"
    rejected.mkdir()
    gate = {"reason": "new dev micro F1 0.2000 < current 0.5000 - tolerance 0.01", "old_dev": {"micro": {"f1": 0.5}},
            "new_dev": {"micro": {"f1": 0.2}}}
    (rejected / "gate.json").write_text(json.dumps(gate))
    outcome = run_retrain([sys.executable, "-c", "raise SystemExit(3)"], current)
    assert (outcome.promoted, outcome.old_f1, outcome.new_f1, outcome.model_dir) == (False, 0.5, 0.2, None)
    with pytest.raises(RuntimeError, match="exited with 2: civic-ner: error: no data"):
        run_retrain([sys.executable, "-c", "import sys; print('civic-ner: error: no data', file=sys.stderr); sys.exit(2)"], current)


# ---------------------------------------------------------------- the command line and the real model


def test_serve_refuses_unsafe_or_unusable_settings(tiny_model_dir, tmp_path, monkeypatch, capsys):
    for name in ("CIVIC_NER_BACKEND_USER", "CIVIC_NER_BACKEND_PASSWORD", "LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    cases = [
        (["--host", "0.0.0.0", "--no-retrain"], "exposes the model"),
        (["--max-tasks", "0", "--no-retrain"], "must be positive"),
        (["--config", str(ROOT / "configs" / "default.yaml")], "set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY"),
        (["--config", str(tmp_path / "none.yaml")], "none.yaml"),
    ]
    for extra, words in cases:
        assert cli.main(["serve", "--model", str(tiny_model_dir), "--port", "1", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1, err
    monkeypatch.setenv("CIVIC_NER_BACKEND_USER", "only-the-user")
    assert cli.main(["serve", "--model", str(tiny_model_dir), "--no-retrain"]) == 2
    assert "set both" in capsys.readouterr().err
    monkeypatch.delenv("CIVIC_NER_BACKEND_USER")
    (tmp_path / "elsewhere").mkdir()
    assert cli.main(["serve", "--model", str(tmp_path / "elsewhere"), "--no-retrain"]) == 2
    assert "not a civic-ner model directory" in capsys.readouterr().err


def test_the_real_tiny_model_served(tiny_model_dir):
    from civic_ner.model_dir import model_version
    from civic_ner.prediction import Tagger
    from civic_ner.serve import load_served

    served = load_served(tiny_model_dir)
    backend = Backend(served)
    texts = [TEXT, "乳山市妇联组织“虹桥拉手”活动，累计帮扶困境儿童1125名。"]
    started = time.monotonic()
    answer = client_for(backend).post("/predict", json={"tasks": [task(t, i) for i, t in enumerate(texts)], "label_config": CONFIG}).json()
    assert time.monotonic() - started < 30
    assert answer["model_version"] == model_version(tiny_model_dir)
    expected = Tagger.from_dir(tiny_model_dir).predict(texts)
    for text, result, entities in zip(texts, answer["results"], expected):
        got = [(i["value"]["start"], i["value"]["end"], i["value"]["labels"][0]) for i in result["result"] if i["type"] == "labels"]
        assert got == [(e.start, e.end, e.label) for e in sorted(entities, key=lambda e: e.start)]
        ids = {i["id"] for i in result["result"] if i["type"] == "labels"}
        assert all(i["from_id"] in ids and i["to_id"] in ids for i in result["result"] if i["type"] == "relation")


def test_connect_refuses_a_backend_that_is_not_there(monkeypatch, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "k" * 20)
    assert cli.main(["ls", "connect", "--project", "p", "--url", f"http://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot reach a civic-ner backend" in err and "civic-ner serve" in err and len(err.splitlines()) == 1
