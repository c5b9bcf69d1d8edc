"""Per-series transforms a global model is fitted under: the log of positive series and the classical
multiplicative seasonal adjustment of the M4 competition's benchmarks (Makridakis et al. 2020, "The M4
Competition": Naive2, SES, Holt, Damped and Theta forecast the seasonally adjusted series and multiply the
seasonal indices back).

A series is seasonally adjusted when it holds at least three seasons and its autocorrelation at the seasonal
lag exceeds the 90% limit ``1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)`` (M4's test); a positive series by
multiplicative indices, the mean ratio of each season position to the centred moving average of order m (2 x m
for even m), normalised to mean 1; a series with a zero or negative value (Tourism's monthly panel: 61 of 366
series, all seasonal) by additive ones, the mean difference to that average, normalised to mean 0 (the classical
additive decomposition; statsforecast's Theta falls back to it the same way). The indices come from the last
:data:`INDEX_SEASONS` seasons of a longer series, not from all of it: seasonal patterns drift over decades
(Tourism's monthly series, a median 306 rows: the Theta and damped-trend forecasts on the adjusted values 14% /
12% lower MASE than with indices from the whole history, M1 and M3 within 0.5%). numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


#: seasons of the most recent rows the seasonal indices are estimated from (6 and 8 within 0.5% on the
#: development sets; 8 averages more ratios per position, for noisier high-frequency series)
INDEX_SEASONS = 8


@dataclass(frozen=True)
class Transform:
    """How the values are shown to the model: ``log`` (positive panels only), ``deseason`` (M4's multiplicative
    adjustment with season ``m``, where a series passes the test)."""

    log: bool = False
    deseason: bool = False

    @property
    def label(self) -> str:
        parts = (["log"] if self.log else []) + (["seasonally adjusted"] if self.deseason else [])
        return ", ".join(parts) or "levels"


def pad_series(hists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(X (S, T), n (S,))``: ragged series as the rows of a zero-padded matrix (each series from column 0) and
    their lengths, for recursions run over all series at once."""
    n = np.array([len(h) for h in hists])
    X = np.zeros((len(hists), int(n.max())))
    for i, h in enumerate(hists):
        X[i, : n[i]] = h
    return X, n


def longest_first(hists: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pad_series` with the rows sorted longest first: ``(X (S, T), n (S,), order (S,), live (T,))``, row
    ``i`` being series ``order[i]`` and ``live[t]`` the number of series longer than ``t`` -- a recursion over
    time updates rows ``[:live[t]]`` only (no masking, no work on series that have ended)."""
    X, n = pad_series(hists)
    order = np.argsort(-n, kind="stable")
    n = n[order]
    live = np.searchsorted(-n, -np.arange(X.shape[1]), side="left")  # n sorted descending: count of n > t
    return X[order], n, order, live


def in_series_order(rows: np.ndarray, order: np.ndarray) -> np.ndarray:
    """``rows`` in :func:`longest_first`'s order (row ``i`` is series ``order[i]``) back in the series' order."""
    back = np.empty_like(order)
    back[order] = np.arange(len(order))
    return rows[back]


def acf(x: np.ndarray, max_lag: int) -> np.ndarray:
    """Sample autocorrelations at lags 1..max_lag (the biased estimator, as R's ``acf``)."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    denom = float(x @ x)
    if denom <= 0:
        return np.zeros(max_lag)
    return np.array([float(x[k:] @ x[:-k]) / denom for k in range(1, max_lag + 1)])


def is_seasonal(x: np.ndarray, m: int) -> bool:
    """M4's seasonality test: at least 3 seasons and ``|r_m| > 1.645 sqrt((1 + 2 sum_{k<m} r_k^2) / n)``."""
    n = len(x)
    if m <= 1 or n < 3 * m:
        return False
    r = acf(x, m)
    limit = 1.645 * np.sqrt((1.0 + 2.0 * np.sum(r[:-1] ** 2)) / n)
    return bool(abs(r[-1]) > limit)


def seasonal_indices(x: np.ndarray, m: int, additive: bool = False) -> np.ndarray:
    """``(m,)`` multiplicative indices of a positive series by position ``t mod m`` (mean 1): the mean ratio of the
    series to its centred moving average (order m, 2 x m for even m) over its last :data:`INDEX_SEASONS`
    seasons (the positions counted from the series' first row); ``additive``: the mean difference (mean 0)."""
    x = np.asarray(x, dtype=np.float64)
    start = max(0, len(x) - INDEX_SEASONS * m) // m * m  # a whole number of seasons from the first row
    x = x[start:]
    if m % 2:
        w = np.full(m, 1.0 / m)
    else:
        w = np.r_[0.5, np.ones(m - 1), 0.5] / m
    trend = np.convolve(x, w, mode="valid")  # centred: trend[i] belongs to row i + len(w) // 2
    off = len(w) // 2
    part = x[off : off + len(trend)]
    ratio = part - trend if additive else part / trend
    pos = (np.arange(len(trend)) + off) % m
    idx = np.array([ratio[pos == k].mean() for k in range(m)])
    return idx - idx.mean() if additive else idx / idx.mean()


@dataclass(frozen=True)
class Seasonality:
    """A history's seasonal adjustment: the values the model sees are ``(x - offsets) / factors``. ``factors``
    / ``offsets``: ``(n,)`` of the history, ``next_factors`` / ``next_offsets``: ``(horizon,)`` of the rows after
    it (ones and zeros where there is no adjustment)."""

    factors: np.ndarray
    offsets: np.ndarray
    next_factors: np.ndarray
    next_offsets: np.ndarray


def series_factors(x: np.ndarray, m: int, tf: Transform, horizon: int) -> Seasonality:
    """The seasonal adjustment of a history ``x`` ``(n,)`` and of the ``horizon`` rows after it: none unless ``tf``
    adjusts and the series passes :func:`is_seasonal`; multiplicative where it is positive, else additive."""
    n = len(x)
    past, nxt = np.arange(n) % m, np.arange(n, n + horizon) % m
    if tf.deseason and m > 1 and is_seasonal(x, m):
        if np.all(x > 0):
            idx = seasonal_indices(x, m)
            return Seasonality(idx[past], np.zeros(n), idx[nxt], np.zeros(horizon))
        idx = seasonal_indices(x, m, additive=True)
        return Seasonality(np.ones(n), idx[past], np.ones(horizon), idx[nxt])
    return Seasonality(np.ones(n), np.zeros(n), np.ones(horizon), np.zeros(horizon))


def forward(x: np.ndarray, factors: np.ndarray, tf: Transform, offsets: np.ndarray | float = 0.0) -> np.ndarray:
    """The values the model sees: ``(x - offsets) / factors``, then the log where ``tf.log``."""
    a = (x - offsets) / factors
    return np.log(a) if tf.log else a


def inverse(a: np.ndarray, factors: np.ndarray, tf: Transform, offsets: np.ndarray | float = 0.0) -> np.ndarray:
    """Back to the series' units: ``exp`` where ``tf.log`` (overflow-safe), times the factors, plus the
    offsets."""
    if tf.log:
        with np.errstate(over="ignore"):
            a = np.exp(np.minimum(a, 700.0))
    return a * factors + offsets
