"""Fit every (p, d, intercept) candidate at once and score them all from window moments.

Fitting: for each differencing order d, ONE Gram matrix of the largest order P (shared estimation
sample: targets from row P on) gives every order 1..P through the leading blocks of one Cholesky
factor (:func:`autofast.kernels.ar_grid.nested_ols`). Each AR(p) on the d-times differenced series
becomes an AR(p + d) on the levels, so every candidate is a linear forecaster of the raw window.

Scoring: the validation error of every candidate at every step comes from the moments of the
validation windows (computed once per horizon) -- no pass over the windows per candidate.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from autofast.kernels.ar_grid import ARBackend, difference_to_levels, nested_ols

JITTERS = (0.0, 1e-10, 1e-8, 1e-6, 1e-4)


@dataclass
class CandidateGrid:
    """All candidates as level-AR recursions ``y_t = c + sum_j psi_j y_{t-j}`` (float64).

    ``psi``: ``(B, Q)`` zero-padded, lag order; ``intercept``: ``(B,)``; integer/bool metadata ``(B,)``:
    ``p`` (AR order on the differenced series), ``d``, ``has_intercept``, ``group`` (channel index for
    per-channel models, 0 for a pooled model) and ``regularised`` (a ridge jitter was needed).
    """

    psi: torch.Tensor
    intercept: torch.Tensor
    p: np.ndarray
    d: np.ndarray
    has_intercept: np.ndarray
    group: np.ndarray
    regularised: np.ndarray
    jitter: np.ndarray

    def __len__(self) -> int:
        return self.psi.shape[0]

    @property
    def order(self) -> np.ndarray:
        return self.p + self.d

    def subset(self, idx: np.ndarray) -> "CandidateGrid":
        t = torch.as_tensor(idx, dtype=torch.long)
        return CandidateGrid(self.psi[t], self.intercept[t], self.p[idx], self.d[idx], self.has_intercept[idx],
                             self.group[idx], self.regularised[idx], self.jitter[idx])

    @staticmethod
    def concat(parts: list["CandidateGrid"]) -> "CandidateGrid":
        width = max(g.psi.shape[1] for g in parts)
        psi = torch.cat([torch.nn.functional.pad(g.psi, (0, width - g.psi.shape[1])) for g in parts])
        cat = lambda name: np.concatenate([getattr(g, name) for g in parts])  # noqa: E731
        return CandidateGrid(psi, torch.cat([g.intercept for g in parts]), cat("p"), cat("d"),
                             cat("has_intercept"), cat("group"), cat("regularised"), cat("jitter"))


def _solve_nested(gram: torch.Tensor, rhs: torch.Tensor) -> tuple[torch.Tensor, np.ndarray]:
    """nested_ols with an escalating ridge where plain Cholesky fails; returns coefs and the jitter used."""
    coefs, ok = nested_ols(gram, rhs)
    jit = np.zeros(gram.shape[0])
    for j in JITTERS[1:]:
        if bool(ok.all()):
            break
        bad = (~ok).nonzero().flatten()
        c2, ok2 = nested_ols(gram[bad], rhs[bad], jitter=j)
        coefs[bad] = c2
        jit[bad.numpy()] = j
        ok[bad] = ok2
    if not bool(ok.all()):
        raise np.linalg.LinAlgError("Gram matrix not positive definite even with ridge 1e-4")
    return coefs, jit


def fit_grid(z: np.ndarray, rows: tuple[int, int], *, orders: tuple[int, int], diff_orders: list[int],
             intercepts: list[bool], pooled: bool, lookback: int, backend: ARBackend) -> CandidateGrid:
    """Fit every candidate by OLS in float64 on ``z[:, rows[0]:rows[1]]``.

    Args:
        z: ``(C, T)`` standardised series.
        rows: the estimation rows (e.g. the training split).
        orders: ``(p_min, p_max)``; for each d the orders run to ``min(p_max, lookback - d)``.
        pooled: one global model on all channels' windows, else one model per channel.
    """
    lo, hi = rows
    parts = []
    for d in diff_orders:
        P = min(orders[1], lookback - d)
        if P < orders[0]:
            continue
        w = np.diff(z[:, lo:hi], n=d, axis=1) if d else z[:, lo:hi]
        count = w.shape[1] - P
        mom = backend.window_moments(torch.from_numpy(np.ascontiguousarray(w)), P + 1, 0, count).cpu()
        if pooled:
            mom = mom.sum(0, keepdim=True)
        # forward positions: 0 const, 1..P the lags P..1, P+1 the target -> lag order [const, lag1..lagP]
        reg = torch.tensor([0] + list(range(P, 0, -1)))
        for with_c in intercepts:
            idx = reg if with_c else reg[1:]
            gram = mom[:, idx][:, :, idx]
            rhs = mom[:, idx, P + 1]
            coefs, jit = _solve_nested(gram, rhs)  # (G, K, K)
            off = 1 if with_c else 0
            ps = np.arange(orders[0], P + 1)
            sol = coefs[:, ps - 1 + off, :]  # (G, n_p, K): row for order p
            phi = sol[..., off:]  # lags only, zero beyond p
            psi = difference_to_levels(phi, d)  # (G, n_p, P + d)
            c = sol[..., 0] if with_c else torch.zeros(sol.shape[:2], dtype=torch.float64)
            G = psi.shape[0]
            parts.append(CandidateGrid(
                psi=psi.reshape(G * len(ps), -1), intercept=c.reshape(-1),
                p=np.tile(ps, G), d=np.full(G * len(ps), d), has_intercept=np.full(G * len(ps), with_c),
                group=np.repeat(np.arange(G), len(ps)), regularised=np.repeat(jit > 0, len(ps)),
                jitter=np.repeat(jit, len(ps))))
    return CandidateGrid.concat(parts)


@dataclass
class LagMoments:
    """Lag-ordered moments of a set of windows (per group): ``S (G, L+1, L+1)``, ``Sxy (G, L+1, H)``,
    ``syy (G, H)`` and the window count per group."""

    S: torch.Tensor
    Sxy: torch.Tensor
    syy: torch.Tensor
    count: int


def window_lag_moments(z: np.ndarray, start: int, count: int, lookback: int, horizon: int, pooled: bool,
                       backend: ARBackend) -> LagMoments:
    """Moments of the windows starting at ``start .. start+count-1`` (inputs L rows, then H targets)."""
    L, H = lookback, horizon
    mom = backend.window_moments(torch.from_numpy(np.ascontiguousarray(z)), L + H, start, count).cpu()
    if pooled:
        mom = mom.sum(0, keepdim=True)
    lag = torch.tensor([0] + list(range(L, 0, -1)))  # const, lag1 (position L), ..., lag L (position 1)
    tgt = torch.arange(L + 1, L + H + 1)
    S = mom[:, lag][:, :, lag]
    Sxy = mom[:, lag][:, :, tgt]
    syy = mom[:, tgt, tgt]
    return LagMoments(S, Sxy, syy, count * (z.shape[0] if pooled else 1))


def score_grid(grid: CandidateGrid, mom: LagMoments, backend: ARBackend) -> torch.Tensor:
    """Per-step MSE ``(B, H)`` of every candidate on the windows behind ``mom`` (inf where not finite)."""
    out = torch.empty(len(grid), mom.Sxy.shape[2], dtype=torch.float64)
    dev = backend.device
    for g in np.unique(grid.group):
        idx = np.nonzero(grid.group == g)[0]
        sub = grid.subset(idx)
        Q = int(sub.order.max())
        gm = 0 if mom.S.shape[0] == 1 else int(g)
        res = backend.ar_grid_scores(
            sub.psi[:, :Q].to(dev), sub.intercept.to(dev), mom.S[gm, : Q + 1, : Q + 1].contiguous().to(dev),
            mom.Sxy[gm, : Q + 1].contiguous().to(dev), mom.syy[gm].to(dev), mom.count,
            order=torch.as_tensor(sub.order, dtype=torch.int64).to(dev))
        out[torch.as_tensor(idx)] = res.cpu()
    return torch.where(torch.isfinite(out), out, torch.full_like(out, float("inf")))
