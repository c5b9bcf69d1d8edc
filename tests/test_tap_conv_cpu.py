"""The C++ CPU tap convolution (autofast._C via kernels/conv/tap_conv_cpu.py) against the float64
torch references (tap_conv_ref / tap_conv_wgrad_ref). Every SIMD variant the CPU supports is checked.
Seeds are fresh per test (the `seed` fixture prints them; replay with AUTOFAST_TEST_SEED=...)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

from autofast.kernels.conv import tap_conv_cpu as tcc
from autofast.kernels.conv.reference import tap_conv_ref, tap_conv_wgrad_ref
from autofast.kernels.conv.taps import dilated_offsets, tap_union


def test_available_is_false_without_extension(monkeypatch):
    """No extension: available() is False and the wrappers raise a clear RuntimeError."""
    monkeypatch.setattr(tcc, "_C", None)
    assert tcc.available() is False
    assert tcc.simd_level() == "unavailable"
    with pytest.raises(RuntimeError, match="not built"):
        tcc.depthwise_fwd(torch.zeros(1, 1, 4), torch.zeros(1, 1), torch.zeros(1, 1, dtype=torch.int64))


if not tcc.available():
    pytest.skip("the autofast._C extension is not built (torch fallback in use)", allow_module_level=True)

from autofast import _C  # noqa: E402

DASH2 = tuple((k, d) for k in (3, 5, 7, 9) for d in (1, 3, 7, 15))  # 313 taps, radius 60
DASH1 = tuple((k, d) for k in (3, 7, 11, 15, 19) for d in (1, 3, 7, 15))  # 61 taps, radius 135
LEVELS = [lv for lv in ("baseline", "avx2", "avx512")
          if ("baseline", "avx2", "avx512").index(lv) <= ("baseline", "avx2", "avx512").index(_C.hardware_simd_level())]


@pytest.fixture
def each_level():
    """Iterate over the SIMD variants this CPU supports, restoring the original afterwards."""
    original = _C.simd_level()

    def gen():
        for lv in LEVELS:
            _C.set_simd_level(lv)
            yield lv

    yield gen
    _C.set_simd_level(original)


def offsets_for(spec, ndim: int) -> torch.Tensor:
    if spec == "dash":
        return tap_union(DASH2 if ndim == 2 else DASH1, ndim).offsets
    k, d = spec
    return torch.tensor(dilated_offsets(k, d, ndim), dtype=torch.int64).reshape(-1, ndim)


def refs(x, w, g, offs):
    """float64 forward, weight gradient and input gradient (by autograd) of the reference."""
    C = x.shape[1]
    xr = x.double().clone().requires_grad_()
    y = tap_conv_ref(xr, w.double()[:, None], offs, groups=C)
    y.backward(g.double())
    gw = tap_conv_wgrad_ref(x.double(), g.double(), offs, groups=C)[:, 0]
    return y.detach(), gw, xr.grad


def rand(gen, *shape, dtype=torch.float64):
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)


def max_err(a, b) -> float:
    return (a.double() - b.double()).abs().max().item() if a.numel() else 0.0


CASES_1D = [
    # (B, C, L, offsets spec)
    (2, 3, 1000, "dash"),
    (3, 2, 257, "dash"),
    (2, 3, 64, "dash"),   # most dash taps wider than the input
    (1, 4, 37, "dash"),
    (2, 2, 2, "dash"),
    (2, 1, 1, "dash"),
    (2, 3, 100, (5, 3)),
    (1, 2, 16, (19, 15)),  # taps up to 135 apart on 16 samples
    (2, 2, 7, (3, 1)),
]
CASES_2D = [
    # (B, C, H, W, offsets spec)
    (2, 3, 32, 32, "dash"),
    (2, 2, 17, 6, "dash"),
    (1, 3, 5, 40, "dash"),
    (2, 2, 16, 16, "dash"),
    (1, 2, 33, 20, "dash"),
    (2, 2, 1, 1, "dash"),
    (2, 3, 9, 64, (9, 15)),
    (2, 2, 12, 13, (3, 1)),
    (1, 2, 8, 30, (7, 7)),
]


def _check_f64(seed, x_shape, spec, each_level):
    gen = torch.Generator().manual_seed(seed)
    ndim = len(x_shape) - 2
    offs = offsets_for(spec, ndim)
    C = x_shape[1]
    x, g, w = rand(gen, *x_shape), rand(gen, *x_shape), rand(gen, C, offs.shape[0])
    y_ref, gw_ref, gx_ref = refs(x, w, g, offs)
    scale_y = max(1.0, y_ref.abs().max().item())
    scale_w = max(1.0, gw_ref.abs().max().item())
    for lv in each_level():
        msg = f"seed={seed} level={lv} x={tuple(x_shape)} offsets={spec}"
        y = tcc.depthwise_fwd(x, w, offs)
        gw = tcc.depthwise_wgrad(x, g, offs)
        gx = tcc.depthwise_dgrad(g, w, offs)
        assert y.shape == x.shape and y.dtype == torch.float64, msg
        assert gw.shape == (C, offs.shape[0]), msg
        assert max_err(y, y_ref) <= 1e-12 * scale_y, f"fwd {msg}: err {max_err(y, y_ref)}"
        assert max_err(gx, gx_ref) <= 1e-12 * scale_y, f"dgrad {msg}: err {max_err(gx, gx_ref)}"
        assert max_err(gw, gw_ref) <= 1e-12 * scale_w, f"wgrad {msg}: err {max_err(gw, gw_ref)}"


@pytest.mark.parametrize("case", CASES_1D, ids=lambda c: f"{c[:3]}-{c[3]}")
def test_float64_1d(seed, case, each_level):
    B, C, L, spec = case
    _check_f64(seed, (B, C, L), spec, each_level)


@pytest.mark.parametrize("case", CASES_2D, ids=lambda c: f"{c[:4]}-{c[4]}")
def test_float64_2d(seed, case, each_level):
    B, C, H, W, spec = case
    _check_f64(seed, (B, C, H, W), spec, each_level)


@pytest.mark.parametrize(
    "x_shape,spec",
    [((3, 4, 1000), "dash"), ((2, 3, 50), (7, 3)), ((2, 3, 32, 32), "dash"), ((2, 2, 19, 24), (5, 7))],
    ids=str,
)
def test_float32_error_bound(seed, x_shape, spec, each_level):
    """float32 error vs the float64 reference at most 2x that of torch's own float32 conv, plus slack."""
    gen = torch.Generator().manual_seed(seed)
    ndim = len(x_shape) - 2
    offs = offsets_for(spec, ndim)
    C = x_shape[1]
    x64, g64, w64 = rand(gen, *x_shape), rand(gen, *x_shape), rand(gen, C, offs.shape[0])
    x, g, w = x64.float(), g64.float(), w64.float()
    # reference on the float32-rounded inputs, in float64
    y_ref, gw_ref, gx_ref = refs(x, w, g, offs)
    # torch's own float32 error on the same inputs
    xt = x.clone().requires_grad_()
    yt = tap_conv_ref(xt, w[:, None], offs, groups=C)
    yt.backward(g)
    gwt = tap_conv_wgrad_ref(x, g, offs, groups=C)[:, 0]
    eps = torch.finfo(torch.float32).eps
    slack = lambda ref: 8 * eps * max(1.0, ref.abs().max().item())  # noqa: E731
    bounds = {
        "fwd": 2 * max_err(yt, y_ref) + slack(y_ref),
        "dgrad": 2 * max_err(xt.grad, gx_ref) + slack(gx_ref),
        "wgrad": 2 * max_err(gwt, gw_ref) + slack(gw_ref),
    }
    for lv in each_level():
        msg = f"seed={seed} level={lv} x={tuple(x_shape)} offsets={spec}"
        got = {
            "fwd": (tcc.depthwise_fwd(x, w, offs), y_ref),
            "dgrad": (tcc.depthwise_dgrad(g, w, offs), gx_ref),
            "wgrad": (tcc.depthwise_wgrad(x, g, offs), gw_ref),
        }
        for name, (val, ref) in got.items():
            assert val.dtype == torch.float32, msg
            err = max_err(val, ref)
            assert err <= bounds[name], f"{name} {msg}: err {err:.3g} > bound {bounds[name]:.3g}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("x_shape", [(2, 3, 45), (2, 3, 32, 32), (1, 2, 7, 9)], ids=str)
def test_poisoned_outputs_are_fully_written(seed, x_shape, dtype, each_level, monkeypatch):
    """NaN-filled destinations: every element must be overwritten (both the raw extension call and
    the wrappers with torch.empty returning NaN)."""
    gen = torch.Generator().manual_seed(seed)
    ndim = len(x_shape) - 2
    offs = offsets_for("dash", ndim)
    C, U = x_shape[1], offs.shape[0]
    x, g, w = rand(gen, *x_shape, dtype=dtype), rand(gen, *x_shape, dtype=dtype), rand(gen, C, U, dtype=dtype)
    y_ref, gw_ref, _ = refs(x, w, g, offs)
    tol = 1e-4 if dtype == torch.float32 else 1e-11
    real_empty = torch.empty

    def nan_empty(*args, **kwargs):
        return real_empty(*args, **kwargs).fill_(float("nan"))

    for lv in each_level():
        msg = f"seed={seed} level={lv} x={x_shape} {dtype}"
        out = torch.full(x_shape, float("nan"), dtype=dtype)
        _C.depthwise_fwd(x.numpy(), w.numpy(), offs.numpy(), out.numpy())
        assert not out.isnan().any(), msg
        assert max_err(out, y_ref) <= tol * max(1.0, y_ref.abs().max().item()), msg
        gout = torch.full((C, U), float("nan"), dtype=dtype)
        _C.depthwise_wgrad(x.numpy(), g.numpy(), offs.numpy(), gout.numpy())
        assert not gout.isnan().any(), msg
        assert max_err(gout, gw_ref) <= tol * max(1.0, gw_ref.abs().max().item()), msg
        with monkeypatch.context() as m:
            m.setattr(torch, "empty", nan_empty)
            y = tcc.depthwise_fwd(x, w, offs)
            gw = tcc.depthwise_wgrad(x, g, offs)
        assert not y.isnan().any() and not gw.isnan().any(), msg


def test_only_dead_taps_and_no_taps(seed, each_level):
    """Taps that all lie outside the input give exact zeros; so does an empty tap set."""
    gen = torch.Generator().manual_seed(seed)
    x, g = rand(gen, 2, 3, 6, 5), rand(gen, 2, 3, 6, 5)
    far = torch.tensor([[6, 0], [0, -5], [-100, 100], [2**40, 3]], dtype=torch.int64)
    none = torch.zeros(0, 2, dtype=torch.int64)
    for lv in each_level():
        msg = f"seed={seed} level={lv}"
        for offs in (far, none):
            w = rand(gen, 3, offs.shape[0])
            assert torch.equal(tcc.depthwise_fwd(x, w, offs), torch.zeros_like(x)), msg
            assert torch.equal(tcc.depthwise_wgrad(x, g, offs), torch.zeros(3, offs.shape[0], dtype=x.dtype)), msg


def test_irregular_offsets(seed, each_level):
    """Unsorted, duplicated, one-sided and partly out-of-range taps (duplicates add up)."""
    gen = torch.Generator().manual_seed(seed)
    offs1 = torch.tensor([[5], [-3], [5], [0], [40], [-39], [17], [-1000]], dtype=torch.int64)
    offs2 = torch.tensor([[2, 3], [0, 0], [2, 3], [-7, 1], [0, 11], [9, -9], [1, 0], [-12, 0]], dtype=torch.int64)
    for offs, shape in ((offs1, (3, 2, 40)), (offs2, (2, 3, 10, 12))):
        x, g = rand(gen, *shape), rand(gen, *shape)
        w = rand(gen, shape[1], offs.shape[0])
        y_ref, gw_ref, gx_ref = refs(x, w, g, offs)
        for lv in each_level():
            msg = f"seed={seed} level={lv} x={shape}"
            assert max_err(tcc.depthwise_fwd(x, w, offs), y_ref) < 1e-12, msg
            assert max_err(tcc.depthwise_wgrad(x, g, offs), gw_ref) < 1e-11, msg
            assert max_err(tcc.depthwise_dgrad(g, w, offs), gx_ref) < 1e-12, msg


def test_many_channels_and_batch_chunks(seed, each_level):
    """wgrad's two work splits: many channels (one chunk) and few channels (batch chunks)."""
    gen = torch.Generator().manual_seed(seed)
    offs = offsets_for((5, 2), 1)
    for shape in ((2, 70, 33), (41, 2, 33), (9, 1, 8, 8)):
        offs_n = offs if len(shape) == 3 else offsets_for((3, 2), 2)
        x, g = rand(gen, *shape), rand(gen, *shape)
        w = rand(gen, shape[1], offs_n.shape[0])
        y_ref, gw_ref, _ = refs(x, w, g, offs_n)
        for lv in each_level():
            msg = f"seed={seed} level={lv} x={shape}"
            assert max_err(tcc.depthwise_fwd(x, w, offs_n), y_ref) < 1e-12, msg
            assert max_err(tcc.depthwise_wgrad(x, g, offs_n), gw_ref) < 1e-10, msg


def test_wrappers_accept_views_and_grad_tensors(seed):
    gen = torch.Generator().manual_seed(seed)
    offs = offsets_for((3, 2), 2)
    base = rand(gen, 2, 3, 12, 10).float()
    x = base.transpose(2, 3)  # non-contiguous (2, 3, 10, 12)
    w = rand(gen, 3, offs.shape[0]).float().requires_grad_()
    y = tcc.depthwise_fwd(x, w, offs.to(torch.int32))
    y_ref = tap_conv_ref(x.double(), w.detach().double()[:, None], offs, groups=3)
    assert max_err(y, y_ref) < 1e-4, f"seed={seed}"
    assert not y.requires_grad


def test_deterministic_and_thread_count_independent(seed):
    """Bitwise-equal results across repeated calls and across OpenMP thread counts (subprocesses)."""
    script = textwrap.dedent(
        f"""
        import hashlib, torch
        from autofast.kernels.conv import tap_conv_cpu as tcc
        from autofast.kernels.conv.taps import tap_union
        gen = torch.Generator().manual_seed({seed})
        h = hashlib.sha256()
        for ndim, shape, cands in ((2, (3, 5, 20, 20), {DASH2!r}), (1, (7, 3, 300), {DASH1!r})):
            offs = tap_union(cands, ndim).offsets
            x = torch.randn(*shape, generator=gen); g = torch.randn(*shape, generator=gen)
            w = torch.randn(shape[1], offs.shape[0], generator=gen)
            for t in (tcc.depthwise_fwd(x, w, offs), tcc.depthwise_wgrad(x, g, offs)):
                h.update(t.numpy().tobytes())
        print(h.hexdigest())
        """
    )
    digests = []
    for threads in ("1", "2", "3"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        res = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr
        digests.append(res.stdout.strip())
    assert len(set(digests)) == 1, f"seed={seed}: results depend on the thread count: {digests}"

    gen = torch.Generator().manual_seed(seed)
    offs = offsets_for("dash", 2)
    x, g = torch.randn(4, 3, 16, 16, generator=gen), torch.randn(4, 3, 16, 16, generator=gen)
    first = tcc.depthwise_wgrad(x, g, offs)
    for _ in range(3):
        assert torch.equal(tcc.depthwise_wgrad(x, g, offs), first), f"seed={seed}"


def test_validation_errors():
    import numpy as np

    offs = np.zeros((3, 1), dtype=np.int64)
    x = np.zeros((2, 4, 10), dtype=np.float32)
    w = np.zeros((4, 3), dtype=np.float32)
    out = np.zeros_like(x)
    _C.depthwise_fwd(x, w, offs, out)  # the valid call
    bad = [
        (dict(x=x.astype(np.float16)), "float32 or float64"),
        (dict(x=np.zeros((2, 4), dtype=np.float32)), "must be \\(B, C, L\\)"),
        (dict(w=w.astype(np.float64)), "w dtype"),
        (dict(w=np.zeros((4, 2), dtype=np.float32)), "w must be \\(C, U\\)"),
        (dict(offsets=offs.astype(np.int32)), "offsets must be int64"),
        (dict(offsets=np.zeros((3, 2), dtype=np.int64)), "offsets must be \\(U, 1\\)"),
        (dict(out=np.zeros((2, 4, 11), dtype=np.float32)), "out shape"),
        (dict(out=np.zeros((2, 4, 20), dtype=np.float32)[:, :, ::2]), "C-contiguous"),
        (dict(x=np.zeros((2, 4, 20), dtype=np.float32)[:, :, ::2]), "C-contiguous"),
        (dict(out=x), "must not overlap"),
        (dict(out=[0.0]), "numpy.ndarray"),
    ]
    for change, pattern in bad:
        args = dict(x=x, w=w, offsets=offs, out=out) | change
        with pytest.raises(ValueError, match=pattern):
            _C.depthwise_fwd(**args)
    ro = np.zeros_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _C.depthwise_fwd(x, w, offs, ro)
    gw = np.zeros((4, 3), dtype=np.float32)
    _C.depthwise_wgrad(x, x.copy(), offs, gw)
    with pytest.raises(ValueError, match="grad_out shape"):
        _C.depthwise_wgrad(x, np.zeros((2, 4, 9), dtype=np.float32), offs, gw)
    with pytest.raises(ValueError, match="out must be \\(C, U\\)"):
        _C.depthwise_wgrad(x, x.copy(), offs, np.zeros((4, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="unknown SIMD level"):
        _C.set_simd_level("sse9")
    # wrapper-level checks
    with pytest.raises(ValueError, match="w must be"):
        tcc.depthwise_fwd(torch.zeros(2, 4, 10), torch.zeros(3, 3), torch.zeros(3, 1, dtype=torch.int64))
    with pytest.raises(ValueError, match="float32 or float64"):
        tcc.depthwise_fwd(torch.zeros(2, 4, 10, dtype=torch.int32), torch.zeros(4, 3), torch.zeros(3, 1, dtype=torch.int64))
    with pytest.raises(ValueError, match="offsets must be"):
        tcc.depthwise_wgrad(torch.zeros(2, 4, 10), torch.zeros(2, 4, 10), torch.zeros(3, 2, dtype=torch.int64))
