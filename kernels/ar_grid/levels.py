"""numpy helpers shared by every backend's callers (no torch): differenced AR -> level AR."""
from __future__ import annotations

import numpy as np

__all__ = ["difference_to_levels"]


def difference_to_levels(phi: np.ndarray, d: int) -> np.ndarray:
    """Turn AR coefficients of the d-times differenced series into level coefficients.

    ``(1 - sum_i phi_i B^i)(1 - B)^d = 1 - sum_j psi_j B^j`` (the torch twin is
    :func:`.reference.difference_to_levels`).

    Args:
        phi: ``(..., p)`` float64, lag order.
        d: differencing order >= 0.
    Returns:
        ``(..., p + d)`` float64 ``psi``.
    """
    phi = np.asarray(phi, dtype=np.float64)
    if d == 0:
        return phi.copy()
    p = phi.shape[-1]
    poly = np.zeros(phi.shape[:-1] + (p + d + 1,))  # 1 - sum phi_i B^i, then times (1 - B) d times
    poly[..., 0] = 1.0
    poly[..., 1 : p + 1] = -phi
    for k in range(d):
        poly[..., 1 : p + k + 2] -= poly[..., : p + k + 1]  # numpy buffers the overlapping operands
    return np.negative(poly[..., 1:])
