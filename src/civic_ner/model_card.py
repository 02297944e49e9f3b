"""The model card (a model directory's README.md): what the model is, what it trained on, its held-out scores.

Rendered from the training config and metrics when :func:`civic_ner.model_dir.save` writes a directory;
kept apart from the directory's reading and writing, which do not depend on its wording.
"""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from .evaluation import format_table

if TYPE_CHECKING:  # pragma: no cover
    from .config import TrainConfig


def province_section(scores: dict | None) -> str:
    """The held-out provinces' section of the model card (text of provinces never trained on)."""
    if not scores:
        return ""
    rows = "\n".join(f"| {p} | {c['micro']['support']} | {c['micro']['f1']:.3f} |" for p, c in scores.get("provinces", {}).items())
    return (f"## Held-out provinces (grounded written text of provinces never trained on)\n\n"
            f"```\n{format_table({'model': scores})}\n```\n\n| province | spans | micro F1 |\n|---|---|---|\n{rows}\n\n")


def model_card(config: "TrainConfig", metrics: dict, hash_: str) -> str:
    """The README.md of a model directory: what it is, what it trained on, its held-out scores, its config."""
    test = metrics["test"]
    low, high = test["micro"].get("f1_ci95", [0, 0])
    return (
        f"# civic-ner model `{config.name}`\n\n"
        f"Character-level tagger for ORG, PROGRAM, MONEY and COUNT in Chinese civic news: `{config.model}` "
        f"{f'(its first {config.encoder_layers} layers) ' if config.encoder_layers else ''}"
        f"read as {config.tokenization} pieces, with feature groups {', '.join(config.features) or 'none'}, "
        f"{'a BiLSTM, ' if config.lstm_hidden else ''}{'a CRF' if config.crf else 'a softmax'} output layer"
        f"{f', a feature CRF mixed in at x{config.crf_ensemble} (' + ', '.join(config.crf_ensemble_labels) + ')' if config.crf_ensemble else ''}"
        f"{' and document-level consistency (' + ', '.join(config.consistency_labels) + ')' if config.consistency else ''}.\n\n"
        f"- trained on: {', '.join(metrics['trained_on'])}; data hash `{hash_}`\n"
        f"- epochs: {metrics['epochs_run']} (weights of epoch {metrics['best_epoch']}"
        f"{f', averaged over the last {config.average_last}' if config.average_last > 1 and not config.select_on_dev else ''})\n"
        f"- device: {metrics['device']}, training time {metrics['train_seconds']} s\n\n"
        f"## Held-out test scores (strict entity match)\n\n```\n{format_table({'model': test})}\n```\n\n"
        f"Micro F1 95 % bootstrap interval over sections: [{low:.3f}, {high:.3f}]\n\n"
        f"{province_section(metrics.get('province_test'))}"
        f"## Config\n\n```json\n{json.dumps(config.to_dict(), ensure_ascii=False, indent=2)}\n```\n"
    )
