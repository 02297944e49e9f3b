"""``civic-ner ls push|pull`` (``ls connect``: :mod:`civic_ner.serve_cli`), ``retrain``, ``curve``, ``suggest``: the annotate-retrain loop on the command line.

Registered into the main parser by :func:`add_loop_commands`; errors follow the ``cli_common.run`` convention
(one ``civic-ner: error: ...`` line, exit 2). ``retrain`` exits 3 when the regression gate refuses
the candidate, so that scripts can tell "worse model" from "bad input".
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli_common import config_from_args, fail
from .serve_cli import add_connect_command

EXIT_NOT_PROMOTED = 3


def _names(ids: list[str], limit: int = 8) -> str:
    return ", ".join(ids[:limit]) + (f" … (+{len(ids) - limit})" if len(ids) > limit else "")


# ---------------------------------------------------------------- ls push / pull


def cmd_ls_push(args: argparse.Namespace) -> int:
    from . import labelstudio
    from .loop import load_sections

    if not Path(args.label_config).exists():
        return fail(f"{args.label_config}: labeling config not found")
    records = load_sections(args.inputs)
    tagger = None
    if args.model:
        from .prediction import Tagger

        tagger = Tagger.from_dir(args.model)  # a bad model fails before the server is touched
    client = labelstudio.connect()
    summary = labelstudio.push(client, args.project, records, args.model, args.label_config, tagger=tagger)
    what = "created" if summary.project_created else "found"
    print(f"project {args.project!r} (id {summary.project_id}) {what}")
    if summary.imported:
        pre = (
            f" with {summary.predicted_spans} pre-annotated spans (model_version {summary.model_version})"
            if summary.model_version else " without pre-annotations (no --model)"
        )
        print(f"imported {len(summary.imported)} section(s){pre}: {_names(summary.imported)}")
    if summary.already_there:
        print(f"left {len(summary.already_there)} section(s) already in the project alone: {_names(summary.already_there)}")
    return 0


def cmd_ls_pull(args: argparse.Namespace) -> int:
    from . import corpus, labelstudio

    shares = labelstudio.parse_shares(args.new_share)
    client = labelstudio.connect()
    summary = labelstudio.pull(
        client, args.project, args.annotations, args.data_dir, args.splits, new_to=args.new_to, new_share=shares
    )
    print(f"project {args.project!r} (id {summary.project_id}):")
    print(f"  added {len(summary.added)}: {_names(summary.added)}" if summary.added else "  added 0")
    for line, ids in (
        ("  replaced (re-annotated) {n}: {names}", summary.replaced),
        ("  unchanged {n}", summary.unchanged),
        ("  note: {n} submitted with no entity (kept as negatives): {names}", summary.no_spans),
        ("  skipped in Label Studio, not imported: {n}: {names}", summary.skipped),
        ("  not annotated yet, not imported: {n}: {names}", summary.unannotated),
    ):
        if ids:
            print(line.format(n=len(ids), names=_names(ids)))
    if summary.changed:
        print(f"wrote {args.annotations}")
    else:
        print(f"nothing new; {args.annotations} unchanged")
    if summary.by_split is not None:
        records = [r for split, rs in summary.by_split.items() if split != "synthetic" for r in rs]
        print(corpus.stats_table(summary.by_split))
        print(f"rebuilt {args.data_dir}/{{train,dev,test}}.jsonl (data hash {corpus.data_hash(records)}); "
              "existing sections kept their splits")
    return 0


# ---------------------------------------------------------------- retrain / curve / suggest


def cmd_retrain(args: argparse.Namespace) -> int:
    from .loop import gate_table, retrain

    config = config_from_args(args)
    result = retrain(
        config, args.current, None if args.no_rebuild else args.annotations, args.tolerance, args.warm_start, args.force
    )
    print("\nHeld-out test, current model vs retrained candidate (same sections):")
    print(gate_table(result.old, result.new))
    if result.promoted:
        print(f"promoted: {result.reason} -> {result.current_dir}")
        return 0
    return _fail_code(
        f"not promoted: {result.reason}; candidate kept in {result.candidate_dir} (--force promotes it anyway)",
        EXIT_NOT_PROMOTED,
    )


def _fail_code(message: str, code: int) -> int:
    print(f"civic-ner: error: {message}", file=sys.stderr)
    return code


def cmd_curve(args: argparse.Namespace) -> int:
    from .loop import curve_markdown, learning_curve

    config = config_from_args(args)
    points = learning_curve(config, args.output, args.fractions, args.repeats, plot=not args.no_plot)
    print(curve_markdown(points))
    out = Path(args.output)
    files = ["curve.md", "curve.csv", "curve.json"] + ([] if args.no_plot else ["curve.png"])
    print("wrote " + ", ".join(str(out / f) for f in files))
    return 0


def cmd_suggest(args: argparse.Namespace) -> int:
    from . import fileio
    from .loop import suggest, suggestion_json, suggestion_table

    exclude = None if args.include_annotated else args.annotations
    top, considered = suggest(args.inputs, args.model, args.n, args.strategy, exclude)
    print(f"top {len(top)} of {considered} unlabelled section(s) by {args.strategy}:")
    print(suggestion_table(top))
    if args.output:
        fileio.write_jsonl(args.output, (suggestion_json(s, i) for i, s in enumerate(top, 1)))
        print(f"wrote {args.output} (push it with: civic-ner ls push --project NAME --model {args.model} {args.output})")
    return 0


# ---------------------------------------------------------------- parser


def add_loop_commands(sub) -> None:
    ls = sub.add_parser("ls", help="Label Studio round trip (LABEL_STUDIO_URL, LABEL_STUDIO_API_KEY)")
    actions = ls.add_subparsers(dest="action", required=True)
    p = actions.add_parser("push", help="import new bulletins as tasks, pre-annotated by a model")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="raw bulletins (*.txt or folders) or section JSONL")
    p.add_argument("--project", required=True, help="project title (created when missing)")
    p.add_argument("--model", default=None, help="model directory whose predictions become pre-annotations")
    p.add_argument("--label-config", default="annotations/label_config.xml")
    p.set_defaults(func=cmd_ls_push)
    p = actions.add_parser("pull", help="merge completed annotations into annotations/tasks.json, rebuild data/")
    p.add_argument("--project", required=True)
    p.add_argument("--annotations", default="annotations/tasks.json")
    p.add_argument("--data-dir", default="data")
    p.add_argument("--splits", default=None, help="default: DATA_DIR/splits.json")
    p.add_argument("--new-to", choices=["train", "dev", "test"], default="train", help="split for new sections")
    p.add_argument("--new-share", action="append", metavar="SPLIT=SHARE", help="send a share of new sections to dev/test")
    p.set_defaults(func=cmd_ls_pull)
    add_connect_command(actions)

    p = sub.add_parser("retrain", help="rebuild data, train a candidate, promote it only if it does not regress")
    p.add_argument("--config", default="configs/default.yaml")
    p.add_argument("--current", default="runs/current", help="the promoted run directory (default: %(default)s)")
    p.add_argument("--annotations", default="annotations/tasks.json")
    p.add_argument("--no-rebuild", action="store_true", help="train on data/ as it is")
    p.add_argument("--warm-start", action="store_true", help="start from the current model instead of the base encoder")
    p.add_argument("--tolerance", type=float, default=None, help="allowed micro F1 drop (default: config promote_tolerance)")
    p.add_argument("--force", action="store_true", help="promote even if the candidate is worse")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser("curve", help="learning curve: held-out F1 per type vs annotated spans")
    p.add_argument("--config", default="configs/default.yaml")
    p.add_argument("--fractions", type=float, nargs="+", default=[0.25, 0.5, 0.75, 1.0])
    p.add_argument("--repeats", type=int, default=1, help="seeded subsets per fraction (default: %(default)s)")
    p.add_argument("-o", "--output", default="runs/curve")
    p.add_argument("--no-plot", action="store_true", help="tables only (no matplotlib needed)")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--data-dir", default=None)
    p.set_defaults(func=cmd_curve)

    p = sub.add_parser("suggest", help="rank unlabelled sections by model uncertainty: what to label next")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="raw bulletins (*.txt or folders) or section JSONL")
    p.add_argument("--model", required=True)
    p.add_argument("-n", type=int, default=20)
    p.add_argument("--strategy", choices=["entropy", "least-confident"], default="entropy")
    p.add_argument("--annotations", default="annotations/tasks.json", help="sections here are left out")
    p.add_argument("--include-annotated", action="store_true")
    p.add_argument("-o", "--output", default=None, help="also write the ranked sections as JSONL (pushable)")
    p.set_defaults(func=cmd_suggest)
