"""Fine-tune a pretrained encoder for per-character BIO tagging, with early stopping on dev entity F1."""
from __future__ import annotations

import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from . import fileio
from .alignment import CharTokenizer, Window, bio_labels, make_windows, spans_to_unit_tags, unit_encoder
from .config import TrainConfig
from .corpus import Record, data_hash, load_split
from .evaluation import bootstrap_f1, format_table, span_scores
from .prediction import MODEL_META, Tagger, pick_device
from .types import LABELS


class DataError(ValueError):
    """Training data that cannot be used (missing or empty split, unknown label)."""


def set_seed(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_splits(data_dir: str | Path) -> dict[str, list[Record]]:
    splits = {}
    for split in ("train", "dev", "test"):
        try:
            records = load_split(data_dir, split)
        except (FileNotFoundError, ValueError) as exc:
            raise DataError(str(exc)) from None
        if not records:
            raise DataError(f"{Path(data_dir) / (split + '.jsonl')}: the {split} split is empty")
        for record in records:
            for span in record.spans:
                if span.label not in LABELS:
                    raise DataError(
                        f"{Path(data_dir) / (split + '.jsonl')}: section {record.id}: unknown label {span.label!r}"
                    )
        splits[split] = records
    return splits


def training_windows(records: list[Record], chars: CharTokenizer, label_ids: dict[str, int], config: TrainConfig):
    windows: list[Window] = []
    for index, record in enumerate(records):
        ids, owner, units = chars.encode_units(record.text)
        if not ids:
            continue
        unit_tags, _ = spans_to_unit_tags(units, record.spans)
        tags = [label_ids[t] for t in unit_tags]
        windows.extend(
            make_windows(index, ids, owner, config.max_length, config.stride, chars.cls_id, chars.sep_id, tags)
        )
    return windows


def mention_pool(records: list[Record], labels: tuple[str, ...] = ("ORG", "PROGRAM")) -> dict[str, list[str]]:
    pool: dict[str, set[str]] = {label: set() for label in labels}
    for record in records:
        for span in record.spans:
            if span.label in pool and "\n" not in record.text[span.start : span.end]:
                pool[span.label].add(record.text[span.start : span.end])
    return {label: sorted(mentions) for label, mentions in pool.items()}


def replace_mentions(record: Record, pool: dict[str, list[str]], rng: random.Random, prob: float) -> Record:
    """A copy of the record where some ORG/PROGRAM mentions are swapped for other training mentions
    of the same type (mention replacement, Dai & Adel 2020): new contexts for names, same labels."""
    pieces: list[str] = []
    spans = []
    cursor = length = 0
    for span in sorted(record.spans):
        before = record.text[cursor : span.start]
        pieces.append(before)
        length += len(before)
        surface = record.text[span.start : span.end]
        if span.label in pool and pool[span.label] and rng.random() < prob:
            surface = rng.choice(pool[span.label])
        spans.append(type(span)(length, length + len(surface), span.label))
        pieces.append(surface)
        length += len(surface)
        cursor = span.end
    pieces.append(record.text[cursor:])
    return Record(record.id + "#aug", "".join(pieces), spans, record.source)


def collate(batch: list[Window], pad_id: int):
    import torch

    width = max(len(w.input_ids) for w in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for row, window in enumerate(batch):
        n = len(window.input_ids)
        ids[row, :n] = torch.tensor(window.input_ids)
        mask[row, :n] = 1
        labels[row, :n] = torch.tensor(window.label_ids)
    return ids, mask, labels


def evaluate_records(tagger: Tagger, records: list[Record], batch_size: int = 32) -> dict[str, Any]:
    predicted = tagger.predict_spans([r.text for r in records], batch_size)
    gold = [r.spans for r in records]
    scores = span_scores(gold, predicted)
    low, high = bootstrap_f1(gold, predicted)
    scores["micro"]["f1_ci95"] = [low, high]
    return scores


@dataclass
class TrainResult:
    output_dir: Path
    metrics: dict[str, Any]
    seconds: float
    best_epoch: int


def train(config: TrainConfig, output_dir: str | Path, log=print) -> TrainResult:
    """Train, keep the best epoch by dev micro F1, write ``model/`` and ``metrics.json`` atomically."""
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from .encoder import load_token_classifier, load_tokenizer

    started = time.time()
    output_dir = Path(output_dir)
    splits = load_splits(config.data_dir)
    set_seed(config.seed)
    device = pick_device(config.device)
    labels = bio_labels()
    label_ids = {label: i for i, label in enumerate(labels)}
    tokenizer = load_tokenizer(config.model)
    model = load_token_classifier(config.model, labels).to(device)
    chars = unit_encoder(tokenizer, config.tokenization)
    if config.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    windows = training_windows(splits["train"], chars, label_ids, config)
    pool = mention_pool(splits["train"])
    augment_rng = random.Random(config.seed + 1)
    log(
        f"device {device} | model {config.model} | train {len(splits['train'])} sections ({len(windows)} windows), "
        f"dev {len(splits['dev'])}, test {len(splits['test'])}"
    )

    head = [p for n, p in model.named_parameters() if p.requires_grad and n.startswith("classifier")]
    body_decay = [
        p for n, p in model.named_parameters()
        if p.requires_grad and not n.startswith("classifier") and not any(k in n for k in ("bias", "LayerNorm"))
    ]
    body_no_decay = [
        p for n, p in model.named_parameters()
        if p.requires_grad and not n.startswith("classifier") and any(k in n for k in ("bias", "LayerNorm"))
    ]
    optimizer = torch.optim.AdamW(
        [
            {"params": body_decay, "lr": config.learning_rate, "weight_decay": config.weight_decay},
            {"params": body_no_decay, "lr": config.learning_rate, "weight_decay": 0.0},
            {"params": head, "lr": config.head_learning_rate, "weight_decay": 0.0},
        ]
    )
    steps_per_epoch = (len(windows) * (1 + config.augment_copies) + config.batch_size - 1) // config.batch_size
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(optimizer, int(config.warmup_ratio * total_steps), total_steps)
    tagger = Tagger(model, tokenizer, config.max_length, config.stride, device, config.tokenization)
    rng = random.Random(config.seed)

    best_f1, best_epoch, best_state, stale = -1.0, 0, None, 0
    history = []
    bar = tqdm(total=total_steps, desc="train", unit="step", file=sys.stderr, dynamic_ncols=True)
    for epoch in range(1, config.epochs + 1):
        model.train()
        epoch_windows = list(windows)
        for _ in range(config.augment_copies):
            copies = [replace_mentions(r, pool, augment_rng, config.augment_prob) for r in splits["train"]]
            epoch_windows += training_windows(copies, chars, label_ids, config)
        order = list(range(len(epoch_windows)))
        rng.shuffle(order)
        losses = []
        for i in range(0, len(order), config.batch_size):
            ids, mask, gold = collate([epoch_windows[k] for k in order[i : i + config.batch_size]], chars.pad_id)
            loss = model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=gold.to(device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses):.4f}", best_dev_f1=f"{max(best_f1, 0):.3f}")
        dev = span_scores([r.spans for r in splits["dev"]], tagger.predict_spans([r.text for r in splits["dev"]], config.eval_batch_size))
        dev_f1 = dev["micro"]["f1"]
        history.append({"epoch": epoch, "loss": float(np.mean(losses)), "dev_f1": dev_f1})
        bar.write(f"epoch {epoch:>3}  loss {np.mean(losses):.4f}  dev micro F1 {dev_f1:.4f}")
        if dev_f1 > best_f1:
            best_f1, best_epoch, stale = dev_f1, epoch, 0
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                bar.write(f"early stop: no better dev F1 for {config.patience} epochs (best epoch {best_epoch})")
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    metrics = {
        "dev": evaluate_records(tagger, splits["dev"], config.eval_batch_size),
        "test": evaluate_records(tagger, splits["test"], config.eval_batch_size),
        "best_epoch": best_epoch,
        "epochs_run": len(history),
        "history": history,
        "train_seconds": round(time.time() - started, 1),
        "device": str(device),
    }
    all_records = [r for s in splits.values() for r in s]
    save_model(model, tokenizer, config, output_dir / "model", metrics, data_hash(all_records))
    fileio.write_json(output_dir / "metrics.json", metrics)
    return TrainResult(output_dir, metrics, time.time() - started, best_epoch)


def save_model(model, tokenizer, config: TrainConfig, target: Path, metrics: dict, hash_: str) -> None:
    """Write weights (safetensors), tokenizer, label map and a model card; all or nothing."""
    with fileio.atomic_dir(target) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        meta = {
            "labels": LABELS,
            "tags": [model.config.id2label[i] for i in range(len(model.config.id2label))],
            "max_length": config.max_length,
            "stride": config.stride,
            "tokenization": config.tokenization,
            "base_model": config.model,
            "data_hash": hash_,
            "config": config.to_dict(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        (tmp / MODEL_META).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (tmp / "README.md").write_text(model_card(config, metrics, hash_), encoding="utf-8")


def model_card(config: TrainConfig, metrics: dict, hash_: str) -> str:
    test = metrics["test"]
    low, high = test["micro"].get("f1_ci95", [0, 0])
    return (
        f"# civic-ner model `{config.name}`\n\n"
        f"Character-level BIO tagger for ORG, PROGRAM, MONEY and COUNT in Chinese civic news, fine-tuned "
        f"from `{config.model}`.\n\n"
        f"- data hash: `{hash_}`\n- best epoch: {metrics['best_epoch']} of {metrics['epochs_run']}\n"
        f"- device: {metrics['device']}, training time {metrics['train_seconds']} s\n\n"
        f"## Held-out test scores (strict entity match)\n\n```\n{format_table({'model': test})}\n```\n\n"
        f"Micro F1 95 % bootstrap interval over sections: [{low:.3f}, {high:.3f}]\n\n"
        f"## Config\n\n```json\n{json.dumps(config.to_dict(), ensure_ascii=False, indent=2)}\n```\n"
    )
