"""Relations given gold entities: the cues against the learned model, CV by province (issue 19).

The units are those of the NER model's CV (``civic_ner.cv.cv_examples``: the seeds' train and dev
sections, the grounded items of the training provinces; never a test split), dealt into k folds by
whole province (the seeds' sections by bulletin), three different dealings (seeds 13, 14, 15):
scores pooled over the folds of a dealing, mean ± std over dealings. Rows:

- ``cues``: the cue extractor (``civic_ner.facts``); it learns nothing, but its rules were written
  after reading the seeds' gold relations, so on the seeds' sections it is in-sample;
- ``learned, no cues``: the relation model without the cues' verdict among its features;
- ``learned + cues``: the relation model as shipped when CV prefers it;
- ``learned + cues + encoder vectors`` (``--encoder-vectors MODEL_DIR``): plus dense features of the
  two ends' encoder vectors (``bench/relation_vectors.py``). Caveat: the shipped model's encoder was
  fine-tuned (for entities, not relations) on these very sections, so this row is optimistic;
- ``learned + cues + pretrained encoder vectors`` (``--pretrained-control``): the same features from
  the pretrained encoder the config names, which has never seen these sections: the clean control;
- ``learned + cues, per-type thresholds`` (``--type-thresholds``): each relation type's threshold
  chosen by an inner CV over the training folds only (never the held-out fold), to maximize that
  type's F1, or (``... for micro F1``) the micro F1 of all types together;
- ``--variants``: the rows of ``bench/relation_variants.py`` (other learners and features over the
  same candidates: extra features from an error analysis, LR with feature conjunctions, gradient-boosted
  trees, trees stacked on the LR's out-of-fold logit) and the shipped learner without one group of its
  features at a time (由 actors, clauses, part sums); ``--variant-thresholds``: the shipped and tree
  rows with one threshold for all types chosen by an inner CV over the training folds (slow).

  python bench/relation_scorer.py [--data-dir data] [--folds 5] [--json bench/results/relations_cv.json]
      [--encoder-vectors runs/default/model [--pretrained-control]] [--type-thresholds]
      [--variants] [--variant-thresholds] [--gbt-min-count 20] [--gbt-learning-rate 0.1] [--gbt-iterations 200]
      [--seeds 13 14 15]
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from civic_ner.cv import CV_SPLITS, group_of  # noqa: E402
from civic_ner.evaluation import RELATION_ROWS, relation_prf  # noqa: E402
from civic_ner.facts import extract_relations  # noqa: E402
from civic_ner.report import TOTAL_NAMES as TOTALS  # noqa: E402
from civic_ner.relation_model import THRESHOLD, Candidate, RelationModel, featurized  # noqa: E402
from relation_vectors import PairProjection, section_vectors  # noqa: E402
import relation_variants as variants  # noqa: E402
from civic_ner.relation_pairs import PairSettings  # noqa: E402
from relation_pairs import fold_scores, mean_probabilities  # noqa: E402

ROWS = ("cues", "learned, no cues", "learned + cues")
EVERY_REPEAT_ROW = "learned + cues, every repeat kept (decoding before R4)"
"""The shipped model's scores decoded keeping a same_as also between mentions of a figure no one owns."""
ENCODER_ROW = "learned + cues + encoder vectors"
PRETRAINED_ROW = "learned + cues + pretrained encoder vectors"
TYPED = ", per-type thresholds"
VARIANT_ROWS = ("learned + cues + extra features", "learned + cues x conjunctions", "gradient-boosted trees",
                "gradient-boosted trees + LR logit + extra features")
"""``--variants``: other learners and features over the same candidates (``bench/relation_variants.py``)."""
WITHOUT_AGENT_ROW = "learned + cues, without the 由 actor features"
WITHOUT_CLAUSE_ROW = "learned + cues, without the clause features"
WITHOUT_PART_SUMS_ROW = "learned + cues, without part sums"
WITHOUT_FEATURES = {WITHOUT_AGENT_ROW: ("|by_actor",), WITHOUT_CLAUSE_ROW: ("|break=", "|same_clause=", "|number_clause_has_other="),
                    WITHOUT_PART_SUMS_ROW: ("|sums_to_target=", "|nearest_larger=", "|share=")}
WITHOUT_FEATURES["learned + cues, without clauses and part sums (shipped before)"] = (
    WITHOUT_FEATURES[WITHOUT_CLAUSE_ROW] + WITHOUT_FEATURES[WITHOUT_PART_SUMS_ROW])
"""Ablation rows: the shipped learner without one group of its features (the keys' markers)."""
FEATURE_ROWS = tuple(WITHOUT_FEATURES)
LISTWISE_ROW = "learned + cues, listwise choices"
"""``--listwise``: the same features, a number's owners competing in one softmax (bench/relation_choice.py)."""
PAIR_ROW = "pair encoder (fine-tuned) + LR logit"
PAIR_MEAN_ROW = "mean of the pair encoder and learned + cues"
"""``--pair-encoder``: the fine-tuned pair encoder stacked on the shipped learner (bench/relation_pairs.py),
and the plain average of its probability and the shipped learner's."""
INNER = ", threshold by inner CV"
MICRO = " for micro F1"
SEEDS = (13, 14, 15)
THRESHOLD_GRID = tuple(round(0.1 + 0.05 * k, 2) for k in range(13))
"""0.1 ... 0.7: the thresholds an inner CV chooses among, per relation type."""
DECODER = RelationModel(threshold=0.0)


def dealing(records, folds: int, seed: int) -> dict[str, int]:
    """Section id -> fold: whole groups (province / seed section) in a seeded random order, each to
    the fold with the fewest spans so far (balanced; the seed changes which groups share a fold)."""
    groups: dict[str, int] = Counter()
    for r in records:
        groups[group_of((r, None))] += len(r.spans)
    names = sorted(groups)
    random.Random(seed).shuffle(names)
    load = [0] * folds
    fold_of: dict[str, int] = {}
    for name in names:
        fold_of[name] = min(range(folds), key=lambda f: (load[f], f))
        load[fold_of[name]] += groups[name]
    return {r.id: fold_of[group_of((r, None))] for r in records}


CUE_PREFIX = "|cue="


def precompute(records) -> dict[str, list]:
    """Per section: (candidate, features with the cue verdict, gold or not), computed once."""
    out = {}
    for r in records:
        wanted = {(g.source, g.target, g.label) for g in r.relations}
        out[r.id] = [(cand, feats, int((cand.source, cand.target, cand.label) in wanted))
                     for cand, feats in featurized(r.text, r.spans, cues=True)]
    return out


def cv_records(data_dir) -> list:
    """The CV's sections: the training splits' (never a test split), the grounded ones only once their
    relation layer is merged (it is merged for all or none)."""
    from civic_ner.corpus import load_split

    records = [r for split in CV_SPLITS for r in load_split(data_dir, split)]
    grounded_done = any(r.relations for r in records if r.meta.get("grounded"))
    return [r for r in records if grounded_done or not r.meta.get("grounded")]


def without_cues(feats: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in feats.items() if CUE_PREFIX not in k}


@dataclass
class Options:
    """What the optional rows need: per-section entity vectors (fine-tuned and pretrained encoder),
    the projection's size and scale, and whether per-type thresholds are measured."""

    threshold: float = THRESHOLD
    vectors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # row -> section id -> vectors
    dims: int = 32
    scale: float = 0.5
    type_thresholds: bool = False
    seeds: tuple[int, ...] = SEEDS
    variants: bool = False
    variant_thresholds: bool = False
    gbt: dict = field(default_factory=dict)  # the trees' settings (``--gbt-min-count`` ...)
    pairs: PairSettings | None = None
    listwise: bool = False


def row_features(name: str, train, sections, rows: dict, options: Options) -> dict[str, list[dict]]:
    """Section id -> the features the row ``name`` reads for each candidate of ``sections``; a row
    with encoder vectors fits its projection on the ``train`` sections only."""
    if name == "learned, no cues":
        return {r.id: [without_cues(f) for _, f, _ in rows[r.id]] for r in sections}
    if "extra features" in name:
        return {r.id: [{**f, **variants.extra_features(r.text, r.spans, c, f)} for c, f, _ in rows[r.id]] for r in sections}
    if name in WITHOUT_FEATURES:
        markers = WITHOUT_FEATURES[name]
        return {r.id: [{k: v for k, v in f.items() if not any(m in k for m in markers)} for _, f, _ in rows[r.id]]
                for r in sections}
    vectors = options.vectors.get(name)
    if vectors is None:
        return {r.id: [f for _, f, _ in rows[r.id]] for r in sections}
    projection = PairProjection(options.dims, options.scale).fit([vectors[r.id] for r in train])
    out = {}
    for r in sections:
        projected = projection.project(vectors[r.id])
        out[r.id] = [{**f, **projection.features(projected, c.source, c.target, c.label)} for c, f, _ in rows[r.id]]
    return out


def fit_and_score(name: str, train, test, rows: dict, options: Options,
                  assignment: dict[str, int] | None = None) -> dict[str, list[tuple[float, Candidate]]]:
    """Fit row ``name`` on ``train``; section id -> (probability, candidate) of every test candidate."""
    name = name.removesuffix(INNER)
    if name == LISTWISE_ROW:
        from relation_choice import ChoiceModel

        model = ChoiceModel().fit([(r.spans, rows[r.id]) for r in train])
        return {r.id: list(zip(model.scores(r.spans, [c for c, _, _ in rows[r.id]], [f for _, f, _ in rows[r.id]]),
                               (c for c, _, _ in rows[r.id]))) for r in test}
    feats = row_features(name, train, list(train) + list(test), rows, options)
    labels = [y for r in train for _, _, y in rows[r.id]]
    train_rows = [f for r in train for f in feats[r.id]]
    if name in VARIANT_ROWS:
        if "LR logit" in name:  # the stacked trees' inner folds: the training sections' own folds
            folds = assignment or {}
            if len({folds.get(r.id) for r in train}) < 2:  # one fold left to learn from: split it by section
                folds = {r.id: k % 3 for k, r in enumerate(train)}
            groups = [folds[r.id] for r in train for _ in rows[r.id]]
            scorer = variants.fit_stacked(train_rows, labels, groups, **options.gbt)
        elif "trees" in name:
            scorer = variants.fit_gbt(train_rows, labels, **options.gbt)
        elif "conjunctions" in name:
            scorer = variants.fit_conjunctions(train_rows, labels)
        else:
            scorer = variants.fit_lr(train_rows, labels)
        return {r.id: list(zip(scorer(feats[r.id]), (c for c, _, _ in rows[r.id]))) for r in test}
    model = RelationModel(cues=name != "learned, no cues").fit_rows(train_rows, labels)
    return {r.id: [(model.probability(f), c) for (c, _, _), f in zip(rows[r.id], feats[r.id])] for r in test}


def decoded(r, scored: list[tuple[float, Candidate]], thresholds: dict[str, float], owned_repeats_only: bool = True) -> set[tuple]:
    """The relations kept from ``scored`` with a threshold per relation type (the decoder's rules
    otherwise unchanged: its own threshold is 0, the filter comes first)."""
    kept = [(p, c) for p, c in scored if p >= thresholds[c.label]]
    return {(x.source, x.target, x.label) for x in DECODER.decode(r.spans, kept, r.text, owned_repeats_only)}


def gold_of(r) -> set[tuple]:
    return {(x.source, x.target, x.label) for x in r.relations}


def inner_counts(name: str, train, assignment: dict[str, int], rows: dict, options: Options) -> dict[float, Counter]:
    """Threshold -> (relation type, tp / found / gold) -> count over an inner CV of the training folds
    (each training fold held out once, fitted on the others). The decoder's keys never mix types, so
    a type's counts depend on its own threshold only, and any per-type choice can be scored from these."""
    scored: dict[str, list] = {}
    for fold in sorted({assignment[r.id] for r in train}):
        inner_train = [r for r in train if assignment[r.id] != fold]
        held = [r for r in train if assignment[r.id] == fold]
        scored.update(fit_and_score(name, inner_train, held, rows, options, assignment))
    out: dict[float, Counter] = {}
    for t in THRESHOLD_GRID:
        counts: Counter = Counter()
        uniform = dict.fromkeys(RELATION_ROWS, t)
        for r in train:
            gold, found = gold_of(r), decoded(r, scored[r.id], uniform)
            counts.update((x[-1], "tp") for x in gold & found)
            counts.update((x[-1], "found") for x in found)
            counts.update((x[-1], "gold") for x in gold)
        out[t] = counts
    return out


def _f1(tp: int, found: int, gold: int) -> float:
    return 2 * tp / (found + gold) if found + gold else 0.0


def choose_thresholds(counts: dict[float, Counter], objective: str, default: float) -> dict[str, float]:
    """Per type, a threshold of THRESHOLD_GRID: ``type`` maximizes each type's own F1, ``micro`` the
    micro F1 of all types together (coordinate ascent from ``default``, two passes). Ties keep the
    threshold nearest the shipped one."""
    def total(choice: dict[str, float]) -> float:
        return _f1(*(sum(counts[choice[x]][(x, k)] for x in RELATION_ROWS) for k in ("tp", "found", "gold")))

    choice = dict.fromkeys(RELATION_ROWS, min(THRESHOLD_GRID, key=lambda t: abs(t - default)))
    for _ in range(1 if objective == "type" else 2):
        for label in RELATION_ROWS:
            def gain(t: float) -> tuple[float, float]:
                if objective == "type":
                    return _f1(*(counts[t][(label, k)] for k in ("tp", "found", "gold"))), -abs(t - default)
                return total({**choice, label: t}), -abs(t - choice[label])
            choice[label] = max(THRESHOLD_GRID, key=gain)
    return choice


def score_fold(train, test, rows: dict, found: dict[str, list], options: Options, assignment: dict[str, int],
               chosen: dict[str, list], saved: dict[str, dict]) -> None:
    """Fit every learned row on ``train``; append each test section's (gold, found) to ``found`` (and the
    pair rows' out-of-fold probabilities to ``saved``)."""
    uniform = dict.fromkeys(RELATION_ROWS, options.threshold)
    for r in test:
        found["cues"].append((gold_of(r), {(x.source, x.target, x.label) for x in extract_relations(r.text, r.spans)}))
    if options.pairs is not None:
        _score_pairs(train, test, rows, found, options, saved)
    for name in found:
        if name in ("cues", EVERY_REPEAT_ROW, PAIR_ROW, PAIR_MEAN_ROW) or TYPED in name or INNER in name:
            continue
        scored = fit_and_score(name, train, test, rows, options, assignment)
        for r in test:
            found[name].append((gold_of(r), decoded(r, scored[r.id], uniform)))
            if name == ROWS[-1]:
                found[EVERY_REPEAT_ROW].append((gold_of(r), decoded(r, scored[r.id], uniform, owned_repeats_only=False)))
        if name + INNER in found:  # one threshold for all types, the inner CV's best micro F1
            counts = inner_counts(name, train, assignment, rows, options)
            best = max(THRESHOLD_GRID, key=lambda t: (_f1(*(sum(counts[t][(x, k)] for x in RELATION_ROWS)
                                                            for k in ("tp", "found", "gold"))), -abs(t - options.threshold)))
            chosen[name + INNER].append(best)
            for r in test:
                found[name + INNER].append((gold_of(r), decoded(r, scored[r.id], dict.fromkeys(RELATION_ROWS, best))))
        if name + TYPED in found:
            counts = inner_counts(name, train, assignment, rows, options)
            for objective, suffix in (("type", TYPED), ("micro", TYPED + MICRO)):
                thresholds = choose_thresholds(counts, objective, options.threshold)
                chosen[name + suffix].append(thresholds)
                for r in test:
                    found[name + suffix].append((gold_of(r), decoded(r, scored[r.id], thresholds)))


def _score_pairs(train, test, rows: dict, found: dict[str, list], options: Options, saved: dict[str, dict]) -> None:
    """The pair encoder's rows for one fold: fitted on ``train`` (bench/relation_pairs.py), its
    probabilities and their mean with its linear model's on ``test``."""
    scored, linear = fold_scores(train, test, rows, options.pairs, seed=len(found[PAIR_ROW]))
    uniform = dict.fromkeys(RELATION_ROWS, options.threshold)
    mean = mean_probabilities(scored, linear)
    for r in test:  # out-of-fold probabilities, for mixes scored later without refitting (--save-scores)
        saved[r.id] = {"pair": [round(p, 6) for p, _ in scored[r.id]], "linear": [round(q, 6) for q, _ in linear[r.id]]}
    for r in test:
        found[PAIR_ROW].append((gold_of(r), decoded(r, scored[r.id], uniform)))
        found[PAIR_MEAN_ROW].append((gold_of(r), decoded(r, mean[r.id], uniform)))
    micro = relation_prf(found[PAIR_ROW][-len(test):])["micro"]["f1"]
    print(f"  fold of {len(test)} sections: pair encoder micro F1 {micro:.3f}", flush=True)


def totals_shares(records, found: list[set[tuple]]) -> dict[str, dict]:
    """What the product promises, on the out-of-fold relations: per measure of ``TOTALS`` (program
    money, ...), the programs (organizations) whose total from them equals the gold relations' one
    (equal / total / share)."""
    from civic_ner.relations import Relation
    from civic_ner.report import totals_agreement

    relations = [[Relation(*x) for x in sorted(f)] for f in found]
    agreement = totals_agreement(list(records), found=relations)
    return {measure: {k: agreement[measure][k] for k in ("equal", "total")}
            | {"share": agreement[measure]["share"] or 0.0} for measure in TOTALS}


def row_names(options: Options) -> list[str]:
    names = [*ROWS, EVERY_REPEAT_ROW]
    for name in (ENCODER_ROW, PRETRAINED_ROW):
        if name in options.vectors:
            names.append(name)
    if options.type_thresholds:  # on the shipped row only: the vector rows did not beat it (bench/results)
        names += [ROWS[-1] + TYPED, ROWS[-1] + TYPED + MICRO]
    if options.variants:
        names += list(VARIANT_ROWS) + list(FEATURE_ROWS)
    if options.listwise:
        names.append(LISTWISE_ROW)
    if options.pairs is not None:
        names += [PAIR_ROW, PAIR_MEAN_ROW]
    if options.variant_thresholds:
        names += [ROWS[-1] + INNER] + [n + INNER for n in VARIANT_ROWS if "trees" in n]
    return names


def cross_validate(records, folds: int, options: Options) -> tuple[dict, dict, dict]:
    """Scores per row (mean ± std over dealings), the per-type thresholds each fold chose, and per
    dealing the pair rows' out-of-fold probabilities (empty without ``--pair-encoder``)."""
    rows = precompute(records)
    names = row_names(options)
    per_seed = []
    chosen: dict[str, list] = {n: [] for n in names if TYPED in n or INNER in n}
    saved: dict[int, dict] = {}
    for seed in options.seeds:
        assignment = dealing(records, folds, seed)
        found: dict[str, list] = {name: [] for name in names}
        for fold in range(folds):
            train = [r for r in records if assignment[r.id] != fold]
            test = [r for r in records if assignment[r.id] == fold]
            score_fold(train, test, rows, found, options, assignment, chosen, saved.setdefault(seed, {}))
        scored = {name: relation_prf(pairs) for name, pairs in found.items()}
        order = [r for fold in range(folds) for r in records if assignment[r.id] == fold]  # score_fold's order
        for name, pairs in found.items():
            scored[name].update(totals_shares(order, [f for _, f in pairs]))
        per_seed.append(scored)
    out = {}
    for name in names:
        out[name] = {}
        for measure in TOTALS:
            shares = [s[name][measure]["share"] for s in per_seed]
            out[name][measure] = {"share": round(statistics.mean(shares), 4), "share_std": round(statistics.pstdev(shares), 4),
                                  "share_dealings": [round(x, 4) for x in shares],
                                  "equal_first_dealing": per_seed[0][name][measure]["equal"],
                                  "total": per_seed[0][name][measure]["total"]}
        for label in (*RELATION_ROWS, "micro"):
            f1s = [s[name][label]["f1"] for s in per_seed]
            first = per_seed[0][name][label]
            out[name][label] = {"f1": round(statistics.mean(f1s), 4), "f1_std": round(statistics.pstdev(f1s), 4),
                                "f1_dealings": [round(f, 4) for f in f1s],
                                "precision_first_dealing": round(first["precision"], 4),
                                "recall_first_dealing": round(first["recall"], 4), "support": first["support"]}
    return out, chosen, saved


def options_from(args, records) -> Options:
    """The rows the flags ask for; the pretrained control reads the encoder the default config names."""
    options = Options(args.threshold, dims=args.vector_dims, scale=args.vector_scale, type_thresholds=args.type_thresholds,
                      seeds=tuple(args.seeds), variants=args.variants, variant_thresholds=args.variant_thresholds,
                      gbt=variants.gbt_settings(args.gbt_min_count, args.gbt_learning_rate, args.gbt_iterations),
                      listwise=args.listwise,
                      pairs=PairSettings(epochs=args.pair_epochs, layers=args.pair_layers, listwise=args.pair_listwise,
                                         context=args.pair_context, markers=args.pair_markers)
                      if args.pair_encoder else None)
    if args.encoder_vectors:
        options.vectors[ENCODER_ROW] = section_vectors(records, args.encoder_vectors)
        if args.pretrained_control:
            from civic_ner.config import load_config

            encoder = load_config(str(ROOT / "configs" / "default.yaml")).model
            options.vectors[PRETRAINED_ROW] = section_vectors(records, args.encoder_vectors, encoder)
    return options


def command_of(args) -> str:
    parts = ["python bench/relation_scorer.py"]
    if args.threshold != THRESHOLD:
        parts.append(f"--threshold {args.threshold}")
    if args.encoder_vectors:
        parts.append(f"--encoder-vectors {args.encoder_vectors}" + (" --pretrained-control" if args.pretrained_control else ""))
        parts.append(f"--vector-dims {args.vector_dims} --vector-scale {args.vector_scale}")
    if args.type_thresholds:
        parts.append("--type-thresholds")
    if args.variants or args.variant_thresholds:
        parts.append(("--variants " if args.variants else "") + ("--variant-thresholds " if args.variant_thresholds else "")
                     + f"--gbt-min-count {args.gbt_min_count} --gbt-learning-rate {args.gbt_learning_rate} "
                     f"--gbt-iterations {args.gbt_iterations}")
    if args.listwise:
        parts.append("--listwise")
    if args.pair_encoder:
        parts.append(f"--pair-encoder --pair-epochs {args.pair_epochs} --pair-layers {args.pair_layers}"
                     + (" --pair-listwise" if args.pair_listwise else "") + (" --pair-context" if args.pair_context else "")
                     + (" --pair-markers" if args.pair_markers else ""))
    if tuple(args.seeds) != SEEDS:
        parts.append("--seeds " + " ".join(map(str, args.seeds)))
    return " ".join(parts)


def main(argv: list[str] | None = None) -> None:
    from civic_ner import fileio

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(ROOT / "data"))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--threshold", type=float, default=THRESHOLD,
                   help="probability above which a candidate is kept (default: the shipped %(default)s)")
    p.add_argument("--encoder-vectors", metavar="MODEL_DIR", help="add the row with the two ends' encoder vectors")
    p.add_argument("--pretrained-control", action="store_true", help="and the row with the pretrained encoder's")
    p.add_argument("--vector-dims", type=int, default=32, help="PCA components per entity (default %(default)s)")
    p.add_argument("--vector-scale", type=float, default=0.5, help="factor on the whitened components (default %(default)s)")
    p.add_argument("--type-thresholds", action="store_true", help="add rows with per-type thresholds (inner CV)")
    p.add_argument("--variants", action="store_true", help="add the rows of bench/relation_variants.py")
    p.add_argument("--variant-thresholds", action="store_true",
                   help="add the shipped and tree rows with one threshold chosen by inner CV (slow: 5x the fits)")
    p.add_argument("--gbt-min-count", type=int, default=variants.MIN_COUNT, help="training rows a tree column needs")
    p.add_argument("--gbt-learning-rate", type=float, default=0.1)
    p.add_argument("--gbt-iterations", type=int, default=200)
    p.add_argument("--listwise", action="store_true", help="add the row with listwise choices (a number's owners compete)")
    p.add_argument("--pair-encoder", action="store_true", help="add the fine-tuned pair encoder's rows (slow: minutes a fold)")
    p.add_argument("--pair-epochs", type=int, default=PairSettings.epochs)
    p.add_argument("--pair-layers", type=int, default=PairSettings.layers)
    p.add_argument("--pair-listwise", action="store_true", help="the pair encoder learns one owner per number as a choice "
                   "(else every candidate on its own)")
    p.add_argument("--pair-context", action="store_true", help="the pair encoder also reads the mean of the pieces "
                   "between the two ends")
    p.add_argument("--pair-markers", action="store_true", help="the pair encoder reads every entity between two markers")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS), help="the dealings (default %(default)s)")
    p.add_argument("--save-scores", metavar="FILE", help="with --pair-encoder: write each candidate's out-of-fold "
                   "probabilities (pair encoder, linear model) here, per dealing")
    p.add_argument("--json", default=str(ROOT / "bench" / "results" / "relations_cv.json"))
    args = p.parse_args(argv)
    annotated = cv_records(args.data_dir)
    options = options_from(args, annotated)
    scores, chosen, saved = cross_validate(annotated, args.folds, options)
    if args.save_scores:
        fileio.write_json(args.save_scores, {"command": command_of(args), "dealings": saved})
    names = list(scores)
    print(f"{len(annotated)} sections, {sum(len(r.relations) for r in annotated)} gold relations; given gold entities; "
          f"{args.folds}-fold CV by province, dealings {tuple(args.seeds)}: F1 mean ± std")
    for name in names:
        print(f"{name:<72}" + "  ".join(f"{label} {scores[name][label]['f1']:.3f}±{scores[name][label]['f1_std']:.3f}"
                                         for label in (*RELATION_ROWS, "micro"))
              + "  totals right: " + "  ".join(f"{m} {scores[name][m]['share']:.3f}±{scores[name][m]['share_std']:.3f}"
                                              for m in TOTALS))
    fileio.write_json(args.json, {
        "command": command_of(args),
        "threshold": args.threshold, "sections": len(annotated), "folds": args.folds,
        "dealings": list(args.seeds), "splits": list(CV_SPLITS), "in_sample": ["cues on the seeds' sections"]
        + (["encoder vectors: the encoder was fine-tuned (for entities) on these sections"] if args.encoder_vectors else []),
        "relations": sum(len(r.relations) for r in annotated), "scores": scores,
        **({"type_thresholds_chosen": chosen} if chosen else {}),
    })
    print(f"-> {args.json}")


if __name__ == "__main__":
    main()
