"""Training: the two-stage recipe, the model directory it writes, and loading it back (tiny models)."""
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from civic_ner import cli
from civic_ner.config import ConfigError, TrainConfig, load_config, schema_table
from civic_ner.model_dir import ModelDirError
from civic_ner.prediction import Tagger
from civic_ner.training import fit, load_examples, train, training_pieces
from civic_ner.types import LABELS
from conftest import TINY_RECIPE, write_small_data


def tiny_config(encoder_dir: Path, data: Path, **extra) -> TrainConfig:
    return TrainConfig(name="tiny", model=str(encoder_dir), data_dir=str(data), **{**TINY_RECIPE, **extra})


def test_both_stages_reduce_the_loss(tmp_path, tiny_encoder_dir, gold_records):
    data = write_small_data(tmp_path / "data", gold_records)
    examples = load_examples(data)["train"]
    config = tiny_config(tiny_encoder_dir, data, probe_epochs=6, epochs=4, probe_learning_rate=1e-2)
    result = fit(config, examples, log=lambda *_: None, progress=False)
    probe = [h["loss"] for h in result.history if h["stage"] == "probe"]
    tune = [h["loss"] for h in result.history if h["stage"] == "fine-tune"]
    assert len(probe) == 6 and len(tune) == 4
    assert probe[-1] < 0.6 * probe[0]
    assert tune[-1] < probe[0]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_unpacked_bilstm_equals_packed_sequences(dtype):
    """The head's BiLSTM reads padded rows unpacked (faster on CPU): outputs on every character and
    gradients of the weights and the inputs equal those of packed sequences; padding gives zeros."""
    from civic_ner.model import bidirectional_lstm

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(6, 5, batch_first=True, bidirectional=True).to(dtype)
    lengths = torch.tensor([7, 3, 1, 5])
    mask = torch.arange(7)[None, :] < lengths[:, None]
    x = torch.randn(4, 7, 6, dtype=dtype)
    weight = torch.randn(4, 7, 10, dtype=dtype) * mask[..., None]

    def run(unpacked: bool):
        lstm.zero_grad()
        inputs = x.clone().requires_grad_(True)
        if unpacked:
            out = bidirectional_lstm(lstm, inputs, mask)
        else:
            packed = torch.nn.utils.rnn.pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
            out, _ = torch.nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=7)
        (out * weight).sum().backward()
        return out.detach(), inputs.grad, [p.grad.clone() for p in lstm.parameters()]

    (out, grad, weights), (ref, ref_grad, ref_weights) = run(True), run(False)
    tol = {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 5e-2, "rtol": 5e-2}
    torch.testing.assert_close(out, ref, **tol)
    assert not out[~mask].any()
    torch.testing.assert_close(grad, ref_grad, **tol)
    for mine, theirs in zip(weights, ref_weights):
        torch.testing.assert_close(mine, theirs, **tol)


def test_probe_leaves_the_encoder_untouched(tmp_path, tiny_encoder_dir, gold_records):
    data = write_small_data(tmp_path / "data", gold_records)
    examples = load_examples(data)["train"]
    config = tiny_config(tiny_encoder_dir, data, probe_epochs=2, epochs=0)
    from civic_ner.encoder import load_encoder_model

    before = {k: v.clone() for k, v in load_encoder_model(str(tiny_encoder_dir)).state_dict().items()}
    result = fit(config, examples, log=lambda *_: None, progress=False)
    after = result.net.encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_train_writes_model_and_metrics_atomically(tmp_path, tiny_encoder_dir, gold_records):
    data = write_small_data(tmp_path / "data", gold_records)
    result = train(tiny_config(tiny_encoder_dir, data), tmp_path / "run", log=lambda *_: None)
    model_dir = tmp_path / "run" / "model"
    # relations.json: the relation model learned from the train sections' gold relations (two of them)
    for name in ("encoder/model.safetensors", "encoder/config.json", "head.safetensors", "civic_ner.json",
                 "README.md", "tokenizer.json", "relations.json"):
        assert (model_dir / name).exists(), name
    from civic_ner.model_dir import model_version, save_relation_model
    from civic_ner.relation_model import RelationModel

    before = model_version(model_dir)
    save_relation_model(model_dir, RelationModel({"rel=runs": 1.0}))  # `civic-ner relations` refits it alone
    assert model_version(model_dir) != before
    meta = json.loads((model_dir / "civic_ner.json").read_text())
    assert meta["format"] == 2 and meta["architecture"]["crf"] and meta["architecture"]["feature_vocab"]["lac"][0] == "<unk>"
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert set(metrics["test"]) >= {"micro", "ORG", "PROGRAM", "MONEY", "COUNT"}
    assert metrics["trained_on"] == ["train"] and metrics["probe_epochs"] == TINY_RECIPE["probe_epochs"] and metrics["epochs_run"] == 1
    assert metrics == json.loads(json.dumps(result.metrics))
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.startswith(".")]
    # dev is held out, so its F1 is recorded after the probe and after every fine-tuning epoch
    tune = [h for h in metrics["history"] if h["stage"] == "fine-tune"]
    probe = [h for h in metrics["history"] if h["stage"] == "probe"]
    assert tune and all(0.0 <= h["dev_f1"] <= 1.0 for h in tune) and "dev_f1" in probe[-1]


def test_saved_model_predicts_like_the_trained_one(tmp_path, tiny_encoder_dir, gold_records):
    data = write_small_data(tmp_path / "data", gold_records)
    config = tiny_config(tiny_encoder_dir, data)
    examples = load_examples(data)
    result = fit(config, examples["train"], log=lambda *_: None, progress=False)
    in_memory = Tagger(result.net, result.tokenizer, result.arch, "cpu")
    from civic_ner.model_dir import save as save_model

    scores = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    metrics = {"test": {"micro": scores}, "best_epoch": 1, "epochs_run": 1, "device": "cpu", "train_seconds": 0,
               "trained_on": ["train"]}
    save_model(result, config, tmp_path / "model", metrics, "hash")
    loaded = Tagger.from_dir(tmp_path / "model", device="cpu")
    texts = [r.text for r, _ in examples["test"]] + ["", "乳山市妇联投入5万元。"]
    for a, b in zip(in_memory.emissions(texts), loaded.emissions(texts)):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert in_memory.predict(texts) == loaded.predict(texts)


def test_windows_cover_text_longer_than_one_window(tiny_model_dir, gold_records):
    tagger = Tagger.from_dir(tiny_model_dir, device="cpu")
    text = "\n".join(r.text for r in gold_records[:6])
    encoded = tagger.encode([text])[0]
    assert len(encoded.windows) > 3
    assert len(encoded.source) == sum(1 for ch in text if not ch.isspace())
    for e in tagger.predict([text])[0]:
        assert 0 <= e.start < e.end <= len(text) and 0.0 <= e.score <= 1.0
        assert text[e.start : e.end] == text[e.start : e.end].strip()


def test_marginals_are_distributions(tiny_model_dir, gold_records):
    tagger = Tagger.from_dir(tiny_model_dir, device="cpu")
    rows = tagger.marginals([gold_records[0].text, "。"])
    assert rows[0].shape == (sum(1 for c in gold_records[0].text if not c.isspace()), 9)
    np.testing.assert_allclose(rows[0].sum(axis=1), 1.0, atol=1e-6)
    assert rows[1].shape == (1, 9)


def test_written_splits_are_trained_on_only_when_asked(tmp_path, tiny_encoder_dir, gold_records):
    data = write_small_data(tmp_path / "data", gold_records, synthetic=3, grounded=4)
    logs = []
    train(tiny_config(tiny_encoder_dir, data, synthetic=True, synthetic_items=2), tmp_path / "a", log=logs.append)
    assert "6 sections + 2 written" in logs[0]
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["trained_on"] == ["train", "synthetic"]
    # the held-out provinces are scored on every training, per province, never trained on
    assert set(metrics["province_test"]["provinces"]) == {"江苏"}
    card = (tmp_path / "a" / "model" / "README.md").read_text(encoding="utf-8")
    assert "Held-out provinces" in card and "| 江苏 |" in card
    logs.clear()
    train(tiny_config(tiny_encoder_dir, data, grounded=True, grounded_items=3), tmp_path / "b", log=logs.append)
    assert "6 sections + 3 written" in logs[0]
    assert json.loads((tmp_path / "b" / "metrics.json").read_text())["trained_on"] == ["train", "grounded"]
    logs.clear()
    train(tiny_config(tiny_encoder_dir, data), tmp_path / "c", log=logs.append)
    assert "6 sections + 0 written" in logs[0]


def test_a_cap_on_written_items_takes_every_province_first(gold_records):
    from civic_ner.config import TrainConfig
    from civic_ner.training import written_for

    def item(i, province):
        record = gold_records[i]
        return (type(record)(f"grd-{i:02d}", record.text, record.spans, meta={"grounded": True, "province": province}), {})

    pool = {"grounded": [item(0, "甘肃"), item(1, "甘肃"), item(2, "甘肃"), item(3, "青海"), item(4, "西藏")]}
    chosen = written_for(TrainConfig(grounded=True, grounded_items=3), pool)
    assert sorted(ex[0].meta["province"] for ex in chosen) == ["甘肃", "西藏", "青海"]
    assert len(written_for(TrainConfig(grounded=True), pool)) == 5 and written_for(TrainConfig(), pool) == []


def test_split_pieces_cut_at_lines_and_keep_spans(gold_records):
    from civic_ner.dataset import featurize

    record = max(gold_records, key=lambda r: len(r.text))
    feats = featurize([record.text])[0]
    pieces = training_pieces((record, feats), 200)
    assert len(pieces) > 3
    assert "".join(p.text for p, _ in pieces) == record.text
    assert sum(len(p.spans) for p, _ in pieces) == len(record.spans)
    for piece, f in pieces:
        assert len(f["lac"]) == len(piece.text)
        for s in piece.spans:
            assert s.start >= 0 and s.end <= len(piece.text)


def test_old_model_directory_is_refused_in_one_line(tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    (old / "civic_ner.json").write_text(json.dumps({"labels": ["ORG"], "max_length": 128}), encoding="utf-8")
    (old / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelDirError, match="civic-ner 0.1.*retrain"):
        Tagger.from_dir(old)


def test_config_ranges_are_checked_at_load(tmp_path):
    path = tmp_path / "c.yaml"
    cases = {
        "learning_rate: -1\n": "learning_rate: -1.0 is outside the allowed range (0, 1]",
        "learning_rate: 0\n": "learning_rate: 0.0 is outside",
        "epochs: -2\n": "epochs: -2 is outside",
        "batch_size: 0\n": "batch_size: 0 is outside",
        "warmup_ratio: 2\n": "warmup_ratio: 2.0 is outside the allowed range [0, 1)",
        "max_length: 64\nstride: 62\n": "stride: 62 must be below max_length - 2",
        "epochs: many\n": "epochs: expected an integer",
        "crf: 1\n": "crf: expected true or false",
        "tokenization: bpe\n": "tokenization: 'bpe' is not one of subword, char",
        "features: [lac, pos]\n": "features: unknown group(s) pos",
        "augment_copies: 1\n": "augment_copies: mention-replacement augmentation was removed",
        "select_on_dev: true\ntrain_splits: [train, dev]\n": "select_on_dev",
        "epochz: 3\n": "unknown setting(s) epochz",
    }
    for text, message in cases.items():
        path.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert str(info.value).startswith(f"{path}: ") and message in str(info.value), (text, str(info.value))
    path.write_text("train_splits: train+dev\nfeatures: lac, rule\n", encoding="utf-8")
    config = load_config(path)
    assert config.train_splits == ["train", "dev"] and config.features == ["lac", "rule"]
    table = schema_table()
    for key in TrainConfig.__dataclass_fields__:
        assert f"`{key}`" in table


def test_readme_lists_every_config_key_as_the_schema_does():
    """The README's key table is schema_table() verbatim: a new key or a changed range shows here."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert schema_table() in readme


def test_default_config_loads():
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")
    assert config.name == "default" and config.crf and config.tokenization == "subword"


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys, gold_records):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\n", encoding="utf-8")
    small = write_small_data(tmp_path / "data", gold_records)
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
    small = write_small_data(tmp_path / "data", gold_records)
    lines = (small / "train.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0])
    record["spans"].append({"start": 0, "end": 1, "label": "PERSON"})
    lines[0] = json.dumps(record, ensure_ascii=False)
    (small / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\n", encoding="utf-8")
    code = cli.main(["train", "--config", str(cfg), "--data-dir", str(small), "--output-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "PERSON" in err and "train.jsonl" in err


def test_layer_decay_gives_lower_layers_smaller_rates(tiny_encoder_dir, tmp_path, gold_records):
    from civic_ner.encoder import load_encoder_model
    from civic_ner.model import Architecture, build_network
    from civic_ner.training import parameter_groups

    net = build_network(load_encoder_model(str(tiny_encoder_dir)), Architecture(features=[], feature_vocab={}))
    config = replace(TrainConfig(), learning_rate=1e-4, layer_decay=0.5, head_learning_rate=1e-2)
    rates = sorted({g["lr"] for g in parameter_groups(net, config)})
    # two layers: top 1e-4, next 5e-5, embeddings 2.5e-5; head 1e-2
    assert rates == pytest.approx([2.5e-5, 5e-5, 1e-4, 1e-2])


def test_feature_crf_ensemble_is_saved_and_mixed_in(tmp_path, tiny_encoder_dir, gold_records):
    data = write_small_data(tmp_path / "data", gold_records)
    train(tiny_config(tiny_encoder_dir, data, crf_ensemble=0.5), tmp_path / "run", log=lambda *_: None)
    model_dir = tmp_path / "run" / "model"
    assert (model_dir / "crf.crfsuite").exists()
    assert json.loads((model_dir / "civic_ner.json").read_text())["crf_ensemble"] == 0.5
    tagger = Tagger.from_dir(model_dir, device="cpu")
    assert tagger.crf is not None and tagger.crf_weight == 0.5
    texts = [r.text for r in gold_records[:3]]
    mixed = tagger.marginals(texts)
    tagger.crf_weight = 0.0
    alone = tagger.marginals(texts)
    crf_only = tagger.crf.marginals(texts, tagger.tags)
    for m, a, c in zip(mixed, alone, crf_only):
        np.testing.assert_allclose(m, 0.5 * a + 0.5 * c, atol=1e-9)
    meta = json.loads((model_dir / "civic_ner.json").read_text())
    assert meta["crf_ensemble_labels"] == ["ORG", "PROGRAM", "MONEY", "COUNT"] and tagger.crf_labels == tuple(meta["crf_ensemble_labels"])
    # crf_ensemble_labels: PROGRAM spans from the mix, the other labels' from the network's own path; the
    # characters not in a mixed span keep the network's own marginals
    from civic_ner.prediction import paths_by_label

    def scored(weight, labels):
        tagger.crf_weight, tagger.crf_labels = weight, labels
        return tagger._scored(texts, 32, None)

    own, mixed, split = scored(0.0, LABELS), scored(0.5, LABELS), scored(0.5, ("PROGRAM",))
    for (own_p, own_path), (_, mix_path), (split_p, split_path) in zip(own, mixed, split):
        tags = paths_by_label([tagger.tags[j] for j in own_path], [tagger.tags[j] for j in mix_path], ["PROGRAM"])
        assert [tagger.tags[j] for j in split_path] == tags
        kept_own = np.array([t == "O" or not t.endswith("PROGRAM") for t in tags])
        np.testing.assert_allclose(split_p[kept_own], own_p[kept_own], atol=1e-12)
    assert any(not np.allclose(a[0], b[0]) for a, b in zip(own, mixed)), "the mix must differ from the network alone"
    # a directory written before the key: every label from the mix, as then; an unknown label is refused
    del meta["crf_ensemble_labels"]
    (model_dir / "civic_ner.json").write_text(json.dumps(meta), encoding="utf-8")
    assert Tagger.from_dir(model_dir, device="cpu").crf_labels == ("ORG", "PROGRAM", "MONEY", "COUNT")
    (model_dir / "civic_ner.json").write_text(json.dumps({**meta, "crf_ensemble_labels": ["PROG"]}), encoding="utf-8")
    with pytest.raises(ModelDirError, match="crf_ensemble_labels"):
        Tagger.from_dir(model_dir, device="cpu")
    (model_dir / "civic_ner.json").write_text(json.dumps(meta), encoding="utf-8")
    (model_dir / "crf.crfsuite").unlink()
    with pytest.raises(ModelDirError, match="crf.crfsuite is missing"):
        Tagger.from_dir(model_dir)


def test_a_shallower_encoder_keeps_its_first_layers_and_saves_as_such(tmp_path, tiny_encoder_dir, gold_records):
    """``encoder_layers: 1`` trains on the first of the two layers (its weights as loaded) and the
    model directory loads back with one layer; more layers than the encoder has is a config error."""
    import torch

    from civic_ner.config import ConfigError
    from civic_ner.encoder import load_encoder_model

    whole, first = load_encoder_model(str(tiny_encoder_dir)), load_encoder_model(str(tiny_encoder_dir), 1)
    assert len(first.encoder.layer) == first.config.num_hidden_layers == 1
    assert torch.equal(first.encoder.layer[0].output.dense.weight, whole.encoder.layer[0].output.dense.weight)
    with pytest.raises(ConfigError, match="encoder_layers: 3 .* 2 layers"):
        load_encoder_model(str(tiny_encoder_dir), 3)
    data = write_small_data(tmp_path / "data", gold_records)
    train(tiny_config(tiny_encoder_dir, data, encoder_layers=1), tmp_path / "run", log=lambda *_: None)
    tagger = Tagger.from_dir(tmp_path / "run" / "model", device="cpu")
    assert tagger.net.encoder.config.num_hidden_layers == 1 and len(tagger.net.encoder.encoder.layer) == 1
    assert len(tagger.predict([gold_records[0].text])) == 1
