"""Every entry point on every kind of bad input: one error line naming the file, no traceback, the
documented exit code, and nothing written or half-written. One table, one test per row."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest

from civic_ner import cli

ROOT = Path(__file__).resolve().parents[1]
RAW = sorted((ROOT / "data" / "raw").glob("*.txt"))


@dataclass
class Case:
    name: str
    argv: Callable[[Path, Path], list[str]]  # (workspace, good model dir) -> argv
    names: str  # what the error line must mention (formatted with ws=workspace)
    code: int = 2
    setup: Callable[[Path, Path], None] = lambda ws, model: None
    env: dict[str, str] = field(default_factory=dict)
    left_behind: tuple[str, ...] = ("out", "out.jsonl", "run", "trimmed")  # must not exist in the workspace


def _write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))


def _copy_model(model: Path, ws: Path) -> Path:
    target = ws / "model"
    shutil.copytree(model, target)
    return target


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _data_dir(ws: Path) -> Path:
    data = ws / "data"
    for split in ("train", "dev", "test"):
        shutil.copy(ROOT / "data" / f"{split}.jsonl", data / f"{split}.jsonl") if data.exists() else (
            data.mkdir(parents=True), shutil.copy(ROOT / "data" / f"{split}.jsonl", data / f"{split}.jsonl"))
    return data


def _config(ws: Path, text: str | bytes) -> Path:
    _write(ws / "c.yaml", text)
    return ws / "c.yaml"


BULLETIN = lambda ws: str(RAW[0])  # noqa: E731

CASES = [
    # ---------------------------------------------------------------- predict / facts: the model
    Case("predict: missing model dir", lambda ws, m: ["predict", "--model", str(ws / "nope"), BULLETIN(ws), "-o", str(ws / "out.jsonl")],
         "{ws}/nope"),
    Case("predict: empty model dir", lambda ws, m: ["predict", "--model", str(ws / "empty"), BULLETIN(ws), "-o", str(ws / "out.jsonl")],
         "{ws}/empty", setup=lambda ws, m: (ws / "empty").mkdir()),
    Case("predict: broken civic_ner.json", lambda ws, m: ["predict", "--model", str(ws / "model"), BULLETIN(ws)],
         "{ws}/model/civic_ner.json",
         setup=lambda ws, m: (_copy_model(m, ws), _write(ws / "model" / "civic_ner.json", "{not json"))),
    Case("predict: truncated encoder weights", lambda ws, m: ["predict", "--model", str(ws / "model"), BULLETIN(ws), "-o", str(ws / "out.jsonl")],
         "{ws}/model/encoder/model.safetensors: corrupt or truncated",
         setup=lambda ws, m: (_copy_model(m, ws), _truncate(ws / "model" / "encoder" / "model.safetensors"))),
    Case("facts: truncated head weights", lambda ws, m: ["facts", "--model", str(ws / "model"), BULLETIN(ws), "-o", str(ws / "out.jsonl")],
         "{ws}/model/head.safetensors: corrupt or truncated",
         setup=lambda ws, m: (_copy_model(m, ws), _truncate(ws / "model" / "head.safetensors"))),
    Case("predict: model from civic-ner 0.1", lambda ws, m: ["predict", "--model", str(ws / "old"), BULLETIN(ws)],
         "{ws}/old: a model directory from civic-ner 0.1",
         setup=lambda ws, m: _write(ws / "old" / "civic_ner.json", json.dumps({"labels": ["ORG"], "max_length": 128}))),
    Case("predict: device not on this machine", lambda ws, m: ["predict", "--model", str(m), "--device", "cuda:7", BULLETIN(ws), "-o", str(ws / "out.jsonl")],
         "device 'cuda:7' is not available here"),
    Case("predict: zero batch size", lambda ws, m: ["predict", "--model", str(m), "--batch-size", "0", BULLETIN(ws)],
         "--batch-size must be at least 1"),
    # ---------------------------------------------------------------- predict / facts: inputs and outputs
    Case("predict: missing input", lambda ws, m: ["predict", "--model", str(m), str(ws / "gone.txt"), "-o", str(ws / "out.jsonl")],
         "{ws}/gone.txt: no such file", code=1),
    Case("predict: empty input", lambda ws, m: ["predict", "--model", str(m), str(ws / "e.txt"), "-o", str(ws / "out.jsonl")],
         "{ws}/e.txt: empty file", code=1, setup=lambda ws, m: _write(ws / "e.txt", b"")),
    Case("predict: binary input", lambda ws, m: ["predict", "--model", str(m), str(ws / "b.txt"), "-o", str(ws / "out.jsonl")],
         "{ws}/b.txt: binary file", code=1, setup=lambda ws, m: _write(ws / "b.txt", b"\x00\x01\x02\xff" * 64)),
    Case("predict: bad byte-order mark", lambda ws, m: ["predict", "--model", str(m), str(ws / "u.txt"), "-o", str(ws / "out.jsonl")],
         "{ws}/u.txt: starts with a utf-8-sig byte-order mark", code=1,
         setup=lambda ws, m: _write(ws / "u.txt", b"\xef\xbb\xbf\xff\xfe\xfd\x80" * 20)),
    Case("predict: unwritable output", lambda ws, m: ["predict", "--model", str(m), BULLETIN(ws), "-o", "/proc/civic-ner-out.jsonl"],
         "/proc/civic-ner-out.jsonl: cannot write here"),
    Case("predict: output is a folder", lambda ws, m: ["predict", "--model", str(m), BULLETIN(ws), "-o", str(ws / "dir")],
         "{ws}/dir: is a directory", setup=lambda ws, m: (ws / "dir").mkdir()),
    Case("facts: unknown output suffix", lambda ws, m: ["facts", "--model", str(m), BULLETIN(ws), "-o", str(ws / "out.xlsx")],
         "{ws}/out.xlsx: cannot tell the format"),
    # ---------------------------------------------------------------- corpus
    Case("corpus validate: missing", lambda ws, m: ["corpus", "validate", str(ws / "tasks.json")], "{ws}/tasks.json: no such file"),
    Case("corpus validate: empty", lambda ws, m: ["corpus", "validate", str(ws / "tasks.json")], "{ws}/tasks.json: not valid JSON",
         setup=lambda ws, m: _write(ws / "tasks.json", b"")),
    Case("corpus validate: binary", lambda ws, m: ["corpus", "validate", str(ws / "tasks.json")], "{ws}/tasks.json",
         setup=lambda ws, m: _write(ws / "tasks.json", b"\x00\x9f\x92\x96" * 50)),
    Case("corpus validate: GBK instead of UTF-8", lambda ws, m: ["corpus", "validate", str(ws / "tasks.json")], "{ws}/tasks.json: not UTF-8",
         setup=lambda ws, m: _write(ws / "tasks.json", json.dumps([{"data": {"text": "乳山市妇联"}}], ensure_ascii=False).encode("gbk"))),
    Case("corpus validate: wrong schema", lambda ws, m: ["corpus", "validate", str(ws / "tasks.json")], "{ws}/tasks.json: expected a JSON list",
         setup=lambda ws, m: _write(ws / "tasks.json", '{"tasks": []}')),
    Case("corpus validate: truncated export", lambda ws, m: ["corpus", "validate", str(ws / "tasks.json")], "{ws}/tasks.json: not valid JSON",
         setup=lambda ws, m: _write(ws / "tasks.json", (ROOT / "annotations" / "tasks.json").read_bytes()[:5000])),
    Case("corpus build: unwritable data dir", lambda ws, m: ["corpus", "build", "--annotations", str(ROOT / "annotations" / "tasks.json"),
                                                             "--data-dir", "/proc/civic-ner-data", "--synthetic", ""],
         "/proc/civic-ner-data"),
    Case("corpus build: bad synthetic file", lambda ws, m: ["corpus", "build", "--annotations", str(ROOT / "annotations" / "tasks.json"),
                                                            "--data-dir", str(ws / "out"), "--synthetic", str(ws / "s.json")],
         "{ws}/s.json", setup=lambda ws, m: _write(ws / "s.json", "[1, 2]")),
    # ---------------------------------------------------------------- training, evaluation, cross-validation
    Case("train: missing config", lambda ws, m: ["train", "--config", str(ws / "c.yaml"), "--output-dir", str(ws / "run")], "{ws}/c.yaml: config file not found"),
    Case("train: empty config is fine but data missing", lambda ws, m: ["train", "--config", str(ws / "c.yaml"), "--data-dir", str(ws / "nodata"), "--output-dir", str(ws / "run")],
         "{ws}/nodata/train.jsonl: not found", setup=lambda ws, m: _config(ws, "")),
    Case("train: binary config", lambda ws, m: ["train", "--config", str(ws / "c.yaml"), "--output-dir", str(ws / "run")], "{ws}/c.yaml: not UTF-8",
         setup=lambda ws, m: _config(ws, b"\xff\xfe\x00\x81" * 10)),
    Case("train: malformed YAML", lambda ws, m: ["train", "--config", str(ws / "c.yaml"), "--output-dir", str(ws / "run")], "{ws}/c.yaml: malformed YAML",
         setup=lambda ws, m: _config(ws, "epochs: [1,\n")),
    Case("train: negative learning rate", lambda ws, m: ["train", "--config", str(ws / "c.yaml"), "--output-dir", str(ws / "run")],
         "{ws}/c.yaml: learning_rate: -1.0 is outside the allowed range", setup=lambda ws, m: _config(ws, "learning_rate: -1\n")),
    Case("train: stride not below max_length", lambda ws, m: ["train", "--config", str(ws / "c.yaml"), "--output-dir", str(ws / "run")],
         "{ws}/c.yaml: stride", setup=lambda ws, m: _config(ws, "max_length: 64\nstride: 64\n")),
    Case("train: device not on this machine", lambda ws, m: ["train", "--config", str(ws / "c.yaml"), "--data-dir", str(_data_dir(ws)), "--output-dir", str(ws / "run")],
         "device 'cuda:7' is not available here", setup=lambda ws, m: _config(ws, "device: cuda:7\n")),
    Case("train: truncated split file", lambda ws, m: ["train", "--config", str(ws / "c.yaml"), "--data-dir", str(ws / "data"), "--output-dir", str(ws / "run")],
         "{ws}/data/dev.jsonl", setup=lambda ws, m: (_config(ws, ""), _data_dir(ws),
                                                      _write(ws / "data" / "dev.jsonl", (ROOT / "data" / "dev.jsonl").read_bytes()[:700]))),
    Case("evaluate: truncated weights", lambda ws, m: ["evaluate", "--model", str(ws / "model"), "--data-dir", str(ROOT / "data")], "{ws}/model/encoder/model.safetensors",
         setup=lambda ws, m: (_copy_model(m, ws), _truncate(ws / "model" / "encoder" / "model.safetensors"))),
    Case("evaluate: unwritable JSON report", lambda ws, m: ["evaluate", "--model", str(m), "--data-dir", str(ROOT / "data"), "--no-baselines",
                                                           "--json", "/proc/civic-ner.json"],
         "/proc/civic-ner.json: cannot write here"),
    Case("cv: one fold", lambda ws, m: ["cv", "--folds", "1", "-o", str(ws / "out")], "--folds must be at least 2"),
    Case("cv: bad config value", lambda ws, m: ["cv", "--config", str(ws / "c.yaml"), "-o", str(ws / "out")], "{ws}/c.yaml: warmup_ratio",
         setup=lambda ws, m: _config(ws, "warmup_ratio: 2\n")),
    # ---------------------------------------------------------------- trim and the annotate-retrain loop
    Case("trim: truncated weights", lambda ws, m: ["trim", "--model", str(ws / "model"), "-o", str(ws / "trimmed"), "--corpus", str(ROOT / "data")],
         "{ws}/model/encoder",
         setup=lambda ws, m: (_copy_model(m, ws), _truncate(ws / "model" / "encoder" / "model.safetensors"))),
    # ---------------------------------------------------------------- corpus sections / facts: raw bulletins
    Case("corpus sections: binary file", lambda ws, m: ["corpus", "sections", str(ws / "raw"), "-o", str(ws / "out.jsonl")],
         "{ws}/raw/b.txt: binary file", setup=lambda ws, m: _write(ws / "raw" / "b.txt", b"\x00\x01\x02\xff" * 64)),
    Case("corpus sections: UTF-16 without a byte-order mark", lambda ws, m: ["corpus", "sections", str(ws / "raw"), "-o", str(ws / "out.jsonl")],
         "{ws}/raw/u.txt: binary file", setup=lambda ws, m: _write(ws / "raw" / "u.txt", RAW[0].read_text(encoding="utf-8").encode("utf-16-le"))),
    Case("facts: binary input", lambda ws, m: ["facts", "--model", str(m), str(ws / "b.txt"), "-o", str(ws / "out.jsonl")],
         "{ws}/b.txt: binary file", code=1, setup=lambda ws, m: _write(ws / "b.txt", b"\x00\x01\x02\xff" * 64)),
    Case("facts: UTF-16 without a byte-order mark", lambda ws, m: ["facts", "--model", str(m), str(ws / "u.txt"), "-o", str(ws / "out.jsonl")],
         "{ws}/u.txt: binary file", code=1, setup=lambda ws, m: _write(ws / "u.txt", RAW[0].read_text(encoding="utf-8").encode("utf-16-le"))),
    Case("trim: output onto the model", lambda ws, m: ["trim", "--model", str(ws / "model"), "-o", str(ws / "model"), "--corpus", str(ROOT / "data")],
         "must differ",
         setup=lambda ws, m: _copy_model(m, ws)),
    Case("retrain: negative epochs", lambda ws, m: ["retrain", "--config", str(ws / "c.yaml"), "--current", str(ws / "run"), "--no-rebuild"],
         "{ws}/c.yaml: epochs: -3 is outside", setup=lambda ws, m: _config(ws, "epochs: -3\n")),
    Case("suggest: missing input", lambda ws, m: ["suggest", str(ws / "gone.txt"), "--model", str(m), "-o", str(ws / "out.jsonl")], "{ws}/gone.txt"),
    Case("suggest: truncated weights", lambda ws, m: ["suggest", BULLETIN(ws), "--model", str(ws / "model"), "--include-annotated"],
         "{ws}/model/encoder/model.safetensors", setup=lambda ws, m: (_copy_model(m, ws), _truncate(ws / "model" / "encoder" / "model.safetensors"))),
    Case("curve: zero batch size", lambda ws, m: ["curve", "--config", str(ws / "c.yaml"), "-o", str(ws / "out"), "--no-plot"],
         "{ws}/c.yaml: batch_size: 0 is outside", setup=lambda ws, m: _config(ws, "batch_size: 0\n")),
    Case("ls pull: no server configured", lambda ws, m: ["ls", "pull", "--project", "p", "--annotations", str(ws / "tasks.json"), "--data-dir", str(ws / "out")],
         "set LABEL_STUDIO_URL", env={"LABEL_STUDIO_URL": "", "LABEL_STUDIO_API_KEY": ""}),
    Case("ls pull: server down", lambda ws, m: ["ls", "pull", "--project", "p", "--annotations", str(ws / "tasks.json"), "--data-dir", str(ws / "out")],
         "http://127.0.0.1:9", env={"LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_API_KEY": "x"}),
]


def _ids(case: Case) -> str:
    return case.name


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_bad_input_gives_one_line(case: Case, tmp_path, tiny_model_dir, capsys, monkeypatch):
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(ws)  # commands with default paths never touch the repository
    for key, value in case.env.items():
        monkeypatch.setenv(key, value)
    case.setup(ws, tiny_model_dir)
    before = {p.relative_to(ws) for p in ws.rglob("*")}
    code = cli.main(case.argv(ws, tiny_model_dir))
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("civic-ner: error: ")]
    assert code == case.code, captured.err
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert len(errors) == 1, captured.err
    assert case.names.format(ws=ws) in errors[0], errors[0]
    after = {p.relative_to(ws) for p in ws.rglob("*")}
    created = after - before
    assert not [p for p in created if p.name.startswith(".") or p.suffix == ".tmp"], created
    for name in case.left_behind:
        if (ws / name) not in [ws / p for p in before]:
            assert not (ws / name).exists(), f"{name} was written"


ENCODINGS = {"GBK": "gbk", "UTF-16 with a byte-order mark": "utf-16"}


@pytest.mark.parametrize("command", ["corpus sections", "facts"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_raw_bulletins_in_other_encodings_read_like_utf8(command, encoding, tmp_path, tiny_model_dir, capsys):
    """The good-input side of the table: a bulletin in GBK or UTF-16 gives what its UTF-8 copy gives."""
    text = RAW[0].read_text(encoding="utf-8")
    text.encode("gbk")  # this seed bulletin is all GBK characters (some others are not)
    outputs = {}
    for name, data in (("utf8", text.encode("utf-8")), ("other", text.encode(ENCODINGS[encoding]))):
        _write(tmp_path / name / RAW[0].name, data)
        out = tmp_path / f"{name}.jsonl"
        if command == "corpus sections":
            argv = ["corpus", "sections", str(tmp_path / name), "-o", str(out)]
        else:
            argv = ["facts", "--model", str(tiny_model_dir), str(tmp_path / name / RAW[0].name), "-o", str(out)]
        code = cli.main(argv)
        captured = capsys.readouterr()
        assert code == 0 and "civic-ner: error" not in captured.err, captured.err
        if command == "facts":
            assert captured.err.startswith("1 documents, "), captured.err
        outputs[name] = [{k: v for k, v in json.loads(line).items() if k != "source"}
                         for line in out.read_text(encoding="utf-8").splitlines()]
    assert outputs["other"] == outputs["utf8"]
    assert outputs["utf8"] or command == "facts"  # facts: the tiny model may find none; the document was read


def test_entry_point_scripts_give_one_line(tmp_path):
    """train.py and evaluate.py as a user runs them: a fresh interpreter, no traceback."""
    bad = tmp_path / "c.yaml"
    bad.write_text("learning_rate: 0\n", encoding="utf-8")
    for argv, expected in (
        ([str(ROOT / "train.py"), "--config", str(bad)], f"{bad}: learning_rate: 0.0 is outside"),
        ([str(ROOT / "evaluate.py"), "--model", str(tmp_path / "missing")], f"{tmp_path / 'missing'}: no such model directory"),
    ):
        proc = subprocess.run([sys.executable, *argv], capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        lines = [l for l in proc.stderr.splitlines() if l.startswith("civic-ner: error: ")]
        assert len(lines) == 1 and expected in lines[0], proc.stderr


def _wait_for(predicate, timeout: float = 90.0) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_prediction_killed_half_way_leaves_nothing(tmp_path, tiny_model_dir):
    inputs = tmp_path / "in"
    inputs.mkdir()
    text = "\n".join(p.read_text(encoding="utf-8") for p in RAW)
    for n in range(60):
        (inputs / f"{n:03d}.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "out" / "pred.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "civic_ner.cli", "predict", "--model", str(tiny_model_dir), str(inputs), "-o", str(out),
         "--batch-size", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    started = _wait_for(lambda: out.parent.exists() and any(out.parent.glob(".pred.jsonl.*.tmp")))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert started, err
    assert proc.returncode == 130 and "interrupted; nothing was half-written" in err and "Traceback" not in err
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_training_killed_half_way_leaves_nothing(tmp_path, tiny_encoder_dir, gold_records):
    from conftest import TINY_RECIPE, write_small_data

    data = write_small_data(tmp_path / "data", gold_records)
    config = tmp_path / "c.yaml"
    settings = {**TINY_RECIPE, "model": str(tiny_encoder_dir), "data_dir": str(data), "probe_epochs": 5000}
    config.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in settings.items()), encoding="utf-8")
    run = tmp_path / "runs" / "x"
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "--config", str(config), "--output-dir", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    time.sleep(8)  # data loaded, the probe stage running
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not run.exists() or not any(run.rglob("*"))


def test_written_results_are_as_readable_as_any_new_file(tmp_path):
    """Atomic writes go through a private temporary file; the result gets the usual permissions."""
    import os

    from civic_ner import fileio

    mask = os.umask(0o022)
    try:
        fileio.write_text(tmp_path / "out.jsonl", "{}\n")
        with fileio.atomic_dir(tmp_path / "model") as folder:
            (folder / "weights").write_text("x", encoding="utf-8")
    finally:
        os.umask(mask)
    assert (tmp_path / "out.jsonl").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o755
