"""Listwise training for the linear relation model: a number's owners compete for it (a CV row of
``bench/relation_scorer.py --listwise``; not shipped: +0.3 micro F1, within the rule's 0.4).

The decoder keeps one owner per number and owner label, one whole per part and one earlier mention
per repeat (:meth:`civic_ner.relation_model.RelationModel.decode`), but the logistic regression
learns every candidate on its own: a figure's two plausible programs are two unrelated yes/no
questions. Here the candidates of one such choice share a softmax with "none of these" (one learned
logit per relation type) -- a conditional logit, the loss the decoding implies -- while runs and
gives (every actor is kept) stay binary. Same features, same L2 penalty as the regression; fitted
with L-BFGS over all candidates at once.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

from civic_ner.relation_model import Candidate
from civic_ner.relation_model import CHOICES
from civic_ner.relation_pairs import RELATION_TYPES, choice_groups
from civic_ner.types import Span


class ChoiceModel:
    """Weights over the relation model's feature dicts, trained listwise; ``scores`` gives the
    probabilities the decoder reads (sigmoid for runs / gives, the choice's softmax otherwise)."""

    def __init__(self, weights: dict[str, float] | None = None, bias: float = 0.0, null: dict[str, float] | None = None) -> None:
        self.weights = weights or {}
        self.bias = bias
        self.null = null or dict.fromkeys(CHOICES, 0.0)

    def fit(self, sections: Sequence[tuple[Sequence[Span], list[tuple[Candidate, dict[str, float], int]]]],
            c: float = 0.5, iterations: int = 300) -> "ChoiceModel":
        """``sections``: each section's spans and (candidate, features, gold 0/1) rows."""
        import numpy as np
        import torch
        from sklearn.feature_extraction import DictVectorizer

        rows = list(sections)
        feats = [f for _, section in rows for _, f, _ in section]
        vectorizer = DictVectorizer()
        x = vectorizer.fit_transform(feats).tocoo()
        matrix = torch.sparse_coo_tensor(np.vstack([x.row, x.col]), torch.tensor(x.data, dtype=torch.float64), x.shape).coalesce()
        gold = torch.tensor([y for _, section in rows for _, _, y in section], dtype=torch.float64)
        group, relation, offset = [], [], 0
        for spans, section in rows:
            local = choice_groups(spans, [cand for cand, _, _ in section])
            group += [g + offset if g >= 0 else -1 for g in local]
            offset += max(local, default=-1) + 1
            relation += [RELATION_TYPES.index(cand.label) for cand, _, _ in section]
        group_t, relation_t = torch.tensor(group), torch.tensor(relation)
        w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        null = torch.zeros(len(RELATION_TYPES), dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.LBFGS([w, b, null], max_iter=iterations, line_search_fn="strong_wolfe")

        def closure():
            optimizer.zero_grad()
            z = torch.sparse.mm(matrix, w[:, None])[:, 0] + b
            loss = choice_loss(z, gold, group_t, relation_t, null, offset) + (w * w).sum() / (2 * c)
            loss.backward()
            return loss

        optimizer.step(closure)
        names = vectorizer.get_feature_names_out()
        self.weights = {str(n): float(v) for n, v in zip(names, w.detach().tolist()) if v}
        self.bias = float(b.detach()[0])
        self.null = {t: float(null.detach()[RELATION_TYPES.index(t)]) for t in CHOICES}
        return self

    def logits(self, feats: Sequence[dict[str, float]]) -> list[float]:
        return [self.bias + sum(self.weights.get(k, 0.0) * v for k, v in f.items()) for f in feats]

    def scores(self, spans: Sequence[Span], cands: Sequence[Candidate], feats: Sequence[dict[str, float]]) -> list[float]:
        """The probability of each candidate: sigmoid for runs / gives, its share of its choice's
        softmax (with "none of these") otherwise."""
        z = self.logits(feats)
        groups = choice_groups(spans, cands)
        top: dict[int, float] = {}
        for k, g in enumerate(groups):
            if g >= 0:
                top[g] = max(top.get(g, self.null[cands[k].label]), z[k])
        total: dict[int, float] = {}
        for k, g in enumerate(groups):
            if g >= 0:
                if g not in total:
                    total[g] = math.exp(self.null[cands[k].label] - top[g])
                total[g] += math.exp(z[k] - top[g])
        return [1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z[k])))) if g < 0 else math.exp(z[k] - top[g]) / total[g]
                for k, g in enumerate(groups)]


def choice_loss(z, gold, group, relation, null, groups: int):
    """Binary cross-entropy of the independent candidates plus, per choice, -log of the probability
    of its gold candidates (or of "none") under the softmax of its candidates and "none"."""
    import torch

    independent = group < 0
    loss = torch.nn.functional.binary_cross_entropy_with_logits(z[independent], gold[independent], reduction="sum")
    if groups == 0:
        return loss
    member = ~independent
    g, zg, yg = group[member], z[member], gold[member]
    null_g = torch.zeros(groups, dtype=z.dtype).scatter_reduce(0, g, null[relation[member]], "amax", include_self=False)
    top = torch.maximum(null_g, torch.full((groups,), -1e9, dtype=z.dtype).scatter_reduce(0, g, zg, "amax", include_self=False))
    denominator = torch.exp(null_g - top).index_add(0, g, torch.exp(zg - top[g]))
    has_gold = torch.zeros(groups, dtype=z.dtype).index_add(0, g, yg) > 0
    gold_z = torch.where(yg > 0, zg, torch.full_like(zg, -1e9))  # the gold candidates' own log-sum-exp (no underflow)
    gold_top = torch.full((groups,), -1e9, dtype=z.dtype).scatter_reduce(0, g, gold_z, "amax", include_self=False)
    gold_mass = torch.zeros(groups, dtype=z.dtype).index_add(0, g, torch.exp(gold_z - gold_top[g]) * yg)
    log_numerator = torch.where(has_gold, gold_top + torch.log(gold_mass.clamp_min(1e-300)), null_g)
    return loss + (top + torch.log(denominator) - log_numerator).sum()
