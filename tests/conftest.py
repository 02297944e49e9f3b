"""Shared fixtures: the committed corpus and a tiny randomly initialised BERT built on the spot."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
