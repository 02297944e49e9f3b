"""The one base of every error civic-ner expects: a bad input, config, model directory, device or server.

Each module keeps its own error class (``AnnotationError`` in :mod:`civic_ner.corpus`, ``InputError`` in
:mod:`civic_ner.reading`, ...) and derives it from :class:`CivicNerError`, so the command line turns
all of them into one ``civic-ner: error: ...`` line in one place (:func:`civic_ner.cli_common.run`),
while anything else (a bug) still shows its traceback.
"""
from __future__ import annotations


class CivicNerError(Exception):
    """An expected failure whose message is one line naming the file (or setting) and the problem."""


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message (or its type's name when it has none), cut to ``limit``
    characters: what a one-line error quotes from a library's longer message."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__
