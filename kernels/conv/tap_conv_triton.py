"""Triton kernels of the tap convolution (CUDA tensors, or the CPU under ``TRITON_INTERPRET=1``).

Same contract as :mod:`.reference` ('same' padding, stride 1, zero outside)::

    y[b, o, p] = sum_u sum_i w[o, i, u] * x[b, g(o) * Cin_g + i, p + offsets[u]]

for ``ndim`` 1 and 2.  A 1-D problem runs as a 2-D one with a single row (offsets ``(0, d)``), and the
spatial dims are flattened: ``p = h * W + w``, the shifted read of tap ``(dh, dw)`` is
``p + dh * W + dw`` under the mask ``0 <= h + dh < H and 0 <= w + dw < W``, so every load is a
contiguous run along W (coalesced) with masked edges.  Taps that cannot touch the input
(:func:`.taps.live_slots`, from the shapes alone) are dropped; the rest travel as an int32
``(U_live, 2)`` device table the kernels loop over, built once per (tap set, size, device): a call
uploads nothing and reads nothing back (no host synchronisation).

Registered as ``torch.ops.autofast.tap_conv_triton`` and ``tap_conv_wgrad_triton``
(``torch.library.triton_op`` with ``wrap_triton`` launches, so ``torch.compile`` sees the kernels;
fake implementations, autograd and autocast rules from :mod:`.op_rules`).

* forward, depthwise (``groups == Cin == Cout``): one program per (b * c, spatial block)
  loops over the taps, ``acc += w[c, u] * x[b, c, p + off_u]`` with masked loads.
* forward, dense/grouped: an implicit GEMM; one program per (b * group, Cout block, spatial
  block) runs a single flattened loop over (tap, Cin block) -- one loop so Triton can software-
  pipeline it even when Cin fits one block -- with ``acc += tl.dot(W_u[Cout_blk, Cin_blk],
  X_shifted[Cin_blk, P_blk])``.  Weights are re-laid out on the host as ``(U_live, Cout, Cin_g)`` so
  the weight tile is contiguous along Cin.
* weight gradient: deterministic split reduction, no atomics.  The reduction over ``(b, p)`` is cut
  into ``n_split`` contiguous ranges of (batch, spatial block) chunks; one program per (tap, channel
  block(s), split) writes its partial sum to a ``(n_split, U_live, ...)`` buffer that the host
  reduces with ``torch.sum`` (Liger-Kernel's short-conv weight-grad pattern).  Depthwise programs
  accumulate ``g * x_shifted`` elementwise over a (C block, P block) tile; dense ones
  ``tl.dot(G[Cout_blk, P_blk], X_shifted[P_blk, Cin_blk])``.  Dead taps get exact zeros.
* input gradient (``tap_conv_dgrad``): the tap convolution of ``grad_out`` with negated offsets and group-transposed
  weights (a convenience wrapper of ``tap_conv_fwd``).

Accumulation is float32 for fp16 / bf16 / fp32 inputs and float64 for fp64.  fp32 ``tl.dot`` runs with
``FP32_DOT_PRECISION`` (default ``"ieee"``: true fp32 products, which Triton lowers to CUDA-core FMAs
rather than tensor cores; ``"tf32x3"`` keeps ~fp32 accuracy on tensor cores, ``"tf32"`` is fastest at
~1e-3 relative error).  The setting does not affect fp16 / bf16 / fp64.
Block sizes are fixed from the problem shape in plain Python (no autotuning: it does not run under
the interpreter).  Every output and partial-sum buffer is allocated with :func:`_empty` and every
element of it is written.  ``tap_conv_fwd`` / ``tap_conv_wgrad`` / ``tap_conv_dgrad`` are helpers that
take the offsets as a tensor or a tap tuple.
"""
from __future__ import annotations


import torch
import triton
import triton.language as tl

from torch.library import triton_op, wrap_triton

from ..triton_launch import checked_device, device_for, opaque_under_interpreter
from ..triton_launch import pow2 as _pow2
from ..triton_launch import on_device as _on

from .op_rules import register_rules, transpose_groups
from .tap_conv import check_tap_args, check_wgrad_args
from .taps import Taps, as_taps, device_index, flat_taps, live_slots, negate, unflat_taps

__all__ = ["tap_conv_triton_op", "tap_conv_wgrad_triton_op", "tap_conv_fwd", "tap_conv_wgrad", "tap_conv_dgrad"]

# input_precision of fp32 tl.dot: "ieee" (exact fp32 products), "tf32x3" or "tf32" (tensor cores).
FP32_DOT_PRECISION = "ieee"

# Target number of programs of a wgrad launch (enough to fill an H100's 132 SMs a few times over).
_WGRAD_TARGET_PROGRAMS = 1024




# --------------------------------------------------------------------------------------------- kernels


@triton.jit
def _dw_fwd_kernel(
    x_ptr, w_ptr, off_ptr, y_ptr, C, H, W, U,
    IS_F64: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """y[b, c, p] = sum_u w[c, u] * x[b, c, p + off_u]; grid (B * C, cdiv(H * W, BLOCK_P))."""
    bc = tl.program_id(0).to(tl.int64)
    c = bc % C
    P = H * W
    offs_p = tl.program_id(1) * BLOCK_P + tl.arange(0, BLOCK_P)
    p_ok = offs_p < P
    h = offs_p // W
    w = offs_p % W
    xb = x_ptr + bc * P
    wc = w_ptr + c * U
    if IS_F64:
        acc = tl.zeros((BLOCK_P,), dtype=tl.float64)
    else:
        acc = tl.zeros((BLOCK_P,), dtype=tl.float32)
    for u in range(U):
        dh = tl.load(off_ptr + 2 * u)
        dw = tl.load(off_ptr + 2 * u + 1)
        hh = h + dh
        ww = w + dw
        ok = p_ok & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
        xv = tl.load(xb + offs_p + (dh * W + dw), mask=ok, other=0.0)
        wv = tl.load(wc + u)
        acc += wv.to(acc.dtype) * xv.to(acc.dtype)
    tl.store(y_ptr + bc * P + offs_p, acc.to(y_ptr.dtype.element_ty), mask=p_ok)


@triton.jit
def _dense_fwd_kernel(
    x_ptr, w_ptr, off_ptr, y_ptr, G, CIN_G, COUT_G, H, W, U,
    IS_F64: tl.constexpr, DOT_PREC: tl.constexpr,
    BLOCK_O: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """Implicit GEMM.  x (B, G * CIN_G, P), w (U, G * COUT_G, CIN_G), y (B, G * COUT_G, P);
    grid (B * G, cdiv(COUT_G, BLOCK_O), cdiv(P, BLOCK_P))."""
    bg = tl.program_id(0).to(tl.int64)
    g = bg % G
    b = bg // G
    P = H * W
    COUT = G * COUT_G
    offs_o = tl.program_id(1) * BLOCK_O + tl.arange(0, BLOCK_O)
    offs_p = tl.program_id(2) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_i = tl.arange(0, BLOCK_I)
    o_ok = offs_o < COUT_G
    p_ok = offs_p < P
    h = offs_p // W
    w = offs_p % W
    xg = x_ptr + (b * G + g) * CIN_G * P  # x[b, g * CIN_G + i, p] = xg[i * P + p]
    wg = w_ptr + (g * COUT_G + offs_o[:, None]) * CIN_G  # w[u, g * COUT_G + o, i] = wg[u * COUT * CIN_G + i]
    if IS_F64:
        acc = tl.zeros((BLOCK_O, BLOCK_P), dtype=tl.float64)
    else:
        acc = tl.zeros((BLOCK_O, BLOCK_P), dtype=tl.float32)
    n_i = tl.cdiv(CIN_G, BLOCK_I)
    for t in range(U * n_i):
        u = t // n_i
        i0 = (t % n_i) * BLOCK_I
        dh = tl.load(off_ptr + 2 * u)
        dw = tl.load(off_ptr + 2 * u + 1)
        hh = h + dh
        ww = w + dw
        sp_ok = p_ok & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
        i_ok = (i0 + offs_i) < CIN_G
        w_tile = tl.load(
            wg + u.to(tl.int64) * COUT * CIN_G + (i0 + offs_i)[None, :],
            mask=o_ok[:, None] & i_ok[None, :], other=0.0,
        )  # (BLOCK_O, BLOCK_I)
        x_tile = tl.load(
            xg + (i0 + offs_i)[:, None].to(tl.int64) * P + (offs_p + (dh * W + dw))[None, :],
            mask=i_ok[:, None] & sp_ok[None, :], other=0.0,
        )  # (BLOCK_I, BLOCK_P)
        acc = tl.dot(w_tile, x_tile, acc, input_precision=DOT_PREC, out_dtype=acc.dtype)
    yb = y_ptr + (b * COUT + g * COUT_G) * P
    tl.store(
        yb + offs_o[:, None].to(tl.int64) * P + offs_p[None, :],
        acc.to(y_ptr.dtype.element_ty), mask=o_ok[:, None] & p_ok[None, :],
    )


@triton.jit
def _dw_wgrad_kernel(
    x_ptr, g_ptr, off_ptr, part_ptr, C, H, W, U, n_pb, n_chunks, per_split,
    IS_F64: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """part[s, u, c] = sum over chunks k in split s of sum_p g[b, c, p] x[b, c, p + off_u], with chunk
    k = (b, spatial block) = (k // n_pb, k % n_pb); grid (U, cdiv(C, BLOCK_C), n_split)."""
    u = tl.program_id(0)
    offs_c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    s = tl.program_id(2)
    c_ok = offs_c < C
    P = H * W
    dh = tl.load(off_ptr + 2 * u)
    dw = tl.load(off_ptr + 2 * u + 1)
    shift = dh * W + dw
    if IS_F64:
        acc = tl.zeros((BLOCK_C, BLOCK_P), dtype=tl.float64)
    else:
        acc = tl.zeros((BLOCK_C, BLOCK_P), dtype=tl.float32)
    k0 = s * per_split
    k1 = tl.minimum(k0 + per_split, n_chunks)
    for k in range(k0, k1):
        b = (k // n_pb).to(tl.int64)
        offs_p = (k % n_pb) * BLOCK_P + tl.arange(0, BLOCK_P)
        p_ok = offs_p < P
        hh = offs_p // W + dh
        ww = offs_p % W + dw
        sp_ok = p_ok & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
        rows = (b * C + offs_c[:, None]) * P
        gv = tl.load(g_ptr + rows + offs_p[None, :], mask=c_ok[:, None] & p_ok[None, :], other=0.0)
        xv = tl.load(x_ptr + rows + (offs_p + shift)[None, :], mask=c_ok[:, None] & sp_ok[None, :], other=0.0)
        acc += gv.to(acc.dtype) * xv.to(acc.dtype)
    tot = tl.sum(acc, axis=1)
    tl.store(part_ptr + (s.to(tl.int64) * U + u) * C + offs_c, tot, mask=c_ok)


@triton.jit
def _dense_wgrad_kernel(
    x_ptr, g_ptr, off_ptr, part_ptr, G, CIN_G, COUT_G, H, W, U, n_pb, n_chunks, per_split, n_ob,
    IS_F64: tl.constexpr, DOT_PREC: tl.constexpr,
    BLOCK_O: tl.constexpr, BLOCK_I: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """part[s, u, g * COUT_G + o, i] = sum over chunks k = (b, spatial block) in split s of
    sum_p g[b, g * COUT_G + o, p] x[b, g * CIN_G + i, p + off_u];
    grid (U, G * n_ob * cdiv(CIN_G, BLOCK_I), n_split)."""
    u = tl.program_id(0)
    pid = tl.program_id(1)
    s = tl.program_id(2)
    n_ib = tl.cdiv(CIN_G, BLOCK_I)
    ib = pid % n_ib
    ob = (pid // n_ib) % n_ob
    grp = (pid // (n_ib * n_ob)).to(tl.int64)
    offs_o = ob * BLOCK_O + tl.arange(0, BLOCK_O)
    offs_i = ib * BLOCK_I + tl.arange(0, BLOCK_I)
    o_ok = offs_o < COUT_G
    i_ok = offs_i < CIN_G
    P = H * W
    CIN = G * CIN_G
    COUT = G * COUT_G
    dh = tl.load(off_ptr + 2 * u)
    dw = tl.load(off_ptr + 2 * u + 1)
    shift = dh * W + dw
    if IS_F64:
        acc = tl.zeros((BLOCK_O, BLOCK_I), dtype=tl.float64)
    else:
        acc = tl.zeros((BLOCK_O, BLOCK_I), dtype=tl.float32)
    k0 = s * per_split
    k1 = tl.minimum(k0 + per_split, n_chunks)
    for k in range(k0, k1):
        b = (k // n_pb).to(tl.int64)
        offs_p = (k % n_pb) * BLOCK_P + tl.arange(0, BLOCK_P)
        p_ok = offs_p < P
        hh = offs_p // W + dh
        ww = offs_p % W + dw
        sp_ok = p_ok & (hh >= 0) & (hh < H) & (ww >= 0) & (ww < W)
        g_rows = (b * COUT + grp * COUT_G + offs_o[:, None]) * P
        g_tile = tl.load(g_ptr + g_rows + offs_p[None, :], mask=o_ok[:, None] & p_ok[None, :], other=0.0)  # (O, P)
        x_cols = (b * CIN + grp * CIN_G + offs_i[None, :]) * P
        x_tile = tl.load(
            x_ptr + x_cols + (offs_p + shift)[:, None], mask=sp_ok[:, None] & i_ok[None, :], other=0.0
        )  # (P, I), contiguous along P
        acc = tl.dot(g_tile, x_tile, acc, input_precision=DOT_PREC, out_dtype=acc.dtype)
    out = part_ptr + ((s.to(tl.int64) * U + u) * COUT + grp * COUT_G + offs_o[:, None]) * CIN_G + offs_i[None, :]
    tl.store(out, acc, mask=o_ok[:, None] & i_ok[None, :])


# --------------------------------------------------------------------------------------------- helpers


def _empty(*shape: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Uninitialised buffer (tests replace this to poison outputs with NaN)."""
    return torch.empty(shape, dtype=dtype, device=device)


def _device_for(t: torch.Tensor) -> torch.device:
    return device_for(t, "tap-conv")


_FLOATS = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float64 if dtype == torch.float64 else torch.float32


def _dot_prec(dtype: torch.dtype) -> str:
    return FP32_DOT_PRECISION if dtype == torch.float32 else "ieee"  # ignored for non-fp32 operands


def _check_shapes(x: torch.Tensor, ndim: int, groups: int) -> tuple[int, int]:
    """Validate and return (H, W) with a 1-D problem as a single row."""
    if ndim not in (1, 2) or x.dim() != 2 + ndim:
        raise ValueError(f"x must be (B, C, *S) with {ndim} spatial dims (1 or 2), got shape {tuple(x.shape)}")
    if x.dtype not in _FLOATS:
        raise TypeError(f"unsupported dtype {x.dtype}; expected one of {_FLOATS}")
    if groups < 1 or x.shape[1] % groups:
        raise ValueError(f"groups={groups} must divide Cin={x.shape[1]}")
    return (1, x.shape[2]) if ndim == 1 else (x.shape[2], x.shape[3])


def _live(taps: Taps, spatial, dev: torch.device) -> tuple[tuple[int, ...], torch.Tensor]:
    """(slots of the live taps, their offsets as a ``(max(U_live, 1), 2)`` int32 table on ``dev``): from
    the shapes alone, the table built once per (tap set, size, device) -- a call uploads nothing."""
    keep = live_slots(taps, spatial)
    rows = [((0,) + taps[u]) if len(taps[u]) == 1 else taps[u] for u in keep] or [(0, 0)]
    return keep, device_index(tuple(v for r in rows for v in r), dev, torch.int32).reshape(-1, 2)


def _wgrad_split(n_chunks: int, other_programs: int) -> tuple[int, int]:
    """(n_split, chunks per split): a deterministic function of the shape only."""
    if n_chunks == 0:
        return 1, 0
    want = max(1, -(-_WGRAD_TARGET_PROGRAMS // max(other_programs, 1)))
    n_split = max(1, min(n_chunks, want))
    per = -(-n_chunks // n_split)
    return -(-n_chunks // per), per


# --------------------------------------------------------------------------------------------- registered ops


@triton_op("autofast::tap_conv_triton", mutates_args=())
def tap_conv_triton_op(x: torch.Tensor, w: torch.Tensor, offsets: list[int], groups: int) -> torch.Tensor:
    """Tap convolution by the Triton kernels; same contract as :func:`reference.tap_conv_ref`.

    Args:
        x: ``(B, Cin, *S)``, ``len(S) == ndim`` in {1, 2}; fp16 / bf16 / fp32 / fp64.
        w: ``(Cout, Cin // groups, U)`` in ``x.dtype``.
        offsets: the ``(U, ndim)`` tap offsets flattened row-major.
        groups: 1 (dense), ``Cin == Cout`` (depthwise), or any divisor of Cin and Cout (grouped, run
            by the dense kernel).
    Returns:
        ``(B, Cout, *S)`` in ``x.dtype``.
    """
    ndim = x.dim() - 2
    H, W = _check_shapes(x, ndim, groups)
    taps = unflat_taps(offsets, ndim)
    B, Cin = x.shape[:2]
    Cout, cin_g, U = w.shape
    if cin_g != Cin // groups or Cout % groups or U != len(taps):
        raise ValueError(f"w {tuple(w.shape)} does not match x {tuple(x.shape)}, groups={groups}, U={len(taps)}")
    if w.dtype != x.dtype:
        raise ValueError(f"x and w must share a dtype, got {x.dtype} and {w.dtype}")
    dev = checked_device(x, "tap-conv")
    xd = x.contiguous()
    keep, off_d = _live(taps, x.shape[2:], dev)
    U_live = len(keep)
    y = _empty(B, Cout, *x.shape[2:], dtype=x.dtype, device=dev)
    P = H * W
    if B * Cout * P == 0:
        return y
    if U_live == 0:
        return y.zero_()
    is_f64 = x.dtype == torch.float64
    wl = w if U_live == U else w.index_select(2, device_index(keep, dev))  # (Cout, cin_g, U_live)
    with _on(dev):
        if cin_g == 1 and Cout == Cin == groups:
            wt = wl.reshape(Cout, U_live).contiguous()
            block_p = _pow2(P, 32, 256 if is_f64 else 512)
            wrap_triton(_dw_fwd_kernel)[(B * Cin, triton.cdiv(P, block_p))](
                xd, wt, off_d, y, Cin, H, W, U_live,
                IS_F64=is_f64, BLOCK_P=block_p, num_warps=4 if block_p >= 256 else 1,
            )
        else:
            cout_g = Cout // groups
            wt = wl.permute(2, 0, 1).contiguous()  # (U_live, Cout, cin_g)
            if is_f64:
                block_o, block_i, block_p = _pow2(cout_g, 16, 32), _pow2(cin_g, 16, 16), _pow2(P, 16, 64)
            else:
                block_o, block_i, block_p = _pow2(cout_g, 16, 64), _pow2(cin_g, 16, 32), _pow2(P, 16, 128)
            grid = (B * groups, triton.cdiv(cout_g, block_o), triton.cdiv(P, block_p))
            wrap_triton(_dense_fwd_kernel)[grid](
                xd, wt, off_d, y, groups, cin_g, cout_g, H, W, U_live,
                IS_F64=is_f64, DOT_PREC=_dot_prec(x.dtype),
                BLOCK_O=block_o, BLOCK_I=block_i, BLOCK_P=block_p,
                num_warps=4, num_stages=3,
            )
    return y


@triton_op("autofast::tap_conv_wgrad_triton", mutates_args=())
def tap_conv_wgrad_triton_op(x: torch.Tensor, g: torch.Tensor, offsets: list[int], groups: int) -> torch.Tensor:
    """Weight gradient by the Triton kernels; same contract as :func:`reference.tap_conv_wgrad_ref`.

    ``gw[o, i, u] = sum_{b, p} g[b, o, p] * x[b, g(o) * Cin_g + i, p + offsets[u]]``, exact zeros for
    taps that cannot touch the input. Deterministic (fixed split of the reduction, no atomics).

    Returns:
        ``(Cout, Cin // groups, U)`` in ``x.dtype``.
    """
    ndim = x.dim() - 2
    H, W = _check_shapes(x, ndim, groups)
    taps = unflat_taps(offsets, ndim)
    B, Cin = x.shape[:2]
    if g.dim() != x.dim() or g.shape[0] != B or g.shape[2:] != x.shape[2:] or g.shape[1] % groups:
        raise ValueError(f"grad_out {tuple(g.shape)} does not match x {tuple(x.shape)} with groups={groups}")
    if g.dtype != x.dtype:
        raise ValueError(f"x and grad_out must share a dtype, got {x.dtype} and {g.dtype}")
    Cout = g.shape[1]
    cin_g, cout_g = Cin // groups, Cout // groups
    U = len(taps)
    dev = checked_device(x, "tap-conv")
    xd, gd = x.contiguous(), g.contiguous()
    keep, off_d = _live(taps, x.shape[2:], dev)
    U_live = len(keep)
    P = H * W
    if U_live == 0 or B * P == 0 or Cout * cin_g == 0:
        return x.new_zeros(Cout, cin_g, U)
    acc_dtype = _acc_dtype(x.dtype)
    is_f64 = x.dtype == torch.float64
    with _on(dev):
        if cin_g == 1 and Cout == Cin == groups:
            block_p = _pow2(P, 32, 128 if is_f64 else 256)
            block_c = _pow2(Cin, 1, 4 if is_f64 else 8)
            n_pb = triton.cdiv(P, block_p)
            n_cb = triton.cdiv(Cin, block_c)
            n_split, per = _wgrad_split(B * n_pb, U_live * n_cb)
            part = _empty(n_split, U_live, Cin, dtype=acc_dtype, device=dev)
            wrap_triton(_dw_wgrad_kernel)[(U_live, n_cb, n_split)](
                xd, gd, off_d, part, Cin, H, W, U_live, n_pb, B * n_pb, per,
                IS_F64=is_f64, BLOCK_C=block_c, BLOCK_P=block_p, num_warps=4,
            )
            red = torch.sum(part, dim=0).t().unsqueeze(1)  # (C, 1, U_live)
        else:
            if is_f64:
                block_o, block_i, block_p = _pow2(cout_g, 16, 32), _pow2(cin_g, 16, 32), _pow2(P, 16, 64)
            else:
                block_o, block_i, block_p = _pow2(cout_g, 16, 64), _pow2(cin_g, 16, 64), _pow2(P, 16, 64)
            n_pb = triton.cdiv(P, block_p)
            n_ob = triton.cdiv(cout_g, block_o)
            n_ib = triton.cdiv(cin_g, block_i)
            n_split, per = _wgrad_split(B * n_pb, U_live * groups * n_ob * n_ib)
            part = _empty(n_split, U_live, Cout, cin_g, dtype=acc_dtype, device=dev)
            wrap_triton(_dense_wgrad_kernel)[(U_live, groups * n_ob * n_ib, n_split)](
                xd, gd, off_d, part, groups, cin_g, cout_g, H, W, U_live, n_pb, B * n_pb, per, n_ob,
                IS_F64=is_f64, DOT_PREC=_dot_prec(x.dtype),
                BLOCK_O=block_o, BLOCK_I=block_i, BLOCK_P=block_p, num_warps=4, num_stages=3,
            )
            red = torch.sum(part, dim=0).permute(1, 2, 0)  # (Cout, cin_g, U_live)
    red = red.to(x.dtype)
    if U_live == U:
        return red.contiguous()
    return x.new_zeros(Cout, cin_g, U).index_copy(2, device_index(keep, dev), red)


@tap_conv_triton_op.register_fake
def _(x, w, offsets, groups):
    """Shapes only (replaces triton_op's default of tracing the body: the interpreter cannot launch on
    fake tensors)."""
    check_tap_args(x, w, len(offsets) // max(x.dim() - 2, 1), x.dim() - 2, groups)
    return x.new_empty(x.shape[0], w.shape[0], *x.shape[2:])


@tap_conv_wgrad_triton_op.register_fake
def _(x, g, offsets, groups):
    check_wgrad_args(x, g, groups)
    return x.new_empty(g.shape[1], x.shape[1] // groups, len(offsets) // max(x.dim() - 2, 1))


opaque_under_interpreter(tap_conv_triton_op, tap_conv_wgrad_triton_op)
register_rules(tap_conv_triton_op, tap_conv_wgrad_triton_op, n_extra=0)


# --------------------------------------------------------------------------------------------- tensor-offset helpers


def tap_conv_fwd(x: torch.Tensor, w: torch.Tensor, offsets, groups: int = 1) -> torch.Tensor:
    """:func:`tap_conv_triton_op` with offsets as an ``(U, ndim)`` tensor or :data:`.taps.Taps`; ``w``
    cast to ``x.dtype``."""
    return tap_conv_triton_op(x, w.to(x.dtype), flat_taps(as_taps(offsets, x.dim() - 2)), int(groups))


def tap_conv_wgrad(x: torch.Tensor, grad_out: torch.Tensor, offsets, groups: int = 1) -> torch.Tensor:
    """:func:`tap_conv_wgrad_triton_op` with offsets as a tensor or :data:`.taps.Taps`."""
    return tap_conv_wgrad_triton_op(x, grad_out.to(x.dtype), flat_taps(as_taps(offsets, x.dim() - 2)), int(groups))


def tap_conv_dgrad(grad_out: torch.Tensor, w: torch.Tensor, offsets, groups: int = 1) -> torch.Tensor:
    """Input gradient of :func:`tap_conv_fwd`: the tap convolution of ``grad_out`` with negated offsets
    and group-transposed weights ``(Cin, Cout // groups, U)``. Returns ``(B, Cin, *S)``."""
    taps = negate(as_taps(offsets, grad_out.dim() - 2))
    return tap_conv_fwd(grad_out, transpose_groups(w, int(groups)), taps, groups)
