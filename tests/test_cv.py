"""The cross-validation protocol: folds, pooling, mean ± std over seeds, collapse detection, CLI."""
import json
from pathlib import Path

import pytest

from civic_ner import cli
from civic_ner.cv import FoldRun, cross_validate, fold_assignment, format_cv


def examples(gold_records):
    return [(r, {}) for r in gold_records]


def test_folds_are_balanced_deterministic_and_cover_everything(gold_records):
    pairs = [(r.id, len(r.spans)) for r in gold_records]
    a = fold_assignment(pairs, 5)
    assert a == fold_assignment(list(reversed(pairs)), 5)
    assert set(a) == {r.id for r in gold_records} and set(a.values()) == set(range(5))
    per_fold = [sum(n for sid, n in pairs if a[sid] == f) for f in range(5)]
    assert max(per_fold) - min(per_fold) <= max(n for _, n in pairs)
    with pytest.raises(ValueError):
        fold_assignment(pairs[:3], 5)


def test_oracle_scores_one_and_each_section_is_held_out_once(gold_records):
    seen = []

    def oracle(train, test, pool, seed):
        assert not {r.id for r, _ in train} & {r.id for r, _ in test}
        seen.extend(r.id for r, _ in test)
        return [r.spans for r, _ in test], None, [{"loss": 1.0}, {"loss": 0.5}, {"loss": 0.1}]

    result = cross_validate(examples(gold_records), oracle, folds=4, seeds=[1, 2], log=lambda *_: None)
    assert sorted(seen) == sorted([r.id for r in gold_records] * 2)
    assert result["scores"]["micro"]["f1"] == 1.0 and result["scores"]["micro"]["f1_std"] == 0.0
    assert result["collapsed"] == []
    assert "collapsed folds: none" in format_cv(result)


def test_collapse_is_detected_and_reported(gold_records):
    def flaky(train, test, pool, seed):
        if seed == 2:
            return [[] for _ in test], None, [{"loss": 0.49}, {"loss": 0.49}, {"loss": 0.49}]
        return [r.spans for r, _ in test], None, [{"loss": 1.0}, {"loss": 0.5}, {"loss": 0.1}]

    result = cross_validate(examples(gold_records), flaky, folds=3, seeds=[1, 2], log=lambda *_: None)
    assert len(result["collapsed"]) == 3 and {c["seed"] for c in result["collapsed"]} == {2}
    assert result["scores"]["micro"]["f1"] == pytest.approx(0.5)
    assert result["scores"]["micro"]["f1_std"] > 0.5
    assert "COLLAPSED folds" in format_cv(result)
    assert FoldRun(1, 0, 0.0, [[]], None, []).collapsed == "predicted no entity"


def test_synthetic_text_is_never_held_out(gold_records):
    synthetic = [(gold_records[0], {})]
    held_out = []

    def check(train, test, pool, seed):
        assert pool["synthetic"] == synthetic and pool["grounded"] == []
        held_out.extend(r.id for r, _ in test)
        return [r.spans for r, _ in test], None, []

    result = cross_validate(examples(gold_records[1:]), check, folds=3, seeds=[0], synthetic=synthetic,
                            log=lambda *_: None)
    assert gold_records[0].id not in held_out and result["sections"] == len(gold_records) - 1


def _as_province(record, province, grounded=True):
    from dataclasses import replace

    return replace(record, id=f"{province}-{record.id}", meta={"grounded": grounded, "province": province})


def test_grounded_items_are_held_out_by_whole_province(gold_records):
    """A fold holds out whole provinces: no item of a held-out province is trained on, neither as a
    grounded item nor as synthetic text of that province; the seeds are dealt by section."""
    provinces = ["甘肃", "青海", "宁夏", "西藏"]
    grounded = [(_as_province(r, provinces[i % 4]), {}) for i, r in enumerate(gold_records[:16])]
    synthetic = [(_as_province(r, provinces[i % 4], grounded=False), {}) for i, r in enumerate(gold_records[16:24])]
    seeds = examples(gold_records[24:])

    def check(train, test, pool, seed):
        held = {r.meta["province"] for r, _ in test if r.meta.get("grounded")}
        trained = [r for r, _ in train + pool["grounded"] + pool["synthetic"]]
        assert not held & {r.meta.get("province") for r in trained}
        assert all(not r.meta.get("grounded") for r, _ in train)  # grounded text comes through the pool
        return [r.spans for r, _ in test], None, []

    result = cross_validate(grounded + seeds, check, folds=3, seeds=[0], synthetic=synthetic, log=lambda *_: None)
    fold_of = result["fold_of_section"]
    for province in provinces:
        assert len({fold_of[r.id] for r, _ in grounded if r.meta["province"] == province}) == 1
    assert set(result["parts"]) == {"provinces", "seeds"} and result["provinces"] == sorted(provinces)
    assert result["parts"]["provinces"]["micro"]["f1"] == 1.0
    assert "held-out provinces" in format_cv(result) and "by province" in format_cv(result)


def test_cv_never_reads_the_test_splits(tmp_path, monkeypatch, gold_records):
    """The guard of the README's claim: CV (which chooses recipes) sees train, dev and grounded
    training items only, never ``test`` nor ``province_test``."""
    from civic_ner import cv as cv_module

    splits = {"train": examples(gold_records[:20]), "dev": examples(gold_records[20:30]),
              "test": examples(gold_records[30:40]), "province_test": [(_as_province(gold_records[40], "江苏"), {})],
              "grounded": [(_as_province(gold_records[41], "甘肃"), {})], "synthetic": []}
    forbidden = {r.id for s in ("test", "province_test") for r, _ in splits[s]}
    seen = set()

    def fake_cross_validate(examples_, recipe, folds, seeds, synthetic, log, **options):
        seen.update(r.id for r, _ in examples_)
        seen.update(r.id for r, _ in synthetic)
        return {"folds": folds, "seeds": [0], "sections": 0, "spans": 0, "collapsed": [],
                "scores": {k: {"precision": 0, "recall": 0, "f1": 0, "precision_std": 0, "recall_std": 0, "f1_std": 0,
                               "support": 0} for k in ("ORG", "PROGRAM", "MONEY", "COUNT", "micro", "macro")}}

    monkeypatch.setattr("civic_ner.training.load_examples", lambda *a, **k: splits)
    monkeypatch.setattr(cv_module, "cross_validate", fake_cross_validate)
    assert cli.main(["cv", "--baseline", "rules", "--folds", "3", "-o", str(tmp_path / "cv")]) == 0
    assert seen and not seen & forbidden
    assert {r.id for r, _ in splits["grounded"]} <= seen


def test_cli_cv_of_a_baseline(tmp_path, capsys):
    code = cli.main(["cv", "--baseline", "rules", "--folds", "3", "-o", str(tmp_path / "cv")])
    out = capsys.readouterr().out
    # the seeds' train and dev sections and the grounded training items: neither test ever enters CV
    data = Path(__file__).resolve().parents[1] / "data"
    units = sum(len(data.joinpath(f"{s}.jsonl").read_text(encoding="utf-8").splitlines()) for s in ("train", "dev", "grounded"))
    assert code == 0 and f"3-fold CV by province (grounded items) and by section (seeds) over {units} sections" in out
    result = json.loads((tmp_path / "cv" / "cv.json").read_text())
    assert result["parts"]["seeds"]["MONEY"]["f1"] == 1.0 and result["scores"]["ORG"]["f1"] == 0.0
    assert (tmp_path / "cv" / "cv.md").exists()
    assert cli.main(["cv", "--folds", "1", "-o", str(tmp_path / "x")]) == 2
    assert "--folds must be at least 2" in capsys.readouterr().err


def test_ablation_table_keeps_the_asked_mixes_and_drops_rows_that_repeat():
    from conftest import script_module

    grid = script_module("bench/cv_grid.py")

    def table(micro, raw_micro):
        cell = lambda f: {"f1": f, "f1_std": 0.0}  # noqa: E731
        scores = {k: cell(micro) for k in ("micro", "ORG", "PROGRAM", "MONEY", "COUNT")}
        raw = {k: cell(raw_micro) for k in ("micro", "ORG", "PROGRAM", "MONEY", "COUNT")}
        return {"seeds": [13], "scores": scores, "scores_without_consistency": raw, "collapsed": [],
                "seconds_per_fold": 1.0}

    tables = {"final": table(0.8, 0.81), "final + feature CRF x0.5": table(0.85, 0.85),
              "final + feature CRF x0.7": table(0.86, 0.86)}
    rows = grid.ablation_markdown(tables, {}, ["0.5"]).splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == [
        "| final", "| final, without document consistency", "| final + feature CRF x0.5"]
    assert len(grid.ablation_markdown(tables, {}).splitlines()) == 2 + 4


def test_cv_units_exclude_both_tests_for_every_caller():
    """``cv_examples`` is what `civic-ner cv` and `bench/cv_grid.py export` deal into folds."""
    from civic_ner.cv import CV_SPLITS, cv_examples

    assert "test" not in CV_SPLITS and "province_test" not in CV_SPLITS
    splits = {name: [(name, {})] for name in ("train", "dev", "test", "synthetic", "grounded", "province_test")}
    assert [ex[0] for ex in cv_examples(splits)] == ["train", "dev", "grounded"]
