"""The family choice of a series' forecast: the AR pick against Theta, the damped trend, the naive forecasts and
the means of the AR pick and the two, on validation errors the AR pick was not chosen on.

Why: the AR pick is the best of hundreds of (p, d, intercept, shrink) candidates on the validation windows, so
its validation error is the minimum of many and reads low; a few dozen yearly values give a handful of windows,
and on those the AR pick beat every other family on its own windows while the Theta method and the damped
trend, fitted on nothing but each window's rows, were ahead on the test windows (M1's yearly series,
``bench/forecast_panel.py``). Here the validation windows are cut into :data:`BLOCKS` contiguous blocks; each
block is forecast by the AR pick made (grid choice and shrinkage) on the other blocks -- an honest estimate of
what choosing an AR on validation gives -- and by every other family, which chooses nothing on validation. The
family with the lowest validation MSE over all blocks wins; its AR part (if any) is the pick made on every
validation window, as before.

The other families are fitted afresh on each window's ``lookback`` rows (:data:`autofast.forecast.autoar.
LOCAL_FORECASTERS`), so their cost grows with windows x lookback: the stage runs where that is at most
:data:`MAX_WINDOW_ROWS` per horizon (short series, where the choice matters; ETTh1's hourly protocol keeps the AR
pick against the naive forecasts on every window).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from autofast.kernels.ar_grid import ARBackend

from .autoar import (LOCAL_KINDS, SHRINK_WEIGHTS, ChosenModel, _select, _shrunk_scores, forecasts_at, naive_model,
                     shrink_toward_naive)
from .grid import CandidateGrid, score_grid, window_lag_moments

BLOCKS = 3
#: (validation + test windows) x lookback x channels above which the local families are not fitted (~1 s of numpy
#: per million window rows on one core)
MAX_WINDOW_ROWS = 1_000_000
SELECTED_ON = ("; the family (the AR pick, the Theta method, the damped trend, the means of the AR pick and those, "
               f"the naive forecasts) by validation MSE, the AR pick's on each of {BLOCKS} blocks of windows made "
               "on the other blocks")


def family_applies(val_windows: int, test_windows: int, lookback: int, channels: int) -> bool:
    """Whether the family stage runs: at least two validation windows and the local fits within budget."""
    return val_windows >= 2 and (val_windows + test_windows) * lookback * channels <= MAX_WINDOW_ROWS


def _ar_pick(grid: CandidateGrid, crits: np.ndarray, moms: list, weights: np.ndarray, shrink: bool,
             backend: ARBackend) -> list[ChosenModel]:
    """The AR pick (per group) on the blocks ``weights`` selects (a weighted mean of their per-window MSE
    ``crits``), with its shrinkage chosen on the same blocks; coefficients of the training fit."""
    crit = (weights[:, None] * crits).sum(0)
    models = []
    for i in _select(grid, crit):
        q, w = int(grid.order[i]), 0.0
        psi, c = grid.psi[i, :q], float(grid.intercept[i])
        if shrink:
            sh = sum(wk * _shrunk_scores(grid, i, moms[k], backend) for k, wk in enumerate(weights) if wk > 0)
            if np.nanmin(sh) < crit[i]:
                w = SHRINK_WEIGHTS[int(np.nanargmin(sh))]
                psi, c = shrink_toward_naive(psi, c, w)
        models.append(ChosenModel(int(grid.group[i]), int(grid.p[i]), int(grid.d[i]), bool(grid.has_intercept[i]),
                                  float(crit[i]), list(map(float, psi)), c, bool(grid.regularised[i]), shrink=w))
    return models


def choose_family(z: np.ndarray, grid: CandidateGrid, chosen: list[ChosenModel], val_start: int, val_count: int,
                  lookback: int, horizon: int, season: int, *, naive: bool, shrink: bool, pooled: bool,
                  backend: ARBackend) -> tuple[list[ChosenModel], np.ndarray]:
    """Per group, the family with the lowest honest validation MSE (module docstring).

    Args:
        z: ``(C, T)`` standardised series; ``grid``: the AR candidates fitted on the training split;
        chosen: the AR pick per group made on every validation window (``val_count`` windows from row
            ``val_start``), refitted as configured: the AR part of a winning family.
    Returns:
        the chosen models, one per group as ``chosen`` (``selection_score`` the family's validation MSE), and the
        chosen families' honest validation errors ``(val_count, H, C)`` (forecast minus truth): the intervals'.
    """
    C = z.shape[0]
    edges = np.linspace(0, val_count, min(BLOCKS, val_count) + 1).round().astype(np.int64)
    counts = np.diff(edges).astype(np.float64)
    moms = [window_lag_moments(z, val_start + a, b - a, lookback, horizon, pooled, backend)
            for a, b in zip(edges[:-1], edges[1:])]
    crits = np.stack([score_grid(grid, m, backend).mean(1) for m in moms])  # (K, B): MSE per block
    starts = val_start + np.arange(val_count)
    honest = np.empty((val_count, horizon, C))
    for k in range(len(moms)):
        others = counts.copy()
        others[k] = 0.0
        picks = _ar_pick(grid, crits, moms, others / others.sum(), shrink, backend)
        honest[edges[k] : edges[k + 1]] = forecasts_at(z, picks, starts[edges[k] : edges[k + 1]], lookback, horizon,
                                                       backend)
    truth = z[:, starts[:, None] + lookback + np.arange(horizon)[None, :]].transpose(1, 2, 0)  # (n, H, C)
    at = lambda kind: forecasts_at(z, [ChosenModel(0, 0, 0, False, 0.0, [], kind=kind)], starts, lookback,  # noqa: E731
                                   horizon, backend)
    theta, damped = at("theta"), at("damped")
    fams = {"ar": honest, "theta": theta, "damped": damped, "theta+damped": (theta + damped) / 2,
            "ar+theta": (honest + theta) / 2, "ar+damped": (honest + damped) / 2,
            "ar+theta+damped": (honest + theta + damped) / 3}
    assert set(fams) == {"ar", *LOCAL_KINDS}
    naives = {}
    if naive:
        for m in sorted({1, season}):
            naives[m] = forecasts_at(z, [naive_model(0, m, 0.0)], starts, lookback, horizon, backend)
    errors = {kind: ((f - truth) ** 2).mean(axis=(0, 1)) for kind, f in fams.items()}  # (C,) per family
    errors.update({("naive", m): ((f - truth) ** 2).mean(axis=(0, 1)) for m, f in naives.items()})
    out, honest_errors = [], np.empty_like(truth)
    for model in chosen:
        score = {k: float(e.mean() if pooled else e[model.group]) for k, e in errors.items()}
        best = min(score, key=lambda k: (score[k], k != "ar"))  # ties keep the AR pick
        if isinstance(best, tuple):
            out.append(naive_model(model.group, best[1], score[best]))
        elif best.startswith("ar"):
            out.append(replace(model, kind=best, selection_score=score[best]))
        else:
            out.append(ChosenModel(model.group, 0, 0, False, score[best], [], kind=best))
        cols = slice(None) if pooled else slice(model.group, model.group + 1)
        honest_errors[:, :, cols] = (naives[best[1]] if isinstance(best, tuple) else fams[best])[:, :, cols] - \
            truth[:, :, cols]
    return out, honest_errors
