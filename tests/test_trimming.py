"""Vocabulary trimming and int8 / bf16 loading, on tiny random models (fast)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from civic_ner import cli
from civic_ner.model_dir import META_FILE as MODEL_META
from civic_ner.model_dir import ModelDirError
from civic_ner.prediction import Tagger
from civic_ner.trimming import TRIM_META, TrimError, trim_model, verify_trim

TEXTS = [
    "乳山市妇联组织“虹桥拉手”活动，累计帮扶1125名困境儿童，投入268.94万元。",
    "威海市民政局：2023年发放低保金3,200万元；ＡＢＣ项目惠及5.6万人。",
]


def civic_model_dir(encoder_dir: Path, out: Path, tokenization: str = "char") -> Path:
    """A civic-ner model directory (random head, features, CRF) around a tiny encoder."""
    from civic_ner.config import TrainConfig
    from civic_ner.encoder import load_encoder_model, load_tokenizer
    from civic_ner.features import FEATURE_GROUPS, char_features
    from civic_ner.model import Architecture, build_feature_vocab, build_network
    from civic_ner.model_dir import save as save_model
    from civic_ner.training import FitResult

    torch.manual_seed(0)
    arch = Architecture(tokenization=tokenization, feature_vocab=build_feature_vocab(char_features(TEXTS), FEATURE_GROUPS),
                        max_length=24, stride=4, lstm_hidden=8, feature_dim=4)
    net = build_network(load_encoder_model(str(encoder_dir)), arch).eval()
    with torch.no_grad():  # a sharp random head, so that spans get tagged
        net.classifier.weight.mul_(20)
    config = TrainConfig(model=str(encoder_dir), tokenization=tokenization, max_length=24, stride=4)
    scores = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    metrics = {"test": {"micro": scores}, "best_epoch": 0, "epochs_run": 0, "device": "cpu", "train_seconds": 0,
               "trained_on": ["train"]}
    save_model(FitResult(net, load_tokenizer(str(encoder_dir)), arch), config, out, metrics, "hash")
    return out


@pytest.fixture(scope="module")
def wordpiece_model(tmp_path_factory, gold_records) -> Path:
    """A tiny BERT whose WordPiece vocabulary holds every corpus character plus pieces the texts
    never need (the shared ``tiny_encoder_dir`` passes ``vocab_file=``, which transformers 5
    ignores, so its vocabulary is the five specials only)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("wp-encoder")
    chars = sorted({ch for r in gold_records for ch in r.text if not ch.isspace()})
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "##a", "##1", "xyz", "Ω", *chars]
    tokenizer = BertTokenizerFast(vocab={p: i for i, p in enumerate(pieces)}, do_lower_case=False)
    assert tokenizer("乳山", add_special_tokens=False)["input_ids"] == [pieces.index("乳"), pieces.index("山")]
    tokenizer.save_pretrained(out)
    config = BertConfig(
        vocab_size=len(pieces), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(out)
    return civic_model_dir(out, tmp_path_factory.mktemp("wp-model") / "model")


@pytest.fixture(scope="module")
def unigram_model(tmp_path_factory) -> Path:
    """e5-like pipeline: NFKC normaliser, Metaspace ▁ prefix, Unigram pieces (some multi-character),
    so full-width letters go through the fallback path and ▁ must survive trimming."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("unigram-encoder")
    chars = sorted({ch for t in TEXTS for ch in t if not ch.isspace()} - set("ＡＢＣ"))
    extra = ["的", "是", "了", "人民", "妇联", "市民", "▁乳", "Ж", "Ω"]  # not needed by the texts per character
    pieces = ["<s>", "<pad>", "</s>", "<unk>", "▁", *extra[:4], *chars, "A", "B", "C", *extra[4:], "<mask>"]
    vocab = [(p, 0.0 if p.startswith("<") else -5.0 - (i % 7)) for i, p in enumerate(pieces)]
    vocab[pieces.index("Ж")] = ("Ж", -30.0)  # the lowest score: trimming must keep the unk penalty
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", cls_token="<s>", sep_token="</s>",
        pad_token="<pad>", unk_token="<unk>", mask_token="<mask>",
    )
    fast.save_pretrained(out)
    config = BertConfig(
        vocab_size=len(pieces) + 3, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, pad_token_id=1,
    )
    BertModel(config).save_pretrained(out)
    return civic_model_dir(out, tmp_path_factory.mktemp("unigram-model") / "model", tokenization="subword")


def assert_same_predictions(original: Tagger, trimmed: Tagger, texts, keep):
    new_id = {old: new for new, old in enumerate(keep)}
    for a, b in zip(original.encode(texts), trimmed.encode(texts)):
        assert [[new_id[i] for i in w.input_ids] for w in a.windows] == [w.input_ids for w in b.windows]
        assert a.source == b.source
    for pa, pb in zip(original.emissions(texts), trimmed.emissions(texts)):
        np.testing.assert_allclose(pa, pb, atol=1e-5)
    assert original.predict(texts) == trimmed.predict(texts)


def embeddings(tagger: Tagger):
    return tagger.net.encoder.get_input_embeddings().weight.detach().numpy()


def test_trimming_keeps_ids_and_predictions(wordpiece_model, tmp_path):
    # only the first text is "the corpus"; no extra ranges, so the trim is drastic
    result = trim_model(wordpiece_model, tmp_path / "trimmed", TEXTS[:1], ranges=[(0x30, 0x39)])
    assert result.mismatches == []
    needed = {ch for ch in TEXTS[0] if not ch.isspace()} | set("0123456789")
    assert len(needed) < result.vocab_after < min(result.vocab_before, len(needed) + 12)
    original, trimmed = Tagger.from_dir(wordpiece_model), Tagger.from_dir(tmp_path / "trimmed")
    assert embeddings(trimmed).shape[0] == result.vocab_after == trimmed.net.encoder.config.vocab_size
    keep = json.loads((tmp_path / "trimmed" / TRIM_META).read_text())["kept_original_ids"]
    assert len(keep) == result.vocab_after and keep == sorted(keep)
    chars = set(TEXTS[0]) | set("0123456789")
    assert verify_trim(original.tokenizer, trimmed.tokenizer, keep, chars) == []
    np.testing.assert_array_equal(embeddings(trimmed), embeddings(original)[keep])
    assert_same_predictions(original, trimmed, TEXTS[:1] + ["12345", "投入268.94万元"], keep)
    meta = json.loads((tmp_path / "trimmed" / MODEL_META).read_text())
    assert meta["architecture"]["max_length"] == 24 and meta["trimmed"]["vocab_after"] == result.vocab_after


def test_trimming_carries_the_relation_model(wordpiece_model, tmp_path):
    """A trimmed copy keeps the learned relation layer (relations.json) of its model directory."""
    import shutil

    from civic_ner.model_dir import load_relation_model, save_relation_model
    from civic_ner.relation_model import RelationModel

    source = tmp_path / "with-relations"
    shutil.copytree(wordpiece_model, source)
    save_relation_model(source, RelationModel({"rel=runs": 1.5}, bias=-0.5))
    trim_model(source, tmp_path / "trimmed", TEXTS[:1])
    copied = load_relation_model(tmp_path / "trimmed")
    assert copied is not None and copied.weights == {"rel=runs": 1.5} and copied.bias == -0.5


def test_subword_trim_keeps_every_piece_over_the_kept_characters(unigram_model, tmp_path):
    result = trim_model(unigram_model, tmp_path / "t", TEXTS)  # full-width ＡＢＣ normalise to A, B, C
    assert result.mismatches == [] and result.vocab_after < result.vocab_before
    original, trimmed = Tagger.from_dir(unigram_model), Tagger.from_dir(tmp_path / "t")
    keep = json.loads((tmp_path / "t" / TRIM_META).read_text())["kept_original_ids"]
    vocab = original.tokenizer.get_vocab()
    assert vocab["▁"] in keep and vocab["Ж"] in keep  # word-start piece; lowest score (unk penalty)
    assert vocab["人民"] in keep and vocab["▁乳"] in keep  # pieces over kept characters stay
    assert vocab["Ω"] not in keep  # outside corpus and ranges
    assert_same_predictions(original, trimmed, TEXTS + ["人民的妇联"], keep)


def test_trim_refuses_bad_input(tmp_path, wordpiece_model):
    (tmp_path / "empty").mkdir()
    code = cli.main(["trim", "--model", str(tmp_path / "empty"), "-o", str(tmp_path / "out")])
    assert code == 2 and not (tmp_path / "out").exists()
    with pytest.raises(TrimError, match="must differ"):
        trim_model(wordpiece_model, wordpiece_model, TEXTS)


def test_cli_trim_with_int8_flag(tmp_path, wordpiece_model, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(
        "".join(json.dumps({"id": str(i), "text": t, "spans": []}, ensure_ascii=False) + "\n" for i, t in enumerate(TEXTS)),
        encoding="utf-8",
    )
    code = cli.main(["trim", "--model", str(wordpiece_model), "-o", str(tmp_path / "t8"), "--corpus", str(data), "--int8"])
    assert code == 0, capsys.readouterr().err
    assert "int8 at load" in capsys.readouterr().out
    layer = lambda t: t.net.encoder.encoder.layer[0].intermediate.dense  # noqa: E731
    assert type(layer(Tagger.from_dir(tmp_path / "t8"))).__module__.startswith("torch.ao.nn.quantized")
    assert not type(layer(Tagger.from_dir(tmp_path / "t8", quantize=False))).__module__.startswith("torch.ao")


def test_int8_loading_gives_same_shaped_output(wordpiece_model):
    fp32 = Tagger.from_dir(wordpiece_model)
    int8 = Tagger.from_dir(wordpiece_model, quantize=True)
    a, b = fp32.marginals(TEXTS), int8.marginals(TEXTS)
    assert [x.shape for x in a] == [y.shape for y in b]
    for y in b:
        np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-5)
    for doc in int8.predict(TEXTS):
        for e in doc:
            assert 0.0 < e.score <= 1.0


def test_bf16_and_precision_from_model_dir(wordpiece_model, tmp_path):
    fp32 = Tagger.from_dir(wordpiece_model)
    bf16 = Tagger.from_dir(wordpiece_model, precision="bf16")
    assert next(bf16.net.encoder.parameters()).dtype == torch.bfloat16
    assert next(bf16.net.classifier.parameters()).dtype == torch.float32  # the small head stays fp32
    assert [x.shape for x in fp32.emissions(TEXTS)] == [y.shape for y in bf16.emissions(TEXTS)]
    trim_model(wordpiece_model, tmp_path / "b", TEXTS, precision="bf16")
    assert next(Tagger.from_dir(tmp_path / "b").net.encoder.parameters()).dtype == torch.bfloat16
    assert next(Tagger.from_dir(tmp_path / "b", precision="fp32").net.encoder.parameters()).dtype == torch.float32
    with pytest.raises(ModelDirError, match="unknown precision"):
        Tagger.from_dir(wordpiece_model, precision="fp8")


def test_auto_precision_is_the_fast_one_of_this_device(wordpiece_model, monkeypatch):
    """Without a precision, a model loads in fp32 on a CPU without native bf16 (int8 lost more than half a
    point on a test) and in bf16 where bf16 is fast; the environment variable overrides."""
    from civic_ner import device
    from civic_ner.device import PRECISION_ENV

    monkeypatch.delenv(PRECISION_ENV, raising=False)
    layer = lambda t: t.net.encoder.encoder.layer[0].intermediate.dense  # noqa: E731
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: False)
    fp32 = Tagger.from_dir(wordpiece_model)
    assert fp32.precision == "fp32" and type(layer(fp32)) is torch.nn.Linear
    assert layer(fp32).weight.dtype == torch.float32
    int8 = Tagger.from_dir(wordpiece_model, precision="int8")
    assert int8.precision == "int8" and type(layer(int8)).__module__.startswith("torch.ao.nn.quantized")
    assert all(0.0 < e.score <= 1.0 for doc in int8.predict(TEXTS) for e in doc)
    monkeypatch.setattr(device, "cpu_has_fast_bf16", lambda: True)
    bf16 = Tagger.from_dir(wordpiece_model)
    assert bf16.precision == "bf16" and next(bf16.net.encoder.parameters()).dtype == torch.bfloat16
    assert Tagger.from_dir(wordpiece_model, precision="fp32").precision == "fp32"  # asked for: no auto
    monkeypatch.setenv(PRECISION_ENV, "fp32")
    assert Tagger.from_dir(wordpiece_model).precision == "fp32"
    assert Tagger.from_dir(wordpiece_model, precision="int8").precision == "int8"
    monkeypatch.setenv(PRECISION_ENV, "fp8")
    with pytest.raises(ModelDirError, match="CIVIC_NER_PRECISION='fp8' is not a precision"):
        Tagger.from_dir(wordpiece_model)


def test_predict_says_which_precision_ran(wordpiece_model, tmp_path, capsys):
    src = tmp_path / "a.txt"
    src.write_text(TEXTS[0], encoding="utf-8")
    code = cli.main(["predict", str(src), "--model", str(wordpiece_model), "--precision", "int8", "-o", str(tmp_path / "o.jsonl")])
    assert code == 0 and ", int8, predicted" in capsys.readouterr().err


# ---------------------------------------------------------------- serving copy: the encoder in ONNX Runtime


def test_an_onnx_serving_copy_predicts_what_the_torch_model_does(unigram_model, tmp_path):
    from civic_ner.onnx_serving import OnnxEncoder

    trim_model(unigram_model, tmp_path / "serve", TEXTS, onnx=True)
    meta = json.loads((tmp_path / "serve" / MODEL_META).read_text())
    assert meta["onnx_encoder"] == "encoder.onnx" and meta["onnx_deviation"] < 1e-3
    torch_model = Tagger.from_dir(unigram_model, precision="fp32")
    served = Tagger.from_dir(tmp_path / "serve", precision="fp32")
    assert isinstance(served.net.encoder, OnnxEncoder) and not isinstance(torch_model.net.encoder, OnnxEncoder)
    texts = [*TEXTS, "投入268.94万元", TEXTS[0] * 3]  # the last one spans several windows
    for a, b in zip(torch_model.marginals(texts), served.marginals(texts)):
        np.testing.assert_allclose(a, b, atol=1e-4)
    for a, b in zip(torch_model.predict(texts), served.predict(texts)):
        assert [(e.start, e.end, e.label) for e in a] == [(e.start, e.end, e.label) for e in b]
        np.testing.assert_allclose([e.score for e in a], [e.score for e in b], atol=1e-4)
    # bf16 and int8 run the torch encoder, whose weights the copy keeps
    assert not isinstance(Tagger.from_dir(tmp_path / "serve", precision="int8").net.encoder, OnnxEncoder)


def test_an_onnx_serving_copy_loads_without_transformers_model_code(wordpiece_model, tmp_path):
    import subprocess
    import sys

    trim_model(wordpiece_model, tmp_path / "serve", TEXTS, onnx=True)
    code = (f"import sys; from civic_ner.prediction import Tagger; t = Tagger.from_dir({str(tmp_path / 'serve')!r}, "
            "precision='fp32'); t.predict(['乳山市妇联组织活动']); "
            "print(type(t.net.encoder).__name__, 'transformers.modeling_utils' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["OnnxEncoder", "False"]


def test_a_bad_onnx_export_leaves_nothing_behind(wordpiece_model, tmp_path, monkeypatch):
    from civic_ner import onnx_serving

    monkeypatch.setattr(onnx_serving, "MAX_DEVIATION", -1.0)  # every export now counts as deviating
    with pytest.raises(onnx_serving.OnnxExportError, match="deviates from torch"):
        trim_model(wordpiece_model, tmp_path / "serve", TEXTS, onnx=True)
    assert not (tmp_path / "serve").exists()


def test_cli_trim_with_onnx_flag(tmp_path, wordpiece_model, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.jsonl").write_text(json.dumps({"id": "0", "text": TEXTS[0], "spans": []}, ensure_ascii=False) + "\n",
                                      encoding="utf-8")
    code = cli.main(["trim", "--model", str(wordpiece_model), "-o", str(tmp_path / "s"), "--corpus", str(data), "--onnx"])
    assert code == 0, capsys.readouterr().err
    assert "encoder also in ONNX" in capsys.readouterr().out and (tmp_path / "s" / "encoder.onnx").exists()


def test_a_serving_copy_with_a_missing_or_broken_graph_is_one_error_line(wordpiece_model, tmp_path):
    trim_model(wordpiece_model, tmp_path / "serve", TEXTS, onnx=True)
    graph = tmp_path / "serve" / "encoder.onnx"
    graph.write_bytes(b"not a graph")
    with pytest.raises(ModelDirError, match="encoder.onnx is not a usable ONNX graph"):
        Tagger.from_dir(tmp_path / "serve", precision="fp32")
    graph.unlink()
    with pytest.raises(ModelDirError, match="encoder.onnx is missing"):
        Tagger.from_dir(tmp_path / "serve", precision="fp32")


def test_a_copy_of_a_serving_copy_and_a_broken_tokenizer(wordpiece_model, tmp_path, capsys):
    trim_model(wordpiece_model, tmp_path / "serve", TEXTS, onnx=True)
    trim_model(tmp_path / "serve", tmp_path / "again", TEXTS)  # no --onnx: no graph, and the meta says so
    assert not any(k.startswith("onnx_") for k in json.loads((tmp_path / "again" / MODEL_META).read_text()))
    assert Tagger.from_dir(tmp_path / "again", precision="fp32").predict(TEXTS[:1])
    (tmp_path / "serve" / "tokenizer.json").write_text("{1: 2}", encoding="utf-8")
    with pytest.raises(ModelDirError, match="tokenizer.json: cannot load the tokenizer"):
        Tagger.from_dir(tmp_path / "serve", precision="fp32")
    with pytest.raises(TrimError, match="runs in fp32"):
        trim_model(wordpiece_model, tmp_path / "x", TEXTS, precision="int8", onnx=True)
    with pytest.raises(SystemExit):
        cli.main(["trim", "--model", str(wordpiece_model), "-o", str(tmp_path / "y"), "--onnx", "--int8"])
    assert "not allowed with argument" in capsys.readouterr().err
