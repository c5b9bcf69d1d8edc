"""Forward + backward of ONE DASH mixed layer: autofast's union-of-taps kernels vs DASH's FFT mixture
and F.conv with the dense aggregated kernel, same inputs, same run.

Run: ``python -m pytest bench/test_bench_conv.py --benchmark-only`` (``-k 1d`` etc. to select).
"""
from __future__ import annotations

from itertools import product

import pytest
import torch

from conv_anchors import dense_mixture, fft_mixture

from autofast.kernels.conv import mixed_dilated_conv
from autofast.kernels.conv.tap_conv import resolve_backend

DASH_1D = list(product((3, 7, 11, 15, 19), (1, 3, 7, 15)))
DASH_2D = list(product((3, 5, 7, 9), (1, 3, 7, 15)))

# name: (x shape, candidates, groups)
CASES = {
    "2d-dw-b32-c64-32x32": ((32, 64, 32, 32), DASH_2D, 64),
    "1d-dw-b64-c128-l600": ((64, 128, 600), DASH_1D, 128),
    "1d-dw-b64-c128-l1000": ((64, 128, 1000), DASH_1D, 128),
    "1d-dense-b16-c64-l600": ((16, 64, 600), DASH_1D, 1),
}
SLOW_DENSE = {"2d-dw-b32-c64-32x32"}  # F.conv with a 121x121 depthwise kernel: one round only


def make(case, dtype=torch.float32, seed=0):
    shape, cands, groups = CASES[case]
    g = torch.Generator().manual_seed(seed)
    C = shape[1]
    ndim = len(shape) - 2
    x = torch.randn(shape, generator=g, dtype=dtype).requires_grad_()
    ws = [(torch.randn((C, C // groups) + (k,) * ndim, generator=g, dtype=dtype) / k).requires_grad_()
          for k, _ in cands]
    a = torch.softmax(torch.randn(len(cands), generator=g), 0).to(dtype).requires_grad_()
    go = torch.randn(shape, generator=g, dtype=dtype)
    return x, ws, a, cands, groups, go


def step(fn, x, ws, a, cands, groups, go):
    for t in (x, a, *ws):
        t.grad = None
    fn(x, ws, a, cands, groups).backward(go)


def ours(x, ws, a, cands, groups):
    return mixed_dilated_conv(x, ws, a, cands, groups)


IMPLS = {"autofast": ours, "fft_mixture": fft_mixture, "dense_conv": dense_mixture}


@pytest.mark.parametrize("impl", list(IMPLS))
@pytest.mark.parametrize("case", list(CASES))
def test_mixed_layer_fwd_bwd(benchmark, case, impl):
    torch.set_num_threads(torch.get_num_threads())
    args = make(case)
    benchmark.group = f"mixed-conv {case}"
    benchmark.extra_info.update(case=case, impl=impl, threads=torch.get_num_threads(),
                                backend=resolve_backend(args[0], args[4]) if impl == "autofast" else impl)
    fn = IMPLS[impl]
    step(fn, *args)  # warm-up
    rounds = 1 if (impl == "dense_conv" and case in SLOW_DENSE) else 3
    benchmark.pedantic(step, args=(fn, *args), rounds=rounds, iterations=1)
