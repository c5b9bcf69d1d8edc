"""Temperature scaling: the one scalar ``T`` that turns a classifier's scores into calibrated probabilities
``softmax(T * scores)`` (Guo et al. 2017), fitted by minimising the cross-entropy on held-out predictions."""
from __future__ import annotations

import math

import torch


def fit_temperature(scores: torch.Tensor, y: torch.Tensor) -> float:
    """The ``T`` in [0.01, 1000] minimising the mean cross-entropy of ``softmax(T * scores)`` against ``y``
    (``scores`` ``(N, K)``, ``y`` ``(N,)`` int64): a bounded scalar search on ``log T``. The targets give the
    labels ``1 - 1/(N + 2)`` and the other classes the rest (Laplace's rule of succession: after N held-out
    predictions all right, the next is wrong with probability ``1/(N + 2)``): held-out scores that separate the
    classes drove ``T`` to its bound (879: probabilities of exactly 0 and 1, also on the test series it got
    wrong); a few errors among N leave ``T`` nearly as the plain fit has it."""
    from scipy.optimize import minimize_scalar

    s, t = scores.double(), y.long()
    n, k = s.shape
    rest = 1.0 / (n + 2)
    target = torch.full((n, k), rest / max(k - 1, 1), dtype=torch.float64)
    target[torch.arange(n), t] = 1.0 - rest

    def nll(log_t: float) -> float:
        return float(torch.nn.functional.cross_entropy(math.exp(log_t) * s, target))

    res = minimize_scalar(nll, bounds=(math.log(0.01), math.log(1000.0)), method="bounded",
                          options={"xatol": 1e-3})
    return float(math.exp(res.x))
