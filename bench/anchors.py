"""The anchor: a plain per-candidate AR grid search, the way a straightforward implementation does it.

For every candidate ``(p, d, intercept)`` on its own:

1. difference the training rows d times, build the lagged design matrix (pooled over channels:
   every channel's rows stacked), fit by ``numpy.linalg.lstsq``;
2. for every validation window: difference its input rows, iterate the AR ``H`` steps ahead
   on the differences, integrate back to levels; the windows are processed as one NumPy batch
   (a matrix-vector product per step), so this is a *vectorised* naive search, not a Python loop
   per window -- the anchor is deliberately not a straw man;
3. the validation MSE (mean over windows, channels and steps).

Nothing is shared between candidates: each one pays its own design matrix, least-squares solve and
forecast pass. That is what autofast's ``fit_grid`` (one Cholesky per d for every order) and
``score_grid`` (every candidate's error from one set of window moments) avoid.

Estimation sample: by default the same as autofast's ``fit_grid`` -- for each d the targets start at
row ``P_d = min(max_order, lookback - d)`` of the differenced training series for every order p
(one shared sample), so the two give the same coefficients and the same validation MSE. With
``shared_sample=False`` each candidate uses all rows it can (targets from row p on), as a naive
search would; the errors then differ slightly from autofast's.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Candidate", "grid_candidates", "anchor_fit", "anchor_val_mse", "anchor_grid", "sample_candidates"]


@dataclass(frozen=True)
class Candidate:
    p: int
    d: int
    intercept: bool


def grid_candidates(max_order: int, lookback: int, diff_orders=(0, 1, 2), intercepts=(True, False),
                    min_order: int = 1) -> list[Candidate]:
    """The candidates of autofast's grid, in fit_grid's order (d, then intercept, then p)."""
    out = []
    for d in diff_orders:
        P = min(max_order, lookback - d)
        for wc in intercepts:
            out.extend(Candidate(p, d, wc) for p in range(min_order, P + 1))
    return out


def sample_candidates(cands: list[Candidate], k: int) -> list[Candidate]:
    """``k`` candidates whose orders are spread evenly over the grid's orders (for extrapolating cost).

    The grid's orders are uniform over 1..P for every (d, intercept), so the mean cost of candidates at
    evenly spaced p estimates the mean cost per candidate of the whole grid."""
    ps = sorted({c.p for c in cands})
    pick = np.unique(np.round(np.linspace(0, len(ps) - 1, k)).astype(int))
    out = []
    for i, j in enumerate(pick):
        p = ps[j]
        pool = [c for c in cands if c.p == p]
        out.append(pool[i % len(pool)])  # cycle through d / intercept
    return out


def anchor_fit(z: np.ndarray, rows: tuple[int, int], cand: Candidate, sample_start: int | None = None
               ) -> tuple[np.ndarray, float]:
    """OLS (``numpy.linalg.lstsq``) of one AR(p) on the d-times differenced rows, pooled over channels.

    Returns ``phi`` (p,) (lag 1 first) and the intercept (0.0 without one). Targets are rows
    ``sample_start ..`` of the differenced series (default ``p``: every row with a full lag vector).
    """
    p, d = cand.p, cand.d
    lo, hi = rows
    w = np.diff(z[:, lo:hi], n=d, axis=1) if d else z[:, lo:hi]
    s = p if sample_start is None else sample_start
    if s < p:
        raise ValueError(f"sample_start {s} < p {p}")
    win = np.lib.stride_tricks.sliding_window_view(w[:, s - p:], p + 1, axis=1)  # (C, n, p+1) forward order
    X = win[:, :, p - 1 :: -1][:, :, :p].reshape(-1, p)  # lag 1 .. lag p
    y = win[:, :, p].reshape(-1)
    if cand.intercept:
        X = np.hstack([np.ones((X.shape[0], 1)), X])
    beta = np.linalg.lstsq(X, y, rcond=None)[0]
    if cand.intercept:
        return beta[1:], float(beta[0])
    return beta, 0.0


def anchor_forecast(inputs: np.ndarray, phi: np.ndarray, c: float, d: int, horizon: int) -> np.ndarray:
    """Recursive H-step forecasts ``(N, H)`` for level inputs ``(N, L)`` (forward time order)."""
    p = phi.shape[0]
    tail = inputs[:, -(p + d):]
    diffs = [tail]  # diffs[k]: k-times differenced tail
    for _ in range(d):
        diffs.append(np.diff(diffs[-1], axis=1))
    buf = np.empty((inputs.shape[0], p + horizon))
    buf[:, :p] = diffs[d][:, -p:]
    coef = np.ascontiguousarray(phi[::-1])  # forward order: multiplies buf[:, h : h + p]
    for h in range(horizon):
        buf[:, p + h] = buf[:, h : h + p] @ coef + c
    out = buf[:, p:]
    for k in range(d - 1, -1, -1):  # integrate: level k = last observed level k + cumsum(level k+1)
        out = diffs[k][:, -1:] + np.cumsum(out, axis=1)
    return out


def anchor_val_mse(z: np.ndarray, cand: Candidate, phi: np.ndarray, c: float, start: int, count: int,
                   lookback: int, horizon: int) -> float:
    """Validation MSE over the windows starting at ``start .. start+count-1`` (all channels pooled)."""
    W = lookback + horizon
    win = np.lib.stride_tricks.sliding_window_view(z[:, start : start + count + W - 1], W, axis=1)  # (C, N, W)
    C = z.shape[0]
    need = phi.shape[0] + cand.d  # the recursion reads only the last p + d input rows
    inputs = win[:, :, lookback - need : lookback].reshape(C * count, need)
    truth = win[:, :, lookback:].reshape(C * count, horizon)
    fc = anchor_forecast(inputs, phi, c, cand.d, horizon)
    return float(((fc - truth) ** 2).mean())


def anchor_grid(z: np.ndarray, train_rows: tuple[int, int], val_start: int, val_count: int, cands: list[Candidate],
                *, max_order: int, lookback: int, horizon: int, shared_sample: bool = True) -> np.ndarray:
    """Validation MSE of every candidate, one after another (fit, forecast every window, score)."""
    out = np.empty(len(cands))
    for i, cand in enumerate(cands):
        s = min(max_order, lookback - cand.d) if shared_sample else None
        phi, c = anchor_fit(z, train_rows, cand, s)
        out[i] = anchor_val_mse(z, cand, phi, c, val_start, val_count, lookback, horizon)
    return out


# --------------------------------------------------------------------------------------------------
# The public Auto-AR algorithm (Xu et al. 2024, github.com/Zongzhe-Xu/AutoAR, `--new_metric --kpss`),
# re-implemented in plain numpy: the anchor of the end-to-end forecast benchmark.

PUBLIC_LAG_OFFSETS = (0, 2, 4, 8)  # lags = lookback - d - offset: the public code's ETT search space


def kpss_order(x: np.ndarray, max_d: int = 2, alpha: float = 0.05) -> int:
    """The public rule: difference while any channel rejects stationarity (KPSS, regression 'ct',
    p <= alpha), at most ``max_d`` times. ``x``: ``(C, T)``."""
    import warnings

    from statsmodels.tsa.stattools import kpss

    d = 0
    while d < max_d:
        w = np.diff(x, n=d, axis=1) if d else x
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if all(kpss(ch, regression="ct")[1] > alpha for ch in w):
                break
        d += 1
    return d


def public_autoar(z: np.ndarray, val_end: int, test_start: int, test_count: int, *, lookback: int, horizon: int,
                  d: int | str = "kpss", offsets=PUBLIC_LAG_OFFSETS, block: int = 256) -> dict:
    """The public Auto-AR search and test, candidate by candidate, in numpy.

    1. ``d`` by :func:`kpss_order` on the training + validation rows (or fixed);
    2. for each lag count ``p = lookback - d - offset``: ONE global AR(p) with intercept on the
       d-times differenced train + validation rows, every channel's rows stacked, by
       ``numpy.linalg.lstsq``;
    3. its recursive H-step forecasts (on the differences, integrated back) over EVERY stride-1 window
       of the train + validation rows (in-sample), and ``BIC = log(MSE) + (p + 1) log(N) / N`` with
       N = windows x channels x H;
    4. the lowest BIC wins; its test MSE / MAE over the test windows (the fit is already on train +
       validation, which is what the public code refits on).

    Args:
        z: ``(C, T)`` standardised series; ``val_end``: end of the validation rows; the test windows
            start at rows ``test_start .. test_start + test_count - 1``; ``block``: windows per
            channel forecast together (the public code forecasts all windows at once; blocks keep the
            recursion in cache, ~2x faster here, same numbers).
    Returns:
        dict: ``d``, ``lags`` (candidates), ``bic``, ``chosen_lags``, ``test_mse``, ``test_mae``,
        ``seconds`` (``kpss``, ``fit``, ``score``, ``test``).
    """
    import time

    L, H = lookback, horizon
    tv = z[:, :val_end]
    t0 = time.perf_counter()
    if d == "kpss":
        d = kpss_order(tv)
    t_kpss = time.perf_counter() - t0
    fit_s = score_s = 0.0
    win = np.lib.stride_tricks.sliding_window_view(tv, L + H, axis=1)  # (C, N, L + H), a view
    C, N = win.shape[:2]
    models, bics = [], []
    for off in offsets:
        p = L - d - off
        t0 = time.perf_counter()
        phi, c = anchor_fit(tv, (0, tv.shape[1]), Candidate(p, d, True))
        t1 = time.perf_counter()
        sse = 0.0
        for n0 in range(0, N, block):  # blocks of windows: the recursion's buffers stay in cache
            w = win[:, n0 : n0 + block]
            nb = w.shape[0] * w.shape[1]
            fc = anchor_forecast(w[:, :, L - p - d : L].reshape(nb, p + d), phi, c, d, H)
            sse += float(((fc - w[:, :, L:].reshape(nb, H)) ** 2).sum())
        n = C * N * H
        mse = sse / n
        bics.append(np.log(mse) + (p + 1) * np.log(n) / n)
        models.append((p, phi, c))
        fit_s += t1 - t0
        score_s += time.perf_counter() - t1
    best = int(np.argmin(bics))
    p, phi, c = models[best]
    t0 = time.perf_counter()
    tw = np.lib.stride_tricks.sliding_window_view(z[:, test_start : test_start + test_count + L + H - 1], L + H, axis=1)
    fc = anchor_forecast(tw[:, :, L - p - d : L].reshape(C * test_count, p + d), phi, c, d, H)
    err = fc - tw[:, :, L:].reshape(C * test_count, H)
    t_test = time.perf_counter() - t0
    return {"d": int(d), "lags": [L - d - o for o in offsets], "bic": [float(b) for b in bics], "chosen_lags": p,
            "test_mse": float((err**2).mean()), "test_mae": float(np.abs(err).mean()),
            "seconds": {"kpss": t_kpss, "fit": fit_s, "score": score_s, "test": t_test}}
