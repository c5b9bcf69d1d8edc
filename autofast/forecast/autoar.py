"""The Auto-AR pipeline: fit the grid on train, select on validation (or BIC), refit, test once.

Stages are plain functions over :class:`AutoARConfig`; ``run_autoar`` chains them and times each.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from autofast.data.timeseries import PreparedSeries, window_range
from autofast.errors import AutofastError
from autofast.kernels.ar_grid import ARBackend, get_backend

from .config import AutoARConfig
from .grid import CandidateGrid, fit_grid, score_grid, window_lag_moments

Progress = Callable[[str], None]


@dataclass
class ChosenModel:
    """One selected forecaster (per group: the pooled model, or one channel's)."""

    group: int
    p: int
    d: int
    intercept: bool
    selection_score: float  # val MSE at the horizon, or BIC
    psi: list[float] = field(repr=False)  # level-AR coefficients of the final (refitted) model, lag order
    c: float = 0.0
    regularised: bool = False


@dataclass
class HorizonResult:
    horizon: int
    mse: float
    mae: float
    mse_per_channel: list[float]
    mae_per_channel: list[float]
    chosen: list[ChosenModel]
    candidates: int
    selected_on: str
    refit_on: str
    regularised_candidates: int
    timings: dict[str, float]
    test_windows: int
    forecasts: np.ndarray = field(repr=False)  # (N_test, H, C) standardised
    truth: np.ndarray = field(repr=False)


def kpss_diff_order(z_train: np.ndarray, max_d: int = 2, alpha: float = 0.05) -> int:
    """The reference rule: difference while any channel rejects stationarity (KPSS 'ct', p <= alpha)."""
    import warnings

    from statsmodels.tools.sm_exceptions import InterpolationWarning
    from statsmodels.tsa.stattools import kpss

    d, x = 0, z_train
    while d < max_d:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InterpolationWarning)
            warnings.simplefilter("ignore", FutureWarning)  # statsmodels 0.15 result-object notice
            pvals = [kpss(ch, regression="ct", nlags="auto")[1] for ch in x]
        if min(pvals) > alpha:
            break
        x, d = np.diff(x, axis=1), d + 1
    return d


def lag_windows(z: np.ndarray, start: int, count: int, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Explicit windows: inputs ``(C, N, L)`` in lag order (lag 1 first) and targets ``(C, N, H)``."""
    W = lookback + horizon
    win = np.lib.stride_tricks.sliding_window_view(z[:, start : start + count + W - 1], W, axis=1)
    return win[:, :, lookback - 1 :: -1][:, :, :lookback], win[:, :, lookback:]


def forecast_windows(model: ChosenModel, inputs: np.ndarray, horizon: int, backend: ARBackend) -> np.ndarray:
    """Forecasts ``(N, H)`` of one model for lag-ordered inputs ``(N, L)``: one GEMM with its weights."""
    psi = torch.tensor([model.psi], dtype=torch.float64)
    M = backend.ar_forecast_weights(psi, torch.tensor([model.c], dtype=torch.float64), horizon).cpu()[0].numpy()
    q = psi.shape[1]
    return M[0][None, :] + inputs[:, :q] @ M[1:]


def _select(grid: CandidateGrid, crit: np.ndarray) -> list[int]:
    """Index of the best finite candidate per group."""
    picks = []
    for g in np.unique(grid.group):
        idx = np.nonzero(grid.group == g)[0]
        vals = crit[idx]
        if not np.isfinite(vals).any():
            raise AutofastError("every candidate produced a non-finite validation error; check the data scale")
        picks.append(int(idx[np.nanargmin(np.where(np.isfinite(vals), vals, np.inf))]))
    return picks


def run_autoar(ps: PreparedSeries, cfg: AutoARConfig, progress: Progress | None = None) -> tuple[list[HorizonResult], dict]:
    """Run the whole Auto-AR search for every horizon in ``cfg.horizons``.

    Returns per-horizon results and run-level facts (backend, d grid, fit timings).
    """
    say = progress or (lambda msg: None)
    backend = get_backend(cfg.backend, cfg.device)
    pooled = cfg.pooling == "global"
    L = cfg.lookback
    z = ps.z
    C = z.shape[0]
    b = ps.bounds
    for H in cfg.horizons:  # validate every horizon up front: fail before any work
        for split in ("train", "val", "test"):
            window_range(b, split, L, H, ps.name)
    if b.train_end - max(cfg.diff_orders) <= min(cfg.max_order, L) + 1:
        raise AutofastError(f"{ps.name}: training split ({b.train_end} rows) too short for order {cfg.max_order}; "
                            f"lower --max-order")
    t0 = time.perf_counter()
    diff_orders = list(cfg.diff_orders)
    if cfg.diff_rule == "kpss":
        diff_orders = [kpss_diff_order(z[:, : b.train_end], max(cfg.diff_orders))]
    intercepts = {"both": [True, False], "yes": [True], "no": [False]}[cfg.intercept]
    t_kpss = time.perf_counter() - t0
    say(f"fitting lag grid: orders {cfg.min_order}..{cfg.max_order}, d in {diff_orders}, "
        f"{'pooled' if pooled else 'per-channel'} ({backend.name})")
    t0 = time.perf_counter()
    grid = fit_grid(z, (0, b.train_end), orders=(cfg.min_order, cfg.max_order), diff_orders=diff_orders,
                    intercepts=intercepts, pooled=pooled, lookback=L, backend=backend)
    t_fit = time.perf_counter() - t0
    run_info = {"backend": backend.name, "device": str(backend.device), "diff_orders": diff_orders,
                "candidates": len(grid), "fit_seconds": t_fit, "kpss_seconds": t_kpss,
                "regularised_candidates": int(grid.regularised.sum())}
    results = []
    for H in cfg.horizons:
        times: dict[str, float] = {"fit_grid": t_fit}
        t0 = time.perf_counter()
        split = "val" if cfg.selection == "val" else "train"
        wr = window_range(b, split, L, H, ps.name)
        mom = window_lag_moments(z, wr.start, wr.count, L, H, pooled, backend)
        times["moments"] = time.perf_counter() - t0
        say(f"H={H}: scoring {len(grid)} candidates on {wr.count * (C if pooled else 1)} {split} windows")
        t0 = time.perf_counter()
        mse_steps = score_grid(grid, mom, backend)
        mse_h = mse_steps.mean(1).numpy()
        if cfg.selection == "bic":
            n = mom.count
            crit = np.log(mse_h) + (grid.p + grid.has_intercept) * np.log(n) / n
        else:
            crit = mse_h
        times["score"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        picks = _select(grid, crit)
        chosen = []
        refit_rows = (0, b.val_end if cfg.refit == "train+val" else b.train_end)
        for i in picks:
            p, d, wc, g = int(grid.p[i]), int(grid.d[i]), bool(grid.has_intercept[i]), int(grid.group[i])
            if refit_rows[1] != b.train_end:
                zz = z if pooled else z[g : g + 1]
                final = fit_grid(zz, refit_rows, orders=(p, p), diff_orders=[d], intercepts=[wc], pooled=True,
                                 lookback=L, backend=backend)
                psi, c, reg = final.psi[0], float(final.intercept[0]), bool(final.regularised[0])
            else:
                psi, c, reg = grid.psi[i], float(grid.intercept[i]), bool(grid.regularised[i])
            q = p + d
            chosen.append(ChosenModel(g, p, d, wc, float(crit[i]), psi[:q].tolist(), c, reg))
        times["select_refit"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        wt = window_range(b, "test", L, H, ps.name)
        inputs, truth = lag_windows(z, wt.start, wt.count, L, H)
        fc = np.empty_like(truth)
        for ch in range(C):
            model = chosen[0] if pooled else chosen[ch]
            fc[ch] = forecast_windows(model, inputs[ch], H, backend)
        err = fc - truth
        times["test"] = time.perf_counter() - t0
        results.append(HorizonResult(
            horizon=H, mse=float((err**2).mean()), mae=float(np.abs(err).mean()),
            mse_per_channel=(err**2).mean(axis=(1, 2)).tolist(), mae_per_channel=np.abs(err).mean(axis=(1, 2)).tolist(),
            chosen=chosen, candidates=len(grid),
            selected_on=("validation split, MSE over steps 1..H" if cfg.selection == "val"
                         else "training windows, BIC = log(MSE_H) + k log(N)/N"),
            refit_on="train+val" if cfg.refit == "train+val" else "train",
            regularised_candidates=int(grid.regularised.sum()), timings=times, test_windows=wt.count,
            forecasts=np.moveaxis(fc, 0, -1), truth=np.moveaxis(truth, 0, -1)))
        say(f"H={H}: test MSE {results[-1].mse:.4f} MAE {results[-1].mae:.4f}")
    return results, run_info
