"""The ``civic-ner`` command: corpus building, training, evaluation, prediction.

Every user-facing error is one line naming the file and the problem, with a non-zero exit code.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import corpus, splits
from .cli_common import add_precision_arg, config_from_args, fail, parse_settings, run  # noqa: F401 (parse_settings: cli API)
from .loop_cli import add_loop_commands
from .predict_cli import add_predict_commands
from .serve_cli import add_serve_command

DEFAULT_SYNTHETIC = "annotations/synthetic.json"
DEFAULT_GROUNDED = "annotations/grounded.json"


# ---------------------------------------------------------------- corpus


def cmd_sections(args: argparse.Namespace) -> int:
    from . import fileio

    records = corpus.sections_from_raw(args.raw_dir)
    if not records:
        return fail(f"{args.raw_dir}: no *.txt files with text")
    if args.format == "labelstudio":
        from .labelstudio_tasks import section_task

        fileio.write_json(args.output, [section_task(r) for r in records])
    else:
        fileio.write_jsonl(args.output, (r.to_json() for r in records))
    print(f"{len(records)} sections from {len({r.source for r in records})} files -> {args.output}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    records = corpus.load_annotations(args.annotations)
    counts = splits.span_counts(records)
    print(f"{args.annotations}: OK, {len(records)} sections, {sum(counts.values())} spans {dict(counts)}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    share = {}
    for item in args.new_share or []:
        split, _, value = item.partition("=")
        if split not in ("dev", "test"):
            return fail(f"--new-share takes dev=0.1 or test=0.2, not {item!r}")
        share[split] = float(value)
    written_files = {}
    for name, given, default in (("synthetic", args.synthetic, DEFAULT_SYNTHETIC), ("grounded", args.grounded, DEFAULT_GROUNDED)):
        written_files[name] = given if given and Path(given).exists() else None
        if given and not written_files[name] and given != default:
            return fail(f"{given}: no such file")
    by_split = corpus.build_dataset(args.annotations, args.data_dir, args.splits, new_share=share, **written_files)
    real = [r for s, rs in by_split.items() if s in splits.SPLITS for r in rs]
    assignment = {r.id: s for s, rs in by_split.items() if s in splits.SPLITS for r in rs}
    print(corpus.stats_table(by_split))
    for problem in splits.check_split_requirements(real, assignment):
        print(f"warning: {problem}", file=sys.stderr)
    from .surface_check import find_inconsistencies, load_explanations, unexplained

    findings = find_inconsistencies(real + [r for s in corpus.EXTRA_SPLITS for r in by_split.get(s, [])])
    left = unexplained(findings, load_explanations(args.explanations))
    print(f"surface consistency: {len(findings)} occurrence(s) labelled differently from the same string elsewhere, "
          f"{len(findings) - len(left)} explained by {args.explanations}, {len(left)} unexplained")
    for finding in left:
        print(f"warning: {finding.line()}", file=sys.stderr)
    written = "{" + ",".join(s for s in by_split) + "}.jsonl"
    print(f"wrote {args.data_dir}/{written} and splits.json (data hash {corpus.data_hash(real)})")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    by_split = {s: corpus.load_split(args.data_dir, s) for s in (*splits.SPLITS, *corpus.EXTRA_SPLITS)}
    print(corpus.stats_table({s: rs for s, rs in by_split.items() if rs or s in splits.SPLITS}))
    if args.tokenizer:
        from .alignment import subword_boundary_conflicts
        from .encoder import load_tokenizer

        records = [r for rs in by_split.values() for r in rs]
        bad, total, examples = subword_boundary_conflicts(records, load_tokenizer(args.tokenizer))
        print(f"\n{bad} of {total} gold spans start or end inside a token of {args.tokenizer}'s own segmentation")
        for example in examples:
            print(f"  {example}")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    from .evaluation import format_table, span_scores

    first = {r.id: r for r in _load_any(args.first)}
    second = {r.id: r for r in _load_any(args.second)}
    shared = sorted(set(first) & set(second))
    if not shared:
        return fail(f"{args.first} and {args.second} share no section")
    for sid in shared:
        if first[sid].text != second[sid].text:
            return fail(f"section {sid}: texts differ between {args.first} and {args.second}")
    scores = span_scores([first[s].spans for s in shared], [second[s].spans for s in shared])
    print(f"{len(shared)} shared sections; first pass as reference, second as prediction")
    print(format_table({"agreement": scores}))
    if args.json:
        from . import fileio

        fileio.write_json(args.json, {"sections": shared, "scores": scores})
    return 0


def _load_any(path: str) -> list[corpus.Record]:
    """Label Studio JSON, or inline-marked ``### id`` blocks (*.md), for the agreement command."""
    if path.endswith(".md") or Path(path).is_dir():
        from .inline import parse_inline, read_blocks

        files = sorted(Path(path).glob("*.md")) if Path(path).is_dir() else [Path(path)]
        records = []
        for file in files:
            for sid, marked in read_blocks(file).items():
                text, spans = parse_inline(marked, f"{file}: {sid}")
                records.append(corpus.Record(sid, text, spans))
        return records
    return corpus.load_annotations(path)


# ---------------------------------------------------------------- train / evaluate


def cmd_train(args: argparse.Namespace) -> int:
    from .evaluation import format_table
    from .training import train

    config = config_from_args(args)
    output_dir = Path(args.output_dir or f"runs/{config.name}")
    result = train(config, output_dir)
    test = result.metrics["test"]
    low, high = test["micro"]["f1_ci95"]
    print(
        f"\nHeld-out test scores (best epoch {result.metrics['best_epoch']} of {result.metrics['epochs_run']}, "
        f"{result.seconds:.0f} s on {result.metrics['device']}):"
    )
    print(format_table({"model": test}))
    print(f"micro F1 95% bootstrap interval: [{low:.3f}, {high:.3f}]")
    print(f"model: {output_dir / 'model'}   metrics: {output_dir / 'metrics.json'}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .report import evaluate_model

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from .corpus import load_split
    from .report import side_by_side

    names = [args.split]
    if args.split == "both":  # the seeds' test and, when the corpus has it, the held-out provinces
        names = ["test", *(["province_test"] if load_split(args.data_dir, "province_test") else [])]
    reports = {
        name: evaluate_model(
            args.model, args.data_dir, name, baselines=not args.no_baselines, examples=args.examples,
            precision="int8" if args.int8 else "bf16" if args.bf16 else args.precision,
        )
        for name in names
    }
    print("\n\n".join(report["text"] for report in reports.values()))
    if len(reports) > 1:
        print("\n" + side_by_side({name: report["json"] for name, report in reports.items()}))
    if args.json:
        from . import fileio

        payload = next(iter(reports.values()))["json"] if len(reports) == 1 else {n: r["json"] for n, r in reports.items()}
        fileio.write_json(args.json, payload)
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    """k-fold cross-validation by section of the config's recipe (or of a baseline)."""
    from . import fileio
    from .cv import baseline_fit_predict, cross_validate, crf_fit_predict, cv_examples, format_cv, model_fit_predict
    from .training import load_examples

    if args.folds < 2:
        return fail(f"--folds must be at least 2, not {args.folds}")
    if args.seeds < 1:
        return fail(f"--seeds must be at least 1, not {args.seeds}")
    config = config_from_args(args)
    by_split = load_examples(config.data_dir)
    # never the test split nor the held-out provinces: CV chooses recipes (a test guards this)
    examples = cv_examples(by_split)
    synthetic = by_split.get("synthetic", [])
    if args.baseline == "crf":
        recipe, name, seeds = crf_fit_predict(config), "crf", [0]
    elif args.baseline:
        recipe, name, seeds = baseline_fit_predict(args.baseline), args.baseline, [0]
    else:
        recipe, name, seeds = model_fit_predict(config), config.name, [config.seed + i for i in range(args.seeds)]
    out = Path(args.output or f"runs/cv/{name}")
    if args.only_folds and not all(1 <= k <= args.folds for k in args.only_folds):
        return fail(f"--only-folds takes fold numbers 1 to {args.folds}, not {args.only_folds}")
    only = [k - 1 for k in args.only_folds] if args.only_folds else None
    result = cross_validate(examples, recipe, args.folds, seeds, synthetic, log=lambda m: print(m, file=sys.stderr),
                            only_folds=only)
    result["recipe"] = {"baseline": args.baseline, "config": config.to_dict() if args.baseline in (None, "crf") else None}
    text = format_cv(result, f"{name}: {args.config if not args.baseline else 'baseline ' + args.baseline}")
    print(text)
    fileio.write_json(out / "cv.json", result)
    fileio.write_text(out / "cv.md", "```\n" + text + "\n```\n")
    print(f"-> {out}/cv.json, {out}/cv.md")
    return 0


def cmd_trim(args: argparse.Namespace) -> int:
    from .trimming import corpus_texts, trim_model

    precision = "int8" if args.int8 else "bf16" if args.bf16 else None
    result = trim_model(args.model, args.output, corpus_texts(args.corpus), precision=precision, onnx=args.onnx)
    print(
        f"{args.model} -> {result.output_dir}: vocabulary {result.vocab_before} -> {result.vocab_after} rows, "
        f"{result.bytes_before / 1e6:.1f} MB -> {result.bytes_after / 1e6:.1f} MB on disk, "
        f"{result.checked_chars} characters map to the same (remapped) ids{f', {precision} at load' if precision else ''}"
        f"{', encoder also in ONNX (run by ONNX Runtime on CPU in fp32)' if args.onnx else ''} "
        f"({result.seconds:.1f} s)"
    )
    return 0


def cmd_relations(args: argparse.Namespace) -> int:
    """Fit (or refit) the learned relation model of an existing model directory from the relation
    layer of the splits the model trained on: relations grow without retraining the tagger."""
    from .corpus import load_split
    from .dataset import DataError
    from .config import check_config
    from .device import pick_device
    from .model_dir import META_FILE, save_relation_model, training_config
    from .training import fit_relation_model, relation_records, written_for

    if args.device:
        pick_device(args.device)  # an absent device is one line now, not after the features are computed
    kind = args.kind or training_config(args.model).relation_model
    config = training_config(args.model, data_dir=args.data_dir, relation_model="learned" if kind == "cues" else kind,
                             device=args.device)
    check_config(config, Path(args.model) / META_FILE)  # a pair encoder needs the encoder's word embeddings frozen
    splits = {s: [(r, {}) for r in load_split(config.data_dir, s)] for s in ("train", "dev", "synthetic", "grounded")}
    examples = [ex for s in config.train_splits for ex in splits[s]] + written_for(config, splits)
    records = relation_records(config, [r.id for r, _ in examples])  # exactly the sections the tagger trained on
    model = fit_relation_model(config, records, log=lambda line: print(line, file=sys.stderr), progress=True)
    if model is None:
        raise DataError(f"{args.data_dir}: no relations in the sections {args.model} trained on")
    save_relation_model(args.model, model)
    print(f"{args.model}/relations.json: {model.name} from {sum(len(r.relations) for r in records)} relations "
          f"in {len(records)} sections the tagger trained on")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="civic-ner", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("corpus", help="build and inspect the annotated corpus").add_subparsers(dest="action", required=True)
    p = c.add_parser("sections", help="clean raw bulletins into sections (JSONL or Label Studio tasks to import)")
    p.add_argument("raw_dir", nargs="?", default="data/raw")
    p.add_argument("-o", "--output", default="data/sections.jsonl")
    p.add_argument("--format", choices=["jsonl", "labelstudio"], default="jsonl")
    p.set_defaults(func=cmd_sections)
    p = c.add_parser("validate", help="check a Label Studio export")
    p.add_argument("annotations", nargs="?", default="annotations/tasks.json")
    p.set_defaults(func=cmd_validate)
    p = c.add_parser("build", help="validate annotations and rebuild data/ splits deterministically")
    p.add_argument("--annotations", default="annotations/tasks.json")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--splits", default=None, help="default: DATA_DIR/splits.json")
    p.add_argument("--new-share", action="append", metavar="SPLIT=SHARE", help="send a share of new sections to dev/test")
    p.add_argument("--synthetic", default=DEFAULT_SYNTHETIC,
                   help="synthetic tasks, written to data/synthetic.jsonl (default: %(default)s when present; '' for none)")
    p.add_argument("--grounded", default=DEFAULT_GROUNDED,
                   help="grounded tasks, written to data/grounded.jsonl (training provinces) and "
                        "data/province_test.jsonl (held-out provinces) (default: %(default)s when present; '' for none)")
    p.add_argument("--explanations", default="annotations/consistency.tsv",
                   help="surfaces whose differing labels a guide decision explains (default: %(default)s)")
    p.set_defaults(func=cmd_build)
    p = c.add_parser("stats", help="counts per label per split")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--tokenizer", default=None, help="also count gold boundaries inside this tokenizer's tokens")
    p.set_defaults(func=cmd_stats)
    p = c.add_parser("agreement", help="entity F1 between two annotation passes")
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--json", default=None)
    p.set_defaults(func=cmd_agreement)

    p = sub.add_parser("train", help="fine-tune an encoder (same as python train.py)")
    add_train_args(p)
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("cv", help="k-fold cross-validation by section: choose recipes here, never on test")
    p.add_argument("--config", default="configs/default.yaml", help="the recipe (YAML config; default: %(default)s)")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--only-folds", type=int, nargs="+", default=None, metavar="K",
                   help="run and score only these folds (1-based): a partial CV, on the same units as another")
    p.add_argument("--seeds", type=int, default=3, help="training seeds: config seed, +1, ... (default: %(default)s)")
    p.add_argument("--baseline", choices=["crf", "rules", "lac", "signals"], default=None,
                   help="cross-validate a baseline instead (crf uses the config's synthetic setting)")
    p.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one config key (YAML value: --set grounded=true --set crf_ensemble=0); repeatable")
    p.add_argument("--data-dir", default=None)
    p.add_argument("-o", "--output", default=None, help="directory for cv.json and cv.md (default: runs/cv/<name>)")
    p.set_defaults(func=cmd_cv)
    p = sub.add_parser("evaluate", help="score a model on held-out spans (same as python evaluate.py)")
    add_evaluate_args(p)
    p.set_defaults(func=cmd_evaluate)
    add_loop_commands(sub)  # ls push|pull, retrain, curve, suggest
    p = sub.add_parser("trim", help="cut the embedding matrix to the pieces a character-fed model can use")
    p.add_argument("--model", required=True, help="a model directory written by train.py")
    p.add_argument("-o", "--output", required=True, help="directory for the trimmed model")
    p.add_argument("--corpus", default="data", help="directory whose *.jsonl sections must stay covered (default: %(default)s)")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--int8", action="store_true", help="mark the copy to load with dynamic int8 quantization")
    precision.add_argument("--bf16", action="store_true", help="mark the copy to load in bf16 (CPUs with AMX/AVX512-BF16)")
    precision.add_argument("--onnx", action="store_true",
                   help="also write the encoder as an ONNX graph: on CPU in fp32 the copy then loads and runs it in ONNX "
                        "Runtime, without transformers' model code (a serving copy that loads in a fraction of the time)")
    p.set_defaults(func=cmd_trim)
    p = sub.add_parser("relations", help="fit the learned relation model of a model directory (relations.json)")
    p.add_argument("--model", required=True, help="a model directory written by train.py")
    p.add_argument("--data-dir", default="data", help="where the splits the model trained on are (default: %(default)s)")
    p.add_argument("--kind", choices=("learned", "pair-encoder"),
                   help="linear, or with the fine-tuned pair encoder (default: the model's config, learned for cues)")
    p.add_argument("--device", default=None, help="where the pair encoder trains: cpu, cuda, cuda:1 ... "
                   "(default: cuda if available; the model's training device is not assumed to be here)")
    p.set_defaults(func=cmd_relations)
    add_predict_commands(sub)  # predict, facts
    add_serve_command(sub)  # serve (the Label Studio ML backend)
    return parser


def config_help() -> str:
    """The config schema as plain text, for ``--help`` (the README shows the same table)."""
    from dataclasses import fields

    from .config import TrainConfig, _range_text

    lines = ["config keys (YAML; a value outside its range is refused at load):"]
    for f in fields(TrainConfig):
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        allowed = _range_text(f.metadata)
        lines.append(f"  {f.name:<20} {str(default):<30} {allowed:<16} {f.metadata['help']}")
    return "\n".join(lines)


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = config_help()
    p.add_argument("--config", default="configs/default.yaml", help="YAML config (default: %(default)s)")
    p.add_argument("--output-dir", default=None, help="default: runs/<config name>")
    p.add_argument("--epochs", type=int, default=None, help="override the config's epochs")
    p.add_argument("--model", default=None, help="override the base encoder (hub id or local path)")
    p.add_argument("--data-dir", default=None, help="override the config's data directory")


def add_evaluate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="a model directory written by train.py (runs/<name>/model)")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--split", choices=["both", "test", "province_test", "dev", "all"], default="both",
                   help="both (default): the seeds' test and the held-out provinces' test, side by side")
    p.add_argument("--json", default=None, help="also write the full report as JSON here")
    p.add_argument("--no-baselines", action="store_true", help="skip the rules and LAC columns")
    p.add_argument("--examples", type=int, default=5, help="error examples shown per kind")
    precision = p.add_mutually_exclusive_group()
    precision.add_argument("--int8", action="store_true", help="dynamic int8 quantization of Linear layers at load (CPU)")
    precision.add_argument("--bf16", action="store_true", help="run in bf16 (fast on CPUs with AMX/AVX512-BF16)")
    add_precision_arg(precision)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run(args.func, args)


if __name__ == "__main__":
    sys.exit(main())
