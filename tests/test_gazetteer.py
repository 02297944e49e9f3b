"""The gazetteer of training names (bench/gazetteer.py, an ablation row): what enters it, what filling adds."""
from civic_ner.types import Span
from conftest import script_module

gazetteer = script_module("bench/gazetteer.py")
build_gazetteer, compile_gazetteer, fill_from_gazetteer = (
    gazetteer.build_gazetteer, gazetteer.compile_gazetteer, gazetteer.fill_from_gazetteer)


def spans_of(text: str, *surfaces_labels):
    out = []
    for surface, label in surfaces_labels:
        start = text.index(surface)
        out.append(Span(start, start + len(surface), label))
        assert text[start : start + len(surface)] == surface
    return out


TRAINING = [
    ("共青团中央实施希望工程，县民政局配合。", ("希望工程", "PROGRAM"), ("县民政局", "ORG"), ("共青团中央", "ORG")),
    ("希望工程资助学生，县民政局发放。", ("希望工程", "PROGRAM"), ("县民政局", "ORG")),
    ("市民政局也参加了民政局的会议。", ("市民政局", "ORG")),
    ("团中央说，共青团中央的工作很多。", ("共青团中央", "ORG")),
]


def training_docs():
    return [(text, spans_of(text, *marks)) for text, *marks in TRAINING]


def test_a_name_enters_only_when_labelled_often_and_in_most_of_its_occurrences():
    names = build_gazetteer(training_docs(), min_count=2, min_share=0.8)
    assert names == {"希望工程": "PROGRAM", "县民政局": "ORG", "共青团中央": "ORG"}
    # 民政局 is never labelled alone: absent; 市民政局 is labelled once: below min_count
    assert "民政局" not in names and "市民政局" not in names
    assert build_gazetteer(training_docs(), min_count=1, min_share=0.8)["市民政局"] == "ORG"


def test_share_counts_occurrences_inside_longer_words():
    docs = [("中华慈善总会与慈善总会", [Span(0, 6, "ORG"), Span(7, 11, "ORG")]),
            ("县慈善总会", [Span(0, 5, "ORG")]), ("慈善总会", [Span(0, 4, "ORG")])]
    # 慈善总会 labelled twice out of four occurrences (inside 中华慈善总会 and 县慈善总会)
    assert "慈善总会" not in build_gazetteer(docs, min_count=2, min_share=0.8)
    assert build_gazetteer(docs, min_count=2, min_share=0.5)["慈善总会"] == "ORG"


def test_fill_adds_missed_names_and_leaves_predicted_spans_alone():
    names = {"希望工程": "PROGRAM", "县民政局": "ORG", "希望工程助学金": "PROGRAM"}
    pattern = compile_gazetteer(names)
    text = "县民政局落实希望工程助学金，希望工程再出发。"
    predicted = [Span(0, 4, "ORG")]
    out = fill_from_gazetteer(text, predicted, names, pattern, Span)
    assert [(text[s.start:s.end], s.label) for s in out] == [
        ("县民政局", "ORG"), ("希望工程助学金", "PROGRAM"), ("希望工程", "PROGRAM")]  # longest name first


def test_fill_extends_a_span_cut_inside_a_known_name_only_when_asked():
    names = {"春蕾计划": "PROGRAM"}
    text = "实施春蕾计划。"
    cut = [Span(2, 4, "PROGRAM")]
    assert fill_from_gazetteer(text, cut, names, compile_gazetteer(names), Span) == cut
    assert fill_from_gazetteer(text, cut, names, compile_gazetteer(names), Span, extend=True) == [Span(2, 6, "PROGRAM")]
    other_type = [Span(2, 4, "ORG")]
    assert fill_from_gazetteer(text, other_type, names, compile_gazetteer(names), Span, extend=True) == other_type


def test_an_empty_gazetteer_changes_nothing():
    assert compile_gazetteer({}) is None
    assert fill_from_gazetteer("希望工程", [], {}, None, Span) == []
