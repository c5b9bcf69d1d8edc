"""RBF kernel ridge on the pixels as a search candidate (images: classes or values):
:class:`autofast.models.rbf_ridge.RBFKernelRidge` on the task's standardised images, flattened.

Few images and a short budget are where a CNN is weakest and a kernel machine on the pixels strongest: on 100
Fashion-MNIST training images the default search's CNN gave 0.66 test accuracy in 171 s, this family 0.72 in
a fifth of a second (:mod:`autofast.models.rbf_ridge` for the measurements). Scored like the CNN configurations
and the other feature families (the same validation split, or the same folds with out-of-fold predictions:
:func:`.blend.fitted_candidate`), chosen on that score alone or blended with the best CNN (:mod:`.blend`); the
final one is refit on train+val (width and penalty chosen again there). The test split is never read here.
"""
from __future__ import annotations

import time

import torch

from autofast.models.rbf_ridge import RBFKernelRidge

from .blend import FittedClassifier, fitted_candidate


class KernelModel(FittedClassifier):
    """A fitted :class:`RBFKernelRidge` as a module: ``forward(x)`` ``(N, C, H, W)`` -> log class probabilities
    ``(N, K)`` (log-softmax of ``temperature`` x the ridge scores), or for values the predictions ``(N, T)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.clf.regression_:
            return self.clf.decision_function(x)
        return super().forward(x)


def _make(task, seed: int, pool: int = 1):
    classes = None if task.y_train.is_floating_point() else int(task.data.num_classes)
    return lambda: RBFKernelRidge(num_classes=classes, seed=seed, pool=pool)


def candidate(task, folds: torch.Tensor | None, seed: int, device="cpu", pool: int = 1) -> dict:
    """:func:`.blend.fitted_candidate` of the kernel ridge on the images average-pooled by ``pool`` (1: as they
    are; the plan's ``kernel_pool``), plus the chosen ``g`` (the width as a multiple of 1 / the median squared
    distance) and ``alpha`` (one per fold under cross-validation) and ``pool``."""
    cand = fitted_candidate(task, folds, _make(task, seed, pool), device)
    fitted = cand.pop("fitted")
    chosen = {key: [getattr(clf, f"{key}_") for clf in fitted] for key in ("g", "alpha")}
    return {**cand, **{key: v[0] if folds is None else v for key, v in chosen.items()}, "pool": pool}


def final(task, cand: dict, seed: int, temperature: float = 1.0, device="cpu",
          time_left: float | None = None) -> tuple[KernelModel, float, dict]:
    """The family refit on train+val (width and penalty chosen again there); (model, seconds, record).
    ``time_left``: not used (one fit)."""
    t0 = time.perf_counter()
    clf = _make(task, seed, int(cand.get("pool", 1)))().fit(torch.cat([task.x_train, task.x_val]).to(device),
                                                            torch.cat([task.y_train, task.y_val]).to(device))
    record = {"g": clf.g_, "alpha": clf.alpha_, "support_vectors": len(clf.state_dict()["beta"]), "pool": clf.pool}
    return KernelModel(clf, temperature).to(device), time.perf_counter() - t0, record
