"""The pair encoder stacked on the linear relation model: fitting, the model directory round trip
(its word embeddings read from the encoder's), a trimmed copy, errors, and train() with it."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from civic_ner.config import ConfigError, TrainConfig, check_config
from civic_ner.corpus import load_split
from civic_ner.cv import group_of
from civic_ner.facts import extract_relations
from civic_ner.model_dir import RELATION_PAIRS_FILE, ModelDirError, load_relation_model, save_relation_model
from civic_ner.relation_pairs import DeferredRelationModel, PairRelationModel, PairSettings
from civic_ner.relations import allowed

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = PairSettings(layers=1, epochs=2, hidden=16, inner_folds=2, listwise=False, context=False)
"""Each candidate on its own here, without the context between the ends (a network as saved before that key):
listwise and context have tests of their own, and train() runs the defaults."""


@pytest.fixture(scope="module")
def sections():
    records = [r for r in load_split(ROOT / "data", "grounded") if r.relations]
    return records[:14]


@pytest.fixture(scope="module")
def char_encoder(tmp_path_factory, sections) -> Path:
    """A 1-layer, 32-wide BERT whose WordPiece vocabulary is the sections' characters."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    out = tmp_path_factory.mktemp("pair-encoder")
    chars = sorted({ch for r in sections for ch in r.text if not ch.isspace()} | {"*"})  # the markers' piece
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars]
    BertTokenizerFast(vocab={p: i for i, p in enumerate(pieces)}, do_lower_case=False).save_pretrained(out)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(pieces), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def fitted(char_encoder, sections) -> PairRelationModel:
    from civic_ner.encoder import load_encoder_model, load_tokenizer

    documents = [(r.text, r.spans, r.relations, group_of((r, None))) for r in sections[:10]]
    assert len({d[3] for d in documents}) >= 2, "the inner CV needs two provinces"
    return PairRelationModel.fit(documents, load_encoder_model(str(char_encoder), layers=1), load_tokenizer(str(char_encoder)),
                                 SETTINGS, log=lambda *_: None)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, char_encoder, fitted) -> Path:
    from test_trimming import civic_model_dir

    out = civic_model_dir(char_encoder, tmp_path_factory.mktemp("pair-model") / "model")
    save_relation_model(out, fitted)
    return out


def test_a_fitted_pair_encoder_decodes_like_the_linear_model(fitted, sections):
    for r in sections[10:]:
        cands, pair, linear = fitted.scored_apart(r.text, r.spans)
        scored = fitted.scored(r.text, r.spans)
        assert scored and all(0.0 <= p <= 1.0 for p, _ in scored)
        assert all(abs(p - (a + b) / 2) < 1e-9 for (p, _), a, b in zip(scored, pair, linear))  # the half-and-half mix
        assert pair != linear, "the pair encoder has a say"
        found = extract_relations(r.text, r.spans, fitted)  # the one entry point answers with the model
        assert found == fitted.linear.decode(r.spans, scored, r.text)
        assert all(allowed(x.label, r.spans[x.source].label, r.spans[x.target].label) for x in found)
        owners = [(x.source, r.spans[x.target].label) for x in found if x.label in ("amount_of", "reaches")]
        assert len(owners) == len(set(owners))


def test_the_model_directory_round_trip_reads_the_encoders_word_embeddings(model_dir, fitted, sections):
    from safetensors.torch import load_file

    saved = load_file(str(model_dir / RELATION_PAIRS_FILE))
    assert "encoder.embeddings.word_embeddings.weight" not in saved and saved, "the encoder's word embeddings, not saved twice"
    assert json.loads((model_dir / "relations.json").read_text(encoding="utf-8"))["pair_encoder"]["settings"]["layers"] == 1
    again = load_relation_model(model_dir)
    assert isinstance(again, DeferredRelationModel) and again._model is None, "loaded on first use"
    for r in sections[10:]:
        a, b = fitted.scored(r.text, r.spans), again.scored(r.text, r.spans)
        assert [c for _, c in a] == [c for _, c in b]
        assert max(abs(p - q) for (p, _), (q, _) in zip(a, b)) < 1e-5
        assert again.predict(r.text, r.spans) == fitted.predict(r.text, r.spans)
    assert isinstance(again.model, PairRelationModel)


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_the_pair_encoder_runs_in_the_taggers_precision(model_dir, fitted, sections, precision):
    """load() hands the tagger's device and precision on: a bf16 encoder feeds the fp32 head, int8
    quantizes the Linear layers; the probabilities stay close to fp32's."""
    again = load_relation_model(model_dir, "cpu", precision)
    assert again.model.precision == precision
    if precision == "bf16":
        assert again.model.net.encoder.embeddings.word_embeddings.weight.dtype == torch.bfloat16
        assert again.model.net.mlp[0].weight.dtype == torch.float32
    else:
        assert type(again.model.net.mlp[0]).__name__ == "Linear" and "quantized" in type(again.model.net.mlp[0]).__module__
    for r in sections[10:]:
        a, b = fitted.scored(r.text, r.spans), again.scored(r.text, r.spans)
        assert [c for _, c in a] == [c for _, c in b]
        assert max(abs(p - q) for (p, _), (q, _) in zip(a, b)) < 0.05
    assert load_relation_model(model_dir, "cpu", "fp32").model.precision == "fp32"
    with pytest.raises(ValueError, match="fp32"):
        save_relation_model(model_dir, again)  # a bf16 / int8 network's weights are not the trained ones


def test_a_relations_json_written_before_the_context_and_marker_keys_still_loads(model_dir, fitted, sections, tmp_path,
                                                                                monkeypatch):
    """Directories saved before ``context`` / ``markers`` existed describe a network without them,
    whatever today's defaults are (here both switched on)."""
    import dataclasses

    import civic_ner.relation_pairs as relation_pairs

    monkeypatch.setattr(relation_pairs, "PairSettings", dataclasses.make_dataclass(
        "PairSettings", [("context", bool, True), ("markers", bool, True)], bases=(PairSettings,), frozen=True))
    assert relation_pairs.PairSettings().context and relation_pairs.PairSettings().markers
    old = tmp_path / "model"
    shutil.copytree(model_dir, old)
    obj = json.loads((old / "relations.json").read_text(encoding="utf-8"))
    for key in ("context", "markers"):
        del obj["pair_encoder"]["settings"][key]
    (old / "relations.json").write_text(json.dumps(obj), encoding="utf-8")
    again = load_relation_model(old, "cpu", "fp32")
    assert not again.model.settings.context and not again.model.settings.markers
    r = sections[10]
    assert again.predict(r.text, r.spans) == fitted.predict(r.text, r.spans)


def test_a_bad_precision_for_the_pair_encoder_is_one_error_naming_the_file(model_dir, monkeypatch):
    with pytest.raises(ModelDirError, match="relations.json.*fp8"):
        load_relation_model(model_dir, "cpu", "fp8")  # checked at load, not on the first request for facts
    monkeypatch.setenv("CIVIC_NER_PRECISION", "fp8")
    with pytest.raises(ModelDirError, match="relations.json.*fp8"):
        load_relation_model(model_dir)


def test_load_gives_the_pair_encoder_the_taggers_precision(model_dir):
    import civic_ner
    from civic_ner.serve import load_served

    for precision in ("bf16", "fp32"):
        assert civic_ner.load(model_dir, precision=precision).relation_model.model.precision == precision
        assert load_served(model_dir, precision=precision).relation_model.model.precision == precision


def test_a_trimmed_copy_carries_the_pair_encoder(model_dir, fitted, sections, tmp_path):
    """Trimming remaps the vocabulary: the pair encoder reads the copy's tokenizer and rows."""
    from civic_ner.trimming import trim_model

    keep = [r.text for r in sections[10:]]
    result = trim_model(model_dir, tmp_path / "trimmed", keep)
    assert result.vocab_after < result.vocab_before, "the copy's vocabulary is remapped"
    copied = load_relation_model(tmp_path / "trimmed")
    assert (tmp_path / "trimmed" / RELATION_PAIRS_FILE).exists()
    for r in sections[10:]:
        assert copied.predict(r.text, r.spans) == fitted.predict(r.text, r.spans)


def test_a_missing_or_foreign_pair_weights_file_is_one_error(model_dir, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / RELATION_PAIRS_FILE).unlink()
    with pytest.raises(ModelDirError, match=f"broken: incomplete model directory .{RELATION_PAIRS_FILE} is missing"):
        load_relation_model(broken)
    from safetensors.torch import save_file

    save_file({"mlp.0.weight": torch.zeros(2, 2)}, str(broken / RELATION_PAIRS_FILE))
    deferred = load_relation_model(broken)
    with pytest.raises(ModelDirError, match=f"{RELATION_PAIRS_FILE}: not the weights relations.json was saved with"):
        extract_relations("市总工会开展“送温暖”活动。", [], deferred)
    obj = json.loads((broken / "relations.json").read_text(encoding="utf-8"))
    del obj["pair_encoder"]["weights_sha256"]  # no checksum to compare: the weights' names and shapes are checked
    (broken / "relations.json").write_text(json.dumps(obj), encoding="utf-8")
    with pytest.raises(ModelDirError, match=f"{RELATION_PAIRS_FILE}: cannot load the pair encoder .*weights do not fit"):
        load_relation_model(broken).predict("市总工会", [])
    (broken / RELATION_PAIRS_FILE).write_bytes((model_dir / RELATION_PAIRS_FILE).read_bytes()[:1000])  # truncated
    deferred = load_relation_model(broken)
    for _ in range(2):  # a failed load fails again, the same way
        with pytest.raises(ModelDirError, match=f"{RELATION_PAIRS_FILE}: corrupt or truncated weights"):
            deferred.predict("市总工会", [])


def test_a_linear_model_saved_over_a_pair_encoder_removes_its_weights(model_dir, fitted, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(model_dir, copy)
    save_relation_model(copy, fitted.linear)
    assert not (copy / RELATION_PAIRS_FILE).exists()
    assert load_relation_model(copy).to_json() == fitted.linear.to_json()


def test_the_pair_encoder_needs_frozen_word_embeddings():
    with pytest.raises(ConfigError, match="pair-encoder .* freeze_embeddings: true"):
        check_config(TrainConfig(relation_model="pair-encoder", freeze_embeddings=False))
    check_config(TrainConfig(relation_model="pair-encoder"))


def test_train_writes_a_model_directory_with_the_pair_encoder(tmp_path, tiny_encoder_dir, gold_records):
    from conftest import TINY_RECIPE, write_small_data

    from civic_ner.training import train

    data = write_small_data(tmp_path / "data", gold_records, grounded=6)
    grounded = [r for r in load_split(ROOT / "data", "grounded") if r.relations][:6]
    rows = [json.loads(line) for line in (data / "grounded.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = [{**r.to_json(), "id": row["id"], "meta": row["meta"]} for row, r in zip(rows, grounded)]  # with relations
    (data / "grounded.jsonl").write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    config = TrainConfig(name="tiny-pairs", model=str(tiny_encoder_dir), data_dir=str(data), grounded=True,
                         **{**TINY_RECIPE, "freeze_embeddings": True}, relation_model="pair-encoder",
                         relation_pair_epochs=1, relation_pair_layers=1)
    train(config, tmp_path / "run", log=lambda *_: None)
    assert (tmp_path / "run" / "model" / RELATION_PAIRS_FILE).exists()
    model = load_relation_model(tmp_path / "run" / "model").model
    assert isinstance(model, PairRelationModel) and model.settings.layers == 1 and model.settings.listwise
    assert not model.settings.context and not hasattr(model.net, "between"), "the default: no context between the ends"


def test_listwise_choices_share_one_softmax(char_encoder, sections):
    """With ``listwise``, the owners a number could have (and "none") share one probability mass."""
    from collections import defaultdict

    from civic_ner.encoder import load_encoder_model, load_tokenizer
    from civic_ner.relation_model import featurized
    from civic_ner.relation_pairs import choice_groups

    documents = [(r.text, r.spans, r.relations, group_of((r, None))) for r in sections[:6]]
    model = PairRelationModel.fit(documents, load_encoder_model(str(char_encoder), layers=1), load_tokenizer(str(char_encoder)),
                                  PairSettings(layers=1, epochs=1, hidden=16, inner_folds=2, listwise=True), log=lambda *_: None)
    r = sections[10]
    cands, pair, linear = model.scored_apart(r.text, r.spans)
    mass: dict[int, float] = defaultdict(float)
    for p, g in zip(pair, choice_groups(r.spans, cands)):
        if g >= 0:
            mass[g] += p
    assert mass and all(0.0 < m < 1.0 for m in mass.values())
    scored = model.scored(r.text, r.spans)  # what is decoded: the mean of the two models' probabilities
    assert [c for _, c in scored] == cands
    assert all(abs(p - (a + b) / 2) < 1e-9 for (p, _), a, b in zip(scored, pair, linear))
    assert linear == [model.linear.probability(f) for _, f in featurized(r.text, r.spans)]
    assert model.predict(r.text, r.spans) == model.linear.decode(r.spans, scored, r.text)


def test_the_relations_command_refuses_a_pair_encoder_over_trained_word_embeddings(tiny_model_dir, capsys):
    """The tiny tagger fine-tuned its word embeddings: a pair encoder could not share them."""
    from civic_ner import cli

    code = cli.main(["relations", "--model", str(tiny_model_dir), "--kind", "pair-encoder", "--data-dir", str(ROOT / "data")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "civic_ner.json: relation_model: pair-encoder" in err[0]
    assert not (tiny_model_dir / RELATION_PAIRS_FILE).exists()


def test_the_relations_command_names_an_absent_device_in_one_line(tiny_model_dir, capsys):
    from civic_ner import cli

    code = cli.main(["relations", "--model", str(tiny_model_dir), "--device", "cuda:7", "--data-dir", str(ROOT / "data")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "cuda:7" in err[0] and "not available" in err[0]


def test_markers_surround_every_entity_and_keep_its_surface(sections, char_encoder):
    from civic_ner.encoder import load_tokenizer
    from civic_ner.relation_pairs import MARKER, encoded, marked

    r = sections[0]
    text, places = marked(r.text, r.spans)
    assert len(text) == len(r.text) + 2 * len(r.spans)
    for span, place in zip(r.spans, places):
        assert text[place.start:place.end] == MARKER + r.text[span.start:span.end] + MARKER
        assert place.label == span.label
    tokenizer = load_tokenizer(str(char_encoder))
    ids, pieces_of = encoded(tokenizer, r.text, r.spans, markers=True)
    marker = tokenizer.convert_tokens_to_ids(MARKER)
    assert marker != tokenizer.unk_token_id
    for span, pieces in zip(r.spans, pieces_of):
        assert ids[pieces[0]] == marker and ids[pieces[-1]] == marker, "from the opening marker to the closing one"
        assert pieces == list(range(pieces[0], pieces[-1] + 1)) and len(pieces) >= 3, "the entity's pieces between them"


def test_the_context_between_the_ends_is_the_mean_of_the_pieces_between(char_encoder):
    from civic_ner.encoder import load_encoder_model
    from civic_ner.relation_pairs import build_net

    net = build_net(load_encoder_model(str(char_encoder), layers=1), PairSettings(layers=1, hidden=16, context=True))
    states = torch.arange(20.0).reshape(10, 2)
    pieces_of = [[0, 1], [4], [5, 6]]  # entity 0 ends at piece 1, entity 1 is piece 4, entity 2 starts at piece 5
    pairs = {"source": torch.tensor([2, 0, 1]), "target": torch.tensor([0, 1, 2])}
    got = net.between_vectors(states, pieces_of, pairs)
    assert torch.equal(got[0], states[2:5].mean(0)), "between entity 0 and entity 2, whichever is the source"
    assert torch.equal(got[1], states[2:4].mean(0))
    assert torch.equal(got[2], torch.zeros(2)), "touching ends: nothing between"
    shared = net.between_vectors(states, [[0, 1], [1, 2]], {"source": torch.tensor([0]), "target": torch.tensor([1])})
    assert torch.equal(shared[0], torch.zeros(2)), "ends sharing a piece: nothing between"


def test_a_pair_encoder_with_markers_and_context_round_trips(char_encoder, sections, tmp_path):
    from civic_ner.encoder import load_encoder_model, load_tokenizer
    from test_trimming import civic_model_dir

    settings = PairSettings(layers=1, epochs=1, hidden=16, inner_folds=2, context=True, markers=True)
    documents = [(r.text, r.spans, r.relations, group_of((r, None))) for r in sections[:6]]
    model = PairRelationModel.fit(documents, load_encoder_model(str(char_encoder), layers=1),
                                  load_tokenizer(str(char_encoder)), settings, log=lambda *_: None)
    out = civic_model_dir(char_encoder, tmp_path / "model")
    save_relation_model(out, model)
    again = load_relation_model(out, "cpu", "fp32")
    assert again.model.settings == settings
    for r in sections[10:]:
        a, b = model.scored(r.text, r.spans), again.scored(r.text, r.spans)
        assert max(abs(p - q) for (p, _), (q, _) in zip(a, b)) < 1e-5
