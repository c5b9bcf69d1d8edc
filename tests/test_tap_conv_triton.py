"""Triton tap-convolution kernels against the float64 torch references.

Without CUDA the kernels run in the Triton interpreter on the CPU (``TRITON_INTERPRET=1`` must be set
before triton is imported; tests/conftest.py and the top of this module do it).  Shapes are tiny: the
interpreter costs about a millisecond per program instance.  Every test draws fresh random inputs from
the ``seed`` fixture (printed, in every assertion message; ``AUTOFAST_TEST_SEED=...`` replays one).
Every buffer the module allocates through ``_empty`` is poisoned with NaN, so an element a kernel fails
to write shows up as NaN.

Tolerances: fp64 results must match the fp64 reference to ~1e-10 (relative to the output's max).  fp32
inputs are rounded to fp32 first and the fp64 reference is computed on the rounded values, so only the
arithmetic error is measured; it may be at most twice torch's own fp32 computation of the same quantity
(F.conv / its autograd / the einsum wgrad reference in fp32) plus a slack of two fp32 epsilons of the
output's max (the fp32 errors here are ~1e-7 of the max, dominated by the final rounding).
"""
from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import pytest  # noqa: E402

pytest.importorskip("triton")

from autofast.kernels.conv import tap_conv_triton as tc  # noqa: E402
from autofast.kernels.conv.reference import tap_conv_ref, tap_conv_wgrad_ref  # noqa: E402
from autofast.kernels.conv.taps import dilated_offsets, live_taps, tap_union  # noqa: E402

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
RTOL64 = 1e-10
EPS32 = torch.finfo(torch.float32).eps
# absolute slack, in units of max|reference|: on a GPU cuDNN's fp32 result can be several times more accurate
# than a tiled fp32 sum over Cin x taps (seen on an H200: ours 6.6e-7, cuDNN 1.8e-7 over 324 terms); 8 eps
# (~1e-6) still misses any wrong index or dropped term by orders of magnitude
SLACK32 = 8 * EPS32

pytestmark = pytest.mark.skipif(
    DEVICE.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1",
    reason="triton on the CPU needs TRITON_INTERPRET=1 before start-up",
)

DASH_K = (3, 5, 7, 9)
DASH_D = (1, 3, 7, 15)
DASH_ALL = tuple((k, d) for k in DASH_K for d in DASH_D)


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def poisoned(monkeypatch):
    """Replace the module's allocator by one that fills with NaN; returns the list of allocations."""
    calls: list[tuple[int, ...]] = []

    def _nan_empty(*shape: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        calls.append(tuple(shape))
        return torch.full(shape, float("nan"), dtype=dtype, device=device)

    monkeypatch.setattr(tc, "_empty", _nan_empty)
    return calls


def _offsets(taps: str, ndim: int) -> torch.Tensor:
    """Tap sets: a single dilated kernel, a DASH union (subset in 2-D, the full K x D union in 1-D,
    both with taps outside the input), and a wide dilated kernel with taps beyond the input."""
    if taps == "dilated":
        return torch.tensor(dilated_offsets(3, 2, ndim), dtype=torch.int64).reshape(-1, ndim)
    if taps == "dash":
        if ndim == 1:
            return tap_union(DASH_ALL, 1).offsets
        return tap_union(((3, 1), (3, 3), (3, 7), (3, 15)), 2).offsets
    if taps == "wide":
        k, d = (3, 10) if ndim == 2 else (5, 20)
        return torch.tensor(dilated_offsets(k, d, ndim), dtype=torch.int64).reshape(-1, ndim)
    raise ValueError(taps)


def _channels(kind: str) -> tuple[int, int, int]:
    """(Cin, Cout, groups)."""
    return {"depthwise": (4, 4, 4), "dense": (5, 6, 1), "dense_wide": (20, 36, 1), "grouped": (8, 6, 2)}[kind]


def _spatial(ndim: int, even: bool) -> tuple[int, ...]:
    if ndim == 1:
        return (36,) if even else (37,)
    return (8, 10) if even else (9, 11)


def _randn(g: torch.Generator, *shape: int, dtype: torch.dtype) -> torch.Tensor:
    """Standard normal values exactly representable in ``dtype``, on DEVICE."""
    return torch.randn(shape, generator=g, dtype=torch.float64).to(dtype).to(DEVICE)


def _relerr(out: torch.Tensor, ref: torch.Tensor) -> float:
    scale = ref.abs().max().item()
    return (out.double() - ref).abs().max().item() / (scale if scale > 0 else 1.0)


def _check_basic(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype, seed: int, what: str) -> None:
    assert out.shape == ref.shape, f"{what}: shape {tuple(out.shape)} != {tuple(ref.shape)} (seed={seed})"
    assert out.dtype == dtype, f"{what}: dtype {out.dtype} != {dtype} (seed={seed})"
    assert out.device == ref.device, f"{what}: device {out.device} != {ref.device} (seed={seed})"
    assert not torch.isnan(out).any(), f"{what}: NaN in output, an element was not written (seed={seed})"


def _check(out: torch.Tensor, ref: torch.Tensor, torch32: torch.Tensor | None, seed: int, what: str) -> None:
    """``ref`` float64; ``torch32`` torch's own fp32 result (fp32 runs only)."""
    _check_basic(out, ref, out.dtype, seed, what)
    err = _relerr(out, ref)
    if out.dtype == torch.float64:
        assert err <= RTOL64, f"{what}: fp64 relative error {err:.3e} > {RTOL64:.0e} (seed={seed})"
    else:
        bound = 2 * _relerr(torch32, ref) + SLACK32
        assert err <= bound, f"{what}: fp32 relative error {err:.3e} > bound {bound:.3e} (seed={seed})"


def _transpose_groups(w: torch.Tensor, groups: int) -> torch.Tensor:
    Cout, cin_g, U = w.shape
    return w.reshape(groups, Cout // groups, cin_g, U).transpose(1, 2).reshape(groups * cin_g, Cout // groups, U)


def _ref_grads(x64, w64, offsets, groups, g64):
    """(y, dgrad, wgrad) of the reference in float64 by autograd (wgrad also checked vs the explicit ref)."""
    xr = x64.clone().requires_grad_(True)
    wr = w64.clone().requires_grad_(True)
    y = tap_conv_ref(xr, wr, offsets, groups)
    dx, dw = torch.autograd.grad(y, (xr, wr), g64)
    return y.detach(), dx, dw


# --------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("taps", ["dilated", "dash", "wide"])
@pytest.mark.parametrize("ndim", [1, 2])
@pytest.mark.parametrize("kind", ["depthwise", "dense", "grouped"])
def test_fwd_wgrad_dgrad(kind, ndim, taps, dtype, seed, poisoned, monkeypatch):
    """Forward, weight grad and input grad (forward with negated offsets) vs the fp64 reference.
    fp64 runs use odd spatial sizes, fp32 runs even ones.  The wgrad split target is lowered (fewer,
    longer programs: the interpreter runs programs one by one); splits > 1 still occur for small U."""
    monkeypatch.setattr(tc, "_WGRAD_TARGET_PROGRAMS", 64)
    g = torch.Generator().manual_seed(seed)
    Cin, Cout, groups = _channels(kind)
    S = _spatial(ndim, even=dtype == torch.float32)
    offsets = _offsets(taps, ndim)
    U = offsets.shape[0]
    x = _randn(g, 2, Cin, *S, dtype=dtype)
    w = _randn(g, Cout, Cin // groups, U, dtype=dtype)
    go = _randn(g, 2, Cout, *S, dtype=dtype)
    y_ref, dx_ref, dw_ref = _ref_grads(x.double(), w.double(), offsets, groups, go.double())
    dw_ref2 = tap_conv_wgrad_ref(x.double(), go.double(), offsets, groups)
    assert _relerr(dw_ref2, dw_ref) < 1e-12, f"references disagree (seed={seed})"
    live = live_taps(offsets, S)

    y32 = dx32 = dw32 = None
    if dtype == torch.float32:
        y32, dx32, dw32 = _ref_grads(x, w, offsets, groups, go)
        dw32 = tap_conv_wgrad_ref(x, go, offsets, groups)

    tag = f"{kind} ndim={ndim} taps={taps} S={S} U={U} live={int(live.sum())} {dtype}"
    y = tc.tap_conv_fwd(x, w, offsets, groups)
    _check(y, y_ref, y32, seed, f"fwd {tag}")

    dw = tc.tap_conv_wgrad(x, go, offsets, groups)
    _check(dw, dw_ref, dw32, seed, f"wgrad {tag}")
    dead = ~live.to(dw.device)
    assert (dw[:, :, dead] == 0).all(), f"wgrad {tag}: dead-tap entries not exactly zero (seed={seed})"

    # tap_conv_dgrad (the same call) is exercised by the other tests
    dx = tc.tap_conv_fwd(go, _transpose_groups(w, groups), -offsets, groups)
    _check(dx, dx_ref, dx32, seed, f"dgrad {tag}")
    assert len(poisoned) >= 3, "the poisoned allocator was not used"  # fwd out, wgrad partial sums, dgrad out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_dense_multi_block(dtype, seed):
    """Cin and Cout spanning several channel blocks (flattened tap x Cin-block loop), 2-D."""
    g = torch.Generator().manual_seed(seed)
    Cin, Cout, groups = _channels("dense_wide")
    offsets = _offsets("dilated", 2)
    S = (9, 11)
    x = _randn(g, 2, Cin, *S, dtype=dtype)
    w = _randn(g, Cout, Cin, offsets.shape[0], dtype=dtype)
    go = _randn(g, 2, Cout, *S, dtype=dtype)
    y_ref, dx_ref, dw_ref = _ref_grads(x.double(), w.double(), offsets, groups, go.double())
    y32 = dx32 = dw32 = None
    if dtype == torch.float32:
        y32, dx32, _ = _ref_grads(x, w, offsets, groups, go)
        dw32 = tap_conv_wgrad_ref(x, go, offsets, groups)
    _check(tc.tap_conv_fwd(x, w, offsets, groups), y_ref, y32, seed, f"fwd dense Cin={Cin} Cout={Cout}")
    _check(tc.tap_conv_wgrad(x, go, offsets, groups), dw_ref, dw32, seed, f"wgrad dense Cin={Cin} Cout={Cout}")
    _check(tc.tap_conv_dgrad(go, w, offsets, groups), dx_ref, dx32, seed, f"dgrad dense Cin={Cin} Cout={Cout}")


def test_full_dash_union_depthwise(seed):
    """The full 2-D DASH union (313 taps within 121 x 121) on a 9 x 11 input: most taps are dead."""
    g = torch.Generator().manual_seed(seed)
    offsets = tap_union(DASH_ALL, 2).offsets
    assert offsets.shape[0] == 313
    S = (9, 11)
    live = live_taps(offsets, S)
    x = _randn(g, 2, 4, *S, dtype=torch.float64)
    w = _randn(g, 4, 1, 313, dtype=torch.float64)
    go = _randn(g, 2, 4, *S, dtype=torch.float64)
    y_ref, dx_ref, dw_ref = _ref_grads(x, w, offsets, 4, go)
    _check(tc.tap_conv_fwd(x, w, offsets, 4), y_ref, None, seed, "fwd full DASH union")
    dw = tc.tap_conv_wgrad(x, go, offsets, 4)
    _check(dw, dw_ref, None, seed, "wgrad full DASH union")
    assert (dw[:, :, ~live] == 0).all(), f"dead-tap wgrad not exactly zero (seed={seed})"
    _check(tc.tap_conv_dgrad(go, w, offsets, 4), dx_ref, None, seed, "dgrad full DASH union")


@pytest.mark.parametrize("kind", ["depthwise", "dense"])
def test_all_taps_dead(kind, seed):
    """Every tap outside the input: the output and the weight grad are exact zeros (and written)."""
    g = torch.Generator().manual_seed(seed)
    Cin, Cout, groups = _channels(kind)
    offsets = torch.tensor([[9, 0], [0, -11], [-20, 30]], dtype=torch.int64)
    x = _randn(g, 2, Cin, 9, 11, dtype=torch.float64)
    w = _randn(g, Cout, Cin // groups, 3, dtype=torch.float64)
    go = _randn(g, 2, Cout, 9, 11, dtype=torch.float64)
    y = tc.tap_conv_fwd(x, w, offsets, groups)
    _check_basic(y, torch.zeros_like(y), torch.float64, seed, f"fwd all dead {kind}")
    assert (y == 0).all(), f"fwd all dead {kind}: non-zero output (seed={seed})"
    dw = tc.tap_conv_wgrad(x, go, offsets, groups)
    _check_basic(dw, torch.zeros_like(dw), torch.float64, seed, f"wgrad all dead {kind}")
    assert (dw == 0).all(), f"wgrad all dead {kind}: non-zero entries (seed={seed})"


@pytest.mark.parametrize("kind", ["depthwise", "dense"])
@pytest.mark.parametrize("target", [1, 10**6], ids=["one_split", "max_splits"])
def test_wgrad_splits_deterministic(kind, target, seed, monkeypatch):
    """The split count only changes the summation order: same result to fp64 rounding, and repeated
    calls are bitwise identical (no atomics)."""
    monkeypatch.setattr(tc, "_WGRAD_TARGET_PROGRAMS", target)
    g = torch.Generator().manual_seed(seed)
    Cin, Cout, groups = _channels(kind)
    offsets = _offsets("dilated", 1)
    x = _randn(g, 3, Cin, 37, dtype=torch.float32)
    go = _randn(g, 3, Cout, 37, dtype=torch.float32)
    ref = tap_conv_wgrad_ref(x.double(), go.double(), offsets, groups)
    a = tc.tap_conv_wgrad(x, go, offsets, groups)
    b = tc.tap_conv_wgrad(x, go, offsets, groups)
    assert torch.equal(a, b), f"wgrad {kind} target={target}: not deterministic (seed={seed})"
    _check(a, ref, tap_conv_wgrad_ref(x, go, offsets, groups), seed, f"wgrad {kind} target={target}")


@pytest.mark.parametrize("kind", ["depthwise", "dense"])
def test_fp16(kind, seed):
    """fp16 in, fp32 accumulation: error within a couple of fp16 roundings of the output."""
    g = torch.Generator().manual_seed(seed)
    Cin, Cout, groups = _channels(kind)
    offsets = _offsets("dilated", 2)
    x = _randn(g, 2, Cin, 9, 11, dtype=torch.float16)
    w = _randn(g, Cout, Cin // groups, offsets.shape[0], dtype=torch.float16)
    y = tc.tap_conv_fwd(x, w, offsets, groups)
    ref = tap_conv_ref(x.double(), w.double(), offsets, groups)
    _check_basic(y, ref, torch.float16, seed, f"fwd fp16 {kind}")
    err = ((y.double() - ref).abs() / (ref.abs() + 1e-2 * ref.abs().max())).max().item()
    assert err <= 2e-3, f"fwd fp16 {kind}: relative error {err:.3e} (seed={seed})"


def test_bad_arguments():
    x = torch.zeros(1, 4, 9, dtype=torch.float32)
    offs = torch.zeros(1, 1, dtype=torch.int64)
    with pytest.raises(ValueError):
        tc.tap_conv_fwd(x, torch.zeros(4, 4, 1), offs, groups=3)
    with pytest.raises(ValueError):
        tc.tap_conv_fwd(x, torch.zeros(4, 2, 1), offs, groups=1)
    with pytest.raises(ValueError):
        tc.tap_conv_fwd(x, torch.zeros(4, 4, 1), torch.zeros(1, 2, dtype=torch.int64), groups=1)
    with pytest.raises(ValueError):
        tc.tap_conv_wgrad(x, torch.zeros(1, 4, 8), offs, groups=1)
