"""Run a trained network over texts of any length and get character spans with scores.

:class:`Scorer` turns texts into per-character tag scores (batched encoder windows, the network's CRF
marginals, the feature CRF mixed in); :class:`Tagger` turns those into scored entities. The model
directory itself is read by :mod:`civic_ner.model_dir`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .alignment import unit_encoder, unit_tags_to_spans
from .device import pick_device
from .types import LABELS, Entity, Span

SHAPE_BUCKET = 16
"""Window widths are rounded up to a multiple of this: a few tensor shapes instead of one per batch, since
the CPU kernels (oneDNN) cache compiled primitives per shape and streaming would otherwise grow memory."""


def window_batches(encoded: Sequence, batch_size: int) -> list[list[int]]:
    """Indices of the encoded texts with content, by number of windows, grouped so that a batch holds
    about ``batch_size`` encoder windows."""
    order = sorted((i for i, e in enumerate(encoded) if e.source), key=lambda i: len(encoded[i].windows))
    batches: list[list[int]] = []
    for i in order:
        if batches and sum(len(encoded[j].windows) for j in batches[-1]) + len(encoded[i].windows) <= batch_size:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches


class Scorer:
    """A trained network with its tokenizer and architecture: texts in, per-character tag scores out."""

    def __init__(
        self, net, tokenizer, arch, device=None, consistency: bool = True, crf=None, crf_weight: float = 0.0,
        consistency_labels: Sequence[str] = ("ORG", "PROGRAM"), crf_labels: Sequence[str] = LABELS,
    ) -> None:
        self.net = net
        self.tokenizer = tokenizer
        self.arch = arch
        self.tags = list(arch.tags)
        self.pieces = unit_encoder(tokenizer, arch.tokenization)
        self.device = pick_device(device) if device is None or isinstance(device, str) else device
        self.consistency = consistency
        self.consistency_labels = tuple(consistency_labels)
        self.crf = crf  # a FeatureCRF whose marginals are mixed in with ``crf_weight``
        self.crf_weight = crf_weight
        self.crf_labels = tuple(crf_labels)  # spans of these labels from the mix, the others from the network alone
        self.precision = "fp32"  # what the network runs in (set by Tagger.from_dir)

    # ------------------------------------------------------------ scores

    def encode(self, texts: Sequence[str], features: Sequence[dict] | None = None) -> list:
        from .dataset import featurize
        from .model import encode_text

        if features is None:
            features = featurize(texts)
        return [encode_text(t, self.pieces, self.arch, f) for t, f in zip(texts, features)]

    def emissions(
        self, texts: Sequence[str], batch_size: int = 32, features: Sequence[dict] | None = None, progress: bool = False
    ) -> list[np.ndarray]:
        """Per text, a (content characters x tags) array of the network's scores. Texts are batched
        by length so that one forward pass holds about ``batch_size`` encoder windows."""
        import torch

        from .model import collate

        encoded = self.encode(texts, features)
        batches = window_batches(encoded, batch_size)
        out: list[np.ndarray] = [np.zeros((0, len(self.tags)), dtype=np.float32) for _ in texts]
        iterator = batches
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc="predict", unit="batch", leave=False)
        was_training = self.net.training
        self.net.eval()
        with torch.inference_mode():
            for batch in iterator:
                tensors = collate([encoded[i] for i in batch], self.pieces.pad_id, bucket=SHAPE_BUCKET)
                scores = self.net.emissions({k: v.to(self.device) for k, v in tensors.items()}).float().cpu().numpy()
                for row, i in enumerate(batch):
                    out[i] = scores[row, : len(encoded[i].source)]
        if was_training:
            self.net.train()
        return out

    def marginals(self, texts: Sequence[str], batch_size: int = 32, features: Sequence[dict] | None = None) -> list[np.ndarray]:
        """Per text, the probability of each tag for each content character: the network's CRF
        marginals, mixed with the feature CRF's when the model has one (``crf_weight``)."""
        return [probs for probs, _ in self._scored(texts, batch_size, features)]

    def _scored(self, texts: Sequence[str], batch_size: int, features: Sequence[dict] | None, progress: bool = False):
        """(marginals, best path) per text. With ``crf_labels`` short of every label, the characters of
        spans taken from the network's own path keep its marginals, the others the mixed ones."""
        from .model import batch_marginals, viterbi

        if features is None:
            from .dataset import featurize

            features = featurize(texts)
        transitions = self.net.transitions()
        mixed = self.crf is not None and self.crf_weight > 0
        crf_probs = self.crf.marginals(texts, self.tags, features) if mixed else [None] * len(texts)
        out = []
        emissions = [scores.astype(np.float64) for scores in self.emissions(texts, batch_size, features, progress)]
        for scores, probs, extra in zip(emissions, batch_marginals(emissions, self.tags, transitions), crf_probs):
            if not len(scores):
                out.append((np.zeros((0, len(self.tags))), []))
                continue
            if mixed:
                own_probs, probs = probs, (1.0 - self.crf_weight) * probs + self.crf_weight * extra
                path = viterbi(np.log(np.clip(probs, 1e-12, None)), self.tags)  # BIO constraints only
                if set(self.crf_labels) != set(LABELS):
                    own = viterbi(scores, self.tags, transitions)
                    tags = paths_by_label([self.tags[j] for j in own], [self.tags[j] for j in path], self.crf_labels)
                    path = [self.tags.index(t) for t in tags]
                    from_mix = np.array([t != "O" and t[2:] in self.crf_labels for t in tags])
                    probs = np.where(from_mix[:, None], probs, own_probs)  # each character scored by what decided it
            else:
                path = viterbi(scores, self.tags, transitions)
            out.append((probs, path))
        return out


def paths_by_label(own: Sequence[str], mixed: Sequence[str], mixed_labels: Sequence[str]) -> list[str]:
    """One BIO path from two: the spans of ``mixed_labels`` from ``mixed`` (the feature-CRF mix), the
    others from ``own`` (the network alone), which wins where they overlap. The mix helps PROGRAM and
    costs ORG on province CV (bench/RESULTS.md): each label takes the path that reads it best."""
    out = [t if t == "O" or t[2:] not in mixed_labels else "O" for t in own]
    for span in unit_tags_to_spans([(k, k + 1) for k in range(len(mixed))], list(mixed)):
        if span.label in mixed_labels and all(t == "O" for t in out[span.start:span.end]):
            out[span.start:span.end] = [f"B-{span.label}"] + [f"I-{span.label}"] * (span.end - span.start - 1)
    return out


class Tagger(Scorer):
    """A :class:`Scorer` that reads its best tag paths as entities: texts in, character spans out."""

    @classmethod
    def from_dir(
        cls, path: str | Path, device: str | None = None, quantize: bool | None = None, precision: str | None = None
    ) -> "Tagger":
        """Load a model directory written by ``train.py``. ``precision`` is fp32, bf16 (encoder in
        bf16; fast on CPUs with AMX / AVX512-BF16), int8 (dynamic quantization of the Linear layers,
        CPU only) or auto; ``quantize=True`` means int8. With neither, the directory's ``civic_ner.json``
        decides (``"precision"``, written by ``civic-ner trim --int8/--bf16``), else auto (bf16 where it is
        fast, else fp32: :func:`civic_ner.device.resolve_precision`)."""
        from .model_dir import load

        m = load(path, device, quantize, precision)
        tagger = cls(m.net, m.tokenizer, m.arch, m.device, consistency=m.consistency, crf=m.crf,
                     crf_weight=m.crf_weight, consistency_labels=m.consistency_labels, crf_labels=m.crf_labels)
        tagger.precision = m.precision
        return tagger

    # ------------------------------------------------------------ spans

    def predict(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: bool = False,
        documents: Sequence[str] | None = None,
        features: Sequence[dict] | None = None,
    ) -> list[list[Entity]]:
        """Entities per text. With consistency on, a name predicted in one text is also labelled
        in the other texts of the same document (``documents``: a key per text; default: each text
        is its own document)."""
        from .alignment import char_units, unit_tags_to_spans
        from .span_rules import apply_span_rules

        if features is None:
            from .dataset import featurize

            features = featurize(texts)
        out: list[list[Entity]] = []
        scored = self._scored(texts, batch_size, features, progress)
        for text, feats, (probs, path) in zip(texts, features, scored):
            units = char_units(text)
            index = {u[0]: k for k, u in enumerate(units)}
            entities = []
            for span in unit_tags_to_spans(units, [self.tags[j] for j in path]):
                first, last = index[span.start], index[span.end - 1]
                score = float(np.mean([probs[k, path[k]] for k in range(first, last + 1)]))
                entities.append(Entity(span.start, span.end, span.label, score))
            make = lambda a, b, e: Entity(a, b, e.label, e.score)  # noqa: E731
            out.append(apply_span_rules(text, entities, make, feats.get("lac")))
        if self.consistency:
            out = _propagate_entities(texts, out, documents, self.consistency_labels)
        return out

    def predict_spans(
        self, texts: Sequence[str], batch_size: int = 32, documents: Sequence[str] | None = None,
        features: Sequence[dict] | None = None,
    ) -> list[list[Span]]:
        return [[e.span for e in doc] for doc in self.predict(texts, batch_size, documents=documents, features=features)]


def _propagate_entities(
    texts: Sequence[str], predicted: list[list[Entity]], documents: Sequence[str] | None, labels: Sequence[str]
) -> list[list[Entity]]:
    """Document consistency on entities: an added mention takes the best score of its surface."""
    from .consistency import propagate_by_document

    documents = documents if documents is not None else [str(i) for i in range(len(texts))]
    best: dict[tuple[str, str], float] = {}
    for text, doc in zip(texts, predicted):
        for e in doc:
            key = (text[e.start : e.end], e.label)
            best[key] = max(best.get(key, 0.0), e.score)
    spans = propagate_by_document(texts, [[e.span for e in doc] for doc in predicted], documents, labels)
    out = []
    for text, doc, kept in zip(texts, predicted, spans):
        known = {e.span: e for e in doc}
        out.append([known.get(s) or Entity(s.start, s.end, s.label, best.get((text[s.start:s.end], s.label), 0.0)) for s in kept])
    return out
