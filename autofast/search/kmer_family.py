"""Positional k-mer logistic regression as a search candidate (DNA classification): the weight-array model
of :class:`autofast.models.kmer.KmerClassifier`.

Scored exactly like the CNN configurations and the random-convolution features (the same validation split,
or the same folds with out-of-fold predictions), chosen on that score alone or blended with the best CNN
(:mod:`.blend`); the final one is refit on train+val. The test split is never read here.
"""
from __future__ import annotations

import time

import torch
from torch import nn

from autofast.engine import val_score
from autofast.models.kmer import KmerClassifier

from .blend import held_out_scores


class KmerModel(nn.Module):
    """A fitted :class:`KmerClassifier` as a module: ``forward(x)`` ``(N, 4, L)`` -> log class probabilities
    ``(N, K)`` (log-softmax of ``temperature`` x the logits; 1 alone, fitted when blended)."""

    def __init__(self, clf: KmerClassifier, temperature: float = 1.0) -> None:
        super().__init__()
        self.clf = clf
        self.temperature = float(temperature)
        self._anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.temperature * self.clf.decision_function(x), dim=1)


def candidate(task, folds: torch.Tensor | None, seed: int, device="cpu", order: int = 2) -> dict:
    """Fit on the training split and score the validation split (``folds`` None), or fit outside each fold
    and score it (``folds`` ``(N,)``: each train+val example's fold), with k-mers up to ``order`` (2 or 3).
    Returns ``score`` (:func:`autofast.engine.val_score`), ``val_acc``, ``val_loss``, ``c`` (the chosen L2
    strength, or one per fold), ``order``, ``seconds``, ``selected_on`` and ``held_out``: the logits ``(N, K)`` float64 on the validation split
    (or out-of-fold over train+val, in pool order), for :mod:`.blend` (not JSON)."""
    t0 = time.perf_counter()
    if folds is None:
        clf = KmerClassifier(seed=seed, order=order).fit(task.x_train, task.y_train)
        loss, correct, held_out = held_out_scores(clf, task.x_val.to(device), task.y_val.to(device))
        n, cs = len(task.y_val), clf.c_
    else:
        x, y = torch.cat([task.x_train, task.x_val]), torch.cat([task.y_train, task.y_val])
        held_out = torch.empty(len(y), int(task.data.num_classes), dtype=torch.float64)
        loss, correct, n, cs = 0.0, 0, 0, []
        for i in range(int(folds.max()) + 1):
            inside = folds == i
            clf = KmerClassifier(seed=seed, order=order).fit(x[~inside], y[~inside])
            fl, fc, held_out[inside] = held_out_scores(clf, x[inside].to(device), y[inside].to(device))
            loss, correct, n = loss + fl, correct + fc, n + int(inside.sum())
            cs.append(clf.c_)
    acc, mean_loss = correct / max(1, n), loss / max(1, n)
    return {"score": val_score(mean_loss, acc, False), "val_acc": acc, "val_loss": mean_loss, "c": cs, "order": order,
            "seconds": time.perf_counter() - t0, "held_out": held_out,
            "selected_on": f"{int(folds.max()) + 1}-fold out-of-fold predictions" if folds is not None
            else "validation split"}


def final(task, cand: dict, seed: int, temperature: float = 1.0, device="cpu") -> tuple[KmerModel, float, dict]:
    """The family's final model at the candidate's order (``cand["order"]``): refit on train+val (``C``
    cross-validated again there); (model, seconds, record)."""
    t0 = time.perf_counter()
    clf = KmerClassifier(seed=seed, order=cand["order"]).fit(torch.cat([task.x_train, task.x_val]),
                                                             torch.cat([task.y_train, task.y_val]))
    return KmerModel(clf, temperature).to(device), time.perf_counter() - t0, {"c": clf.c_, "order": clf.order}
