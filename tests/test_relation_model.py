"""The learned relation model: candidates, training, decoding, JSON round trip, the one entry point."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from civic_ner.corpus import load_split
from civic_ner.facts import _Section, document_facts, extract_relations
from civic_ner.model_dir import ModelDirError, load_relation_model, save_relation_model
from civic_ner.relation_model import Candidate, RelationModel, candidates
from civic_ner.relations import Relation, allowed
from civic_ner.types import Span
from conftest import spans_at

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def grounded_records():
    records = load_split(ROOT / "data", "grounded")
    assert sum(len(r.relations) for r in records) > 1500, "the grounded corpus carries its relation layer"
    return records


@pytest.fixture(scope="module")
def fitted(grounded_records):
    return RelationModel().fit([(r.text, r.spans, r.relations) for r in grounded_records[:120]])


def test_candidates_cover_the_gold_pairs_the_schema_allows(grounded_records):
    """Decoding can only find candidates: most gold relations must be among them, and every
    candidate is a pair the schema allows."""
    covered = total = 0
    for r in grounded_records[:80]:
        sec = _Section(r.text, r.spans)
        pairs = {(c.source, c.target, c.label) for c in candidates(sec)}
        assert all(allowed(label, r.spans[a].label, r.spans[b].label) for a, b, label in pairs)
        total += len(r.relations)
        covered += sum((g.source, g.target, g.label) in pairs for g in r.relations)
    assert covered / total > 0.85


def test_candidates_are_those_of_trying_every_pair(grounded_records):
    """The linear-time candidate search finds exactly, and in the same order, the pairs of the
    definition tried on every pair of entities -- also on a long section of many paragraphs and lists."""
    from civic_ner.relation_model import MAX_PAIR_CHARS, MAX_PARAGRAPH_GAP, NUMBERS, ROLE_PAIRS, _in_headline

    def every_pair(sec):
        out = []
        for i, a in enumerate(sec.spans):
            for k, b in enumerate(sec.spans):
                if i == k:
                    continue
                label = ROLE_PAIRS.get((a.label, b.label))
                gap = abs(sec.para_of[i] - sec.para_of[k])
                close = abs(a.start - b.start) <= MAX_PAIR_CHARS
                if label and ((close and gap <= MAX_PARAGRAPH_GAP) or sec.near(i, k) or sec.near(k, i)
                              or _in_headline(sec, min(i, k))):
                    out.append((i, k, label))
                elif a.label == b.label and a.label in NUMBERS and gap <= 2 and close:
                    out.append((i, k, "part_of"))
        return out

    long_text, long_spans = "", []
    for r in grounded_records[:30]:
        long_spans += [Span(s.start + len(long_text), s.end + len(long_text), s.label) for s in r.spans]
        long_text += r.text + "\n"
    sections = [_Section(r.text, r.spans) for r in grounded_records[:120]] + [_Section(long_text, long_spans)]
    assert any(sec.header_paragraph(p) is not None for sec in sections for p in set(sec.para_of))  # lists are tried
    for sec in sections:
        found = [(c.source, c.target, c.label) for c in candidates(sec) if c.label != "same_as"]
        assert found == every_pair(sec)


def test_a_learned_model_finds_the_relations_of_a_plain_sentence(fitted):
    text = "市慈善总会投入资金300万元开展“春风行动”，帮扶困难家庭1200户。"
    spans = spans_at(text, [("市慈善总会", "ORG"), ("300万元", "MONEY"), ("春风行动", "PROGRAM"), ("1200户", "COUNT")])
    found = {(r.label, text[spans[r.source].start:spans[r.source].end], text[spans[r.target].start:spans[r.target].end])
             for r in fitted.predict(text, spans)}
    assert ("runs", "市慈善总会", "春风行动") in found
    assert ("reaches", "1200户", "春风行动") in found
    assert ("amount_of", "300万元", "春风行动") in found


def test_one_owner_per_number_and_every_relation_allowed(fitted, grounded_records):
    for r in grounded_records[120:160]:
        predicted = fitted.predict(r.text, r.spans)
        assert all(allowed(x.label, r.spans[x.source].label, r.spans[x.target].label) for x in predicted)
        owners = [(x.source, r.spans[x.target].label) for x in predicted if x.label in ("amount_of", "reaches")]
        assert len(owners) == len(set(owners))


def test_json_round_trip_predicts_the_same(fitted, grounded_records, tmp_path):
    path = tmp_path / "relations.json"
    fitted.save(path)
    again = RelationModel.load(path)
    assert json.loads(path.read_text(encoding="utf-8"))["kind"] == "logistic-regression"
    for r in grounded_records[160:175]:
        assert again.predict(r.text, r.spans) == fitted.predict(r.text, r.spans)


def test_extract_relations_is_the_one_entry_point(fitted):
    """With a model the entry point answers with the model; without, with the cues."""
    text = "团市委启动“希望小屋”项目，为30名儿童建成小屋。"
    spans = spans_at(text, [("团市委", "ORG"), ("希望小屋", "PROGRAM"), ("30名", "COUNT")])

    class Fixed:
        def predict(self, text, spans):
            return [Relation(2, 1, "reaches")]

    assert extract_relations(text, spans, Fixed()) == [Relation(2, 1, "reaches")]
    assert extract_relations(text, spans) == list(_Section(text, spans).relations)
    assert [f.relation for f in document_facts(text, spans, Fixed())] == ["reaches"]


def test_a_model_directory_holds_its_relation_model(fitted, tmp_path):
    assert load_relation_model(tmp_path) is None  # no relations.json: the cues decide
    with pytest.raises(ModelDirError, match="not a civic-ner model directory"):
        save_relation_model(tmp_path, fitted)
    (tmp_path / "relations.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelDirError, match="relations.json: cannot load the relation model"):
        load_relation_model(tmp_path)


def test_training_needs_both_outcomes():
    with pytest.raises(ValueError, match="both outcomes"):
        RelationModel().fit([("市总工会", [Span(0, 4, "ORG")], [])])


def test_totals_agreement_is_exact_with_the_gold_relations_and_counts_misses(grounded_records):
    """Given the gold relations the aggregator reproduces every gold total; a relation layer that
    finds nothing gets none of them."""
    from civic_ner.report import totals_agreement

    records = grounded_records[:60]
    by_text = {r.text: r.relations for r in records}

    class Gold:
        def predict(self, text, spans):
            return by_text[text]

    class Nothing:
        def predict(self, text, spans):
            return []

    exact = totals_agreement(records, Gold())
    assert exact["program money"]["total"] > 5 and exact["organization given"]["total"] > 5
    assert all(cell["equal"] == cell["total"] for cell in exact.values())
    empty = totals_agreement(records, Nothing())
    assert all(cell["equal"] == 0 for cell in empty.values())
    # relations handed in (cross-validation's out-of-fold ones) are read instead of extracting them
    assert totals_agreement(records, Nothing(), found=[r.relations for r in records]) == exact
    dropped = totals_agreement(records, Gold(), found=[[x for x in r.relations if x.label != "amount_of"] for r in records])
    assert dropped["program money"]["equal"] == 0 and dropped["organization given"] == exact["organization given"]


def test_an_actor_named_after_you_is_read_as_one():
    """由 names the actor after the program (活动由X主办): the features say so, for the program named
    just before, across a sentence, and not for an ORG that is no such actor."""
    from civic_ner.relation_model import pair_features

    text = "市总工会启动“金秋助学”活动。这项活动由市慈善总会联合主办，市民政局负责审核。"
    spans = spans_at(text, [("市总工会", "ORG"), ("金秋助学", "PROGRAM"), ("市慈善总会", "ORG"), ("市民政局", "ORG")])
    sec = _Section(text, spans)
    by_target = {(c.source, c.target): c for c in candidates(sec) if c.label == "runs"}
    actor = pair_features(sec, by_target[(2, 1)])
    assert actor["rel=runs|by_actor=True|acts=True"] == 1.0
    assert actor["rel=runs|by_actor|nearest_before=True|back=True|gap=1"] == 1.0
    other = pair_features(sec, by_target[(3, 1)])  # 市民政局 is named after a comma, not after 由
    assert "rel=runs|by_actor=False|acts=True" in other  # 负责 is an act, but no 由 before it
    assert not any(k.startswith("rel=runs|by_actor|") for k in other)


def test_a_sum_in_the_next_clause_is_told_from_the_programs_own():
    """筹资1259.4万元开展金秋助学；筹资2984.06万元，慰问…: the program's clause holds its own sum, the
    second sum sits past a semicolon in a clause of its own (the clause features)."""
    from civic_ner.relation_model import pair_features

    text = "市总工会筹资1259.4万元开展金秋助学；筹资2984.06万元，慰问困难职工。"
    spans = spans_at(text, [("市总工会", "ORG"), ("1259.4万元", "MONEY"), ("金秋助学", "PROGRAM"), ("2984.06万元", "MONEY")])
    sec = _Section(text, spans)
    pairs = {(c.source, c.target): c for c in candidates(sec) if c.label == "amount_of"}
    own, next_clause = pair_features(sec, pairs[(1, 2)]), pair_features(sec, pairs[(3, 2)])
    assert own["rel=amount_of|break=none"] == 1.0
    assert own["rel=amount_of|same_clause=True|target_clause_has_own=False"] == 1.0
    assert next_clause["rel=amount_of|break=semi"] == 1.0
    assert next_clause["rel=amount_of|same_clause=False|target_clause_has_own=True"] == 1.0
    assert next_clause["rel=amount_of|number_clause_has_other=False|same=False"] == 1.0


def test_parts_that_add_up_to_a_whole_without_qizhong():
    """大学生2117名、高中生155名、中小学生1406名 add up to 3678名 with no 其中 (R16): the part sums say
    so for each part and the whole, and not for a figure that is no part of it."""
    from civic_ner.relation_model import pair_features

    text = "资助学生3678名。大学生2117名、高中生155名、中小学生1406名，另有教师40名。"
    spans = spans_at(text, [("3678名", "COUNT"), ("2117名", "COUNT"), ("155名", "COUNT"), ("1406名", "COUNT"), ("40名", "COUNT")])
    sec = _Section(text, spans)
    parts = {(c.source, c.target): c for c in candidates(sec) if c.label == "part_of"}
    for part in (1, 2, 3):
        assert pair_features(sec, parts[(part, 0)])["rel=part_of|sums_to_target=True"] == 1.0
    assert pair_features(sec, parts[(1, 0)])["rel=part_of|nearest_larger=True|after=False"] == 1.0
    assert pair_features(sec, parts[(2, 0)])["rel=part_of|nearest_larger=False|after=False"] == 1.0  # 2117名 is nearer
    assert pair_features(sec, parts[(4, 0)])["rel=part_of|sums_to_target=False"] == 1.0


def test_a_comma_inside_a_name_and_a_line_break_between_the_ends():
    """滇池情，助学行 is one program: its comma ends no clause, so the sum right after it shares its clause;
    a line break between two ends is as strong a break as a full stop."""
    from civic_ner.relation_model import pair_features

    text = "“滇池情，助学行”筹款20万元\n另拨付5万元"
    spans = spans_at(text, [("滇池情，助学行", "PROGRAM"), ("20万元", "MONEY"), ("5万元", "MONEY")])
    sec = _Section(text, spans)
    pairs = {(c.source, c.target): c for c in candidates(sec) if c.label == "amount_of"}
    near = pair_features(sec, pairs[(1, 0)])
    assert near["rel=amount_of|same_clause=True|target_clause_has_own=False"] == 1.0
    assert pair_features(sec, pairs[(2, 0)])["rel=amount_of|break=stop"] == 1.0


def test_totals_agreement_refuses_relations_that_do_not_match_the_records(grounded_records):
    from civic_ner.report import totals_agreement

    with pytest.raises(ValueError, match="2 relation lists for 3 records"):
        totals_agreement(grounded_records[:3], found=[[], []])


def test_a_repeat_is_kept_only_for_a_figure_someone_owns():
    """R4 / R17: same_as links mentions of a figure that takes part in a fact; a repeated figure no
    ORG or PROGRAM owns (through any of its mentions) gets none. The ablation switch keeps them all."""
    text = "团市委开展助学行动，投入100万元。全市共筹集200万元，其中又提到200万元。助学行动的100万元已到位。"

    def at(surface: str, label: str, nth: int = 0) -> Span:
        start = -1
        for _ in range(nth + 1):
            start = text.index(surface, start + 1)
        return Span(start, start + len(surface), label)

    spans = sorted([at("团市委", "ORG"), at("助学行动", "PROGRAM"), at("100万元", "MONEY"), at("200万元", "MONEY"),
                    at("200万元", "MONEY", 1), at("助学行动", "PROGRAM", 1), at("100万元", "MONEY", 1)])
    org, program, hundred, two, two_again, program_again, hundred_again = range(7)
    assert [text[s.start:s.end] for s in spans] == ["团市委", "助学行动", "100万元", "200万元", "200万元", "助学行动", "100万元"]
    scored = [(0.9, Candidate(org, program, "runs")), (0.9, Candidate(hundred, program, "amount_of")),
              (0.9, Candidate(hundred_again, hundred, "same_as")), (0.9, Candidate(two_again, two, "same_as"))]
    model = RelationModel(threshold=0.3)
    kept = set(model.decode(spans, scored, text))
    assert Relation(hundred_again, hundred, "same_as") in kept  # owned through its first mention
    assert Relation(two_again, two, "same_as") not in kept  # 200万元 belongs to no one here
    assert Relation(two_again, two, "same_as") in set(model.decode(spans, scored, text, owned_repeats_only=False))
    # owned through the later mention only: the repeat stays
    scored = [(0.9, Candidate(hundred_again, program_again, "amount_of")), (0.9, Candidate(hundred_again, hundred, "same_as"))]
    assert Relation(hundred_again, hundred, "same_as") in set(model.decode(spans, scored, text))


def test_a_repeat_owned_at_the_far_end_of_a_chain_or_through_a_giver_is_kept():
    from civic_ner.relations import owned_repeats

    # mentions 1, 2, 3 of one figure chained 3 -> 2 -> 1; only mention 1 has an owner, through gives (ORG 0 -> 1)
    chain = {Relation(3, 2, "same_as"), Relation(2, 1, "same_as")}
    assert owned_repeats(chain | {Relation(0, 1, "gives")}) == chain | {Relation(0, 1, "gives")}
    assert owned_repeats(chain) == set()
    # a gives link owns its target (the number), not its source
    assert owned_repeats(chain | {Relation(3, 0, "gives")}) == {Relation(3, 0, "gives")}
    # amount_of and reaches own their source; a part_of is kept either way
    assert Relation(2, 1, "same_as") in owned_repeats(chain | {Relation(3, 5, "amount_of")})
    assert owned_repeats({Relation(4, 1, "part_of")}) == {Relation(4, 1, "part_of")}
