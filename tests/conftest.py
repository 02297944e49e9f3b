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
