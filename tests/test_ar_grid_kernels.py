"""Every CPU backend of the lag-grid AR kernels against the float64 torch reference, on fresh inputs.

The numba backend takes and returns numpy arrays (it never imports torch); the reference returns
torch tensors: ``_t`` brings both to torch for the comparison.
"""
import numpy as np
import pytest
import torch

from autofast.kernels.ar_grid import difference_to_levels as difference_to_levels_np
from autofast.kernels.ar_grid import get_backend
from autofast.kernels.ar_grid import numba_cpu, reference_backend
from autofast.kernels.ar_grid.reference import (
    ar_forecast_weights_ref,
    ar_grid_scores_ref,
    difference_to_levels,
    forecast_error_sums_ref,
    nested_ols,
    window_moments_ref,
)

BACKENDS = ["numba", "reference"]


def _t(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def _cands(g, B, Q):
    orders = torch.randint(1, Q + 1, (B,), generator=g)
    orders[0], orders[-1] = Q, 1
    psi = torch.randn(B, Q, generator=g, dtype=torch.float64) * (0.5 / orders[:, None].double().sqrt())
    psi = psi * (torch.arange(Q)[None, :] < orders[:, None])
    return psi, torch.randn(B, generator=g, dtype=torch.float64), orders


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("C,T,W,start", [(1, 40, 1, 0), (3, 77, 13, 4), (2, 120, 32, 17)])
def test_window_moments(backend, C, T, W, start, seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(C, T, generator=g, dtype=torch.float64)
    count = T - start - W + 1 - int(torch.randint(0, 3, (1,), generator=g))
    be = get_backend(backend, "cpu")
    got = _t(be.window_moments(be.asarray(z.numpy()), W, start, count))
    ref = window_moments_ref(z, W, start, count)
    assert got.shape == ref.shape and not torch.isnan(got).any(), f"seed {seed}"
    torch.testing.assert_close(got, ref, rtol=1e-11, atol=1e-9, msg=f"seed {seed}")
    pooled = _t(be.window_moments(be.asarray(z.numpy()), W, start, count, pooled=True))
    torch.testing.assert_close(pooled, ref.sum(0, keepdim=True), rtol=1e-11, atol=1e-9, msg=f"pooled, seed {seed}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("B,Q,H", [(1, 1, 1), (6, 13, 7), (9, 20, 31)])
def test_forecast_weights(backend, B, Q, H, seed):
    g = torch.Generator().manual_seed(seed)
    psi, c, orders = _cands(g, B, Q)
    got = _t(get_backend(backend, "cpu").ar_forecast_weights(psi, c, H, order=orders))
    ref = ar_forecast_weights_ref(psi, c, H)
    assert got.shape == (B, Q + 1, H) and not torch.isnan(got).any(), f"seed {seed}"
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12, msg=f"seed {seed}")


def test_forecast_weights_match_explicit_recursion(seed):
    g = torch.Generator().manual_seed(seed)
    psi, c, _ = _cands(g, 1, 6)
    H = 11
    M = _t(get_backend("numba", "cpu").ar_forecast_weights(psi, c, H))[0]
    y = torch.randn(6, generator=g, dtype=torch.float64)  # y[0] = y_T (lag order)
    hist = list(reversed(y.tolist()))
    for _ in range(H):
        hist.append(float(c[0]) + sum(float(psi[0, j]) * hist[-1 - j] for j in range(6)))
    torch.testing.assert_close(M[0] + y @ M[1:], torch.tensor(hist[6:], dtype=torch.float64), msg=f"seed {seed}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("B,L,H", [(5, 9, 3), (12, 21, 7), (7, 40, 16)])
def test_grid_scores(backend, B, L, H, seed):
    g = torch.Generator().manual_seed(seed)
    psi, c, orders = _cands(g, B, L)
    A = torch.randn(L + 1 + H, 3 * (L + H), generator=g, dtype=torch.float64)
    full = A @ A.T
    S, Sxy, syy = full[: L + 1, : L + 1], full[: L + 1, L + 1 :], full.diagonal()[L + 1 :]
    got = _t(get_backend(backend, "cpu").ar_grid_scores(psi, c, S, Sxy, syy, 17, order=orders))
    ref = ar_grid_scores_ref(psi, c, S, Sxy, syy, 17)
    assert got.shape == (B, H) and not torch.isnan(got).any(), f"seed {seed}"
    torch.testing.assert_close(got, ref, rtol=1e-9, atol=1e-9, msg=f"seed {seed}")


def test_nested_ols_matches_lstsq_for_every_order(seed):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(300, 12, generator=g, dtype=torch.float64)
    y = torch.randn(300, generator=g, dtype=torch.float64)
    coefs, ok = nested_ols((X.T @ X)[None], (X.T @ y)[None])
    assert bool(ok.all())
    for k in range(1, 13):
        ls = torch.linalg.lstsq(X[:, :k], y[:, None]).solution[:, 0]
        torch.testing.assert_close(coefs[0, k - 1, :k], ls, rtol=1e-9, atol=1e-12, msg=f"order {k} seed {seed}")
        assert torch.all(coefs[0, k - 1, k:] == 0)


def test_nested_ols_jitter_handles_collinear_columns():
    X = torch.randn(50, 4, dtype=torch.float64)
    X[:, 3] = X[:, 2]  # exactly collinear
    G, r = (X.T @ X)[None], (X.T @ X[:, 0])[None]
    coefs, ok_j = nested_ols(G, r, jitter=1e-8)
    assert bool(ok_j.all()) and torch.isfinite(coefs).all()


def test_difference_to_levels_matches_integrated_simulation(seed):
    rng = np.random.default_rng(seed)
    phi = torch.tensor(rng.normal(0, 0.3, (1, 3)))
    for d in (1, 2):
        psi = difference_to_levels(phi, d)[0].numpy()
        y = list(rng.normal(size=3 + d + 5))
        w = np.diff(np.array(y), n=d)
        nxt_w = float(phi[0].numpy() @ w[::-1][:3])
        # the next level must make the next difference equal nxt_w
        nxt_y = float(psi @ np.array(y)[::-1][: 3 + d])
        assert np.isclose(np.diff(np.array(y + [nxt_y]), n=d)[-1], nxt_w), f"d={d} seed {seed}"


def _lag_moments(z: np.ndarray, start: int, count: int, L: int, H: int):
    """Lag-ordered moments (pooled over channels) and the edges, as the Auto-AR grid builds them."""
    from autofast.forecast.grid import window_lag_moments

    mom = window_lag_moments(z, start, count, L, H, True, get_backend("numba", "cpu"))
    return mom.S[0], mom.Sxy[0], mom.syy[0], mom.count, (mom.alpha, mom.beta)


@pytest.mark.parametrize("C,L,H", [(1, 12, 5), (3, 30, 9), (2, 40, 1)])
def test_shift_recursion_scores_equal_the_reference(C, L, H, seed):
    """ar_grid_scores with edges (shift recursion for large orders) == the reference on real window moments."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((C, 300)).cumsum(axis=1) * 0.05 + rng.standard_normal((C, 300))
    S, Sxy, syy, n, edges = _lag_moments(z, 7, 200, L, H)
    g = torch.Generator().manual_seed(seed)
    psi, c, orders = _cands(g, 12, L)
    orders[1] = L - 1  # the largest order the shift relation reaches with an extra row
    psi[1, L - 1 :] = 0.0
    ref = ar_grid_scores_ref(psi, c, torch.from_numpy(S), torch.from_numpy(Sxy), torch.from_numpy(syy), n)
    be = get_backend("numba", "cpu")
    for factor in (0, numba_cpu.SHIFT_FACTOR):  # every order by the recursion, then the default split
        old = numba_cpu.SHIFT_FACTOR
        numba_cpu.SHIFT_FACTOR = factor
        try:
            got = be.ar_grid_scores(psi.numpy(), c.numpy(), S, Sxy, syy, n, order=orders.numpy(), edges=edges)
        finally:
            numba_cpu.SHIFT_FACTOR = old
        torch.testing.assert_close(_t(got), ref, rtol=1e-9, atol=1e-10, msg=f"factor {factor} seed {seed}")


def test_shift_recursion_on_one_channel_of_a_per_channel_grid(seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((2, 200))
    from autofast.forecast.grid import window_lag_moments

    mom = window_lag_moments(z, 3, 120, 16, 6, False, get_backend("numba", "cpu"))
    g = torch.Generator().manual_seed(seed)
    psi, c, orders = _cands(g, 6, 16)
    for ch in range(2):
        a, b = mom.edges(ch)
        got = numba_cpu.ar_grid_scores(psi, c, mom.S[ch], mom.Sxy[ch], mom.syy[ch], 120, order=orders, edges=(a, b))
        ref = ar_grid_scores_ref(psi, c, torch.from_numpy(mom.S[ch]), torch.from_numpy(mom.Sxy[ch]),
                                 torch.from_numpy(mom.syy[ch]), 120)
        torch.testing.assert_close(_t(got), ref, rtol=1e-9, atol=1e-10, msg=f"channel {ch} seed {seed}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("C,Q,L,H", [(1, 1, 4, 1), (3, 7, 9, 6), (2, 20, 20, 11)])
def test_forecast_error_sums_equal_explicit_forecasts(backend, C, Q, L, H, seed):
    """Streamed test errors (residuals + impulse response in numba) == explicit recursive forecasts."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((C, 150)).cumsum(axis=1) * 0.1 + rng.standard_normal((C, 150))
    psi = rng.normal(0, 0.4 / Q, (C, Q))
    c = rng.normal(size=C)
    start, count = 5, 150 - 5 - L - H + 1 - 2
    be = get_backend(backend, "cpu")
    got = _t(be.forecast_error_sums(be.asarray(z), be.asarray(psi), be.asarray(c), start, count, L, H)).numpy()
    sq, ab = np.zeros((C, H)), np.zeros((C, H))
    for ch in range(C):  # window by window, the plain recursion
        for n in range(start, start + count):
            hist = list(z[ch, n : n + L])
            for _ in range(H):
                hist.append(c[ch] + float(np.dot(psi[ch], hist[::-1][:Q])))
            e = np.array(hist[L:]) - z[ch, n + L : n + L + H]
            sq[ch] += e**2
            ab[ch] += np.abs(e)
    np.testing.assert_allclose(got[:, 0], sq, rtol=1e-10, err_msg=f"seed {seed}")
    np.testing.assert_allclose(got[:, 1], ab, rtol=1e-10, err_msg=f"seed {seed}")


def test_forecast_error_sums_chunked_equals_unchunked(seed):
    """Chunks of windows (including a ragged last one) give the sums of one pass, to 1e-10."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((3, 700)).cumsum(axis=1) * 0.05
    psi = rng.normal(0, 0.05, (3, 24))
    psi[:, 0] += 0.9
    c = rng.normal(0, 0.01, 3)
    whole = numba_cpu.forecast_error_sums(z, psi, c, 3, 600, 32, 17, chunk=600)
    for chunk in (1, 7, 256):
        got = numba_cpu.forecast_error_sums(z, psi, c, 3, 600, 32, 17, chunk=chunk)
        np.testing.assert_allclose(got, whole, rtol=1e-10, atol=0, err_msg=f"chunk {chunk} seed {seed}")
    ref = forecast_error_sums_ref(torch.from_numpy(z), torch.from_numpy(psi), torch.from_numpy(c), 3, 600, 32, 17, chunk=50)
    np.testing.assert_allclose(whole, ref.numpy(), rtol=1e-10, err_msg=f"seed {seed}")


def test_reference_window_moments_chunked_equals_unchunked(seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(2, 90, generator=g, dtype=torch.float64)
    whole = window_moments_ref(z, 11, 4, 70)
    for chunk in (1, 9, 70):
        torch.testing.assert_close(reference_backend.window_moments(z, 11, 4, 70, chunk=chunk), whole,
                                   rtol=1e-10, atol=1e-12, msg=f"chunk {chunk} seed {seed}")


def test_numba_window_moments_of_many_windows_match_a_float64_sum(seed):
    """The sliding update over window positions keeps long sums exact to rounding (60k windows)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((1, 60_040)) + 3.0  # 15 cache blocks of rows, the last one partial
    got = numba_cpu.window_moments(z, 6, 20, 60_000)
    win = np.lib.stride_tricks.sliding_window_view(z[0, 20 : 20 + 60_000 + 5], 6)
    v = np.hstack([np.ones((60_000, 1)), win])
    np.testing.assert_allclose(got[0], v.T @ v, rtol=1e-11, err_msg=f"seed {seed}")


def test_numpy_nested_ols_and_levels_match_the_torch_reference(seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2, 200, 9))
    y = rng.standard_normal((2, 200))
    G, r = np.einsum("gni,gnj->gij", X, X), np.einsum("gni,gn->gi", X, y)
    got, ok = numba_cpu.nested_ols(G, r)
    ref, ok_ref = nested_ols(torch.from_numpy(G), torch.from_numpy(r))
    assert ok.all() and bool(ok_ref.all())
    np.testing.assert_allclose(got, ref.numpy(), rtol=1e-9, atol=1e-12, err_msg=f"seed {seed}")
    G[1] = 0.0  # not positive definite: reported, not raised
    _, ok = numba_cpu.nested_ols(G, r)
    assert ok.tolist() == [True, False]
    phi = rng.normal(0, 0.3, (3, 4))
    for d in (0, 1, 2):
        np.testing.assert_allclose(difference_to_levels_np(phi, d), difference_to_levels(torch.from_numpy(phi), d).numpy(),
                                   rtol=1e-14, atol=1e-15)
