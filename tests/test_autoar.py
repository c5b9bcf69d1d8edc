"""Auto-AR pipeline: coefficient recovery, order selection, moment scoring vs explicit forecasts."""
import json
import subprocess
import sys

import numpy as np
import pytest

from autofast.data.timeseries import PreparedSeries, SeriesData, window_range
from autofast.forecast import AutoARConfig, run_autoar
from autofast.forecast.autoar import window_forecasts
from autofast.forecast.grid import fit_grid, score_grid, window_lag_moments
from autofast.kernels.ar_grid import get_backend

NUMBA = get_backend("numba", "cpu")


def lag_windows(z: np.ndarray, start: int, count: int, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Explicit windows: inputs ``(C, N, L)`` in lag order (lag 1 first) and targets ``(C, N, H)``."""
    W = lookback + horizon
    win = np.lib.stride_tricks.sliding_window_view(z[:, start : start + count + W - 1], W, axis=1)
    return win[:, :, lookback - 1 :: -1][:, :, :lookback], win[:, :, lookback:]


def simulate_ar(phi, n, channels=1, d=0, c=0.0, seed=0, burn=500):
    rng = np.random.default_rng(seed)
    p = len(phi)
    out = np.zeros((channels, n + burn))
    e = rng.standard_normal((channels, n + burn))
    for t in range(p, n + burn):
        out[:, t] = c + out[:, t - p : t][:, ::-1] @ np.asarray(phi) + e[:, t]
    w = out[:, burn:]
    for _ in range(d):
        w = np.cumsum(w, axis=1)
    return w


def test_fit_recovers_simulated_coefficients():
    phi = [0.6, -0.3, 0.2]
    z = simulate_ar(phi, 20000, channels=2, seed=1)
    grid = fit_grid(z, (0, z.shape[1]), orders=(1, 6), diff_orders=[0], intercepts=[False], pooled=True,
                    lookback=8, backend=NUMBA)
    k = np.nonzero(grid.p == 3)[0][0]
    np.testing.assert_allclose(grid.psi[k, :3], phi, atol=0.02)
    k5 = np.nonzero(grid.p == 5)[0][0]
    np.testing.assert_allclose(grid.psi[k5, 3:5], [0, 0], atol=0.02)


def test_fit_recovers_differenced_model_and_intercept():
    phi, c = [0.5, 0.2], 0.3
    y = simulate_ar(phi, 20000, d=1, c=c, seed=2)
    grid = fit_grid(y, (0, y.shape[1]), orders=(2, 2), diff_orders=[1], intercepts=[True], pooled=True,
                    lookback=8, backend=NUMBA)
    # AR(2) on differences with intercept -> level AR(3): psi = [1 + phi1, phi2 - phi1, -phi2]
    np.testing.assert_allclose(grid.psi[0, :3], [1.5, -0.3, -0.2], atol=0.03)
    assert abs(float(grid.intercept[0]) - c) < 0.05


@pytest.mark.parametrize("pooled", [True, False])
def test_moment_scores_equal_explicit_recursive_forecasts(pooled, seed):
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((3, 400)).cumsum(axis=1) * 0.1 + rng.standard_normal((3, 400))
    L, H = 12, 5
    grid = fit_grid(z, (0, 250), orders=(1, 10), diff_orders=[0, 1, 2], intercepts=[True, False], pooled=pooled,
                    lookback=L, backend=NUMBA)
    mom = window_lag_moments(z, 250 - L, 120, L, H, pooled, NUMBA)
    scores = score_grid(grid, mom, NUMBA)
    inputs, truth = lag_windows(z, 250 - L, 120, L, H)
    for i in rng.choice(len(grid), 25, replace=False):
        psi, c = grid.psi[i], float(grid.intercept[i])
        chans = range(3) if pooled else [int(grid.group[i])]
        errs = []
        for ch in chans:  # plain recursive forecasting, window by window
            for n in range(120):
                hist = list(inputs[ch, n, ::-1])
                for _ in range(H):
                    hist.append(c + float(np.dot(psi, hist[::-1][: len(psi)])))
                errs.append((np.array(hist[L:]) - truth[ch, n]) ** 2)
        np.testing.assert_allclose(scores[i], np.mean(errs, axis=0), rtol=1e-8, err_msg=f"cand {i} seed {seed}")


def test_bic_selection_finds_true_order():
    phi = [0.5, -0.25, 0.0, 0.3]
    z = simulate_ar(phi, 6000, channels=1, seed=3)
    ps = PreparedSeries.build("sim", SeriesData.from_array(z.T), "ratio")
    res, _ = run_autoar(ps, AutoARConfig(horizons=[1], lookback=20, max_order=15, diff_orders=[0], intercept="no",
                                         selection="bic", backend="numba", device="cpu"))
    assert res[0].chosen[0].p == 4


def test_validation_selection_finds_the_true_forecaster():
    # ARIMA(2,1,0) is the level AR(3) psi = [1 + phi1, phi2 - phi1, -phi2]; AR(3) with d=0 nests it,
    # so validation may pick either spelling: the level order and coefficients must be the true ones.
    phi = [0.7, -0.4]
    y = simulate_ar(phi, 8000, channels=2, d=1, seed=4)
    ps = PreparedSeries.build("sim", SeriesData.from_array(y.T), "ratio", (0.7, 0.1, 0.2))
    res, info = run_autoar(ps, AutoARConfig(horizons=[4], lookback=16, max_order=8, backend="numba", device="cpu"))
    ch = res[0].chosen[0]
    assert ch.p + ch.d == 3
    np.testing.assert_allclose(ch.psi, [1.7, -1.1, 0.4], atol=0.03)
    assert info["candidates"] == 2 * (8 + 8 + 8) * (1 + 2)  # pooling auto: the pooled grid and one per channel
    assert info["pooling_tried"] == ["global", "per-channel"]


def test_per_channel_models_and_test_metrics_are_consistent(seed):
    rng = np.random.default_rng(seed)
    y = np.stack([simulate_ar([0.8], 3000, seed=5)[0], simulate_ar([0.2, 0.5], 3000, seed=6)[0]], axis=1)
    y = y + rng.normal(0, 1e-3, y.shape)
    ps = PreparedSeries.build("sim", SeriesData.from_array(y), "ratio")
    res, _ = run_autoar(ps, AutoARConfig(horizons=[3], lookback=10, max_order=6, diff_orders=[0], pooling="per-channel",
                                         backend="numba", device="cpu"))
    r = res[0]
    assert [c.group for c in r.chosen] == [0, 1]
    assert r.chosen[1].p >= 2
    wr = window_range(ps.bounds, "test", 10, 3)
    assert (r.test_start, r.test_windows) == (wr.start, wr.count)
    assert np.isclose(r.mse, np.mean(r.mse_per_channel)) and np.isclose(r.mse, np.mean(r.mse_per_step))
    # the streamed test errors equal explicit forecasts of every test window
    fc, truth = window_forecasts(ps.z, r.chosen, wr.start + np.arange(wr.count), 10, 3, NUMBA)
    assert fc.shape == (wr.count, 3, 2)
    err = fc - truth
    np.testing.assert_allclose(r.mse_per_channel, (err**2).mean(axis=(0, 1)), rtol=1e-10)
    np.testing.assert_allclose(r.mae_per_channel, np.abs(err).mean(axis=(0, 1)), rtol=1e-10)
    np.testing.assert_allclose(r.mse_per_step, (err**2).mean(axis=(0, 2)), rtol=1e-10)


@pytest.mark.parametrize("other", ["reference", "triton"])
def test_backends_select_the_same_candidate(other):
    import os

    if other == "triton" and (os.environ.get("TRITON_INTERPRET") != "1" or not get_backend("triton", "cpu").name == "triton"):
        pytest.skip("triton runs on the CPU only under TRITON_INTERPRET=1")
    z = simulate_ar([0.6, 0.2], 1500, channels=2, seed=7)
    ps = PreparedSeries.build("sim", SeriesData.from_array(z.T), "ratio")
    cfg = dict(horizons=[3], lookback=8, max_order=6, device="cpu")
    a, ia = run_autoar(ps, AutoARConfig(backend="numba", **cfg))
    b, ib = run_autoar(ps, AutoARConfig(backend=other, **cfg))
    assert (ia["backend"], ib["backend"]) == ("numba", other)
    assert (a[0].chosen[0].p, a[0].chosen[0].d) == (b[0].chosen[0].p, b[0].chosen[0].d)
    assert np.isclose(a[0].mse, b[0].mse, rtol=1e-9) and np.isclose(a[0].mae, b[0].mae, rtol=1e-9)
    np.testing.assert_allclose(a[0].chosen[0].psi, b[0].chosen[0].psi, rtol=1e-9, atol=1e-12)


def test_kpss_rule_differences_a_random_walk():
    from autofast.forecast.autoar import kpss_diff_order

    rng = np.random.default_rng(0)
    assert kpss_diff_order(rng.standard_normal((2, 2000)).cumsum(axis=1)) == 1
    assert kpss_diff_order(rng.standard_normal((2, 2000))) == 0


def test_cpu_forecast_never_imports_torch(tmp_path):
    """The numba path end to end (CLI, grid, test stage, outputs, plot) runs without torch."""
    rng = np.random.default_rng(0)
    y = simulate_ar([0.6, 0.2], 900, channels=2, seed=8).T + rng.normal(0, 1e-3, (900, 2))
    path = tmp_path / "s.npy"
    np.save(path, y)
    code = (
        "import sys, autofast.cli as c\n"
        f"rc = c.main(['forecast', '--data', {str(path)!r}, '--horizon', '4', '--lookback', '16', '--max-order', '8', "
        f"'--out', {str(tmp_path / 'run')!r}, '--json'])\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**__import__("os").environ,
                       "AUTOFAST_AR_BACKEND": "numba"})
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "NO-TORCH", r.stderr
    assert json.loads(r.stdout)["run"]["backend"] == "numba"
    assert (tmp_path / "run" / "forecast_vs_truth.png").exists()
    r = subprocess.run([sys.executable, "-c", "import sys, autofast.cli, autofast.forecast, autofast.kernels.ar_grid; "
                        "autofast.cli.build_parser(); print('torch' in sys.modules)"], capture_output=True, text=True)
    assert r.stdout.strip() == "False", r.stderr


def _ols_level_ar(series: list[np.ndarray], p: int, d: int, intercept: bool) -> tuple[np.ndarray, float]:
    """float64 reference: AR(p) on the d-times differenced rows of every series pooled, by lstsq, as level
    coefficients (lag 1 first) of order p + d and the intercept."""
    X, y = [], []
    for s in series:
        w = np.diff(s, n=d) if d else s
        for t in range(p, len(w)):
            X.append(np.r_[[1.0] if intercept else [], w[t - p : t][::-1]])
            y.append(w[t])
    beta = np.linalg.lstsq(np.asarray(X), np.asarray(y), rcond=None)[0]
    c, phi = (beta[0], beta[1:]) if intercept else (0.0, beta)
    poly = np.r_[1.0, -phi]  # (1 - phi(B)) (1 - B)^d on the levels
    for _ in range(d):
        poly = np.convolve(poly, [1.0, -1.0])
    return -poly[1:], float(c)


@pytest.mark.parametrize("pooled, d, intercept, shrink", [(True, 0, True, 0.0), (False, 1, False, 0.5),
                                                          (True, 1, True, 0.25)])
def test_refit_models_is_ols_on_the_given_rows(pooled, d, intercept, shrink):
    """The final refit (forecasts after the data) against a float64 lstsq on every row; its shrinkage kept."""
    from autofast.forecast.autoar import ChosenModel, refit_models

    rng = np.random.default_rng(7)
    z = simulate_ar([0.5, -0.2], 300, channels=2, d=d, c=0.3, seed=int(rng.integers(1 << 30)))
    z = (z - z.mean(1, keepdims=True)) / z.std(1, keepdims=True)
    p = 3
    stale = [float("nan")] * (p + d)  # a refit must replace these
    chosen = ([ChosenModel(0, p, d, intercept, 0.1, stale, 9.0, shrink=shrink)] if pooled else
              [ChosenModel(g, p, d, intercept, 0.1, stale, 9.0, shrink=shrink) for g in range(2)])
    out = refit_models(z, chosen, (0, 300), lookback=20, backend=NUMBA)
    for m in out:
        rows = [z[0], z[1]] if pooled else [z[m.group]]
        psi, c = _ols_level_ar(rows, p, d, intercept)
        psi = (1 - shrink) * psi
        psi[0] += shrink
        np.testing.assert_allclose(m.psi, psi, rtol=1e-7, atol=1e-9)
        assert m.c == pytest.approx((1 - shrink) * c, rel=1e-7, abs=1e-9)
        assert (m.p, m.d, m.intercept, m.shrink, m.selection_score) == (p, d, intercept, shrink, 0.1)
    naive = [ChosenModel(0, 1, 0, False, 0.2, [1.0], kind="naive"), ChosenModel(1, 0, 0, False, 0.3, [], kind="theta")]
    assert refit_models(z, naive, (0, 300), lookback=20, backend=NUMBA) == naive


def test_forecasts_after_the_data_use_every_row():
    """A level shift near the end: the model refitted on every row follows it; the tested model (fitted on the
    training rows) is the one scored, unchanged by next_fit."""
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(0, 1, 400)) * 0.2 + 10 * np.sin(np.arange(400) / 3)
    x[330:] += 40
    ps = PreparedSeries.build("shift", SeriesData.from_array(x[:, None], ["y"]), "ratio")
    cfg = AutoARConfig(horizons=[8], lookback=24, max_order=8, season=1)
    (a,), _ = run_autoar(ps, cfg)
    (b,), _ = run_autoar(ps, cfg.model_copy(update={"next_fit": "tested"}))
    assert a.mse == b.mse and a.chosen == b.chosen and b.final == b.chosen
    ar = [k for k, m in enumerate(a.chosen) if m.kind.split("+")[0] == "ar"]
    assert ar and all(a.final[k].psi != a.chosen[k].psi for k in ar)
    assert "every row" in a.final_on
