"""2-D Darcy flow (the NAS-Bench-360 / Fourier Neural Operator task): a coefficient field ``a`` on the unit
square -> the pressure ``u`` solving ``-div(a grad u) = 1`` with ``u = 0`` on the boundary.

Generator (after Li et al., "Fourier Neural Operator for Parametric PDEs", ICLR 2021):

* ``mu``: a Gaussian random field with covariance ``(-Laplace + tau^2)^(-alpha)`` (``tau = 3``, ``alpha = 2``),
  sampled spectrally on an ``s x s`` periodic grid (complex white noise in Fourier space scaled by
  ``(4 pi^2 |k|^2 + tau^2)^(-alpha / 2)``, inverse FFT, real part);
* ``a = 12`` where ``mu >= 0``, ``a = 3`` elsewhere (piecewise constant, as in the FNO data);
* ``u``: second-order finite differences on the ``s x s`` node grid (spacing ``h = 1 / (s - 1)``, boundary
  nodes fixed at 0), the 5-point stencil with edge coefficients the arithmetic mean of the two nodes'
  ``a``; the sparse system of the ``(s - 2)^2`` interior nodes is assembled with ``scipy.sparse`` and solved
  with ``scipy.sparse.linalg.spsolve``.

Every sample is a pure function of ``(seed, index, s)``. :func:`darcy_data` makes the bundled task: an
official training set (seed 0) and test set (seed 1) at ``s = 32``: inputs ``(N, 1, s, s)`` float32 ``a``,
targets ``(N, 1, s, s)`` float32 ``u``, scored by relative L2.
"""
from __future__ import annotations

import numpy as np

from .types import SupervisedData, merge_parts

DARCY_SIZE = 32
DARCY_TRAIN, DARCY_TEST = 400, 100


def gaussian_field(rng: np.random.Generator, s: int, alpha: float = 2.0, tau: float = 3.0) -> np.ndarray:
    """One ``(s, s)`` sample of the Gaussian random field (see the module docstring), float64."""
    k = np.fft.fftfreq(s, d=1.0 / s)
    k2 = k[:, None] ** 2 + k[None, :] ** 2
    scale = (4 * np.pi ** 2 * k2 + tau ** 2) ** (-alpha / 2)
    scale[0, 0] = 0.0  # zero mean
    noise = rng.standard_normal((s, s)) + 1j * rng.standard_normal((s, s))
    return np.real(np.fft.ifft2(noise * scale)) * s * s


def solve_darcy(a: np.ndarray) -> np.ndarray:
    """Pressure ``u`` (``(s, s)``, float64, zero on the boundary) for the coefficient field ``a`` ``(s, s)``."""
    import scipy.sparse as sp
    from scipy.sparse.linalg import spsolve

    s = a.shape[0]
    h2 = (1.0 / (s - 1)) ** 2
    m = s - 2
    idx = np.arange(m * m).reshape(m, m)
    ii, jj = np.meshgrid(np.arange(1, s - 1), np.arange(1, s - 1), indexing="ij")
    rows, cols, vals = [], [], []
    diag = np.zeros((m, m))
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        coef = 0.5 * (a[ii, jj] + a[ii + di, jj + dj]) / h2  # edge coefficient
        diag += coef
        ni, nj = ii + di, jj + dj
        inside = (ni >= 1) & (ni <= s - 2) & (nj >= 1) & (nj <= s - 2)  # boundary neighbours are 0
        rows.append(idx[inside])
        cols.append(idx[ni[inside] - 1, nj[inside] - 1])
        vals.append(-coef[inside])
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel())
    A = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m))
    u = np.zeros((s, s))
    u[1:-1, 1:-1] = spsolve(A, np.ones(m * m)).reshape(m, m)
    return u


def darcy_samples(n: int, seed: int, s: int = DARCY_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``n`` pairs ``(a, u)``: float32 ``(n, 1, s, s)`` each; sample ``i`` depends only on ``(seed, i, s)``."""
    a_all = np.empty((n, 1, s, s), np.float32)
    u_all = np.empty((n, 1, s, s), np.float32)
    for i in range(n):
        rng = np.random.default_rng([seed, i, s])
        a = np.where(gaussian_field(rng, s) >= 0, 12.0, 3.0)
        a_all[i, 0] = a
        u_all[i, 0] = solve_darcy(a)
    return a_all, u_all


def darcy_data(n_train: int = DARCY_TRAIN, n_test: int = DARCY_TEST, s: int = DARCY_SIZE) -> SupervisedData:
    """The bundled Darcy-flow task: an official training set (seed 0) and test set (seed 1)."""
    parts = {}
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        a, u = darcy_samples(n, seed, s)
        parts[split] = SupervisedData(a, u, ["pressure"], f"darcy[{split}: seed {seed}, {n} x {s}x{s}]", "dense")
    return merge_parts(parts, f"darcy (generated, s={s})")
