"""The encoder in ONNX Runtime: a serving copy of a model directory that loads in a fraction of the time.

Loading the torch network costs seconds before the first text: importing transformers' model code
(which pulls in torch.distributed and torch._dynamo), building the encoder and reading the
tokenizer through ``AutoTokenizer``. ``civic-ner trim --onnx`` writes the (trimmed) encoder as an
ONNX graph beside its weights; :func:`civic_ner.model_dir.load` then runs that graph in ONNX Runtime
(fp32 on CPU, the same numbers up to float rounding: :func:`export_encoder` checks them) under the
same head, CRFs and decoding, and reads the tokenizer with ``PreTrainedTokenizerFast`` directly. The
encoder's weights stay in the directory: GPU, bf16, int8 and retraining use them as before.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from .errors import CivicNerError, first_line

OPSET = 17
MAX_DEVIATION = 1e-3
"""Largest absolute difference allowed between the exported graph's hidden states and torch's."""
SPECIAL_TOKENS = ("unk_token", "cls_token", "sep_token", "pad_token", "bos_token", "eos_token", "mask_token")


class OnnxExportError(CivicNerError, RuntimeError):
    """The exported encoder does not reproduce the torch encoder (or cannot be exported)."""


def onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def export_encoder(encoder, path: Path) -> float:
    """Write ``encoder`` (a Hugging Face encoder) to ``path`` as an ONNX graph with dynamic batch and
    width, and return the largest deviation of its hidden states from torch's on a probe batch."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise OnnxExportError("writing the encoder as an ONNX graph needs the onnx package: pip install onnx") from None
    class LastHidden(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    wrapped = LastHidden(encoder).eval()
    generator = torch.Generator().manual_seed(0)
    vocab = encoder.get_input_embeddings().weight.shape[0]
    ids = torch.randint(5, vocab, (2, 24), generator=generator)
    mask = torch.ones_like(ids)
    mask[1, 16:] = 0  # a padded row, as batches have
    dynamic = {"input_ids": {0: "batch", 1: "width"}, "attention_mask": {0: "batch", 1: "width"},
               "hidden": {0: "batch", 1: "width"}}
    try:
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")  # the TorchScript exporter's tracer warnings about Python branches
            torch.onnx.export(wrapped, (ids, mask), str(path), input_names=["input_ids", "attention_mask"],
                              output_names=["hidden"], dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)
            expected = wrapped(ids, mask).numpy()
        got = OnnxEncoder(path, hidden_size=expected.shape[-1]).session.run(
            None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    except Exception as exc:  # noqa: BLE001  (the exporter and ONNX Runtime raise many kinds)
        raise OnnxExportError(f"{path.name}: cannot export the encoder ({first_line(exc, 200)})") from None
    keep = mask.numpy().astype(bool)
    deviation = float(np.abs(got[keep] - expected[keep]).max())
    if deviation > MAX_DEVIATION:
        raise OnnxExportError(f"{path}: the exported encoder deviates from torch by {deviation:.2g} (> {MAX_DEVIATION})")
    return deviation


class OnnxEncoder(torch.nn.Module):
    """An ONNX Runtime session in the place of the torch encoder: ``encoder(input_ids=...,
    attention_mask=...).last_hidden_state`` as the network reads it (no parameters of its own)."""

    def __init__(self, path: str | Path, hidden_size: int, threads: int | None = None) -> None:
        import onnxruntime as ort

        super().__init__()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        if not Path(path).is_file():
            raise FileNotFoundError(f"{Path(path).name} is missing")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001  (ONNX Runtime's errors derive from Exception only)
            raise ValueError(f"{Path(path).name} is not a usable ONNX graph ({first_line(exc, 200)})") from None
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(width, int) and width != hidden_size:
            raise ValueError(f"{Path(path).name} does not fit this directory (hidden size {width}, the encoder's {hidden_size})")
        self.config = SimpleNamespace(hidden_size=hidden_size)

    def forward(self, input_ids, attention_mask):
        hidden = self.session.run(None, {"input_ids": input_ids.cpu().numpy(),
                                         "attention_mask": attention_mask.cpu().numpy()})[0]
        return SimpleNamespace(last_hidden_state=torch.from_numpy(hidden))


def load_fast_tokenizer(path: Path) -> Any:
    """The directory's tokenizer.json as a ``PreTrainedTokenizerFast`` with its special tokens, without
    ``AutoTokenizer`` (whose loading imports transformers' model-loading code)."""
    from transformers import PreTrainedTokenizerFast

    config_file = path / "tokenizer_config.json"
    config = json.loads(config_file.read_text(encoding="utf-8")) if config_file.exists() else {}
    special = {k: v if isinstance(v, str) else v.get("content") for k, v in config.items()
               if k in SPECIAL_TOKENS and v is not None}
    return PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"), clean_up_tokenization_spaces=False,
                                   model_max_length=config.get("model_max_length", 512), **special)
