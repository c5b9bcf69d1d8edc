"""numba CPU backend of the lag-grid AR solver (the CPU default).

* ``window_moments``: stride-1 window moments from prefix sums of lagged products,
  O(W * (N + W)) per channel instead of the O(N * W^2) of a Gram GEMM.
* ``ar_grid_scores``: per candidate, the companion recursion ``r_h = r_{h-1} C`` (O(Q) per step,
  C never formed), then ``diag(M' S M)`` on the candidate's leading block with a BLAS GEMM.
  Candidates are dealt to one thread per core (``AUTOFAST_NUM_THREADS``), GIL released.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np
import scipy.linalg  # noqa: F401  loads the BLAS numba's np.dot calls, so threadpool_limits sees it
import torch
from threadpoolctl import threadpool_limits

__all__ = ["window_moments", "ar_grid_scores", "ar_forecast_weights"]


@nb.njit(parallel=True, cache=True)
def _window_moments(z, width, start, count):
    C = z.shape[0]
    W = width
    out = np.empty((C, W + 1, W + 1))  # every entry is written below
    for task in nb.prange(C * W):
        c = task // W
        k = task % W  # lag between the two window positions
        seg = count + W - 1 - k  # products z[t] z[t+k] for t in [start, start + seg)
        cs = np.empty(seg + 1)
        cs[0] = 0.0
        acc = 0.0
        for t in range(seg):
            acc += z[c, start + t] * z[c, start + t + k]
            cs[t + 1] = acc
        for i in range(W - k):
            v = cs[i + count] - cs[i]
            out[c, 1 + i, 1 + i + k] = v
            out[c, 1 + i + k, 1 + i] = v
        if k == 0:
            # constant row: sum_n z[n + i]
            cs[0] = 0.0
            acc = 0.0
            for t in range(seg):
                acc += z[c, start + t]
                cs[t + 1] = acc
            for i in range(W):
                v = cs[i + count] - cs[i]
                out[c, 0, 1 + i] = v
                out[c, 1 + i, 0] = v
            out[c, 0, 0] = count
    return out


@nb.njit(cache=True)
def _forecast_weights_one(psi_row, q, c, H, M):
    """Fill M[: q + 1, :H] for one candidate; r_h = e_1' C^h and b_h = c * sum_{k<h} r_k[0]."""
    r = np.zeros(q)
    r[0] = 1.0  # r_0 = e_1
    bsum = 0.0
    for h in range(H):
        bsum += r[0]
        r0 = r[0]
        for j in range(q - 1):
            r[j] = r0 * psi_row[j] + r[j + 1]
        r[q - 1] = r0 * psi_row[q - 1]
        M[0, h] = c * bsum
        for j in range(q):
            M[1 + j, h] = r[j]


@nb.njit(cache=True, nogil=True)
def _ar_grid_scores(psi, intercept, order, S, Sxy, syy, count, perm, out):
    # One worker thread's share of the candidates: a single-threaded GEMM S_q @ M per candidate.
    # (Stacking equal-order candidates into one wider GEMM measured 1.5-2x slower: M leaves cache.)
    H = Sxy.shape[1]
    acc = np.empty(H)
    for t in range(perm.shape[0]):
        b = perm[t]
        q = order[b]
        M = np.zeros((q + 1, H))
        _forecast_weights_one(psi[b], q, intercept[b], H, M)
        T = np.dot(np.ascontiguousarray(S[: q + 1, : q + 1]), M)
        acc[:] = syy
        for i in range(q + 1):  # row-wise: contiguous in M and T
            for h in range(H):
                acc[h] += M[i, h] * (T[i, h] - 2.0 * Sxy[i, h])
        for h in range(H):
            out[b, h] = acc[h] / count


@nb.njit(cache=True)
def _forecast_weights(psi, intercept, order, H):
    B, Q = psi.shape
    out = np.empty((B, Q + 1, H))
    for b in range(B):
        q = order[b]
        M = np.zeros((q + 1, H))
        _forecast_weights_one(psi[b], q, intercept[b], H, M)
        out[b, : q + 1] = M
        out[b, q + 1 :] = 0.0
    return out


def _n_threads() -> int:
    env = os.environ.get("AUTOFAST_NUM_THREADS")
    return int(env) if env else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _np64(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().to("cpu", torch.float64).numpy())


def _orders(psi: np.ndarray, order: torch.Tensor | None) -> np.ndarray:
    if order is not None:
        return np.ascontiguousarray(order.detach().cpu().numpy().astype(np.int64))
    nz = psi != 0
    last = psi.shape[1] - np.argmax(nz[:, ::-1], axis=1)
    return np.where(nz.any(axis=1), last, 1).astype(np.int64)


def window_moments(z: torch.Tensor, width: int, start: int, count: int) -> torch.Tensor:
    """Same contract as :func:`reference.window_moments_ref`."""
    return torch.from_numpy(_window_moments(_np64(z), int(width), int(start), int(count)))


def ar_forecast_weights(
    psi: torch.Tensor, intercept: torch.Tensor, horizon: int, order: torch.Tensor | None = None
) -> torch.Tensor:
    """Same contract as :func:`reference.ar_forecast_weights_ref`."""
    p = _np64(psi)
    return torch.from_numpy(_forecast_weights(p, _np64(intercept), _orders(p, order), int(horizon)))


def ar_grid_scores(
    psi: torch.Tensor,
    intercept: torch.Tensor,
    S: torch.Tensor,
    Sxy: torch.Tensor,
    syy: torch.Tensor,
    count: int,
    order: torch.Tensor | None = None,
) -> torch.Tensor:
    """Same contract as :func:`reference.ar_grid_scores_ref`; ``order`` (B,) skips zero tails."""
    p = _np64(psi)
    q = _orders(p, order)
    args = (p, _np64(intercept), q, _np64(S), _np64(Sxy), _np64(syy), float(count))
    out = np.full((p.shape[0], Sxy.shape[1]), np.nan)
    # Largest orders first, dealt round-robin to one thread per core; each thread runs its GEMMs on a
    # single-threaded BLAS. (Multithreaded BLAS per small GEMM measured 1.5-6x slower and erratic on a
    # shared 2-core machine; BLAS inside numba prange oversubscribes.)
    n = max(1, min(_n_threads(), len(q) // 32))  # small grids: no pool (its start-up costs ~1 ms)
    order_desc = np.argsort(-q, kind="stable").astype(np.int64)  # largest first, dealt round-robin
    shares = [np.ascontiguousarray(order_desc[i::n]) for i in range(n)]
    with threadpool_limits(1):
        if n == 1:
            _ar_grid_scores(*args, shares[0], out)
        else:
            with ThreadPoolExecutor(n) as pool:
                list(pool.map(lambda share: _ar_grid_scores(*args, share, out), shares))
    return torch.from_numpy(out)
