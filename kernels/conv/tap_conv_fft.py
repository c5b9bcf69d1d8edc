"""FFT backend of the tap convolution, for DENSE convs whose tap set is large.

A dense conv over U taps costs ``B Cout Cin |S| U`` multiply-adds directly, but only about
``B Cout Cin n / 2`` complex ones through the FFT (n = padded size), so for the DASH unions
(61 taps in 1-D, ~200 live taps in 2-D) the FFT wins for dense channels mixing; depthwise convs
stay on the direct kernels (no channel sum to amortise the transforms). Exact up to rounding.

* forward: ``irfftn(rfftn(pad(x)) * conj(rfftn(K)))`` cropped, with K the dense scattered kernel;
* weight gradient: the cross-correlation of the padded input with the output gradient, summed
  over the batch in the frequency domain, read at the taps' lags.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .reference import dense_kernel
from .taps import Taps, device_index, radius


def tap_conv_fwd(x: torch.Tensor, w: torch.Tensor, taps: Taps, groups: int) -> torch.Tensor:
    """``(B, Cin, *S) x (Cout, Cin, U) -> (B, Cout, *S)`` over the offsets ``taps``."""
    if groups != 1:
        raise ValueError("the fft tap-conv backend handles dense convs (groups=1) only")
    ndim = x.dim() - 2
    r = radius(taps)
    K = dense_kernel(w, taps, ndim)
    xp = F.pad(x, [r, r] * ndim)
    n = xp.shape[2:]
    dims = tuple(range(2, 2 + ndim))
    X = torch.fft.rfftn(xp, dim=dims)
    Kf = torch.fft.rfftn(K, s=n, dim=dims).conj()
    Y = torch.einsum("bi...,oi...->bo...", X, Kf)
    y = torch.fft.irfftn(Y, s=n, dim=dims)
    return y[(slice(None), slice(None)) + tuple(slice(0, s) for s in x.shape[2:])].contiguous()


def tap_conv_wgrad(x: torch.Tensor, g: torch.Tensor, taps: Taps, groups: int) -> torch.Tensor:
    """``gw[o, i, u] = sum_{b,p} g[b,o,p] x[b,i,p+off_u]`` -> ``(Cout, Cin, U)``."""
    if groups != 1:
        raise ValueError("the fft tap-conv backend handles dense convs (groups=1) only")
    ndim = x.dim() - 2
    r = radius(taps)
    xp = F.pad(x, [r, r] * ndim)
    n = xp.shape[2:]
    dims = tuple(range(2, 2 + ndim))
    X = torch.fft.rfftn(xp, dim=dims)
    G = torch.fft.rfftn(g, s=n, dim=dims)  # zero-padded at the end: g[p] sits at p
    corr = torch.fft.irfftn(torch.einsum("bo...,bi...->oi...", G.conj(), X), s=n, dim=dims)
    # corr[o, i, t] = sum_{b,p} g[b,o,p] xp[b,i,p+t]; the tap at offset s reads lag t = s + r
    if ndim == 1:
        return corr.index_select(2, device_index(tuple(t[0] + r for t in taps), x.device))
    lag = device_index(tuple((t[0] + r) * n[1] + t[1] + r for t in taps), x.device)
    return corr.flatten(2).index_select(2, lag)


def fft_is_cheaper(x: torch.Tensor, n_taps: int, radius: int) -> bool:
    """Flop model: direct ``|S| U`` vs FFT ~``4 n`` (complex products) + transforms per channel pair."""
    size = 1
    padded = 1
    for s in x.shape[2:]:
        size *= s
        padded *= s + 2 * radius
    return size * n_taps > 6 * padded
