"""Feature groups, the datasets pipeline, the feature CRF, document consistency and the baselines."""
import pytest

from civic_ner.baselines import baseline_spans, quoted_spans
from civic_ner.consistency import propagate, propagate_by_document
from civic_ner.feature_crf import CrfSettings, FeatureCRF
from civic_ner.evaluation import span_scores
from civic_ner.features import FEATURE_GROUPS, char_features, crf_attributes, lexicon_tags, quote_tags
from civic_ner.types import Span

TEXT = "乳山市妇联组织“虹桥拉手”活动,累计帮扶1125名困境儿童,投入268.94万元。"


def test_every_group_has_one_value_per_character(gold_records):
    texts = [r.text for r in gold_records[:5]] + ["", " \n"]
    for text, feats in zip(texts, char_features(texts)):
        assert set(feats) == set(FEATURE_GROUPS)
        assert all(len(values) == len(text) for values in feats.values())


def test_quote_tags_mark_short_names_and_long_speech():
    tags = quote_tags(TEXT)
    start = TEXT.index("虹")
    assert tags[start - 1 : start + 5] == ["open", "B", "I", "I", "E", "close"]
    speech = "他说:“" + "好" * 30 + "”"
    assert set(quote_tags(speech)[4:34]) == {"L"} and quote_tags(speech)[34] == "close"
    assert quote_tags("“未闭合的引号\n下一行”") [0] == "O"  # quotes pair within a line only


def test_lac_rule_and_lexicon_groups(gold_records):
    feats = char_features([TEXT])[0]
    money = TEXT.index("268.94万元")
    assert feats["rule"][money : money + 8] == ["B-MONEY"] + ["I-MONEY"] * 7
    count = TEXT.index("1125名")
    assert feats["rule"][count] == "B-COUNT"
    assert feats["lac"][0].startswith("B-")  # 乳山市妇联 starts a LAC word
    assert lexicon_tags("开展希望工程")[-2:] == ["prog", "prog"]
    assert lexicon_tags("市妇联")[-1] == "org"
    assert feats["shape"][TEXT.index("1")] == "digit" and feats["shape"][0] == "han"


def test_crf_attributes_are_per_content_character():
    text = "市 妇联"
    feats = char_features([text])[0]
    rows = crf_attributes(text, feats, [0, 2, 3])
    assert [r["c[0]"] for r in rows] == ["市", "妇", "联"]
    assert rows[0]["c[-1]"] == "<s>" and rows[-1]["c[1]"] == "</s>"


def test_dataset_pipeline_matches_direct_features(tmp_path, gold_records):
    from civic_ner import fileio
    from civic_ner.dataset import featurize, load_corpus, to_examples

    fileio.write_jsonl(tmp_path / "train.jsonl", (r.to_json() for r in gold_records[:3]))
    corpus = load_corpus(tmp_path, cache_dir=tmp_path / "cache")
    assert list(corpus) == ["train"]
    assert corpus["train"].features["spans"].feature["label"].names == ["ORG", "PROGRAM", "MONEY", "COUNT"]
    examples = to_examples(corpus["train"])
    assert [r.spans for r, _ in examples] == [sorted(r.spans) for r in gold_records[:3]]
    direct = char_features([r.text for r in gold_records[:3]])
    assert [f for _, f in examples] == direct == featurize([r.text for r in gold_records[:3]])
    again = load_corpus(tmp_path, cache_dir=tmp_path / "cache")  # cached: same fingerprint, same rows
    assert again["train"]._fingerprint == corpus["train"]._fingerprint


def test_feature_crf_learns_and_predicts(gold_records):
    train, test = gold_records[:40], gold_records[40:]
    model = FeatureCRF(CrfSettings(max_iterations=60)).fit([r.text for r in train], [r.spans for r in train])
    predicted = model.predict([r.text for r in test], [r.source for r in test])
    scores = span_scores([r.spans for r in test], predicted)
    assert scores["MONEY"]["f1"] > 0.9 and scores["COUNT"]["f1"] > 0.9 and scores["micro"]["f1"] > 0.6


def test_consistency_labels_other_occurrences_and_respects_spans():
    texts = ["乳山市妇联组织活动。", "市妇联和乳山市妇联", "AB乳山市妇联C"]
    predicted = [[Span(0, 5, "ORG")], [Span(0, 3, "ORG")], []]
    out = propagate(texts, predicted)
    assert out[1] == [Span(0, 3, "ORG"), Span(4, 9, "ORG")]  # the longer name wins where free
    assert Span(2, 7, "ORG") in out[2]  # Chinese after Latin letters: still a name
    assert propagate(["ABC市妇联1"], [[]]) == [[]]
    glued = propagate(["5G网络联盟", "15G"], [[Span(0, 6, "ORG")], []])
    text = "15G联盟 5G联盟"
    second = text.rindex("5G联盟")
    assert propagate(["5G联盟", text], [[Span(0, 4, "ORG")], []])[1] == [Span(second, second + 4, "ORG")]
    assert glued[1] == []  # 5G联盟 inside 15G联盟 would cut the number
    by_doc = propagate_by_document(["市妇联", "市妇联"], [[Span(0, 3, "ORG")], []], ["a.txt", "b.txt"])
    assert by_doc == [[Span(0, 3, "ORG")], []]  # never across documents


def test_baselines():
    assert quoted_spans(TEXT) == [Span(8, 12, "PROGRAM")]
    assert quoted_spans("他说:“" + "好" * 30 + "”") == []
    rules, = baseline_spans("rules", [TEXT])
    assert {TEXT[s.start:s.end] for s in rules} == {"1125名", "268.94万元"}
    signals, = baseline_spans("signals", [TEXT])
    assert {s.label for s in signals} >= {"PROGRAM", "MONEY", "COUNT"}
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_spans("magic", [TEXT])


def test_lexical_groups_are_read_off_the_text():
    from civic_ner.features import with_lexical

    text = "市妇联"
    feats = with_lexical(text, char_features([text])[0])
    assert feats["char"] == ["市", "妇", "联"]
    assert feats["bigram"][1:] == ["市妇", "妇联"] and feats["bigram_next"][:2] == ["市妇", "妇联"]
    assert len(feats["bigram"]) == len(feats["bigram_next"]) == len(text)


def test_character_ngram_vocabulary_keeps_what_was_seen_twice():
    from civic_ner.model import UNK, build_feature_vocab

    rows = [{"char": ["a", "b", "a"], "lac": ["x", "y", "y"]}]
    vocab = build_feature_vocab(rows, ["char", "lac"])
    assert vocab["char"] == [UNK, "a"] and vocab["lac"] == [UNK, "x", "y"]
