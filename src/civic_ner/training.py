"""Fine-tune the tagger network (encoder + features + BiLSTM + CRF).

:func:`fit` is the recipe (shared by ``train.py``, cross-validation and the learning curve);
:func:`train` adds the data splits, evaluation and the model directory (written by
:func:`civic_ner.model_dir.save`, all or nothing).
"""
from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import fileio, model_dir
from .config import TrainConfig
from .corpus import Record, data_hash, document_of
from .dataset import DataError
from .evaluation import bootstrap_f1, grouped_scores, span_scores
from .features import with_lexical
from .model import Architecture, build_feature_vocab, collate, encode_text
from .types import Span

Example = tuple[Record, dict[str, list[str]]]
"""A section and its feature groups (see :mod:`civic_ner.dataset`)."""

def set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_examples(data_dir: str | Path, written: bool = True) -> dict[str, list[Example]]:
    """train/dev/test (required, non-empty, known labels), and the written training splits
    (synthetic, grounded; skipped with ``written=False``) and province_test when present."""
    from .dataset import load_corpus, to_examples

    data_dir = Path(data_dir)
    for split in ("train", "dev", "test"):
        if not (data_dir / f"{split}.jsonl").exists():
            raise DataError(f"{data_dir / (split + '.jsonl')}: not found (run `civic-ner corpus build`)")
    corpus = load_corpus(data_dir)
    out: dict[str, list[Example]] = {}
    for split in ("train", "dev", "test", "synthetic", "grounded", "province_test"):
        if split in WRITTEN_SPLITS and not written:
            continue
        if split not in corpus:
            if split in ("train", "dev", "test"):
                raise DataError(f"{data_dir / (split + '.jsonl')}: the {split} split is empty")
            continue
        out[split] = to_examples(corpus[split])
    return out


WRITTEN_SPLITS = ("synthetic", "grounded")
"""Text we wrote: training-only, never dev, test or a CV test fold of the seeds."""


def written_for(config: TrainConfig, splits: dict[str, list[Example]]) -> list[Example]:
    """The written training text a recipe uses: synthetic and grounded items, each capped by the
    config (``*_items``); a cap takes items round-robin over provinces, so 100 items span them all."""
    out: list[Example] = []
    for split, use, cap in (("synthetic", config.synthetic, config.synthetic_items),
                            ("grounded", config.grounded, config.grounded_items)):
        if not use:
            continue
        if not splits.get(split):
            raise DataError(f"{Path(config.data_dir) / (split + '.jsonl')}: {split}: true but there is no {split} split")
        out += _round_robin(splits[split])[: cap or None]
    return out


def _round_robin(examples: Sequence[Example]) -> list[Example]:
    """Items ordered first of each province, second of each, ... (ids break ties): stable caps."""
    rank: dict[str, int] = {}
    keyed = []
    for ex in sorted(examples, key=lambda ex: ex[0].id):
        province = str(ex[0].meta.get("province", ""))
        keyed.append((rank.get(province, 0), ex[0].id, ex))
        rank[province] = rank.get(province, 0) + 1
    return [ex for _, _, ex in sorted(keyed, key=lambda k: (k[0], k[1]))]


def training_pieces(example: Example, max_chars: int) -> list[Example]:
    """Cut a section at line breaks into pieces of at most about ``max_chars`` (a longer line stays
    whole; spans never cross a line). More, shorter pieces: more optimizer steps on a small corpus."""
    record, feats = example
    text = record.text
    if len(text) <= max_chars:
        return [example]
    bounds, start = [], 0
    for line in re.finditer(r"[^\n]*\n|[^\n]+$", text):
        if line.end() - start > max_chars and line.start() > start:
            bounds.append((start, line.start()))
            start = line.start()
    bounds.append((start, len(text)))
    pieces = []
    for a, b in bounds:
        if not text[a:b].strip():
            continue
        spans = [Span(s.start - a, s.end - a, s.label) for s in record.spans if a <= s.start and s.end <= b]
        piece = Record(f"{record.id}@{a}", text[a:b], spans, record.source, record.meta)
        pieces.append((piece, {g: values[a:b] for g, values in feats.items()}))
    return pieces


@dataclass
class FitResult:
    net: Any
    tokenizer: Any
    arch: Architecture
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    device: str = "cpu"
    crf: Any = None  # the feature CRF mixed in at prediction (config crf_ensemble)
    relations: Any = None  # the learned relation model (config relation_model), saved as relations.json

    def tagger(self, config: TrainConfig):
        from .prediction import Tagger

        return Tagger(self.net, self.tokenizer, self.arch, self.device, consistency=config.consistency,
                      crf=self.crf, crf_weight=config.crf_ensemble, consistency_labels=config.consistency_labels,
                      crf_labels=config.crf_ensemble_labels)


def _layer_of(name: str) -> int | None:
    """Encoder layer number of a parameter (embeddings = -1), or None for anything else."""
    if name.startswith("embeddings.") or ".embeddings." in name:
        return -1
    match = re.search(r"(?:^|\.)layers?\.(\d+)\.", name)
    return int(match.group(1)) if match else None


def parameter_groups(net, config: TrainConfig) -> list[dict[str, Any]]:
    """Layer-wise learning-rate decay over the encoder (the top layer gets ``learning_rate``, each
    layer below ``layer_decay`` times the one above, the embeddings one step below layer 0); the head
    has its own rate; no weight decay on biases and LayerNorm weights."""
    named = [(n, p) for n, p in net.encoder.named_parameters() if p.requires_grad]
    top = max((layer for n, _ in named if (layer := _layer_of(n)) is not None), default=0)
    groups: dict[tuple[float, float], list] = {}
    for name, param in named:
        layer = _layer_of(name)
        depth = 0 if layer is None else top - layer
        lr = config.learning_rate * config.layer_decay**depth
        decay = 0.0 if ("bias" in name or "LayerNorm" in name or "layer_norm" in name) else config.weight_decay
        groups.setdefault((lr, decay), []).append(param)
    out = [{"params": ps, "lr": lr, "weight_decay": wd} for (lr, wd), ps in groups.items()]
    out.append({"params": net.head_parameters(), "lr": config.head_learning_rate, "weight_decay": 0.0})
    return out


def fit(
    config: TrainConfig,
    train: Sequence[Example],
    dev: Sequence[Example] | None = None,
    written: Sequence[Example] = (),
    log: Callable[[str], None] = print,
    progress: bool = True,
) -> FitResult:
    """The training recipe: pieces of sections, AdamW with layer-wise decay, linear warm-up and decay,
    a fixed number of epochs (or the best dev epoch), optional averaging of the last epochs."""
    from .prediction import Tagger

    device, tokenizer, arch, net, encoded, pad_id = _prepare(config, train, written)
    log(
        f"device {device} | encoder {config.model} ({config.tokenization}) | {len(train)} sections + "
        f"{len(written)} written -> {len(encoded)} pieces | fine-tuning: {-(-len(encoded) // config.batch_size)} "
        f"steps/epoch x {config.epochs}"
    )
    history: list[dict[str, Any]] = []
    if config.probe_epochs:
        history += probe(net, encoded, config, pad_id, device, log, progress)
    tagger = Tagger(net, tokenizer, arch, device, consistency=config.consistency,
                    consistency_labels=config.consistency_labels)

    def dev_f1() -> float:
        predicted = tagger.predict_spans([r.text for r, _ in dev], documents=[document_of(r) for r, _ in dev],
                                         features=[f for _, f in dev])
        return span_scores([r.spans for r, _ in dev], predicted)["micro"]["f1"]

    if dev and history:  # history so far: the probe's epochs
        history[-1]["dev_f1"] = dev_f1()
        log(f"after the probe: dev micro F1 {history[-1]['dev_f1']:.4f}")
    best_epoch = fine_tune(net, encoded, config, pad_id, device, dev_f1 if dev else None, history, progress)
    net.eval()
    crf = None
    if config.crf_ensemble > 0:
        crf = fit_feature_crf(list(train) + list(written))
    return FitResult(net, tokenizer, arch, history, best_epoch, str(device), crf)


def _prepare(config: TrainConfig, train: Sequence[Example], written: Sequence[Example]):
    """(device, tokenizer, architecture, network, encoded weighted pieces, pad id) for a recipe: the
    seed set first, the feature vocabulary built over the training pieces."""
    from .alignment import unit_encoder
    from .device import pick_device
    from .encoder import load_encoder_model, load_tokenizer
    from .model import build_network

    set_seed(config.seed)
    device = pick_device(config.device)
    tokenizer = load_tokenizer(config.model)
    encoder = load_encoder_model(config.model, config.encoder_layers)
    pieces_encoder = unit_encoder(tokenizer, config.tokenization)
    weighted: list[tuple[Example, float]] = [(p, 1.0) for ex in train for p in training_pieces(ex, config.piece_chars)]
    weighted += [(p, config.synthetic_weight) for ex in written for p in training_pieces(ex, config.piece_chars)]
    if not weighted:
        raise DataError("no training text")
    arch = Architecture(
        tokenization=config.tokenization, features=list(config.features),
        feature_vocab=build_feature_vocab([with_lexical(r.text, f) for (r, f), _ in weighted], config.features),
        feature_dim=config.feature_dim, lstm_hidden=config.lstm_hidden, crf=config.crf, dropout=config.dropout,
        max_length=config.max_length, stride=config.stride,
    )
    net = build_network(encoder, arch).to(device)
    if config.freeze_embeddings:
        net.encoder.get_input_embeddings().weight.requires_grad_(False)
    encoded = [(encode_text(r.text, pieces_encoder, arch, f, r.spans), w) for (r, f), w in weighted]
    return device, tokenizer, arch, net, [(e, w) for e, w in encoded if e.source], pieces_encoder.pad_id


def _step(net, batch, weights, params, optimizer, scheduler, grad_clip: float, chars=None) -> float:
    """One optimizer step on one batch (shared by fine-tuning and the probe): the loss, clipped
    gradients of ``params``, the optimizer and schedule stepped; the batch loss."""
    import torch

    loss = net.loss(batch, weights, chars=chars)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, grad_clip)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


class _Keeper:
    """What fine-tuning keeps of its epochs: the best dev epoch's weights (``select_on_dev``, with
    ``patience``), else the average of the last ``average_last`` epochs, else the last weights."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.best: tuple[float, int, Any] = (-1.0, 0, None)
        self.averaged: dict[str, Any] | None = None
        self.n_averaged = 0
        self.stale = 0

    def add_to_average(self, net, epoch: int) -> None:
        if self.config.average_last and epoch > self.config.epochs - self.config.average_last:
            state = {k: v.detach().float().cpu() for k, v in net.state_dict().items() if v.dtype.is_floating_point}
            self.averaged = state if self.averaged is None else {k: self.averaged[k] + state[k] for k in self.averaged}
            self.n_averaged += 1

    def should_stop(self, net, epoch: int, dev_f1: float) -> bool:
        """Keep the epoch if it is the best on dev so far; True once ``patience`` epochs did not improve."""
        if dev_f1 > self.best[0]:
            self.best = (dev_f1, epoch, {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()})
            self.stale = 0
            return False
        self.stale += 1
        return bool(self.config.patience and self.stale >= self.config.patience)

    def finish(self, net) -> int:
        """Load the kept weights into ``net``; the epoch they are of."""
        if self.config.select_on_dev and self.best[2] is not None:
            net.load_state_dict(self.best[2])
            return self.best[1]
        if self.averaged is not None and self.n_averaged > 1:
            current = net.state_dict()
            net.load_state_dict({**current, **{k: (v / self.n_averaged).to(current[k].dtype) for k, v in self.averaged.items()}})
        return self.config.epochs


def fine_tune(net, encoded, config: TrainConfig, pad_id: int, device, dev_f1: Callable[[], float] | None,
              history: list[dict[str, Any]], progress: bool) -> int:
    """Stage 2: the whole network, AdamW with layer-wise decay and a linear schedule; appends an entry
    per epoch to ``history``; the epoch whose weights ``net`` ends with."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    optimizer = torch.optim.AdamW(parameter_groups(net, config))
    total = -(-len(encoded) // config.batch_size) * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total), total)
    rng = random.Random(config.seed)
    keeper = _Keeper(config)
    bar = tqdm(total=total, desc="train", unit="step", file=sys.stderr, dynamic_ncols=True, disable=not progress)
    for epoch in range(1, config.epochs + 1):
        net.train()
        order = list(range(len(encoded)))
        rng.shuffle(order)
        losses = []
        for i in range(0, len(order), config.batch_size):
            chunk = [encoded[k] for k in order[i : i + config.batch_size]]
            batch = {k: v.to(device) for k, v in collate([e for e, _ in chunk], pad_id).items()}
            weights = torch.tensor([w for _, w in chunk], device=device)
            losses.append(_step(net, batch, weights, net.parameters(), optimizer, scheduler, config.grad_clip))
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses):.4f}")
        entry: dict[str, Any] = {"stage": "fine-tune", "epoch": epoch, "loss": float(np.mean(losses))}
        keeper.add_to_average(net, epoch)
        if dev_f1 is not None:
            entry["dev_f1"] = dev_f1()
        history.append(entry)
        bar.write(f"epoch {epoch:>3}  loss {entry['loss']:.4f}" + (f"  dev micro F1 {entry['dev_f1']:.4f}" if dev_f1 else ""))
        if dev_f1 is not None and config.select_on_dev and keeper.should_stop(net, epoch, entry["dev_f1"]):
            bar.write(f"early stop: no better dev F1 for {config.patience} epochs (best epoch {keeper.best[1]})")
            break
    bar.close()
    return keeper.finish(net)


def fit_feature_crf(examples: Sequence[Example]):
    """The feature CRF on the same sections (whole, unweighted), for the ensemble."""
    from .feature_crf import CrfSettings, FeatureCRF

    return FeatureCRF(CrfSettings(consistency=False)).fit(
        [r.text for r, _ in examples], [r.spans for r, _ in examples], [f for _, f in examples]
    )


def probe(net, encoded, config: TrainConfig, pad_id: int, device, log, progress: bool) -> list[dict[str, Any]]:
    """Stage 1 (linear probing, then fine-tuning: Kumar et al. 2022): train the head on a frozen
    encoder first. Character vectors are computed once, so each head epoch costs no encoder pass; a
    new head is not then pushed through a pretrained encoder as random gradients, and on a few
    hundred spans the head gets the thousands of updates it needs."""
    import torch
    from tqdm.auto import tqdm

    net.encoder.eval()
    cache = []
    with torch.no_grad():
        for i in range(0, len(encoded), 16):
            chunk = [e for e, _ in encoded[i : i + 16]]
            batch = {k: v.to(device) for k, v in collate(chunk, pad_id).items()}
            vectors = net.char_vectors(batch)
            cache.extend(vectors[row, : len(e.source)].clone() for row, e in enumerate(chunk))
    head = net.head_parameters()
    optimizer = torch.optim.AdamW(head, lr=config.probe_learning_rate, weight_decay=0.0)
    steps = -(-len(encoded) // config.probe_batch_size) * config.probe_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1.0 - step / max(steps, 1)))
    rng = random.Random(config.seed + 1)
    bar = tqdm(total=steps, desc="probe", unit="step", file=sys.stderr, dynamic_ncols=True, disable=not progress)
    net.train()
    net.encoder.eval()
    history = []
    for epoch in range(1, config.probe_epochs + 1):
        order = list(range(len(encoded)))
        rng.shuffle(order)
        losses = []
        for i in range(0, len(order), config.probe_batch_size):
            rows = order[i : i + config.probe_batch_size]
            batch = {k: v.to(device) for k, v in collate([encoded[k][0] for k in rows], pad_id).items()}
            chars = torch.nn.utils.rnn.pad_sequence([cache[k] for k in rows], batch_first=True)
            weights = torch.tensor([encoded[k][1] for k in rows], device=device)
            losses.append(_step(net, batch, weights, head, optimizer, scheduler, config.grad_clip, chars=chars))
            bar.update(1)
        bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses):.4f}")
        history.append({"stage": "probe", "epoch": epoch, "loss": float(np.mean(losses))})
    bar.close()
    log(f"probe: {config.probe_epochs} epochs on a frozen encoder, last loss {history[-1]['loss']:.4f}")
    return history


def evaluate_examples(tagger, examples: Sequence[Example], batch_size: int = 32, by_province: bool = False) -> dict[str, Any]:
    """Strict span scores with a bootstrap interval; ``by_province`` adds each province's scores."""
    predicted = tagger.predict_spans(
        [r.text for r, _ in examples], batch_size, documents=[document_of(r) for r, _ in examples],
        features=[f for _, f in examples],
    )
    gold = [r.spans for r, _ in examples]
    scores = span_scores(gold, predicted)
    scores["micro"]["f1_ci95"] = list(bootstrap_f1(gold, predicted))
    if by_province:
        scores["provinces"] = grouped_scores([str(r.meta.get("province", "?")) for r, _ in examples], gold, predicted)
    return scores


@dataclass
class TrainResult:
    output_dir: Path
    metrics: dict[str, Any]
    seconds: float
    best_epoch: int


def relation_records(config: TrainConfig, ids: Sequence[str]) -> list[Record]:
    """The sections with ``ids`` as the relation layer sees them (with their relations, which the
    tagger's examples do not carry): those of the seeds' splits and the grounded items; the synthetic
    items have no relation layer and are left out."""
    from .corpus import load_split

    by_id = {r.id: r for split in ("train", "dev", "grounded") for r in load_split(config.data_dir, split)}
    return [by_id[i] for i in ids if i in by_id]


def fit_relation_model(config: TrainConfig, records: Sequence[Record], log=print, progress: bool = False):
    """The relation model of ``config.relation_model`` (``learned``: linear; ``pair-encoder``: the
    linear model with a fine-tuned pair encoder stacked on it), from the relations of ``records``
    (training sections that carry a relation layer; one without relations is a negative example);
    None for the cues."""
    if config.relation_model == "cues":
        return None
    from .relation_model import RelationModel

    if not any(r.relations for r in records):
        log("relation model: no training section carries relations; the facts layer keeps its cues")
        return None
    relations = sum(len(r.relations) for r in records)
    if config.relation_model == "pair-encoder":
        model = _fit_pair_encoder(config, records, log, progress)
    else:
        model = RelationModel().fit([(r.text, r.spans, r.relations) for r in records])
    log(f"relation model ({config.relation_model}): learned from {relations} relations in {len(records)} sections")
    return model


def _fit_pair_encoder(config: TrainConfig, records: Sequence[Record], log, progress: bool):
    """The pair encoder from the pretrained encoder (``config.model``), its inner CV by province."""
    from .cv import group_of
    from .device import pick_device
    from .encoder import load_encoder_model, load_tokenizer
    from .relation_pairs import PairRelationModel, PairSettings

    settings = PairSettings(layers=config.relation_pair_layers, epochs=config.relation_pair_epochs,
                            context=config.relation_pair_context, markers=config.relation_pair_markers)
    documents = [(r.text, r.spans, r.relations, group_of((r, None))) for r in records]
    return PairRelationModel.fit(documents, load_encoder_model(config.model, layers=settings.layers),
                                 load_tokenizer(config.model), settings, seed=config.seed, log=log, progress=progress,
                                 device=pick_device(config.device))


def train(config: TrainConfig, output_dir: str | Path, log=print) -> TrainResult:
    """Train on ``config.train_splits`` (+ synthetic), score dev and test, write ``model/`` and
    ``metrics.json`` atomically."""
    from .prediction import Tagger

    started = time.time()
    output_dir = Path(output_dir)
    splits = load_examples(config.data_dir, written=config.synthetic or config.grounded)
    written = written_for(config, splits)
    train_examples = [ex for s in config.train_splits for ex in splits[s]]
    # a held-out dev split is scored after every fine-tuning epoch (the curve shows whether training is stable)
    dev = splits["dev"] if "dev" not in config.train_splits and splits["dev"] else None
    result = fit(config, train_examples, dev, written, log=log)
    trained_ids = [r.id for r, _ in train_examples + written]
    result.relations = fit_relation_model(config, relation_records(config, trained_ids), log, progress=True)
    tagger = result.tagger(config)
    metrics = {
        "dev": evaluate_examples(tagger, splits["dev"], config.eval_batch_size),
        "test": evaluate_examples(tagger, splits["test"], config.eval_batch_size),
        **({"province_test": evaluate_examples(tagger, splits["province_test"], config.eval_batch_size, by_province=True)}
           if splits.get("province_test") else {}),
        "trained_on": list(config.train_splits) + [s for s in WRITTEN_SPLITS if getattr(config, s)],
        "best_epoch": result.best_epoch,
        "epochs_run": sum(1 for h in result.history if h.get("stage") == "fine-tune"),
        "probe_epochs": config.probe_epochs,
        "history": result.history,
        "train_seconds": round(time.time() - started, 1),
        "device": result.device,
    }
    real = [r for s in ("train", "dev", "test") for r, _ in splits[s]]
    model_dir.save(result, config, output_dir / "model", metrics, data_hash(real + [r for r, _ in written]))
    fileio.write_json(output_dir / "metrics.json", metrics)
    return TrainResult(output_dir, metrics, time.time() - started, result.best_epoch)
