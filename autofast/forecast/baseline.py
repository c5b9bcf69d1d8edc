"""Baselines on the Auto-AR splits, for the side-by-side table: seasonal naive and statsforecast AutoARIMA.

:func:`seasonal_naive` (always reported, no dependency): every test window's forecast repeats the last
season of its input rows -- the yardstick of the M competitions (MASE's denominator); season 1 is the
last value carried forward.

Protocol (the same data the Auto-AR pipeline sees):

* one AutoARIMA per channel, fitted once on the standardised training rows ``ps.z[c, :train_end]``
  (the last ``fit_rows`` of them where a full fit would be too slow, see ``max_fit_rows``);
* test windows as in :func:`autofast.forecast.autoar.run_autoar` (``window_range(..., "test", L, H)``),
  but only ``max_origins`` evenly spaced ones: per window the fitted model is applied, NOT refitted,
  to that window's ``L`` input rows (``AutoARIMA.forward``: the Kalman filter runs over the history with
  the fitted coefficients) and forecasts the ``H`` target rows;
* MSE / MAE on the standardised scale, over the chosen windows, steps and channels.

:func:`subset_errors` scores any ``(N, H, C)`` forecasts (e.g. Auto-AR's ``HorizonResult.forecasts``)
on the same windows, via the returned ``"window_index"``.
"""
from __future__ import annotations

import time
import warnings
from typing import Callable

import numpy as np

from autofast.data.timeseries import PreparedSeries, window_range
from autofast.errors import AutofastError

from .autoar import naive_errors

__all__ = ["autoarima_baseline", "seasonal_naive", "subset_errors", "origin_index"]

MODEL_NAME = "AutoARIMA (statsforecast)"
# A full non-seasonal fit on ETTh1's 8640 training rows takes 2-11 s per channel on one core; a seasonal
# one (season_length=24) takes ~11 s on 2000 rows and ~35 s on 4000, so seasonal fits use the last 2000.
SEASONAL_FIT_ROWS = 2000


def seasonal_naive(ps: PreparedSeries, horizon: int, lookback: int, season: int = 1) -> dict:
    """Errors of the seasonal naive forecast (:func:`autofast.forecast.autoar.naive_errors`) on every test
    window, the windows Auto-AR is scored on; MSE / MAE on the standardised scale, over windows x steps x
    channels.

    Returns:
        ``model, season, mse, mae, mse_per_channel, mae_per_channel, windows, horizon``.
    """
    wt = window_range(ps.bounds, "test", lookback, horizon, ps.name)
    per = naive_errors(ps.z, wt.start, wt.count, lookback, horizon, season) / (wt.count * horizon)
    name = f"seasonal naive (season {season})" if season > 1 else "naive (last value)"
    return {"model": name, "season": int(season), "mse": float(per[:, 0].mean()), "mae": float(per[:, 1].mean()),
            "mse_per_channel": per[:, 0].tolist(), "mae_per_channel": per[:, 1].tolist(), "windows": int(wt.count),
            "horizon": int(horizon)}


def import_autoarima():
    """statsforecast's ``AutoARIMA`` class; a one-line error naming the extra when it is not installed."""
    try:
        from statsforecast.models import AutoARIMA
    except ImportError:
        raise AutofastError("the autoarima baseline needs the 'baselines' extra: pip install 'autofast[baselines]'") from None
    return AutoARIMA


def origin_index(count: int, max_origins: int) -> np.ndarray:
    """Indices (into ``0 .. count-1``) of at most ``max_origins`` evenly spaced windows, first and last included."""
    if max_origins < 1:
        raise AutofastError(f"max_origins must be at least 1, got {max_origins}")
    if max_origins >= count:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, max_origins)).astype(np.int64))


def subset_errors(forecasts: np.ndarray, truth: np.ndarray, idx, channels: list[int] | None = None) -> dict:
    """MSE / MAE of ``(N, H, C)`` forecasts against ``truth`` on the windows ``idx`` (and ``channels``)."""
    fc = np.asarray(forecasts, dtype=np.float64)
    tr = np.asarray(truth, dtype=np.float64)
    if fc.shape != tr.shape or fc.ndim != 3:
        raise AutofastError(f"forecasts {fc.shape} and truth {tr.shape} must both be (windows, horizon, channels)")
    idx = np.asarray(idx, dtype=np.int64)
    if idx.size == 0 or idx.min() < 0 or idx.max() >= fc.shape[0]:
        raise AutofastError(f"window indices must lie in 0..{fc.shape[0] - 1}")
    ch = np.arange(fc.shape[2]) if channels is None else np.asarray(channels, dtype=np.int64)
    err = fc[idx][:, :, ch] - tr[idx][:, :, ch]
    return {"mse": float((err**2).mean()), "mae": float(np.abs(err).mean()), "windows": int(idx.size)}


def autoarima_baseline(ps: PreparedSeries, horizon: int, lookback: int, max_origins: int = 20,
                       season_length: int = 1, channels: list[int] | None = None,
                       max_fit_rows: int | None = None, progress: Callable[[str], None] | None = None,
                       fitted: dict | None = None) -> dict:
    """Fit AutoARIMA per channel on the training rows and score it on evenly spaced test windows.

    Args:
        ps: the prepared (standardised, split) series.
        horizon, lookback: H and L of the test windows (as for Auto-AR).
        max_origins: how many evenly spaced test windows to forecast (AutoARIMA per origin is slow).
        season_length: AutoARIMA's period (1 = non-seasonal; 24 for hourly daily seasonality).
        channels: channel indices to evaluate (default: all).
        max_fit_rows: fit on at most the last this many training rows (default: all training rows
            when non-seasonal, the last ``SEASONAL_FIT_ROWS`` when seasonal).
        progress: called with a message as each channel starts (fits take seconds each).
        fitted: a cache of fitted models to share between calls on the same ``ps`` (e.g. one per horizon):
            the fit depends only on the channel and the fit rows, not on the horizon, so it runs once.
    Returns:
        a dict with ``model, mse, mae, mse_per_channel, mae_per_channel, origins`` (window start rows),
        ``window_index`` (positions among the test windows, for :func:`subset_errors`), ``windows``,
        ``fit_rows``, ``fit_seconds``, ``fits_reused``, ``forecast_seconds``, ``channels``, ``orders`` (per channel: the
        selected ``p, d, q, P, D, Q, period`` and coefficient names), ``horizon``, ``lookback``, ``season_length``.
    """
    AutoARIMA = import_autoarima()
    z = ps.z
    C = z.shape[0]
    chans = list(range(C)) if channels is None else [int(c) for c in channels]
    bad = [c for c in chans if not 0 <= c < C]
    if bad or not chans:
        raise AutofastError(f"{ps.name}: channel index(es) {bad or chans} out of range 0..{C - 1}")
    if season_length < 1:
        raise AutofastError(f"season_length must be a positive period, got {season_length}")
    wt = window_range(ps.bounds, "test", lookback, horizon, ps.name)
    idx = origin_index(wt.count, max_origins)
    origins = wt.start + idx
    train_end = ps.bounds.train_end
    if max_fit_rows is None:
        max_fit_rows = train_end if season_length == 1 else SEASONAL_FIT_ROWS
    fit_rows = min(train_end, int(max_fit_rows))
    if fit_rows < max(2 * season_length, 10):
        raise AutofastError(f"{ps.name}: {fit_rows} training rows are too few for AutoARIMA")

    fc = np.empty((idx.size, horizon, len(chans)))
    truth = np.empty_like(fc)
    fit_s = fc_s = 0.0
    orders = []
    say = progress or (lambda msg: None)
    cache = {} if fitted is None else fitted
    reused = 0
    for k, c in enumerate(chans):
        key = (c, train_end, fit_rows, season_length)
        name = ps.data.columns[c] if c < len(ps.data.columns) else str(c)
        if key in cache:
            reused += 1
            say(f"channel {name}: fitted model reused, forecasting {idx.size} origins")
        else:
            say(f"channel {name}: fitting AutoARIMA on {fit_rows} rows")
            t0 = time.perf_counter()
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                cache[key] = AutoARIMA(season_length=season_length).fit(z[c, train_end - fit_rows : train_end])
            fit_s += time.perf_counter() - t0
        model = cache[key]
        arma = [int(v) for v in model.model_["arma"][:7]]  # statsforecast: (p, q, P, Q, period, d, D)
        orders.append({"p": arma[0], "d": arma[5], "q": arma[1], "P": arma[2], "D": arma[6], "Q": arma[3],
                       "period": arma[4], "coef": sorted(model.model_["coef"].keys())})
        t0 = time.perf_counter()
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for i, n in enumerate(origins):
                fc[i, :, k] = model.forward(np.ascontiguousarray(z[c, n : n + lookback]), h=horizon)["mean"]
        fc_s += time.perf_counter() - t0
        for i, n in enumerate(origins):
            truth[i, :, k] = z[c, n + lookback : n + lookback + horizon]
    err = fc - truth
    return {
        "model": MODEL_NAME,
        "mse": float((err**2).mean()),
        "mae": float(np.abs(err).mean()),
        "mse_per_channel": (err**2).mean(axis=(0, 1)).tolist(),
        "mae_per_channel": np.abs(err).mean(axis=(0, 1)).tolist(),
        "origins": [int(n) for n in origins],
        "window_index": [int(i) for i in idx],
        "windows": int(idx.size),
        "test_windows_total": int(wt.count),
        "fit_rows": fit_rows,
        "fit_seconds": fit_s,
        "fits_reused": reused,  # channels whose model came from ``fitted`` (no fit time here)
        "forecast_seconds": fc_s,
        "channels": chans,
        "orders": orders,
        "horizon": int(horizon),
        "lookback": int(lookback),
        "season_length": int(season_length),
        "history": f"each origin's {lookback} input rows (model applied with forward(), not refitted)",
    }
