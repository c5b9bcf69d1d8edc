"""The per-series methods a panel run scores beside its global AR: Theta (standard, and the best of the four Theta
models), the damped trend and M4's seasonal adjustment, each against a plain one-series-at-a-time reference
written here."""
from __future__ import annotations

import numpy as np
import pytest

from autofast.forecast.damped import _grid, damped_panel
from autofast.forecast.seasonal import Transform, acf, inverse, forward, is_seasonal, seasonal_indices, series_factors
from autofast.forecast.theta import ALPHAS, AUTO_ALPHAS, FIRST_SCORED, W_MAX, auto_theta_panel, theta_forecast, theta_panel


def _series(seed: int, lengths=(4, 9, 30, 61, 120)) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [50 + np.cumsum(rng.normal(rng.normal(0, 0.5), 1 + rng.random(), n)) for n in lengths]


def _ses_ref(x, a):
    level, sse = x[0], 0.0
    for v in x[1:]:
        sse += (v - level) ** 2
        level += a * (v - level)
    return sse, level


def _theta_ref(x, H):
    """Theta with the weight searched on the module's grids, one series, scalar recursions."""
    n = len(x)
    if n < 3:
        return np.repeat(x[-1], H)
    k = int(np.argmin([_ses_ref(x, a)[0] for a in ALPHAS]))
    step = ALPHAS[1] - ALPHAS[0]
    fine = np.clip(np.linspace(ALPHAS[k] - step, ALPHAS[k] + step, 9), 0.01, 0.99)
    res = [_ses_ref(x, a) for a in fine]
    j = int(np.argmin([r[0] for r in res]))
    a, level = fine[j], res[j][1]
    b = np.polyfit(np.arange(n), x, 1)[0]
    return level + 0.5 * b * (np.arange(H) + (1 - (1 - a) ** n) / a)


@pytest.mark.parametrize("seed", [0, 1])
def test_theta_panel_equals_the_one_series_reference(seed):
    hists = _series(seed, lengths=(2, 3, 9, 30, 61, 120))
    got = theta_panel(hists, 7)
    want = np.stack([_theta_ref(h, 7) for h in hists])
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(theta_forecast(hists[3], 7), want[3], rtol=1e-10)


def test_theta_matches_statsforecast_where_the_weight_agrees():
    sf = pytest.importorskip("statsforecast.models")
    rng = np.random.default_rng(3)
    x = 50 + np.cumsum(rng.normal(0.3, 1, 80))
    want = sf.Theta(season_length=1).fit(x).predict(6)["mean"]
    np.testing.assert_allclose(theta_forecast(x, 6), want, rtol=2e-3)


def _auto_theta_ref(x, H):
    """The four Theta models, one series, scalar recursions: the trend lines by np.polyfit (on all rows, or on
    the rows before each one), the drift weight by a bounded scalar minimisation of the one-step squared errors
    (not the module's closed form), the best of both lines and every smoothing weight."""
    from scipy.optimize import minimize_scalar

    n = len(x)
    if n < 4:
        return np.repeat(x[-1], H)
    t = np.arange(1, n + 1, dtype=float)
    static = np.polyfit(t, x, 1)[::-1]  # (intercept, slope)
    lines = {"static": [static] * (n + 1),
             "dynamic": [None, None] + [np.polyfit(t[:k], x[:k], 1)[::-1] for k in range(2, n + 1)]}
    best = (np.inf, None)
    for name, line in lines.items():
        for a in AUTO_ALPHAS:
            levels = [x[0]]  # levels[k]: after row k + 1
            for v in x[1:]:
                levels.append(levels[-1] + a * (v - levels[-1]))

            def drift(k, A, B):  # D at time k (1-based), from the line (A, B)
                return (1 - a) ** (k - 1) * A + (1 - (1 - a) ** k) / a * B

            def sse(w):
                return sum((x[k - 1] - levels[k - 2] - w * drift(k, *line[k - 1])) ** 2
                           for k in range(FIRST_SCORED, n + 1))

            r = minimize_scalar(sse, bounds=(0.0, W_MAX), method="bounded", options={"xatol": 1e-12})
            if r.fun < best[0]:
                A, B = line[n]
                fc = levels[-1] + r.x * ((1 - a) ** n * A + (np.arange(H) + (1 - (1 - a) ** (n + 1)) / a) * B)
                best = (r.fun, fc)
    return best[1]


@pytest.mark.parametrize("seed", [0, 1])
def test_auto_theta_equals_the_one_series_reference(seed):
    hists = _series(seed, lengths=(2, 3, 4, 9, 30, 61))
    hists.append(100 + 0.8 * np.arange(50.0) + np.random.default_rng(seed).normal(0, 2, 50))  # a clear trend
    got = np.full((len(hists), 6), np.nan)
    got[:] = auto_theta_panel(hists, 6)
    want = np.stack([_auto_theta_ref(h, 6) for h in hists])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-7)
    assert auto_theta_panel([], 3).shape == (0, 3)


def test_auto_theta_is_at_least_as_close_in_sample_as_the_standard_method():
    """The standard method (w = 1/2 on the static line) is one of the models searched: on a trending series the
    chosen model's forecasts differ from it, and on a trendless one they stay near the last level."""
    rng = np.random.default_rng(5)
    trend = 10 + 1.5 * np.arange(60.0) + rng.normal(0, 1, 60)
    fc = auto_theta_panel([trend], 5)[0]
    assert np.all(np.diff(fc) > 0) and abs(fc[0] - trend[-1]) < 5
    flat = 10 + rng.normal(0, 1, 60)
    assert np.all(np.abs(auto_theta_panel([flat], 5)[0] - flat.mean()) < 2)


def _damped_ref(x, H):
    n = len(x)
    if n < 4:
        return np.repeat(x[-1], H)
    best = None
    for a, beta, phi in _grid():
        level, trend, sse = x[0], x[1] - x[0], 0.0
        for v in x[1:]:
            pred = level + phi * trend
            err = v - pred
            new_level = pred + a * err
            trend = beta * (new_level - level) + (1 - beta) * phi * trend
            level = new_level
            sse += err * err
        if best is None or sse < best[0]:
            best = (sse, level, trend, phi)
    _, level, trend, phi = best
    return level + np.cumsum(phi ** np.arange(1, H + 1)) * trend


@pytest.mark.parametrize("seed", [0, 1])
def test_damped_panel_equals_the_one_series_reference(seed):
    hists = _series(seed, lengths=(3, 4, 9, 30, 61))
    np.testing.assert_allclose(damped_panel(hists, 5), np.stack([_damped_ref(h, 5) for h in hists]),
                               rtol=1e-10, atol=1e-9)


def test_damped_trend_continues_a_straight_line():
    x = 3.0 + 2.0 * np.arange(40.0)
    fc = damped_panel([x], 4)[0]
    # an exact line: zero one-step errors for every grid point with phi's damping of the trend
    assert fc[0] > x[-1] and np.all(np.diff(fc) > 0) and np.all(np.diff(fc) <= 2.0 + 1e-9)


def test_seasonal_adjustment_recovers_multiplicative_indices():
    m = 4
    idx = np.array([0.8, 1.1, 1.3, 0.8])
    t = np.arange(48)
    x = (100 + t) * idx[t % m]
    got = seasonal_indices(x, m)
    np.testing.assert_allclose(got, idx / idx.mean(), rtol=0.02)
    assert is_seasonal(x, m) and not is_seasonal(x[:11], m)  # fewer than three seasons
    sa = series_factors(x, m, Transform(deseason=True), 6)
    np.testing.assert_allclose(sa.next_factors, got[np.arange(48, 54) % m])
    assert not sa.offsets.any() and not sa.next_offsets.any()
    a = forward(x, sa.factors, Transform(log=True, deseason=True))
    np.testing.assert_allclose(inverse(a, sa.factors, Transform(log=True, deseason=True)), x, rtol=1e-12)
    # not seasonal, or no adjustment asked for: none
    flat = np.random.default_rng(0).normal(100, 1, 48)
    assert np.all(series_factors(flat, m, Transform(deseason=True), 3).next_factors == 1) or is_seasonal(flat, m)
    assert np.all(series_factors(x, m, Transform(), 3).factors == 1)


def test_seasonal_adjustment_is_additive_where_a_value_is_not_positive():
    m = 4
    idx = np.array([-30.0, 10.0, 45.0, -25.0])
    t = np.arange(48)
    x = 0.5 * t + idx[t % m]  # crosses zero
    got = seasonal_indices(x, m, additive=True)
    np.testing.assert_allclose(got, idx - idx.mean(), atol=1e-9)  # a straight trend: the centred MA is exact
    sa = series_factors(x, m, Transform(deseason=True), 6)
    assert np.all(sa.factors == 1) and np.all(sa.next_factors == 1)
    np.testing.assert_allclose(sa.next_offsets, got[np.arange(48, 54) % m])
    a = forward(x, sa.factors, Transform(deseason=True), sa.offsets)
    np.testing.assert_allclose(a, 0.5 * t + idx.mean(), atol=1e-9)  # the trend left, the cycle gone
    np.testing.assert_allclose(inverse(a, sa.factors, Transform(deseason=True), sa.offsets), x, atol=1e-12)


def test_acf_against_numpy():
    x = np.random.default_rng(1).normal(size=50)
    xc = x - x.mean()
    want = [np.sum(xc[k:] * xc[:-k]) / np.sum(xc * xc) for k in (1, 2, 3)]
    np.testing.assert_allclose(acf(x, 3), want, rtol=1e-12)
