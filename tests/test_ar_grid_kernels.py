"""Every CPU backend of the lag-grid AR kernels against the float64 torch reference, on fresh inputs."""
import numpy as np
import pytest
import torch

from autofast.kernels.ar_grid import get_backend
from autofast.kernels.ar_grid.reference import (
    ar_forecast_weights_ref,
    ar_grid_scores_ref,
    difference_to_levels,
    nested_ols,
    window_moments_ref,
)

BACKENDS = ["numba", "reference"]


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
    got = get_backend(backend, "cpu").window_moments(z, W, start, count)
    ref = window_moments_ref(z, W, start, count)
    assert got.shape == ref.shape and not torch.isnan(got).any(), f"seed {seed}"
    torch.testing.assert_close(got, ref, rtol=1e-11, atol=1e-9, msg=f"seed {seed}")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("B,Q,H", [(1, 1, 1), (6, 13, 7), (9, 20, 31)])
def test_forecast_weights(backend, B, Q, H, seed):
    g = torch.Generator().manual_seed(seed)
    psi, c, orders = _cands(g, B, Q)
    got = get_backend(backend, "cpu").ar_forecast_weights(psi, c, H, order=orders)
    ref = ar_forecast_weights_ref(psi, c, H)
    assert got.shape == (B, Q + 1, H) and not torch.isnan(got).any(), f"seed {seed}"
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-12, msg=f"seed {seed}")


def test_forecast_weights_match_explicit_recursion(seed):
    g = torch.Generator().manual_seed(seed)
    psi, c, _ = _cands(g, 1, 6)
    H = 11
    M = get_backend("numba", "cpu").ar_forecast_weights(psi, c, H)[0]
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
    got = get_backend(backend, "cpu").ar_grid_scores(psi, c, S, Sxy, syy, 17, order=orders)
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
