"""dilated_conv and mixed_dilated_conv against plain torch (float64), forward and every gradient,
on every CPU-reachable backend (triton runs here in the interpreter, with tiny shapes)."""
import os
from itertools import product

import pytest
import torch
import torch.nn.functional as F

from autofast.kernels.conv import (
    DilatedConv1d, DilatedConv2d, MixedDilatedConv, dilated_conv, mixed_dilated_conv, tap_union,
)
from autofast.kernels.conv.reference import dense_kernel
from autofast.kernels.conv.tap_conv import resolve_backend

DASH_1D = list(product((3, 7, 11, 15, 19), (1, 3, 7, 15)))
DASH_2D = list(product((3, 5, 7, 9), (1, 3, 7, 15)))


def backends():
    out = ["shift", "fft", "reference"]
    from autofast.kernels.conv import tap_conv_cpu

    if getattr(tap_conv_cpu, "available", lambda: False)():
        out.append("cpu")
    if os.environ.get("TRITON_INTERPRET") == "1" or torch.cuda.is_available():
        import importlib.util

        if importlib.util.find_spec("autofast.kernels.conv.tap_conv_triton") is not None:
            out.append("triton")
    return out


def device_of(backend: str) -> torch.device:
    """Triton runs on CUDA where there is a device (its CPU interpreter only without one)."""
    return torch.device("cuda" if backend == "triton" and torch.cuda.is_available() else "cpu")


def leaf(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    return t.detach().to(device).requires_grad_(t.requires_grad)


def explicit_mixture(x, weights, a, cands, groups):
    conv = F.conv1d if x.dim() == 3 else F.conv2d
    return sum(a[c] * conv(x, w, padding=d * (k - 1) // 2, dilation=d, groups=groups)
               for c, ((k, d), w) in enumerate(zip(cands, weights)))


def test_dash_tap_unions_have_the_documented_sizes():
    assert (tap_union(tuple(DASH_2D), 2).size, tap_union(tuple(DASH_2D), 2).radius) == (313, 60)
    assert (tap_union(tuple(DASH_1D), 1).size, tap_union(tuple(DASH_1D), 1).radius) == (61, 135)
    assert tap_union(tuple(product((3, 5, 7, 9, 11), (1, 3, 5, 7))), 1).size == 35


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("ndim,shape,k,d,groups", [
    (1, (2, 3, 37), 5, 3, 1), (1, (2, 4, 40), 7, 2, 4), (1, (1, 4, 9), 19, 15, 4),
    (2, (2, 3, 9, 12), 3, 2, 1), (2, (2, 4, 11, 10), 5, 3, 4), (2, (1, 2, 6, 7), 9, 7, 2),
])
def test_dilated_conv_forward_and_grads(backend, ndim, shape, k, d, groups, seed):
    if backend == "fft" and groups != 1:
        pytest.skip("fft backend is for dense convs")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    C = shape[1]
    w = torch.randn((C, C // groups) + (k,) * ndim, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(C, generator=g, dtype=torch.float64, requires_grad=True)
    x, w, b = (leaf(t, device_of(backend)) for t in (x, w, b))
    conv = F.conv1d if ndim == 1 else F.conv2d
    ref = conv(x, w, b, padding=d * (k - 1) // 2, dilation=d, groups=groups)
    y = dilated_conv(x, w, b, d, groups, backend=backend)
    torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10, msg=f"seed {seed}")
    go = torch.randn(ref.shape, generator=g, dtype=torch.float64).to(x.device)
    grads = torch.autograd.grad(y, (x, w, b), go)
    refs = torch.autograd.grad(ref, (x, w, b), go)
    for name, a_, r_ in zip("xwb", grads, refs):
        torch.testing.assert_close(a_, r_, rtol=1e-10, atol=1e-10, msg=f"grad {name} seed {seed}")


@pytest.mark.parametrize("backend", backends())
@pytest.mark.parametrize("ndim,shape,cands,groups", [
    (1, (2, 4, 41), DASH_1D[::3], 4), (1, (2, 3, 30), [(3, 1), (5, 2), (7, 3)], 1),
    (1, (1, 2, 300), DASH_1D, 2),
    (2, (2, 4, 9, 10), DASH_2D[::4], 4), (2, (1, 3, 8, 7), [(3, 1), (3, 3), (5, 2)], 1),
    (2, (1, 2, 33, 31), DASH_2D, 2),
])
def test_mixed_conv_equals_explicit_sum(backend, ndim, shape, cands, groups, seed):
    if backend == "fft" and groups != 1:
        pytest.skip("fft backend is for dense convs")
    if backend in ("triton", "reference") and shape[-1] >= 31 and ndim == 2:
        pytest.skip("full 2-D DASH union is too slow for the interpreter / dense reference here")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    C = shape[1]
    ws = [torch.randn((C, C // groups) + (k,) * ndim, generator=g, dtype=torch.float64, requires_grad=True)
          for k, _ in cands]
    a = torch.softmax(torch.randn(len(cands), generator=g, dtype=torch.float64), 0).requires_grad_()
    x, a, *ws = (leaf(t, device_of(backend)) for t in (x, a, *ws))
    ref = explicit_mixture(x, ws, a, cands, groups)
    y = mixed_dilated_conv(x, ws, a, cands, groups, backend=backend)
    torch.testing.assert_close(y, ref, rtol=1e-10, atol=1e-10, msg=f"seed {seed}")
    go = torch.randn(ref.shape, generator=g, dtype=torch.float64).to(x.device)
    got = torch.autograd.grad(y, [x, a, *ws], go)
    want = torch.autograd.grad(ref, [x, a, *ws], go)
    for i, (u, v) in enumerate(zip(got, want)):
        torch.testing.assert_close(u, v, rtol=1e-9, atol=1e-9, msg=f"grad #{i} seed {seed}")


@pytest.mark.parametrize("backend", ["shift", "reference"])
def test_gradcheck_tiny(backend):
    x = torch.randn(1, 2, 7, 6, dtype=torch.float64, requires_grad=True)
    ws = [torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True),
          torch.randn(2, 1, 5, 5, dtype=torch.float64, requires_grad=True)]
    a = torch.tensor([0.3, 0.7], dtype=torch.float64, requires_grad=True)
    f = lambda x, a, w0, w1: mixed_dilated_conv(x, [w0, w1], a, [(3, 2), (5, 1)], groups=2, backend=backend)  # noqa
    assert torch.autograd.gradcheck(f, (x, a, *ws))
    w = torch.randn(3, 2, 3, dtype=torch.float64, requires_grad=True)
    x1 = torch.randn(2, 2, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, w: dilated_conv(x, w, None, 3, 1, backend), (x1, w))


def test_float32_error_is_within_twice_torch_error(seed):
    g = torch.Generator().manual_seed(seed)
    x64 = torch.randn(2, 8, 64, generator=g, dtype=torch.float64)
    ws64 = [torch.randn(8, 1, k, generator=g, dtype=torch.float64) / k for k, _ in DASH_1D]
    a64 = torch.softmax(torch.randn(len(DASH_1D), generator=g, dtype=torch.float64), 0)
    ref = explicit_mixture(x64, ws64, a64, DASH_1D, 8)
    torch32 = explicit_mixture(x64.float(), [w.float() for w in ws64], a64.float(), DASH_1D, 8).double()
    base = (torch32 - ref).abs().max().item()
    for backend in [b for b in backends() if b != "fft"]:
        dev = device_of(backend)
        ours = mixed_dilated_conv(x64.float().to(dev), [w.float().to(dev) for w in ws64], a64.float().to(dev),
                                  DASH_1D, 8, backend).double().cpu()
        assert (ours - ref).abs().max().item() <= 2 * base + 1e-6, f"{backend} seed {seed}"


def test_taps_outside_the_input_are_skipped_exactly():
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 1, 3, 3, dtype=torch.float64, requires_grad=True)
    y = dilated_conv(x, w, None, dilation=7, groups=2, backend="shift")  # only the centre tap is live
    torch.testing.assert_close(y, x * w[:, 0, 1, 1].view(1, 2, 1, 1))
    y.sum().backward()
    assert w.grad[:, :, 0, 0].abs().sum() == 0 and w.grad[:, :, 1, 1].abs().sum() > 0


def test_modules_and_dense_kernel_helper():
    m1 = DilatedConv1d(3, 5, kernel_size=7, dilation=2)
    assert m1(torch.randn(2, 3, 20)).shape == (2, 5, 20)
    m2 = DilatedConv2d(4, 4, kernel_size=3, dilation=3, groups=4)
    assert m2(torch.randn(1, 4, 9, 9)).shape == (1, 4, 9, 9)
    mm = MixedDilatedConv(2, 4, 4, kernel_sizes=(3, 5), dilations=(1, 2), groups=4)
    y = mm(torch.randn(2, 4, 8, 8), torch.tensor([0.1, 0.2, 0.3, 0.4]))
    assert y.shape == (2, 4, 8, 8) and len(mm.candidates) == 4
    u = tap_union(((3, 2),), 1)
    k = dense_kernel(torch.ones(1, 1, 3), u.offsets)
    assert k.flatten().tolist() == [1, 0, 1, 0, 1]


def test_bad_arguments_raise_clear_errors():
    x = torch.randn(1, 4, 10)
    with pytest.raises(ValueError, match="odd"):
        dilated_conv(x, torch.randn(4, 4, 4))
    with pytest.raises(ValueError, match="groups"):
        dilated_conv(x, torch.randn(4, 2, 3), groups=2)
    with pytest.raises(ValueError, match="one weight and one coefficient"):
        mixed_dilated_conv(x, [torch.randn(4, 4, 3)], torch.ones(2), [(3, 1), (5, 1)])
    with pytest.raises(ValueError, match="unknown conv backend"):
        resolve_backend(x, 1, "nope")
    with pytest.raises(ValueError, match="dense convs"):
        resolve_backend(x, 4, "fft")
    # the mixed conv: 'slice step cannot be zero', and groups=2 ran as a grouped native conv on 'auto'
    with pytest.raises(ValueError, match="stride must be >= 1"):
        mixed_dilated_conv(x, [torch.randn(4, 4, 3)], torch.ones(1), [(3, 1)], stride=0)
    with pytest.raises(ValueError, match="groups must be 1"):
        mixed_dilated_conv(x, [torch.randn(4, 2, 3)], torch.ones(1), [(3, 1)], groups=2)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")  # torch.func's own
@pytest.mark.parametrize("path", ["tap", "fft", "auto"])
def test_forward_mode_and_func_transforms_and_empty_batches(path):
    """jvp through the tap ops gave zero tangents (forward_ad: None) without a word, torch.func.grad a
    setup_context error, and an empty batch a reshape (or MKL) error on the tap and fft paths: such inputs take
    the native path. Tangents and gradients against F.conv1d in float64, on fresh random inputs."""
    from torch.autograd import forward_ad

    g = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
    x, w, tx, tw = (torch.randn(*s, dtype=torch.float64, generator=g) for s in ((2, 3, 17), (4, 3, 5)) * 2)
    ref = lambda x, w: F.conv1d(x, w, None, 1, 4, 2)  # noqa: E731
    ours = lambda x, w: dilated_conv(x, w, None, 2, path=path)  # noqa: E731
    torch.testing.assert_close(torch.func.jvp(ours, (x, w), (tx, tw))[1], torch.func.jvp(ref, (x, w), (tx, tw))[1])
    with forward_ad.dual_level():
        got = forward_ad.unpack_dual(ours(forward_ad.make_dual(x, tx), w)).tangent
    torch.testing.assert_close(got, ref(tx, w))
    loss = lambda f: lambda w: f(x, w).pow(2).sum()  # noqa: E731
    torch.testing.assert_close(torch.func.grad(loss(ours))(w), torch.func.grad(loss(ref))(w))
    assert dilated_conv(x[:0], w, None, 2, path=path).shape == (0, 4, 17)
    mixed = MixedDilatedConv(1, 3, 4, (3, 5), (1, 2), path=path)
    assert mixed(x[:0].float()).shape == (0, 4, 17)


def test_auto_dispatch_picks_fft_for_dense_large_unions_and_direct_otherwise():
    from autofast.kernels.conv.tap_conv import host_backend

    u = tap_union(tuple(DASH_1D), 1)
    x = torch.randn(2, 8, 600)
    assert host_backend(x, u.taps, 1, "auto")[0] == "fft"
    assert host_backend(x, tap_union(((3, 1),), 1).taps, 1, "auto")[0] == "shift"
    assert host_backend(x, u.taps, 8, "auto")[0] in ("cpu",)


def test_missing_extension_falls_back_with_one_warning(monkeypatch):
    import importlib
    import warnings

    tc = importlib.import_module("autofast.kernels.conv.tap_conv")

    monkeypatch.setattr(tc, "_cpu_ext", lambda: None)
    monkeypatch.setattr(tc, "_warned", set())
    x = torch.randn(1, 3, 20, dtype=torch.float64)
    w = torch.randn(3, 1, 5, dtype=torch.float64)
    ref = F.conv1d(x, w, padding=4, dilation=2, groups=3)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        for _ in range(3):
            torch.testing.assert_close(dilated_conv(x, w, None, 2, 3, backend="cpu"), ref)
    assert sum("not built" in str(r.message) for r in rec) == 1
