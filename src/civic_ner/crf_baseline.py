"""The feature baseline: a linear-chain CRF (CRFsuite via sklearn-crfsuite) over character and lexical
features, with document-level consistency. Trains in seconds; the fine-tuned model has to beat it."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .alignment import content_positions, spans_to_tags, tags_to_spans
from .consistency import propagate_by_document
from .features import char_features, crf_attributes
from .types import Span


@dataclass
class CrfSettings:
    c1: float = 0.05  # L1
    c2: float = 0.05  # L2
    max_iterations: int = 200
    consistency: bool = True


class FeatureCRF:
    """Fit on (texts, gold spans), predict spans; features from :func:`civic_ner.features.char_features`."""

    def __init__(self, settings: CrfSettings | None = None) -> None:
        self.settings = settings or CrfSettings()
        self._crf = None

    @staticmethod
    def _rows(texts: Sequence[str], feats: Sequence[dict] | None):
        feats = feats if feats is not None else char_features(texts)
        return [crf_attributes(t, f, content_positions(t)) for t, f in zip(texts, feats)]

    def fit(self, texts: Sequence[str], gold: Sequence[Sequence[Span]], feats: Sequence[dict] | None = None) -> "FeatureCRF":
        import sklearn_crfsuite

        self._crf = sklearn_crfsuite.CRF(
            algorithm="lbfgs", c1=self.settings.c1, c2=self.settings.c2,
            max_iterations=self.settings.max_iterations, all_possible_transitions=True,
        )
        self._crf.fit(self._rows(texts, feats), [spans_to_tags(t, g) for t, g in zip(texts, gold)])
        return self

    def predict(
        self, texts: Sequence[str], documents: Sequence[str] | None = None, feats: Sequence[dict] | None = None
    ) -> list[list[Span]]:
        """Spans per text; with ``documents`` (a key per text, e.g. its source file) and consistency
        on, names found in one text of a document are also labelled in its other texts."""
        if self._crf is None:
            raise RuntimeError("FeatureCRF.predict before fit")
        rows = self._rows(texts, feats)
        tags = self._crf.predict(rows) if rows else []
        predicted = [tags_to_spans(t, tag_row) for t, tag_row in zip(texts, tags)]
        if self.settings.consistency:
            predicted = propagate_by_document(texts, predicted, documents or [str(i) for i in range(len(texts))])
        return predicted
