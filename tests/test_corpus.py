import copy
import json

import pytest

from civic_ner import corpus, splits
from civic_ner.corpus import AnnotationError, Record, tasks_to_records
from civic_ner.labelstudio_tasks import record_to_task
from civic_ner.types import LABELS, Span

TEXT = "乳山市妇联组织“虹桥拉手”活动,帮扶1125名儿童,捐款400多万元。"


def good_task():
    record = Record("s-00", TEXT, [Span(0, 5, "ORG"), Span(8, 12, "PROGRAM"), Span(18, 23, "COUNT"), Span(28, 34, "MONEY")], "x.txt")
    assert [TEXT[s.start : s.end] for s in record.spans] == ["乳山市妇联", "虹桥拉手", "1125名", "400多万元"]
    return record_to_task(record, 1)


def broken(mutate):
    task = good_task()
    mutate(task)
    with pytest.raises(AnnotationError) as info:
        tasks_to_records([task], "tasks.json")
    message = str(info.value)
    assert "tasks.json" in message and "s-00" in message
    return message


def test_good_task_round_trips():
    (record,) = tasks_to_records([good_task()])
    assert record_to_task(record, 1) == good_task()


def test_offsets_out_of_range():
    def mutate(t):
        t["annotations"][0]["result"][0]["value"].update(start=30, end=99)
    assert "out of range" in broken(mutate)


def test_text_mismatch_names_span():
    def mutate(t):
        t["annotations"][0]["result"][0]["value"]["text"] = "乳山市民政局"
    message = broken(mutate)
    assert "乳山市民政局" in message and "not the span's text" in message


def test_overlapping_spans():
    def mutate(t):
        item = copy.deepcopy(t["annotations"][0]["result"][0])
        item["value"].update(start=3, end=5, text="妇联")
        t["annotations"][0]["result"].append(item)
    assert "overlapping" in broken(mutate)


def test_unknown_label():
    def mutate(t):
        t["annotations"][0]["result"][0]["value"]["labels"] = ["PERSON"]
    assert "unknown label" in broken(mutate)


def test_empty_text():
    def mutate(t):
        t["data"]["text"] = "  "
    assert "empty" in broken(mutate)


def test_duplicate_section_ids():
    with pytest.raises(AnnotationError, match="duplicate section id s-00"):
        tasks_to_records([good_task(), good_task()], "tasks.json")


def test_all_problems_reported_at_once():
    task = good_task()
    task["annotations"][0]["result"][0]["value"]["labels"] = ["PERSON"]
    task["annotations"][0]["result"][1]["value"].update(start=200, end=201)
    with pytest.raises(AnnotationError, match="2 problem"):
        tasks_to_records([task], "tasks.json")


def test_label_studio_offsets_are_utf16():
    text = "😀市妇联"  # an emoji is two UTF-16 code units in Label Studio
    record = Record("e-00", text, [Span(1, 4, "ORG")])
    task = record_to_task(record)
    assert task["annotations"][0]["result"][0]["value"]["start"] == 2
    assert tasks_to_records([task])[0].spans == [Span(1, 4, "ORG")]


def test_cancelled_annotation_is_not_used():
    task = good_task()
    task["annotations"].append({"result": [], "was_cancelled": True})
    assert len(tasks_to_records([task])[0].spans) == 4
    task["annotations"] = [{"result": [], "was_cancelled": True}]
    with pytest.raises(AnnotationError, match="no completed annotation"):
        tasks_to_records([task], "t.json")


def test_committed_annotations_validate_and_match_cleaned_raw(gold_records):
    sections = {r.id: r for r in corpus.sections_from_raw(corpus.Path(__file__).resolve().parents[1] / "data/raw")}
    assert {r.id for r in gold_records} == set(sections)
    for record in gold_records:
        assert record.text == sections[record.id].text
        for span in record.spans:
            assert span.label in LABELS
            assert record.text[span.start : span.end].strip() == record.text[span.start : span.end]
    assert sum(len(r.spans) for r in gold_records) > 400


def test_build_is_deterministic_and_keeps_assignments(tmp_path, gold_records):
    root = corpus.Path(__file__).resolve().parents[1]
    committed = json.loads((root / "data/splits.json").read_text(encoding="utf-8"))["assignments"]
    out = tmp_path / "data"
    (out).mkdir()
    (out / "splits.json").write_text(json.dumps({"assignments": committed}), encoding="utf-8")
    by_split = corpus.build_dataset(root / "annotations/tasks.json", out)
    for split in splits.SPLITS:
        assert (out / f"{split}.jsonl").read_text(encoding="utf-8") == (root / f"data/{split}.jsonl").read_text(encoding="utf-8")
    assignment = {r.id: s for s, rs in by_split.items() for r in rs}
    assert assignment == committed
    assert splits.check_split_requirements(gold_records, assignment) == []


def test_first_build_split_search_is_seeded(gold_records):
    first = splits.assign_splits(gold_records, trials=300)
    assert first == splits.assign_splits(gold_records, trials=300)


def test_new_sections_go_to_train_and_old_ones_stay(tmp_path, gold_records):
    existing = {r.id: "test" for r in gold_records[:3]}
    new = Record("999_new-00", "市妇联开展活动。", [Span(0, 3, "ORG")])
    assignment = splits.assign_splits([*gold_records[:3], new], existing)
    assert assignment["999_new-00"] == "train"
    assert all(assignment[r.id] == "test" for r in gold_records[:3])


def test_a_written_item_is_a_document_of_its_own():
    """Document consistency and aggregation group the sections of one bulletin: the seeds' sections by
    their source file, each written item alone (its source names the batch it was written in)."""
    from civic_ner.corpus import Record, document_of

    seed = Record("001_x-03", "正文", [], "001_x.txt", {})
    grounded = Record("grd-t01", "正文", [], "grounded/batch-t", {"grounded": True})
    synthetic = Record("syn-a01", "正文", [], "synthetic/batch-a", {})
    assert document_of(seed) == "001_x.txt"
    assert document_of(grounded) == "grd-t01" and document_of(synthetic) == "syn-a01"
