"""Fit every (p, d, intercept) candidate at once and score them all from window moments.

Fitting: for each differencing order d, ONE Gram matrix of the largest order P gives every order
1..P through the leading blocks of one Cholesky factor (the backend's ``nested_ols``). Every
candidate, whatever its p and d, is estimated on the same target rows (the estimation sample
starts ``hold_back`` rows into the fitted rows: by default the largest ``d + P_d`` of the grid), so
their residual sums of squares -- closed form from the Gram matrix, ``RSS_p = y'y - g_p' beta_p`` --
and hence their likelihoods and BICs are comparable (:func:`bic`). Each AR(p) on the d-times
differenced series becomes an AR(p + d) on the levels, so every candidate is a linear forecaster
of the raw window, and its one-step residuals on the differences are its one-step residuals on
the levels.

Scoring: the validation error of every candidate at every step comes from the moments of the
validation windows (computed once per horizon, in memory independent of the number of windows) --
no pass over the windows per candidate.

Everything here holds numpy float64 arrays; a torch backend's tensors exist only inside its calls
(``backend.asarray`` / ``backend.to_numpy``), so the numba path never imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autofast.kernels.ar_grid import ARBackend, difference_to_levels

JITTERS = (0.0, 1e-10, 1e-8, 1e-6, 1e-4)
_FIT_BLOCK_BYTES = 64 * 1024 * 1024  # differenced rows handed to the backend at once


@dataclass
class CandidateGrid:
    """All candidates as level-AR recursions ``y_t = c + sum_j psi_j y_{t-j}`` (float64 numpy).

    ``psi``: ``(B, Q)`` zero-padded, lag order; ``intercept``: ``(B,)``; integer/bool metadata ``(B,)``:
    ``p`` (AR order on the differenced series), ``d``, ``has_intercept``, ``group`` (channel index for
    per-channel models, 0 for a pooled model), ``regularised`` (a ridge jitter was needed) and ``jitter``.
    In-sample fit ``(B,)``: ``rss`` the sum of squared one-step residuals on the estimation sample
    (pooled over channels for a pooled model) and ``nobs`` the number of those residuals.
    """

    psi: np.ndarray
    intercept: np.ndarray
    p: np.ndarray
    d: np.ndarray
    has_intercept: np.ndarray
    group: np.ndarray
    regularised: np.ndarray
    jitter: np.ndarray
    rss: np.ndarray
    nobs: np.ndarray

    def __len__(self) -> int:
        return self.psi.shape[0]

    @property
    def order(self) -> np.ndarray:
        return self.p + self.d

    def subset(self, idx: np.ndarray) -> "CandidateGrid":
        return CandidateGrid(self.psi[idx], self.intercept[idx], self.p[idx], self.d[idx], self.has_intercept[idx],
                             self.group[idx], self.regularised[idx], self.jitter[idx], self.rss[idx], self.nobs[idx])

    @staticmethod
    def concat(parts: list["CandidateGrid"]) -> "CandidateGrid":
        width = max(g.psi.shape[1] for g in parts)
        psi = np.zeros((sum(len(g) for g in parts), width))  # zero-padded: one copy of each part
        row = 0
        for g in parts:
            psi[row : row + len(g), : g.psi.shape[1]] = g.psi
            row += len(g)
        cat = lambda name: np.concatenate([getattr(g, name) for g in parts])  # noqa: E731
        return CandidateGrid(psi, cat("intercept"), cat("p"), cat("d"), cat("has_intercept"), cat("group"),
                             cat("regularised"), cat("jitter"), cat("rss"), cat("nobs"))


def _solve_nested(backend: ARBackend, gram: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """nested_ols with an escalating ridge where plain Cholesky fails; returns coefs and the jitter used."""
    coefs, ok = (backend.to_numpy(a) for a in backend.nested_ols(backend.asarray(gram), backend.asarray(rhs)))
    coefs, ok = np.array(coefs), np.array(ok, dtype=bool)
    jit = np.zeros(gram.shape[0])
    for j in JITTERS[1:]:
        if ok.all():
            break
        bad = np.nonzero(~ok)[0]
        c2, ok2 = backend.nested_ols(backend.asarray(gram[bad]), backend.asarray(rhs[bad]), jitter=j)
        coefs[bad] = backend.to_numpy(c2)
        jit[bad] = j
        ok[bad] = backend.to_numpy(ok2)
    if not ok.all():
        raise np.linalg.LinAlgError("Gram matrix not positive definite even with ridge 1e-4")
    return coefs, jit


def grid_orders(orders: tuple[int, int], diff_orders: list[int], lookback: int) -> dict[int, int]:
    """The largest order ``P_d = min(p_max, lookback - d)`` fitted for each d (d without any order left out)."""
    out = {}
    for d in diff_orders:
        P = min(orders[1], lookback - d)
        if P >= orders[0]:
            out[d] = P
    return out


def common_hold_back(orders: tuple[int, int], diff_orders: list[int], lookback: int) -> int:
    """Rows before the first target shared by every candidate: ``max_d (d + P_d)`` (d differences, P_d lags)."""
    return max((d + P for d, P in grid_orders(orders, diff_orders, lookback).items()), default=0)


def fit_grid(z: np.ndarray, rows: tuple[int, int], *, orders: tuple[int, int], diff_orders: list[int],
             intercepts: list[bool], pooled: bool, lookback: int, backend: ARBackend,
             hold_back: int | None = None) -> CandidateGrid:
    """Fit every candidate by OLS in float64 on ``z[:, rows[0]:rows[1]]``.

    Args:
        z: ``(C, T)`` float64 standardised series.
        rows: the estimation rows (e.g. the training split).
        orders: ``(p_min, p_max)``; for each d the orders run to ``P_d = min(p_max, lookback - d)``.
        pooled: one global model on all channels' windows, else one model per channel.
        hold_back: the targets (one-step-ahead rows) of every candidate are ``z[:, rows[0] + hold_back :
            rows[1]]``, the same rows for every p and d (at least ``max_d (d + P_d)``, the default), so
            candidates of different orders and differencing are fitted and compared on the same sample.
    Returns:
        The grid, with each candidate's in-sample ``rss`` (closed form from the Gram matrix: ``y'y -
        g'beta`` for the OLS solution, ``y'y - 2 g'beta + beta'A beta`` where a ridge was needed) and
        ``nobs`` (target rows x channels when pooled).
    Memory: one block of channels' differenced rows (``_FIT_BLOCK_BYTES``) and the ``(G, P + 2, P + 2)``
    moments, beside the series.
    """
    lo, hi = rows
    plan = grid_orders(orders, diff_orders, lookback)
    need = common_hold_back(orders, diff_orders, lookback)
    hb = need if hold_back is None else int(hold_back)
    if hb < need:
        raise ValueError(f"hold_back {hb} is below the {need} rows the largest (d + P) of the grid needs")
    count = hi - lo - hb  # target rows of every candidate (per channel)
    parts = []
    for d, P in plan.items():
        off = hb - d - P  # first window in the differenced rows: its target is row lo + hb
        blk = max(1, _FIT_BLOCK_BYTES // (8 * (hi - lo)))  # channels per call: one block's differences
        blocks = []
        for c0 in range(0, z.shape[0], blk):
            zz = z[c0 : c0 + blk, lo:hi]
            w = np.diff(zz, n=d, axis=1) if d else zz
            blocks.append(backend.to_numpy(backend.window_moments(backend.asarray(w), P + 1, off, count,
                                                                  pooled=pooled)))
            del w
        mom = np.sum(blocks, axis=0) if pooled else np.concatenate(blocks)
        parts += grid_from_moments(mom, orders[0], P, d, intercepts, count * (z.shape[0] if pooled else 1), backend)
    return CandidateGrid.concat(parts)


def grid_from_moments(mom: np.ndarray, p_min: int, P: int, d: int, intercepts: list[bool], nobs: int,
                      backend: ARBackend) -> list[CandidateGrid]:
    """Every candidate of orders ``p_min..P`` on the ``d``-times differenced series from its window moments.

    Args:
        mom: ``(G, P + 2, P + 2)`` float64 sums over the estimation windows of ``v v'`` with ``v = (1, w_{t-P},
            ..., w_{t-1}, w_t)`` (a constant, the P lags oldest first, the target), per group.
        nobs: the target rows behind each group's moments.
    Returns:
        One :class:`CandidateGrid` per intercept choice (level coefficients, in-sample ``rss``).
    """
    parts = []
    # forward positions: 0 const, 1..P the lags P..1, P+1 the target -> lag order [const, lag1..lagP]
    reg = np.array([0] + list(range(P, 0, -1)))
    yy = mom[:, P + 1, P + 1]  # (G,) sum of squared targets
    for with_c in intercepts:
        idx = reg if with_c else reg[1:]
        gram = mom[:, idx][:, :, idx]
        rhs = mom[:, idx, P + 1]
        coefs, jit = _solve_nested(backend, gram, rhs)  # (G, K, K)
        off_c = 1 if with_c else 0
        ps = np.arange(p_min, P + 1)
        sol = coefs[:, ps - 1 + off_c, :]  # (G, n_p, K): row for order p
        rss = yy[:, None] - np.einsum("gpk,gk->gp", sol, rhs)  # OLS: y'y - g'beta, every order at once
        for g in np.nonzero(jit > 0)[0]:  # a ridge solution is not the OLS one: the full quadratic form
            rss[g] = yy[g] - 2.0 * sol[g] @ rhs[g] + np.einsum("pk,kl,pl->p", sol[g], gram[g], sol[g])
        rss = np.maximum(rss, 1e-13 * yy[:, None] + np.finfo(np.float64).tiny)  # a perfect fit: rounding floor
        phi = sol[..., off_c:]  # lags only, zero beyond p
        psi = difference_to_levels(phi, d)  # (G, n_p, P + d)
        c = sol[..., 0] if with_c else np.zeros(sol.shape[:2])
        G = psi.shape[0]
        parts.append(CandidateGrid(
            psi=psi.reshape(G * len(ps), -1), intercept=c.reshape(-1),
            p=np.tile(ps, G), d=np.full(G * len(ps), d), has_intercept=np.full(G * len(ps), with_c),
            group=np.repeat(np.arange(G), len(ps)), regularised=np.repeat(jit > 0, len(ps)),
            jitter=np.repeat(jit, len(ps)), rss=rss.reshape(-1), nobs=np.full(G * len(ps), nobs)))
    return parts


def bic(grid: CandidateGrid) -> np.ndarray:
    """In-sample BIC of every candidate: the conditional Gaussian likelihood of its one-step residuals.

    ``BIC = -2 llf + k log n`` with ``llf = -n/2 (log(2 pi) + log(RSS / n) + 1)`` (sigma^2 at its MLE
    ``RSS / n``), ``n`` = residuals (estimation rows, times the channels for a pooled model, which
    shares one sigma^2), ``k = p + const + 1`` (the AR coefficients, the intercept and sigma^2):
    statsmodels' ``AutoReg(...).fit().bic`` on the same sample. Candidates of different d are
    comparable: the targets are the same level rows for every candidate, and given the past levels
    the d-th difference of a row is the row minus a known quantity, so the likelihood of the
    differences is the likelihood of the levels (unit Jacobian). An RSS at the rounding floor of the
    closed form (``<= 1e-13 y'y``, a perfect fit) is held at that floor.
    """
    n = grid.nobs.astype(np.float64)
    k = grid.p + grid.has_intercept + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        llf = -0.5 * n * (np.log(2.0 * np.pi) + np.log(grid.rss / n) + 1.0)
        out = -2.0 * llf + k * np.log(n)
    return np.where(np.isfinite(out), out, np.inf)


@dataclass
class LagMoments:
    """Lag-ordered moments of a set of stride-1 windows, per group (float64 numpy).

    ``S (G, L+1, L+1)``, ``Sxy (G, L+1, H)``, ``syy (G, H)``; ``count``: windows per group (times the
    channels when pooled). ``alpha``/``beta`` ``(C, L-1)``: lags 1..L-1 of the window before the first
    and of the last window, per channel: ``S[i+1, j+1] = S[i, j] + sum_c (alpha_c,i alpha_c,j -
    beta_c,i beta_c,j)`` (the structure the numba backend's shift recursion uses).
    """

    S: np.ndarray
    Sxy: np.ndarray
    syy: np.ndarray
    count: int
    alpha: np.ndarray
    beta: np.ndarray

    def edges(self, group: int) -> tuple[np.ndarray, np.ndarray]:
        """The channels summed into group ``group``'s moments: all when pooled, else that channel."""
        if self.S.shape[0] == 1:
            return self.alpha, self.beta
        return self.alpha[group : group + 1], self.beta[group : group + 1]


def window_lag_moments(z: np.ndarray, start: int, count: int, lookback: int, horizon: int, pooled: bool,
                       backend: ARBackend) -> LagMoments:
    """Moments of the windows starting at ``start .. start+count-1`` (inputs L rows, then H targets).

    Only the rows those windows cover go to the backend; its ``window_moments`` streams over the
    windows (and sums the channels when pooled), so memory is ``O((L + H)^2)`` pooled, ``O(C (L + H)^2)``
    per channel, whatever ``count``.
    """
    L, H = lookback, horizon
    seg = np.ascontiguousarray(z[:, start : start + count + L + H - 1])
    mom = backend.to_numpy(backend.window_moments(backend.asarray(seg), L + H, 0, count, pooled=pooled))
    lag = np.array([0] + list(range(L, 0, -1)))  # const, lag1 (position L), ..., lag L (position 1)
    tgt = np.arange(L + 1, L + H + 1)
    S = np.ascontiguousarray(mom[:, lag][:, :, lag])
    Sxy = np.ascontiguousarray(mom[:, lag][:, :, tgt])
    syy = np.ascontiguousarray(mom[:, tgt, tgt])
    # window n's lag i is z[n + L - i]: the window before the first (n = -1 in seg) and the last one
    alpha = np.ascontiguousarray(seg[:, 0 : L - 1][:, ::-1])
    beta = np.ascontiguousarray(seg[:, count : count + L - 1][:, ::-1])
    return LagMoments(S, Sxy, syy, count * (z.shape[0] if pooled else 1), alpha, beta)


def score_grid(grid: CandidateGrid, mom: LagMoments, backend: ARBackend) -> np.ndarray:
    """Per-step MSE ``(B, H)`` float64 of every candidate on the windows behind ``mom`` (inf where not finite)."""
    out = np.empty((len(grid), mom.Sxy.shape[2]))
    A = backend.asarray
    for g in np.unique(grid.group):
        idx = np.nonzero(grid.group == g)[0]
        sub = grid.subset(idx)
        Q = int(sub.order.max())
        gm = 0 if mom.S.shape[0] == 1 else int(g)
        alpha, beta = mom.edges(int(g))
        res = backend.ar_grid_scores(
            A(sub.psi[:, :Q]), A(sub.intercept), A(mom.S[gm, : Q + 1, : Q + 1]), A(mom.Sxy[gm, : Q + 1]),
            A(mom.syy[gm]), mom.count, order=A(sub.order.astype(np.int64)),
            edges=(A(alpha[:, : max(Q - 1, 1)]), A(beta[:, : max(Q - 1, 1)])))
        out[idx] = backend.to_numpy(res)
    return np.where(np.isfinite(out), out, np.inf)
