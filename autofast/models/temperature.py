"""Temperature scaling: the one scalar ``T`` that turns a classifier's scores into calibrated probabilities
``softmax(T * scores)`` (Guo et al. 2017), fitted by minimising the cross-entropy on held-out predictions."""
from __future__ import annotations

import math

import torch


def fit_temperature(scores: torch.Tensor, y: torch.Tensor) -> float:
    """The ``T`` in [0.01, 1000] minimising the mean cross-entropy of ``softmax(T * scores)`` against ``y``
    (``scores`` ``(N, K)``, ``y`` ``(N,)`` int64): a bounded scalar search on ``log T``."""
    from scipy.optimize import minimize_scalar

    s, t = scores.double(), y.long()

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(math.exp(log_t) * s, t))

    res = minimize_scalar(nll, bounds=(math.log(0.01), math.log(1000.0)), method="bounded",
                          options={"xatol": 1e-3})
    return float(math.exp(res.x))
