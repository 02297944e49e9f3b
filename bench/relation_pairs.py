"""The fine-tuned pair encoder's rows of the relation CV (``bench/relation_scorer.py --pair-encoder``).

Per fold, :class:`civic_ner.relation_pairs.PairRelationModel` -- what ``relation_model: pair-encoder``
ships -- is fitted on the training sections from the pretrained encoder (never the shipped model's,
which saw every section), reading the candidates' features computed once for all rows.
"""
from __future__ import annotations

from civic_ner.config import TrainConfig
from civic_ner.cv import group_of
from civic_ner.encoder import load_encoder_model, load_tokenizer
from civic_ner.relation_pairs import PairRelationModel, PairSettings, mixed

PRETRAINED = TrainConfig().model
"""The encoder every fold starts from: the default config's pretrained one."""


def fold_scores(train, test, rows: dict, settings: PairSettings, seed: int, encoder: str = PRETRAINED, log=print):
    """Section id -> (probability, candidate) of the pair encoder and of its linear model, for ``test``."""
    by_section = {(r.text, tuple(r.spans)): [(c, f) for c, f, _ in rows[r.id]] for r in list(train) + list(test)}

    def featurize(text, spans):  # the features computed once for all rows (relation_scorer.precompute)
        return by_section[(text, tuple(spans))]

    documents = [(r.text, r.spans, r.relations, group_of((r, None))) for r in train]
    model = PairRelationModel.fit(documents, load_encoder_model(encoder, layers=settings.layers), load_tokenizer(encoder),
                                  settings, seed=seed, featurize=featurize, log=log)
    pairs, linear = {}, {}
    for r in test:
        cands, pair, lin = model.scored_apart(r.text, r.spans, featurize)
        pairs[r.id], linear[r.id] = list(zip(pair, cands)), list(zip(lin, cands))
    return pairs, linear


def mean_probabilities(a: dict[str, list], b: dict[str, list]) -> dict[str, list]:
    """The shipped mix (half and half) of the pair encoder's and the linear model's probabilities."""
    return {rid: list(zip(mixed([p for p, _ in a[rid]], [q for q, _ in b[rid]], 0.5), (c for _, c in a[rid]))) for rid in a}
