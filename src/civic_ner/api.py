"""The Python API: ``load(model_dir)`` gives ``ner``; ``ner(text)`` and ``ner.pipe(texts)`` give Docs.

* :class:`NER` predicts documents in batches; very long documents are cut at paragraph breaks into
  pieces of at most :data:`PIECE_CHARS` characters (the tagger windows each piece itself), which
  keeps memory flat for a 5 MB bulletin;
* MONEY and COUNT spans get a normalized ``value`` (:func:`entity_value`; ``None`` when a predicted
  span does not parse);
* ``doc.facts`` links the entities of a document (:mod:`civic_ner.facts`).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .cleaning import clean_text
from .model_dir import model_version
from .text_pieces import long_text_pieces
from .types import Entity, Span
from .values import parse_count, parse_money

PIECE_CHARS = 20_000
"""Documents longer than this are predicted in paragraph-aligned pieces of at most this many characters."""
BUFFER_CHARS = 200_000
"""Characters of documents gathered before one call of the tagger (bounds memory per batch)."""


def _number(x: float) -> int | float:
    return int(x) if float(x).is_integer() else x


def entity_value(label: str, surface: str) -> dict[str, Any] | None:
    """Normalized value of a MONEY or COUNT surface; ``None`` for other labels or when it does not parse."""
    try:
        if label == "MONEY":
            money = parse_money(surface)
            return {
                "yuan": _number(money.yuan),
                "approximate": money.approximate,
                "currency": money.currency,
                "upper": None if money.upper is None else _number(money.upper),
            }
        if label == "COUNT":
            count = parse_count(surface)
            return {"value": count.value, "unit": count.unit, "approximate": count.approximate, "upper": count.upper}
    except (ValueError, ArithmeticError):
        return None
    return None


@dataclass
class Doc:
    """A cleaned document, its entities (offsets into ``text``) and, on demand, its facts."""

    text: str
    entities: list[Entity] = field(default_factory=list)
    source: str | None = None
    relation_model: Any = field(default=None, repr=False, compare=False)  # None: the facts layer's cues
    _facts: list | None = field(default=None, repr=False, compare=False)

    @property
    def ents(self) -> list[Entity]:
        return self.entities

    def by_label(self, label: str) -> list[Entity]:
        return [e for e in self.entities if e.label == label]

    @property
    def spans(self) -> list[Span]:
        return sorted(e.span for e in self.entities)

    @property
    def facts(self):
        """Relations between the entities (:class:`civic_ner.facts.Fact`): who runs which program,
        whose money, how many reached; each with its sentence."""
        if self._facts is None:
            from .facts import document_facts

            self._facts = document_facts(self.text, self.spans, self.relation_model)
        return self._facts

    def relations(self):
        """The facts as relations over :attr:`spans` indices (for aggregation)."""
        from .relations import Relation

        index = {s: i for i, s in enumerate(self.spans)}
        return [Relation(index[f.source], index[f.target], f.relation) for f in self.facts]

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "text": self.text, "entities": [e.to_json() for e in self.entities]}

    def __repr__(self) -> str:
        ents = ", ".join(f"{e.text}/{e.label}" for e in self.entities[:8])
        more = f", … {len(self.entities) - 8} more" if len(self.entities) > 8 else ""
        return f"Doc({self.text[:30]!r}{'…' if len(self.text) > 30 else ''}, [{ents}{more}])"


class NER:
    """A loaded model: ``ner(text) -> Doc`` and ``ner.pipe(texts) -> Iterator[Doc]``.

    Texts are cleaned like the corpus first (``clean=True``); entity offsets refer to ``doc.text``,
    the cleaned text. Pass ``clean=False`` to tag a text exactly as given.
    """

    def __init__(self, tagger, model_dir: str | Path | None = None, clean: bool = True, relation_model: Any = None) -> None:
        self.tagger = tagger
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.relation_model = relation_model
        self.clean = clean
        self._version: str | None = None

    @property
    def version(self) -> str:
        if self._version is None:
            self._version = model_version(self.model_dir) if self.model_dir else "unknown"
        return self._version

    def _prepare(self, text: str) -> str:
        return clean_text(text) if self.clean else text

    def __call__(self, text: str, source: str | None = None) -> Doc:
        return next(iter(self.pipe([text], sources=[source])))

    def pipe(
        self,
        texts: Iterable[str],
        batch_size: int = 32,
        sources: Iterable[str | None] | None = None,
    ) -> Iterator[Doc]:
        """Yield one Doc per text, lazily and in order.

        Texts are gathered until about :data:`BUFFER_CHARS` characters (or ``4 * batch_size`` texts)
        are waiting, then predicted together; ``batch_size`` is the number of model windows per
        forward pass. ``sources`` (optional, same length) fill ``Doc.source``.
        """
        source_iter = iter(sources) if sources is not None else None

        def pairs() -> Iterator[tuple[str, str | None]]:
            for text in texts:
                if not isinstance(text, str):
                    raise TypeError(f"expected str, got {type(text).__name__}")
                source = next(source_iter, None) if source_iter is not None else None
                yield self._prepare(text), source

        return self._pipe(pairs(), batch_size)

    def _pipe(self, pairs: Iterable[tuple[str, str | None]], batch_size: int) -> Iterator[Doc]:
        """(text as it is to be tagged, source) -> Docs, predicting a bounded buffer at a time."""
        pending: list[tuple[str, str | None]] = []
        size = 0
        for text, source in pairs:
            pending.append((text, source))
            size += len(text)
            if size >= BUFFER_CHARS or len(pending) >= 4 * batch_size:
                yield from self._predict_docs(pending, batch_size)
                pending, size = [], 0
        if pending:
            yield from self._predict_docs(pending, batch_size)

    def _predict_docs(self, docs: list[tuple[str, str | None]], batch_size: int) -> list[Doc]:
        pieces: list[tuple[int, int, str]] = []  # (doc index, offset, piece)
        for index, (text, _) in enumerate(docs):
            pieces.extend((index, offset, piece) for offset, piece in long_text_pieces(text, PIECE_CHARS))
        out = [Doc(text, [], source, self.relation_model) for text, source in docs]
        # predict a bounded number of characters at a time, so that one huge document stays flat
        group: list[tuple[int, int, str]] = []
        size = 0
        for item in [*pieces, None]:
            if item is not None and (not group or size + len(item[2]) <= BUFFER_CHARS):
                group.append(item)
                size += len(item[2])
                continue
            predictions = self.tagger.predict(
                [piece for _, _, piece in group], batch_size=batch_size, documents=[str(index) for index, _, _ in group]
            )
            for (index, offset, _), entities in zip(group, predictions):
                doc = out[index]
                for e in entities:
                    start, end = e.start + offset, e.end + offset
                    surface = doc.text[start:end]
                    doc.entities.append(Entity(start, end, e.label, e.score, surface, entity_value(e.label, surface)))
            group, size = ([item], len(item[2])) if item is not None else ([], 0)
        return out


def load(model_dir: str | Path, device: str | None = None, clean: bool = True, precision: str | None = None) -> NER:
    """Load a model directory written by ``civic-ner train`` (raises ``ModelDirError`` if it is not one).
    ``precision``: auto (default: bf16 where it is fast, else fp32), fp32, bf16 or int8."""
    from .model_dir import load_relation_model
    from .prediction import Tagger

    tagger = Tagger.from_dir(model_dir, device=device, precision=precision)
    return NER(tagger, model_dir, clean=clean,
               relation_model=load_relation_model(model_dir, tagger.device, tagger.precision))
