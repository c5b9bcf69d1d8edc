"""Triton backend of the lag-grid AR solver against the float64 torch reference.

Without CUDA the kernels run in the Triton interpreter on the CPU (``TRITON_INTERPRET=1`` must be
set before triton is imported, hence the top of this module).  Shapes are kept small: the
interpreter costs about a millisecond per program instance.  Every test draws fresh random inputs;
the seed is printed and appears in every assertion message (set ``AR_TRITON_SEED`` to replay one).
"""
from __future__ import annotations

import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import random  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("triton")

from autofast.kernels.ar_grid import get_backend  # noqa: E402
from autofast.kernels.ar_grid import triton_gpu as tg  # noqa: E402
from autofast.kernels.ar_grid.reference import (  # noqa: E402
    ar_forecast_weights_ref,
    ar_grid_scores_ref,
    window_moments_ref,
)

DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
RTOL = 1e-10

pytestmark = pytest.mark.skipif(
    DEVICE.type == "cpu" and os.environ.get("TRITON_INTERPRET") != "1",
    reason="triton on the CPU needs TRITON_INTERPRET=1 before start-up",
)


# --------------------------------------------------------------------------------------------- helpers


@pytest.fixture
def rng():
    """(generator, seed): a fresh random seed per test, printed for replay."""
    seed = int(os.environ.get("AR_TRITON_SEED", random.SystemRandom().randrange(2**31)))
    print(f"AR triton test seed = {seed}")
    return torch.Generator().manual_seed(seed), seed


def _randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(shape, generator=g, dtype=torch.float64).to(DEVICE)


def _candidates(g: torch.Generator, B: int, Q: int, orders: torch.Tensor | None = None):
    """psi (B, Q) with zero tails beyond mixed orders in [1, Q] (always including 1 and Q), intercepts."""
    if orders is None:
        orders = torch.randint(1, Q + 1, (B,), generator=g)
        orders[0], orders[-1] = Q, 1
    psi = torch.randn(B, Q, generator=g, dtype=torch.float64) * (0.5 / orders[:, None].double().sqrt())
    psi[torch.arange(Q)[None, :] >= orders[:, None]] = 0.0
    # exact zeros are what the derived orders look for: keep the last coefficient non-zero
    psi[torch.arange(B), orders - 1] += torch.where(psi[torch.arange(B), orders - 1] >= 0, 0.05, -0.05).double()
    c = torch.randn(B, generator=g, dtype=torch.float64)
    return psi.to(DEVICE), c.to(DEVICE), orders.to(DEVICE)


def _moments(g: torch.Generator, L: int, H: int, N: int):
    """Consistent lag-ordered moments S (L+1, L+1), Sxy (L+1, H), syy (H,) of N random windows."""
    v = torch.randn(N, L + 1, generator=g, dtype=torch.float64)
    v[:, 0] = 1.0
    y = v[:, 1:2] * 0.7 + torch.randn(N, H, generator=g, dtype=torch.float64)
    return (v.T @ v).to(DEVICE), (v.T @ y).to(DEVICE), (y * y).sum(0).to(DEVICE)


def _check(out: torch.Tensor, ref: torch.Tensor, seed: int, what: str) -> None:
    assert out.shape == ref.shape, f"{what}: shape {tuple(out.shape)} != {tuple(ref.shape)} (seed={seed})"
    assert out.dtype == torch.float64, f"{what}: dtype {out.dtype} (seed={seed})"
    assert out.device == ref.device, f"{what}: device {out.device} != {ref.device} (seed={seed})"
    assert not torch.isnan(out).any(), f"{what}: NaN in output (seed={seed})"
    scale = ref.abs().max().clamp_min(1e-300)
    err = (out - ref).abs()
    tol = RTOL * ref.abs() + 1e-13 * scale
    worst = (err / (ref.abs() + 1e-3 * scale)).max().item()
    assert bool((err <= tol).all()), f"{what}: max rel err {worst:.3e} > {RTOL} (seed={seed})"


def _nan_empty(*shape: int, device: torch.device) -> torch.Tensor:
    return torch.full(shape, float("nan"), dtype=torch.float64, device=device)


# --------------------------------------------------------------------------------------------- window_moments


@pytest.mark.parametrize(
    "C, width, start, count",
    [(2, 1, 0, 5), (3, 13, 2, 45), (2, 37, 5, 33), (1, 15, 0, 1)],
)
def test_window_moments_matches_reference(rng, C, width, start, count):
    g, seed = rng
    z = _randn(g, C, start + count + width + 2)
    out = tg.window_moments(z, width, start, count)
    _check(out, window_moments_ref(z, width, start, count), seed, f"window_moments W={width}")
    assert out[:, 0, 0].eq(count).all(), f"constant moment != count (seed={seed})"


def test_window_moments_no_windows(rng, monkeypatch):
    """count = 0 (the reference cannot unfold it): every moment is exactly zero, still fully written."""
    g, seed = rng
    monkeypatch.setattr(tg, "_empty", _nan_empty)
    out = tg.window_moments(_randn(g, 2, 10), 4, 3, 0)
    assert out.shape == (2, 5, 5) and out.eq(0).all(), f"count=0 moments not zero (seed={seed})"


def test_window_moments_float32_input(rng):
    g, seed = rng
    z = _randn(g, 2, 60).float()
    out = tg.window_moments(z, 9, 4, 40)
    _check(out, window_moments_ref(z.double(), 9, 4, 40), seed, "window_moments float32 in")


# --------------------------------------------------------------------------------------------- ar_forecast_weights


@pytest.mark.parametrize("B, Q, H", [(9, 13, 7), (5, 33, 3), (4, 2, 17)])
def test_forecast_weights_mixed_orders(rng, B, Q, H):
    g, seed = rng
    psi, c, q = _candidates(g, B, Q)
    ref = ar_forecast_weights_ref(psi, c, H)
    _check(tg.ar_forecast_weights(psi, c, H), ref, seed, "forecast weights (derived orders)")
    M = tg.ar_forecast_weights(psi, c, H, order=q)
    _check(M, ref, seed, "forecast weights (explicit orders)")
    for b in range(B):
        assert M[b, int(q[b]) + 1 :].eq(0).all(), f"rows beyond order {int(q[b])} not zero (seed={seed})"


def test_forecast_weights_order_truncates(rng):
    """An explicit order smaller than the non-zero extent uses only psi[:, :q] (as the numba backend)."""
    g, seed = rng
    B, Q, H = 6, 11, 9
    psi, c, _ = _candidates(g, B, Q, orders=torch.full((B,), Q))
    q = torch.tensor([1, 3, 5, 8, 10, 11])
    trunc = psi.clone()
    trunc[torch.arange(Q, device=DEVICE)[None, :] >= q.to(DEVICE)[:, None]] = 0.0
    out = tg.ar_forecast_weights(psi, c, H, order=q)
    _check(out, ar_forecast_weights_ref(trunc, c, H), seed, "forecast weights (truncating orders)")


def test_forecast_weights_zero_rows(rng):
    """All-zero psi (derived order 1) and order 0 both give the constant forecaster M[0, h] = c."""
    g, seed = rng
    B, Q, H = 3, 5, 6
    psi, c, _ = _candidates(g, B, Q)
    psi[1] = 0.0
    ref = ar_forecast_weights_ref(psi, c, H)
    _check(tg.ar_forecast_weights(psi, c, H), ref, seed, "forecast weights (zero row)")
    q = torch.tensor([Q, 0, Q])
    out = tg.ar_forecast_weights(psi, c, H, order=q)
    _check(out, ref, seed, "forecast weights (order 0)")
    assert torch.equal(out[1, 0], c[1].expand(H)) and out[1, 1:].eq(0).all(), f"order 0 (seed={seed})"


# --------------------------------------------------------------------------------------------- ar_grid_scores


@pytest.mark.parametrize(
    "B, Q, L, H",
    [
        (11, 13, 21, 7),  # odd sizes, one tile
        (6, 32, 32, 24),  # q + 1 = 33 rows: two row/column tiles for the top order
        (5, 20, 25, 40),  # two H blocks, the second partial
    ],
)
def test_grid_scores_matches_reference(rng, B, Q, L, H):
    g, seed = rng
    psi, c, q = _candidates(g, B, Q)
    S, Sxy, syy = _moments(g, L, H, N=3 * L + 5)
    ref = ar_grid_scores_ref(psi, c, S, Sxy, syy, 3 * L + 5)
    _check(tg.ar_grid_scores(psi, c, S, Sxy, syy, 3 * L + 5), ref, seed, "scores (derived orders)")
    _check(tg.ar_grid_scores(psi, c, S, Sxy, syy, 3 * L + 5, order=q), ref, seed, "scores (explicit orders)")


def test_grid_scores_chunked(rng, monkeypatch):
    """A tiny M budget forces several candidate chunks, the last one partial."""
    g, seed = rng
    B, Q, L, H, N = 10, 9, 12, 5, 40
    monkeypatch.setattr(tg, "_M_BUFFER_BYTES", 3 * (Q + 1) * H * 8)
    psi, c, q = _candidates(g, B, Q)
    S, Sxy, syy = _moments(g, L, H, N)
    out = tg.ar_grid_scores(psi, c, S, Sxy, syy, N, order=q)
    _check(out, ar_grid_scores_ref(psi, c, S, Sxy, syy, N), seed, "scores (chunked)")


def test_grid_scores_truncating_order(rng):
    g, seed = rng
    B, Q, L, H, N = 5, 8, 8, 6, 30
    psi, c, _ = _candidates(g, B, Q, orders=torch.full((B,), Q))
    q = torch.tensor([1, 2, 4, 7, 8])
    trunc = psi.clone()
    trunc[torch.arange(Q, device=DEVICE)[None, :] >= q.to(DEVICE)[:, None]] = 0.0
    S, Sxy, syy = _moments(g, L, H, N)
    out = tg.ar_grid_scores(psi, c, S, Sxy, syy, N, order=q)
    _check(out, ar_grid_scores_ref(trunc, c, S, Sxy, syy, N), seed, "scores (truncating orders)")


# --------------------------------------------------------------------------------------------- poisoned buffers


def test_every_output_element_is_written(rng, monkeypatch):
    """Outputs (and the internal M chunk buffer) start as NaN: any element a kernel skips shows up."""
    g, seed = rng
    monkeypatch.setattr(tg, "_empty", _nan_empty)
    monkeypatch.setattr(tg, "_M_BUFFER_BYTES", 4 * 14 * 19 * 8)  # chunks of 4 candidates
    B, Q, L, H, N = 7, 13, 21, 19, 50
    psi, c, q = _candidates(g, B, Q)
    S, Sxy, syy = _moments(g, L, H, N)

    z = _randn(g, 2, 80)  # W + 1 = 33: the last row/column tile holds a single row
    _check(tg.window_moments(z, 32, 3, 41), window_moments_ref(z, 32, 3, 41), seed, "poisoned window_moments")
    _check(tg.ar_forecast_weights(psi, c, H, order=q), ar_forecast_weights_ref(psi, c, H), seed, "poisoned weights")
    _check(tg.ar_grid_scores(psi, c, S, Sxy, syy, N), ar_grid_scores_ref(psi, c, S, Sxy, syy, N), seed, "poisoned scores")


# --------------------------------------------------------------------------------------------- dispatcher


def test_dispatcher_loads_triton_backend(rng):
    g, seed = rng
    be = get_backend("triton", device=DEVICE.type)
    assert be.name == "triton", f"dispatcher fell back to {be.name!r}"
    assert be.ar_grid_scores is tg.ar_grid_scores
    B, Q, L, H, N = 8, 13, 21, 7, 60
    psi, c, q = _candidates(g, B, Q)
    S, Sxy, syy = _moments(g, L, H, N)
    out = be.ar_grid_scores(psi, c, S, Sxy, syy, N, order=q)
    _check(out, ar_grid_scores_ref(psi, c, S, Sxy, syy, N), seed, "dispatcher scores")
    _check(be.ar_forecast_weights(psi, c, H), ar_forecast_weights_ref(psi, c, H), seed, "dispatcher weights")
    z = _randn(g, 1, 40)
    _check(be.window_moments(z, 6, 1, 30), window_moments_ref(z, 6, 1, 30), seed, "dispatcher moments")


# --------------------------------------------------------------------------------------------- registered ops


def _op_inputs(g: torch.Generator, B: int = 3, Q: int = 4, H: int = 3):
    psi, c, q = _candidates(g, B, Q)
    S, Sxy, syy = _moments(g, Q + 2, H, 20)
    return psi, c, q.to(torch.int32), S, Sxy, syy


def test_opcheck_ar_ops(rng):
    """Schema, fake implementation, autograd registration and AOT dispatch of every AR op."""
    g, seed = rng
    psi, c, q, S, Sxy, syy = _op_inputs(g)
    z = _randn(g, 2, 30)
    ops = torch.ops.autofast
    torch.library.opcheck(ops.ar_window_moments.default, (z.requires_grad_(), 5, 2, 17))
    torch.library.opcheck(ops.ar_forecast_weights.default, (psi.requires_grad_(), c.requires_grad_(), 4, q))
    torch.library.opcheck(ops.ar_grid_scores.default, (psi, c, S, Sxy, syy, 20, q))


def test_ar_op_gradients_match_finite_differences(rng):
    """The registered gradients (vjp of the differentiable formulation) against float64 finite differences
    through the kernels themselves."""
    g, seed = rng
    psi, c, q, S, Sxy, syy = _op_inputs(g, B=2, Q=3, H=2)
    ops = torch.ops.autofast
    z = _randn(g, 2, 14).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: ops.ar_window_moments(t, 3, 1, 9), (z,))
    psi.requires_grad_(), c.requires_grad_(), S.requires_grad_()
    assert torch.autograd.gradcheck(lambda p, i: ops.ar_forecast_weights(p, i, 3, q), (psi, c))
    assert torch.autograd.gradcheck(lambda p, i, s: ops.ar_grid_scores(p, i, s, Sxy, syy, 20, q), (psi, c, S))


def test_ar_ops_propagate_shapes_without_data():
    from torch._subclasses.fake_tensor import FakeTensorMode

    ops = torch.ops.autofast
    with FakeTensorMode():
        psi, c = torch.randn(5, 7, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
        q = torch.full((5,), 7, dtype=torch.int32)
        assert ops.ar_window_moments(torch.randn(3, 50, dtype=torch.float64), 8, 0, 20).shape == (3, 9, 9)
        assert ops.ar_forecast_weights(psi, c, 6, q).shape == (5, 8, 6)
        S, Sxy, syy = torch.randn(9, 9, dtype=torch.float64), torch.randn(9, 6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
        assert ops.ar_grid_scores(psi, c, S, Sxy, syy, 40, q).shape == (5, 6)
