"""Holt's damped-trend exponential smoothing, per series, all series at once (Gardner & McKenzie 1985; the
"Damped" benchmark of the M4 competition, one third of its "Comb" benchmark with SES and Holt).

``l_t = a y_t + (1 - a)(l_{t-1} + phi b_{t-1})``, ``b_t = beta (l_t - l_{t-1}) + (1 - beta) phi b_{t-1}``,
``yhat_{n+h} = l_n + (phi + ... + phi^h) b_n``; initial level the first value, initial trend the first difference;
``(a, beta, phi)`` per series from a grid (:data:`ALPHAS` x :data:`BETAS` x :data:`PHIS`, ``beta <= a``) minimising
the in-sample one-step squared errors. numpy only.
"""
from __future__ import annotations

import numpy as np

from .seasonal import in_series_order, longest_first

ALPHAS = np.array([0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9])
BETAS = np.array([0.01, 0.05, 0.1, 0.2, 0.4])
PHIS = np.array([0.8, 0.9, 0.95, 0.98])


def _grid() -> np.ndarray:
    """``(K, 3)`` the (a, beta, phi) combinations tried (beta at most a)."""
    g = np.array([(a, b, p) for a in ALPHAS for b in BETAS for p in PHIS if b <= a])
    return g


def damped_panel(hists: list[np.ndarray], horizon: int) -> np.ndarray:
    """``(S, horizon)`` damped-trend forecasts after each series (``(n_s,)`` each; fewer than 4 rows: the last
    value repeated)."""
    S = len(hists)
    if S == 0:
        return np.zeros((0, horizon))
    X, n, order, live = longest_first(hists)
    g = _grid()
    a, beta, phi = (g[None, :, k] for k in range(3))  # (1, K)
    level = np.repeat(X[:, :1], len(g), axis=1)
    trend = np.repeat(X[:, 1:2] - X[:, :1] if X.shape[1] > 1 else np.zeros((S, 1)), len(g), axis=1)
    sse = np.zeros_like(level)
    for t in range(1, X.shape[1]):
        r = live[t]  # the series with a row t: the first r
        lv, tr = level[:r], trend[:r]
        pred = lv + phi * tr
        err = X[:r, t : t + 1] - pred
        new_level = pred + a * err
        trend[:r] = beta * (new_level - lv) + (1.0 - beta) * phi * tr
        level[:r] = new_level
        sse[:r] += err * err
    k = np.argmin(sse, axis=1)
    rows = np.arange(S)
    p = g[k, 2][:, None]
    steps = np.cumsum(p ** np.arange(1, horizon + 1)[None, :], axis=1)  # phi + ... + phi^h
    out = level[rows, k][:, None] + steps * trend[rows, k][:, None]
    last = X[rows, n - 1]
    return in_series_order(np.where((n >= 4)[:, None], out, last[:, None]), order)
