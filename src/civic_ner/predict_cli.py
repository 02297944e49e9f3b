"""``civic-ner predict`` and ``civic-ner facts``: run a model over new bulletins."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .cli_common import EXIT_SOME_INPUTS_FAILED, fail

FACT_SUFFIXES = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".html": "html", ".htm": "html"}


def _run_model(args: argparse.Namespace, fmt: str, writers=None, what: str = "entities") -> int:
    """Load the model, stream the inputs through it into one output; shared by predict and facts."""
    from .api import load
    from .writers import predict_files

    if args.batch_size < 1:
        return fail(f"--batch-size must be at least 1, not {args.batch_size}")
    if args.output not in (None, "-") and Path(args.output).is_dir():
        return fail(f"{args.output}: is a directory; -o takes a file name")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in front of our own output
    started = time.perf_counter()
    ner = load(args.model, device=args.device)
    loaded = time.perf_counter() - started

    def report(name: str, message: str) -> None:
        print(f"civic-ner: error: {name}: {message}", file=sys.stderr)

    facts = 0

    def count_facts(doc) -> None:
        nonlocal facts
        facts += len(doc.facts)

    summary = predict_files(ner, args.inputs, fmt, args.output, args.batch_size, report=report, writers=writers,
                            on_document=count_facts if what == "facts" else None)
    target = args.output if args.output not in (None, "-") else "stdout"
    if summary.written:
        found = f"{facts} facts" if what == "facts" else f"{summary.entities} entities"
        print(
            f"{summary.documents} documents, {found} -> {target} "
            f"(model loaded in {loaded:.1f} s, predicted in {time.perf_counter() - started - loaded:.1f} s)",
            file=sys.stderr,
        )
        if summary.failed:
            print(f"civic-ner: {len(summary.failed)} input(s) failed (reported above)", file=sys.stderr)
    elif len(summary.failed) != 1:  # a single bad input has said it all in its own line
        print(f"civic-ner: error: none of the {len(summary.failed)} inputs could be read; nothing written", file=sys.stderr)
    return EXIT_SOME_INPUTS_FAILED if summary.failed else 0


def cmd_predict(args: argparse.Namespace) -> int:
    return _run_model(args, args.format)


def cmd_facts(args: argparse.Namespace) -> int:
    """Who did what with how much: facts as JSONL, the totals as CSV, or both on an HTML page."""
    from .writers import FACT_WRITERS

    fmt = args.format
    if fmt is None:
        suffix = Path(args.output).suffix.lower() if args.output not in (None, "-") else ".jsonl"
        fmt = FACT_SUFFIXES.get(suffix)
        if fmt is None:
            return fail(f"{args.output}: cannot tell the format from the suffix {suffix!r}; use .jsonl, .csv, .html or --format")
    return _run_model(args, fmt, FACT_WRITERS, what="facts")


def add_model_run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="text files, directories (*.txt, recursively) or - for stdin")
    p.add_argument("--model", required=True, help="a model directory written by train.py (runs/<name>/model)")
    p.add_argument("-o", "--output", default=None, help="output file (default: stdout)")
    p.add_argument("--batch-size", type=int, default=32, help="model windows per forward pass (default: %(default)s)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)")


def add_predict_commands(sub) -> None:
    p = sub.add_parser("predict", help="tag new bulletins (JSONL, Label Studio pre-annotations, HTML page, CSV)")
    add_model_run_args(p)
    p.add_argument("--format", choices=["jsonl", "labelstudio", "html", "csv"], default="jsonl")
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("facts", help="who did what with how much: facts (JSONL), totals (CSV) or both (HTML)")
    add_model_run_args(p)
    p.add_argument("--format", choices=["jsonl", "csv", "html"], default=None,
                   help="jsonl: one fact per line; csv: totals per organization and program; html: a page with both "
                        "(default: from the -o suffix, else jsonl)")
    p.set_defaults(func=cmd_facts)
