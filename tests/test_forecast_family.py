"""The family stage of a single series' forecast (autofast/forecast/family.py) and the local forecasters' path
through the window forecasts, the test errors and model.json: against explicit per-window references."""
from __future__ import annotations

import json

import numpy as np
import pytest

import autofast
from autofast.data.timeseries import window_range
from autofast.errors import AutofastError
from autofast.forecast.autoar import ChosenModel, forecasts_at, naive_model, window_forecasts
from autofast.forecast.autoar import test_errors as error_sums
from autofast.forecast.family import MAX_WINDOW_ROWS, choose_family, family_applies
from autofast.forecast.grid import common_hold_back, fit_grid
from autofast.forecast.model import ForecastModel
from autofast.kernels.ar_grid import get_backend
from cli_helpers import run_cli
from test_forecast_local import _damped_ref, _theta_ref

BACKEND = get_backend("numba", "cpu")


def _ar_ref(x, psi, c, H):
    """The level AR's recursive forecast after ``x``, scalar."""
    hist = list(x)
    for _ in range(H):
        hist.append(c + sum(p * hist[-1 - j] for j, p in enumerate(psi)))
    return np.array(hist[len(x):])


def _trend_series(seed, n=45):
    rng = np.random.default_rng(seed)
    return 100 + np.cumsum(rng.normal(2.0, 3.0, n)) + rng.normal(0, 2, n)


@pytest.mark.parametrize("kind", ["theta", "damped", "theta+damped", "ar+theta", "ar+damped", "ar+theta+damped"])
def test_forecasts_at_is_the_mean_of_the_parts_on_each_window(kind):
    rng = np.random.default_rng(7)
    z = np.cumsum(rng.normal(size=(2, 90)), axis=1)
    psi, c = [0.6, 0.3, -0.1], 0.05
    model = ChosenModel(0, 3, 0, True, 0.0, psi if kind.startswith("ar") else [], c if kind.startswith("ar") else 0.0,
                        kind=kind)
    starts, L, H = np.array([0, 5, 31, 60]), 24, 6
    got = forecasts_at(z, [model], starts, L, H, BACKEND)
    refs = {"ar": lambda w: _ar_ref(w, psi, c, H), "theta": lambda w: _theta_ref(w, H),
            "damped": lambda w: _damped_ref(w, H)}
    for i, s in enumerate(starts):
        for ch in range(2):
            w = z[ch, s : s + L]
            want = np.mean([refs[p](w) for p in kind.split("+")], axis=0)
            np.testing.assert_allclose(got[i, :, ch], want, rtol=1e-9, atol=1e-9)


def test_test_errors_of_a_local_model_are_the_explicit_sums():
    rng = np.random.default_rng(1)
    z = np.cumsum(rng.normal(size=(2, 120)), axis=1)
    chosen = [ChosenModel(0, 0, 0, False, 0.0, [], kind="theta+damped"),
              ChosenModel(1, 2, 0, False, 0.0, [0.9, 0.05], shrink=0.0, kind="ar+damped")]
    start, count, L, H = 40, 50, 20, 5
    sums = error_sums(z, chosen, start, count, L, H, BACKEND)
    fc, truth = window_forecasts(z, chosen, start + np.arange(count), L, H, BACKEND)
    for ch in range(2):
        e = np.array([np.mean([{"theta": _theta_ref, "damped": _damped_ref}[p](z[ch, s : s + L], H)
                               if p != "ar" else _ar_ref(z[ch, s : s + L], chosen[1].psi, 0.0, H)
                               for p in chosen[ch].kind.split("+")], axis=0) for s in start + np.arange(count)])
        e -= truth[:, :, ch]
        np.testing.assert_allclose(sums[ch, 0], (e * e).sum(0), rtol=1e-9)
        np.testing.assert_allclose(sums[ch, 1], np.abs(e).sum(0), rtol=1e-9)
    assert np.allclose(fc - truth, 0) is False


def _explicit_family_scores(z, grid, chosen, wr, L, H, season):
    """Every family's validation MSE with the AR pick of each block made on the others: each candidate forecast
    window by window (no moments), shrinkage off."""
    starts = wr.start + np.arange(wr.count)
    truth = z[:, starts[:, None] + L + np.arange(H)[None, :]].transpose(1, 2, 0)
    every = []
    for i in range(len(grid)):
        q = int(grid.order[i])
        m = ChosenModel(0, int(grid.p[i]), int(grid.d[i]), bool(grid.has_intercept[i]), 0.0,
                        list(grid.psi[i, :q]), float(grid.intercept[i]))
        every.append((m, ((forecasts_at(z, [m], starts, L, H, BACKEND) - truth) ** 2).mean(axis=(1, 2))))
    edges = np.linspace(0, wr.count, 4).round().astype(int)
    honest = np.empty_like(truth)
    for k in range(3):
        out = np.ones(wr.count, bool)
        out[edges[k] : edges[k + 1]] = False
        best = min(every, key=lambda me: me[1][out].mean() if np.isfinite(me[1][out]).all() else np.inf)[0]
        sl = slice(edges[k], edges[k + 1])
        honest[sl] = forecasts_at(z, [best], starts[sl], L, H, BACKEND)
    loc = {k: forecasts_at(z, [ChosenModel(0, 0, 0, False, 0.0, [], kind=k)], starts, L, H, BACKEND)
           for k in ("theta", "damped")}
    fams = {"ar": honest, **loc, "theta+damped": (loc["theta"] + loc["damped"]) / 2,
            "ar+theta": (honest + loc["theta"]) / 2, "ar+damped": (honest + loc["damped"]) / 2,
            "ar+theta+damped": (honest + loc["theta"] + loc["damped"]) / 3}
    for m in sorted({1, season}):
        fams["naive" if m == 1 else "seasonal naive"] = forecasts_at(z, [naive_model(0, m, 0.0)], starts, L, H, BACKEND)
    return {k: float(((f - truth) ** 2).mean()) for k, f in fams.items()}


@pytest.mark.parametrize("seed", [0, 3])
def test_choose_family_scores_the_ar_pick_on_blocks_it_was_not_chosen_on(seed):
    fc = autofast.forecast(_trend_series(seed, 60), horizon=4, shrink=False, theta=False, naive=False, split="ratio")
    cfg, ps, L, H = fc.config, fc.series, fc.config.lookback, 4
    z, b = ps.z, ps.bounds
    orders = (cfg.min_order, cfg.max_order)
    grid = fit_grid(z, (0, b.train_end), orders=orders, diff_orders=list(cfg.diff_orders), intercepts=[True, False],
                    pooled=True, lookback=L, backend=BACKEND,
                    hold_back=common_hold_back(orders, list(cfg.diff_orders), L))
    wr = window_range(b, "val", L, H)
    pick = fc.chosen[H]
    models, errors = choose_family(z, grid, pick, wr.start, wr.count, L, H, 1, naive=True, shrink=False,
                                   pooled=True, backend=BACKEND)
    got = models[0]
    assert errors.shape == (wr.count, H, 1) and float((errors ** 2).mean()) == pytest.approx(got.selection_score,
                                                                                             rel=1e-9)
    want = _explicit_family_scores(z, grid, pick, wr, L, H, 1)
    best = min(want, key=want.get)
    assert got.kind == best and got.selection_score == pytest.approx(want[best], rel=1e-7)
    if best.startswith("ar"):  # the AR part is the pick made on every window
        assert (got.p, got.d, got.psi) == (pick[0].p, pick[0].d, pick[0].psi)
    # the AR pick's own validation error (chosen on those windows) is below its honest one
    own = float(((lambda f: (f[0] - f[1]) ** 2)(window_forecasts(z, pick, wr.start + np.arange(wr.count), L, H,
                                                                  BACKEND))).mean())
    assert own <= want["ar"] + 1e-12


def test_a_trending_short_series_gets_a_local_family_and_predicts_from_its_file(tmp_path):
    x = _trend_series(0)
    fc = autofast.forecast(x, horizon=4, split="ratio")
    ch = fc.chosen[4][0]
    assert ch.kind in ("theta", "damped", "theta+damped", "ar+theta", "ar+damped", "ar+theta+damped", "naive"), ch
    assert "family" in fc.results[0].selected_on
    model = fc.model
    model.save(tmp_path)
    loaded = ForecastModel.load(tmp_path)
    assert loaded.chosen[4][0].kind == ch.kind
    L = model.lookback
    got = loaded.predict(x[:, None], 4)[:, 0]
    zt = (x[-L:] - model.scaler.mean[0]) / model.scaler.std[0]
    want = forecasts_at(zt[None, :], [ch], np.array([0]), L, 4, BACKEND)[0, :, 0] * model.scaler.std[0] + \
        model.scaler.mean[0]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(fc.next().iloc[:, -1].to_numpy(), got, rtol=1e-12)
    off = autofast.forecast(x, horizon=4, theta=False, split="ratio")
    assert off.chosen[4][0].kind in ("ar", "naive") and "family" not in off.results[0].selected_on


@pytest.mark.parametrize("kind, psi", [("bogus", []), ("damped", [0.5]), ("ar+theta", [])])
def test_model_file_with_an_unknown_kind_or_missing_coefficients_is_refused(tmp_path, kind, psi):
    fc = autofast.forecast(_trend_series(1), horizon=4, split="ratio")
    fc.model.save(tmp_path)
    d = json.loads((tmp_path / "model.json").read_text())
    d["horizons"]["4"][0].update(kind=kind, psi=psi)
    (tmp_path / "model.json").write_text(json.dumps(d))
    with pytest.raises(AutofastError, match="not a readable forecast model"):
        ForecastModel.load(tmp_path)


def test_family_stage_only_where_the_local_fits_are_cheap():
    assert family_applies(7, 7, 13, 1) and not family_applies(1, 7, 13, 1)
    assert not family_applies(2785, 2785, 512, 1)  # ETTh1's hourly protocol: the AR pick against the naive ones
    assert family_applies(MAX_WINDOW_ROWS // 20 - 10, 10, 10, 2) and not family_applies(MAX_WINDOW_ROWS // 20, 1, 10, 2)


def test_cli_theta_flag(tmp_path, capsys):
    import pandas as pd

    csv = tmp_path / "sales.csv"
    pd.DataFrame({"year": np.arange(1960, 2005), "sales": _trend_series(2)}).to_csv(csv, index=False)
    for flag in ("yes", "no"):
        out = tmp_path / flag
        code, stdout, err = run_cli(["forecast", "--split", "ratio", "--data", str(csv), "--out", str(out),
                                     "--no-plot", "--json",
                                     "--theta", flag], capsys)
        assert code == 0, err
        res = json.loads(stdout)["results"][0]
        assert ("family" in res["selected_on"]) == (flag == "yes")
        if flag == "no":
            assert {c["kind"] for c in res["chosen"]} <= {"ar", "naive"}
        code, _, err = run_cli(["predict", str(out), "--data", str(csv), "--out", str(tmp_path / f"p_{flag}.csv")],
                               capsys)
        assert code == 0, err
        assert len((tmp_path / f"p_{flag}.csv").read_text().splitlines()) == 1 + res["horizon"]


def test_per_channel_families_are_each_channels_and_tested_as_chosen():
    rng = np.random.default_rng(5)
    cyc = np.zeros(60)
    for t in range(2, 60):
        cyc[t] = 1.3 * cyc[t - 1] - 0.6 * cyc[t - 2] + rng.normal()
    x = np.c_[_trend_series(4, 60), cyc]
    fc = autofast.forecast(x, horizon=4, pooling="per-channel")
    r = fc.results[0]
    assert [c.group for c in r.chosen] == [0, 1] and "family" in r.selected_on
    ps, L = fc.series, r.lookback
    f, t = window_forecasts(ps.z, r.chosen, r.test_start + np.arange(r.test_windows), L, 4, BACKEND)
    np.testing.assert_allclose(r.mse_per_channel, ((f - t) ** 2).mean(axis=(0, 1)), rtol=1e-9)
