"""Prediction intervals from validation errors: per step ahead, the chosen model's absolute errors on the
validation rows give each level's half-width (split conformal prediction, Vovk et al. 2005; the M4
competition scored 95% intervals, Makridakis et al. 2020).

Half-width at level ``l`` for step ``h``: the ``ceil((n + 1) l)``-th smallest of the ``n`` absolute validation
errors at that step (the finite-sample conformal quantile) where ``n`` holds enough errors for it; else (a short
series' handful of windows) the Gaussian prediction interval with an estimated variance, ``t_{n-1, (1 + l) / 2}
sqrt(1 + 1/n)`` times the errors' root mean square; a higher level is never narrower than a lower one. Intervals
are symmetric about the point forecast, their lower bounds floored at 0 where the history forecast from is
never negative (:func:`floor_positive`). How well they cover is measured, not assumed: on the test rows, once,
beside the point errors (``coverage``; the panels also M4's mean scaled interval score).
"""
from __future__ import annotations

import math
from typing import Annotated

import numpy as np
from pydantic import AfterValidator

LEVELS = (80, 95)


def _check_levels(v: list[int]) -> list[int]:
    if any(not 0 < lv < 100 for lv in v) or len(set(v)) != len(v):
        raise ValueError(f"prediction interval levels must be distinct percentages between 0 and 100, got {v}")
    return v


#: a config field of interval levels in percent (the forecast and panel configs' ``levels``)
Levels = Annotated[list[int], AfterValidator(_check_levels)]


def halfwidths(errors: np.ndarray, levels: tuple[int, ...] = LEVELS) -> dict[int, np.ndarray]:
    """Per level, the half-widths from validation errors ``errors`` ``(n, ...)`` (forecast minus truth; the first
    axis the windows or series, the rest e.g. steps x channels; NaN: no error there). Returns
    ``{level: array of errors.shape[1:]}``, non-decreasing in the level."""
    e = np.abs(np.asarray(errors, dtype=np.float64))
    e = np.where(np.isfinite(e), e, np.nan)
    n = np.isfinite(e).sum(0)  # per cell: the errors there
    srt = np.sort(e, axis=0)  # NaN last
    with np.errstate(invalid="ignore", divide="ignore"):
        rms = np.sqrt(np.nansum(e * e, axis=0) / n)
        out, prev = {}, np.zeros(e.shape[1:])
        for level in sorted(levels):
            k = np.ceil((n + 1) * level / 100.0).astype(np.int64)  # the conformal rank, 1-based
            idx = np.clip(k - 1, 0, max(e.shape[0] - 1, 0))[None]
            conformal = np.take_along_axis(srt, idx, 0)[0] if e.shape[0] else np.full(e.shape[1:], np.nan)
            half = conformal
            if (k > n).any():  # too few errors somewhere (scipy.stats only then: its import takes ~0.3 s)
                from scipy.stats import t as student

                gauss = student.ppf(0.5 + level / 200.0, np.maximum(n - 1, 1)) * np.sqrt(1.0 + 1.0 / n) * rms
                half = np.where(k <= n, conformal, np.where(n >= 2, gauss, np.nan))
            prev = out[level] = np.where(np.isnan(half), np.nan, np.fmax(half, prev))  # NaN: under 2 errors
    return out


def coverage(y: np.ndarray, point: np.ndarray, half: np.ndarray) -> float:
    """Share of ``y`` inside ``point +- half`` (same shapes, or broadcastable; NaN targets ignored)."""
    return coverage_between(y, point - half, point + half)


def coverage_between(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Share of ``y`` inside ``[lo, hi]`` (broadcastable; cells with a NaN anywhere ignored)."""
    y, lo, hi = np.broadcast_arrays(np.asarray(y, dtype=np.float64), lo, hi)
    keep = np.isfinite(y) & np.isfinite(lo) & np.isfinite(hi)
    return float(((lo <= y) & (y <= hi))[keep].mean()) if keep.any() else math.nan


def interval_score(y: np.ndarray, lo: np.ndarray, hi: np.ndarray, level: int) -> np.ndarray:
    """The interval score (Gneiting & Raftery 2007; M4's MSIS before scaling): the width plus ``2 / alpha`` times
    how far ``y`` falls outside, elementwise."""
    a = 1.0 - level / 100.0
    return (hi - lo) + (2.0 / a) * np.maximum(lo - y, 0.0) + (2.0 / a) * np.maximum(y - hi, 0.0)


def never_negative(history: np.ndarray, axis: int = 0) -> np.ndarray:
    """Per series along ``axis``: no value below 0 and not all 0 (sales, counts, prices; intermittent demand with
    its zeros too), where :func:`floor_positive` floors the intervals."""
    h = np.asarray(history, dtype=np.float64)
    return (h >= 0).all(axis=axis) & (h > 0).any(axis=axis)


def floor_point(fc: np.ndarray, hists) -> np.ndarray:
    """Forecasts ``fc`` ``(S, H)`` raised to 0 after each history of ``hists`` that is never negative
    (:func:`never_negative`: counts, sales): a falling or intermittent series forecast below 0 (-0.16 units sold)
    -- never further from a non-negative target, and its intervals are then floored too (:func:`floor_positive`)."""
    positive = np.array([bool(never_negative(h)) for h in hists], dtype=bool)[:, None]
    return np.where(positive, np.maximum(fc, 0.0), fc)


def floor_positive(lo: np.ndarray, positive: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Lower bounds ``lo`` ``(..., H)``-shaped with ``positive`` broadcastable to it: raised to 0 where the history
    forecast from is never negative (:func:`never_negative`: a non-negative target is never excluded by it, and the
    interval gets narrower) and the point forecast ``point`` (``lo``'s shape) is not negative -- below 0 (a falling
    series forecast past zero) a floor would put the lower bound above the forecast."""
    return np.where(positive & (point >= 0), np.maximum(lo, 0.0), lo)


def interval_columns(column: str, levels: tuple[int, ...] = LEVELS) -> list[str]:
    """statsforecast's names: ``{column}-lo-{level}``, ``{column}-hi-{level}`` per level."""
    return [f"{column}-{side}-{level}" for level in levels for side in ("lo", "hi")]
