"""The head's BiLSTM in a training step: packed sequences (the head before) against padded rows read
unpacked (``civic_ner.model.bidirectional_lstm``, the head now), forward + backward + optimizer step of
the probe stage (frozen encoder: cached character vectors in, the CRF loss out).

    OMP_NUM_THREADS=2 python bench/lstm_head.py --json bench/results/lstm_head.json

Batches are drawn from the training pieces' real lengths (``configs/default.yaml``'s splits cut by
``training_pieces``) with the default architecture's widths; each variant runs on the same batches in
one process, best of ``--repeats``. The two give the same outputs and gradients
(``tests/test_training.py::test_unpacked_bilstm_equals_packed_sequences``).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def piece_lengths(config_path: str) -> list[int]:
    from civic_ner.config import load_config
    from civic_ner.corpus import load_split
    from civic_ner.training import training_pieces

    config = load_config(config_path)
    splits = list(config.train_splits) + [s for s, on in (("synthetic", config.synthetic),
                                                         ("grounded", config.grounded)) if on]
    return [len(piece.text) for split in splits for record in load_split(ROOT / "data", split)
            for piece, _ in training_pieces((record, {}), config.piece_chars)]


def packed_lstm(lstm, x, mask):
    """The BiLSTM as the head ran it before: over packed sequences (stands in for
    ``civic_ner.model.bidirectional_lstm``, so the rest of the head is the model's own code)."""
    from torch import nn

    lengths = mask.sum(dim=1).clamp(min=1).cpu()
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    return nn.utils.rnn.pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])[0]


def main() -> None:
    import torch
    from torch import nn

    from civic_ner.config import load_config
    from civic_ner.features import FEATURE_GROUPS
    from civic_ner import model
    from civic_ner.model import Architecture, build_network

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(ROOT / "configs" / "default.yaml"))
    p.add_argument("--batches", type=int, default=12)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    config = load_config(args.config)
    lengths = piece_lengths(args.config)
    rng = random.Random(13)
    torch.manual_seed(13)

    class Encoder(nn.Module):  # the head reads cached vectors: only the encoder's width matters
        config = type("EncoderConfig", (), {"hidden_size": 384})()

    vocab = {g: ["<unk>", *map(str, range(40))] for g in FEATURE_GROUPS}
    arch = Architecture(feature_vocab=vocab, feature_dim=config.feature_dim, lstm_hidden=config.lstm_hidden)
    net = build_network(Encoder(), arch).train()
    batches = []
    for _ in range(args.batches):
        rows = torch.tensor(rng.sample(lengths, config.probe_batch_size))
        width = int(rows.max())
        mask = torch.arange(width)[None, :] < rows[:, None]
        batches.append((torch.randn(len(rows), width, 384), {
            "position": torch.randint(0, 4, (len(rows), width)), "mask": mask,
            "features": torch.randint(0, 40, (len(rows), width, len(FEATURE_GROUPS))),
            "tags": torch.randint(0, len(arch.tags), (len(rows), width)) * mask}))
    optimizer = torch.optim.AdamW(net.head_parameters(), lr=1e-3)
    unpacked_lstm = model.bidirectional_lstm
    result = {"threads": torch.get_num_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
              "batch_size": config.probe_batch_size, "batches": args.batches, "pieces": len(lengths),
              "mean_piece_chars": round(sum(lengths) / len(lengths), 1), "seconds_per_step": {}}
    for name, lstm in (("packed", packed_lstm), ("unpacked", unpacked_lstm)):
        model.bidirectional_lstm = lstm  # the head looks the function up at every call
        best = float("inf")
        for _ in range(args.repeats):
            start = time.perf_counter()
            for chars, batch in batches:
                net.loss(batch, chars=chars).backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            best = min(best, (time.perf_counter() - start) / len(batches))
        result["seconds_per_step"][name] = round(best, 4)
        print(f"{name:>9}: {best:.3f} s per probe step ({result['threads']} threads)")
    result["speedup"] = round(result["seconds_per_step"]["packed"] / result["seconds_per_step"]["unpacked"], 2)
    print(f"unpacked is {result['speedup']}x faster")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
