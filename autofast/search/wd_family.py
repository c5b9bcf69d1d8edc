"""The weighted-degree string kernel SVM as a search candidate (aligned DNA classification):
:class:`autofast.models.wdkernel.WDKernelSVM`.

Scored like the CNN configurations and the other feature families (the same validation split, or the same
folds with out-of-fold predictions: :func:`.blend.fitted_candidate`), chosen on that score alone or blended with
the best CNN (:mod:`.blend`); the final one is refit on train+val (``D`` and ``C`` cross-validated again
there, and the shift). The test split is never read here.
"""
from __future__ import annotations

import time

import torch

from autofast.models.wdkernel import SHIFTS, WDKernelSVM

from .blend import FittedClassifier, fitted_candidate


class WDModel(FittedClassifier):
    """A fitted :class:`WDKernelSVM` as a module: ``forward(x)`` ``(N, 4, L)`` -> log class probabilities
    ``(N, K)`` (log-softmax of ``temperature`` x the one-vs-rest margins)."""


def candidate(task, folds: torch.Tensor | None, seed: int, device="cpu", shifts: tuple[int, ...] = SHIFTS) -> dict:
    """:func:`.blend.fitted_candidate` of the kernel SVM (the shift chosen among ``shifts``; ``(0,)``: no shift
    stage), plus the chosen ``degree``, ``shift`` and ``c`` (one per fold under cross-validation) and ``shifts``
    (the final refit's grid)."""
    cand = fitted_candidate(task, folds, lambda: WDKernelSVM(shifts=shifts, seed=seed), device)
    fitted = cand.pop("fitted")
    chosen = {key: [getattr(clf, f"{key}_") for clf in fitted] for key in ("degree", "shift", "c")}
    return {**cand, **{key: v[0] if folds is None else v for key, v in chosen.items()}, "shifts": list(shifts)}


def final(task, cand: dict, seed: int, temperature: float = 1.0, device="cpu",
          time_left: float | None = None) -> tuple[WDModel, float, dict]:
    """The family refit on train+val, the shift chosen among the candidate's ``shifts``; (model, seconds,
    record). ``time_left``: not used (one fit)."""
    t0 = time.perf_counter()
    clf = WDKernelSVM(shifts=tuple(cand.get("shifts", SHIFTS)), seed=seed).fit(torch.cat([task.x_train, task.x_val]), torch.cat([task.y_train, task.y_val]))
    record = {"degree": clf.degree_, "shift": clf.shift_, "c": clf.c_, "support_vectors": len(clf.coef_)}
    return WDModel(clf, temperature).to(device), time.perf_counter() - t0, record
