import json
from pathlib import Path

import pytest
import torch

from civic_ner import cli, fileio
from civic_ner.alignment import CharTokenizer, bio_labels
from civic_ner.config import ConfigError, TrainConfig, load_config
from civic_ner.prediction import ModelDirError, Tagger
from civic_ner.training import collate, train, training_windows


def small_data(tmp_path: Path, gold_records) -> Path:
    data = tmp_path / "data"
    pick = sorted(gold_records, key=lambda r: len(r.text))
    splits = {"train": pick[10:16], "dev": pick[16:18], "test": pick[18:20]}
    for split, records in splits.items():
        fileio.write_jsonl(data / f"{split}.jsonl", (r.to_json() for r in records))
    return data


def test_a_few_steps_reduce_the_loss(tiny_encoder_dir, gold_records):
    from civic_ner.encoder import load_token_classifier, load_tokenizer

    torch.manual_seed(0)
    labels = bio_labels()
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    model = load_token_classifier(str(tiny_encoder_dir), labels)
    config = TrainConfig(max_length=64, stride=8)
    windows = training_windows(gold_records[:4], CharTokenizer(tokenizer), {l: i for i, l in enumerate(labels)}, config)
    ids, mask, gold = collate(windows[:8], tokenizer.pad_token_id)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = model(input_ids=ids, attention_mask=mask, labels=gold).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_train_writes_model_and_metrics_atomically(tmp_path, tiny_encoder_dir, gold_records):
    config = TrainConfig(
        name="tiny", model=str(tiny_encoder_dir), data_dir=str(small_data(tmp_path, gold_records)),
        max_length=48, stride=8, epochs=2, batch_size=8, learning_rate=1e-3, freeze_embeddings=False,
    )
    result = train(config, tmp_path / "run", log=lambda *_: None)
    model_dir = tmp_path / "run" / "model"
    for name in ("model.safetensors", "config.json", "civic_ner.json", "README.md", "tokenizer.json"):
        assert (model_dir / name).exists(), name
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"micro", "ORG", "PROGRAM", "MONEY", "COUNT"}
    assert set(metrics["test"]["micro"]) >= {"precision", "recall", "f1", "support"}
    assert metrics == json.loads(json.dumps(result.metrics))
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]

    # the saved model predicts exactly like the in-memory one, windows and all
    tagger = Tagger.from_dir(model_dir)
    text = "。".join(r.text for r in gold_records[:3])
    entities = tagger.predict([text, ""])
    assert entities[1] == []
    for e in entities[0]:
        assert 0 <= e.start < e.end <= len(text) and 0.0 < e.score <= 1.0


def test_windowed_prediction_covers_text_longer_than_a_window(tiny_encoder_dir):
    from civic_ner.encoder import load_token_classifier, load_tokenizer

    torch.manual_seed(0)
    model = load_token_classifier(str(tiny_encoder_dir), bio_labels()).eval()
    tokenizer = load_tokenizer(str(tiny_encoder_dir))
    text = "乳山市妇联组织“虹桥拉手”活动累计帮扶1125名困境儿童"
    whole = Tagger(model, tokenizer, max_length=128, stride=8, device="cpu")
    windowed = Tagger(model, tokenizer, max_length=12, stride=4, device="cpu")
    assert len(windowed.windows([text])[0]) > 1
    # each character's scores come from some window; with attention limited to a window they may
    # differ, but every character is predicted exactly once and offsets stay inside the text
    for e in windowed.predict([text])[0]:
        assert 0 <= e.start < e.end <= len(text)
    assert len(whole.windows([text])[0]) == 1


def test_bad_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1,\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.yaml: malformed YAML"):
        load_config(bad)
    bad.write_text("epochz: 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_config(bad)
    bad.write_text("epochs: many\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad value"):
        load_config(bad)


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys, gold_records):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\n", encoding="utf-8")
    small = small_data(tmp_path, gold_records)
    (small / "dev.jsonl").write_text("", encoding="utf-8")
    code = cli.main(["train", "--config", str(cfg), "--data-dir", str(small), "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "dev split is empty" in err and "dev.jsonl" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()

    (tmp_path / "notamodel").mkdir()
    code = cli.main(["evaluate", "--model", str(tmp_path / "notamodel")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "not a civic-ner model directory" in err
    with pytest.raises(ModelDirError):
        Tagger.from_dir(tmp_path / "nothing-here")

    code = cli.main(["train", "--config", str(tmp_path / "nope.yaml")])
    assert code == 2 and "config file not found" in capsys.readouterr().err


def test_unknown_label_in_data_is_refused(tmp_path, gold_records, capsys):
    small = small_data(tmp_path, gold_records)
    lines = (small / "train.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["spans"].append({"start": 0, "end": 1, "label": "PERSON"})
    lines[0] = json.dumps(record, ensure_ascii=False)
    (small / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\n", encoding="utf-8")
    code = cli.main(["train", "--config", str(cfg), "--data-dir", str(small), "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "unknown label 'PERSON'" in err and "train.jsonl" in err


def test_mention_replacement_keeps_spans_aligned(gold_records):
    import random

    from civic_ner.training import mention_pool, replace_mentions

    pool = mention_pool(gold_records)
    rng = random.Random(0)
    changed = 0
    for record in gold_records:
        copy = replace_mentions(record, pool, rng, prob=0.5)
        assert len(copy.spans) == len(record.spans)
        for old, new in zip(sorted(record.spans), copy.spans):
            assert new.label == old.label
            surface = copy.text[new.start : new.end]
            if old.label in ("MONEY", "COUNT"):
                assert surface == record.text[old.start : old.end]
            else:
                assert surface in pool[old.label]
        changed += copy.text != record.text
    assert changed > 10


def test_batch_width_is_bucketed_to_few_shapes():
    from civic_ner.prediction import padded_width

    assert [padded_width(n, 128) for n in (1, 16, 17, 100, 120, 128)] == [16, 16, 32, 112, 128, 128]
    assert padded_width(130, 128) == 130  # a single over-long character window is never cut
