"""``mixed_dilated_conv``: DASH's mixed-weights op, ``sum_c a_c (w_c *_{d_c} x)``, as ONE convolution.

Convolution is linear, so the mixture equals one convolution with the aggregated kernel
``K = sum_c a_c dilate(w_c)``, which is non-zero only on the union U of the candidates' dilated
taps. The op scatters ``a_c w_c`` into U with one ``index_add`` (tiny; autograd maps the kernel
gradient back: ``dw_c = a_c gK[idx_c]``, ``da_c = <w_c, gK[idx_c]>``), then runs one convolution with K
on the fastest exact path for the shape (:mod:`.conv_path`): the tap kernels over U, their FFT
backend, or torch's native convolution with the dense ``(2r + 1)``-wide kernel. Exact, not approximate.
"""
from __future__ import annotations

import math
from itertools import product

import torch
import torch.nn.functional as F
from torch import nn

from .conv_path import choose, synthetic_pass, tap_backend_forced
from .dilated_conv import check_floating, check_groups, check_input, check_layer_args, subsample
from .reference import dense_kernel
from .tap_conv import direct_backend, match_dtype, tap_conv
from .taps import TapUnion, as_int, device_index, tap_union


def aggregate_taps(union: TapUnion, a: torch.Tensor, weights: list[torch.Tensor]) -> torch.Tensor:
    """``K[:, :, U] = sum_c a_c w_c`` scattered into the union's slots -> ``(Cout, Cin_g, |U|)``; differentiable
    in ``a`` and every ``w_c`` (one cat, one gather, one multiply, one index_add). The index tensors are
    built once per (union, device): a call uploads nothing."""
    dev = weights[0].device
    flat, owner = device_index(union.flat_index, dev), device_index(union.owner, dev)
    wcat = torch.cat([w.flatten(2) for w in weights], 2)
    K = wcat.new_zeros(wcat.shape[0], wcat.shape[1], union.size)
    return K.index_add(2, flat, wcat * a.to(wcat.dtype)[owner])


def union_conv(x: torch.Tensor, K: torch.Tensor, union: TapUnion, groups: int = 1, stride: int = 1,
               backend: str = "auto", path: str = "auto") -> torch.Tensor:
    """Convolution of ``x`` with union tap weights ``K`` (``(Cout, Cin_g, |U|)``), 'same' padding, on the
    fastest exact path: 'tap' (tap kernels over the live taps), 'fft', or 'native' (dense kernel, F.conv)."""
    (K,) = match_dtype(x, K)
    if tap_backend_forced(backend):
        path = "tap"
    candidates = ("tap", "native", "fft") if groups == 1 and not x.is_cuda else ("tap", "native")

    def run(p: str, x_, K_):
        if p == "native":
            conv = F.conv1d if x_.dim() == 3 else F.conv2d
            return conv(x_, dense_kernel(K_, union.taps, union.ndim), None, stride, union.radius, 1, groups)
        tap_backend = "fft" if p == "fft" else direct_backend(x_, groups, backend)
        return subsample(tap_conv(x_, K_, union.taps, groups, tap_backend), stride)

    taps = f"union{len(union.candidates)}:r{union.radius}:u{union.size}"
    chosen = choose("mixed", x, K, taps, groups, stride, candidates,
                    lambda p: synthetic_pass(x, K, lambda xs, ks: run(p, xs, ks)), path)
    return run(chosen, x, K)


def mixed_dilated_conv(x: torch.Tensor, weights: list[torch.Tensor], a: torch.Tensor,
                       candidates: list[tuple[int, int]], groups: int = 1, backend: str = "auto",
                       stride: int = 1, path: str = "auto") -> torch.Tensor:
    """DASH mixture ``sum_c a_c (w_c *_{d_c} x)`` computed once over the union of dilated taps.

    Args:
        x: ``(B, Cin, L)`` or ``(B, Cin, H, W)``.
        weights: one kernel per candidate, ``(Cout, Cin // groups, k_c[, k_c])``.
        a: ``(n_candidates,)`` mixture coefficients (e.g. a Gumbel-softmax of the architecture logits).
        candidates: ``[(k_c, d_c), ...]`` in the order of ``weights``; k odd, d >= 1.
        groups: 1 (dense) or Cin (depthwise). stride: >= 1 (output ``ceil(spatial / stride)``).
        backend: the tap kernels' backend (anything but 'auto' forces the tap path).
        path: 'auto' (measured), 'tap', 'fft' or 'native' (see :mod:`.conv_path`).
    Returns:
        ``(B, Cout, *ceil(spatial / stride))``.
    """
    cands = _candidates(candidates)
    groups, stride = as_int("groups", groups), as_int("stride", stride, 1)
    if x.dim() not in (3, 4):
        raise ValueError(f"x must be (B, C, L) or (B, C, H, W), got shape {tuple(x.shape)}")
    if len(weights) != len(cands) or a.shape != (len(cands),):
        raise ValueError(f"need one weight and one coefficient per candidate: {len(cands)} candidates, "
                         f"{len(weights)} weights, a of shape {tuple(a.shape)}")
    if not cands:
        raise ValueError("mixed_dilated_conv needs at least one candidate; candidates, weights and a are empty")
    check_floating("mixed_dilated_conv", x=x, **{f"weights[{i}]": w for i, w in enumerate(weights)})
    check_groups(x, weights[0], groups)
    for i, ((k, _), w) in enumerate(zip(cands, weights)):
        if w.shape[:2] != weights[0].shape[:2]:
            raise ValueError(f"weights[{i}] has shape {tuple(w.shape)} but weights[0] {tuple(weights[0].shape)}: every "
                             f"candidate's weight must be (Cout, Cin/groups, k...) with the same Cout, Cin/groups")
        if w.shape[2:] != (k,) * (x.dim() - 2):
            raise ValueError(f"candidates[{i}] has kernel size {k} but weights[{i}] has shape {tuple(w.shape)} "
                             f"for x {tuple(x.shape)}")
    union = tap_union(cands, x.dim() - 2)
    return union_conv(x, aggregate_taps(union, a, list(weights)), union, groups, stride, backend, path)


def _candidates(candidates) -> tuple[tuple[int, int], ...]:
    """``[(k, d), ...]`` as int pairs; floats and bools refused (TypeError naming ``candidates[i]``)."""
    return tuple((as_int(f"candidates[{i}] kernel size", k), as_int(f"candidates[{i}] dilation", d))
                 for i, (k, d) in enumerate(candidates))


class MixedDilatedConv(nn.Module):
    """DASH mixed-weights layer over ``kernel_sizes x dilations`` (or an explicit ``candidates`` list of
    (k, d) pairs, e.g. the product filtered to what the input size can use); ``forward(x, a)`` takes the
    mixture coefficients (``a = None``: uniform). ``candidates`` lists the (k, d) order of ``a``."""

    def __init__(self, ndim: int, in_channels: int, out_channels: int, kernel_sizes=(3, 7, 11, 15, 19),
                 dilations=(1, 3, 7, 15), groups: int = 1, bias: bool = True, backend: str = "auto",
                 device=None, dtype=None, stride: int = 1, path: str = "auto", candidates=None):
        super().__init__()
        in_channels, out_channels, groups, stride = check_layer_args(
            type(self).__name__, ndim, in_channels, out_channels, groups, stride, backend, path)
        self.ndim, self.groups, self.backend, self.stride, self.path = ndim, groups, backend, stride, path
        pairs = product(kernel_sizes, dilations) if candidates is None else candidates
        self.candidates = list(_candidates(pairs))
        if not self.candidates:
            raise ValueError("a mixed conv needs at least one (kernel size, dilation) candidate")
        self.union = tap_union(tuple(self.candidates), ndim)
        self.weights = nn.ParameterList()
        for k, _ in self.candidates:
            w = torch.empty((out_channels, in_channels // groups) + (k,) * ndim, device=device, dtype=dtype)
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
            self.weights.append(nn.Parameter(w))
        self.bias = nn.Parameter(torch.zeros(out_channels, device=device, dtype=dtype)) if bias else None

    def forward(self, x: torch.Tensor, a: torch.Tensor | None = None) -> torch.Tensor:
        check_input(x, self.ndim, self.weights[0].shape[1] * self.groups, type(self).__name__)
        if a is None:
            a = x.new_full((len(self.candidates),), 1.0 / len(self.candidates))
        if a.shape != (len(self.candidates),):
            raise ValueError(f"need one coefficient per candidate ({len(self.candidates)}), got a of shape {tuple(a.shape)}")
        K = aggregate_taps(self.union, a, list(self.weights))
        y = union_conv(x, K, self.union, self.groups, self.stride, self.backend, self.path)
        if self.bias is not None:  # in y's dtype (the autocast dtype under autocast, as nn.Conv's output)
            y = y + self.bias.to(y.dtype).view((1, -1) + (1,) * self.ndim)
        return y
