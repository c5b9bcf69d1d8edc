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

from .taps import as_taps, device_index, radius


def dense_kernel(w: torch.Tensor, offsets, ndim: int | None = None) -> torch.Tensor:
    """Scatter tap weights ``(Cout, Cin_g, U)`` into a dense ``(Cout, Cin_g, 2r+1[, 2r+1])`` kernel.

    ``offsets``: a :data:`.taps.Taps` tuple (no data read: the scatter index is built once per tap set
    and device) or an ``(U, ndim)`` integer tensor (read on the host)."""
    taps = as_taps(offsets)
    ndim = ndim or (len(taps[0]) if taps else 1)
    r = radius(taps)
    size = 2 * r + 1
    flat = tuple((t[0] + r) if ndim == 1 else (t[0] + r) * size + (t[1] + r) for t in taps)
    dense = w.new_zeros(w.shape[0], w.shape[1], size**ndim)
    dense = dense.index_add(2, device_index(flat, w.device), w)
    return dense.reshape(w.shape[0], w.shape[1], *([size] * ndim))


def tap_conv_ref(x: torch.Tensor, w: torch.Tensor, offsets, groups: int = 1) -> torch.Tensor:
    """Tap convolution by F.conv1d/conv2d with the dense scattered kernel (differentiable); ``offsets`` a
    tensor or a :data:`.taps.Taps` tuple."""
    ndim = x.dim() - 2
    k = dense_kernel(w, offsets, ndim)
    r = (k.shape[-1] - 1) // 2
    conv = F.conv1d if ndim == 1 else F.conv2d
    return conv(x, k, padding=r, groups=groups)


def tap_conv_wgrad_ref(x: torch.Tensor, grad_out: torch.Tensor, offsets, groups: int = 1) -> torch.Tensor:
    """``sum_{b,p} g[b, o, p] x[b, i', p + off_u]`` -> ``(Cout, Cin_g, U)``, by explicit shifts."""
    ndim = x.dim() - 2
    taps = as_taps(offsets)
    B, Cin = x.shape[:2]
    Cout = grad_out.shape[1]
    cin_g = Cin // groups
    out = x.new_zeros(Cout, cin_g, len(taps))
    spatial = x.shape[2:]
    r = radius(taps)
    xp = F.pad(x, [r, r] * ndim)
    for u, off in enumerate(taps):
        if ndim == 1:
            xs = xp[:, :, r + off[0] : r + off[0] + spatial[0]]
        else:
            xs = xp[:, :, r + off[0] : r + off[0] + spatial[0], r + off[1] : r + off[1] + spatial[1]]
        xs = xs.reshape(B, groups, cin_g, -1)
        g = grad_out.reshape(B, groups, Cout // groups, -1)
        out[:, :, u] = torch.einsum("bgop,bgip->goi", g, xs).reshape(Cout, cin_g)
    return out
