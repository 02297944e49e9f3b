import pytest

from civic_ner.alignment import (
    CharTokenizer,
    content_positions,
    make_windows,
    merge_window_scores,
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


def test_merge_takes_the_most_central_window():
    windows = windows_for(40, lambda c: 1, max_length=12, stride=4)
    # every window "predicts" its own index, so the merge shows which window won
    scores = [[k] * len(w.input_ids) for k, w in enumerate(windows)]
    merged = merge_window_scores(40, windows, scores)
    for c, k in enumerate(merged):
        margins = [min(c - w.char_start, w.char_end - 1 - c) for w in windows if w.char_start <= c < w.char_end]
        best = max(margins)
        w = windows[k]
        assert min(c - w.char_start, w.char_end - 1 - c) == best


def test_char_tokenizer_maps_each_character(tiny_encoder_dir):
    from transformers import AutoTokenizer

    chars = CharTokenizer(AutoTokenizer.from_pretrained(tiny_encoder_dir))
    text = "市妇联 帮扶1125名"
    ids, owner = chars.encode(text)
    assert len(ids) == len(content_positions(text)) == len(owner)
    assert chars.char_ids("😀") == [chars.unk_id]


def test_constrained_decode_repairs_invalid_transitions():
    import math

    from civic_ner.alignment import bio_labels, constrained_decode

    labels = bio_labels()
    idx = {l: i for i, l in enumerate(labels)}

    def rows(*preferences):
        out = []
        for pref in preferences:
            row = [math.log(0.01)] * len(labels)
            for rank, tag in enumerate(pref):
                row[idx[tag]] = math.log(0.6 - 0.2 * rank)
            out.append(row)
        return out

    # argmax would say O I-ORG I-ORG; the best valid path starts the entity with B-ORG
    tags = constrained_decode(rows(["O"], ["I-ORG", "B-ORG"], ["I-ORG"]), labels)
    assert tags == ["O", "B-ORG", "I-ORG"]
    # B-ORG I-MONEY is invalid; I-MONEY must become a valid continuation or a new entity
    tags = constrained_decode(rows(["B-ORG"], ["I-MONEY", "I-ORG"]), labels)
    assert tags == ["B-ORG", "I-ORG"]
    assert constrained_decode([], labels) == []


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
