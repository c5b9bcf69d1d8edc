"""The torch reference exposed with the common backend signature (slow; for tests and fallback)."""
from __future__ import annotations

import torch

from .reference import ar_forecast_weights_ref, ar_grid_scores_ref, window_moments_ref


def window_moments(z: torch.Tensor, width: int, start: int, count: int) -> torch.Tensor:
    return window_moments_ref(z, width, start, count)


def ar_forecast_weights(psi, intercept, horizon, order=None) -> torch.Tensor:
    return ar_forecast_weights_ref(psi, intercept, horizon)


def ar_grid_scores(psi, intercept, S, Sxy, syy, count, order=None) -> torch.Tensor:
    return ar_grid_scores_ref(psi, intercept, S, Sxy, syy, count)
