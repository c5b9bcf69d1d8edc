"""Positional k-mer logistic regression as a search candidate (DNA classification): the weight-array model
of :class:`autofast.models.kmer.KmerClassifier`.

Scored exactly like the CNN configurations and the other feature families (the same validation split, or the
same folds with out-of-fold predictions: :func:`.blend.fitted_candidate`), chosen on that score alone or
blended with the best CNN (:mod:`.blend`); the final one is refit on train+val. The test split is never read
here.
"""
from __future__ import annotations

import time

import torch

from autofast.models.kmer import KmerClassifier

from .blend import FittedClassifier, fitted_candidate


class KmerModel(FittedClassifier):
    """A fitted :class:`KmerClassifier` as a module: ``forward(x)`` ``(N, 4, L)`` -> log class probabilities
    ``(N, K)`` (log-softmax of ``temperature`` x the logits)."""


def candidate(task, folds: torch.Tensor | None, seed: int, device="cpu", order: int = 2) -> dict:
    """:func:`.blend.fitted_candidate` with k-mers up to ``order`` (2 or 3), plus ``c`` (the chosen L2 strength,
    or one per fold) and ``order``."""
    cand = fitted_candidate(task, folds, lambda: KmerClassifier(seed=seed, order=order), device)
    cs = [clf.c_ for clf in cand.pop("fitted")]
    return {**cand, "c": cs[0] if folds is None else cs, "order": order}


def final(task, cand: dict, seed: int, temperature: float = 1.0, device="cpu",
          time_left: float | None = None) -> tuple[KmerModel, float, dict]:
    """The family's final model at the candidate's order (``cand["order"]``): refit on train+val (``C``
    cross-validated again there); (model, seconds, record). ``time_left``: not used (one fit)."""
    t0 = time.perf_counter()
    clf = KmerClassifier(seed=seed, order=cand["order"]).fit(torch.cat([task.x_train, task.x_val]),
                                                             torch.cat([task.y_train, task.y_val]))
    return KmerModel(clf, temperature).to(device), time.perf_counter() - t0, {"c": clf.c_, "order": clf.order}
