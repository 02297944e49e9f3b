"""Run a trained token classifier over texts of any length and get character spans with scores."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .alignment import Window, unit_encoder
from .types import Span

MODEL_META = "civic_ner.json"
CRF_FILE = "crf.crfsuite"


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


class DeviceError(ValueError):
    """A device that does not exist on this machine."""


def available_devices() -> list[str]:
    import torch

    return ["cpu", *(f"cuda:{i}" for i in range(torch.cuda.device_count() if torch.cuda.is_available() else 0))]


def pick_device(device: str | None = None):
    """The torch device to run on: ``device`` if this machine has it, else CUDA when present, else CPU.
    Checked here, once: an unknown or absent device is one :class:`DeviceError` line."""
    import torch

    if not device:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        chosen = torch.device(device)
    except (RuntimeError, ValueError):
        raise DeviceError(f"device {device!r} is not a device name (available here: {', '.join(available_devices())})") from None
    if chosen.type == "cpu":
        return chosen
    if chosen.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count and (chosen.index is None or chosen.index < count):
            return chosen
    raise DeviceError(f"device {device!r} is not available here (available: {', '.join(available_devices())})")


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
    """The network in ``precision``: fp32 (as loaded), bf16 (the encoder; the small head stays fp32)
    or int8 (CPU dynamic quantization of every Linear layer)."""
    import torch

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r} (one of {', '.join(PRECISIONS)})")
    if precision == "int8":
        if device.type != "cpu":
            raise ValueError(f"int8 dynamic quantization runs on CPU only, not {device}")
        return quantize_int8(model)
    if precision == "bf16":
        model.encoder.to(torch.bfloat16)
    return model


SHAPE_BUCKET = 16
"""Window widths are rounded up to a multiple of this: a few tensor shapes instead of one per batch, since
the CPU kernels (oneDNN) cache compiled primitives per shape and streaming would otherwise grow memory."""


class Tagger:
    """A trained network with its tokenizer and architecture: texts in, character spans out."""

    def __init__(self, net, tokenizer, arch, device=None, consistency: bool = True, crf=None, crf_weight: float = 0.0) -> None:
        self.net = net
        self.tokenizer = tokenizer
        self.arch = arch
        self.tags = list(arch.tags)
        self.pieces = unit_encoder(tokenizer, arch.tokenization)
        self.device = pick_device(device) if device is None or isinstance(device, str) else device
        self.consistency = consistency
        self.crf = crf  # a FeatureCRF whose marginals are mixed in with ``crf_weight``
        self.crf_weight = crf_weight

    @classmethod
    def from_dir(
        cls, path: str | Path, device: str | None = None, quantize: bool | None = None, precision: str | None = None
    ) -> "Tagger":
        """Load a model directory written by ``train.py``. ``precision`` is fp32, bf16 (encoder in
        bf16; fast on CPUs with AMX / AVX512-BF16) or int8 (dynamic quantization of the Linear layers,
        CPU only); ``quantize=True`` means int8. With neither, the directory's ``civic_ner.json``
        decides (``"precision"``, written by ``civic-ner trim --int8/--bf16``), else fp32."""
        from .model import Architecture, build_network

        path = Path(path)
        meta = read_model_meta(path)
        arch = Architecture.from_dict(meta["architecture"])
        target = pick_device(device)
        try:
            from transformers import AutoConfig, AutoModel, AutoTokenizer

            encoder_config = AutoConfig.from_pretrained(path / "encoder")
            encoder = AutoModel.from_config(encoder_config, add_pooling_layer=False) if encoder_config.model_type == "bert" \
                else AutoModel.from_config(encoder_config)
            net = build_network(encoder, arch)
            tokenizer = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError, RuntimeError, KeyError, TypeError) as exc:
            first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
            raise ModelDirError(f"{path}: cannot load the model ({first})") from None
        state = _weights(path / "encoder" / "model.safetensors")
        head = _weights(path / "head.safetensors")
        try:
            missing, _ = net.encoder.load_state_dict(state, strict=False)
            net.load_state_dict({**{f"encoder.{k}": v for k, v in net.encoder.state_dict().items()}, **head})
        except RuntimeError as exc:
            raise ModelDirError(f"{path}: the weights do not fit the architecture in {MODEL_META} "
                                f"({str(exc).splitlines()[0][:200]})") from None
        if [k for k in missing if "position_ids" not in k]:
            raise ModelDirError(f"{path}/encoder/model.safetensors: missing weights {missing[:3]}")
        net = net.to(target).eval()
        if precision is None:
            precision = "int8" if quantize else "fp32" if quantize is False else str(meta.get("precision", "fp32"))
        try:
            net = set_precision(net, precision, target)
        except ValueError as exc:
            raise ModelDirError(f"{path}: {exc}") from None
        crf, weight = None, float(meta.get("crf_ensemble", 0.0))
        if weight > 0:
            from .crf_baseline import FeatureCRF

            if not (path / CRF_FILE).exists():
                raise ModelDirError(f"{path}: incomplete model directory ({CRF_FILE} is missing)")
            try:
                crf = FeatureCRF.load(path / CRF_FILE)
            except (OSError, ValueError) as exc:
                raise ModelDirError(f"{path / CRF_FILE}: cannot load the feature CRF ({exc})") from None
        return cls(net, tokenizer, arch, target, consistency=bool(meta.get("consistency", True)), crf=crf, crf_weight=weight)

    # ------------------------------------------------------------ scores

    def encode(self, texts: Sequence[str], features: Sequence[dict] | None = None) -> list:
        from .dataset import featurize
        from .model import encode_text

        if features is None:
            features = featurize(texts)
        return [encode_text(t, self.pieces, self.arch, f) for t, f in zip(texts, features)]

    def emissions(
        self, texts: Sequence[str], batch_size: int = 32, features: Sequence[dict] | None = None, progress: bool = False
    ) -> list[np.ndarray]:
        """Per text, a (content characters x tags) array of the network's scores. Texts are batched
        by length so that one forward pass holds about ``batch_size`` encoder windows."""
        import torch

        from .model import collate

        encoded = self.encode(texts, features)
        order = sorted((i for i, e in enumerate(encoded) if e.source), key=lambda i: len(encoded[i].windows))
        batches: list[list[int]] = []
        for i in order:
            if batches and sum(len(encoded[j].windows) for j in batches[-1]) + len(encoded[i].windows) <= batch_size:
                batches[-1].append(i)
            else:
                batches.append([i])
        out: list[np.ndarray] = [np.zeros((0, len(self.tags)), dtype=np.float32) for _ in texts]
        iterator = batches
        if progress:
            from tqdm.auto import tqdm

            iterator = tqdm(batches, desc="predict", unit="batch", leave=False)
        was_training = self.net.training
        self.net.eval()
        with torch.inference_mode():
            for batch in iterator:
                tensors = collate([encoded[i] for i in batch], self.pieces.pad_id, bucket=SHAPE_BUCKET)
                scores = self.net.emissions({k: v.to(self.device) for k, v in tensors.items()}).float().cpu().numpy()
                for row, i in enumerate(batch):
                    out[i] = scores[row, : len(encoded[i].source)]
        if was_training:
            self.net.train()
        return out

    def marginals(self, texts: Sequence[str], batch_size: int = 32, features: Sequence[dict] | None = None) -> list[np.ndarray]:
        """Per text, the probability of each tag for each content character: the network's CRF
        marginals, mixed with the feature CRF's when the model has one (``crf_weight``)."""
        return [probs for probs, _ in self._scored(texts, batch_size, features)]

    def _scored(self, texts: Sequence[str], batch_size: int, features: Sequence[dict] | None, progress: bool = False):
        """(marginals, best path) per text."""
        from .model import marginals, viterbi

        if features is None:
            from .dataset import featurize

            features = featurize(texts)
        transitions = self.net.transitions()
        mixed = self.crf is not None and self.crf_weight > 0
        crf_probs = self.crf.marginals(texts, self.tags, features) if mixed else [None] * len(texts)
        out = []
        for scores, extra in zip(self.emissions(texts, batch_size, features, progress), crf_probs):
            if not len(scores):
                out.append((np.zeros((0, len(self.tags))), []))
                continue
            scores = scores.astype(np.float64)
            probs = marginals(scores, self.tags, transitions)
            if mixed:
                probs = (1.0 - self.crf_weight) * probs + self.crf_weight * extra
                path = viterbi(np.log(np.clip(probs, 1e-12, None)), self.tags)  # BIO constraints only
            else:
                path = viterbi(scores, self.tags, transitions)
            out.append((probs, path))
        return out

    # ------------------------------------------------------------ spans

    def predict(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: bool = False,
        documents: Sequence[str] | None = None,
        features: Sequence[dict] | None = None,
    ) -> list[list[Entity]]:
        """Entities per text. With consistency on, a name predicted in one text is also labelled
        in the other texts of the same document (``documents``: a key per text; default: each text
        is its own document)."""
        from .alignment import char_units, unit_tags_to_spans
        from .span_rules import drop_clutter, split_adjacent_quotes

        out: list[list[Entity]] = []
        for text, (probs, path) in zip(texts, self._scored(texts, batch_size, features, progress)):
            units = char_units(text)
            index = {u[0]: k for k, u in enumerate(units)}
            entities = []
            for span in unit_tags_to_spans(units, [self.tags[j] for j in path]):
                first, last = index[span.start], index[span.end - 1]
                score = float(np.mean([probs[k, path[k]] for k in range(first, last + 1)]))
                entities.append(Entity(span.start, span.end, span.label, score))
            entities = split_adjacent_quotes(text, entities, lambda a, b, e: Entity(a, b, e.label, e.score))
            out.append(drop_clutter(text, entities))  # never a URL piece or a span over a line break
        if self.consistency:
            out = _propagate_entities(texts, out, documents)
        return out

    def predict_spans(
        self, texts: Sequence[str], batch_size: int = 32, documents: Sequence[str] | None = None,
        features: Sequence[dict] | None = None,
    ) -> list[list[Span]]:
        return [[e.span for e in doc] for doc in self.predict(texts, batch_size, documents=documents, features=features)]


def _propagate_entities(texts: Sequence[str], predicted: list[list[Entity]], documents: Sequence[str] | None) -> list[list[Entity]]:
    """Document consistency on entities: an added mention takes the best score of its surface."""
    from .consistency import propagate_by_document

    documents = documents if documents is not None else [str(i) for i in range(len(texts))]
    best: dict[tuple[str, str], float] = {}
    for text, doc in zip(texts, predicted):
        for e in doc:
            key = (text[e.start : e.end], e.label)
            best[key] = max(best.get(key, 0.0), e.score)
    spans = propagate_by_document(texts, [[e.span for e in doc] for doc in predicted], documents)
    out = []
    for text, doc, kept in zip(texts, predicted, spans):
        known = {e.span: e for e in doc}
        out.append([known.get(s) or Entity(s.start, s.end, s.label, best.get((text[s.start:s.end], s.label), 0.0)) for s in kept])
    return out


def _weights(file: Path) -> dict:
    """A safetensors file, or one ModelDirError line naming it (truncated copy, not safetensors)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(file))
    except SafetensorError as exc:
        raise ModelDirError(f"{file}: corrupt or truncated weights ({str(exc).splitlines()[0][:200]})") from None
    except OSError as exc:
        raise ModelDirError(f"{file}: cannot read the weights ({exc.strerror or exc})") from None


def read_model_meta(path: Path) -> dict:
    """civic_ner.json of a model directory, checked: every way a directory can be unusable is one
    :class:`ModelDirError` line."""
    meta_path = path / MODEL_META
    if not path.exists():
        raise ModelDirError(f"{path}: no such model directory")
    if not path.is_dir():
        raise ModelDirError(f"{path}: not a directory")
    if not meta_path.exists():
        raise ModelDirError(f"{path}: not a civic-ner model directory (no {MODEL_META})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{meta_path}: not valid JSON ({getattr(exc, 'msg', exc)})") from None
    if not isinstance(meta, dict):
        raise ModelDirError(f"{meta_path}: expected a JSON object")
    if meta.get("format") != 2 or "architecture" not in meta:
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
    for name in ("encoder/config.json", "encoder/model.safetensors", "head.safetensors"):
        if not (path / name).exists():
            raise ModelDirError(f"{path}: incomplete model directory ({name} is missing)")
    return meta
