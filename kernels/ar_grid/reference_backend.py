"""The torch reference exposed with the common backend signature (slow; for tests and fallback).

Window moments are summed over chunks of windows, so the explicit unfolding stays within
``_MOMENT_CHUNK_BYTES`` whatever the number of windows. ``order`` is read as the numba and triton
backends read it: candidate b uses ``psi[b, :order[b]]`` only (default: up to its last non-zero).
"""
from __future__ import annotations

import numpy as np
import torch

from .reference import (
    ar_forecast_weights_ref,
    ar_grid_scores_ref,
    check_windows,
    forecast_error_sums_ref,
    nested_ols,
    window_moments_ref,
)

__all__ = ["window_moments", "ar_forecast_weights", "ar_grid_scores", "forecast_error_sums", "nested_ols"]

_MOMENT_CHUNK_BYTES = 64 * 1024 * 1024


def window_moments(z: torch.Tensor, width: int, start: int, count: int, pooled: bool = False,
                   chunk: int | None = None) -> torch.Tensor:
    """:func:`window_moments_ref` summed over chunks of ``chunk`` windows (default: by a byte budget);
    ``pooled`` sums over the channels too (output ``(1, W + 1, W + 1)``). The windows must fit the series
    (the same ValueError as the numba backend)."""
    width, start, count = int(width), int(start), int(count)
    check_windows(z, width, start, count)
    C = z.shape[0]
    if chunk is None:
        chunk = max(1, _MOMENT_CHUNK_BYTES // (8 * max(C, 1) * (width + 1)))
    out = torch.zeros(C, width + 1, width + 1, dtype=torch.float64, device=z.device)
    for s in range(start, start + count, chunk):
        out += window_moments_ref(z, width, s, min(chunk, start + count - s))
    return out.sum(0, keepdim=True) if pooled else out


def _orders(psi: torch.Tensor, order) -> np.ndarray:
    """``(B,)`` int64 orders on the host, as the numba backend reads them: ``order`` if given (values in
    0..Q), else the position of each row's last non-zero coefficient (1 for an all-zero row)."""
    B, Q = psi.shape
    if order is not None:
        q = (order.detach().cpu().numpy() if isinstance(order, torch.Tensor) else np.asarray(order))
        q = q.reshape(-1).astype(np.int64)
        if q.shape[0] != B or (q.size and (q.min() < 0 or q.max() > Q)):
            raise ValueError(f"order must hold {B} values in 0..{Q}")
        return q
    nz = (psi != 0).cpu().numpy()
    last = Q - np.argmax(nz[:, ::-1], axis=1)
    return np.where(nz.any(axis=1), last, 1).astype(np.int64)


def _by_order(q: np.ndarray, device: torch.device):
    """``(order, row index tensor)`` for each distinct order: candidates of one order run together on
    ``psi[rows, :order]`` (only the leading q coefficients are read, as numba and triton do)."""
    for qv in np.unique(q):
        yield int(qv), torch.as_tensor(np.flatnonzero(q == qv), device=device)


def ar_forecast_weights(psi, intercept, horizon, order=None) -> torch.Tensor:
    """:func:`ar_forecast_weights_ref` of ``psi[b, :order[b]]`` (default order: the last non-zero), rows
    beyond ``order[b] + 1`` zero: ``(B, Q + 1, H)``."""
    psi = psi.to(torch.float64)
    c = intercept.to(device=psi.device, dtype=torch.float64).reshape(-1)
    B, Q = psi.shape
    H = int(horizon)
    out = torch.zeros(B, Q + 1, H, dtype=torch.float64, device=psi.device)
    for qv, rows in _by_order(_orders(psi, order), psi.device):
        out[rows, : qv + 1] = ar_forecast_weights_ref(psi[rows, :qv], c[rows], H)
    return out


def ar_grid_scores(psi, intercept, S, Sxy, syy, count, order=None, edges=None) -> torch.Tensor:
    """:func:`ar_grid_scores_ref` of ``psi[b, :order[b]]`` (default order: the last non-zero); only the
    leading ``q + 1`` rows of ``S``/``Sxy`` are read. ``edges`` (a hint that S holds stride-1 window
    moments) is not needed by the reference."""
    psi = psi.to(torch.float64)
    c = intercept.to(device=psi.device, dtype=torch.float64).reshape(-1)
    B, Q = psi.shape
    if Q + 1 > S.shape[0] or Q + 1 > Sxy.shape[0]:
        raise ValueError(f"psi has Q={Q} lags but S/Sxy only cover L={min(S.shape[0], Sxy.shape[0]) - 1}")
    out = torch.full((B, Sxy.shape[1]), float("nan"), dtype=torch.float64, device=psi.device)
    for qv, rows in _by_order(_orders(psi, order), psi.device):
        out[rows] = ar_grid_scores_ref(psi[rows, :qv], c[rows], S, Sxy, syy, count)
    return out


def forecast_error_sums(z, psi, intercept, start, count, lookback, horizon, order=None, chunk: int = 4096) -> torch.Tensor:
    """:func:`forecast_error_sums_ref` with channel c's model ``psi[c, :order[c]]`` (default order: the
    last non-zero); the same argument checks as the numba backend."""
    z = z.to(torch.float64)
    psi = psi.to(device=z.device, dtype=torch.float64)
    c = intercept.to(device=z.device, dtype=torch.float64).reshape(-1)
    start, count, lookback, horizon, chunk = int(start), int(count), int(lookback), int(horizon), int(chunk)
    if z.dim() != 2 or psi.dim() != 2 or psi.shape[0] != z.shape[0] or c.shape[0] != z.shape[0]:
        raise ValueError(f"psi {tuple(psi.shape)} and intercept {tuple(c.shape)} need one row per channel of z {tuple(z.shape)}")
    if psi.shape[1] > lookback or horizon < 1 or chunk < 1 or count < 1 or start < 0:
        raise ValueError(f"need Q={psi.shape[1]} <= lookback={lookback}, horizon, chunk, count >= 1, start >= 0")
    if start + count - 1 + lookback + horizon > z.shape[1]:
        raise ValueError(f"windows {start}..{start + count - 1} (+{lookback + horizon}) exceed the series ({z.shape[1]})")
    out = torch.zeros(z.shape[0], 2, horizon, dtype=torch.float64, device=z.device)
    for qv, rows in _by_order(_orders(psi, order), z.device):
        out[rows] = forecast_error_sums_ref(z[rows], psi[rows, :qv], c[rows], start, count, lookback, horizon, chunk)
    return out
