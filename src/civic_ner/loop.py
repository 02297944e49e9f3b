"""Retraining as annotations grow: a regression-gated retrain, a learning curve, what to label next."""
from __future__ import annotations

import csv
import io
import math
import random
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import corpus, fileio
from .splits import SPLITS, span_counts
from .config import TrainConfig
from .corpus import Record
from .types import LABELS
from .errors import CivicNerError

COLUMNS = ("micro", *LABELS)


class LoopError(CivicNerError, ValueError):
    """A retrain/curve/suggest request that cannot be carried out (bad inputs, missing tools)."""


# ---------------------------------------------------------------- inputs


def load_sections(inputs: Sequence[str | Path]) -> list[Record]:
    """Unannotated sections from raw bulletins (``*.txt`` files or folders of them) or section JSONL.

    Raw text is cleaned and split by :func:`clean_sections`, ids ``<stem>-<nn>``. A ``.jsonl`` file
    holds records with ``id`` and ``text`` (``civic-ner corpus sections`` or ``suggest -o`` output).
    """
    records: list[Record] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(path.rglob("*.txt"))
            if not files:
                raise LoopError(f"{path}: no *.txt bulletins in this folder")
        elif path.exists():
            files = [path]
        else:
            raise LoopError(f"{path}: no such file or folder")
        for file in files:
            if file.suffix == ".jsonl":
                try:
                    rows = fileio.read_jsonl(file)
                except ValueError as exc:
                    raise LoopError(str(exc)) from None
                for number, obj in enumerate(rows, 1):
                    if not isinstance(obj, dict) or not obj.get("id") or not isinstance(obj.get("text"), str):
                        raise LoopError(f"{file}:{number}: expected an object with 'id' and 'text'")
                    meta = {k: v for k, v in (obj.get("meta") or {}).items()}
                    records.append(Record(str(obj["id"]), obj["text"], [], str(obj.get("source", "")), meta))
                continue
            records += corpus.sections_of([file])
    if not records:
        raise LoopError("the inputs hold no section with text")
    seen: dict[str, int] = {}
    for record in records:
        seen[record.id] = seen.get(record.id, 0) + 1
    dupes = sorted(sid for sid, n in seen.items() if n > 1)
    if dupes:
        raise LoopError(f"section id(s) occur more than once among the inputs: {', '.join(dupes[:5])}")
    return records


# ---------------------------------------------------------------- retrain with a regression gate


@dataclass
class GateResult:
    promoted: bool
    reason: str
    old: dict[str, Any] | None
    new: dict[str, Any]
    tolerance: float
    candidate_dir: Path
    current_dir: Path


def _micro_f1(scores: dict[str, Any] | None) -> float:
    return float(scores["micro"]["f1"]) if scores else float("nan")


def gate_table(old: dict[str, Any] | None, new: dict[str, Any]) -> str:
    """Old vs new precision/recall/F1 per type on the same held-out split."""
    header = f"{'':<8} {'support':>7}  {'old P':>6} {'old R':>6} {'old F1':>6}  {'new P':>6} {'new R':>6} {'new F1':>6}  {'ΔF1':>6}"
    lines = [header]
    for label in COLUMNS:
        n = new.get(label, {})
        o = (old or {}).get(label, {})
        support = int(n.get("support", o.get("support", 0)))

        def cell(d: dict, key: str) -> str:
            return f"{d[key]:>6.3f}" if key in d else f"{'-':>6}"

        delta = f"{n['f1'] - o['f1']:>+6.3f}" if "f1" in n and "f1" in o else f"{'-':>6}"
        lines.append(
            f"{label:<8} {support:>7}  {cell(o, 'precision')} {cell(o, 'recall')} {cell(o, 'f1')}  "
            f"{cell(n, 'precision')} {cell(n, 'recall')} {cell(n, 'f1')}  {delta}"
        )
    return "\n".join(lines)


def retrain(
    config: TrainConfig,
    current: str | Path = "runs/current",
    annotations: str | Path | None = "annotations/tasks.json",
    tolerance: float | None = None,
    warm_start: bool = False,
    force: bool = False,
    log=print,
) -> GateResult:
    """Rebuild data, train a candidate, score old and new on the same dev split, promote or not;
    the test splits are scored and reported, never used to decide.

    The gate needs dev held out: a config that trains on dev trains the candidate on the rest (said in
    the log). The candidate trains in a hidden folder beside ``current``; promotion swaps folders
    (atomic renames), so ``current`` is always a complete run. A refused candidate is kept in
    ``<current>.rejected`` for inspection.
    """
    from .prediction import Tagger
    from .training import evaluate_examples, load_examples, train

    current = Path(current)
    tolerance = config.promote_tolerance if tolerance is None else float(tolerance)
    if annotations is not None:
        by_split = corpus.build_dataset(annotations, config.data_dir, synthetic=corpus.synthetic_beside(annotations),
                                        grounded=corpus.grounded_beside(annotations))
        log(corpus.stats_table(by_split))
    gate_split = load_examples(config.data_dir, written=False)["dev"]

    old_scores = None
    old_model = current / "model"
    if old_model.exists():
        old_tagger = Tagger.from_dir(old_model, device=config.device)
        old_scores = evaluate_examples(old_tagger, gate_split, config.eval_batch_size)
        del old_tagger
    elif warm_start:
        raise LoopError(f"--warm-start needs a current model, and {old_model} does not exist")

    train_config = replace(config, train_splits=[s for s in config.train_splits if s != "dev"] or ["train"])
    if "dev" in config.train_splits:
        log("retrain: the gate scores dev, so the candidate trains without dev (train_splits: [train])")
    if warm_start:
        train_config.model = str(old_model)
    current.parent.mkdir(parents=True, exist_ok=True)
    candidate = Path(tempfile.mkdtemp(prefix=f".{current.name}.candidate.", dir=current.parent))
    try:
        result = train(train_config, candidate, log=log)
        new_scores = result.metrics["dev"]
        new_f1, old_f1 = _micro_f1(new_scores), _micro_f1(old_scores)
        if old_scores is None:
            promoted, reason = True, f"no current model at {old_model}: the first model is promoted"
        elif new_f1 >= old_f1 - tolerance:
            promoted, reason = True, f"new dev micro F1 {new_f1:.4f} >= current {old_f1:.4f} - tolerance {tolerance:g}"
        elif force:
            promoted, reason = True, f"forced: new dev micro F1 {new_f1:.4f} < current {old_f1:.4f} - tolerance {tolerance:g}"
        else:
            promoted, reason = False, f"new dev micro F1 {new_f1:.4f} < current {old_f1:.4f} - tolerance {tolerance:g}"
        gate = {
            "promoted": promoted,
            "reason": reason,
            "tolerance": tolerance,
            "warm_start": warm_start,
            "gate_split": "dev",
            "dev_sections": [r.id for r, _ in gate_split],
            "old_dev": old_scores,
            "new_dev": new_scores,
            # reported, never decided on
            "new_test": result.metrics["test"],
            **({"new_province_test": result.metrics["province_test"]} if "province_test" in result.metrics else {}),
        }
        fileio.write_json(candidate / "gate.json", gate)
        if promoted:
            fileio.replace_dir(candidate, current)
            final = current
        else:
            final = current.with_name(f"{current.name}.rejected")
            fileio.replace_dir(candidate, final)
        return GateResult(promoted, reason, old_scores, new_scores, tolerance, final, current)
    finally:
        if candidate.exists():
            shutil.rmtree(candidate, ignore_errors=True)


# ---------------------------------------------------------------- learning curve


def subset_ids(records: Sequence[Record], fraction: float, seed: int) -> list[str]:
    """A seeded subset of ``fraction`` of the records; for one seed, smaller fractions nest in larger ones."""
    ids = sorted(r.id for r in records)
    random.Random(seed).shuffle(ids)
    k = max(1, math.ceil(fraction * len(ids) - 1e-9))
    return ids[:k]


@dataclass
class CurvePoint:
    fraction: float
    repeat: int
    sections: int
    spans: int
    spans_by_label: dict[str, int]
    f1: dict[str, float]


def learning_curve(
    config: TrainConfig,
    out_dir: str | Path,
    fractions: Sequence[float] = (0.25, 0.5, 0.75, 1.0),
    repeats: int = 1,
    plot: bool = True,
    log=print,
) -> list[CurvePoint]:
    """Train on seeded fractions of the train sections; score every run on the unchanged dev/test."""
    from .training import train

    fractions = sorted(set(float(f) for f in fractions))
    if not fractions or any(not 0.0 < f <= 1.0 for f in fractions):
        raise LoopError(f"--fractions must lie in (0, 1], got {fractions}")
    if repeats < 1:
        raise LoopError("--repeats must be at least 1")
    if plot:
        _require_matplotlib()
    splits = {s: corpus.load_split(config.data_dir, s) for s in (*SPLITS, "synthetic")}
    if not splits["train"]:
        raise LoopError(f"{config.data_dir}: the train split is empty")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    points: list[CurvePoint] = []
    by_id = {r.id: r for r in splits["train"]}
    with tempfile.TemporaryDirectory(prefix=".curve.", dir=out_dir) as scratch:
        scratch = Path(scratch)
        for repeat in range(repeats):
            for fraction in fractions:
                ids = subset_ids(splits["train"], fraction, config.seed + 1000 * repeat)
                subset = [by_id[i] for i in sorted(ids)]
                data = scratch / f"data-{repeat}-{fraction:g}"
                fileio.write_jsonl(data / "train.jsonl", (r.to_json() for r in subset))
                for split in ("dev", "test", "synthetic"):
                    if splits[split]:
                        fileio.write_jsonl(data / f"{split}.jsonl", (r.to_json() for r in splits[split]))
                run_config = replace(config, data_dir=str(data), seed=config.seed + repeat)
                log(f"curve: fraction {fraction:g}, repeat {repeat + 1}/{repeats}: {len(subset)} sections")
                result = train(run_config, scratch / f"run-{repeat}-{fraction:g}", log=log)
                counts = span_counts(subset)
                test = result.metrics["test"]
                points.append(
                    CurvePoint(
                        fraction, repeat, len(subset), sum(counts.values()),
                        {label: counts[label] for label in LABELS},
                        {label: float(test[label]["f1"]) for label in COLUMNS},
                    )
                )
                shutil.rmtree(scratch / f"run-{repeat}-{fraction:g}", ignore_errors=True)
                shutil.rmtree(data, ignore_errors=True)
    write_curve(points, out_dir, plot=plot, title=f"{config.name}: held-out test F1 vs annotated spans")
    return points


def summarise_curve(points: Sequence[CurvePoint]) -> list[dict[str, Any]]:
    """Mean and standard deviation over repeats, one row per fraction."""
    rows = []
    for fraction in sorted({p.fraction for p in points}):
        group = [p for p in points if p.fraction == fraction]
        row: dict[str, Any] = {
            "fraction": fraction,
            "runs": len(group),
            "sections": float(np.mean([p.sections for p in group])),
            "spans": float(np.mean([p.spans for p in group])),
        }
        for label in COLUMNS:
            values = [p.f1[label] for p in group]
            row[f"{label}_f1"] = float(np.mean(values))
            row[f"{label}_f1_std"] = float(np.std(values))
        rows.append(row)
    return rows


def curve_markdown(points: Sequence[CurvePoint]) -> str:
    rows = summarise_curve(points)
    repeats = max((r["runs"] for r in rows), default=1)
    head = ["fraction", "sections", "spans", *(f"{c} F1" for c in COLUMNS)]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---:" for _ in head) + "|",
    ]
    for row in rows:
        cells = [f"{row['fraction']:g}", f"{row['sections']:.0f}", f"{row['spans']:.0f}"]
        for label in COLUMNS:
            cell = f"{row[label + '_f1']:.3f}"
            if repeats > 1:
                cell += f" ± {row[label + '_f1_std']:.3f}"
            cells.append(cell)
        lines.append("| " + " | ".join(cells) + " |")
    note = (
        f"\nHeld-out test F1 (strict span match) after training on a seeded fraction of the train "
        f"sections; {repeats} run(s) per fraction" + (", mean ± standard deviation." if repeats > 1 else ".")
    )
    return "\n".join(lines) + "\n" + note + "\n"


def write_curve(points: Sequence[CurvePoint], out_dir: Path, plot: bool = True, title: str = "") -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["fraction", "repeat", "sections", "spans", *(f"{l}_spans" for l in LABELS), *(f"{c}_f1" for c in COLUMNS)])
    for p in points:
        writer.writerow(
            [f"{p.fraction:g}", p.repeat, p.sections, p.spans, *(p.spans_by_label[l] for l in LABELS),
             *(f"{p.f1[c]:.4f}" for c in COLUMNS)]
        )
    fileio.write_text(out_dir / "curve.csv", buffer.getvalue())
    fileio.write_text(out_dir / "curve.md", curve_markdown(points))
    fileio.write_json(out_dir / "curve.json", {"runs": [p.__dict__ for p in points], "summary": summarise_curve(points)})
    if plot:
        plot_curve(points, out_dir / "curve.png", title)


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise LoopError(
            "the plot needs matplotlib: pip install 'civic-ner[curve]' (or pip install matplotlib), "
            "or pass --no-plot for the tables only"
        ) from None


def plot_curve(points: Sequence[CurvePoint], target: Path, title: str = "") -> None:
    _require_matplotlib()
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    rows = summarise_curve(points)
    xs = [r["spans"] for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for label in COLUMNS:
        ys = [r[f"{label}_f1"] for r in rows]
        errs = [r[f"{label}_f1_std"] for r in rows]
        style = {"linewidth": 2.5, "color": "black"} if label == "micro" else {"linewidth": 1.5}
        ax.errorbar(xs, ys, yerr=errs if any(errs) else None, marker="o", capsize=3, label=label, **style)
    ax.set_xlabel("annotated spans in the training sections")
    ax.set_ylabel("held-out test F1")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    fig.tight_layout()
    with fileio.atomic_path(target) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


# ---------------------------------------------------------------- what to label next


@dataclass
class Suggestion:
    record: Record
    score: float  # higher = more worth labelling
    mean_entropy: float
    max_entropy: float
    min_confidence: float  # lowest top-tag probability over the characters
    weakest_span: float | None  # lowest predicted-span confidence, None when nothing is predicted
    predicted: int


STRATEGIES = ("entropy", "least-confident")


def uncertainty(tagger, records: Sequence[Record], batch_size: int = 32) -> list[Suggestion]:
    """Per-section uncertainty from the tagger's per-character tag distributions (CRF marginals)."""
    texts = [r.text for r in records]
    marginals = tagger.marginals(texts, batch_size)
    entities = tagger.predict(texts, batch_size)
    out = []
    for record, rows, ents in zip(records, marginals, entities):
        if not len(rows):
            out.append(Suggestion(record, 0.0, 0.0, 0.0, 1.0, None, 0))
            continue
        rows = np.clip(rows.astype(np.float64), 1e-12, 1.0)
        entropy = -(rows * np.log(rows)).sum(axis=1) / math.log(rows.shape[1])  # 0..1
        out.append(
            Suggestion(
                record,
                0.0,
                float(entropy.mean()),
                float(entropy.max()),
                float(rows.max(axis=1).min()),
                float(min(e.score for e in ents)) if ents else None,
                len(ents),
            )
        )
    return out


def rank(suggestions: list[Suggestion], strategy: str = "entropy") -> list[Suggestion]:
    if strategy not in STRATEGIES:
        raise LoopError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    for s in suggestions:
        s.score = s.mean_entropy if strategy == "entropy" else 1.0 - s.min_confidence
    return sorted(suggestions, key=lambda s: (-s.score, s.record.id))


def suggest(
    inputs: Sequence[str | Path],
    model_dir: str | Path,
    n: int = 20,
    strategy: str = "entropy",
    exclude: str | Path | None = "annotations/tasks.json",
    tagger=None,
) -> tuple[list[Suggestion], int]:
    """(top ``n`` sections to label next, number of candidate sections considered)."""
    from .prediction import Tagger

    if n < 1:
        raise LoopError("-n must be at least 1")
    if strategy not in STRATEGIES:
        raise LoopError(f"unknown strategy {strategy!r}; choose from {', '.join(STRATEGIES)}")
    records = load_sections(inputs)
    if exclude is not None and Path(exclude).exists():
        done = corpus.load_annotations(exclude)
        done_ids, done_texts = {r.id for r in done}, {r.text for r in done}
        records = [r for r in records if r.id not in done_ids and r.text not in done_texts]
        if not records:
            raise LoopError(f"every input section is already annotated in {exclude}")
    tagger = tagger or Tagger.from_dir(model_dir)
    ranked = rank(uncertainty(tagger, records), strategy)
    return ranked[:n], len(records)


def suggestion_table(suggestions: Sequence[Suggestion], preview: int = 24) -> str:
    lines = [f"{'rank':>4}  {'score':>6}  {'entropy':>7}  {'min conf':>8}  {'spans':>5}  {'chars':>5}  section  text"]
    for i, s in enumerate(suggestions, 1):
        text = s.record.text.replace("\n", " ")
        text = text[:preview] + ("…" if len(text) > preview else "")
        lines.append(
            f"{i:>4}  {s.score:>6.4f}  {s.mean_entropy:>7.4f}  {s.min_confidence:>8.4f}  {s.predicted:>5}  "
            f"{len(s.record.text):>5}  {s.record.id}  {text}"
        )
    return "\n".join(lines)


def suggestion_json(s: Suggestion, rank_: int) -> dict[str, Any]:
    return {
        **s.record.to_json(),
        "rank": rank_,
        "score": round(s.score, 6),
        "mean_entropy": round(s.mean_entropy, 6),
        "max_entropy": round(s.max_entropy, 6),
        "min_confidence": round(s.min_confidence, 6),
        "weakest_span": None if s.weakest_span is None else round(s.weakest_span, 6),
        "predicted_spans": s.predicted,
    }
