"""`forecast --selection bic`: the in-sample BIC of each ARIMA(p, d, 0) candidate, as statsmodels defines it."""
import numpy as np
import pytest
from statsmodels.tsa.ar_model import AutoReg

from autofast.data.timeseries import PreparedSeries, SeriesData
from autofast.forecast import AutoARConfig, run_autoar
from autofast.forecast.grid import bic, common_hold_back, fit_grid
from autofast.kernels.ar_grid import get_backend

from test_autoar import simulate_ar

NUMBA = get_backend("numba", "cpu")


def _grid(y, orders, diffs, lookback, pooled=True, intercepts=(True, False)):
    hb = common_hold_back(orders, diffs, lookback)
    g = fit_grid(y, (0, y.shape[1]), orders=orders, diff_orders=list(diffs), intercepts=list(intercepts),
                 pooled=pooled, lookback=lookback, backend=NUMBA)
    return g, hb


@pytest.mark.parametrize("d_true", [0, 1])
def test_bic_equals_statsmodels_autoreg(d_true):
    """Every (p, d, const) of the grid: statsmodels' AutoReg BIC on the d-times differenced series, on the same
    target rows (hold_back), i.e. -2 llf + log(n) (p + const + 1) with sigma^2 = RSS / n."""
    y = simulate_ar([0.6, -0.3], 300, d=d_true, c=0.2, seed=3 + d_true)
    orders, diffs, L = (1, 6), [0, 1, 2], 10
    g, hb = _grid(y, orders, diffs, L)
    assert hb == 2 + 6  # the largest d + P of the grid: every candidate's targets are rows 8..299
    ours = bic(g)
    assert len(g) == 3 * 6 * 2
    for i in range(len(g)):
        p, d, c = int(g.p[i]), int(g.d[i]), bool(g.has_intercept[i])
        w = np.diff(y[0], d) if d else y[0]
        res = AutoReg(w, lags=p, trend="c" if c else "n", hold_back=hb - d).fit()
        assert res.nobs == g.nobs[i] == 300 - hb
        np.testing.assert_allclose(ours[i], res.bic, rtol=1e-8, err_msg=f"(p, d, const) = {(p, d, c)}")
        # the same fit: coefficients (on the differences) and the residual sum of squares
        np.testing.assert_allclose(g.rss[i], res.resid @ res.resid, rtol=1e-8)
    best = int(np.argmin(ours))
    assert (g.p[best], g.d[best]) == (2, d_true)


def test_bic_per_channel_and_pooled_residuals():
    """Per channel: statsmodels per channel. Pooled: one model on every channel's rows, n = rows x channels, one
    sigma^2 -- checked against the explicit one-step residuals of the level recursion on the shared targets."""
    y = simulate_ar([0.5, 0.2], 400, channels=3, seed=11) + np.arange(3)[:, None] * 0.1
    orders, diffs, L = (1, 5), [0, 1], 8
    g, hb = _grid(y, orders, diffs, L, pooled=False)
    ours = bic(g)
    for i in range(0, len(g), 3):
        p, d, c, ch = int(g.p[i]), int(g.d[i]), bool(g.has_intercept[i]), int(g.group[i])
        w = np.diff(y[ch], d) if d else y[ch]
        res = AutoReg(w, lags=p, trend="c" if c else "n", hold_back=hb - d).fit()
        np.testing.assert_allclose(ours[i], res.bic, rtol=1e-8)
    g, hb = _grid(y, orders, diffs, L, pooled=True)
    ours = bic(g)
    T = y.shape[1]
    for i in range(len(g)):
        q = int(g.p[i] + g.d[i])
        psi, c = g.psi[i, :q], float(g.intercept[i])
        e = [y[ch, t] - c - psi @ y[ch, t - q : t][::-1] for ch in range(3) for t in range(hb, T)]
        rss = float(np.sum(np.square(e)))
        n = 3 * (T - hb)
        assert g.nobs[i] == n
        np.testing.assert_allclose(g.rss[i], rss, rtol=1e-8)
        k = g.p[i] + g.has_intercept[i] + 1
        np.testing.assert_allclose(ours[i], n * (np.log(2 * np.pi * rss / n) + 1) + k * np.log(n), rtol=1e-10)


def test_bic_choice_is_the_same_at_every_horizon():
    y = simulate_ar([0.5, -0.2, 0.3], 3000, channels=2, seed=5)
    ps = PreparedSeries.build("sim", SeriesData.from_array(y.T), "ratio")
    cfg = dict(lookback=24, max_order=12, selection="bic", backend="numba", device="cpu")
    res, info = run_autoar(ps, AutoARConfig(horizons=[1, 8, 24], **cfg))
    one, _ = run_autoar(ps, AutoARConfig(horizons=[1], **cfg))
    picks = {(c.p, c.d, c.intercept, c.selection_score) for r in res + one for c in r.chosen}
    assert len(picks) == 1, picks
    p, d, const, score = picks.pop()
    assert (p, d) == (3, 0)
    assert "BIC" in res[0].selected_on and "every horizon" in res[0].selected_on
    assert info["estimation_rows"][0] == 12 + 2  # common hold-back: the largest d + P_d
    # the reported score is the candidate's BIC, statsmodels' definition (pooled: one sigma^2 over 2 channels)
    assert np.isfinite(score)


def test_bic_picks_order_three_on_a_simulated_ar3():
    y = simulate_ar([0.4, 0.0, 0.35], 5000, channels=1, seed=21)
    ps = PreparedSeries.build("sim", SeriesData.from_array(y.T), "ratio")
    res, _ = run_autoar(ps, AutoARConfig(horizons=[12], lookback=20, max_order=15, selection="bic",
                                         backend="numba", device="cpu"))
    ch = res[0].chosen[0]
    assert (ch.p, ch.d) == (3, 0)
    np.testing.assert_allclose(ch.psi, [0.4, 0.0, 0.35], atol=0.05)


def test_bic_matches_on_the_reference_backend():
    y = simulate_ar([0.6, 0.2], 600, channels=2, seed=7)
    ps = PreparedSeries.build("sim", SeriesData.from_array(y.T), "ratio")
    cfg = dict(horizons=[3], lookback=8, max_order=6, selection="bic", device="cpu")
    a, _ = run_autoar(ps, AutoARConfig(backend="numba", **cfg))
    b, _ = run_autoar(ps, AutoARConfig(backend="reference", **cfg))
    ca, cb = a[0].chosen[0], b[0].chosen[0]
    assert (ca.p, ca.d, ca.intercept) == (cb.p, cb.d, cb.intercept)
    np.testing.assert_allclose(ca.selection_score, cb.selection_score, rtol=1e-9)
