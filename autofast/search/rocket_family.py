"""The random-convolution family as a search candidate (1-D classification: DNA, series): MiniRocket-style
features on our dilated-conv kernels with a ridge head (:class:`autofast.models.rocket.RocketClassifier`).

It costs seconds where a CNN needs minutes to converge, so on small series sets it is often the better
baseline for a given budget. It is scored exactly like the CNN configurations (the same validation split,
or the same folds with out-of-fold predictions) and chosen on that score alone; the final one is refit on
train+val. The test split is never read here.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from autofast.engine import task_loss, val_score
from autofast.models.rocket import RocketClassifier


class RocketModel(nn.Module):
    """A fitted :class:`RocketClassifier` as a module: ``forward(x)`` gives log class probabilities
    ``(N, K)`` (log-softmax of the ridge scores), so evaluation and ensembles treat it like a network."""

    def __init__(self, clf: RocketClassifier) -> None:
        super().__init__()
        self.clf = clf
        self._anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(self.clf.decision_function(x.cpu()).float(), dim=1).to(x.device)


def _scores(clf: RocketClassifier, x: torch.Tensor, y: torch.Tensor) -> tuple[float, int]:
    """(summed cross-entropy of the softmaxed ridge scores, correct predictions) on ``(x, y)``."""
    logits = clf.decision_function(x).float()
    return float(task_loss(logits, y, reduction="sum")), int((logits.argmax(1) == y).sum())


def rocket_candidate(task, folds: torch.Tensor | None, seed: int) -> dict:
    """Score the family like a CNN configuration: fit on the training split and score the validation split
    (``folds`` None), or fit outside each fold and score it (``folds``: each train+val example's fold).
    Returns ``score`` (:func:`autofast.engine.val_score`), ``val_acc``, ``val_loss``, ``seconds``."""
    t0 = time.perf_counter()
    if folds is None:
        clf = RocketClassifier(seed=seed).fit(task.x_train, task.y_train)
        loss, correct = _scores(clf, task.x_val, task.y_val)
        n = len(task.y_val)
    else:
        x = torch.cat([task.x_train, task.x_val])
        y = torch.cat([task.y_train, task.y_val])
        loss, correct, n = 0.0, 0, 0
        for i in range(int(folds.max()) + 1):
            inside = folds == i
            clf = RocketClassifier(seed=seed).fit(x[~inside], y[~inside])
            fl, fc = _scores(clf, x[inside], y[inside])
            loss, correct, n = loss + fl, correct + fc, n + int(inside.sum())
    acc, mean_loss = correct / max(1, n), loss / max(1, n)
    return {"score": val_score(mean_loss, acc, False), "val_acc": acc,
            "val_loss": mean_loss if math.isfinite(mean_loss) else None,
            "seconds": time.perf_counter() - t0, "alpha": float(clf.alpha_),
            "selected_on": f"{int(folds.max()) + 1}-fold out-of-fold predictions" if folds is not None
            else "validation split"}


def rocket_final(task, seed: int) -> tuple[RocketModel, float]:
    """The family's final model: refit on train+val (deterministic for ``seed``); (model, seconds)."""
    t0 = time.perf_counter()
    clf = RocketClassifier(seed=seed).fit(torch.cat([task.x_train, task.x_val]), torch.cat([task.y_train, task.y_val]))
    return RocketModel(clf), time.perf_counter() - t0
