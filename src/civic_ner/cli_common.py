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
    """Call a command, turning expected failures into one clear line."""
    from .config import ConfigError
    from .corpus import AnnotationError
    from .dataset import DataError
    from .fileio import OutputError
    from .prediction import DeviceError, ModelDirError

    expected: tuple[type[BaseException], ...] = (
        AnnotationError, ConfigError, ModelDirError, DeviceError, DataError, OutputError, FileNotFoundError,
    )
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


def _interrupt(signum, frame) -> None:
    """SIGTERM (a job scheduler, `kill`) unwinds like Ctrl-C: temporary files are removed on the way."""
    raise KeyboardInterrupt
