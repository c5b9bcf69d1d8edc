"""The conv kernels as registered PyTorch ops: opcheck for every op, gradients (first and second order)
against float64 finite differences, torch.compile(fullgraph=True) of a DASH supernet and of a retrain
net equal to eager (forward and every gradient), torch.export, and shape propagation under
FakeTensorMode and on the meta device -- neither can read tensor data, so the ops (offsets, live taps,
index tensors) provably never read data on the host. Triton ops run in the interpreter (tiny shapes)."""
from __future__ import annotations

import os

import pytest
import torch
from torch._subclasses.fake_tensor import FakeTensorMode

from autofast.dash.supernet import MixedFactory
from autofast.kernels.conv import MixedDilatedConv, tap_conv, tap_union
from autofast.kernels.conv.taps import flat_taps
from autofast.models import build_backbone, fixed_factory

HOST = torch.ops.autofast.tap_conv.default
HOST_WGRAD = torch.ops.autofast.tap_conv_wgrad.default
TRITON_OK = os.environ.get("TRITON_INTERPRET") == "1" or torch.cuda.is_available()

# a small union with taps beyond the 1-D input (|offset| >= 11 is dead at L = 11) and a 2-D one
UNION_1D = tap_union(((3, 1), (3, 4), (5, 3)), 1)
UNION_2D = tap_union(((3, 1), (3, 2)), 2)


def _inputs(seed: int, ndim: int, groups: int, dtype=torch.float64, length: int = 11):
    g = torch.Generator().manual_seed(seed)
    union = UNION_1D if ndim == 1 else UNION_2D
    S = (length,) if ndim == 1 else (5, 6)
    C = 4
    x = torch.randn(2, C, *S, generator=g, dtype=dtype, requires_grad=True)
    w = torch.randn(C, C // groups, union.size, generator=g, dtype=dtype, requires_grad=True)
    go = torch.randn(2, C, *S, generator=g, dtype=dtype, requires_grad=True)
    return x, w, go, flat_taps(union.taps)


@pytest.mark.parametrize("backend", ["shift", "fft", "reference", "cpu"])
@pytest.mark.parametrize("ndim,groups", [(1, 1), (1, 4), (2, 1), (2, 4)])
def test_opcheck_host_ops(backend, ndim, groups, seed):
    if backend == "fft" and groups != 1:
        pytest.skip("fft is for dense convs")
    if backend == "cpu" and (ndim, groups) == (2, 1):
        pytest.skip("dense cpu is shift/fft, covered above")
    x, w, go, offs = _inputs(seed, ndim, groups)
    torch.library.opcheck(HOST, (x, w, offs, groups, backend))
    torch.library.opcheck(HOST_WGRAD, (x, go, offs, groups, backend))


@pytest.mark.skipif(not TRITON_OK, reason="triton needs CUDA or TRITON_INTERPRET=1")
@pytest.mark.parametrize("groups", [1, 4])
def test_opcheck_triton_ops(groups, seed):
    import autofast.kernels.conv.tap_conv_triton  # noqa: F401  (registers the triton ops)

    dev = "cuda" if torch.cuda.is_available() else "cpu"  # the interpreter runs CPU tensors
    x, w, go = (t.detach().to(dev).requires_grad_() for t in _inputs(seed, 1, groups, torch.float32)[:3])
    offs = _inputs(seed, 1, groups)[3]
    torch.library.opcheck(torch.ops.autofast.tap_conv_triton.default, (x, w, offs, groups))
    torch.library.opcheck(torch.ops.autofast.tap_conv_wgrad_triton.default, (x, go, offs, groups))


@pytest.mark.parametrize("groups", [1, 4])
def test_registered_gradients_and_double_backward(groups, seed):
    """The registered autograd formulas (dx, dw; and the wgrad op's own, for double backward) against
    float64 finite differences."""
    x, w, _, offs = _inputs(seed, 1, groups, length=9)
    taps = UNION_1D.taps
    fn = lambda a, b: tap_conv(a, b, taps, groups, "shift")  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x, w))
    assert torch.autograd.gradgradcheck(fn, (x, w))


def _supernet(dtype=torch.float64):
    return _as(build_backbone("resnet1d", 1, 4, 3, 8, factory=MixedFactory((3, 5, 7), (1, 3))), dtype)


def _retrain_net(dtype=torch.float64):
    return _as(build_backbone("resnet1d", 1, 4, 3, 8, factory=fixed_factory([(5, 3), (7, 1), (3, 3)] * 3 + [(5, 1)]),
                              dropout=0.1), dtype)


def _as(model, dtype):
    return model if dtype == torch.float32 else model.to(dtype)  # (a fake ParameterList cannot be converted)


def _fwd_bwd(call, model, x, seed):
    torch.manual_seed(seed)  # the same Gumbel / dropout noise in both runs
    model.zero_grad(set_to_none=True)
    out = call(x)
    out.square().sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("which,conv_path,dynamic", [("supernet", "auto", False), ("retrain", "auto", False),
                                                     ("retrain", "tap", False), ("supernet", "auto", True)])
@pytest.mark.filterwarnings("error:Dynamo detected a call to a `functools.lru_cache`:UserWarning")  # no cache traced
def test_compile_fullgraph_equals_eager(which, conv_path, dynamic, seed, monkeypatch):
    """One graph (no breaks), AOT-autograd through the registered ops, static and dynamic shapes; forward
    and every parameter gradient equal eager in training mode (Gumbel noise, dropout)."""
    monkeypatch.setenv("AUTOFAST_CONV_PATH", conv_path)
    torch.manual_seed(seed)
    model = (_supernet if which == "supernet" else _retrain_net)().train()
    x = torch.randn(4, 4, 40, dtype=torch.float64)
    y0, g0 = _fwd_bwd(model, model, x, seed)
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager", dynamic=dynamic)
    y1, g1 = _fwd_bwd(compiled, model, x, seed)
    torch.testing.assert_close(y1, y0, rtol=1e-10, atol=1e-12, msg=f"seed {seed}")
    assert g1.keys() == g0.keys() and len(g0) > 10
    for n in g0:
        torch.testing.assert_close(g1[n], g0[n], rtol=1e-9, atol=1e-11, msg=f"{n} seed {seed}")


def test_inductor_compiles_a_mixed_layer(seed):
    """The default backend (Inductor) around the opaque host op: forward and gradients equal eager."""
    torch.manual_seed(seed)
    layer = MixedDilatedConv(1, 4, 4, (3, 5), (1, 3), groups=4, path="tap")
    x = torch.randn(2, 4, 24, requires_grad=True)
    a = torch.softmax(torch.randn(4), 0)
    y0 = layer(x, a)
    g0 = torch.autograd.grad(y0.square().sum(), [x, *layer.parameters()])
    y1 = torch.compile(layer, fullgraph=True)(x, a)
    g1 = torch.autograd.grad(y1.square().sum(), [x, *layer.parameters()])
    torch.testing.assert_close(y1, y0, msg=f"seed {seed}")
    for a_, b_ in zip(g1, g0):
        torch.testing.assert_close(a_, b_, msg=f"seed {seed}")


def test_export_supernet_keeps_the_registered_op(seed):
    torch.manual_seed(seed)
    model = _supernet().eval()
    x = torch.randn(3, 4, 40, dtype=torch.float64)
    ep = torch.export.export(model, (x,))
    targets = {str(n.target) for n in ep.graph.nodes}
    assert "autofast.tap_conv.default" in targets, sorted(targets)
    torch.testing.assert_close(ep.module()(x), model(x), msg=f"seed {seed}")


@pytest.mark.parametrize("device", ["meta", "fake"])
@pytest.mark.parametrize("which", ["supernet", "retrain"])
def test_shape_propagation_without_data(device, which, monkeypatch):
    """Forward and backward of whole nets on tensors that have no data: anything reading offsets, live
    taps or indices from tensor data (a host sync on CUDA) would raise here."""
    monkeypatch.setenv("AUTOFAST_CONV_PATH", "tap")  # the path under test: the registered ops
    build = _supernet if which == "supernet" else _retrain_net
    if device == "meta":
        model = build().to("meta")
        x = torch.randn(4, 4, 40, device="meta", dtype=torch.float64)
        y = model(x)
        y.sum().backward()
    else:
        with FakeTensorMode():
            model = build(torch.float32)
            y = model(torch.randn(4, 4, 40))
            y.sum().backward()
    assert tuple(y.shape) == (4, 3)
    assert all(p.grad is not None and p.grad.shape == p.shape for p in model.parameters())


def test_ops_under_fake_mode_check_shapes():
    with FakeTensorMode():
        x = torch.randn(2, 4, 11)
        y = HOST(x, torch.randn(6, 4, UNION_1D.size), flat_taps(UNION_1D.taps), 1, "auto")
        assert tuple(y.shape) == (2, 6, 11)
        gw = HOST_WGRAD(x, torch.randn(2, 6, 11), flat_taps(UNION_1D.taps), 1, "auto")
        assert tuple(gw.shape) == (6, 4, UNION_1D.size)
        with pytest.raises(ValueError, match="w must be"):
            HOST(x, torch.randn(6, 3, UNION_1D.size), flat_taps(UNION_1D.taps), 1, "auto")

