import pytest

from civic_ner.alignment import (
    CharTokenizer,
    content_positions,
    make_windows,
    spans_to_tags,
    tags_to_spans,
)
from civic_ner.types import Span


def test_gold_round_trip_on_every_section(gold_records):
    for record in gold_records:
        tags = spans_to_tags(record.text, record.spans)
        assert tags_to_spans(record.text, tags) == sorted(record.spans), record.id


def test_spans_across_inner_whitespace():
    text = "“红社区 扶贫购”品牌"
    span = Span(1, 8, "PROGRAM")
    assert text[1:8] == "红社区 扶贫购"
    assert tags_to_spans(text, spans_to_tags(text, [span])) == [span]


def test_boundary_on_whitespace_is_refused():
    with pytest.raises(ValueError, match="whitespace"):
        spans_to_tags("市妇联 开展", [Span(0, 4, "ORG")])


def test_stray_inside_tag_opens_an_entity():
    assert tags_to_spans("市妇联", ["I-ORG", "I-ORG", "O"]) == [Span(0, 2, "ORG")]
    assert tags_to_spans("市妇联", ["B-ORG", "I-COUNT", "I-COUNT"]) == [Span(0, 1, "ORG"), Span(1, 3, "COUNT")]


def windows_for(n_chars, pieces_per_char, max_length, stride):
    ids, owner = [], []
    for c in range(n_chars):
        for _ in range(pieces_per_char(c)):
            ids.append(100 + c)
            owner.append(c)
    return make_windows(0, ids, owner, max_length, stride, 1, 2, [c % 3 for c in range(n_chars)])


@pytest.mark.parametrize("n_chars", [1, 5, 37, 200])
def test_windows_cover_everything_without_cutting_characters(n_chars):
    windows = windows_for(n_chars, lambda c: 2 if c % 7 == 0 else 1, max_length=16, stride=4)
    covered = set()
    for w in windows:
        assert len(w.input_ids) <= 16
        assert w.input_ids[0] == 1 and w.input_ids[-1] == 2
        chars = [c for c in w.owner if c >= 0]
        assert chars == sorted(chars) and set(chars) == set(range(w.char_start, w.char_end))
        # labels only on a character's first piece
        firsts = [t for t, c in enumerate(w.owner) if c >= 0 and (t == 0 or w.owner[t - 1] != c)]
        assert [w.label_ids[t] for t in firsts] == [c % 3 for c in range(w.char_start, w.char_end)]
        assert all(w.label_ids[t] == -100 for t in range(len(w.owner)) if t not in firsts)
        covered.update(chars)
    assert covered == set(range(n_chars))
    for a, b in zip(windows, windows[1:]):
        assert b.char_start < a.char_end, "consecutive windows overlap"
        assert b.char_start > a.char_start, "windows move forward"


def test_each_unit_is_read_from_its_most_central_window():
    from civic_ner.model import central_sources

    windows = windows_for(40, lambda c: 1, max_length=12, stride=4)
    for c, (k, t) in enumerate(central_sources(40, windows)):
        margins = [min(c - w.char_start, w.char_end - 1 - c) for w in windows if w.char_start <= c < w.char_end]
        w = windows[k]
        assert min(c - w.char_start, w.char_end - 1 - c) == max(margins)
        assert w.owner[t] == c and (t + 1 == len(w.owner) or w.owner[t + 1] != c)  # its last token


def test_char_tokenizer_maps_each_character(tiny_encoder_dir):
    from transformers import AutoTokenizer

    chars = CharTokenizer(AutoTokenizer.from_pretrained(tiny_encoder_dir))
    text = "市妇联 帮扶1125名"
    ids, owner = chars.encode(text)
    assert len(ids) == len(content_positions(text)) == len(owner)
    assert chars.char_ids("😀") == [chars.unk_id]


def test_viterbi_repairs_invalid_transitions():
    import math

    from civic_ner.alignment import bio_labels
    from civic_ner.model import viterbi

    labels = bio_labels()
    idx = {l: i for i, l in enumerate(labels)}

    def rows(*preferences):
        import numpy as np

        out = []
        for pref in preferences:
            row = [math.log(0.01)] * len(labels)
            for rank, tag in enumerate(pref):
                row[idx[tag]] = math.log(0.6 - 0.2 * rank)
            out.append(row)
        return np.array(out)

    decode = lambda r: [labels[j] for j in viterbi(r, labels)]  # noqa: E731
    # argmax would say O I-ORG I-ORG; the best valid path starts the entity with B-ORG
    assert decode(rows(["O"], ["I-ORG", "B-ORG"], ["I-ORG"])) == ["O", "B-ORG", "I-ORG"]
    # B-ORG I-MONEY is invalid; I-MONEY must become a valid continuation or a new entity
    assert decode(rows(["B-ORG"], ["I-MONEY", "I-ORG"])) == ["B-ORG", "I-ORG"]
    import numpy as np

    assert viterbi(np.zeros((0, len(labels))), labels) == []


def test_crf_marginals_match_brute_force():
    import itertools

    import numpy as np

    from civic_ner.model import bio_mask, marginals

    tags = ["O", "B-X", "I-X"]
    rng = np.random.default_rng(0)
    emissions = rng.normal(size=(4, 3))
    start, trans, end = rng.normal(size=3), rng.normal(size=(3, 3)), rng.normal(size=3)
    allowed, start_ok = bio_mask(tags)
    weights = np.zeros((4, 3))
    total = 0.0
    for path in itertools.product(range(3), repeat=4):
        if not start_ok[path[0]] or not all(allowed[a, b] for a, b in zip(path, path[1:])):
            continue
        score = start[path[0]] + end[path[-1]] + sum(emissions[t, j] for t, j in enumerate(path))
        score += sum(trans[a, b] for a, b in zip(path, path[1:]))
        total += np.exp(score)
        for t, j in enumerate(path):
            weights[t, j] += np.exp(score)
    np.testing.assert_allclose(marginals(emissions, tags, (start, trans, end)), weights / total, atol=1e-10)



def test_batched_marginals_equal_one_text_at_a_time():
    """The padded, rescaled forward-backward over many texts gives each text's log-space marginals:
    texts of every length (empty, one character, long), in any order, with steep scores."""
    import numpy as np

    from civic_ner.model import MARGINAL_GROUP, batch_marginals, marginals

    tags = ["O", "B-ORG", "I-ORG", "B-PROGRAM", "I-PROGRAM", "B-MONEY", "I-MONEY", "B-COUNT", "I-COUNT"]
    rng = np.random.default_rng(1)
    transitions = (rng.normal(size=9), rng.normal(size=(9, 9)) * 3, rng.normal(size=9))
    lengths = [0, 1, 2, 700, 1, 33, *rng.integers(1, 300, size=MARGINAL_GROUP + 10)]
    emissions = [rng.normal(size=(n, 9)) * (60 if i % 7 == 0 else 4) for i, n in enumerate(lengths)]
    batched = batch_marginals(emissions, tags, transitions)
    assert len(batched) == len(emissions)
    for em, got in zip(emissions, batched):
        assert got.shape == em.shape
        np.testing.assert_allclose(got, marginals(em, tags, transitions), atol=1e-8)
    plain = batch_marginals(emissions[:3], tags, None)  # no CRF: a softmax per character
    np.testing.assert_allclose(plain[2], marginals(emissions[2], tags), atol=1e-12)


@pytest.fixture(scope="module")
def e5_tokenizer(tmp_path_factory):
    from civic_ner.encoder import DEFAULT_ENCODER, resolve_encoder
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_encoder(DEFAULT_ENCODER, tmp_path_factory.mktemp("e5")))


def test_subword_units_cover_text_and_round_trip(gold_records, e5_tokenizer):
    from civic_ner.alignment import SubwordTokenizer, spans_to_unit_tags, unit_tags_to_spans

    encoder = SubwordTokenizer(e5_tokenizer)
    misaligned_total = 0
    for record in gold_records:
        ids, owner, units = encoder.encode_units(record.text)
        assert owner == sorted(owner) and set(owner) == set(range(len(units)))
        covered = "".join(record.text[s:e] for s, e in units)
        assert covered == "".join(ch for ch in record.text if not ch.isspace()) or all(
            record.text[s:e].strip() == record.text[s:e] for s, e in units
        )
        tags, misaligned = spans_to_unit_tags(units, record.spans)
        misaligned_total += misaligned
        decoded = set(unit_tags_to_spans(units, tags))
        assert len(set(record.spans) - decoded) == misaligned
    assert misaligned_total <= 10  # 5 of 513 at the time of writing: why char mode is the default


def test_char_units_match_character_tags(gold_records, tiny_encoder_dir):
    from transformers import AutoTokenizer

    from civic_ner.alignment import spans_to_unit_tags

    chars = CharTokenizer(AutoTokenizer.from_pretrained(tiny_encoder_dir))
    for record in gold_records[:10]:
        _, _, units = chars.encode_units(record.text)
        tags, misaligned = spans_to_unit_tags(units, record.spans)
        assert misaligned == 0 and tags == spans_to_tags(record.text, record.spans)


def test_tiny_fixture_tokenizer_knows_the_corpus_characters(tiny_encoder_dir, gold_records):
    from transformers import AutoTokenizer

    chars = CharTokenizer(AutoTokenizer.from_pretrained(tiny_encoder_dir))
    ids, _ = chars.encode(gold_records[0].text)
    assert chars.unk_id not in ids


def test_every_character_reads_the_piece_that_holds_it(gold_records, e5_tokenizer):
    from civic_ner.alignment import unit_encoder
    from civic_ner.dataset import featurize
    import unicodedata

    from civic_ner.model import Architecture, build_feature_vocab, encode_text

    pieces = unit_encoder(e5_tokenizer, "subword")
    records = gold_records[:8]
    feats = featurize([r.text for r in records])
    arch = Architecture(feature_vocab=build_feature_vocab(feats, ["lac"]), features=["lac"], max_length=64, stride=8)
    for record, f in zip(records, feats):
        encoded = encode_text(record.text, pieces, arch, f, record.spans)
        positions = content_positions(record.text)
        assert len(encoded.source) == len(positions) == len(encoded.tag_ids)
        for (w, t), p in zip(encoded.source, positions):
            piece = e5_tokenizer.convert_ids_to_tokens(encoded.windows[w].input_ids[t])
            char = unicodedata.normalize("NFKC", record.text[p])
            assert char in piece or piece == "<unk>", (record.id, record.text[p], piece)
