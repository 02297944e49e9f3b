"""Facts: relation cues, honest aggregation, the facts command and the HTML totals."""
import csv
import io
import json
from pathlib import Path

import pytest

from civic_ner import cli
from civic_ner.aggregation import Aggregator
from civic_ner.facts import document_facts, extract_relations, is_rate, sentence_bounds
from civic_ner.relations import Relation
from civic_ner.rules import rule_spans
from civic_ner.types import Span

ROOT = Path(__file__).resolve().parents[1]


def spans_of(text: str, names: dict[str, str]) -> list[Span]:
    """Spans for named surfaces (first occurrence each) plus the rule baseline's MONEY/COUNT."""
    out = list(rule_spans(text))
    for surface, label in names.items():
        start = text.index(surface)
        out.append(Span(start, start + len(surface), label))
    return sorted(out)


def relations_by_text(text: str, spans: list[Span]) -> set[tuple[str, str, str]]:
    return {(r.label, text[spans[r.source].start:spans[r.source].end], text[spans[r.target].start:spans[r.target].end])
            for r in extract_relations(text, spans)}


def test_giver_recipient_and_program_cues():
    text = "乳山市慈善总会再次拨付268.94万元给乳山市扶贫办,用于“虹桥拉手”活动。"
    spans = spans_of(text, {"乳山市慈善总会": "ORG", "乳山市扶贫办": "ORG", "虹桥拉手": "PROGRAM"})
    found = relations_by_text(text, spans)
    assert ("gives", "乳山市慈善总会", "268.94万元") in found
    assert ("amount_of", "268.94万元", "乳山市扶贫办") in found
    assert ("amount_of", "268.94万元", "虹桥拉手") in found


def test_runner_reach_and_participants():
    text = "乳山市妇联组织“虹桥拉手”活动,累计帮扶1125名困境儿童,20余名志愿者参与服务。"
    spans = spans_of(text, {"乳山市妇联": "ORG", "虹桥拉手": "PROGRAM"})
    found = relations_by_text(text, spans)
    assert ("runs", "乳山市妇联", "虹桥拉手") in found
    assert ("reaches", "1125名", "虹桥拉手") in found
    assert not any(r[1] == "20余名" for r in found)  # volunteers serve; they are not reached (R1)


def test_list_items_inherit_the_announcing_organization():
    text = "市总工会组织实施了两大行动:\n一是消费扶贫行动。筹集资金500余万元。\n二是困难帮扶行动。救助困难职工300人次。"
    spans = spans_of(text, {"市总工会": "ORG", "消费扶贫行动": "PROGRAM", "困难帮扶行动": "PROGRAM"})
    found = relations_by_text(text, spans)
    assert {("runs", "市总工会", "消费扶贫行动"), ("runs", "市总工会", "困难帮扶行动")} <= found
    assert ("amount_of", "500余万元", "消费扶贫行动") in found
    assert ("reaches", "300人次", "困难帮扶行动") in found


def test_parts_totals_and_the_issue_example():
    text = "县慈善总会开展“助学圆梦”项目,累计募集善款2368.7万元,其中1200万元用于助学。"
    spans = spans_of(text, {"县慈善总会": "ORG", "助学圆梦": "PROGRAM"})
    found = relations_by_text(text, spans)
    assert ("part_of", "1200万元", "2368.7万元") in found
    totals = Aggregator()
    totals.add("a.txt", text, spans, extract_relations(text, spans))
    program = totals.profiles[("program", "助学圆梦")]
    assert program.money_total == pytest.approx(23_687_000)  # not 35,687,000: the part is inside the total
    text2 = "市级出资30.6万元,各区市自筹88.2万元,共计118.8万元,用于“靓居工程”。"
    spans2 = spans_of(text2, {"靓居工程": "PROGRAM"})
    found2 = relations_by_text(text2, spans2)
    assert {("part_of", "30.6万元", "118.8万元"), ("part_of", "88.2万元", "118.8万元")} <= found2


def test_rates_repeats_and_approximate_amounts_are_honest():
    text = "县妇联发放助学金50余万元\n县妇联开展“春蕾计划”,发放助学金50余万元,每人2000元,资助学生260名。"
    spans = spans_of(text, {"县妇联": "ORG", "春蕾计划": "PROGRAM"})
    relations = extract_relations(text, spans)
    assert is_rate(text, next(s for s in spans if text[s.start:s.end] == "2000元"))
    totals = Aggregator()
    totals.add("a.txt", text, spans, relations)
    program = totals.profiles[("program", "春蕾计划")]
    assert program.money_total == pytest.approx(500_000) and program.money[0].approximate
    assert program.rates == ["2000元"]
    assert program.reached == {"名": 260}
    # the same headline amount twice in one document: counted once (same_as)
    headline = Span(text.index("50余万元"), text.index("50余万元") + 5, "MONEY")
    org = totals.profiles.get(("organization", "县妇联"))
    assert org is None or sum(a.surface == "50余万元" for a in org.given) <= 1
    assert headline in spans


def test_sentences_and_document_facts():
    text = "县残联投入30万元。\n帮扶残疾人120名;"
    bounds = sentence_bounds(text)
    assert [text[a:b] for a, b in bounds] == ["县残联投入30万元。", "\n", "帮扶残疾人120名;"]
    spans = spans_of(text, {"县残联": "ORG"})
    for fact in document_facts(text, spans):
        assert fact.sentence_start <= fact.source.start < fact.sentence_end or \
            fact.sentence_start <= fact.target.start < fact.sentence_end
        data = fact.to_json(text)
        assert data["from"]["text"] == text[fact.source.start:fact.source.end] and data["sentence"]


def test_gold_relations_through_the_aggregator_match_a_hand_count(gold_records):
    record = next(r for r in gold_records if any(rel.label == "part_of" for rel in r.relations))
    totals = Aggregator()
    totals.add(record.source, record.text, record.spans, record.relations)
    parts = {rel.source for rel in record.relations if rel.label == "part_of"}
    counted = [a.surface for p in totals.profiles.values() for a in p.money + p.given]
    assert not any(record.text[record.spans[i].start:record.spans[i].end] in counted and
                   counted.count(record.text[record.spans[i].start:record.spans[i].end]) > 1 for i in parts)


@pytest.fixture(scope="module")
def bulletins(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bulletins")
    for path in sorted((ROOT / "data" / "raw").glob("*.txt"))[:2]:
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".html"])
def test_facts_command_formats(gold_records, monkeypatch, bulletins, tmp_path, capsys, suffix):
    """The facts command end to end with a tagger that finds the gold entities (a tiny random model
    may find none, and a format test over no facts checks nothing)."""
    from test_predict import DictionaryTagger

    from civic_ner.api import NER

    monkeypatch.setattr("civic_ner.api.load", lambda *args, **kwargs: NER(DictionaryTagger(gold_records), None))
    out = tmp_path / f"facts{suffix}"
    code = cli.main(["facts", "--model", "unused", str(bulletins), "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "facts ->" in capsys.readouterr().err
    content = out.read_text(encoding="utf-8-sig")
    if suffix == ".jsonl":
        facts = [json.loads(line) for line in content.splitlines()]
        assert len(facts) >= 10
        for fact in facts:
            assert fact["relation"] in ("runs", "gives", "amount_of", "reaches", "part_of", "same_as")
            assert fact["from"]["text"] and fact["sentence"] and fact["source"].endswith(".txt")
        assert {"runs", "amount_of", "reaches"} <= {f["relation"] for f in facts}
    elif suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(content)))
        assert len(rows) >= 5
        assert list(rows[0]) == ["kind", "name", "measure", "value", "unit", "approximate", "mentions", "documents", "detail", "aliases"]
        assert {"organization", "program"} <= {r["kind"] for r in rows}
    else:
        assert "Who did what, with how much" in content and "<th>Facts</th>" in content
        assert content.count("<tr") >= 5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_facts_command_refuses_an_unknown_suffix(tiny_model_dir, bulletins, tmp_path, capsys):
    code = cli.main(["facts", "--model", str(tiny_model_dir), str(bulletins), "-o", str(tmp_path / "facts.xlsx")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "facts.xlsx" in err and "suffix" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "facts.xlsx").exists()


def test_doc_facts_api(gold_records):
    from test_predict import DictionaryTagger

    from civic_ner.api import NER

    ner = NER(DictionaryTagger(gold_records), None)
    text = "乳山市妇联组织“虹桥拉手”活动,累计帮扶1125名困境儿童,投入资金268.94万元。"
    doc = ner(text)
    assert [doc.text[s.start:s.end] for s in doc.spans] == ["乳山市妇联", "虹桥拉手", "1125名", "268.94万元"]
    relations = {(doc.text[doc.spans[r.source].start:doc.spans[r.source].end],
                  doc.text[doc.spans[r.target].start:doc.spans[r.target].end], r.label) for r in doc.relations()}
    assert ("乳山市妇联", "虹桥拉手", "runs") in relations
    assert ("1125名", "虹桥拉手", "reaches") in relations
    assert doc.facts and all(f.relation in ("runs", "gives", "amount_of", "reaches", "part_of", "same_as") for f in doc.facts)


def test_a_very_long_text_is_read_block_by_block(gold_records):
    """A file of many bulletins is linked block by block (cut at line breaks, as the tagger's pieces):
    the relations are those of each block, every index mapped back to the whole text, and the work
    grows with the length -- the pairs of one block, not of the whole file."""
    import time

    from civic_ner.facts import RELATION_BLOCK_CHARS
    from civic_ner.relation_model import RelationModel
    from civic_ner.text_pieces import long_text_pieces

    sections = [r for r in gold_records if r.spans][:40]
    text, spans = "", []
    while len(text) < 6 * RELATION_BLOCK_CHARS:
        for r in sections:
            spans += [Span(s.start + len(text), s.end + len(text), s.label) for s in r.spans]
            text += r.text + "\n"
    model = RelationModel.from_json({"weights": {"rel=amount_of": 2.0, "rel=runs": 2.0}, "bias": -1.0})
    for layer in (None, model):
        started = time.perf_counter()
        found = extract_relations(text, spans, layer)
        assert time.perf_counter() - started < 60  # a guard against the square, not a benchmark
        expected = set()
        for offset, piece in long_text_pieces(text, RELATION_BLOCK_CHARS):
            inside = [k for k, s in enumerate(spans) if offset <= s.start and s.end <= offset + len(piece)]
            local = [Span(spans[k].start - offset, spans[k].end - offset, spans[k].label) for k in inside]
            expected |= {Relation(inside[r.source], inside[r.target], r.label) for r in extract_relations(piece, local, layer)}
        assert found and set(found) == expected and found == sorted(found)
        assert all(abs(spans[r.source].start - spans[r.target].start) < RELATION_BLOCK_CHARS for r in found)


def test_positions_find_their_sentence_and_paragraph_by_binary_search():
    """The bound holding each position is the one a scan finds (the last for a position at the end)."""
    from civic_ner.facts import _indices_of, paragraph_bounds

    text = "市总工会启动“送温暖”活动。共投入资金120万元；惠及职工3000人\n第二段。\n\n末尾没有句号"
    for bounds in (sentence_bounds(text), paragraph_bounds(text)):
        scan = [next((k for k, (a, b) in enumerate(bounds) if a <= p < b), len(bounds) - 1) for p in range(len(text) + 1)]
        assert _indices_of(bounds, range(len(text) + 1)) == scan
    assert _indices_of([], [0, 3]) == [-1, -1]


def test_cue_words_are_found_as_a_scan_finds_them():
    from civic_ner.facts import _has_any

    assert _has_any("向困难职工发放慰问金", ("发放", "捐赠"))
    assert not _has_any("向困难职工慰问", ("发放", "捐赠"))
    assert _has_any("甲，乙", "，,；;") and not _has_any("甲乙", "，,；;")
    assert not _has_any("任何文字", ())
    assert _has_any("a.b", (".",)) and not _has_any("ab", (".",))  # words are literal, not patterns
