"""Where and how the network runs: the device (checked once, one error line) and the precision
(fp32, bf16, CPU int8). Shared by training (:func:`civic_ner.training.fit`) and loading
(:mod:`civic_ner.model_dir`)."""
from __future__ import annotations

from .errors import CivicNerError


class DeviceError(CivicNerError, ValueError):
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
PRECISION_CHOICES = ("auto", *PRECISIONS)
PRECISION_ENV = "CIVIC_NER_PRECISION"
"""Environment variable that replaces ``auto`` (e.g. ``fp32`` for bit-stable comparisons)."""


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


def resolve_precision(precision: str | None, device) -> str:
    """The precision ``auto`` (or None) stands for on ``device``: the fastest one measured at the same F1
    (within half a point on both tests) -- bf16 on a CPU with AMX/AVX512-BF16 or a GPU that has it, else
    fp32. int8 is not: the shipped model lost 1.5 points on the seeds' test in int8 (0.2 on the held-out
    provinces; bench/RESULTS.md), so it is asked for (``--precision int8``), never implied.
    ``$CIVIC_NER_PRECISION`` overrides auto."""
    import os

    if precision not in (None, "auto"):
        return precision
    chosen = os.environ.get(PRECISION_ENV, "").strip().lower() or "auto"
    if chosen != "auto":
        if chosen not in PRECISIONS:
            raise ValueError(f"${PRECISION_ENV}={chosen!r} is not a precision (one of {', '.join(PRECISION_CHOICES)})")
        return chosen
    if device.type == "cuda":
        import torch

        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def resolved(device, precision: str | None):
    """(torch device, concrete precision) for a network about to be placed: :func:`pick_device` and
    :func:`resolve_precision`, the one check every loader makes (raises DeviceError / ValueError)."""
    target = pick_device(device if device is None or isinstance(device, str) else str(device))
    chosen = resolve_precision(precision, target)
    if chosen not in PRECISIONS:
        raise ValueError(f"unknown precision {chosen!r} (one of {', '.join(PRECISION_CHOICES)})")
    if chosen == "int8" and target.type != "cpu":
        raise ValueError(f"int8 dynamic quantization runs on CPU only, not {target}")
    return target, chosen


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
