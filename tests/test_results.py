"""Every figure of the README and bench/RESULTS.md has its file: the marked blocks are rendered from
bench/results/ by bench/report.py, and must equal what the files say."""
from pathlib import Path

from conftest import script_module

ROOT = Path(__file__).resolve().parents[1]


def _report():
    return script_module("bench/report.py")


def test_every_result_file_named_by_the_report_exists():
    report = _report()
    names = [report.EVALUATION[0], report.GRID[0], report.GRID_100[0], report.RELATIONS[0], report.RELATION_VARIANTS[0], report.RELATION_LISTWISE[0], *(f for pairs, _, _ in report.PAIR_GROUPS for f, _ in pairs), report.EVALUATION_LINEAR_RELATIONS, report.RELATION_COST[0], report.RELATION_CURVE[0], report.SCALE_1000_PAIRS_FP32, report.ALIASES[0], *report.TWELVE_LAYERS.values(), report.INFERENCE_12[0], report.LAYERS[0], report.SERVING[0], report.PROFILE[0], report.SCALE[0], report.SCALE_SERVE[0], report.SCALE_1000[0], report.TRAINING[0], report.LSTM_HEAD[0],
             report.EVALUATION_INT8[0], report.EVALUATION_SERVE[0], report.INFERENCE[0], report.INFERENCE_BF16[0],
             report.EVALUATION_BF16[0], report.EVALUATION_SERVE_BF16[0], report.ONNX[0], report.CV_ERRORS[0],
             *(file for _, file, _ in report.GRID_VARIANTS), *(file for _, file, _ in report.CRF_ROWS)]
    missing = [name for name in names if not (report.RESULTS / name).is_file()]
    assert not missing, f"missing result files: {missing}"


def test_readme_and_results_state_what_the_files_say():
    report = _report()
    rendered = report.block()
    for path in report.DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        assert report.replace_block(text, rendered, path.name) == text, f"{path.name}: run python bench/report.py"


def test_the_headline_numbers_are_the_files_numbers():
    """Read back independently of the renderer: the README's micro F1 on both tests is the file's."""
    import json

    report = _report()
    evaluation = json.loads((report.RESULTS / report.EVALUATION[0]).read_text(encoding="utf-8"))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for split in ("test", "province_test"):
        assert f"{evaluation[split]['scores']['model']['micro']['f1']:.3f}" in readme


def test_every_span_rule_has_its_ablation_row():
    """A rule added to civic_ner.span_rules without a "without the ..." row would ship unmeasured."""
    from civic_ner.span_rules import SPAN_RULES

    assert [rule for rule, _ in _report()._RULE_TITLES] == list(SPAN_RULES)


def test_a_document_pasted_twice_is_refused():
    """Once RESULTS.md was committed twice over; the renderer only replaced the first block and passed."""
    import pytest

    report = _report()
    text = (ROOT / "bench" / "RESULTS.md").read_text(encoding="utf-8")
    with pytest.raises(SystemExit, match="more than one"):
        report.replace_block(text + text, report.block(), "RESULTS.md")


def test_the_headline_cv_row_is_the_shipped_config():
    """The CV row beside the tests must be the recipe configs/default.yaml trains (depth and CRF weight)."""
    from civic_ner.config import load_config

    report = _report()
    config = load_config(report.ROOT / "configs" / "default.yaml")
    row = report.SHIPPED_CV[0]
    assert row in report.load(report.FINE_TUNING[0])
    assert (f"{config.encoder_layers} encoder layers" in row) == bool(config.encoder_layers)
    assert (f"{config.epochs} fine-tuning epochs" in row) == (config.epochs != 1)
    if config.crf_ensemble:
        mixed = f"feature CRF x{config.crf_ensemble}"
        labels = set(config.crf_ensemble_labels)
        assert row.endswith(mixed if len(labels) == 4 else f"{mixed}, {'/'.join(config.crf_ensemble_labels)} only")
    else:
        assert "feature CRF" not in row
