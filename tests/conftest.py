"""Shared fixtures: the committed corpus, a tiny randomly initialised BERT built on the spot, and a
real Label Studio server (started once per session, only by the tests that ask for it)."""
from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CIVIC_NER_PRECISION", "fp32")
"""Tests compare predictions across loads, processes and servers bit for bit: the network runs in fp32
unless a test asks for a precision (the auto default is tested with this variable removed)."""
LS_TOKEN = "civicner-test-token-0123456789"
LS_START_TIMEOUT_S = float(os.environ.get("CIVIC_NER_LS_START_TIMEOUT", "240"))


@pytest.fixture(scope="session")
def gold_records():
    from civic_ner.corpus import load_annotations

    return load_annotations(ROOT / "annotations" / "tasks.json")


@pytest.fixture(scope="session")
def tiny_encoder_dir(tmp_path_factory, gold_records) -> Path:
    """A 2-layer, 64-wide BERT with a character vocabulary, saved like any local checkpoint."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("tiny-bert")
    chars = sorted({ch for r in gold_records for ch in r.text if not ch.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    (out / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab=str(out / "vocab.txt"), do_lower_case=False, tokenize_chinese_chars=True)
    tokenizer.save_pretrained(out)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=128, max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(out)
    return out


def write_small_data(target: Path, gold_records, synthetic: int = 0, grounded: int = 0) -> Path:
    """A few real sections per split (and optionally a few gold sections posing as synthetic ones,
    or as grounded items of two training provinces and one held-out province)."""
    from civic_ner import fileio

    pick = sorted(gold_records, key=lambda r: len(r.text))
    splits = {"train": pick[10:16], "dev": pick[16:18], "test": pick[18:20]}
    for split, records in splits.items():
        fileio.write_jsonl(target / f"{split}.jsonl", (r.to_json() for r in records))
    if synthetic:
        rows = []
        for r in pick[20 : 20 + synthetic]:
            row = r.to_json()
            row["id"] = "syn-" + row["id"]
            row["meta"] = {"synthetic": True, "province": "甘肃", "topic": "test"}
            rows.append(row)
        fileio.write_jsonl(target / "synthetic.jsonl", rows)
    if grounded:
        rows = []
        for i, r in enumerate(pick[30 : 30 + grounded]):
            row = r.to_json()
            row["id"] = f"grd-x{i:02d}"
            row["meta"] = {"grounded": True, "province": ("甘肃", "青海")[i % 2], "source_url": f"https://example.org/{i}"}
            rows.append(row)
        fileio.write_jsonl(target / "grounded.jsonl", rows)
        test_row = pick[30 + grounded].to_json()
        test_row["id"], test_row["meta"] = "grd-t00", {"grounded": True, "province": "江苏", "source_url": "https://example.org/t"}
        fileio.write_jsonl(target / "province_test.jsonl", [test_row])
    return target


TINY_RECIPE = dict(
    max_length=48, stride=8, probe_epochs=8, probe_batch_size=4, probe_learning_rate=2e-2, epochs=1, batch_size=8, learning_rate=1e-3,
    freeze_embeddings=False, lstm_hidden=16, feature_dim=4,
)
"""A recipe for tiny encoders: every stage runs, in seconds."""
TINY_TRAINED = {**TINY_RECIPE, "probe_epochs": 60, "probe_batch_size": 2, "lstm_hidden": 32, "feature_dim": 8}
"""Long enough (about 15 s) for the tiny tagger to tag real spans, for the tests that need entities."""


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_encoder_dir, gold_records) -> Path:
    """A tiny tagger trained by the real train() (both stages, features, BiLSTM, CRF) and saved."""
    from civic_ner.config import TrainConfig
    from civic_ner.training import train

    base = tmp_path_factory.mktemp("tiny-model")
    config = TrainConfig(name="tiny", model=str(tiny_encoder_dir), data_dir=str(write_small_data(base / "data", gold_records)),
                         **TINY_TRAINED)
    train(config, base / "run", log=lambda *_: None)
    return base / "run" / "model"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _label_studio_command() -> list[str]:
    script = Path(sys.executable).parent / "label-studio"
    if script.exists():
        return [str(script)]
    found = shutil.which("label-studio")
    return [found] if found else [sys.executable, "-m", "label_studio.server"]


@pytest.fixture(scope="session")
def label_studio_server(tmp_path_factory):
    """``label-studio start`` on 127.0.0.1 with a throw-away data directory and a legacy API token
    (``LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN=true``; Label Studio 1.23 refuses legacy tokens without it);
    ML backends and webhooks on this machine allowed (``ML_BLOCK_LOCAL_IP``, ``SSRF_PROTECTION_ENABLED``)."""
    if importlib.util.find_spec("label_studio") is None:
        pytest.skip("label-studio is not installed (pip install -r requirements-labelstudio.txt)")
    home = tmp_path_factory.mktemp("label-studio")
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(home),  # nothing lands in the real home directory
        "LABEL_STUDIO_BASE_DATA_DIR": str(home / "data"),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LATEST_VERSION_CHECK": "false",  # no call to pypi.org on start
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "ML_BLOCK_LOCAL_IP": "false",  # the ML backend under test listens on 127.0.0.1
        "SSRF_PROTECTION_ENABLED": "false",  # and so does its webhook
        "FRONTEND_SENTRY_DSN": "",
    }
    command = [
        *_label_studio_command(), "start", "--no-browser",
        "--internal-host", "127.0.0.1",  # the bind address (--host only names the public URL)
        "--port", str(port), "--data-dir", str(home / "data"),
        "--username", "a@b.c", "--password", "civic-ner-pass-1", "--user-token", LS_TOKEN,
        "--enable-legacy-api-token", "--log-level", "WARNING",
    ]
    url = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    with running(command, env, home, home / "server.log") as process:
        while True:
            if process.poll() is not None:
                pytest.fail(f"label-studio exited with {process.returncode}:\n{_tail(home / 'server.log')}")
            if time.monotonic() - started > LS_START_TIMEOUT_S:
                pytest.fail(f"label-studio not healthy after {LS_START_TIMEOUT_S:.0f} s:\n{_tail(home / 'server.log')}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200 and b"UP" in answer.read():
                        break
            except OSError:
                pass
            time.sleep(1)
        print(f"label-studio healthy on {url} after {time.monotonic() - started:.0f} s")
        yield url


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], cwd: Path, log_path: Path):
    """A server process for a test, its output in ``log_path``; stopped (terminated, then killed)
    whatever the test does."""
    log = open(log_path, "w", encoding="utf-8")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def script_module(relative_path: str):
    """A bench/ or scripts/ file imported as a module (they are scripts, not a package)."""
    path = ROOT / relative_path
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def spans_at(text: str, wanted: list[tuple[str, str]]):
    """Sorted spans for (surface, label) pairs, each at the surface's first occurrence."""
    from civic_ner.types import Span

    out = []
    for surface, label in wanted:
        start = text.index(surface)
        out.append(Span(start, start + len(surface), label))
    return sorted(out)


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
