"""The figures of README.md and bench/RESULTS.md, rendered from the result files under bench/results/.

Every number the README or RESULTS.md states about the current model comes from a file written by
the command named beside it; this script renders those files into the marked blocks of both
documents (``<!-- results:begin -->`` ... ``<!-- results:end -->``), and ``tests/test_results.py``
checks that the committed documents equal what the files say. Nothing here computes a score.

  python bench/report.py           rewrite the blocks from the files
  python bench/report.py --check   exit 1 when a block differs from the files (or a file is missing)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LABELS = ("ORG", "PROGRAM", "MONEY", "COUNT")
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"

EVALUATION = ("evaluate_default.json",
              "python evaluate.py --model runs/default/model --precision fp32 --json bench/results/evaluate_default.json")
"""The shipped model on the seeds' test and on the held-out provinces (train: `make train`), in fp32."""
EVALUATION_INT8 = ("evaluate_default_int8.json", "python evaluate.py --model runs/default/model --precision int8 --no-baselines "
                   "--threads 1 --json bench/results/evaluate_default_int8.json")
"""The same in int8 (`--precision int8`): `auto` may pick a precision only within half a point of fp32 on both tests."""
EVALUATION_SERVE = ("evaluate_serve.json", "civic-ner trim --model runs/default/model -o runs/default/model-serve --onnx && "
                    "python evaluate.py --model runs/default/model-serve --precision fp32 --no-baselines --threads 1 "
                    "--json bench/results/evaluate_serve.json")
"""The serving copy (trimmed vocabulary, the encoder in ONNX Runtime) on both tests."""
INFERENCE = ("inference_amd_quiet.json", "python bench/inference.py --model runs/default/model --variants "
             "fp32@1t,int8@1t,onnx@1t,fp32@2t,int8@2t,onnx@2t,lac --repeats 3 --json bench/results/inference_amd_quiet.json")
"""chars/s and load time of each precision and of the serving copy beside LAC alone, on the five raw seeds, one and
two threads, each variant in a fresh process."""
INFERENCE_BF16 = ("inference_amd_bf16.json", "python bench/inference.py --model runs/default/model --variants "
                  "fp32@2t,bf16@2t,trimmed+bf16@2t,onnx@2t,int8@2t,lac --repeats 3 --json bench/results/inference_amd_bf16.json")
"""The same benchmark on a CPU with native bf16 (AVX512-BF16), where `auto` picks bf16, two threads."""
EVALUATION_BF16 = ("evaluate_default_bf16.json", "python evaluate.py --model runs/default/model --precision bf16 --no-baselines "
                   "--threads 1 --json bench/results/evaluate_default_bf16.json")
EVALUATION_SERVE_BF16 = ("evaluate_serve_bf16.json", "python evaluate.py --model runs/default/model-serve --precision bf16 "
                         "--no-baselines --threads 1 --json bench/results/evaluate_serve_bf16.json")
"""bf16 on both tests, as trained and as the serving copy runs it on a bf16 CPU (torch weights, trimmed vocabulary)."""
SHIPPED_FILES = (EVALUATION[0], EVALUATION_INT8[0], EVALUATION_SERVE[0], EVALUATION_BF16[0], EVALUATION_SERVE_BF16[0],
                 INFERENCE_BF16[0], "training.json")
"""The result files that describe the shipped model; when the default changes they are kept under a suffix."""


def _kept_as(suffix: str) -> dict[str, str]:
    return {name: name.replace(".json", f"_{suffix}.json") for name in SHIPPED_FILES}


TWELVE_LAYERS = _kept_as("12layers")
"""The same files for the 12-layer model shipped before ``encoder_layers: 6``, made by the same commands then (when
``runs/default`` held it; it is ``runs/layers12`` now) and kept under these names: the tables measured with it read
its F1."""
EARLIER_6 = _kept_as("crf05_1epoch")
"""The same files for the 6-layer model shipped before the fine-tuning CV (feature CRF x0.5 for every label, one
fine-tuning epoch), made by the same commands then and kept under these names."""
INFERENCE_12 = ("inference_layers12_rerun.json", "python bench/inference.py --model runs/layers12/model --variants "
                "bf16@2t,lac --repeats 5 --json bench/results/inference_layers12_rerun.json")
"""The 12-layer model beside LAC again, right after the 6-layer model's run in this session."""
ONNX = ("onnx_encoder.json", "OMP_NUM_THREADS=1 python bench/onnx_encoder.py --model runs/default/model --repeats 2 "
        "--json bench/results/onnx_encoder.json")
"""The encoder alone in torch and in ONNX Runtime, fp32 and int8, on the windows of the raw seeds."""
_SUMMARIZE = ("python bench/cv_grid.py summarize runs/grid/province.jsonl runs/grid/province-s15.jsonl "
              "--examples runs/grid/examples.json --folds 3")
GRID = ("cv_province.json", f"{_SUMMARIZE} --span-rules --consistency-labels PROGRAM --json bench/results/cv_province.json")
"""The network recipes, 3-fold CV by province, post-processed as the shipped Tagger does (span rules),
each also scored with document consistency for PROGRAM names (the "document consistency" rows). Trained and scored on the first-pass snapshot of the
training provinces (runs/grid/examples.json; the feature-CRF rows use the same units and folds);
runs: `bench/cv_grid.py run --grid province --folds 3 --workers 2 --examples runs/grid/examples.json --out
runs/grid/province.jsonl` (seeds 13 and 14; seed 15 of "+grounded" and of "no grounded" with
`--only "+grounded" --seeds 15 --out runs/grid/province-s15.jsonl`, then the same with `--only "no grounded"`)."""
GRID_100 = ("cv_province_100.json", "python bench/cv_grid.py summarize runs/grid/province-100.jsonl --examples "
            "runs/grid/examples.json --folds 3 --span-rules --consistency-labels PROGRAM --json bench/results/cv_province_100.json")
"""The shipped recipe with 100 of the training provinces' grounded items (round-robin over provinces) on the same
folds; runs: `bench/cv_grid.py run --grid province --only "+grounded 100" --seeds 14 --folds 3 --workers 2
--examples runs/grid/examples.json --out runs/grid/province-100.jsonl` (seeds 13, 14 and 15: a fold took up to 70 min
on the busy machine, seed 15's first two folds include 27 min paused for a speed measurement; seed 13's folds 1 and 2
ran in a 3-seed run stopped for time, its fold 3 with `--seeds 13 --only-folds 3 --workers 1`)."""
_RULE_TITLES = (
    ("completion", "the word completion"), ("quote-completion", "the quote completion"),
    ("honours", "the honour drop"), ("number-completion", "the number completion"),
    ("non-counts", "the page-counter and ordinal drop"), ("elided-money", "the elided-unit money"),
    ("round-money", "the round amounts"), ("counted-nouns", "the counts before counted nouns"),
    ("designations", "the designation and award drop"), ("accounts", "the account and app drop"),
    ("facilities", "the facility drop"), ("series", "the series completion"),
    ("particles", "the leading particle cut"), ("known-names", "the known names before generic nouns"),
)
"""Each span rule of ``civic_ner.span_rules.SPAN_RULES`` measured on the earlier grid, and how its ablation row
names it."""

_RULE_ROWS = tuple(
    (f"without {title}", f"cv_province_without_{rule.replace('-', '_')}.json",
     f"{_SUMMARIZE} --span-rules no-{rule} --consistency-labels PROGRAM "
     f"--json bench/results/cv_province_without_{rule.replace('-', '_')}.json")
    for rule, title in _RULE_TITLES
)
GAZETTEER_SETTINGS = ((2, 0.8, False), (2, 0.8, True), (1, 0.6, False), (3, 0.5, False))
"""The lexicon rows of issue 18: names labelled COUNT times in a fold's training gold and in SHARE of their
occurrences there fill the misses of the held-out units (civic_ner.gazetteer; not shipped)."""
GRID_VARIANTS = (
    ("without the span rules", "cv_province_without_span_rules.json",
     f"{_SUMMARIZE} --consistency-labels PROGRAM --json bench/results/cv_province_without_span_rules.json"),
    *_RULE_ROWS,
    ("without the guide's PROGRAM exclusions (the five rules above)", "cv_province_without_program_rules.json",
     f"{_SUMMARIZE} --span-rules no-program-rules --consistency-labels PROGRAM "
     "--json bench/results/cv_province_without_program_rules.json"),
    ("consistency for ORG and PROGRAM", "cv_province_consistency_both.json",
     f"{_SUMMARIZE} --span-rules --consistency-labels ORG PROGRAM --json bench/results/cv_province_consistency_both.json"),
    *(
        (f"with a gazetteer of the training names ({count}×, {share:.0%} of occurrences{', extending cut names' if extend else ''})",
         f"cv_province_gazetteer_{count}_{int(share * 100)}{'_extend' if extend else ''}.json",
         f"{_SUMMARIZE} --span-rules --consistency-labels PROGRAM --gazetteer {count}:{share}{':extend' if extend else ''} "
         f"--json bench/results/cv_province_gazetteer_{count}_{int(share * 100)}{'_extend' if extend else ''}.json")
        for count, share, extend in GAZETTEER_SETTINGS
    ),
)
"""The same runs post-processed otherwise: one ablation row each for the shipped recipe."""
CRF_ROWS = (
    ("feature CRF + synthetic + grounded (all)", "cv/crf-grounded/cv.json",
     "civic-ner cv --folds 3 --data-dir runs/grid/data --baseline crf --set grounded=true --set synthetic=true --set consistency=false -o bench/results/cv/crf-grounded"),
    ("feature CRF + synthetic + grounded (100 items)", "cv/crf-grounded-100/cv.json",
     "civic-ner cv --folds 3 --data-dir runs/grid/data --baseline crf --set grounded=true --set grounded_items=100 --set synthetic=true --set consistency=false "
     "-o bench/results/cv/crf-grounded-100"),
    ("feature CRF + synthetic, no grounded", "cv/crf-synthetic/cv.json",
     "civic-ner cv --folds 3 --data-dir runs/grid/data --baseline crf --set grounded=false --set synthetic=true --set consistency=false -o bench/results/cv/crf-synthetic"),
    ("feature CRF + synthetic + grounded, document consistency", "cv/crf-grounded-consistency/cv.json",
     "civic-ner cv --folds 3 --data-dir runs/grid/data --baseline crf --set grounded=true --set synthetic=true --set consistency=true "
     "-o bench/results/cv/crf-grounded-consistency"),
    ("quotes + rules + LAC, no learning", "cv/signals/cv.json", "civic-ner cv --folds 3 --data-dir runs/grid/data --baseline signals -o bench/results/cv/signals"),
)
"""Feature-CRF and no-learning rows on the same folds (deterministic: one run each)."""
SHIPPED_CV = ("+grounded, 6 encoder layers, 2 fine-tuning epochs + feature CRF x0.5, PROGRAM only", "parts_without_consistency")
"""The row of the fine-tuning grid (``FINE_TUNING``) that is the shipped recipe (tests/test_results.py ties it to the config)."""
EARLIER_CV = ("+grounded + feature CRF x0.5", "parts_without_consistency")
"""The 12-layer recipe's row of the earlier grid, which the span-rule and lexicon ablations were measured on."""
RELATION_VARIANTS = ("relations_cv_variants.json", "OMP_NUM_THREADS=1 python bench/relation_scorer.py --variants "
                     "--gbt-min-count 100 --json bench/results/relations_cv_variants.json")
"""Other relation models on the same CV: extra features, conjunctions, gradient-boosted trees (not shipped),
and the shipped model without one group of its features at a time (their ablations)."""
RELATIONS = ("relations_cv.json", "python bench/relation_scorer.py --encoder-vectors runs/default/model --pretrained-control "
             "--vector-dims 32 --vector-scale 0.5 --type-thresholds")
"""The relation layers given gold entities, 5-fold CV by province over the training text, 3 dealings (the encoder
rows read the shipped model: its encoder was fine-tuned on these sections; the pretrained row is the clean control)."""
RELATION_PAIRS = (("relations_cv_pairs_d13.json", "python bench/relation_scorer.py --pair-encoder --pair-listwise --seeds 13 "
                   "--json bench/results/relations_cv_pairs_d13.json"),
                  ("relations_cv_pairs_d14_15.json", "python bench/relation_scorer.py --pair-encoder --pair-listwise --seeds 14 15 "
                   "--json bench/results/relations_cv_pairs_d14_15.json"))
"""The fine-tuned pair encoder (relation_model: pair-encoder) on the same CV, its three dealings run as two
commands (the first chose the mix; the other two confirm it); the table pools the dealings."""
_PAIR_CV = "python bench/relation_scorer.py --pair-encoder --pair-listwise"
RELATION_PAIRS_CONTEXT = tuple(
    (f"relations_cv_pairs_context_d{d}.json", f"{_PAIR_CV} --pair-context --seeds {d}"
     + (f" --save-scores runs/pairs/v2/context_d{d}_scores.json" if d != 13 else "")
     + f" --json bench/results/relations_cv_pairs_context_d{d}.json") for d in (13, 14, 15))
"""The pair encoder reading the text between the two ends too (``relation_pair_context``), one command a dealing
(+0.4 on dealing 13, +0.4 and +0.2 on 14 and 15: short of the noise rule, not shipped)."""
RELATION_PAIRS_MARKERS = (("relations_cv_pairs_markers_d13.json", f"{_PAIR_CV} --pair-context --pair-markers --seeds 13 "
                           "--json bench/results/relations_cv_pairs_markers_d13.json"),)
"""The same with every entity written between two markers: dealing 13 only (no gain there)."""
PAIR_GROUPS = ((RELATION_PAIRS, "", " (shipped)"),
               (RELATION_PAIRS_CONTEXT, ", context between the ends", ""),
               (RELATION_PAIRS_MARKERS, ", context between the ends + entity markers, dealing 13 only", ""))
"""The pair encoder's CV rows: files, the rows' suffix, and what the mean row of the group is."""
RELATION_CURVE = ("relation_curve.json", "python bench/relation_curve.py --shares 0.25 0.5 0.75 1.0 "
                  "--seeds 13 14 15 --pair-shares 0.5 --pair-seeds 13")
"""Relation F1 against the share of the training sections (would more annotation close the gap?)."""
EVALUATION_LINEAR_RELATIONS = "evaluate_default_linear_relations.json"
"""The same model's evaluation with the linear relation layer alone (relation_model: learned), shipped before the pair encoder."""
RELATION_LISTWISE = ("relations_cv_listwise.json", "OMP_NUM_THREADS=1 python bench/relation_scorer.py --listwise "
                     "--json bench/results/relations_cv_listwise.json")
"""The linear model trained listwise (a number's owners compete in one softmax: bench/relation_choice.py)."""
ALIASES = ("aliases.json", "PYTHONPATH=src python bench/aliases.py")
"""One name per organization: the resolver's same-organization decisions against hand-judged groups."""
ALIAS_SAMPLES = {
    "development": "seed bulletins (the resolver was written on them)",
    "held_out": "synthetic, first sample",
    "held_out_2": "synthetic, second sample",
    "held_out_provinces": "held-out provinces' test",
    "held_out_grounded": "grounded training provinces, first sample",
    "held_out_grounded_2": "grounded training provinces, second sample",
    "held_out_grounded_3": "grounded training provinces, third sample",
}
SERVING = ("serve_load.json", "python bench/serve_load.py --model runs/default/model --threads 1 --json bench/results/serve_load.json")
"""The Label Studio ML backend (`civic-ner serve`) under load: a burst of concurrent /predict calls, memory over many."""
PROFILE = ("profile.json", "python bench/profile_stages.py --model runs/default/model --generated-kb 1024 --threads 2 --json bench/results/profile.json")
"""Where prediction time goes, stage by stage, beside LAC alone in the same run."""
SCALE = ("scale.json", "python bench/scale.py --model runs/default/model --bulletins 40 --shard-docs 5 --json bench/results/scale.json")
"""The single process against Ray Data with 1 and 2 workers on generated bulletins."""
SCALE_SERVE = ("scale_serve.json", "python bench/scale.py --model runs/default/model-serve --bulletins 40 --shard-docs 5 "
               "--json bench/results/scale_serve.json")
"""The same with the serving copy (`civic-ner trim --onnx`): each actor loads it in a fraction of the time."""
SCALE_1000 = ("scale_1000.json", "python bench/scale.py --model runs/default/model-serve --bulletins 1000 "
              "--json bench/results/scale_1000.json")
"""1,000 bulletins with the serving copy on a CPU with native bf16 (`auto`: bf16), where model loads weigh little."""
SCALE_1000_12 = ("scale_1000_12layers.json", SCALE_1000[1])
"""The same run with the 12-layer model shipped before `encoder_layers: 6` (its command then)."""
SCALE_1000_PAIRS_FP32 = "scale_1000_pair_encoder_fp32.json"
"""SCALE_1000_PAIRS's run before the pair encoder followed the tagger's precision (it ran in fp32)."""
SCALE_1000_PAIRS = ("scale_1000_pair_encoder.json", "python bench/scale.py --model runs/default/model-serve --bulletins 1000 "
                    "--workers 2 --json bench/results/scale_1000_pair_encoder.json")
"""The same run with the pair encoder in the serving copy's relation layer (the shards' facts read it)."""
SCALE_FACTS = [("scale_1000_facts.json", "python bench/scale.py --model runs/default/model-serve --bulletins 1000 "
                "--json bench/results/scale_1000_facts.json"),
               ("scale_10000.json", "python bench/scale.py --model runs/default/model-serve --bulletins 10000 --workers 2 "
                "--no-process --json bench/results/scale_10000.json")]
"""Every engine doing the same work (the single process computes the facts the shards carry): 1,000 bulletins
through all three engines, 10,000 through Ray with 2 workers alone."""
_LAYERS = ("python bench/cv_grid.py summarize runs/grid/layers.jsonl --examples runs/grid/examples-2026-12-07.json "
           "--folds 3 --consistency-labels PROGRAM")
LAYERS = ("cv_layers.json", f"{_LAYERS} --span-rules --json bench/results/cv_layers.json")
"""The whole encoder against its first 6 layers, rerun on today's corpus (adjudicated gold), same folds and seeds;
runs: `bench/cv_grid.py export --out runs/grid/examples-2026-12-07.json` (today's adjudicated gold), then `bench/cv_grid.py
run --examples runs/grid/examples-2026-12-07.json --grid layers --folds 3 --workers 2 --out runs/grid/layers.jsonl`."""
FINE_TUNING = ("cv_fine_tuning.json", "python bench/cv_grid.py summarize runs/grid/layers.jsonl runs/grid/fine_tuning.jsonl "
               "--examples runs/grid/examples-2026-12-07.json --folds 3 --consistency-labels PROGRAM --span-rules "
               "--mix-labels PROGRAM --json bench/results/cv_fine_tuning.json")
"""How much the 6-layer encoder is fine-tuned (two epochs, a 2.5x rate) and which labels take the feature-CRF mix, on
the folds and seeds of the encoder-depth grid (whose runs it reads again); runs: `GRID_THREADS=1 python bench/cv_grid.py
run --examples runs/grid/examples-2026-12-07.json --grid fine-tuning --folds 3 --workers 2 --out runs/grid/fine_tuning.jsonl`."""
CV_ERRORS = ("cv_errors.json", "python bench/cv_errors.py runs/grid/province.jsonl --examples runs/grid/examples.json "
             "--recipe +grounded --weight 0.5 --seed 13 --json bench/results/cv_errors.json")
"""The 12-layer recipe's errors on the earlier CV by province (grounded sections of the held-out training provinces)."""
TRAINING = ("training.json", "python bench/training.py --config configs/default.yaml --output-dir runs/default")
"""`make train`'s training (torch's default threads: one per core), wall time and peak memory."""
RELATION_COST = ("relation_cost.json", "python bench/relation_cost.py --model runs/default/model --precisions fp32,bf16,int8")
"""The facts layer's speed and F1 per precision of the pair encoder (gold entities)."""
LSTM_HEAD = ("lstm_head.json", "python bench/lstm_head.py --json bench/results/lstm_head.json")
"""One probe step of the head: the BiLSTM over packed sequences (before) against padded rows read unpacked (now)."""


def load(name: str) -> dict:
    path = RESULTS / name
    if not path.is_file():
        raise FileNotFoundError(f"{path.relative_to(ROOT)}: missing (made by the command beside it in bench/report.py)")
    return json.loads(path.read_text(encoding="utf-8"))


def _f1(cell: dict, std: bool = False) -> str:
    if std and cell.get("f1_std"):
        return f"{cell['f1']:.3f} ± {cell['f1_std']:.3f}"
    return f"{cell['f1']:.3f}"


def _row(name: str, scores: dict, seeds: str = "", std: bool = False) -> str:
    cells = [_f1(scores["micro"], std), *(_f1(scores[label]) for label in LABELS)]
    return f"| {name} |{f' {seeds} |' if seeds else ''} " + " | ".join(cells) + " |"


def _cv_row(name: str, table: dict, variant: str) -> str:
    """One CV row: held-out provinces (mean ± std over seeds, per label) and the seed sections' micro."""
    parts = table[variant]
    return (_row(name, parts["provinces"], str(len(table["seeds"])), std=True)
            + f" {_f1(parts['seeds']['micro'], True)} |")


def headline() -> list[str]:
    """The shipped model: seeds' test, held-out provinces' test, CV, side by side."""
    evaluation, grid = load(EVALUATION[0]), load(FINE_TUNING[0])
    test, provinces = evaluation["test"]["scores"]["model"], evaluation["province_test"]["scores"]["model"]
    row, variant = SHIPPED_CV
    cv = grid[row][variant]
    seeds = len(grid[row]["seeds"])
    folds = grid[row].get("folds_used", list(range(1, grid[row]["folds"] + 1)))
    scope = f"folds {', '.join(map(str, folds))} of {grid[row]['folds']}, {seeds} seed{'s' if seeds > 1 else ''}"
    return [
        "The shipped model (`configs/default.yaml`), strict entity F1:",
        "",
        "| split | micro F1 | ORG | PROGRAM | MONEY | COUNT |",
        "|---|---|---|---|---|---|",
        _row(f"seeds' test (12 sections, {test['micro']['support']} spans, one province)", test),
        _row(f"held-out provinces' test ({len(provinces['provinces'])} provinces, {provinces['micro']['support']} spans)", provinces),
        _row(f"CV by province: held-out training provinces ({scope})", cv["provinces"], std=True),
        _row(f"CV: held-out seed sections ({scope})", cv["seeds"], std=True),
        "",
        f"Files: `bench/results/{EVALUATION[0]}` (`{EVALUATION[1]}`), `bench/results/{FINE_TUNING[0]}` (`{FINE_TUNING[1]}`), "
        f"CV row “{row}”{' without document consistency' if variant.endswith('consistency') else ''}.",
    ]


def per_province() -> list[str]:
    scores = load(EVALUATION[0])["province_test"]["scores"]["model"]["provinces"]
    lines = ["| province | spans | micro F1 | ORG | PROGRAM | MONEY | COUNT |", "|---|---|---|---|---|---|---|"]
    for province, cell in scores.items():
        lines.append(f"| {province} | {cell['micro']['support']} | " + " | ".join(_f1(cell[k]) for k in ("micro", *LABELS)) + " |")
    worst = min(scores.items(), key=lambda kv: kv[1]["micro"]["f1"])
    lines += ["", f"Weakest province: {worst[0]} ({worst[1]['micro']['f1']:.3f}). File: `bench/results/{EVALUATION[0]}`."]
    return lines


def baselines() -> list[str]:
    """Baselines on the same test spans (evaluate.py trains the feature CRF on the model's data)."""
    evaluation = load(EVALUATION[0])
    lines = ["| system | seeds' test micro | held-out provinces micro | ORG | PROGRAM | MONEY | COUNT (provinces) |",
             "|---|---|---|---|---|---|---|"]
    for name in ("model", "feature CRF", "signals"):
        test = evaluation["test"]["scores"].get(name)
        prov = evaluation["province_test"]["scores"].get(name)
        if test and prov:
            lines.append(f"| {name} | {_f1(test['micro'])} | {_f1(prov['micro'])} | "
                         + " | ".join(_f1(prov[k]) for k in LABELS) + " |")
    return lines


def ablation() -> list[str]:
    """Every CV row: the network recipes of the grid (CRF weights and consistency as variants) and the
    feature-CRF rows, all on the same province folds."""
    grid = load(GRID[0])
    lines = ["| recipe (CV by province, 3 folds) | seeds | held-out provinces micro | ORG | PROGRAM | MONEY | COUNT | seed sections micro |",
             "|---|---|---|---|---|---|---|---|"]
    for name, table in grid.items():
        for variant, suffix in (("parts_without_consistency", ""), ("parts", ", document consistency (PROGRAM)")):
            if variant not in table:
                continue
            lines.append(_cv_row(name + suffix, table, variant))
    row, variant = EARLIER_CV
    for name, table in load(GRID_100[0]).items():
        if name.endswith(row.removeprefix("+grounded")):  # the shipped mix of the 100-item runs
            lines.append(_cv_row(name.replace("+grounded 100", "+grounded (100 items)"), table, variant))
    for label, file, _ in GRID_VARIANTS:
        lines.append(_cv_row(f"{row}, {label}", load(file)[row], variant))
    for name, file, _ in CRF_ROWS:
        result = load(file)
        parts = result["parts"]
        lines.append(_row(name, parts["provinces"], "–") + f" {_f1(parts['seeds']['micro'])} |")
    lines += ["", "Commands: the network rows `" + GRID[1] + "`; their post-processing variants:"]
    lines += [f"- {label}: `{command}`" for label, _, command in GRID_VARIANTS]
    lines += [f"- +grounded (100 items): `{GRID_100[1]}`"]
    lines += ["", "The others:"]
    lines += [f"- {name}: `{command}` → `bench/results/{file}`" for name, file, command in CRF_ROWS]
    return lines


def encoder_depth() -> list[str]:
    """The CV that chose the encoder's depth (and the feature CRF's weight again) on today's corpus, then the two
    depths as shipped: speed beside LAC and F1 on both tests."""
    lines = ["| recipe (CV by province, 3 folds, today's corpus) | seeds | held-out provinces micro | ORG | PROGRAM | "
             "MONEY | COUNT | seed sections micro |", "|---|---|---|---|---|---|---|---|"]
    for name, table in load(LAYERS[0]).items():
        lines.append(_cv_row(name, table, "parts_without_consistency"))
    lines += ["", f"`{LAYERS[1]}`.", "",
              "The two depths as shipped (trained on all the training text, seed 13), bf16 with two threads on the CPU "
              "with native bf16, each run beside LAC alone:", "",
              "| encoder | chars/s | × LAC alone (same run) | load s | seeds' test micro | held-out provinces micro | PROGRAM |",
              "|---|---|---|---|---|---|---|"]
    for title, speed_file, f1_file in (
            ("12 layers (shipped before), the earlier session's run", TWELVE_LAYERS[INFERENCE_BF16[0]], TWELVE_LAYERS[EVALUATION[0]]),
            ("12 layers, rerun after the 6-layer run", INFERENCE_12[0], TWELVE_LAYERS[EVALUATION[0]]),
            ("6 layers, feature CRF x0.5, one fine-tuning epoch (shipped before)", EARLIER_6[INFERENCE_BF16[0]],
             EARLIER_6[EVALUATION[0]]),
            ("**6 layers, two fine-tuning epochs, feature CRF x0.5 for PROGRAM only (shipped)**", INFERENCE_BF16[0],
             EVALUATION[0])):
        inference, scores = load(speed_file), load(f1_file)
        run = next(r for r in inference["results"] if r["variant"] == "bf16@2t")
        province = scores["province_test"]["scores"]["model"]
        lines.append(f"| {title} | {run['speed']['chars_per_s']:,.0f} | {run['speed']['chars_per_s'] / _lac_rate(inference):.2f}× | "
                     f"{run['load_s']:.1f} | {_f1(scores['test']['scores']['model']['micro'])} | {_f1(province['micro'])} | "
                     f"{_f1(province['PROGRAM'])} |")
    lines += ["", f"`bench/results/{TWELVE_LAYERS[INFERENCE_BF16[0]]}` (`{INFERENCE_BF16[1]}` then); `{INFERENCE_12[1]}`; "
                  f"`bench/results/{EARLIER_6[INFERENCE_BF16[0]]}` and `bench/results/{INFERENCE_BF16[0]}` (`{INFERENCE_BF16[1]}` "
                  f"for each); F1: `bench/results/{TWELVE_LAYERS[EVALUATION[0]]}` and `bench/results/{EARLIER_6[EVALUATION[0]]}` "
                  f"(`{EVALUATION[1]}` then) and `bench/results/{EVALUATION[0]}`."]
    return lines


def fine_tuning() -> list[str]:
    """The CV that chose how much the 6-layer encoder is fine-tuned and which labels take the feature-CRF mix."""
    lines = ["| recipe (CV by province, 3 folds, the folds and seeds of the encoder-depth grid) | seeds | held-out provinces "
             "micro | ORG | PROGRAM | MONEY | COUNT | seed sections micro |", "|---|---|---|---|---|---|---|---|"]
    for name, table in load(FINE_TUNING[0]).items():
        if "6 encoder layers" in name and ("+ feature CRF" not in name or "x0.5" in name):
            lines.append(_cv_row(name, table, "parts_without_consistency"))
    return lines + ["", "`GRID_THREADS=1 python bench/cv_grid.py run --examples runs/grid/examples-2026-12-07.json --grid "
                        "fine-tuning --folds 3 --workers 2 --out runs/grid/fine_tuning.jsonl`, then "
                        f"`{FINE_TUNING[1]}` (rows \"…, PROGRAM only\": PROGRAM spans from the mix, the other labels' from "
                        "the network alone, config `crf_ensemble_labels`)."]


def cv_errors() -> list[str]:
    d = load(CV_ERRORS[0])
    kinds = ("missed", "spurious", "boundary")
    lines = [f"What the 12-layer recipe still got wrong on the earlier CV by province ({d['sections']} grounded sections of the held-out "
             f"training provinces, seed {d['seed']}, span rules; each label on its own, so a wrong type is a miss of one "
             "label and a spurious span of the other):", "",
             "| label | gold | correct | " + " | ".join(kinds) + " |", "|---|---|---|" + "---|" * len(kinds)]
    for label, cell in d["labels"].items():
        lines.append(f"| {label} | {cell['gold']} | {cell['correct']} | " + " | ".join(str(cell["errors"].get(k, 0)) for k in kinds) + " |")
    program = d["labels"]["PROGRAM"]["examples"]
    shown = "; ".join(f"{kind}: " + ", ".join(f"`{e['context'].strip()}`" for e in program.get(kind, [])[:3])
                      for kind in ("missed", "spurious", "boundary"))
    lines += ["", f"PROGRAM examples ({shown}). `{CV_ERRORS[1]}` → `bench/results/{CV_ERRORS[0]}`."]
    return lines




def _share(cell: dict) -> str:
    """A share right, ± its std over dealings when it has one (as :func:`_f1`)."""
    return f"{cell['share']:.3f}" + (f" ± {cell['share_std']:.3f}" if cell.get("share_std") else "")


def _totals(scores: dict) -> list[str]:
    """The totals a relation CV row scores ("program money", ...: cells with a share right), in file order."""
    return [name for name, cell in scores.items() if "share" in cell]


def _relation_variants(rows: tuple[str, ...]) -> list[str]:
    """The richer relation models tried on the same CV (bench/relation_variants.py), one row each."""
    cv = load(RELATION_VARIANTS[0])
    totals = _totals(next(iter(cv["scores"].values())))[:1]  # program money: the table is wide already
    lines = ["Other relation models and features on the same CV (same dealings; the rows \"without ...\" are the shipped "
             "model's ablations, the other models are not shipped, see the notes below; all decoded before the R4 rule for repeats, "
             "so their same_as is that of the row \"every repeat kept\" above):", "",
             "| model | " + " | ".join([*rows, *(f"{m}: share right" for m in totals)]) + " |",
             "|---|" + "---|" * (len(rows) + len(totals))]
    for name, scores in cv["scores"].items():
        lines.append(f"| {name} | " + " | ".join(_f1(scores[r], True) for r in rows) + " |"
                     + "".join(f" {_share(scores[m])} |" for m in totals))
    return lines + ["", f"`{RELATION_VARIANTS[1]}` → `bench/results/{RELATION_VARIANTS[0]}`."]


def _dealing_values(cell: dict, key: str, dealings: int) -> list[float]:
    """One CV cell's value per dealing: listed, or recovered from mean and std (one or two dealings)."""
    if f"{key}_dealings" in cell:
        return list(cell[f"{key}_dealings"])
    mean, std = cell[key], cell[f"{key}_std"]
    return [mean] if dealings == 1 else [mean - std, mean + std]


def pooled_dealings(files: list[str]) -> dict[str, dict]:
    """Rows present in every file, each cell's mean ± std over the dealings of all the files."""
    import statistics

    loaded = [load(f) for f in files]
    names = [n for n in loaded[0]["scores"] if all(n in d["scores"] for d in loaded)]
    out: dict[str, dict] = {}
    for name in names:
        out[name] = {}
        for measure, cell in loaded[0]["scores"][name].items():
            key = "f1" if "f1" in cell else "share"
            values = [v for d in loaded for v in _dealing_values(d["scores"][name][measure], key, len(d["dealings"]))]
            out[name][measure] = {key: statistics.mean(values), f"{key}_std": statistics.pstdev(values)}
    return out


def _relation_pairs(rows: tuple[str, ...]) -> list[str]:
    """Two tries beyond the linear model's features, against it, the same dealings and folds: the
    linear model trained listwise, and the fine-tuned pair encoder with the linear model's logit
    among its inputs, alone and mixed half and half with the linear model (what ships)."""
    lines = ["Beyond the linear model's features (same dealings and folds): the same model trained listwise (a number's owners "
             "compete in one softmax with \"none\", the loss its decoding implies; not shipped), and the fine-tuned pair encoder "
             "(`civic_ner.relation_pairs`, fitted per fold from the pretrained encoder, which has never read the held-out fold), "
             "alone and mixed half and half with the linear model (`relation_model: pair-encoder`):", ""]
    scores = load(RELATION_LISTWISE[0])["scores"]
    table = [(n, c) for n, c in scores.items() if n == "learned + cues" or "listwise" in n]
    for pairs, suffix, mean_is in PAIR_GROUPS:
        for name, cells in pooled_dealings([f for f, _ in pairs]).items():
            if "pair encoder" in name:
                shipped = name.startswith("mean of the pair encoder") and mean_is == " (shipped)"
                shown = f"{name}{suffix}" + (mean_is if name.startswith("mean of the pair encoder") else "")
                table.append((f"**{shown}**" if shipped else shown, cells))
    totals = _totals(table[0][1])
    lines += ["| model | " + " | ".join([*rows, *(f"{m}: share right" for m in totals)]) + " |",
              "|---|" + "---|" * (len(rows) + len(totals))]
    for name, scores in table:
        lines.append(f"| {name} | " + " | ".join(_f1(scores[r], True) for r in rows) + " |"
                     + "".join(f" {_share(scores[m])} |" for m in totals))
    commands = [RELATION_LISTWISE[1]] + [c for pairs, _, _ in PAIR_GROUPS for _, c in pairs]
    return lines + ["", "; ".join(f"`{c}`" for c in commands) + "."]


def relation_curve() -> list[str]:
    """Relation F1 given gold entities against the annotated text each fold learns from; the pair
    encoder's full-data point is its CV row (the same dealing, folds and seeds)."""
    curve = load(RELATION_CURVE[0])
    full = load(RELATION_PAIRS[0][0])["scores"]
    pair = {(p["share"], p["dealing"]): p["micro"] for p in curve["pair_encoder"]}
    full_point = {"pair encoder": full["pair encoder (fine-tuned) + LR logit"]["micro"]["f1"],
                  "mean (shipped)": full["mean of the pair encoder and learned + cues"]["micro"]["f1"]}
    lines = ["Relations against the amount of annotated text (CV by province as above, each fold's training sections "
             f"sampled down to a share, the held-out fold untouched; {curve['sections']} sections, {curve['relations']} "
             "relations in all), micro F1 given gold entities:", "",
             "| share of the training sections | linear model, 3 dealings | pair encoder, dealing 13 | "
             "mean of both (shipped), dealing 13 |", "|---|---|---|---|"]
    for point in curve["linear"]:
        share = point["share"]
        cells = full_point if share == 1.0 else pair.get((share, 13), {})
        lines.append(f"| {share:.0%} | {point['f1']:.3f} ± {point['f1_std']:.3f} | "
                     + " | ".join(f"{cells[k]:.3f}" if k in cells else "–" for k in ("pair encoder", "mean (shipped)")) + " |")
    return lines + ["", f"`{RELATION_CURVE[1]}` → `bench/results/{RELATION_CURVE[0]}`; the pair encoder's 100 % point is its "
                        f"CV row (`bench/results/{RELATION_PAIRS[0][0]}`, whose seeds the script uses: at share 1.0 it is that row)."]


def relations() -> list[str]:
    """The relation layers: CV given gold entities (what chose the learned model), then the shipped
    layer on both tests, given gold entities and end to end, and the totals it adds up."""
    cv, evaluation = load(RELATIONS[0]), load(EVALUATION[0])
    rows = ("runs", "gives", "amount_of", "reaches", "part_of", "same_as", "micro")
    names = list(cv["scores"])
    lines = [f"CV by province over the training text ({cv['sections']} sections, {cv['relations']} gold relations), "
             f"given gold entities, F1 mean ± std over {len(cv['dealings'])} dealings of {cv['folds']} folds:", "",
             "| relation | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(_f1(cv["scores"][n][row], True) for n in names) + " |")
    for measure in _totals(cv["scores"][names[0]]):
        lines.append(f"| {measure}: share right | " + " | ".join(_share(cv["scores"][n][measure]) for n in names) + " |")
    lines += ["", f"`{RELATIONS[1]}` → `bench/results/{RELATIONS[0]}` (the encoder-vector rows read the shipped 6-layer model, whose encoder was fine-tuned on these sections; "
              "the cues were written after reading the seeds' relations: on those sections they are in-sample; the row "
              "\"every repeat kept\" is the shipped model's scores decoded without the R4 rule for repeats, its ablation).", ""]
    lines += _relation_variants(rows)
    lines += [""] + _relation_pairs(rows)
    lines += [""] + relation_curve()
    lines += ["",
              "The shipped layer on the tests (F1; given gold entities | end to end from the model's entities):", "",
              "| split | layer | " + " | ".join(rows) + " | end to end micro |", "|---|---|" + "---|" * (len(rows) + 1)]
    before = load(EVALUATION_LINEAR_RELATIONS)
    for split, title in (("test", "seeds' test"), ("province_test", "held-out provinces")):
        for rel, when in ((before[split]["relations"], " (shipped before)"), (evaluation[split]["relations"], "")):
            given, e2e = rel["given_gold_entities"], rel["end_to_end"]
            lines.append(f"| {title} | {rel.get('layer', 'cue extractor')}{when} | " + " | ".join(_f1(given[r]) for r in rows)
                         + f" | {_f1(e2e['micro'])} |")
    lines += ["", "Totals from the layer's relations equal to the totals of the gold relations (gold entities):", "",
              "| split | " + " | ".join(evaluation["province_test"]["relations"]["totals"]) + " |",
              "|---|" + "---|" * len(evaluation["province_test"]["relations"]["totals"])]
    for split, title in (("test", "seeds' test"), ("province_test", "held-out provinces")):
        for data, when in ((before, ", linear layer shipped before"), (evaluation, "")):
            totals = data[split]["relations"]["totals"]
            lines.append(f"| {title}{when} | " + " | ".join(f"{c['equal']} of {c['total']}" for c in totals.values()) + " |")
    return lines


def facts_cost() -> list[str]:
    """The relation layer's speed per precision of the pair encoder, each with its F1 given gold
    entities on both tests (the check a speed change gets)."""
    d = load(RELATION_COST[0])
    lines = [f"The relation layer's cost, per precision of the pair encoder ({d['sections']} sections of the held-out "
             f"provinces' test, {d['chars']:,} chars, gold entities, {d['threads']} torch threads, best of two passes):", "",
             "| layer | precision | chars/s | load on first use s | F1 given gold: held-out provinces | seeds' test |",
             "|---|---|---|---|---|---|",
             f"| linear model alone | – | {d['linear']['chars_per_second']:,} | – | {d['linear']['f1']['province_test']:.3f} | "
             f"{d['linear']['f1']['test']:.3f} |"]
    for row in d["pair_encoder"]:
        shown = "linear model + pair encoder (shipped)" + ("" if row["precision"] != "int8" else ", `--precision int8`")
        lines.append(f"| {shown} | {row['precision']} | {row['chars_per_second']:,} | "
                     f"{row['load_on_first_use_seconds']:.1f} | {row['f1']['province_test']:.3f} | {row['f1']['test']:.3f} |")
    return lines + ["", f"`{RELATION_COST[1]}` → `bench/results/{RELATION_COST[0]}` ({d['pair_weights_mb']:.0f} MB of pair "
                        "encoder weights; each row loads it afresh after one untimed load: imports done, files in the page cache). The pair "
                        "encoder runs in the tagger's precision (`--precision`, auto by default)."]


def aliases() -> list[str]:
    """The resolver per sample, in the order they were judged: its first run on each (before the
    sample's misses were studied) is the honest figure; the later runs are development."""
    data = load(ALIASES[0])
    first, agreement = data.get("held_out_first_run", {}), data.get("agreement", {})
    lines = ["| sample | documents | gold pairs | resolver P | R | F1 | first run on it: P / R | two annotators agree (F1) |",
             "|---|---|---|---|---|---|---|---|"]
    for key, title in ALIAS_SAMPLES.items():
        now, run = data[key]["resolver"]["different_names"], first.get(key)
        first_run = f"{run['precision']:.3f} / {run['recall']:.3f}" if run else "–" if key == "development" else "this run"
        agree = f"{agreement[key]['f1']:.3f}" if key in agreement else "– (one pass)"
        lines.append(f"| {title} | {data[key]['documents']} | {now['pairs_same_gold']} | {now['precision']:.3f} | "
                     f"{now['recall']:.3f} | {now['f1']:.3f} | {first_run} | {agree} |")
    lines += ["", f"`{ALIASES[1]}` → `bench/results/{ALIASES[0]}`. Pairs of ORG mentions of one document with "
              "*different* names (the decisions an alias table makes; grouping by surface finds none of them); gold: "
              "`annotations/org_aliases.tsv`, guide decisions A1-A10."]
    return lines


def serving() -> list[str]:
    d = load(SERVING[0])
    c, m = d["concurrent"], d["memory"]
    first, last = m["rss_samples"][0], m["rss_samples"][-1]
    return [
        "| ML backend check | result |", "|---|---|",
        f"| {c['calls']} concurrent /predict calls × {c['tasks_per_call']} sections | {c['errors']} errors; per call p50 "
        f"{c['latency_p50_s']:.1f} s, p95 {c['latency_p95_s']:.1f} s; {c['tasks_per_s']:.2f} sections/s "
        f"({d['meta']['server_threads']} torch thread, {d['meta']['cores']}-core CPU at load {d['meta']['load_avg'][0]:.1f}) |",
        f"| memory over {m['calls']} further one-section calls | {m['errors']} errors; RSS {first['rss_mb']:,.1f} MB after call "
        f"{first['after_calls']} → {last['rss_mb']:,.1f} MB after call {last['after_calls']} ({d['rss_after_start_mb']:,.1f} MB after start) |",
        "", f"`{SERVING[1]}` → `bench/results/{SERVING[0]}`. Predictions run one at a time on one thread: a burst "
            "queues (Label Studio gives up on a /predict call after its ML_TIMEOUT_PREDICT, 100 s by default).",
    ]


def speed() -> list[str]:
    prof = load(PROFILE[0])
    scales = [(load(SCALE[0]), "as trained, 12 layers"), (load(SCALE_SERVE[0]), "serving copy, 12 layers"),
              (load(SCALE_1000_12[0]), "serving copy, 12 layers"), (load(SCALE_1000[0]), "serving copy, 6 layers, linear relations")]
    if (RESULTS / SCALE_1000_PAIRS_FP32).exists():
        scales.append((load(SCALE_1000_PAIRS_FP32), "serving copy, 6 layers, pair-encoder relations always in fp32 (before)"))
    if (RESULTS / SCALE_1000_PAIRS[0]).exists():
        scales.append((load(SCALE_1000_PAIRS[0]), "serving copy, 6 layers, pair-encoder relations in the tagger's precision (shipped)"))
    names = list(prof["inputs"])
    precision = prof.get("precision", "fp32")
    layers = f"the {prof['encoder_layers']}-layer model" if prof.get("encoder_layers") else "the 12-layer model shipped before"
    busy = prof["load_average_before"][0] >= prof["cpu_count"] / 2
    lines = [f"Profile of the shipped path with {layers} (precision {precision}"
             + (", as `--precision int8` runs it; `auto` runs fp32 on this CPU, where the encoder's share is larger"
                if precision == "int8" else ", as `auto` picks it on this CPU") + f", {prof['torch_threads']} torch "
             f"thread{'s' if prof['torch_threads'] > 1 else ''}, {prof['cpu_count']} cores at load "
             f"{prof['load_average_before'][0]:.1f}" + (": a busy machine, so every rate is a lower bound" if busy else "")
             + "; the × LAC ratios are measured in the same run):", "",
             "| stage | " + " | ".join(f"{n}: share | chars/s" for n in names) + " |", "|---|" + "---|---|" * len(names)]
    stages = {st["stage"]: {} for n in names for st in prof["inputs"][n]["stages"]}
    for n in names:
        for st in prof["inputs"][n]["stages"]:
            stages[st["stage"]][n] = st
    for stage, cells in stages.items():
        lines.append(f"| {stage} | " + " | ".join(
            f"{cells[n]['share'] * 100:.1f} % | {cells[n]['chars_per_second']:,.0f}" if n in cells else "– | –" for n in names) + " |")
    for n in names:
        i = prof["inputs"][n]
        lines.append(f"| **end to end, {n}** ({i['chars']:,} chars) | " + " | ".join(
            f"{i['chars_per_second'] / i['lac_alone_chars_per_second']:.2f}× LAC alone | {i['chars_per_second']:,.0f}"
            if m == n else " | " for m in names) + " |")
    load_ = prof["model_load"]
    lines += ["", f"Model load: {load_['cold']['load_seconds']:.1f} s cold (after {load_['cold']['imports_seconds']:.1f} s of imports), "
              f"{load_['warm_seconds']:.1f} s warm. `{PROFILE[1]}` → `bench/results/{PROFILE[0]}`.", "",
              "Scale (generated bulletins; each run's model loads and Ray's start are in its time; one torch thread per "
              "process or actor; the CPU and `auto`'s precision per run):", "",
              "| model | bulletins (chars) | CPU, precision | engine | workers | model load s | chars/s | vs single process | "
              "scaling efficiency | same entities |", "|---|---|---|---|---|---|---|---|---|---|"]
    for scale, model in scales:
        where = _cpu_precision(scale)
        for run in scale["runs"]:
            lines.append(f"| {model} | {scale['bulletins']:,} ({scale['generated_chars']:,}) | {where} | {run['engine']} | "
                         f"{run.get('workers', 1)} | {run.get('model_load_seconds', '–')} | "
                         f"{run['chars_per_second']:,.0f} | {run.get('vs_process', 1.0):.2f} | "
                         f"{run.get('scaling_efficiency', '–')} | {run.get('same_entities_as_process', '–')} |")
    lines += ["", f"`{SCALE[1]}` → `bench/results/{SCALE[0]}`; `{SCALE_SERVE[1]}` → `bench/results/{SCALE_SERVE[0]}`; "
                  f"`{SCALE_1000[1]}` → `bench/results/{SCALE_1000[0]}` (and `bench/results/{SCALE_1000_12[0]}` with the "
                  "12-layer model)"
              + (f"; `{SCALE_1000_PAIRS[1]}` → `bench/results/{SCALE_1000_PAIRS[0]}` (the same command before the pair "
                 f"encoder followed the tagger's precision: `bench/results/{SCALE_1000_PAIRS_FP32}`)."
                 if (RESULTS / SCALE_1000_PAIRS[0]).exists() else ".")]
    return lines + scale_with_facts()


def _cpu_precision(scale: dict) -> str:
    """Whether a scale run's CPU had native bf16, and so the precision `auto` ran in."""
    return "native bf16, bf16" if scale.get("cpu_fast_bf16") else "no native bf16, fp32"


def scale_with_facts() -> list[str]:
    """The shipped serving copy with facts on every path, 1,000 and 10,000 bulletins (the runs that exist)."""
    runs = [(load(name), command, name) for name, command in SCALE_FACTS if (RESULTS / name).exists()]
    if not runs:
        return []
    lines = ["", "Scale with the same work on every path (the shipped serving copy, 6 layers, pair-encoder relations in the "
             "tagger's precision; the single process computes every document's facts as the shards do; one torch thread "
             "per process or actor; the rows above compared Ray's facts with a single process that wrote entities only):", "",
             "| bulletins (chars) | CPU, precision | engine | workers | model load s | seconds | chars/s | facts | "
             "vs single process | scaling efficiency | same entities | same facts |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for scale, _, _ in runs:
        where = _cpu_precision(scale)
        for run in scale["runs"]:
            vs = 1.0 if run["engine"] == "process" else run.get("vs_process")
            lines.append(f"| {scale['bulletins']:,} ({scale['generated_chars']:,}) | {where} | {run['engine']} | "
                         f"{run.get('workers', 1)} | {run.get('model_load_seconds', '–')} | {run['seconds']:,.0f} | "
                         f"{run['chars_per_second']:,.0f} | {run['facts']:,} | {f'{vs:.2f}' if vs is not None else '–'} | "
                         f"{run.get('scaling_efficiency', '–')} | {run.get('same_entities_as_process', '–')} | "
                         f"{run.get('same_facts_as_process', '–')} |")
    lines += ["", "; ".join(f"`{command}` → `bench/results/{name}`" for _, command, name in runs) + "."]
    return lines


def _int8_verdict(scores: dict, model: str = "the shipped model") -> str:
    """Whether int8 keeps F1 within the half-point budget on both tests (the rule for `auto`)."""
    delta = {split: 100 * (scores["int8"][split]["scores"]["model"]["micro"]["f1"]
                           - scores["fp32"][split]["scores"]["model"]["micro"]["f1"]) for split in ("test", "province_test")}
    within = all(d >= -0.5 for d in delta.values())
    return (f"int8 against fp32, {model}: {delta['test']:+.1f} points on the seeds' test, "
            f"{delta['province_test']:+.1f} on the held-out provinces: "
            + ("within the half-point budget on both." if within else
               "outside the half-point budget, so `auto` does not pick int8 (`--precision int8` still runs it)."))


def _lac_rate(inference: dict) -> float:
    return next(r for r in inference["results"] if r["variant"].startswith("lac"))["speed"]["chars_per_s"]


def _variant_rows(inference: dict, scores: dict, names: dict[str, str]) -> list[str]:
    """One row per variant of a bench/inference.py run (LAC is the yardstick, not a row): speed beside LAC
    alone in the same run, load time, and micro F1 on both tests from the variant's evaluation file."""
    lac = _lac_rate(inference)
    lines = ["| variant | threads | chars/s | × LAC alone (same run) | load s | seeds' test micro | held-out provinces micro |",
             "|---|---|---|---|---|---|---|"]
    for run in inference["results"]:
        name = run["variant"].split("@")[0]
        if name == "lac":
            continue
        f1 = scores.get(name)
        cells = (f"{f1['test']['scores']['model']['micro']['f1']:.3f} | {f1['province_test']['scores']['model']['micro']['f1']:.3f}"
                 if f1 else "not measured | not measured")
        lines.append(f"| {names.get(name, name)} | {run['torch_threads']} | {run['speed']['chars_per_s']:,.0f} | "
                     f"{run['speed']['chars_per_s'] / lac:.2f}× | {run['load_s']:.1f} | {cells} |")
    return lines


def precisions() -> list[str]:
    """Speed and load time beside LAC and F1 on both tests per precision and for the serving copy; the encoder
    alone in ONNX Runtime."""
    inference, onnx = load(INFERENCE[0]), load(ONNX[0])
    scores = {"fp32": load(TWELVE_LAYERS[EVALUATION[0]]), "int8": load(TWELVE_LAYERS[EVALUATION_INT8[0]]),
              "onnx": load(TWELVE_LAYERS[EVALUATION_SERVE[0]])}
    lac = _lac_rate(inference)
    fast_bf16 = any(r.get("cpu_fast_bf16") for r in inference["results"])
    names = {"onnx": "serving copy (`trim --onnx`): ONNX Runtime fp32"}
    lines = [f"Precision and the serving copy, the 12-layer model (the five raw seeds, {inference['meta']['chars']:,} chars; this CPU "
             f"{'has' if fast_bf16 else 'has no'} native bf16, so `auto` picks {'bf16' if fast_bf16 else 'fp32'}; load "
             f"average {inference['meta']['load_before'].split()[0]} before the run):", "", *_variant_rows(inference, scores, names)]
    lines += ["", "The variants ran in this order, each in a fresh process: the first load of each model directory "
                  f"(the one-thread rows) also reads its files into the page cache. Speed: the run of {inference['meta']['date']}, "
                  "with the model trained then; F1: the 12-layer model's evaluation files, the same recipe.", "",
              f"`{INFERENCE[1]}` → `bench/results/{INFERENCE[0]}` (LAC alone {lac:,.0f} chars/s); F1: "
                  f"`bench/results/{TWELVE_LAYERS[EVALUATION[0]]}`, `bench/results/{TWELVE_LAYERS[EVALUATION_INT8[0]]}`, "
                  f"`bench/results/{TWELVE_LAYERS[EVALUATION_SERVE[0]]}` (the commands of the files without `_12layers`, "
                  "run then).", "",
              _int8_verdict(scores, "the 12-layer model"), "",
              f"The encoder alone in ONNX Runtime ({onnx['chars']:,} chars of the raw seeds in {onnx['batches']} batches, one thread, "
              f"load average {onnx['meta']['load_before'][0]:.1f}):", "",
              "| encoder | ready in s | chars/s | cosine to torch fp32 |", "|---|---|---|---|"]
    for row in onnx["rows"]:
        lines.append(f"| {row['variant']} | {row['ready_s']:.2f} | {row['chars_per_s']:,.0f} | {row['cosine_to_torch_fp32']:.4f} |")
    lines += ["", f"`{ONNX[1]}` → `bench/results/{ONNX[0]}`."]
    return lines


def precisions_bf16() -> list[str]:
    """The precisions on a CPU with native bf16: speed beside LAC in one run, F1 on both tests."""
    inference = load(INFERENCE_BF16[0])
    scores = {"fp32": load(EVALUATION[0]), "bf16": load(EVALUATION_BF16[0]), "trimmed+bf16": load(EVALUATION_SERVE_BF16[0]),
              "int8": load(EVALUATION_INT8[0]), "onnx": load(EVALUATION_SERVE[0])}
    lac = _lac_rate(inference)
    names = {"trimmed+bf16": "serving copy, `auto` here: torch bf16, trimmed vocabulary", "onnx": "serving copy in ONNX Runtime fp32"}
    lines = [f"The shipped model on a CPU with native bf16 (AVX512-BF16; {inference['meta']['machine']['Model name']}, 2 cores, load average "
             f"{inference['meta']['load_before'].split()[0]} before the run), where `auto` picks bf16, the five raw seeds:", "",
             *_variant_rows(inference, scores, names)]
    return lines + ["", f"`{INFERENCE_BF16[1]}` → `bench/results/{INFERENCE_BF16[0]}` (LAC alone {lac:,.0f} chars/s); F1: "
                        f"`{EVALUATION[1]}`, `{EVALUATION_BF16[1]}`, `{EVALUATION_INT8[1]}`, `{EVALUATION_SERVE[1]}`, "
                        f"`{EVALUATION_SERVE_BF16[1]}`.", "", _int8_verdict(scores) + " (`auto` picks bf16 on this CPU, "
                        "where int8 is no faster; on CPUs without native bf16 it still picks fp32: int8's speed with the "
                        "6-layer model has not been measured there.)"]


def training() -> list[str]:
    t, head = load(TRAINING[0]), load(LSTM_HEAD[0])
    load_before = t.get("load_before", [0])[0]
    threads = t.get("omp_num_threads", "1")
    threads = "torch's default threads (one per core)" if threads.startswith("unset") else f"OMP_NUM_THREADS={threads}"
    quiet = ("a quiet machine" if load_before < 1.5 else
             "other jobs shared the cores: an upper bound, not a quiet-machine figure")
    return [f"Training the shipped recipe ({t['probe_epochs']} probe epochs + {t['epochs_run']} fine-tuning epoch"
            f"{'s' if t['epochs_run'] != 1 else ''}, on {'+'.join(t.get('trained_on') or [])}): "
            f"**{t['wall_s']:.0f} s wall ({t['wall_s'] / 60:.1f} min), {t['max_rss_mb'] / 1024:.2f} GB peak memory**, "
            f"{threads} getting {t.get('cpu_percent', '?')} % of a core on a {t['cores']}-core {t.get('cpu', '')} "
            f"machine whose load average was {load_before:.1f} when it started ({quiet}); "
            f"`{TRAINING[1]}` → `bench/results/{TRAINING[0]}`.", "",
            f"The head's BiLSTM reads padded rows unpacked, equal to packed sequences: a probe step (batch "
            f"{head['batch_size']}, the training pieces' real lengths, {head['threads']} torch thread"
            f"{'s' if head['threads'] != 1 else ''}) takes {head['seconds_per_step']['unpacked']:.2f} s instead of "
            f"{head['seconds_per_step']['packed']:.2f} s ({head['speedup']:.2f}x); `{LSTM_HEAD[1]}` → "
            f"`bench/results/{LSTM_HEAD[0]}`."]


def block() -> str:
    parts = [headline(), ["", "Per province, held-out provinces' test:", ""], per_province(),
             ["", "Baselines on the same spans:", ""], baselines(),
             ["", "Fine-tuning and the feature-CRF mix, the CV that chose today's default (every row on the folds and "
                  "seeds of the encoder-depth grid below, the span rules applied, no document consistency):", ""], fine_tuning(),
             ["", "Encoder depth, the CV that chose the encoder's first 6 layers, rerun on today's corpus (adjudicated gold; "
                  "every row the same 3 folds and 3 seeds, the span rules applied, no document consistency):", ""], encoder_depth(),
             ["", "Ablation on the earlier grid (the 12-layer recipe, on the training provinces' gold before adjudication; "
                  "every row on the same units, the 3 province folds; network rows: mean ± std over the seeds their column "
                  "counts; the feature CRF is deterministic):", ""], ablation(),
             [""], cv_errors(),
             ["", "Relations:", ""], relations(),
             [""], facts_cost(),
             ["", "Organization names (one name per organization):", ""], aliases(),
             ["", "Serving (Label Studio ML backend), the 12-layer model shipped before `encoder_layers: 6`:", ""], serving(),
             ["", "Speed and scale. The profile, the scale runs, the first precision table and the encoder alone in ONNX "
                  "Runtime were measured with the 12-layer model shipped before `encoder_layers: 6` (their commands name "
                  "`runs/default/model`, which held it then; it is `runs/layers12/model` now) unless their caption says "
                  "otherwise; the table on the CPU with native bf16 and the encoder-depth table measure the shipped model:", ""],
             speed(), [""], precisions(), [""], precisions_bf16(),
             [""], training()]
    return "\n".join(line for part in parts for line in part)


def replace_block(text: str, rendered: str, where: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{where}: no {BEGIN} ... {END} block")
    if text.count(BEGIN) > 1 or text.count(END) > 1:
        raise SystemExit(f"{where}: more than one {BEGIN} ... {END} block (was the document pasted twice?)")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{rendered}\n{END}{tail}"


DOCUMENTS = (ROOT / "README.md", ROOT / "bench" / "RESULTS.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when a document's block differs from the files")
    args = parser.parse_args(argv)
    rendered = block()
    stale = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        new = replace_block(text, rendered, path.name)
        if new != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    if args.check and stale:
        print(f"out of date with bench/results/: {', '.join(stale)} (run python bench/report.py)")
        return 1
    print(("checked: " if args.check else "written: ") + ", ".join(p.name for p in DOCUMENTS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
