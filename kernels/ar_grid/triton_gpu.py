"""Triton backend of the lag-grid AR solver (CUDA tensors, or the CPU under ``TRITON_INTERPRET=1``).

Same three ops and contracts as :mod:`.reference` / :mod:`.numba_cpu`, float64 throughout:

* ``window_moments``: a tiled Gram ``V' V`` of the unfolded windows ``v_n = [1, z[n], ..., z[n+W-1]]``.
  One program per (channel, row tile, column tile) streams the windows in blocks of ``BLOCK_N`` and
  accumulates ``tl.dot(A', B)``; the constant column is synthesised in registers (never stored).
* ``ar_forecast_weights``: one program per candidate runs the companion recursion ``r_h = r_{h-1} C``
  in O(Q) per step, ``(rC)_j = r_0 psi_j + r_{j+1}``.  Triton has no register shift, so step h reads
  row h-1 of the output back at offset +1 (after a ``tl.debug_barrier`` so the other threads' stores
  are visible on a GPU); ``r_0`` comes from registers with a masked reduction.
* ``ar_grid_scores``: ``M`` from the kernel above into a chunk buffer (kept under
  ``_M_BUFFER_BYTES``), then a second kernel on the grid ``(candidate, H block)`` computes
  ``diag(M' S M) - 2 diag(M' Sxy)`` tile by tile with ``tl.dot(S_tile, M_tile)``; loop bounds come
  from the candidate's order, so tiles beyond its leading ``q + 1`` rows are never touched.

Registered ops (``torch.library.triton_op`` with ``wrap_triton`` launches; fake implementations for
shape propagation; autograd by the vector-Jacobian product of a differentiable float64 torch formulation
of the same quantity, so gradients flow to the series and the coefficients):
``torch.ops.autofast.ar_window_moments``, ``ar_forecast_weights``, ``ar_grid_scores``. The functions
below with the backends' common signature convert inputs (float64, the kernels' device), derive default
orders on the device (no host read) and call them.

Block sizes are fixed from the problem shape in plain Python (no autotuning: it does not run under
the interpreter).  Every output is allocated with ``torch.empty`` (:func:`_empty`) and every element
is written by a kernel.

``nested_ols`` (cuSOLVER's batched Cholesky behind ``torch.linalg``) and ``forecast_error_sums``
(the test stage: one model's explicit forecasts, chunk by chunk of windows) are the torch reference
ops, run on the tensors' device.
"""
from __future__ import annotations


import torch
import triton
import triton.language as tl

from torch.library import triton_op, wrap_triton

from ..triton_launch import checked_device, device_for, opaque_under_interpreter
from ..triton_launch import pow2 as _pow2
from ..triton_launch import on_device as _on
from .reference import forecast_error_sums_ref, nested_ols, window_moments_ref

__all__ = ["window_moments", "ar_forecast_weights", "ar_grid_scores", "forecast_error_sums", "nested_ols"]

# Upper bound on the (chunk, Q + 1, H) float64 forecast-weight buffer of ar_grid_scores.
_M_BUFFER_BYTES = 512 * 1024 * 1024




# --------------------------------------------------------------------------------------------- kernels


@triton.jit
def _window_moments_kernel(
    z_ptr, out_ptr, stride_zc, W, start, count,
    BLOCK_P: tl.constexpr, BLOCK_N: tl.constexpr,
):
    """out[c, p, r] = sum_n v_n[p] v_n[r] with v_n[0] = 1, v_n[p] = z[c, start + n + p - 1]."""
    c = tl.program_id(0).to(tl.int64)
    offs_p = tl.program_id(1) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_r = tl.program_id(2) * BLOCK_P + tl.arange(0, BLOCK_P)
    zc = z_ptr + c * stride_zc + start - 1  # zc[n + p] = z[c, start + n + p - 1]
    lag_p = (offs_p >= 1) & (offs_p <= W)
    lag_r = (offs_r >= 1) & (offs_r <= W)
    acc = tl.zeros((BLOCK_P, BLOCK_P), dtype=tl.float64)
    for n0 in range(0, count, BLOCK_N):
        offs_n = n0 + tl.arange(0, BLOCK_N)
        n_ok = offs_n < count
        a = tl.load(zc + offs_n[:, None] + offs_p[None, :], mask=n_ok[:, None] & lag_p[None, :], other=0.0)
        a = tl.where(n_ok[:, None] & (offs_p == 0)[None, :], 1.0, a)  # (BLOCK_N, BLOCK_P)
        b = tl.load(zc + offs_n[:, None] + offs_r[None, :], mask=n_ok[:, None] & lag_r[None, :], other=0.0)
        b = tl.where(n_ok[:, None] & (offs_r == 0)[None, :], 1.0, b)  # (BLOCK_N, BLOCK_P)
        acc += tl.dot(tl.trans(a), b, out_dtype=tl.float64)
    W1 = W + 1
    out_c = out_ptr + c * W1 * W1
    tl.store(out_c + offs_p[:, None] * W1 + offs_r[None, :], acc, mask=(offs_p < W1)[:, None] & (offs_r < W1)[None, :])


@triton.jit
def _forecast_weights_kernel(
    psi_ptr, c_ptr, order_ptr, m_ptr, stride_psi, Q, H,
    BLOCK_Q: tl.constexpr,
):
    """M[b, :, :] for one candidate b: M[b, 1 + j, h] = r_{h+1}[j], M[b, 0, h] = c * sum_{k<=h} r_k[0]."""
    b = tl.program_id(0).to(tl.int64)
    q = tl.load(order_ptr + b)
    q = tl.minimum(tl.maximum(q, 0), Q)
    offs = tl.arange(0, BLOCK_Q)
    psi = tl.load(psi_ptr + b * stride_psi + offs, mask=offs < q, other=0.0)
    c = tl.load(c_ptr + b)
    m_b = m_ptr + b * (Q + 1) * H
    r = tl.where(offs == 0, 1.0, 0.0).to(tl.float64)  # r_0 = e_1
    bsum = tl.sum(r * 0.0, axis=0)  # float64 zero scalar
    for h in range(H):
        r0 = tl.sum(tl.where(offs == 0, r, 0.0), axis=0)
        bsum += r0
        # r_{h}[j + 1] was stored as row 2 + j of column h - 1 (r_0 = e_1 shifts to zero).
        shifted = tl.load(m_b + (2 + offs) * H + (h - 1), mask=(offs + 1 < q) & (h > 0), other=0.0)
        r = r0 * psi + shifted  # zero for j >= q
        tl.store(m_b + (1 + offs) * H + h, r, mask=offs < Q)
        tl.store(m_b + h, c * bsum)
        tl.debug_barrier()  # make row h visible to every thread before step h + 1 reads it


@triton.jit
def _grid_scores_kernel(
    m_ptr, s_ptr, sxy_ptr, syy_ptr, order_ptr, out_ptr,
    stride_s, stride_sxy, Q, H,
    BLOCK_I: tl.constexpr, BLOCK_H: tl.constexpr,
):
    """out[b, h] = sum_{i,j<=q} M[i,h] S[i,j] M[j,h] - 2 sum_{i<=q} M[i,h] Sxy[i,h] + syy[h] (times count)."""
    b = tl.program_id(0).to(tl.int64)
    offs_h = tl.program_id(1) * BLOCK_H + tl.arange(0, BLOCK_H)
    h_ok = offs_h < H
    q = tl.load(order_ptr + b)
    n = tl.minimum(tl.maximum(q, 0), Q) + 1  # rows of the candidate's leading block
    m_b = m_ptr + b * (Q + 1) * H
    total = tl.zeros((BLOCK_H,), dtype=tl.float64)
    for i0 in range(0, n, BLOCK_I):
        offs_i = i0 + tl.arange(0, BLOCK_I)
        i_ok = offs_i < n
        acc = tl.zeros((BLOCK_I, BLOCK_H), dtype=tl.float64)
        for j0 in range(0, n, BLOCK_I):
            offs_j = j0 + tl.arange(0, BLOCK_I)
            j_ok = offs_j < n
            s_tile = tl.load(s_ptr + offs_i[:, None] * stride_s + offs_j[None, :], mask=i_ok[:, None] & j_ok[None, :], other=0.0)
            m_tile = tl.load(m_b + offs_j[:, None] * H + offs_h[None, :], mask=j_ok[:, None] & h_ok[None, :], other=0.0)
            acc += tl.dot(s_tile, m_tile, out_dtype=tl.float64)
        ih_ok = i_ok[:, None] & h_ok[None, :]
        m_i = tl.load(m_b + offs_i[:, None] * H + offs_h[None, :], mask=ih_ok, other=0.0)
        sxy_i = tl.load(sxy_ptr + offs_i[:, None] * stride_sxy + offs_h[None, :], mask=ih_ok, other=0.0)
        total += tl.sum(m_i * (acc - 2.0 * sxy_i), axis=0)
    syy = tl.load(syy_ptr + offs_h, mask=h_ok, other=0.0)
    tl.store(out_ptr + b * H + offs_h, total + syy, mask=h_ok)


# --------------------------------------------------------------------------------------------- helpers


def _empty(*shape: int, device: torch.device) -> torch.Tensor:
    """Uninitialised float64 buffer (tests replace this to poison outputs with NaN)."""
    return torch.empty(shape, dtype=torch.float64, device=device)


def _device_for(t: torch.Tensor) -> torch.device:
    return device_for(t, "AR")


def _f64(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    return t.to(device=device, dtype=torch.float64).contiguous()


def _orders(psi: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
    """(B,) int32 orders: ``order`` if given, else the position of the last non-zero psi (1 if none)."""
    if order is not None:
        return order.detach().to(device=psi.device, dtype=torch.int32).reshape(-1).contiguous()
    B, Q = psi.shape
    if Q == 0:
        return torch.zeros(B, dtype=torch.int32, device=psi.device)
    lags = torch.arange(1, Q + 1, device=psi.device, dtype=torch.int32)
    last = torch.where(psi != 0, lags, torch.zeros_like(lags)).amax(dim=1)
    return last.clamp_min(1).to(torch.int32).contiguous()


def _launch_forecast_weights(psi: torch.Tensor, intercept: torch.Tensor, q: torch.Tensor, M: torch.Tensor) -> None:
    B, Q = psi.shape
    H = M.shape[2]
    if B == 0 or H == 0:
        return
    wrap_triton(_forecast_weights_kernel)[(B,)](
        psi, intercept, q, M, psi.stride(0), Q, H,
        BLOCK_Q=_pow2(Q, 16, 1 << 16), num_warps=1 if Q <= 64 else 4,
    )


# --------------------------------------------------------------------------------------------- registered ops


@triton_op("autofast::ar_window_moments", mutates_args=())
def window_moments_op(z: torch.Tensor, width: int, start: int, count: int) -> torch.Tensor:
    """``(C, T)`` float64 -> ``(C, W + 1, W + 1)`` float64 window moments (see :func:`window_moments`)."""
    dev = checked_device(z, "AR")
    C = z.shape[0]
    out = _empty(C, width + 1, width + 1, device=dev)
    if C > 0:
        block_p = 16 if width + 1 <= 16 else 32
        grid = (C, triton.cdiv(width + 1, block_p), triton.cdiv(width + 1, block_p))
        with _on(dev):
            wrap_triton(_window_moments_kernel)[grid](z, out, z.stride(0), width, start, count,
                                                      BLOCK_P=block_p, BLOCK_N=32, num_warps=4)
    return out


@window_moments_op.register_fake
def _(z, width, start, count):
    return z.new_empty(z.shape[0], width + 1, width + 1, dtype=torch.float64)


@triton_op("autofast::ar_forecast_weights", mutates_args=())
def forecast_weights_op(psi: torch.Tensor, intercept: torch.Tensor, horizon: int, order: torch.Tensor) -> torch.Tensor:
    """``psi (B, Q)``, ``intercept (B,)`` float64, ``order (B,)`` int32 -> ``M (B, Q + 1, H)`` float64."""
    dev = checked_device(psi, "AR")
    B, Q = psi.shape
    M = _empty(B, Q + 1, horizon, device=dev)
    with _on(dev):
        _launch_forecast_weights(psi, intercept, order, M)
    return M


@forecast_weights_op.register_fake
def _(psi, intercept, horizon, order):
    return psi.new_empty(psi.shape[0], psi.shape[1] + 1, horizon, dtype=torch.float64)


@triton_op("autofast::ar_grid_scores", mutates_args=())
def grid_scores_op(psi: torch.Tensor, intercept: torch.Tensor, S: torch.Tensor, Sxy: torch.Tensor,
                   syy: torch.Tensor, count: int, order: torch.Tensor) -> torch.Tensor:
    """Per-step validation MSE ``(B, H)`` float64 of every candidate (see :func:`ar_grid_scores`)."""
    dev = checked_device(psi, "AR")
    B, Q = psi.shape
    H = Sxy.shape[1]
    out = _empty(B, H, device=dev)
    if B > 0 and H > 0:
        chunk = max(1, min(B, _M_BUFFER_BYTES // ((Q + 1) * H * 8)))
        M = _empty(chunk, Q + 1, H, device=dev)
        block_h = _pow2(H, 16, 32)
        block_i = _pow2(Q + 1, 16, 32)
        with _on(dev):
            for b0 in range(0, B, chunk):
                b1 = min(B, b0 + chunk)
                Mc = M[: b1 - b0]
                _launch_forecast_weights(psi[b0:b1], intercept[b0:b1], order[b0:b1], Mc)
                wrap_triton(_grid_scores_kernel)[(b1 - b0, triton.cdiv(H, block_h))](
                    Mc, S, Sxy, syy, order[b0:b1], out[b0:b1],
                    S.stride(0), Sxy.stride(0), Q, H,
                    BLOCK_I=block_i, BLOCK_H=block_h, num_warps=4,
                )
        out = out / count  # exactly the reference's division (a Python float would be fp32 in-kernel)
    return out


@grid_scores_op.register_fake
def _(psi, intercept, S, Sxy, syy, count, order):
    return psi.new_empty(psi.shape[0], Sxy.shape[1], dtype=torch.float64)


opaque_under_interpreter(window_moments_op, forecast_weights_op, grid_scores_op)


# --------------------------------------------------------------------------------------------- autograd


def forecast_weights_torch(psi: torch.Tensor, intercept: torch.Tensor, horizon: int, order: torch.Tensor) -> torch.Tensor:
    """The kernel's companion recursion in differentiable torch, batched: ``r_0 = e_1``,
    ``r_h = r_{h-1}[0] psi + shift(r_{h-1})`` with ``psi`` masked beyond each order;
    ``M[:, 1:, h] = r_{h+1}``, ``M[:, 0, h] = c sum_{k <= h} r_k[0]``. ``(B, Q + 1, H)``."""
    B, Q = psi.shape
    if Q == 0:
        return intercept[:, None, None].expand(B, 1, horizon).clone()
    p = psi * (torch.arange(Q, device=psi.device)[None, :] < order[:, None].clamp(0, Q))
    r = torch.zeros_like(p).index_fill(1, torch.zeros(1, dtype=torch.long, device=psi.device), 1.0)
    bsum = torch.zeros_like(intercept)
    consts, rows = [], []
    for _ in range(horizon):
        r0 = r[:, 0]
        bsum = bsum + r0
        r = r0[:, None] * p + torch.cat([r[:, 1:], torch.zeros_like(r[:, :1])], dim=1)
        rows.append(r)
        consts.append(intercept * bsum)
    return torch.cat([torch.stack(consts, 1)[:, None, :], torch.stack(rows, 2)], dim=1)


def grid_scores_torch(psi, intercept, S, Sxy, syy, count: int, order) -> torch.Tensor:
    """``diag(M' S M) - 2 diag(M' Sxy) + syy`` over ``count`` in differentiable torch. ``(B, H)``."""
    Q = psi.shape[1]
    M = forecast_weights_torch(psi, intercept, Sxy.shape[1], order)
    quad = torch.einsum("bih,ij,bjh->bh", M, S[: Q + 1, : Q + 1], M)
    return (quad - 2.0 * torch.einsum("bih,ih->bh", M, Sxy[: Q + 1]) + syy) / count


def _moments_torch(z, width: int, start: int, count: int) -> torch.Tensor:
    if count == 0:
        return z.new_zeros(z.shape[0], width + 1, width + 1) * z.sum()
    return window_moments_ref(z, width, start, count)


def _vjp_rule(op, formula, tensor_args: tuple[int, ...]):
    """Register ``op``'s autograd as the vector-Jacobian product of ``formula`` (same arguments) in the
    positions ``tensor_args`` (the differentiable float inputs)."""

    def setup(ctx, inputs, output):
        ctx.inputs = inputs
        ctx.save_for_backward(*(inputs[i] for i in tensor_args))

    def backward(ctx, grad):
        saved = ctx.saved_tensors
        args = list(ctx.inputs)

        def f(*ts):
            for i, t in zip(tensor_args, ts):
                args[i] = t
            return formula(*args)

        _, vjp = torch.func.vjp(f, *saved)
        grads = dict(zip(tensor_args, vjp(grad)))
        return tuple(grads.get(i) if ctx.needs_input_grad[i] else None for i in range(len(args)))

    op.register_autograd(backward, setup_context=setup)


_vjp_rule(window_moments_op, _moments_torch, (0,))
_vjp_rule(forecast_weights_op, forecast_weights_torch, (0, 1))
_vjp_rule(grid_scores_op, grid_scores_torch, (0, 1, 2, 3, 4))


# --------------------------------------------------------------------------------------------- backend functions


def window_moments(z: torch.Tensor, width: int, start: int, count: int, pooled: bool = False) -> torch.Tensor:
    """Second moments of stride-1 windows; same contract as :func:`reference.window_moments_ref`.

    Args:
        z: ``(C, T)`` series (any float dtype, any device; computed in float64).
        width: window length W.
        start, count: windows start at ``n = start, ..., start + count - 1`` and cover
            ``z[:, n : n + W]``; requires ``start + count - 1 + W <= T``.
        pooled: sum over the channels (output ``(1, W + 1, W + 1)``).
    Returns:
        ``(C, W + 1, W + 1)`` float64 on ``z``'s device: ``sum_n v_n v_n'`` with
        ``v_n = [1, z[n], ..., z[n + W - 1]]`` (forward time order).
    """
    width, start, count = int(width), int(start), int(count)
    if z.dim() != 2:
        raise ValueError(f"z must be (C, T), got shape {tuple(z.shape)}")
    if width < 0 or start < 0 or count < 0 or (count > 0 and start + count - 1 + width > z.shape[1]):
        raise ValueError(f"windows [{start}, {start + count - 1} + {width}) do not fit a series of length {z.shape[1]}")
    out = window_moments_op(_f64(z, _device_for(z)), width, start, count)
    if pooled:
        out = out.sum(0, keepdim=True)
    return out.to(z.device)


def ar_forecast_weights(
    psi: torch.Tensor, intercept: torch.Tensor, horizon: int, order: torch.Tensor | None = None
) -> torch.Tensor:
    """Recursive H-step forecast weights; same contract as :func:`reference.ar_forecast_weights_ref`.

    Args:
        psi: ``(B, Q)`` raw-level AR coefficients in lag order (computed in float64).
        intercept: ``(B,)`` constants ``c``.
        horizon: H >= 1.
        order: optional ``(B,)`` integer orders q; only ``psi[b, :q]`` is used. Default: the position
            of the last non-zero coefficient (1 for an all-zero row).
    Returns:
        ``(B, Q + 1, H)`` float64 on ``psi``'s device (rows beyond ``q + 1`` are zero).
    """
    dev = _device_for(psi)
    p = _f64(psi, dev)
    q = _orders(p, None if order is None else order.to(dev))
    return forecast_weights_op(p, _f64(intercept, dev).reshape(-1), int(horizon), q).to(psi.device)


def ar_grid_scores(
    psi: torch.Tensor,
    intercept: torch.Tensor,
    S: torch.Tensor,
    Sxy: torch.Tensor,
    syy: torch.Tensor,
    count: int,
    order: torch.Tensor | None = None,
    edges=None,
) -> torch.Tensor:
    """Per-step validation MSE of every candidate; same contract as :func:`reference.ar_grid_scores_ref`.

    Args:
        psi: ``(B, Q)`` raw-level AR coefficients (lag order), Q <= L.
        intercept: ``(B,)``.
        S: ``(L + 1, L + 1)`` lag-ordered window moments; Sxy: ``(L + 1, H)``; syy: ``(H,)``.
        count: number of windows N.
        order: optional ``(B,)`` integer orders q (leading ``q + 1`` rows of M, S, Sxy are used);
            default: derived from the last non-zero of each psi row.
        edges: accepted for the common signature (the numba backend's shift-recursion hint); unused.
    Returns:
        ``(B, H)`` float64 on ``psi``'s device.
    """
    dev = _device_for(psi)
    p = _f64(psi, dev)
    Sd, Sxyd, syyd = _f64(S, dev), _f64(Sxy, dev), _f64(syy, dev).reshape(-1)
    if p.shape[1] + 1 > Sd.shape[0] or p.shape[1] + 1 > Sxyd.shape[0]:
        raise ValueError(f"psi has Q={p.shape[1]} lags but S/Sxy only cover L={min(Sd.shape[0], Sxyd.shape[0]) - 1}")
    q = _orders(p, None if order is None else order.to(dev))
    return grid_scores_op(p, _f64(intercept, dev).reshape(-1), Sd, Sxyd, syyd, int(count), q).to(psi.device)


def forecast_error_sums(z, psi, intercept, start, count, lookback, horizon, order=None, chunk: int = 4096) -> torch.Tensor:
    """The test stage's error sums ``(C, 2, H)``: :func:`reference.forecast_error_sums_ref` on z's device."""
    return forecast_error_sums_ref(z, psi, intercept, start, count, lookback, horizon, chunk)
