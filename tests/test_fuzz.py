"""Fuzzing the readers of user files: whatever the bytes, only the project's own one-line errors."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from civic_ner.cleaning import clean_text
from civic_ner.config import ConfigError, load_config
from civic_ner.corpus import AnnotationError, load_tasks, tasks_to_records
from civic_ner.dataset import DataError, check_rows
from civic_ner.reading import InputError, clean_bulletin, decode_bytes

FAST = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "150")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
task_like = st.fixed_dictionaries(
    {"data": st.dictionaries(st.sampled_from(["text", "section_id", "source"]), json_values | st.text(), max_size=3)},
    optional={"annotations": st.lists(st.dictionaries(st.sampled_from(["result", "was_cancelled", "ground_truth"]),
                                                      json_values, max_size=3), max_size=2)},
)


def _one_line_message(exc: Exception) -> None:
    message = str(exc).strip()
    assert message and "\n" not in message, f"an error says one line, not {message!r}"


@FAST
@given(st.binary(max_size=2000))
@example(b"\xef\xbb\xbf\xff")  # a UTF-8 byte-order mark before invalid bytes
@example(b"\xff\xfe")  # a UTF-16 byte-order mark and nothing after it
@example(b"\x00" * 10)
def test_any_bytes_read_as_a_bulletin_or_say_why(data):
    try:
        text = clean_bulletin(data)
    except InputError as exc:
        _one_line_message(exc)
    else:
        assert isinstance(text, str) and text.strip()


@FAST
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=500))
@example("\U00020000\U0002a700 乳山市妇联\r\n\u2028 𠀀")  # astral CJK (Extension B), line separators
def test_cleaning_any_unicode_never_raises(text):
    cleaned = clean_text(text)
    assert isinstance(cleaned, str)
    try:
        decode_bytes(text.encode("utf-8"))
    except InputError as exc:
        _one_line_message(exc)


@FAST
@given(st.lists(task_like, max_size=4) | json_values)
@example([{"data": {"text": "乳山", "section_id": "a"}, "annotations": [{"result": [{"type": "labels", "value": {"start": "x"}}]}]}])
@example([{"data": {"text": "乳山", "section_id": "a"}, "annotations": [{"result": [{"type": "relation", "from_id": None}]}]}])
def test_any_json_shape_as_label_studio_tasks(tasks):
    try:
        records = tasks_to_records(tasks, "fuzz.json")
    except AnnotationError as exc:
        assert str(exc).startswith("fuzz.json")
    else:
        assert all(r.text for r in records)


@FAST
@given(st.binary(max_size=600))
@example(b"[{\"data\": ")  # a truncated export
def test_any_bytes_as_an_export_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "tasks.json"
    path.write_bytes(data)
    try:
        tasks_to_records(load_tasks(path), str(path))
    except AnnotationError as exc:
        assert str(exc).startswith(str(path))


@FAST
@given(st.text(max_size=300) | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
@example("epochs: !!python/object/apply:os.system ['echo']\n")  # never executed: safe_load
@example("learning_rate: .nan\n")
@example("features: {a: 1}\n")
@example("- 1\n- 2\n")
def test_any_config_text_loads_or_says_why(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if "\ud800" not in text else path.write_bytes(b"\xff")
    try:
        load_config(path)
    except ConfigError as exc:
        assert str(exc).startswith(str(path))


@FAST
@given(st.lists(json_values | task_like, max_size=4))
@example([{"id": "a", "text": "乳山", "spans": [{"start": 0, "end": 9, "label": "ORG"}]}])
@example([{"id": "a", "text": "乳山", "spans": [{"start": 0, "end": 1, "label": "PERSON"}]}])
def test_any_split_rows_pass_or_say_why(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("fuzz") / "train.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    try:
        check_rows(path)
    except DataError as exc:
        assert str(exc).startswith(str(path))
