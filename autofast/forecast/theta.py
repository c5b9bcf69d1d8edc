"""The Theta method, per series, all series at once. numpy only.

:func:`theta_panel`, the standard method: simple exponential smoothing plus half the slope of a linear trend
(Hyndman & Billah 2003, "Unmasking the Theta method": the forecasts of Assimakopoulos & Nikolopoulos' Theta are
those of SES with drift b/2; the M3 competition's best method and an M4 benchmark, where it runs on the seasonally
adjusted series). ``yhat_{n+h} = l_n + b/2 (h - 1 + (1 - (1 - a)^n) / a)``: ``l_n`` the SES level after the last
row (initial level the first value), ``a`` the smoothing weight minimising the in-sample one-step squared errors
(a grid of :data:`ALPHAS`, refined around the best), ``b`` the least-squares slope of the series on time.

:func:`auto_theta_panel`, the four Theta models of Fiorucci et al. 2016 ("Models for optimising the theta method
and their relationship to state space models", IJF 32), the best per series by in-sample one-step squared error
(as statsforecast's AutoTheta chooses): the drift weight ``w = 1 - 1/theta`` optimised (OTM) instead of fixed at
1/2 (STM), and the trend line's intercept and slope either fitted on the whole series or updated at every row
from the rows so far (the dynamic models, DSTM / DOTM).
"""
from __future__ import annotations

import numpy as np

from .seasonal import in_series_order, longest_first

#: smoothing weights tried per series (then a finer grid around the best)
ALPHAS = np.linspace(0.02, 0.98, 25)


def _ses(X: np.ndarray, live: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sse (S, A), level (S, A))`` of SES over each row of ``X`` ``(S, T)`` (rows longest first, ``live[t]``
    of them with a value at ``t``: :func:`~.seasonal.longest_first`) with each row's smoothing weights ``alphas``
    ``(S, A)``."""
    level = np.repeat(X[:, :1], alphas.shape[1], axis=1)
    sse = np.zeros_like(level)
    for t in range(1, X.shape[1]):
        r = live[t]
        err = X[:r, t : t + 1] - level[:r]
        sse[:r] += err * err
        level[:r] += alphas[:r] * err
    return sse, level


def theta_panel(hists: list[np.ndarray], horizon: int) -> np.ndarray:
    """``(S, horizon)`` Theta forecasts after each series in ``hists`` (``(n_s,)`` each; a series of fewer than 3
    rows repeats its last value), all series at once."""
    S = len(hists)
    if S == 0:
        return np.zeros((0, horizon))
    X, n, order, live = longest_first(hists)
    sse, _ = _ses(X, live, np.broadcast_to(ALPHAS, (S, len(ALPHAS))))
    k = np.argmin(sse, axis=1)
    step = ALPHAS[1] - ALPHAS[0]
    fine = np.clip(ALPHAS[k][:, None] + np.linspace(-step, step, 9)[None, :], 0.01, 0.99)
    sse, level = _ses(X, live, fine)
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
    return in_series_order(np.where((n >= 3)[:, None], out, last[:, None]), order)


def theta_forecast(x: np.ndarray, horizon: int) -> np.ndarray:
    """``(horizon,)`` Theta forecasts after the series ``x`` ``(n,)``: :func:`theta_panel` of one series."""
    return theta_panel([np.asarray(x, dtype=np.float64)], horizon)[0]


#: smoothing weights of :func:`auto_theta_panel`
AUTO_ALPHAS = np.array([0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.98])
#: largest drift weight ``1 - 1/theta`` (theta at most 5) and the first row whose one-step error is counted
W_MAX, FIRST_SCORED = 0.8, 3


def _trend_line(X: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares intercept and slope ``(S,)`` of each row's first ``n[s]`` values on the times 1..n."""
    t = np.arange(1, X.shape[1] + 1, dtype=np.float64)[None, :]
    live = t <= n[:, None]
    tm = np.where(live, t, 0.0).sum(1) / n
    xm = np.where(live, X, 0.0).sum(1) / n
    dt = np.where(live, t - tm[:, None], 0.0)
    den = (dt * dt).sum(1)
    slope = np.where(den > 0, (dt * np.where(live, X - xm[:, None], 0.0)).sum(1) / np.where(den > 0, den, 1.0), 0.0)
    return xm - tm * slope, slope


def auto_theta_panel(hists: list[np.ndarray], horizon: int) -> np.ndarray:
    """``(S, horizon)`` forecasts after each series in ``hists`` (``(n_s,)`` each; fewer than 4 rows: the last
    value repeated) by the best of the four Theta models per series.

    The models (Fiorucci et al. 2016), time ``t = 1..n``, SES level ``l_t = a y_t + (1 - a) l_{t-1}`` (``l_1`` the
    first value), trend line ``A + B t``: ``yhat_t = l_{t-1} + w D_t``, ``D_t = (1 - a)^{t-1} A + (1 - (1 -
    a)^t) / a B`` with ``(A, B)`` the line fitted on all ``n`` rows (static) or on rows ``1..t-1`` (dynamic,
    updated recursively); forecasts ``l_n + w ((1 - a)^n A_n + (h - 1 + (1 - (1 - a)^{n+1}) / a) B_n)``. For
    each ``a`` in :data:`AUTO_ALPHAS` the one-step squared error over rows ``FIRST_SCORED..n`` is quadratic in
    ``w`` -- ``sum r^2 - 2 w sum r D + w^2 sum D^2`` with ``r = y_t - l_{t-1}`` -- so the best ``w`` in ``[0,
    W_MAX]`` is exact, not searched (``w = 1/2`` is the standard method, ``0`` plain SES); the lowest error over
    both lines and every ``a`` wins."""
    S = len(hists)
    if S == 0:
        return np.zeros((0, horizon))
    X, n, order, live = longest_first(hists)
    a = AUTO_ALPHAS[None, :]
    A_all, B_all = _trend_line(X, n)
    level = np.repeat(X[:, :1], a.shape[1], axis=1)
    mean, A, B = X[:, 0].copy(), X[:, 0].copy(), np.zeros(S)  # the dynamic line after row 1
    sums = {k: np.zeros_like(level) for k in ("rr", "rD_static", "DD_static", "rD_dynamic", "DD_dynamic")}
    for t in range(2, X.shape[1] + 1):
        k = live[t - 1]  # the series with a row t (1-based): the first k
        y = X[:k, t - 1]
        if t >= FIRST_SCORED:
            c1, c2 = (1.0 - a) ** (t - 1), (1.0 - (1.0 - a) ** t) / a
            r = y[:, None] - level[:k]
            sums["rr"][:k] += r * r
            for name, (A_, B_) in (("static", (A_all, B_all)), ("dynamic", (A, B))):
                D = c1 * A_[:k, None] + c2 * B_[:k, None]
                sums["rD_" + name][:k] += r * D
                sums["DD_" + name][:k] += D * D
        level[:k] += a * (y[:, None] - level[:k])
        # the line through rows 1..t: slope and mean updated recursively (equal to least squares on those rows)
        B[:k] = ((t - 2) * B[:k] + (6.0 / t) * (y - mean[:k])) / (t + 1)
        mean[:k] = ((t - 1) * mean[:k] + y) / t
        A[:k] = mean[:k] - (t + 1) / 2.0 * B[:k]
    rows, h = np.arange(S), np.arange(1, horizon + 1, dtype=np.float64)[None, :]
    best_sse, out = np.full(S, np.inf), np.zeros((S, horizon))
    for name, (A_n, B_n) in (("static", (A_all, B_all)), ("dynamic", (A, B))):
        rD, DD = sums["rD_" + name], sums["DD_" + name]
        w = np.clip(np.where(DD > 0, rD / np.where(DD > 0, DD, 1.0), 0.0), 0.0, W_MAX)
        sse = sums["rr"] - 2.0 * w * rD + w * w * DD
        k = np.argmin(sse, axis=1)
        ak, wk = AUTO_ALPHAS[k], w[rows, k]
        drift = (1.0 - ak) ** n * A_n + (1.0 - (1.0 - ak) ** (n + 1)) / ak * B_n
        fc = level[rows, k][:, None] + wk[:, None] * (drift[:, None] + (h - 1.0) * B_n[:, None])
        better = sse[rows, k] < best_sse
        best_sse = np.where(better, sse[rows, k], best_sse)
        out = np.where(better[:, None], fc, out)
    last = X[rows, n - 1]
    return in_series_order(np.where((n >= 4)[:, None], out, last[:, None]), order)
