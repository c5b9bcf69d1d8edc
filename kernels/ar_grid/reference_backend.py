"""The torch reference exposed with the common backend signature (slow; for tests and fallback).

Window moments are summed over chunks of windows, so the explicit unfolding stays within
``_MOMENT_CHUNK_BYTES`` whatever the number of windows.
"""
from __future__ import annotations

import torch

from .reference import (
    ar_forecast_weights_ref,
    ar_grid_scores_ref,
    forecast_error_sums_ref,
    nested_ols,
    window_moments_ref,
)

__all__ = ["window_moments", "ar_forecast_weights", "ar_grid_scores", "forecast_error_sums", "nested_ols"]

_MOMENT_CHUNK_BYTES = 64 * 1024 * 1024


def window_moments(z: torch.Tensor, width: int, start: int, count: int, pooled: bool = False,
                   chunk: int | None = None) -> torch.Tensor:
    """:func:`window_moments_ref` summed over chunks of ``chunk`` windows (default: by a byte budget);
    ``pooled`` sums over the channels too (output ``(1, W + 1, W + 1)``)."""
    C = z.shape[0]
    if chunk is None:
        chunk = max(1, _MOMENT_CHUNK_BYTES // (8 * max(C, 1) * (width + 1)))
    out = torch.zeros(C, width + 1, width + 1, dtype=torch.float64, device=z.device)
    for s in range(start, start + count, chunk):
        out += window_moments_ref(z, width, s, min(chunk, start + count - s))
    return out.sum(0, keepdim=True) if pooled else out


def ar_forecast_weights(psi, intercept, horizon, order=None) -> torch.Tensor:
    return ar_forecast_weights_ref(psi, intercept, horizon)


def ar_grid_scores(psi, intercept, S, Sxy, syy, count, order=None, edges=None) -> torch.Tensor:
    """``edges`` (a hint that S holds stride-1 window moments) is not needed by the reference."""
    return ar_grid_scores_ref(psi, intercept, S, Sxy, syy, count)


def forecast_error_sums(z, psi, intercept, start, count, lookback, horizon, order=None, chunk: int = 4096) -> torch.Tensor:
    return forecast_error_sums_ref(z, psi, intercept, start, count, lookback, horizon, chunk)
