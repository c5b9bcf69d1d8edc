"""Plain torch references: F.conv with the dense kernel the taps scatter into.

The core primitive of both conv ops is the *tap convolution* ('same' padding, stride 1)::

    y[b, o, p] = sum_u sum_i w[o, i, u] * x[b, g(o) * Cin_g + i, p + offsets[u]]   (zero outside)

with ``x (B, Cin, *S)``, ``w (Cout, Cin // groups, U)``, ``offsets (U, ndim)`` int64, ``ndim`` in
{1, 2}. Its input gradient is the tap convolution of the output gradient with negated offsets and
transposed weights; its weight gradient is ``gw[o, i, u] = sum_{b,p} g[b, o, p] x[b, i', p + off_u]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dense_kernel(w: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Scatter tap weights ``(Cout, Cin_g, U)`` into a dense ``(Cout, Cin_g, 2r+1[, 2r+1])`` kernel."""
    ndim = offsets.shape[1]
    r = int(offsets.abs().max()) if offsets.numel() else 0
    size = 2 * r + 1
    flat = (offsets[:, 0] + r) if ndim == 1 else (offsets[:, 0] + r) * size + (offsets[:, 1] + r)
    dense = w.new_zeros(w.shape[0], w.shape[1], size**ndim)
    dense = dense.index_add(2, flat.to(w.device), w)
    return dense.reshape(w.shape[0], w.shape[1], *([size] * ndim))


def tap_conv_ref(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """Tap convolution by F.conv1d/conv2d with the dense scattered kernel (differentiable)."""
    ndim = offsets.shape[1]
    k = dense_kernel(w, offsets)
    r = (k.shape[-1] - 1) // 2
    conv = F.conv1d if ndim == 1 else F.conv2d
    return conv(x, k, padding=r, groups=groups)


def tap_conv_wgrad_ref(x: torch.Tensor, grad_out: torch.Tensor, offsets: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """``sum_{b,p} g[b, o, p] x[b, i', p + off_u]`` -> ``(Cout, Cin_g, U)``, by explicit shifts."""
    ndim = offsets.shape[1]
    B, Cin = x.shape[:2]
    Cout = grad_out.shape[1]
    cin_g = Cin // groups
    out = x.new_zeros(Cout, cin_g, offsets.shape[0])
    spatial = x.shape[2:]
    r = int(offsets.abs().max()) if offsets.numel() else 0
    xp = F.pad(x, [r, r] * ndim)
    for u, off in enumerate(offsets.tolist()):
        if ndim == 1:
            xs = xp[:, :, r + off[0] : r + off[0] + spatial[0]]
        else:
            xs = xp[:, :, r + off[0] : r + off[0] + spatial[0], r + off[1] : r + off[1] + spatial[1]]
        xs = xs.reshape(B, groups, cin_g, -1)
        g = grad_out.reshape(B, groups, Cout // groups, -1)
        out[:, :, u] = torch.einsum("bgop,bgip->goi", g, xs).reshape(Cout, cin_g)
    return out
