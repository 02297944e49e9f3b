"""What every civic-ner command shares: one ``civic-ner: error: ...`` line and an exit code for
every expected failure, and nothing half-written when a run is interrupted."""
from __future__ import annotations

import argparse
import signal
import sys

EXIT_BAD_INPUT = 2
EXIT_SOME_INPUTS_FAILED = 1
EXIT_INTERRUPTED = 130


def fail(message: str) -> int:
    print(f"civic-ner: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run(func, args: argparse.Namespace) -> int:
    """Call a command, turning expected failures (every :class:`~civic_ner.errors.CivicNerError`, and a
    file that is not there) into one clear line; the one place the command line catches errors."""
    from .errors import CivicNerError

    expected: tuple[type[BaseException], ...] = (CivicNerError, FileNotFoundError)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return func(args)
    except expected as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        fail("interrupted; nothing was half-written")
        return EXIT_INTERRUPTED
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_settings(items: list[str]) -> dict:
    """``KEY=VALUE`` overrides, each value read as YAML (true, 0.5, [train, dev]); checked by load_config."""
    import yaml

    from .config import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE")
        out[key.strip()] = yaml.safe_load(value)
    return out


def config_from_args(args: argparse.Namespace):
    """The config a command runs: ``--config`` with the overrides it was given (``--epochs``, ``--model``,
    ``--data-dir`` where the command has them, then every ``--set KEY=VALUE``); checked by load_config."""
    from .config import load_config

    overrides = {key: getattr(args, key) for key in ("epochs", "model", "data_dir") if getattr(args, key, None) is not None}
    overrides.update(parse_settings(getattr(args, "set", None) or []))
    return load_config(args.config, overrides)


def _interrupt(signum, frame) -> None:
    """SIGTERM (a job scheduler, `kill`) unwinds like Ctrl-C: temporary files are removed on the way."""
    raise KeyboardInterrupt


def add_precision_arg(p) -> None:
    """``--precision`` of every command that loads a model (``p``: a parser or an argument group)."""
    from .device import PRECISION_CHOICES

    p.add_argument("--precision", choices=PRECISION_CHOICES, default=None,
                   help="network precision (default: the model directory's, else auto = fp32 on a CPU without "
                        "native bf16, bf16 on AMX/AVX512-BF16 CPUs and bf16-capable GPUs; $CIVIC_NER_PRECISION "
                        "overrides auto)")
