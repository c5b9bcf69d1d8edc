"""The rules every registered tap-convolution op pair shares: autograd formulas and autocast.

A pair is a forward op ``fwd(x, w, offsets, groups, *extra) -> y`` and its weight-gradient op
``wgrad(x, g, offsets, groups, *extra) -> gw`` (shapes in :mod:`.tap_conv`). Both are linear in each
tensor argument, so their gradients are ops of the same pair:

* ``fwd``: ``dx = fwd(g, transpose_groups(w), -offsets)``, ``dw = wgrad(x, g, offsets)``;
* ``wgrad`` (double backward): ``dx = fwd(g, transpose_groups(G), -offsets)``, ``dg = fwd(x, G, offsets)``
  for the incoming gradient ``G`` of ``gw``.

Autocast: on an autocast-enabled device the floating inputs (not float64) are cast to the autocast
dtype (``torch.get_autocast_dtype``: bf16 on the CPU by default, fp16 or bf16 on CUDA), then the op
runs with autocast off -- the policy PyTorch applies to its own convolutions.
"""
from __future__ import annotations

import torch

from .taps import flat_taps, negate, unflat_taps


def transpose_groups(w: torch.Tensor, groups: int) -> torch.Tensor:
    """``(Cout, Cin_g, U) -> (Cin, Cout_g, U)``: the weights of the input-gradient tap convolution."""
    Cout, cin_g, U = w.shape
    return w.reshape(groups, Cout // groups, cin_g, U).transpose(1, 2).reshape(groups * cin_g, Cout // groups, U)


def _neg(offsets: list[int], ndim: int) -> list[int]:
    return flat_taps(negate(unflat_taps(offsets, ndim)))


def register_rules(fwd, wgrad, n_extra: int) -> None:
    """Register autograd (both ops) and autocast (CPU and CUDA) for a (fwd, wgrad) pair of custom ops
    whose arguments are ``(x, w_or_g, offsets, groups, *extra)`` with ``n_extra`` non-tensor extras."""

    def setup(ctx, inputs, output):
        x, t, offsets, groups, *extra = inputs
        ctx.save_for_backward(x, t)
        ctx.offsets, ctx.groups, ctx.extra, ctx.ndim = list(offsets), int(groups), tuple(extra), x.dim() - 2

    def fwd_backward(ctx, g):
        x, w = ctx.saved_tensors
        neg = _neg(ctx.offsets, ctx.ndim)
        gx = fwd(g, transpose_groups(w, ctx.groups), neg, ctx.groups, *ctx.extra) if ctx.needs_input_grad[0] else None
        gw = wgrad(x, g, ctx.offsets, ctx.groups, *ctx.extra) if ctx.needs_input_grad[1] else None
        return (gx, gw) + (None,) * (2 + n_extra)

    def wgrad_backward(ctx, G):
        x, g = ctx.saved_tensors
        neg = _neg(ctx.offsets, ctx.ndim)
        gx = fwd(g, transpose_groups(G, ctx.groups), neg, ctx.groups, *ctx.extra) if ctx.needs_input_grad[0] else None
        gg = fwd(x, G, ctx.offsets, ctx.groups, *ctx.extra) if ctx.needs_input_grad[1] else None
        return (gx, gg) + (None,) * (2 + n_extra)

    fwd.register_autograd(fwd_backward, setup_context=setup)
    wgrad.register_autograd(wgrad_backward, setup_context=setup)
    for op in (fwd, wgrad):
        for device_type in ("cpu", "cuda"):
            _register_autocast(op, device_type)


def _register_autocast(op, device_type: str) -> None:
    key = "Autocast" + torch._C._dispatch_key_for_device(device_type)
    exclude = torch._C.DispatchKeySet(getattr(torch._C.DispatchKey, key))

    def kernel(_keyset, *args):
        dtype = torch.get_autocast_dtype(device_type)
        cast = [a.to(dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() and a.dtype != torch.float64
                and a.device.type == device_type else a for a in args]
        with torch._C._ExcludeDispatchKeyGuard(exclude):
            return op._opoverload(*cast)

    op._lib.impl(op._name, kernel, key, with_keyset=True)
