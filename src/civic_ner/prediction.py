"""Run a trained token classifier over texts of any length and get character spans with scores."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .alignment import Unit, Window, constrained_decode, make_windows, merge_window_scores, unit_encoder, unit_tags_to_spans
from .types import Span

MODEL_META = "civic_ner.json"


class ModelDirError(ValueError):
    """A directory that is not a civic-ner model."""


@dataclass(frozen=True)
class Entity:
    """A predicted span with the model's confidence (mean probability of its characters' tags)."""

    start: int
    end: int
    label: str
    score: float

    @property
    def span(self) -> Span:
        return Span(self.start, self.end, self.label)


def pick_device(device: str | None = None):
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


PRECISIONS = ("fp32", "bf16", "int8")


def quantize_int8(model):
    """Dynamic int8 quantization of every ``nn.Linear`` (weights int8 per output channel,
    activations quantized per batch at run time); embeddings and LayerNorm stay fp32."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao, still works
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantize_per_(tensor|channel).*", category=UserWarning)
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        return quantize_dynamic(model.eval(), {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has native bf16 matmuls (AVX512-BF16 / AMX); elsewhere bf16 is emulated and slow."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def set_precision(model, precision: str, device):
    """The model in ``precision``: fp32 (as loaded), bf16 (all weights) or int8 (CPU dynamic)."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")
    if precision == "int8":
        if device.type != "cpu":
            raise ValueError(f"int8 dynamic quantization runs on CPU only, not {device}")
        return quantize_int8(model)
    if precision == "bf16":
        return model.to(torch.bfloat16)
    return model


def padding_fraction(windows: Sequence[Window], batch_size: int = 32, sort_by_length: bool = True) -> float:
    """Share of padded positions in the batches :meth:`Tagger.window_probabilities` would build."""
    order = batch_order(windows, sort_by_length)
    real = padded = 0
    for i in range(0, len(order), batch_size):
        lengths = [len(windows[k].input_ids) for k in order[i : i + batch_size]]
        real += sum(lengths)
        padded += max(lengths) * len(lengths)
    return 1.0 - real / padded if padded else 0.0


def batch_order(windows: Sequence[Window], sort_by_length: bool = True) -> list[int]:
    if sort_by_length:
        return sorted(range(len(windows)), key=lambda k: len(windows[k].input_ids))
    return list(range(len(windows)))


SHAPE_BUCKET = 16


def padded_width(longest: int, max_length: int) -> int:
    """Round a batch's width up to a multiple of 16 tokens (at most ``max_length``).

    A few distinct tensor shapes instead of one per batch: the CPU kernels (oneDNN) cache compiled
    primitives per shape, so streaming thousands of documents would otherwise keep adding to memory.
    """
    return min(max_length, -(-longest // SHAPE_BUCKET) * SHAPE_BUCKET) if longest <= max_length else longest


class Tagger:
    """A model, its tokenizer and the windowing it was trained with."""

    def __init__(
        self, model, tokenizer, max_length: int = 256, stride: int = 32, device=None, tokenization: str = "char"
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.tokenization = tokenization
        self.chars = unit_encoder(tokenizer, tokenization)
        self.max_length = max_length
        self.stride = stride
        self.device = pick_device(device) if device is None or isinstance(device, str) else device
        self.id2label = {int(k): v for k, v in model.config.id2label.items()}

    @classmethod
    def from_dir(
        cls, path: str | Path, device: str | None = None, quantize: bool | None = None, precision: str | None = None
    ) -> "Tagger":
        """Load a model directory. ``precision`` is fp32, bf16 (weights and activations; fast on CPUs
        with AMX / AVX512-BF16) or int8 (dynamic quantization of the Linear layers, CPU only);
        ``quantize=True`` means int8. With neither, the directory's ``civic_ner.json`` decides
        (``"precision"``, written by ``civic-ner trim --int8/--bf16``), else fp32."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        path = Path(path)
        meta_path = path / MODEL_META
        if not path.is_dir():
            raise ModelDirError(f"{path}: not a directory")
        if not meta_path.exists() or not (path / "config.json").exists():
            raise ModelDirError(f"{path}: not a civic-ner model directory (no {MODEL_META} or config.json)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelDirError(f"{meta_path}: not valid JSON ({exc.msg})") from None
        target = pick_device(device)
        try:
            model = AutoModelForTokenClassification.from_pretrained(path).to(target).eval()
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as exc:
            raise ModelDirError(f"{path}: cannot load the model or tokenizer ({exc})") from None
        if precision is None:
            precision = "int8" if quantize else "fp32" if quantize is False else str(meta.get("precision", "fp32"))
        try:
            model = set_precision(model, precision, target)
        except ValueError as exc:
            raise ModelDirError(f"{path}: {exc}") from None
        return cls(
            model, tokenizer, int(meta.get("max_length", 256)), int(meta.get("stride", 32)), target,
            str(meta.get("tokenization", "char")),
        )

    def windows(self, texts: Sequence[str]) -> tuple[list[Window], list[list[Unit]]]:
        """Model windows over all texts, and each text's units (characters or tokens)."""
        windows: list[Window] = []
        all_units: list[list[Unit]] = []
        for index, text in enumerate(texts):
            ids, owner, units = self.chars.encode_units(text)
            all_units.append(units)
            if ids:
                windows.extend(
                    make_windows(index, ids, owner, self.max_length, self.stride, self.chars.cls_id, self.chars.sep_id)
                )
        return windows, all_units

    def window_probabilities(
        self, windows: Sequence[Window], batch_size: int = 32, progress: bool = False, sort_by_length: bool = True
    ):
        """Softmax scores per token for each window; batches are length-sorted so padding stays small
        (``sort_by_length=False`` keeps document order, for benchmarks)."""
        import torch

        order = batch_order(windows, sort_by_length)
        results: list[np.ndarray | None] = [None] * len(windows)
        batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
        iterator = batches
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc="predict", unit="batch", leave=False)
        was_training = self.model.training
        self.model.eval()
        with torch.inference_mode():
            for batch in iterator:
                width = padded_width(max(len(windows[k].input_ids) for k in batch), self.max_length)
                ids = torch.full((len(batch), width), self.chars.pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, k in enumerate(batch):
                    seq = windows[k].input_ids
                    ids[row, : len(seq)] = torch.tensor(seq)
                    mask[row, : len(seq)] = 1
                logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits
                probs = torch.softmax(logits.float(), dim=-1).cpu().numpy()
                for row, k in enumerate(batch):
                    results[k] = probs[row, : len(windows[k].input_ids)]
        if was_training:
            self.model.train()
        return results

    def predict(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False, sort_by_length: bool = True
    ) -> list[list[Entity]]:
        windows, all_units = self.windows(texts)
        probs = self.window_probabilities(windows, batch_size, progress, sort_by_length)
        by_text: dict[int, list[int]] = {}
        for k, window in enumerate(windows):
            by_text.setdefault(window.record_index, []).append(k)
        out: list[list[Entity]] = []
        for index, text in enumerate(texts):
            ks = by_text.get(index, [])
            if not ks:
                out.append([])
                continue
            units = all_units[index]
            rows = np.stack(merge_window_scores(len(units), [windows[k] for k in ks], [probs[k] for k in ks]))
            labels = [self.id2label[i] for i in range(rows.shape[1])]
            tags = constrained_decode(np.log(np.clip(rows, 1e-12, None)), labels)
            label_index = {label: i for i, label in enumerate(labels)}
            best = [label_index[t] for t in tags]
            starts = {u[0]: i for i, u in enumerate(units)}
            ends = {u[1]: i for i, u in enumerate(units)}
            entities = []
            for span in unit_tags_to_spans(units, tags):
                inside = range(starts[span.start], ends[span.end] + 1)
                score = float(np.mean([rows[u, best[u]] for u in inside]))
                entities.append(Entity(span.start, span.end, span.label, score))
            out.append(entities)
        return out

    def predict_spans(self, texts: Sequence[str], batch_size: int = 32) -> list[list[Span]]:
        return [[e.span for e in doc] for doc in self.predict(texts, batch_size)]
