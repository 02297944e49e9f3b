"""The model directory has one owner (civic_ner.model_dir): its format and file names are guarded
against drift, and encoders of every supported family train, save, load and predict."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from civic_ner import model_dir
from civic_ner.model_dir import FORMAT_VERSION, ModelDirError

ROOT = Path(__file__).resolve().parents[1]


def test_format_version_and_file_names_do_not_drift(tiny_model_dir):
    """Changing any of these breaks every model directory already written: bump FORMAT_VERSION and
    read the old layout, or keep them."""
    assert FORMAT_VERSION == 2
    assert (model_dir.META_FILE, model_dir.HEAD_FILE, model_dir.CRF_FILE, model_dir.CARD_FILE) == (
        "civic_ner.json", "head.safetensors", "crf.crfsuite", "README.md")
    assert (model_dir.ENCODER_CONFIG, model_dir.ENCODER_WEIGHTS) == ("encoder/config.json", "encoder/model.safetensors")
    meta = json.loads((tiny_model_dir / "civic_ner.json").read_text(encoding="utf-8"))
    assert meta["format"] == FORMAT_VERSION
    for name in (*model_dir.REQUIRED_FILES, model_dir.META_FILE, model_dir.CARD_FILE):
        assert (tiny_model_dir / name).is_file(), name
    assert (tiny_model_dir / model_dir.CRF_FILE).is_file() == (meta.get("crf_ensemble", 0) > 0)


def test_only_model_dir_names_the_files():
    """No other module types the model directory's file names (one owner of the format)."""
    names = ("civic_ner.json", "head.safetensors", "crf.crfsuite")
    for path in sorted((ROOT / "src" / "civic_ner").glob("*.py")):
        if path.name == "model_dir.py":
            continue
        code = "\n".join(line for line in path.read_text(encoding="utf-8").splitlines() if not line.strip().startswith("#"))
        for name in names:
            assert not re.search(rf"[\"']{re.escape(name)}[\"']", code), f"{path.name} types {name!r}"


def test_a_newer_format_is_refused(tiny_model_dir, tmp_path):
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(tiny_model_dir, copy)
    meta = json.loads((copy / model_dir.META_FILE).read_text(encoding="utf-8"))
    (copy / model_dir.META_FILE).write_text(json.dumps({**meta, "format": FORMAT_VERSION + 1}), encoding="utf-8")
    with pytest.raises(ModelDirError, match="retrain"):
        model_dir.read_meta(copy)


def test_one_version_per_model(tiny_model_dir):
    from civic_ner.api import NER

    version = model_dir.model_version(tiny_model_dir)
    assert re.fullmatch(r"[0-9a-f]{12}", version)
    assert NER(None, tiny_model_dir).version == version


@pytest.mark.parametrize("model_type", ["bert", "roberta", "xlm-roberta"])
def test_the_pooler_rule_is_one_rule(model_type):
    assert model_dir.encoder_kwargs(model_type) == {"add_pooling_layer": False}
    assert model_dir.encoder_kwargs("distilbert") == {}


def _tiny_encoder(kind: str, target: Path, gold_records) -> Path:
    """A 2-layer random RoBERTa or XLM-R over a character vocabulary (the tokenizer of the tiny BERT
    in conftest: what matters here is the encoder's own type)."""
    from transformers import BertTokenizerFast, RobertaConfig, RobertaModel, XLMRobertaConfig, XLMRobertaModel

    chars = sorted({ch for r in gold_records for ch in r.text if not ch.isspace()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    target.mkdir(parents=True)
    (target / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab=str(target / "vocab.txt"), do_lower_case=False, tokenize_chinese_chars=True).save_pretrained(target)
    config_class, model_class = {"roberta": (RobertaConfig, RobertaModel), "xlm-roberta": (XLMRobertaConfig, XLMRobertaModel)}[kind]
    config = config_class(
        vocab_size=len(vocab), hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
        max_position_embeddings=514, pad_token_id=0, bos_token_id=2, eos_token_id=3, type_vocab_size=1,
    )
    model_class(config).save_pretrained(target)  # with its pooler, as hub checkpoints are
    return target


@pytest.mark.parametrize("kind", ["roberta", "xlm-roberta"])
def test_roberta_and_xlmr_encoders_train_save_load_and_predict(kind, tmp_path, gold_records):
    from conftest import TINY_RECIPE, write_small_data

    from civic_ner.config import TrainConfig
    from civic_ner.prediction import Tagger
    from civic_ner.training import fit, load_examples

    encoder = _tiny_encoder(kind, tmp_path / kind, gold_records)
    data = write_small_data(tmp_path / "data", gold_records)
    config = TrainConfig(name=kind, model=str(encoder), data_dir=str(data), **{**TINY_RECIPE, "crf_ensemble": 0.5})
    examples = load_examples(data)
    result = fit(config, examples["train"], log=lambda *_: None, progress=False)
    assert result.net.encoder.config.model_type == kind and getattr(result.net.encoder, "pooler", None) is None
    in_memory = result.tagger(config)
    scores = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    metrics = {"test": {"micro": scores}, "best_epoch": 1, "epochs_run": 1, "device": "cpu", "train_seconds": 0,
               "trained_on": ["train"]}
    model_dir.save(result, config, tmp_path / "model", metrics, "hash")
    loaded = Tagger.from_dir(tmp_path / "model", device="cpu")
    assert loaded.net.encoder.config.model_type == kind and loaded.crf is not None
    texts = [r.text for r, _ in examples["test"]] + ["乳山市妇联投入5万元。"]
    for a, b in zip(in_memory.emissions(texts), loaded.emissions(texts)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    predicted = loaded.predict(texts)
    assert predicted == in_memory.predict(texts) and len(predicted) == len(texts)
