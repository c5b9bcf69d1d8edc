"""Noise-aware choice between fine-tuning objectives: the one-standard-error rule on paired OOD validation scores.

A small OOD validation set cannot tell apart objectives whose scores differ by less than its sampling noise, and
a search that keeps the maximum over many objectives overfits it. So the final choice is made on *units* of the
validation set scored for every candidate's model: per-example correctness for accuracy (a unit is an example),
per-fold scores of class-stratified folds for macro-F1 and worst-group accuracy (not sums over examples). The
differences between two candidates are paired (the same units), so their standard error is
``std(d, ddof=1) / sqrt(U)`` for the per-unit differences ``d`` (U units).

A candidate is also only as good as the training seed it was scored with: on the splice species shift a searched
objective beat CE-only by 0.030 (1.4 SE) with its selection seed and scored 0.015 / -0.045 / -0.104 against it with
three fresh ones. So each candidate is retrained with S selection seeds and scored as ``(S, U)``; the paired
difference's standard error adds the seed-to-seed spread to the units' one:
``sqrt(var_U(mean_S d) / U + var_S(mean_U d) / S)`` (S = 1: the units' term alone).

Rule (Breiman et al.'s one-SE rule, candidates ordered simplest first): take the candidate with the best mean;
keep the simplest candidate whose mean is within one standard error of the best (paired). With two candidates,
CE-only and the searched objective, the searched one is taken only when it beats CE-only by MORE than one SE.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from .metrics import scores_from_predictions


def unit_scores(pred: torch.Tensor, y: torch.Tensor, num_classes: int, metric: str, folds: int = 5,
                seed: int = 0) -> np.ndarray:
    """Per-unit scores of predictions ``pred`` (N,) for targets ``y`` (N,): ``(N,)`` 0/1 correctness for
    ``accuracy`` (their mean is the accuracy); otherwise ``(F,)`` scores of ``F = min(folds, N)``
    class-stratified folds (each class dealt round-robin over the folds after a permutation seeded by ``seed``,
    so the folds are the same for every candidate)."""
    pred, y = pred.long().cpu(), y.long().cpu()
    if metric == "accuracy":
        return (pred == y).double().numpy()
    f = max(1, min(int(folds), len(y)))
    rng = np.random.default_rng([int(seed), 4099])
    fold = np.empty(len(y), dtype=np.int64)
    start = 0
    for c in np.unique(y.numpy()):
        idx = rng.permutation(np.flatnonzero(y.numpy() == c))
        fold[idx] = (start + np.arange(len(idx))) % f
        start += len(idx)  # the next class continues the deal, so the folds stay the same size
    return np.array([scores_from_predictions(pred[fold == i], y[fold == i], num_classes)[metric] for i in range(f)])


def paired_diff(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Mean and standard error of ``a - b`` over paired units: both ``(U,)``, or ``(S, U)`` for S training seeds
    (see the module: the seeds' spread is added); each term 0 where there is one unit / one seed."""
    d = np.atleast_2d(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    s, u = d.shape
    per_unit, per_seed = d.mean(axis=0), d.mean(axis=1)
    var = (per_unit.var(ddof=1) / u if u > 1 else 0.0) + (per_seed.var(ddof=1) / s if s > 1 else 0.0)
    return float(d.mean()), float(math.sqrt(var))


def one_se_select(scores: dict[str, np.ndarray], order: list[str]) -> dict:
    """The one-SE choice among candidates with paired per-unit scores ``scores[name]`` (each ``(U,)`` or
    ``(S, U)``: S training seeds), ``order``
    listing the names simplest first. Returns ``{"winner", "best", "units", "seeds", "candidates": {name: {"mean",
    "diff_vs_best", "se_vs_best", "diff_vs_simplest", "se_vs_simplest"}}}``; ties of the mean go to the simpler."""
    if not order or set(order) != set(scores):
        raise ValueError(f"order {order} must list every candidate of {sorted(scores)} once")
    units = {np.atleast_2d(scores[n]).shape for n in order}
    if len(units) != 1:
        raise ValueError(f"candidates are scored on different (seeds, units) {sorted(units)}; they must be paired")
    means = {n: float(np.mean(scores[n])) for n in order}
    best = max(order, key=lambda n: (means[n], -order.index(n)))
    simplest = order[0]
    cands, winner = {}, None
    for n in order:
        d_best, se_best = paired_diff(scores[best], scores[n])
        d_simple, se_simple = paired_diff(scores[n], scores[simplest])
        cands[n] = {"mean": means[n], "diff_vs_best": d_best, "se_vs_best": se_best,
                    "diff_vs_simplest": d_simple, "se_vs_simplest": se_simple}
        if winner is None and d_best <= se_best:
            winner = n
    seeds, n_units = units.pop()
    return {"winner": winner, "best": best, "units": n_units, "seeds": seeds, "candidates": cands}
