"""The pair encoder: a fine-tuned encoder that rereads every candidate pair of the linear relation model.

The linear model (:mod:`civic_ner.relation_model`) plateaus near F1 0.63 in province CV: what it
misses are semantic owner choices (which of two named programs a figure belongs to) that sparse
features cannot make. The pair encoder reads a section once with the encoder's first ``layers``
layers (started from the pretrained encoder, fine-tuned for relations only), pools each entity's
pieces (first piece and mean), and scores each candidate of
:func:`~civic_ner.relation_model.candidates` with a small MLP over both ends, their product, the
relation type, the entity labels, the distance and -- stacked -- the linear model's logit for the
pair, which also passes straight through (the MLP learns a correction, not the task from scratch).
The training sections' logits come from an inner CV by province, so the MLP learns how far to trust
them on text the linear model has not seen. With ``listwise`` (the default) the candidates of one
choice -- a number's possible owners, a part's wholes, a repeat's earlier mentions -- share a softmax
with a learned "none of these", the loss the decoding implies. The probability decoded is a mix of
the pair encoder's and the linear model's (``linear_share``: half and half), decoded as the linear
model decodes (one owner per number...): what province CV chose (bench/RESULTS.md, "Relations").
Two inputs measured there and left off by default: ``context`` (the mean of the encoder's vectors
between a pair's ends) and ``markers`` (every entity written between two ``*``). The network runs on
the tagger's device and in its precision (:meth:`PairRelationModel.placed`).

The word embeddings stay frozen (their optimizer step would cost more than the forward pass) and
are not saved: they are the model directory's encoder's, which ``freeze_embeddings`` keeps equal
to the pretrained ones (a trimmed serving copy keeps the rows its tokenizer can reach).
"""
from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .relation_model import CHOICES, Candidate, RelationModel, choice_key, featurized
from .relations import RELATION_TYPES as SCHEMA
from .relations import Relation
from .types import LABELS, Span

RELATION_TYPES = tuple(SCHEMA)
ENTITY_LABELS = tuple(LABELS)
DISTANCE_EDGES = (0, 5, 15, 40, 100, 250, 600, 10**9)
"""Character distance buckets between the two ends (the linear model has finer ones)."""
MAX_PIECES = 510
"""Pieces per encoder window (a longer section is read window by window)."""
MARKER = "*"
"""With ``markers``: written before and after every entity, so the encoder reads where the entities are.
The default tokenizer may merge it with a neighbouring space or punctuation mark (``▁*``, ``*)``) and
gives two entities that touch one ``**`` piece; each entity's pieces still run from marker to marker."""


def word_embedding_key(encoder: Any) -> str:
    """The state-dict name of an encoder's word embeddings (``embeddings.word_embeddings.weight`` for BERT)."""
    weight = encoder.get_input_embeddings().weight
    return next(name for name, p in encoder.named_parameters() if p is weight)


@dataclass(frozen=True)
class PairSettings:
    """How the pair encoder is built and fine-tuned (chosen by province CV: bench/relation_scorer.py)."""

    layers: int = 6
    epochs: int = 4
    encoder_lr: float = 3e-5
    head_lr: float = 1e-3
    hidden: int = 256
    dropout: float = 0.1
    inner_folds: int = 3
    listwise: bool = True  # one owner per number (whole per part, mention per repeat) learned as a choice
    linear_share: float = 0.5  # the linear model's share of the probability decoded (0.5: the mean of the two)
    context: bool = False  # the mean of the pieces between the two ends is an input of the MLP (not shipped: +0.3 in CV)
    markers: bool = False  # every entity is read between two MARKERs; its first piece holds the opening one

    @classmethod
    def from_saved(cls, saved: dict[str, Any]) -> "PairSettings":
        """The settings of a saved relations.json. A key written after the file was is read as off: the
        network it describes has no weights for it, whatever the defaults have become since."""
        return cls(**({"context": False, "markers": False} | saved))


Document = tuple[str, Sequence[Span], Sequence[Relation], str]
"""A training section: text, sorted spans, gold relations, and its group (province) for the inner CV."""


def build_net(encoder: Any, settings: PairSettings):
    """The pair network around ``encoder`` (a Hugging Face encoder model, its word embeddings frozen)."""
    import torch
    from torch import nn

    class PairNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.encoder.get_input_embeddings().weight.requires_grad_(False)
            size, h = encoder.config.hidden_size, settings.hidden
            self.end = nn.Sequential(nn.Linear(2 * size, h), nn.GELU(), nn.Dropout(settings.dropout))
            self.relation = nn.Embedding(len(RELATION_TYPES), 32)
            self.label = nn.Embedding(len(ENTITY_LABELS), 16)
            self.distance = nn.Embedding(len(DISTANCE_EDGES), 16)
            if settings.context:  # what the text between the two ends says
                self.between = nn.Sequential(nn.Linear(size, h), nn.GELU(), nn.Dropout(settings.dropout))
            width = 3 * h + 32 + 2 * 16 + 16 + 1 + (h if settings.context else 0)
            self.mlp = nn.Sequential(nn.Linear(width, h), nn.GELU(), nn.Dropout(settings.dropout), nn.Linear(h, 1))
            self.logit_weight = nn.Parameter(torch.ones(1))
            if settings.listwise:  # the logit of "none of these" per relation type
                self.null = nn.Parameter(torch.zeros(len(RELATION_TYPES)))

        def states(self, ids):
            """(pieces x H), fp32 whatever the encoder runs in: a bf16 encoder feeds the fp32 head."""
            return torch.cat([self.encoder(input_ids=ids[None, a:a + MAX_PIECES]).last_hidden_state[0]
                              for a in range(0, len(ids), MAX_PIECES)]).float()

        def between_vectors(self, states, pieces_of, pairs):
            """(pairs x H): the mean of the pieces strictly between the two ends (zeros when they touch)."""
            first = torch.tensor([p[0] for p in pieces_of], device=states.device)
            last = torch.tensor([p[-1] for p in pieces_of], device=states.device)
            s, t = pairs["source"], pairs["target"]
            left_first = first[s] <= first[t]
            start = torch.where(left_first, last[s], last[t]) + 1
            end = torch.where(left_first, first[t], first[s])
            count = (end - start).clamp(min=0)
            sums = torch.cat([states.new_zeros(1, states.shape[1]), states.cumsum(0)])
            return (sums[torch.maximum(end, start)] - sums[start]) / count.clamp(min=1)[:, None]

        def forward(self, ids, pieces_of, pairs):
            states = self.states(ids)
            vectors = torch.stack([torch.cat([states[p][0], states[p].mean(0)]) for p in pieces_of])
            ends = self.end(vectors)
            a, b = ends[pairs["source"]], ends[pairs["target"]]
            parts = [a, b, a * b, self.relation(pairs["relation"]), self.label(pairs["source_label"]),
                     self.label(pairs["target_label"]), self.distance(pairs["distance"]), pairs["logit"][:, None]]
            if settings.context:
                parts.append(self.between(self.between_vectors(states, pieces_of, pairs)))
            z = self.mlp(torch.cat(parts, dim=1))[:, 0]
            return z + self.logit_weight * pairs["logit"]

    return PairNet()


def _bin(n: int) -> int:
    return next(k for k, edge in enumerate(DISTANCE_EDGES) if n <= edge)


def marked(text: str, spans: Sequence[Span]) -> tuple[str, list[Span]]:
    """``text`` with a :data:`MARKER` before and after every entity (sorted, flat) and, per entity, its
    place in the marked text from its opening marker to its closing one."""
    parts, places, moved, at = [], [], 0, 0
    for s in spans:
        parts += [text[at:s.start], MARKER, text[s.start:s.end], MARKER]
        places.append(Span(s.start + moved, s.end + moved + 2, s.label))
        moved, at = moved + 2, s.end
    return "".join(parts) + text[at:], places


def encoded(tokenizer: Any, text: str, spans: Sequence[Span], markers: bool = False) -> tuple[list[int], list[list[int]]]:
    """Piece ids of ``text`` (no special tokens) and, per entity, the pieces overlapping it; with
    ``markers``, of the :func:`marked` text, each entity's pieces from the one holding its opening
    marker to the one holding its closing marker."""
    if markers:
        text, spans = marked(text, spans)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
    ids, offsets = enc["input_ids"], enc["offset_mapping"]
    pieces_of = []
    for s in spans:
        found = [k for k, (a, b) in enumerate(offsets) if a < s.end and b > s.start]
        if not found:  # inside a piece that starts earlier: the nearest piece before it
            found = [max([k for k, (a, _) in enumerate(offsets) if a <= s.start] or [0])]
        pieces_of.append(found)
    return ids, pieces_of


def pair_tensors(spans: Sequence[Span], cands: Sequence[Candidate], logits: Sequence[float],
                 gold: Sequence[int] | None = None) -> dict[str, Any]:
    import torch

    out = {
        "source": torch.tensor([c.source for c in cands]), "target": torch.tensor([c.target for c in cands]),
        "relation": torch.tensor([RELATION_TYPES.index(c.label) for c in cands]),
        "source_label": torch.tensor([ENTITY_LABELS.index(spans[c.source].label) for c in cands]),
        "target_label": torch.tensor([ENTITY_LABELS.index(spans[c.target].label) for c in cands]),
        "distance": torch.tensor([_bin(abs(spans[c.source].start - spans[c.target].start)) for c in cands]),
        "logit": torch.tensor(list(logits), dtype=torch.float32),
        "group": torch.tensor(choice_groups(spans, cands)),
    }
    if gold is not None:
        out["gold"] = torch.tensor(list(gold), dtype=torch.float32)
    return out


def placement(device: Any = None, precision: str | None = None) -> tuple[Any, str]:
    """(torch device, concrete precision) the pair encoder runs on: ``device``, else the CPU (a caller
    with a tagger passes the tagger's), in ``precision`` (auto: as the tagger would pick it there)."""
    from .device import resolved

    return resolved(device if device is not None else "cpu", precision)


def on_device(pairs: dict[str, Any], device: Any) -> dict[str, Any]:
    """:func:`pair_tensors` moved to the network's device."""
    return {k: v.to(device) for k, v in pairs.items()}


def choice_groups(spans: Sequence[Span], cands: Sequence[Candidate]) -> list[int]:
    """Per candidate, the choice it competes in (:func:`~civic_ner.relation_model.choice_key`), or -1 for runs / gives."""
    keys: dict[tuple, int] = {}
    return [keys.setdefault(choice_key(c, spans), len(keys)) if c.label in CHOICES else -1 for c in cands]


def _choices(z, pairs, null):
    """Per choice: its candidates' positions and the scores of "none of these" and of each of them."""
    import torch

    groups = pairs["group"]
    for g in torch.unique(groups[groups >= 0]).tolist():
        members = (groups == g).nonzero()[:, 0]
        yield members, torch.cat([null[pairs["relation"][members[:1]]], z[members]])


def probabilities(z, pairs, null=None):
    """Sigmoid of each logit; with ``null`` (listwise), a choice's candidates share a softmax with
    "none of these"."""
    import torch

    p = torch.sigmoid(z)
    if null is not None:
        for members, scores in _choices(z, pairs, null):
            p[members] = torch.softmax(scores, 0)[1:]
    return p


def loss_of(z, pairs, null=None):
    """Binary cross-entropy; with ``null``, the choices' cross-entropy over their candidates and "none"."""
    import torch

    independent = pairs["group"] < 0 if null is not None else torch.ones_like(pairs["gold"], dtype=torch.bool)
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z[independent], pairs["gold"][independent], reduction="sum")
    if null is not None:
        for members, scores in _choices(z, pairs, null):
            gold = pairs["gold"][members] > 0
            chosen = scores[1:][gold] if bool(gold.any()) else scores[:1]
            loss = loss + torch.logsumexp(scores, 0) - torch.logsumexp(chosen, 0)
    return loss


def mixed(pair: Sequence[float], linear: Sequence[float], linear_share: float) -> list[float]:
    """The probability decoded: the pair encoder's and the linear model's, ``linear_share`` of the latter."""
    return [(1 - linear_share) * p + linear_share * q for p, q in zip(pair, linear)]


def logit(p: float) -> float:
    p = min(1 - 1e-6, max(1e-6, p))
    return math.log(p / (1 - p))


Featurize = Callable[[str, Sequence[Span]], list]


def out_of_fold_logits(documents: Sequence[Document], rows: Sequence[list], folds: int, seed: int = 0) -> list[list[float]]:
    """Per document, the linear model's logit of each candidate (``rows``: each document's
    :func:`~civic_ner.relation_model.featurized`), from a model fitted without the document's group
    (an inner CV by province): what the MLP will see on new text."""
    groups = sorted({d[3] for d in documents})
    random.Random(seed).shuffle(groups)
    fold_of = [groups.index(d[3]) % max(1, min(folds, len(groups))) for d in documents]
    out: list[list[float]] = [[] for _ in documents]
    for fold in sorted(set(fold_of)):
        inner = [k for k, f in enumerate(fold_of) if f != fold] or list(range(len(documents)))
        linear = _fit_linear([documents[k] for k in inner], [rows[k] for k in inner])
        for k, f in enumerate(fold_of):
            if f == fold:
                out[k] = [logit(linear.probability(feats)) for _, feats in rows[k]]
    return out


def _fit_linear(documents: Sequence[Document], rows: Sequence[list]) -> RelationModel:
    return RelationModel().fit_featurized([gold for _, _, gold, _ in documents], rows)


class PairRelationModel:
    """The linear relation model and the pair encoder stacked on it; the same contract as
    :class:`~civic_ner.relation_model.RelationModel` (``predict(text, spans)``)."""

    name = "learned relation model + pair encoder"

    def __init__(self, linear: RelationModel, net: Any, tokenizer: Any, settings: PairSettings) -> None:
        self.linear, self.net, self.tokenizer, self.settings = linear, net, tokenizer, settings
        self.threshold = linear.threshold
        self.precision = "fp32"  # what the pair encoder runs in (:meth:`placed`)

    @property
    def device(self) -> Any:
        return next(self.net.parameters()).device

    def placed(self, device: Any = None, precision: str | None = None) -> "PairRelationModel":
        """The network where :func:`placement` says; a bf16 encoder feeds the fp32 head."""
        from .device import set_precision

        target, chosen = placement(device, precision)
        self.net = set_precision(self.net.to(target).eval(), chosen, target)
        self.precision = chosen
        return self

    @classmethod
    def fit(cls, documents: Sequence[Document], encoder: Any, tokenizer: Any, settings: PairSettings = PairSettings(),
            seed: int = 13, featurize: Featurize = featurized, log=print, progress: bool = False,
            device: Any = None) -> "PairRelationModel":
        """Fit the linear model on ``documents``, their out-of-fold logits, then fine-tune ``encoder``
        (a fresh Hugging Face encoder: the pretrained one, cut to ``settings.layers``) with the pair head,
        on ``device`` (default: CPU), in fp32."""
        import torch

        with torch.random.fork_rng():  # seeded here, the caller's random state untouched
            torch.manual_seed(seed)
            return cls._fit(documents, encoder, tokenizer, settings, seed, featurize, log, progress, device)

    @classmethod
    def _fit(cls, documents, encoder, tokenizer, settings, seed, featurize, log, progress, device) -> "PairRelationModel":
        import torch

        rows = [featurize(text, spans) for text, spans, _, _ in documents]
        linear = _fit_linear(documents, rows)
        logits = out_of_fold_logits(documents, rows, settings.inner_folds)
        model = cls(linear, build_net(encoder, settings), tokenizer, settings).placed(device, "fp32")
        data = []
        for (text, spans, gold, _), section, doc_logits in zip(documents, rows, logits):
            cands = [c for c, _ in section]
            if cands:
                wanted = {(g.source, g.target, g.label) for g in gold}
                ids, pieces = encoded(tokenizer, text, spans, settings.markers)
                labels = [int((c.source, c.target, c.label) in wanted) for c in cands]
                data.append((torch.tensor(ids), pieces, pair_tensors(spans, cands, doc_logits, labels)))
        model._fine_tune(data, seed, log, progress)
        return model

    def _fine_tune(self, data: list, seed: int, log, progress: bool = False) -> None:
        import sys

        import torch
        from tqdm.auto import tqdm

        settings, net = self.settings, self.net
        encoder_params = [p for p in net.encoder.parameters() if p.requires_grad]
        head_params = [p for n, p in net.named_parameters() if not n.startswith("encoder.")]
        optimizer = torch.optim.AdamW([{"params": encoder_params, "lr": settings.encoder_lr},
                                       {"params": head_params, "lr": settings.head_lr}], weight_decay=0.01)
        steps = max(1, settings.epochs * len(data))
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda k: min(1.0, (k + 1) / max(1, steps // 10)) * max(0.0, (steps - k) / steps))
        order = random.Random(seed)
        net.train()
        bar = tqdm(total=steps, desc="relations", unit="section", file=sys.stderr, dynamic_ncols=True, disable=not progress)
        device = self.device
        for epoch in range(settings.epochs):
            order.shuffle(data)
            total = 0.0
            for ids, pieces, pairs in data:
                ids, pairs = ids.to(device), on_device(pairs, device)
                # summed over a section's candidates, scaled to a typical section's positives (about 16)
                loss = loss_of(net(ids, pieces, pairs), pairs, getattr(net, "null", None)) / 16.0
                loss.backward()
                torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                total += loss.item()
                bar.update(1)
            bar.set_postfix(epoch=epoch + 1, loss=f"{total / max(1, len(data)):.3f}")
            log(f"relation pair encoder: epoch {epoch + 1}/{settings.epochs}, loss {total / max(1, len(data)):.3f}")
        bar.close()
        net.eval()

    def scored(self, text: str, spans: Sequence[Span], featurize: Featurize = featurized) -> list[tuple[float, Candidate]]:
        """(probability, candidate) for every candidate of one section: the pair encoder's and the
        linear model's probabilities mixed (``settings.linear_share`` of the linear model's)."""
        cands, pair, linear = self.scored_apart(text, spans, featurize)
        return list(zip(mixed(pair, linear, self.settings.linear_share), cands))

    def scored_apart(self, text: str, spans: Sequence[Span], featurize: Featurize = featurized):
        """The candidates, the pair encoder's probabilities and the linear model's, unmixed (the CV's rows)."""
        import torch

        rows = featurize(text, spans)
        if not rows:
            return [], [], []
        cands = [c for c, _ in rows]
        linear = [self.linear.probability(f) for _, f in rows]
        ids, pieces = encoded(self.tokenizer, text, spans, self.settings.markers)
        self.net.eval()
        with torch.inference_mode():
            pairs = on_device(pair_tensors(spans, cands, [logit(p) for p in linear]), self.device)
            z = self.net(torch.tensor(ids, device=self.device), pieces, pairs)
            p = probabilities(z, pairs, getattr(self.net, "null", None))
        return cands, p.cpu().tolist(), linear

    def predict(self, text: str, spans: Sequence[Span]) -> list[Relation]:
        """Relations over ``spans`` (sorted) of one section, decoded as the linear model decodes."""
        return self.linear.decode(spans, self.scored(text, spans), text)

    # ------------------------------------------------------------ persistence (model_dir owns the files)

    def to_json(self) -> dict[str, Any]:
        """The linear model's JSON with the pair encoder's settings and encoder config beside it."""
        return {**self.linear.to_json(), "pair_encoder": {"settings": asdict(self.settings),
                                                          "encoder_config": self.net.encoder.config.to_dict()}}

    def state(self) -> dict[str, Any]:
        """The pair network's weights without the (frozen, shared) word embeddings; fp32 only (a bf16
        or int8 network's weights are not the trained ones, and :meth:`restore` reads fp32)."""
        if self.precision != "fp32":
            raise ValueError(f"the pair encoder runs in {self.precision}: save it from an fp32 load "
                             "(load_relation_model(path, precision='fp32'))")
        shared = "encoder." + word_embedding_key(self.net.encoder)
        return {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items() if k != shared}

    @classmethod
    def restore(cls, linear: RelationModel, settings: PairSettings, state: dict[str, Any], encoder: Any,
                tokenizer: Any) -> "PairRelationModel":
        """From the linear model, the settings, the pair network's full weights (:meth:`state` and the
        word embeddings), a bare encoder of the saved shape and the tokenizer."""
        net = build_net(encoder, settings)
        expected = net.state_dict()
        missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
        misshapen = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
        if missing or unexpected or misshapen:
            raise ValueError(f"the pair encoder's weights do not fit: missing {missing[:2]}, unexpected {unexpected[:2]}, "
                             f"other shapes {misshapen[:2]}")
        net.load_state_dict(state)
        net.eval()
        return cls(linear, net, tokenizer, settings)


class DeferredRelationModel:
    """A pair relation model loaded on its first use: a user who never asks for facts never pays for
    the pair encoder's load (a second encoder's weights), and loading a model stays fast. A load that
    failed fails again at once, with the same error, without reading the files again."""

    name = PairRelationModel.name

    def __init__(self, loader: Callable[[], PairRelationModel]) -> None:
        self._loader = loader
        self._model: PairRelationModel | None = None
        self._error: Exception | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> PairRelationModel:
        with self._lock:  # the Label Studio backend answers from several threads
            if self._error is not None:
                raise self._error
            if self._model is None:
                try:
                    self._model = self._loader()
                except Exception as exc:
                    self._error = exc
                    raise
        return self._model

    def predict(self, text: str, spans: Sequence[Span]) -> list[Relation]:
        return self.model.predict(text, spans)

    def scored(self, text: str, spans: Sequence[Span]) -> list[tuple[float, Candidate]]:
        return self.model.scored(text, spans)

    def to_json(self) -> dict[str, Any]:
        return self.model.to_json()

    def state(self) -> dict[str, Any]:
        return self.model.state()
