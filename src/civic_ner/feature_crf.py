"""The feature CRF: a linear-chain CRF (CRFsuite via sklearn-crfsuite) over character and lexical
features, with document-level consistency. Trains in seconds; on its own it is the baseline the
network has to beat, and mixed into the network's marginals (config ``crf_ensemble``, saved as the
model directory's ``crf.crfsuite``) it decides half of the shipped model's PROGRAM spans
(``crf_ensemble_labels``)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
        self._tagger = None
        self._model_bytes = b""

    @staticmethod
    def _rows(texts: Sequence[str], feats: Sequence[dict] | None):
        feats = feats if feats is not None else char_features(texts)
        return [crf_attributes(t, f, content_positions(t)) for t, f in zip(texts, feats)]

    def fit(self, texts: Sequence[str], gold: Sequence[Sequence[Span]], feats: Sequence[dict] | None = None) -> "FeatureCRF":
        import tempfile

        import sklearn_crfsuite

        with tempfile.TemporaryDirectory(prefix="civic-ner-crf-") as tmp:
            model_file = str(Path(tmp) / "model.crfsuite")
            crf = sklearn_crfsuite.CRF(
                algorithm="lbfgs", c1=self.settings.c1, c2=self.settings.c2,
                max_iterations=self.settings.max_iterations, all_possible_transitions=True, model_filename=model_file,
            )
            crf.fit(self._rows(texts, feats), [spans_to_tags(t, g) for t, g in zip(texts, gold)])
            self._model_bytes = Path(model_file).read_bytes()
        self._tagger = None  # a refit replaces the model the tagger was opened on
        return self

    def save(self, path: str | Path) -> None:
        """CRFsuite's own model file (no pickle)."""
        from . import fileio

        with fileio.atomic_path(path) as tmp:
            tmp.write_bytes(self._model_bytes)

    @classmethod
    def load(cls, path: str | Path, settings: CrfSettings | None = None) -> "FeatureCRF":
        import pycrfsuite

        model = cls(settings)
        model._model_bytes = Path(path).read_bytes()
        model._tagger = pycrfsuite.Tagger()
        model._tagger.open(str(path))
        return model

    def _pycrfsuite_tagger(self):
        if self._tagger is None:
            if not self._model_bytes:
                raise RuntimeError("FeatureCRF used before fit or load")
            import pycrfsuite

            self._tagger = pycrfsuite.Tagger()
            self._tagger.open_inmemory(self._model_bytes)
        return self._tagger

    def marginals(self, texts: Sequence[str], tags: Sequence[str], feats: Sequence[dict] | None = None) -> list[np.ndarray]:
        """Per text, P(tag) for each content character, columns in the order of ``tags``."""
        tagger = self._pycrfsuite_tagger()
        known = set(tagger.labels())
        out = []
        for row in self._rows(texts, feats):
            if not row:
                out.append(np.zeros((0, len(tags))))
                continue
            tagger.set(row)
            out.append(np.array([[tagger.marginal(t, k) if t in known else 0.0 for t in tags] for k in range(len(row))]))
        return out

    def predict(
        self, texts: Sequence[str], documents: Sequence[str] | None = None, feats: Sequence[dict] | None = None
    ) -> list[list[Span]]:
        """Spans per text; with ``documents`` (a key per text, e.g. its source file) and consistency
        on, names found in one text of a document are also labelled in its other texts."""
        tagger = self._pycrfsuite_tagger()
        rows = self._rows(texts, feats)
        tags = [tagger.tag(row) if row else [] for row in rows]
        predicted = [tags_to_spans(t, tag_row) for t, tag_row in zip(texts, tags)]
        if self.settings.consistency:
            predicted = propagate_by_document(texts, predicted, documents or [str(i) for i in range(len(texts))])
        return predicted
