"""k-fold cross-validation for small data: the folds, the fold models' batches (fed to the one training
loop, :func:`autofast.engine.train_epoch`'s ``batches``) and the out-of-fold score.

Why: with a few hundred examples or fewer, a 10% validation split is a few dozen examples and its
accuracy moves by several points with the split drawn; ASHA would select on that noise. A k-fold score
uses every train+val example once as validation. The k fold models are trained side by side as one
:class:`~autofast.models.ensemble.FoldEnsemble`, and the best configuration's fold models ARE the final
model (their mean prediction), so no retrain is needed. The test split never enters here.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from autofast.engine import evaluate, task_loss, val_score
from autofast.models.ensemble import FoldEnsemble


def fold_ids(y: torch.Tensor, k: int, seed: int) -> torch.Tensor:
    """int64 ``(N,)`` fold of each example, 0..k-1: stratified for class labels ``(N,)`` int64 (each class
    dealt round-robin over the folds after a seeded shuffle, the fold offset carried from class to class so
    fold sizes differ by at most one), a seeded shuffle dealt round-robin for anything else."""
    if k < 2:
        raise ValueError(f"cross-validation needs k >= 2 folds, got {k}")
    n = len(y)
    if n < k:
        raise ValueError(f"{n} examples cannot fill {k} folds")
    g = torch.Generator().manual_seed(int(seed))
    out = torch.empty(n, dtype=torch.int64)
    if y.dtype == torch.int64 and y.dim() == 1:
        offset = 0
        for c in torch.unique(y).tolist():
            idx = torch.nonzero(y == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=g)]
            out[idx] = (torch.arange(len(idx)) + offset) % k
            offset = (offset + len(idx)) % k
    else:
        out[torch.randperm(n, generator=g)] = torch.arange(n) % k
    return out


def cv_folds(y: torch.Tensor, wanted: int) -> int:
    """How many folds labels ``y`` allow: ``wanted``, capped by the smallest class count (every fold's
    training part then holds every class) and by N; 0 (no cross-validation) when that leaves fewer than 2."""
    k = min(int(wanted), len(y))
    if y.dtype == torch.int64 and y.dim() == 1 and len(y):
        counts = torch.bincount(y)
        k = min(k, int(counts[counts > 0].min()))
    return k if k >= 2 else 0


def fold_batches(folds: torch.Tensor, batch_size: int) -> Callable[[torch.Generator], list[torch.Tensor]]:
    """``batches(generator)`` for :func:`autofast.engine.train_epoch`: one epoch of index batches of a
    :class:`FoldEnsemble`, each the concatenation of k chunks of ``b`` indices, chunk i drawn from the
    examples outside fold i (fresh permutations from ``generator``, cycled). ``b = min(batch_size, smallest
    fold-training size)``; steps: ``ceil(largest fold-training size / b)`` (every example seen once per
    epoch by every model that trains on it)."""
    k = int(folds.max()) + 1
    train_idx = [torch.nonzero(folds != i).flatten() for i in range(k)]
    b = max(1, min(int(batch_size), min(len(t) for t in train_idx)))
    steps = math.ceil(max(len(t) for t in train_idx) / b)

    def batches(generator: torch.Generator) -> list[torch.Tensor]:
        streams = []
        for t in train_idx:
            reps = math.ceil(steps * b / len(t))
            perm = torch.cat([t[torch.randperm(len(t), generator=generator)] for _ in range(reps)])
            streams.append(perm[: steps * b].view(steps, b))
        return [torch.cat([s[j] for s in streams]) for j in range(steps)]

    return batches


def fold_loss(k: int):
    """The :data:`~autofast.engine.loop.LossFn` of a k-fold ensemble: k x the mean loss over the k chunks
    (the sum of the members' own mean losses); the record's ``train_loss`` is that sum, ``member_loss`` the mean."""

    def loss(model, out, y):
        mean = task_loss(out, y)
        return k * mean, {"member_loss": mean.detach()}

    return loss


@torch.no_grad()
def out_of_fold(model: FoldEnsemble, x: torch.Tensor, y: torch.Tensor, folds: torch.Tensor) -> tuple[float, float]:
    """Mean loss and accuracy (NaN for float targets; per position for dense labels) of every example
    predicted by the fold model that did not train on it."""
    loss_sum, correct, count = 0.0, 0.0, 0
    model.eval()
    for i, m in enumerate(model.members):
        sel = torch.nonzero(folds == i).flatten().to(x.device)
        if not len(sel):
            continue
        loss, acc = evaluate(m, x[sel], y[sel])
        loss_sum += loss * len(sel)
        correct += (0.0 if math.isnan(acc) else acc) * len(sel)
        count += len(sel)
    acc = float("nan") if y.is_floating_point() else correct / max(1, count)
    return loss_sum / max(1, count), acc


def out_of_fold_score(model: FoldEnsemble, x: torch.Tensor, y: torch.Tensor, folds: torch.Tensor) -> float:
    """:func:`autofast.engine.val_score` of :func:`out_of_fold` (higher is better)."""
    loss, acc = out_of_fold(model, x, y, folds)
    return val_score(loss, acc, y.is_floating_point())
