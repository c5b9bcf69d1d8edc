"""The conv layers embedded outside autofast's engine (issue 19, part 5).

* ``examples/kernels_in_your_loop.py`` (a ``DilatedConv1d`` stem and a DASH ``MixedDilatedConv`` trained in a
  plain PyTorch loop) runs: the loss falls and gradients reach the conv weights and the architecture logits,
  in float32 and under CPU bf16 autocast.
* Every public conv (the modules ``DilatedConv1d``/``DilatedConv2d``/``MixedDilatedConv`` with bias, the
  functions ``dilated_conv``/``mixed_dilated_conv``/``tap_conv``) returns what torch's own conv returns in
  the same context: bfloat16 under ``torch.autocast("cpu", dtype=torch.bfloat16)``, float32 outside; values
  within twice torch's own bf16 error (plus 4 bf16 eps) of a float64 reference, float32 within 1e-5.
"""
from __future__ import annotations

import importlib.util
from itertools import product
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from autofast.kernels.conv import DilatedConv1d, DilatedConv2d, MixedDilatedConv, dilated_conv, mixed_dilated_conv
from autofast.kernels.conv import tap_conv

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "kernels_in_your_loop.py"

BF16_EPS = torch.finfo(torch.bfloat16).eps


def _example():
    spec = importlib.util.spec_from_file_location("kernels_in_your_loop", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("bf16", [False, True])
def test_example_plain_loop_trains_the_kernels(bf16):
    ex = _example()
    model, losses = ex.train(steps=40, batch_size=32, bf16=bf16, n_train=256)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.8 * first, f"loss did not fall: {losses}"
    named = dict(model.named_parameters())
    for name in ["stem.weight", "stem.bias", "alpha"] + [f"mixed.weights.{i}" for i in range(len(model.mixed.weights))]:
        grad = named[name].grad
        assert grad is not None and grad.dtype == torch.float32, name
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name
    assert model.chosen() in model.mixed.candidates


def test_example_main_runs(capsys):
    _example().main(["--steps", "3"])
    out = capsys.readouterr().out
    assert "chosen (kernel size, dilation)" in out and "mixed conv" in out


# --- autocast: our convs against torch's conv in the same context ---------------------------------------

def _dense(cands, ws, a, ndim):
    """The dense kernel ``sum_c a_c dilate(w_c)`` centred in ``2r + 1`` (torch ops only, no autofast code)."""
    r = max(d * (k - 1) // 2 for k, d in cands)
    out = ws[0].new_zeros(ws[0].shape[:2] + (2 * r + 1,) * ndim)
    for c, ((k, d), w) in enumerate(zip(cands, ws)):
        s = slice(r - d * (k - 1) // 2, r + d * (k - 1) // 2 + 1, d)
        out[(Ellipsis,) + (s,) * ndim] += a[c] * w
    return out


def _conv(x, w, b, pad, dilation=1, groups=1):
    return (F.conv1d if x.dim() == 3 else F.conv2d)(x, w, b, 1, pad, dilation, groups)


def _case(kind, ndim, groups, path, g):
    """``(ours(x), theirs(x), theirs64(x), module or None)`` for one public conv: ``theirs`` is torch's conv
    with the same parameters (the dense kernel for a mixture or a tap set), ``theirs64`` that in float64."""
    C, k, d = 4, 5, 2
    cands = list(product((3, 5), (1, 2)))
    if kind == "DilatedConv":
        m = (DilatedConv1d if ndim == 1 else DilatedConv2d)(C, C, k, d, groups=groups, path=path)
        pad = d * (k - 1) // 2
        return (m, lambda x: _conv(x, m.weight, m.bias, pad, d, groups),
                lambda x: _conv(x, m.weight.double(), m.bias.double(), pad, d, groups), m)
    if kind == "MixedDilatedConv":
        m = MixedDilatedConv(ndim, C, C, (3, 5), (1, 2), groups=groups, path=path)
        with torch.no_grad():
            m.bias.normal_(generator=g)
        a = torch.softmax(torch.randn(len(m.candidates), generator=g), 0)
        dense = _dense(m.candidates, [w.detach() for w in m.weights], a, ndim)
        pad = dense.shape[-1] // 2
        return (lambda x: m(x, a), lambda x: _conv(x, dense, m.bias, pad, 1, groups),
                lambda x: _conv(x, dense.double(), m.bias.double(), pad, 1, groups), m)
    w = torch.randn((C, C // groups) + (k,) * ndim, generator=g)
    b = torch.randn(C, generator=g)
    if kind == "dilated_conv":
        pad = d * (k - 1) // 2
        return (lambda x: dilated_conv(x, w, b, d, groups, path=path), lambda x: _conv(x, w, b, pad, d, groups),
                lambda x: _conv(x, w.double(), b.double(), pad, d, groups), None)
    if kind == "mixed_dilated_conv":
        ws = [torch.randn((C, C // groups) + (kk,) * ndim, generator=g) for kk, _ in cands]
        a = torch.softmax(torch.randn(len(cands), generator=g), 0)
        dense = _dense(cands, ws, a, ndim)
        pad = dense.shape[-1] // 2
        return (lambda x: mixed_dilated_conv(x, ws, a, cands, groups, path=path),
                lambda x: _conv(x, dense, None, pad, 1, groups),
                lambda x: _conv(x, dense.double(), None, pad, 1, groups), None)
    assert kind == "tap_conv"  # ``path`` names the tap backend here
    taps = [(-3,), (0,), (1,), (4,)] if ndim == 1 else [(-3, 1), (0, 0), (2, -2), (1, 3)]
    wt = torch.randn(C, C // groups, len(taps), generator=g)
    dense = wt.new_zeros(C, C // groups, *(9,) * ndim)
    for u, t in enumerate(taps):
        dense[(slice(None), slice(None)) + tuple(o + 4 for o in t)] = wt[:, :, u]
    return (lambda x: tap_conv(x, wt, taps, groups, path), lambda x: _conv(x, dense, None, 4, 1, groups),
            lambda x: _conv(x, dense.double(), None, 4, 1, groups), None)


def _relerr(a, ref):
    return ((a.double() - ref).abs().max() / ref.abs().max()).item()


KINDS = ("DilatedConv", "MixedDilatedConv", "dilated_conv", "mixed_dilated_conv")
CASES = ([(kind, ndim, groups, path) for kind in KINDS
          for ndim in (1, 2) for groups, path in ((1, "native"), (1, "tap"), (1, "fft"), (4, "native"), (4, "tap"))]
         + [("tap_conv", ndim, groups, be) for ndim in (1, 2) for groups, be in
            ((1, "auto"), (1, "shift"), (1, "fft"), (4, "auto"), (4, "shift"))])


@pytest.mark.parametrize("kind,ndim,groups,path", CASES)
def test_convs_follow_cpu_autocast_like_torch(kind, ndim, groups, path, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    ours, theirs, theirs64, module = _case(kind, ndim, groups, path, g)
    x = torch.randn((3, 4) + ((37,) if ndim == 1 else (11, 10)), generator=g)
    ref = theirs64(x.double()).detach()
    what = f"{kind} {ndim}-D groups={groups} {path} (seed {seed})"

    y32, t32 = ours(x), theirs(x)
    assert y32.dtype == t32.dtype == torch.float32, what
    assert _relerr(y32, ref) <= 1e-5, what

    with torch.autocast("cpu", dtype=torch.bfloat16):
        y, t = ours(x), theirs(x)
        assert y.dtype == t.dtype == torch.bfloat16, what
        err, bound = _relerr(y, ref), 2 * _relerr(t, ref) + 4 * BF16_EPS
        assert err <= bound, f"{what}: rel err {err:.2e} > {bound:.2e}"
        if module is not None:  # parameters and their gradients stay float32, as nn.Conv's
            y.float().square().mean().backward()
            assert all(p.grad is not None and p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all()
                       for p in module.parameters()), what
