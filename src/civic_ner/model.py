"""The tagger network: a pretrained encoder read per character, fused with lexical features, under a CRF.

Why this shape (each part has an ablation row in bench/RESULTS.md):

* The encoder reads its **own subword pieces** (the text it was pretrained on); each character then
  takes the vector of the piece that holds it plus its position in that piece (B/I/E/S). Decisions
  are made per character, so every gold boundary stays expressible, also the few that fall inside a
  piece.
* **Feature embeddings** (LAC word/POS tags, rule matches, quotation context, lexicon, character
  shape; :mod:`civic_ner.features`) are concatenated to each character's vector: signals that a few
  hundred spans cannot teach an encoder, but that transfer across provinces.
* A **BiLSTM** lets those features see their neighbours, and a **CRF** output layer scores whole tag
  sequences (pytorch-crf for the likelihood; decoding adds the BIO constraints).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .alignment import IGNORE, Window, bio_labels, content_positions, make_windows, spans_to_tags
from .features import FEATURE_GROUPS, LEXICAL_GROUPS, with_lexical
from .types import Span

POSITIONS = ("S", "B", "I", "E")
"""Where a character sits in its encoder piece."""
UNK = "<unk>"


@dataclass
class Architecture:
    """What a model directory needs to rebuild the network around its encoder (saved in civic_ner.json)."""

    tags: list[str] = field(default_factory=bio_labels)
    tokenization: str = "subword"  # subword: the encoder's own pieces; char: one character per piece
    features: list[str] = field(default_factory=lambda: list(FEATURE_GROUPS))
    feature_vocab: dict[str, list[str]] = field(default_factory=dict)  # group -> values (index 0 = <unk>)
    feature_dim: int = 16
    lstm_hidden: int = 128  # per direction; 0 = no BiLSTM
    crf: bool = True
    dropout: float = 0.2
    max_length: int = 256
    stride: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, obj: dict[str, Any]) -> "Architecture":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in obj.items() if k in known})


def build_feature_vocab(feature_rows: Sequence[dict[str, list[str]]], groups: Sequence[str]) -> dict[str, list[str]]:
    """Values seen in training per group (character n-grams: seen twice); index 0 is kept for unseen values."""
    from collections import Counter

    vocab = {}
    for g in groups:
        counts = Counter(v for row in feature_rows for v in row[g])
        least = 2 if g in LEXICAL_GROUPS else 1
        vocab[g] = [UNK, *sorted(v for v, n in counts.items() if n >= least)]
    return vocab


# ---------------------------------------------------------------- text -> model inputs


@dataclass
class EncodedText:
    """One text as the network reads it: encoder windows and, per content character, where its
    vector comes from (window, token), its position in its piece, its feature ids and gold tag."""

    windows: list[Window]
    source: list[tuple[int, int]]  # per content character: (window index within this text, token index)
    piece_position: list[int]
    feature_ids: list[list[int]]  # per content character, one id per feature group
    tag_ids: list[int] | None = None


def piece_positions(char_unit: Sequence[int]) -> list[int]:
    out = []
    for k, unit in enumerate(char_unit):
        first = k == 0 or char_unit[k - 1] != unit
        last = k == len(char_unit) - 1 or char_unit[k + 1] != unit
        out.append(POSITIONS.index("S" if first and last else "B" if first else "E" if last else "I"))
    return out


def char_units_of(text: str, units: Sequence[tuple[int, int]]) -> list[int]:
    """Unit index of each content character. A character no unit covers (dropped by the tokenizer's
    normalizer) joins the unit before it, or the first unit."""
    positions = content_positions(text)
    out = []
    u = 0
    for p in positions:
        while u + 1 < len(units) and units[u][1] <= p:
            u += 1
        out.append(u)
    return out


def central_sources(n_units: int, windows: Sequence[Window]) -> list[tuple[int, int]]:
    """For each unit, the (window, token) of its last token in the window where it sits farthest
    from an edge: the merge of overlapping windows. The last
    token, because a unit can start with a bare ``▁`` piece (a space before it) that says nothing."""
    best: list[tuple[int, int] | None] = [None] * n_units
    margin_of = [-1] * n_units
    for k, window in enumerate(windows):
        last: dict[int, int] = {}
        for t, u in enumerate(window.owner):
            if u >= 0:
                last[u] = t
        for u, t in last.items():
            margin = min(u - window.char_start, window.char_end - 1 - u)
            if margin > margin_of[u]:
                margin_of[u], best[u] = margin, (k, t)
    missing = [u for u, b in enumerate(best) if b is None]
    if missing:
        raise ValueError(f"units {missing[:5]} are in no window")
    return best  # type: ignore[return-value]


def encode_text(
    text: str,
    pieces,
    arch: Architecture,
    features: dict[str, list[str]],
    spans: Sequence[Span] | None = None,
) -> EncodedText:
    """``pieces`` is a :func:`civic_ner.alignment.unit_encoder` of the model's tokenizer."""
    ids, owner, units = pieces.encode_units(text)
    positions = content_positions(text)
    if not positions or not ids:
        return EncodedText([], [], [], [], [] if spans is not None else None)
    windows = make_windows(0, ids, owner, arch.max_length, arch.stride, pieces.cls_id, pieces.sep_id)
    char_unit = char_units_of(text, units)
    if any(g in LEXICAL_GROUPS for g in arch.features):
        features = with_lexical(text, features)
    unit_source = central_sources(len(units), windows)
    vocab_index = {g: {v: i for i, v in enumerate(arch.feature_vocab[g])} for g in arch.features}
    feature_ids = [[vocab_index[g].get(features[g][p], 0) for g in arch.features] for p in positions]
    tag_ids = None
    if spans is not None:
        tag_index = {t: i for i, t in enumerate(arch.tags)}
        tag_ids = [tag_index[t] for t in spans_to_tags(text, spans)]
    return EncodedText(windows, [unit_source[u] for u in char_unit], piece_positions(char_unit), feature_ids, tag_ids)


def collate(batch: Sequence[EncodedText], pad_id: int, bucket: int = 1) -> dict[str, Any]:
    """Tensors for the network: all windows of the batch stacked, and per character a flat index into
    their token vectors. ``bucket`` rounds the window width up (few tensor shapes: see
    :func:`civic_ner.prediction.padded_width`)."""
    import torch

    windows = [w for item in batch for w in item.windows]
    width = max((len(w.input_ids) for w in windows), default=1)
    width = -(-width // bucket) * bucket
    input_ids = torch.full((max(len(windows), 1), width), pad_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for row, w in enumerate(windows):
        input_ids[row, : len(w.input_ids)] = torch.tensor(w.input_ids)
        attention[row, : len(w.input_ids)] = 1
    n = max((len(item.source) for item in batch), default=1) or 1
    groups = len(batch[0].feature_ids[0]) if batch and batch[0].feature_ids else 0
    gather = torch.zeros((len(batch), n), dtype=torch.long)
    position = torch.zeros((len(batch), n), dtype=torch.long)
    feats = torch.zeros((len(batch), n, groups), dtype=torch.long)
    mask = torch.zeros((len(batch), n), dtype=torch.bool)
    tags = torch.zeros((len(batch), n), dtype=torch.long)
    offset = 0
    for b, item in enumerate(batch):
        k = len(item.source)
        if k:
            gather[b, :k] = torch.tensor([(offset + w) * width + t for w, t in item.source])
            position[b, :k] = torch.tensor(item.piece_position)
            if groups:
                feats[b, :k] = torch.tensor(item.feature_ids)
            mask[b, :k] = True
            if item.tag_ids is not None:
                tags[b, :k] = torch.tensor(item.tag_ids)
        offset += len(item.windows)
    return {"input_ids": input_ids, "attention_mask": attention, "gather": gather, "position": position,
            "features": feats, "mask": mask, "tags": tags}


# ---------------------------------------------------------------- the network


def _torch_module():
    import torch
    from torch import nn

    class TaggerNet(nn.Module):
        def __init__(self, encoder, arch: Architecture) -> None:
            super().__init__()
            self.encoder = encoder
            self.arch = arch
            hidden = encoder.config.hidden_size
            self.position_embedding = nn.Embedding(len(POSITIONS), 16)
            self.feature_embeddings = nn.ModuleList(
                nn.Embedding(len(arch.feature_vocab[g]), arch.feature_dim) for g in arch.features
            )
            width = hidden + 16 + arch.feature_dim * len(arch.features)
            self.dropout = nn.Dropout(arch.dropout)
            self.lstm = None
            if arch.lstm_hidden:
                self.lstm = nn.LSTM(width, arch.lstm_hidden, batch_first=True, bidirectional=True)
                width = 2 * arch.lstm_hidden
            self.classifier = nn.Linear(width, len(arch.tags))
            self.crf = None
            if arch.crf:
                from torchcrf import CRF

                self.crf = CRF(len(arch.tags), batch_first=True)

        def head_parameters(self):
            return [p for n, p in self.named_parameters() if not n.startswith("encoder.")]

        def char_vectors(self, batch: dict[str, Any]):
            """(batch, characters, hidden): each character's encoder vector, read from its window."""
            out = self.encoder(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            flat = out.reshape(-1, out.shape[-1])
            return flat[batch["gather"].reshape(-1)].reshape(*batch["gather"].shape, -1).float()

        def head(self, chars, batch: dict[str, Any]):
            """Emission scores from character vectors + piece position + feature embeddings."""
            parts = [chars, self.position_embedding(batch["position"])]
            for g, embedding in enumerate(self.feature_embeddings):
                parts.append(embedding(batch["features"][..., g]))
            x = self.dropout(torch.cat(parts, dim=-1))
            if self.lstm is not None:
                x = self.dropout(bidirectional_lstm(self.lstm, x, batch["mask"]))
            return self.classifier(x)

        def emissions(self, batch: dict[str, Any]):
            return self.head(self.char_vectors(batch), batch)

        def loss(self, batch: dict[str, Any], weights=None, chars=None):
            """Mean loss per character; ``weights`` (one per sequence) scale each sequence's share;
            ``chars`` (precomputed character vectors) skip the encoder."""
            scores = self.head(chars, batch) if chars is not None else self.emissions(batch)
            mask = batch["mask"]
            if weights is None:
                weights = torch.ones(mask.shape[0], device=mask.device)
            if self.crf is not None:
                per_sequence = -self.crf(scores, batch["tags"], mask=mask, reduction="none")
            else:
                gold = batch["tags"].masked_fill(~mask, IGNORE)
                per_char = nn.functional.cross_entropy(scores.transpose(1, 2), gold, ignore_index=IGNORE, reduction="none")
                per_sequence = per_char.sum(dim=1)
            # a long piece weighs what its characters weigh
            return (weights * per_sequence).sum() / (weights * mask.sum(dim=1)).sum().clamp(min=1)

        def transitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
            if self.crf is None:
                return None
            return (
                self.crf.start_transitions.detach().float().cpu().numpy(),
                self.crf.transitions.detach().float().cpu().numpy(),
                self.crf.end_transitions.detach().float().cpu().numpy(),
            )

    return TaggerNet


def bidirectional_lstm(lstm, x, mask):
    """A one-layer bidirectional ``nn.LSTM`` over padded rows, equal to packing them: the forward
    direction reads each row as it is (its padding comes last), the backward one reads it reversed
    within its length; padding positions are zero. Unpacked, torch runs its fused CPU kernel: a
    probe step 1.5-1.75x faster than with packed sequences (bench/results/lstm_head.json), the same weights."""
    import torch

    steps = torch.arange(x.shape[1], device=x.device)
    reverse = mask.sum(dim=1, keepdim=True) - 1 - steps[None, :]
    valid = reverse >= 0
    order = torch.where(valid, reverse, steps[None, :])  # padding stays where it is

    def gather(t):
        return torch.gather(t, 1, order[..., None].expand(-1, -1, t.shape[-1]))

    def run(inputs, suffix: str):
        weights = [getattr(lstm, f"{name}_l0{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
        state = inputs.new_zeros(1, inputs.shape[0], lstm.hidden_size)
        return torch.lstm(inputs, (state, state), weights, True, 1, 0.0, lstm.training, False, True)[0]

    both = torch.cat([run(x, ""), gather(run(gather(x), "_reverse"))], dim=-1)
    return both * valid[..., None].to(both.dtype)


def build_network(encoder, arch: Architecture):
    return _torch_module()(encoder, arch)


# ---------------------------------------------------------------- decoding


def bio_mask(tags: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(allowed[prev, cur], allowed_start) under IOB2: I-X only after B-X or I-X."""
    k = len(tags)
    allowed = np.ones((k, k), dtype=bool)
    start_ok = np.ones(k, dtype=bool)
    for j, tag in enumerate(tags):
        if tag.startswith("I-"):
            start_ok[j] = False
            for i, prev in enumerate(tags):
                allowed[i, j] = prev != "O" and prev[2:] == tag[2:]
    return allowed, start_ok


def viterbi(emissions: np.ndarray, tags: Sequence[str], transitions=None) -> list[int]:
    """Best tag path under the BIO constraints: emissions plus, with a CRF, its learned transitions."""
    n, k = emissions.shape
    if n == 0:
        return []
    allowed, start_ok = bio_mask(tags)
    start = np.zeros(k)
    trans = np.zeros((k, k))
    end = np.zeros(k)
    if transitions is not None:
        start, trans, end = transitions
    trans = np.where(allowed, trans, -np.inf)
    best = np.where(start_ok, start + emissions[0], -np.inf)
    back = np.zeros((n, k), dtype=np.int64)
    for t in range(1, n):
        total = best[:, None] + trans
        back[t] = total.argmax(axis=0)
        best = total.max(axis=0) + emissions[t]
    best = best + end
    path = [int(best.argmax())]
    for t in range(n - 1, 0, -1):
        path.append(int(back[t, path[-1]]))
    return path[::-1]


def _logsumexp(x: np.ndarray, axis: int) -> np.ndarray:
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(x - m), axis=axis))


def marginals(emissions: np.ndarray, tags: Sequence[str], transitions=None) -> np.ndarray:
    """Per-character tag probabilities: forward-backward over the constrained CRF (or a softmax of
    the emissions without one). They give entity confidences and the uncertainty of `suggest`."""
    n, k = emissions.shape
    if n == 0:
        return np.zeros((0, k))
    if transitions is None:
        z = emissions - emissions.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)
    start, trans, end = transitions
    allowed, start_ok = bio_mask(tags)
    trans = np.where(allowed, trans, -np.inf)
    alpha = np.zeros((n, k))
    beta = np.zeros((n, k))
    alpha[0] = np.where(start_ok, start + emissions[0], -np.inf)
    for t in range(1, n):
        alpha[t] = _logsumexp(alpha[t - 1][:, None] + trans, axis=0) + emissions[t]
    beta[n - 1] = end
    for t in range(n - 2, -1, -1):
        beta[t] = _logsumexp(trans + (emissions[t + 1] + beta[t + 1])[None, :], axis=1)
    log_z = _logsumexp(alpha[n - 1] + end, axis=0)
    return np.exp(alpha + beta - log_z)


MARGINAL_GROUP = 64
"""Texts run through one padded forward-backward of :func:`batch_marginals` (sorted by length first)."""


def batch_marginals(emissions: Sequence[np.ndarray], tags: Sequence[str], transitions=None) -> list[np.ndarray]:
    """:func:`marginals` of many texts at once, equal to it to float precision: the texts of similar
    length are padded into one array and run through one forward-backward in probability space with a
    rescaling per position -- a few numpy calls per position for the whole group instead of a dozen per
    position per text (the Python loop, not the arithmetic, was the cost)."""
    if transitions is None:
        return [marginals(e, tags) for e in emissions]
    out: list[np.ndarray] = [np.zeros((0, len(tags))) for _ in emissions]
    order = sorted((i for i, e in enumerate(emissions) if len(e)), key=lambda i: len(emissions[i]))
    for first in range(0, len(order), MARGINAL_GROUP):
        group = order[first:first + MARGINAL_GROUP]
        for i, probs in zip(group, _scaled_forward_backward([emissions[i] for i in group], tags, transitions)):
            out[i] = probs if probs is not None else marginals(emissions[i], tags, transitions)
    return out


def _scaled_forward_backward(emissions: Sequence[np.ndarray], tags: Sequence[str], transitions) -> list[np.ndarray | None]:
    """Marginals of a group of texts (None for a text whose scaled sums underflowed: the caller takes
    the log-space :func:`marginals`). Constant factors per position cancel when rows are normalized."""
    start, trans, end = (np.asarray(x, dtype=np.float64) for x in transitions)
    allowed, start_ok = bio_mask(tags)
    a_matrix = np.where(allowed, np.exp(np.where(allowed, trans, -np.inf) - trans[allowed].max()), 0.0)
    start_p = np.where(start_ok, np.exp(start - start.max()), 0.0)
    end_p = np.exp(end - end.max())
    end_p = end_p / end_p.sum()
    lengths = np.array([len(e) for e in emissions])
    b, t_max, k = len(emissions), int(lengths.max()), len(tags)
    probs = np.ones((b, t_max, k))
    for row, em in enumerate(emissions):
        em = np.asarray(em, dtype=np.float64)
        probs[row, : len(em)] = np.exp(em - em.max(axis=1, keepdims=True))
    alpha = np.empty((b, t_max, k))
    with np.errstate(divide="ignore", invalid="ignore"):
        step = start_p * probs[:, 0]
        alpha[:, 0] = step = step / step.sum(axis=1, keepdims=True)
        for t in range(1, t_max):
            step = (step @ a_matrix) * probs[:, t]
            alpha[:, t] = step = step / step.sum(axis=1, keepdims=True)
        beta = np.empty((b, t_max, k))
        beta[:, t_max - 1] = step = np.broadcast_to(end_p, (b, k))
        for t in range(t_max - 2, -1, -1):
            inner = (probs[:, t + 1] * step) @ a_matrix.T
            inner = inner / inner.sum(axis=1, keepdims=True)
            beta[:, t] = step = np.where((t < lengths - 1)[:, None], inner, end_p)
        joint = alpha * beta
        joint = joint / joint.sum(axis=2, keepdims=True)
    return [joint[row, :n] if np.isfinite(joint[row, :n]).all() else None for row, n in enumerate(lengths)]
