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

#: smoothing weights tried per series (then a finer grid around the best)
ALPHAS = np.linspace(0.02, 0.98, 25)


def _ses(x: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sse (A,), level (A,))`` of SES over ``x`` for each smoothing weight."""
    level = np.full(alphas.shape, x[0])
    sse = np.zeros(alphas.shape)
    for v in x[1:]:
        err = v - level
        sse += err * err
        level = level + alphas * err
    return sse, level


def theta_forecast(x: np.ndarray, horizon: int) -> np.ndarray:
    """``(horizon,)`` Theta forecasts after the series ``x`` ``(n,)``; a series of one row repeats it."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n < 3:
        return np.repeat(x[-1], horizon)
    sse, _ = _ses(x, ALPHAS)
    k = int(np.argmin(sse))
    step = ALPHAS[1] - ALPHAS[0]
    fine = np.clip(np.linspace(ALPHAS[k] - step, ALPHAS[k] + step, 9), 0.01, 0.99)
    sse, level = _ses(x, fine)
    j = int(np.argmin(sse))
    a, l_n = float(fine[j]), float(level[j])
    t = np.arange(n, dtype=np.float64)
    b = float(np.polyfit(t, x, 1)[0])
    h = np.arange(horizon, dtype=np.float64)
    return l_n + 0.5 * b * (h + (1.0 - (1.0 - a) ** n) / a)


def theta_panel(hists: list[np.ndarray], horizon: int) -> np.ndarray:
    """``(S, horizon)`` Theta forecasts of each series in ``hists``."""
    return np.stack([theta_forecast(h, horizon) for h in hists]) if hists else np.zeros((0, horizon))
