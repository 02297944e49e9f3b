"""civic-ner: NER for Chinese civic news bulletins.

>>> from civic_ner import load          # doctest: +SKIP
>>> ner = load("runs/default/model")
>>> doc = ner("乳山市妇联投入268.94万元帮扶1125名困境儿童")
>>> [(e.text, e.label, e.value) for e in doc.entities]

Importing the package is cheap: torch and transformers load on the first ``load()``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["load", "Doc", "Entity", "NER"]

if TYPE_CHECKING:
    from .api import NER, Doc
    from .types import Entity


def load(model_dir, device: str | None = None, clean: bool = True, precision: str | None = None) -> "NER":
    """Load a trained model directory; returns ``ner`` with ``ner(text) -> Doc`` and ``ner.pipe(texts)``.
    ``precision``: fp32, bf16, int8 or auto (bf16 where this machine runs it fast, else fp32); default:
    the directory's own (``civic-ner trim --bf16``), else auto. The relation layer's pair encoder follows."""
    from .api import load as _load

    return _load(model_dir, device=device, clean=clean, precision=precision)


def __getattr__(name: str):
    if name in ("NER", "Doc"):
        from . import api

        return getattr(api, name)
    if name in ("Entity", "DocEntity"):  # DocEntity: the name of a document's entities before 0.3
        from .types import Entity

        return Entity
    raise AttributeError(f"module 'civic_ner' has no attribute {name!r}")
