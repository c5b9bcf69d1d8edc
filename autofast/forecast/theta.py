"""The Theta method, per series: simple exponential smoothing plus half the slope of a linear trend (Hyndman &
Billah 2003, "Unmasking the Theta method": the forecasts of Assimakopoulos & Nikolopoulos' Theta are those of SES
with drift b/2; the M3 competition's best method and an M4 benchmark, where it runs on the seasonally adjusted
series).

``yhat_{n+h} = l_n + b/2 (h - 1 + (1 - (1 - a)^n) / a)``: ``l_n`` the SES level after the last row (initial level
the first value), ``a`` the smoothing weight minimising the in-sample one-step squared errors (a grid of
:data:`ALPHAS`, refined around the best), ``b`` the least-squares slope of the series on time. numpy only.
"""
from __future__ import annotations

import numpy as np

from .seasonal import pad_series

#: smoothing weights tried per series (then a finer grid around the best)
ALPHAS = np.linspace(0.02, 0.98, 25)


def _ses(X: np.ndarray, n: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sse (S, A), level (S, A))`` of SES over each row of ``X`` ``(S, T)`` (its first ``n[s]`` values; the
    rest padding) with each row's smoothing weights ``alphas`` ``(S, A)``."""
    level = np.repeat(X[:, :1], alphas.shape[1], axis=1)
    sse = np.zeros_like(level)
    for t in range(1, X.shape[1]):
        live = (t < n)[:, None]
        err = X[:, t : t + 1] - level
        sse += np.where(live, err * err, 0.0)
        level = np.where(live, level + alphas * err, level)
    return sse, level


def theta_panel(hists: list[np.ndarray], horizon: int) -> np.ndarray:
    """``(S, horizon)`` Theta forecasts after each series in ``hists`` (``(n_s,)`` each; a series of fewer than 3
    rows repeats its last value), all series at once."""
    S = len(hists)
    if S == 0:
        return np.zeros((0, horizon))
    X, n = pad_series(hists)
    sse, _ = _ses(X, n, np.broadcast_to(ALPHAS, (S, len(ALPHAS))))
    k = np.argmin(sse, axis=1)
    step = ALPHAS[1] - ALPHAS[0]
    fine = np.clip(ALPHAS[k][:, None] + np.linspace(-step, step, 9)[None, :], 0.01, 0.99)
    sse, level = _ses(X, n, fine)
    j = np.argmin(sse, axis=1)
    a = fine[np.arange(S), j]
    l_n = level[np.arange(S), j]
    t = np.arange(X.shape[1], dtype=np.float64)[None, :]
    live = t < n[:, None]
    tm = np.where(live, t, 0.0).sum(1) / n
    xm = np.where(live, X, 0.0).sum(1) / n
    dt = np.where(live, t - tm[:, None], 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (dt * np.where(live, X - xm[:, None], 0.0)).sum(1) / (dt * dt).sum(1)
    h = np.arange(horizon, dtype=np.float64)[None, :]
    out = l_n[:, None] + 0.5 * b[:, None] * (h + ((1.0 - (1.0 - a) ** n) / a)[:, None])
    last = X[np.arange(S), n - 1]
    return np.where((n >= 3)[:, None], out, last[:, None])


def theta_forecast(x: np.ndarray, horizon: int) -> np.ndarray:
    """``(horizon,)`` Theta forecasts after the series ``x`` ``(n,)``: :func:`theta_panel` of one series."""
    return theta_panel([np.asarray(x, dtype=np.float64)], horizon)[0]
