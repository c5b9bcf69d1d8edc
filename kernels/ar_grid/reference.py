"""Plain float64 torch reference for the batched lag-grid AR solver.

Conventions shared by every backend (reference, numba, triton):

* A *lag-ordered* vector for a window ending at time T is ``[1, y_T, y_{T-1}, ..., y_{T-Q+1}]``:
  the constant first, then lag 1 (most recent value), lag 2, ...  A candidate of order q uses the
  leading ``q + 1`` entries, so every nested order is a leading block.
* A candidate forecaster is a *raw-level* AR recursion ``y_t = c + sum_j psi_j y_{t-j}`` (an AR(p)
  on the d-times differenced series is an AR(p + d) on the levels; see ``difference_to_levels``).
  Its H-step recursive forecast is affine in the lag-ordered window: ``yhat_h = M[:, h] . v`` with
  ``M`` of shape ``(Q + 1, H)`` (row 0 holds the constant's weight).
* Validation error of any such forecaster needs only window moments:
  ``sum_n (M[:, h] . v_n - y_{n,h})^2 = M_h' S M_h - 2 M_h' s_h + syy_h``.
"""
from __future__ import annotations

import torch

__all__ = [
    "check_windows",
    "window_moments_ref",
    "ar_forecast_weights_ref",
    "ar_grid_scores_ref",
    "difference_to_levels",
    "nested_ols",
    "forecast_error_sums_ref",
]


def check_windows(z: torch.Tensor, width: int, start: int, count: int) -> None:
    """The numba backend's check: ``z`` is ``(C, T)`` and windows ``start .. start + count - 1`` of
    length ``width`` lie inside it (``start, count >= 0``, ``width >= 1``)."""
    if z.dim() != 2:
        raise ValueError(f"z must be (C, T), got shape {tuple(z.shape)}")
    if width < 1 or start < 0 or count < 0 or (count > 0 and start + count - 1 + width > z.shape[1]):
        raise ValueError(f"windows [{start}, {start + count - 1} + {width}) do not fit a series of length {z.shape[1]}")


def window_moments_ref(z: torch.Tensor, width: int, start: int, count: int) -> torch.Tensor:
    """Second moments of stride-1 windows, by explicit unfolding (the slow, obvious way).

    Args:
        z: ``(C, T)`` float64 series.
        width: window length W.
        start, count: windows start at ``n = start, ..., start + count - 1`` and cover
            ``z[:, n : n + W]``; requires ``start + count - 1 + W <= T``.
    Returns:
        ``(C, W + 1, W + 1)`` float64: ``sum_n v_n v_n'`` with ``v_n = [1, z[n], ..., z[n + W - 1]]``
        (forward time order; callers reorder to lag order).
    """
    check_windows(z, width, start, count)
    z = z.to(torch.float64)
    win = z[:, start : start + count + width - 1].unfold(1, width, 1)  # (C, count, W)
    ones = torch.ones(win.shape[:2] + (1,), dtype=win.dtype, device=win.device)
    v = torch.cat([ones, win], dim=2)
    return torch.einsum("cni,cnj->cij", v, v)


def ar_forecast_weights_ref(psi: torch.Tensor, intercept: torch.Tensor, horizon: int) -> torch.Tensor:
    """Recursive H-step forecast weights of raw-level AR recursions.

    Args:
        psi: ``(B, Q)`` float64; ``psi[b, j]`` multiplies lag ``j + 1`` (zero beyond the order).
        intercept: ``(B,)`` float64 constant ``c``.
        horizon: H >= 1.
    Returns:
        ``(B, Q + 1, H)`` float64 ``M`` with ``yhat_{T+h} = M[b, 0, h-1] + sum_j M[b, j+1, h-1] y_{T-j}``.
    """
    psi = psi.to(torch.float64)
    B, Q = psi.shape
    out = torch.zeros(B, Q + 1, horizon, dtype=torch.float64, device=psi.device)
    for b in range(B):
        # Simulate the recursion on symbolic inputs: each state entry is an affine form
        # (constant coefficient, Q lag coefficients) of the observed window.
        state = [torch.zeros(Q + 1, dtype=torch.float64, device=psi.device) for _ in range(Q)]
        for j in range(Q):
            state[j][j + 1] = 1.0  # state[j] is y_{T-j}
        for h in range(horizon):
            new = torch.zeros(Q + 1, dtype=torch.float64, device=psi.device)
            new[0] = intercept[b]
            for j in range(Q):
                new = new + psi[b, j] * state[j]
            out[b, :, h] = new
            state = [new] + state[:-1]
    return out


def ar_grid_scores_ref(
    psi: torch.Tensor,
    intercept: torch.Tensor,
    S: torch.Tensor,
    Sxy: torch.Tensor,
    syy: torch.Tensor,
    count: int,
) -> torch.Tensor:
    """Per-step validation MSE of every candidate from window moments.

    Args:
        psi: ``(B, Q)`` float64 raw-level AR coefficients (lag order), Q <= L.
        intercept: ``(B,)`` float64.
        S: ``(L + 1, L + 1)`` lag-ordered moments ``sum_n v_n v_n'`` of the input windows.
        Sxy: ``(L + 1, H)`` ``sum_n v_n y_{n,h}``.
        syy: ``(H,)`` ``sum_n y_{n,h}^2``.
        count: number of windows N.
    Returns:
        ``(B, H)`` float64 mean squared error of step h over the N windows.
    """
    H = Sxy.shape[1]
    Q = psi.shape[1]
    M = ar_forecast_weights_ref(psi, intercept, H)  # (B, Q+1, H)
    S_q = S[: Q + 1, : Q + 1].to(torch.float64)
    Sxy_q = Sxy[: Q + 1].to(torch.float64)
    quad = torch.einsum("bih,ij,bjh->bh", M, S_q, M)
    cross = torch.einsum("bih,ih->bh", M, Sxy_q)
    return (quad - 2.0 * cross + syy.to(torch.float64)) / count


def forecast_error_sums_ref(
    z: torch.Tensor,
    psi: torch.Tensor,
    intercept: torch.Tensor,
    start: int,
    count: int,
    lookback: int,
    horizon: int,
    chunk: int = 4096,
) -> torch.Tensor:
    """Recursive-forecast errors of one model per channel, the obvious way, chunk by chunk of windows.

    Every window is forecast explicitly (the recursion vectorised over the windows of a chunk), so
    memory is O(chunk x (Q + H)) per channel.

    Args:
        z: ``(C, T)`` float64 series; window n (``start <= n < start + count``) has inputs
            ``z[:, n : n + lookback]`` and targets ``z[:, n + lookback : n + lookback + horizon]``.
        psi: ``(C, Q)`` level AR coefficients of channel c's model (lag order), Q <= lookback.
        intercept: ``(C,)``.
    Returns:
        ``(C, 2, H)`` float64: per channel and step, the sum over windows of the squared error and of
        the absolute error.
    """
    z = z.to(torch.float64)
    psi = psi.to(device=z.device, dtype=torch.float64)
    intercept = intercept.to(device=z.device, dtype=torch.float64).reshape(-1)
    C, Q = psi.shape
    H, L = int(horizon), int(lookback)
    out = torch.zeros(C, 2, H, dtype=torch.float64, device=z.device)
    coef = psi.flip(1)  # forward time order: multiplies hist[..., -Q:]
    for n0 in range(int(start), int(start) + int(count), int(chunk)):
        n1 = min(int(start) + int(count), n0 + int(chunk))
        win = z[:, n0 : n1 + L + H - 1].unfold(1, L + H, 1)  # (C, n, L + H), a view
        hist = win[:, :, L - Q : L].clone()
        preds = []
        for _ in range(H):
            nxt = intercept[:, None] + torch.einsum("cnq,cq->cn", hist[:, :, hist.shape[2] - Q :], coef)
            preds.append(nxt)
            hist = torch.cat([hist, nxt[:, :, None]], dim=2)
        err = torch.stack(preds, dim=2) - win[:, :, L:]
        out[:, 0] += (err**2).sum(1)
        out[:, 1] += err.abs().sum(1)
    return out


def difference_to_levels(phi: torch.Tensor, d: int) -> torch.Tensor:
    """Turn AR coefficients of the d-times differenced series into level coefficients.

    ``(1 - sum_i phi_i B^i)(1 - B)^d = 1 - sum_j psi_j B^j``.

    Args:
        phi: ``(..., p)`` float64.
    Returns:
        ``(..., p + d)`` float64 ``psi``.
    """
    poly = torch.cat([torch.ones_like(phi[..., :1]), -phi], dim=-1)  # 1 - sum phi_i B^i
    for _ in range(d):
        shifted = torch.cat([torch.zeros_like(poly[..., :1]), poly], dim=-1)
        poly = torch.cat([poly, torch.zeros_like(poly[..., :1])], dim=-1) - shifted
    return -poly[..., 1:]


def nested_ols(gram: torch.Tensor, rhs: torch.Tensor, jitter: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares coefficients of EVERY leading-block order from one Cholesky factorisation.

    With ``G = L L'`` the leading k x k block of L factors the leading block of G, so with
    ``u = L^{-1} g`` the order-k solution is ``beta_k = (L_k^{-1})' u_k`` whose entry i is
    ``sum_{j=i}^{k-1} Linv[j, i] u[j]``: a cumulative sum over j of ``Linv * u``.

    Args:
        gram: ``(G, K, K)`` float64 symmetric positive (semi)definite Gram matrices.
        rhs: ``(G, K)`` float64 right-hand sides ``X'y``.
        jitter: ridge added as ``jitter * mean(diag)`` to the diagonal (0 = plain OLS).
    Returns:
        coefs: ``(G, K, K)``; ``coefs[g, k - 1, :k]`` solves the order-k system (zero beyond k).
        ok: ``(G,)`` bool, False where the factorisation failed (caller retries with jitter).
    """
    gram = gram.to(torch.float64)
    K = gram.shape[-1]
    if jitter > 0:
        scale = gram.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-300)
        gram = gram + jitter * scale[:, None, None] * torch.eye(K, dtype=gram.dtype, device=gram.device)
    L, info = torch.linalg.cholesky_ex(gram)
    ok = info == 0
    L = torch.where(ok[:, None, None], L, torch.eye(K, dtype=L.dtype, device=L.device).expand_as(L))
    eye = torch.eye(K, dtype=L.dtype, device=L.device).expand_as(L)
    Linv = torch.linalg.solve_triangular(L, eye, upper=False)
    u = torch.einsum("gjk,gk->gj", Linv, rhs.to(torch.float64))
    coefs = torch.cumsum(Linv * u[:, :, None], dim=1)  # [g, k-1, i] = sum_{j<=k-1} Linv[j,i] u[j]
    return torch.tril(coefs), ok
