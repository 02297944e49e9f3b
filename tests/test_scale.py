"""``civic-ner predict --engine ray``: shards planned and keyed for resume, the same entities as ``NER.pipe``
on a local Ray with 2 workers, bad inputs named, a missing Ray explained in one line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from civic_ner.shards import ScaleError, plan_shards, read_shard_rows

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_local():
    """One local Ray for the module (2 CPUs, no dashboard): starting it is the slow part."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    import logging

    from civic_ner.scale import quiet_ray_data

    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)  # workers inherit PYTHONPATH
    quiet_ray_data(ray)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def bulletins(tmp_path_factory, gold_records) -> Path:
    """Five short bulletins (real annotated sections, so that the tiny model finds entities)."""
    folder = tmp_path_factory.mktemp("bulletins")
    for i, record in enumerate(sorted(gold_records, key=lambda r: len(r.text))[10:15]):
        (folder / f"b{i}.txt").write_text(record.text, encoding="utf-8")
    return folder


def _by_source(rows: list[dict]) -> dict[str, dict]:
    return {row["source"]: row for row in rows}


def test_plan_keys_follow_inputs_and_model(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(5):
        (folder / f"{i}.txt").write_text(f"第{i}期简报\n某某局开展活动。", encoding="utf-8")
    first = plan_shards([str(folder)], "model-a", shard_docs=2)
    assert [len(s.items) for s in first] == [2, 2, 1]
    assert plan_shards([str(folder)], "model-a", shard_docs=2) == first  # stable: a rerun finds the same names
    os.utime(folder / "3.txt", ns=(1, 1))  # an input changed: only its shard gets a new name
    changed = plan_shards([str(folder)], "model-a", shard_docs=2)
    assert [a.name == b.name for a, b in zip(first, changed)] == [True, False, True]
    assert not {s.name for s in plan_shards([str(folder)], "model-b", shard_docs=2)} & {s.name for s in first}


def test_plan_names_a_bad_input(tmp_path):
    with pytest.raises(ScaleError, match="nowhere.jsonl: no such file"):
        plan_shards([str(tmp_path / "nowhere.jsonl")], "v")
    (tmp_path / "notes.docx").write_bytes(b"PK")
    with pytest.raises(ScaleError, match="notes.docx: the ray engine reads"):
        plan_shards([str(tmp_path / "notes.docx")], "v")
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "t.parquet")
    with pytest.raises(ScaleError, match="t.parquet: no 'text' column"):
        plan_shards([str(tmp_path / "t.parquet")], "v")


def test_missing_ray_is_one_line(monkeypatch, tmp_path, capsys):
    from civic_ner import cli

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    code = cli.main(["predict", str(tmp_path), "--model", str(tmp_path), "--engine", "ray", "-o", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err.strip() == "civic-ner: error: the ray engine needs Ray Data: pip install civic-ner[scale]"


def test_ray_gives_the_entities_of_pipe_and_resumes(tiny_model_dir, bulletins, ray_local, tmp_path, capsys):
    from civic_ner import cli
    from civic_ner.api import load
    from civic_ner.reading import read_bulletin
    from civic_ner.scale import RayOptions, run_ray

    out = tmp_path / "out"
    options = RayOptions(workers=2, cpus_per_worker=0.5)
    summary = run_ray([str(bulletins)], tiny_model_dir, out, "parquet", options, shard_docs=2)
    assert (summary.shards, summary.skipped, summary.documents, summary.failed) == (3, 0, 5, [])
    files = sorted(out.glob("part-*.parquet"))
    assert len(files) == 3
    rows = _by_source([row for f in files for row in read_shard_rows(f)])

    paths = sorted(str(p) for p in bulletins.glob("*.txt"))
    docs = list(load(tiny_model_dir).pipe([read_bulletin(p) for p in paths], sources=paths))
    assert sum(len(d.entities) for d in docs) > 0  # the comparison below is not between two empty lists
    for doc in docs:
        row = rows[doc.source]
        assert row["text"] == doc.text
        got = [(e["start"], e["end"], e["label"], e["text"]) for e in row["entities"]]
        assert got == [(e.start, e.end, e.label, e.text) for e in doc.entities]
        assert [e["score"] for e in row["entities"]] == pytest.approx([round(e.score, 4) for e in doc.entities], abs=1e-3)
        values = [{k: v for k, v in (e["value"] or {}).items() if v is not None} for e in row["entities"]]
        assert values == [{k: v for k, v in (e.value or {}).items() if v is not None} for e in doc.entities]
        assert row["facts"] == [f.to_json(doc.text) for f in doc.facts]

    stamps = {f.name: f.stat().st_mtime_ns for f in files}
    code = cli.main(["predict", str(bulletins), "--model", str(tiny_model_dir), "--engine", "ray", "-o", str(out),
                     "--shard-docs", "2", "--workers", "2"])  # the command, rerun: nothing recomputed
    assert code == 0
    assert "3 shards (3 already done): 0 documents" in capsys.readouterr().err
    files[1].unlink()  # a shard lost (a killed run): only it is redone
    redo = run_ray([str(bulletins)], tiny_model_dir, out, "parquet",  # a memory request reaches Ray and the run completes
                   RayOptions(workers=1, cpus_per_worker=0.5, memory_gib=0.1), shard_docs=2)
    assert (redo.skipped, redo.documents) == (2, 2)
    assert {f.name: f.stat().st_mtime_ns for f in sorted(out.glob("part-*.parquet")) if f != files[1]} == {
        k: v for k, v in stamps.items() if k != files[1].name}
    assert _by_source(read_shard_rows(files[1])) == {k: rows[k] for k in _by_source(read_shard_rows(files[1]))}


def test_ray_names_bad_inputs_and_writes_the_rest(tiny_model_dir, bulletins, ray_local, tmp_path, monkeypatch):
    """Relative input names (the actors' working directory is not the command's) name the bad documents."""
    from civic_ner.scale import RayOptions, run_ray

    monkeypatch.chdir(tmp_path)
    folder = Path("mixed")
    folder.mkdir()
    (folder / "good.txt").write_text((bulletins / "b0.txt").read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "broken.txt").write_bytes(b"\x00\x01\x02binary")
    lines = [json.dumps({"id": "j1", "text": (bulletins / "b1.txt").read_text(encoding="utf-8")}, ensure_ascii=False),
             "{not json", json.dumps({"id": "j3", "body": "no text"})]
    Path("feed.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = run_ray(["mixed", "feed.jsonl"], tiny_model_dir, "out", "jsonl", RayOptions(workers=2, cpus_per_worker=0.5),
                      shard_docs=8)
    assert summary.documents == 2
    assert sorted(summary.failed) == [
        "feed.jsonl: line 2: not a JSON line (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
        "feed.jsonl: line 3: expected a 'text' string",
        "mixed/broken.txt: binary file (contains NUL bytes; UTF-16 text needs a byte-order mark)",
    ]
    rows = [row for f in sorted(Path("out").glob("part-*.jsonl")) for row in read_shard_rows(f)]
    assert [(r["id"], r["error"] is None, r["text"] is not None) for r in rows] == [
        ("mixed/broken.txt", False, False), ("mixed/good.txt", True, True),
        ("j1", True, True), ("feed.jsonl:2", False, False), ("j3", False, False)]


def test_memory_per_worker_becomes_ray_memory_request():
    """--memory-per-worker is Ray's memory request per actor, in bytes rounded up (a tiny request is not none)."""
    from civic_ner.scale import RayOptions

    assert "memory" not in RayOptions().remote_args()
    assert RayOptions(workers=2, memory_gib=0.5).remote_args()["memory"] == 2**29
    assert RayOptions(memory_gib=1e-12).remote_args()["memory"] == 1
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ScaleError, match="--memory-per-worker must be above 0 GiB"):
            RayOptions(memory_gib=bad).check()


def test_a_pool_that_cannot_fit_is_refused_before_any_shard(tiny_model_dir, bulletins, ray_local, tmp_path):
    """A pool whose actors cannot all be placed by memory is one line at once, not a run waiting forever."""
    from civic_ner.scale import RayOptions, run_ray

    with pytest.raises(ScaleError, match=r"2 workers x 100000 GiB \(--memory-per-worker\) do not fit: the 1 node\(s\)"):
        run_ray([str(bulletins)], tiny_model_dir, tmp_path / "out", "parquet", RayOptions(workers=2, memory_gib=1e5), shard_docs=2)
    assert not list((tmp_path / "out").glob("part-*"))


@pytest.mark.parametrize("flags, message", [
    (["--workers", "2"], "--workers needs --engine ray"),
    (["--format", "parquet"], "--format parquet is written by --engine ray"),
    (["--engine", "ray"], "--engine ray needs -o FOLDER"),
    (["--engine", "ray", "-o", "out", "--threads", "2"], "--engine ray sizes each actor with --cpus-per-worker"),
    (["--memory-per-worker", "3"], "--memory-per-worker needs --engine ray"),
    (["--engine", "ray", "-o", "out", "--memory-per-worker", "0"], "--memory-per-worker must be above 0 GiB, not 0"),
])
def test_engine_flags_are_checked(flags, message, tmp_path, capsys):
    from civic_ner import cli

    assert cli.main(["predict", str(tmp_path), "--model", str(tmp_path), *flags]) == 2
    assert capsys.readouterr().err.startswith(f"civic-ner: error: {message}")


def test_scale_bench_compares_entities_and_facts_apart_and_runs_without_the_process():
    """bench/scale.py: a differing fact is caught even when the entities agree, and a run of the Ray
    engine alone (``--no-process``) still gets its scaling efficiency, with no comparison invented."""
    from conftest import script_module

    bench = script_module("bench/scale.py")
    fact = {"relation": "runs", "from": {"start": 0, "end": 3}, "to": {"start": 5, "end": 9}}
    reference = {"a.txt": (bench.entity_tuples([{"start": 0, "end": 3, "label": "ORG"}]), bench.fact_tuples([fact]))}
    found = {"a.txt": (reference["a.txt"][0], bench.fact_tuples([{**fact, "relation": "gives"}]))}
    assert bench.same_part(found, reference, 0) and not bench.same_part(found, reference, 1)

    results = {"runs": [{"engine": "ray", "workers": 1, "chars_per_second": 100.0},
                        {"engine": "ray", "workers": 2, "chars_per_second": 160.0}]}
    bench.add_efficiency(results)
    assert [r.get("scaling_efficiency") for r in results["runs"]] == [1.0, 0.8]
    assert not any("vs_process" in r for r in results["runs"])
