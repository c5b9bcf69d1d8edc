"""Anchors for the mixed-conv benchmark, written here from their published descriptions.

* ``fft_mixture``: DASH's approach -- aggregate the candidates' dilated kernels into ONE dense
  kernel of the largest receptive field (zero-inserted dilation, centre-aligned), then an FFT
  convolution (rfftn of the padded input and of the kernel, product, irfftn, crop). Gradients by
  autograd through torch.fft.
* ``dense_mixture``: the same aggregated dense kernel through F.conv1d/conv2d (oneDNN on the CPU,
  cuDNN on the GPU).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dilate_to(w: torch.Tensor, d: int, size: int) -> torch.Tensor:
    """Zero-insert dilation of ``(Cout, Cin_g, k[, k])`` and centre it in a ``size``-wide kernel."""
    ndim = w.dim() - 2
    k = w.shape[-1]
    span = d * (k - 1) + 1
    out = w.new_zeros(w.shape[:2] + (size,) * ndim)
    lo = (size - span) // 2
    sl = slice(lo, lo + span, d)
    out[(slice(None), slice(None)) + (sl,) * ndim] = w
    return out


def aggregated_dense_kernel(weights, a, cands) -> torch.Tensor:
    size = max(d * (k - 1) + 1 for k, d in cands)
    return sum(a[c] * dilate_to(w, d, size) for c, ((k, d), w) in enumerate(zip(cands, weights)))


def fft_conv(x: torch.Tensor, k: torch.Tensor, groups: int) -> torch.Tensor:
    """'same' cross-correlation by FFT; ``k`` is ``(Cout, Cin_g, S[, S])`` with odd S."""
    ndim = x.dim() - 2
    r = (k.shape[-1] - 1) // 2
    xp = F.pad(x, [r, r] * ndim)
    n = xp.shape[2:]
    dims = tuple(range(2, 2 + ndim))
    X = torch.fft.rfftn(xp, dim=dims)
    Kf = torch.fft.rfftn(k, s=n, dim=dims).conj()
    if groups == 1:
        Y = torch.einsum("bi...,oi...->bo...", X, Kf)
    else:  # depthwise
        Y = X * Kf[:, 0].unsqueeze(0)
    y = torch.fft.irfftn(Y, s=n, dim=dims)
    crop = (slice(None), slice(None)) + tuple(slice(0, s) for s in x.shape[2:])
    return y[crop]


def fft_mixture(x, weights, a, cands, groups):
    return fft_conv(x, aggregated_dense_kernel(weights, a, cands), groups)


def dense_mixture(x, weights, a, cands, groups):
    k = aggregated_dense_kernel(weights, a, cands)
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    return conv(x, k, padding=(k.shape[-1] - 1) // 2, groups=groups)
