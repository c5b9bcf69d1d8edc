"""``mixed_dilated_conv``: DASH's mixed-weights op, ``sum_c a_c (w_c *_{d_c} x)``, in ONE pass.

Convolution is linear, so the mixture equals one convolution with the aggregated kernel
``K = sum_c a_c dilate(w_c)``, which is non-zero only on the union U of the candidates' dilated
taps. The op scatters ``a_c w_c`` into U (tiny), runs one tap convolution over U, and in the
backward pass maps the tap-weight gradient ``gK`` back: ``dw_c = a_c gK[idx_c]``,
``da_c = <w_c, gK[idx_c]>``. Exact, not approximate.
"""
from __future__ import annotations

import math
from itertools import product

import torch
from torch import nn

from .tap_conv import TapPlan, check_tap_args
from .taps import TapUnion, tap_union


def aggregate_taps(union: TapUnion, a: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    """``K[:, :, U] = sum_c a_c w_c`` scattered into the union's slots -> ``(Cout, Cin_g, |U|)``."""
    K = weights[0].new_zeros(weights[0].shape[0], weights[0].shape[1], union.size)
    for c, w in enumerate(weights):
        K.index_add_(2, union.index[c].to(w.device), a[c] * w.flatten(2))
    return K


class MixedDilatedConvFunction(torch.autograd.Function):
    """Forward ``sum_c a_c conv(x, w_c, d_c)``; gradients for x, a and every w_c."""

    @staticmethod
    def forward(ctx, x, a, candidates, groups: int, backend: str, *weights):
        union = tap_union(candidates, x.dim() - 2)
        K = aggregate_taps(union, a, list(weights))
        check_tap_args(x, K, union.offsets, groups)
        plan = TapPlan(x, union.offsets, groups, backend)
        ctx.save_for_backward(x, a, K, *weights)
        ctx.plan, ctx.union = plan, union
        return plan.forward(x, K)

    @staticmethod
    def backward(ctx, g):
        x, a, K, *weights = ctx.saved_tensors
        need_w = any(ctx.needs_input_grad[5:]) or ctx.needs_input_grad[1]
        gx, gK = ctx.plan.backward(x, K, g, ctx.needs_input_grad[0], need_w)
        ga = gws = None
        if need_w:
            parts = [gK.index_select(2, ctx.union.index[c].to(gK.device)) for c in range(len(weights))]
            ga = torch.stack([(w.flatten(2) * p).sum() for w, p in zip(weights, parts)]).to(a.dtype)
            gws = [(a[c] * parts[c]).reshape(w.shape) for c, w in enumerate(weights)]
        return (gx, ga if ctx.needs_input_grad[1] else None, None, None, None,
                *(gws if gws is not None else [None] * len(weights)))


def mixed_dilated_conv(x: torch.Tensor, weights: list[torch.Tensor], a: torch.Tensor,
                       candidates: list[tuple[int, int]], groups: int = 1, backend: str = "auto") -> torch.Tensor:
    """DASH mixture ``sum_c a_c (w_c *_{d_c} x)`` computed once over the union of dilated taps.

    Args:
        x: ``(B, Cin, L)`` or ``(B, Cin, H, W)``.
        weights: one kernel per candidate, ``(Cout, Cin // groups, k_c[, k_c])``.
        a: ``(n_candidates,)`` mixture coefficients (e.g. a Gumbel-softmax of the architecture logits).
        candidates: ``[(k_c, d_c), ...]`` in the order of ``weights``; k odd, d >= 1.
        groups: 1 (dense) or Cin (depthwise).
    Returns:
        ``(B, Cout, *spatial)``.
    """
    cands = tuple((int(k), int(d)) for k, d in candidates)
    if len(weights) != len(cands) or a.shape != (len(cands),):
        raise ValueError(f"need one weight and one coefficient per candidate: {len(cands)} candidates, "
                         f"{len(weights)} weights, a of shape {tuple(a.shape)}")
    for (k, _), w in zip(cands, weights):
        if w.shape[2:] != (k,) * (x.dim() - 2):
            raise ValueError(f"candidate kernel size {k} but weight shape {tuple(w.shape)} for x {tuple(x.shape)}")
    return MixedDilatedConvFunction.apply(x, a, cands, int(groups), backend, *weights)


class MixedDilatedConv(nn.Module):
    """DASH mixed-weights layer over ``kernel_sizes x dilations``; ``forward(x, a)`` takes the mixture
    coefficients (``a = None``: uniform). ``candidates`` lists the (k, d) order of ``a``."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, kernel_sizes=(3, 7, 11, 15, 19),
                 dilations=(1, 3, 7, 15), groups: int = 1, bias: bool = True, backend: str = "auto",
                 device=None, dtype=None):
        super().__init__()
        self.ndim, self.groups, self.backend = ndim, groups, backend
        self.candidates = [(int(k), int(d)) for k, d in product(kernel_sizes, dilations)]
        self.weights = nn.ParameterList()
        for k, _ in self.candidates:
            w = torch.empty((out_channels, in_channels // groups) + (k,) * ndim, device=device, dtype=dtype)
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            self.weights.append(nn.Parameter(w))
        self.bias = nn.Parameter(torch.zeros(out_channels, device=device, dtype=dtype)) if bias else None

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        if a is None:
            a = x.new_full((len(self.candidates),), 1.0 / len(self.candidates))
        y = mixed_dilated_conv(x, list(self.weights), a, self.candidates, self.groups, self.backend)
        if self.bias is not None:
            y = y + self.bias.view((1, -1) + (1,) * self.ndim)
        return y
