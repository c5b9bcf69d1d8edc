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

from autofast.engine import val_score
from autofast.models.rocket import RocketClassifier

from .blend import held_out_scores


def input_scaling(task, variant: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(scale, shift)`` per channel that maps the task's standardised inputs back to the values as loaded
    (``variant`` "as loaded"), or None ("standardised", or data that were not standardised, e.g. DNA)."""
    if variant == "standardised" or getattr(task, "mean", None) is None:
        return None
    shape = (1, -1) + (1,) * (task.x_train.dim() - 2)
    return (torch.as_tensor(task.std, dtype=torch.float32).reshape(shape),
            torch.as_tensor(task.mean, dtype=torch.float32).reshape(shape))


def variants(task) -> list[str]:
    """The input variants the family is scored on, the default first: the inputs as loaded (what MiniRocket
    is designed and published on) where the task standardised them, then the standardised inputs. Half of
    MiniRocket's convolutions zero-pad the series ends, so a series' level relative to 0 is a feature and the
    two differ (test accuracy, 3 seeds: PickupGestureWiimoteZ 0.75 as loaded vs 0.68 standardised,
    ACSF1 0.917 vs 0.913, JapaneseVowels 0.982 vs 0.986)."""
    return (["as loaded"] if getattr(task, "mean", None) is not None else []) + ["standardised"]


class RocketModel(nn.Module):
    """A fitted :class:`RocketClassifier` as a module: ``forward(x)`` (the task's standardised inputs) gives
    log class probabilities ``(N, K)`` (log-softmax of ``temperature`` x the ridge scores), so evaluation and
    ensembles treat it like a network. ``scaling``: :func:`input_scaling` applied first; ``temperature``:
    1 alone (argmax and accuracy do not depend on it), fitted when blended (:mod:`.blend`)."""

    def __init__(self, clf: RocketClassifier, scaling: tuple | None = None, temperature: float = 1.0) -> None:
        super().__init__()
        self.clf = clf
        self.scaling = scaling
        self.temperature = float(temperature)
        self._anchor = nn.Parameter(torch.zeros(()), requires_grad=False)  # gives the module a device

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, L)`` -> ``(N, K)`` on ``x``'s device (the features computed there)."""
        sc = None if self.scaling is None else tuple(t.to(x.device) for t in self.scaling)
        scores = self.clf.decision_function(_scaled(x, sc)).float()
        return torch.log_softmax(self.temperature * scores, dim=1).to(x.device)


def _scaled(x: torch.Tensor, scaling) -> torch.Tensor:
    return x if scaling is None else x * scaling[0] + scaling[1]


def _on_device(task, variant: str, device) -> tuple:
    """``(x_train, y_train, x_val, y_val, scaling)`` of the task moved to ``device`` once (scaling: None or
    ``(scale, shift)`` of :func:`input_scaling`)."""
    sc = input_scaling(task, variant)
    return (*(t.to(device) for t in (task.x_train, task.y_train, task.x_val, task.y_val)),
            None if sc is None else tuple(t.to(device) for t in sc))


def _score_variant(task, folds: torch.Tensor | None, seed: int, variant: str, device="cpu") -> dict:
    x_train, y_train, x_val, y_val, sc = _on_device(task, variant, device)
    if folds is None:
        clf = RocketClassifier(seed=seed).fit(_scaled(x_train, sc), y_train)
        loss, correct, held_out = held_out_scores(clf, _scaled(x_val, sc), y_val)
        n = len(y_val)
    else:
        x = _scaled(torch.cat([x_train, x_val]), sc)
        y = torch.cat([y_train, y_val])
        loss, correct, n = 0.0, 0, 0
        held_out = torch.empty(len(y), int(task.data.num_classes), dtype=torch.float64)
        for i in range(int(folds.max()) + 1):
            inside = folds == i  # (N,) bool on the CPU
            at = inside.to(x.device)
            clf = RocketClassifier(seed=seed).fit(x[~at], y[~at])
            fl, fc, held_out[inside] = held_out_scores(clf, x[at], y[at])
            loss, correct, n = loss + fl, correct + fc, n + int(inside.sum())
    acc, mean_loss = correct / max(1, n), loss / max(1, n)
    return {"score": val_score(mean_loss, acc, False), "val_acc": acc,
            "val_loss": mean_loss if math.isfinite(mean_loss) else None, "input": variant, "held_out": held_out}


def rocket_candidate(task, folds: torch.Tensor | None, seed: int, device="cpu") -> dict:
    """Score the family like a CNN configuration: fit on the training split and score the validation split
    (``folds`` None), or fit outside each fold and score it (``folds``: each train+val example's fold), for
    each input variant (:func:`variants`), on ``device``; the default (first) variant is the family's candidate unless
    another beats it by more than one standard error of an accuracy on n examples.
    Returns ``score`` (:func:`autofast.engine.val_score`), ``val_acc``, ``val_loss``, ``input``, ``seconds``,
    every variant's scores, and ``held_out``: the chosen variant's ridge scores ``(N, K)`` float64 on the
    validation split (or out-of-fold over train+val, in pool order), for :mod:`.blend` (not JSON)."""
    t0 = time.perf_counter()
    scored = [_score_variant(task, folds, seed, v, device) for v in variants(task)]
    best = scored[0]
    n = len(task.y_val) if folds is None else len(folds)
    for r in scored[1:]:  # another variant must win by more than the noise of n validation examples
        p = best["val_acc"]
        if r["val_acc"] - p > max(math.sqrt(max(p * (1 - p), 0.0) / max(n, 1)), 1.0 / max(n, 1)):
            best = r
    return {**best, "variants": {r["input"]: r["val_acc"] for r in scored}, "seconds": time.perf_counter() - t0,
            "selected_on": f"{int(folds.max()) + 1}-fold out-of-fold predictions" if folds is not None
            else "validation split"}


def rocket_final(task, seed: int, variant: str = "standardised", temperature: float = 1.0,
                 device="cpu") -> tuple[RocketModel, float]:
    """The family's final model on the chosen input variant: refit on train+val (deterministic for
    ``seed``) on ``device``; (model, seconds). The model predicts on any device (features where the input
    is, the ridge where it was fitted)."""
    t0 = time.perf_counter()
    x_train, y_train, x_val, y_val, sc = _on_device(task, variant, device)
    clf = RocketClassifier(seed=seed).fit(_scaled(torch.cat([x_train, x_val]), sc), torch.cat([y_train, y_val]))
    return RocketModel(clf, input_scaling(task, variant), temperature).to(device), time.perf_counter() - t0
