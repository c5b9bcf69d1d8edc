"""A short univariate series (at most 300 rows, or splits that cannot hold the horizon) is a panel of one
(autofast/forecast/short.py)."""
import json

import numpy as np
import pandas as pd
import pytest

import autofast
from autofast.cli import main
from autofast.errors import AutofastError
from autofast.forecast.api import Forecast
from autofast.forecast.autoar import ChosenModel
from autofast.forecast.panel import PanelResult, _earlier_origin_errors, forecast_series, mase_scale
from autofast.forecast.seasonal import Transform
from autofast.forecast.short import panel_of_one
from autofast.data.timeseries import SeriesData
from autofast.kernels.ar_grid import get_backend


def _sales(n=66, seed=0):
    t = np.arange(n)
    y = 100 + t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 2, n)
    return pd.DataFrame({"Month": pd.date_range("2000-01-01", periods=n, freq="MS").strftime("%Y-%m"), "sales": y})


def test_a_short_series_runs_as_a_panel_of_one_end_to_end(tmp_path, capsys):
    """66 monthly rows at M4's 18 steps: 'forecasts at most 13 steps' before; now the panel protocol, its files
    without an id column, and predict on newer rows of the one series."""
    df = _sales()
    df.to_csv(tmp_path / "sales.csv", index=False)
    assert main(["forecast", "--data", str(tmp_path / "sales.csv"), "--horizon", "18", "--out", str(tmp_path / "r"),
                 "--json", "--no-plot"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["kind"] == "panel of one" and "66 rows, at most 300" in res["reason"] and res["series"] == 1
    assert res["test"]["Auto-AR"]["series_mase"] == 1
    nxt = pd.read_csv(tmp_path / "r" / "forecast_next_H18.csv")
    assert list(nxt.columns[:2]) == ["date", "sales"] and len(nxt) == 18 and nxt["date"].iloc[0] == "2005-07"
    assert np.isfinite(nxt.to_numpy()[:, 1:].astype(float)).all()  # intervals from earlier origins, not NaN
    api = autofast.forecast(tmp_path / "sales.csv", horizon=18)
    assert isinstance(api, PanelResult) and api.reason == res["reason"]
    np.testing.assert_allclose(api.next().to_numpy()[:, 1].astype(float), nxt["sales"], rtol=1e-12)
    newer = pd.concat([df, pd.DataFrame({"Month": ["2005-07", "2005-08"], "sales": [170.0, 171.0]})])
    newer.to_csv(tmp_path / "newer.csv", index=False)
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "newer.csv")]) == 0
    got = pd.read_csv(tmp_path / "r" / "forecast-newer-H18.csv")
    assert got["date"].iloc[0] == "2005-09"
    np.testing.assert_allclose(got["sales"], api.model.predict([newer["sales"].to_numpy()])[0], rtol=1e-12)
    np.testing.assert_allclose(api.predict(newer)["sales"], got["sales"], rtol=1e-12)
    df.head(1).to_csv(tmp_path / "one.csv", index=False)  # (audit) NaN intervals and step numbers, exit 0
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "one.csv")]) == 2
    assert "at least 4 rows" in capsys.readouterr().err
    with pytest.raises(AutofastError, match="at least 4 rows"):
        api.predict(df.head(2))


@pytest.mark.parametrize("change, needle", [
    ({"split": "ratio"}, "forecasts at most 13 steps"),      # a window-only option keeps the window protocol
    ({"lookback": 10}, "too short for the horizon 18"),
    ({"channels": 2}, "forecasts at most 13 steps"),         # several channels: the window protocol
    ({"horizon": 32}, "66 rows hold at most 31 steps ahead"),  # 66 - 2 x 32 < 4 rows to fit on: said as such
    ({"season": 60, "horizon": 6}, "season 60 exceeds the 54 rows before the last two horizons"),
])
def test_the_window_protocol_and_its_error_stand_otherwise_or_the_short_protocol_is_named(change, needle):
    df = _sales().set_index("Month")
    if change.pop("channels", 1) == 2:
        df["other"] = df["sales"][::-1].to_numpy()
    horizon = change.pop("horizon", 18)
    with pytest.raises(AutofastError, match=needle):
        autofast.forecast(df, horizon=horizon, **change)


def test_longer_series_keep_the_window_protocol_unless_it_cannot_hold_the_horizon():
    df = _sales(320).set_index("Month")
    assert isinstance(autofast.forecast(df, horizon=6), Forecast)
    res = autofast.forecast(df, horizon=70)  # 320 x 0.2 = 64 validation rows < 70
    assert isinstance(res, PanelResult) and "cannot hold 70 steps" in res.reason


def test_earlier_origin_errors_are_the_explicit_forecasts():
    """Each error: the choice forecasting from an earlier origin of the series, over the MASE scale of the
    validation stage's history."""
    y = _sales(80, seed=3)["sales"].to_numpy()
    panel = panel_of_one(SeriesData.from_array(y[:, None], ["sales"], "s"))
    chosen = ChosenModel(0, 2, 1, True, 0.0, [1.3, -0.1, -0.2], 0.05, kind="ar+theta+damped")
    H, m, tf = 6, 12, Transform(log=True)
    n = len(y)
    got = _earlier_origin_errors(panel, np.array([0]), np.array([mase_scale(y[: n - 2 * H], m)]), chosen, tf, m, H,
                                 get_backend("auto", "cpu"), 5)
    origins = [n - 2 * H - 1 - k for k in range(5)]
    scale = mase_scale(y[: n - 2 * H], m)  # one unit for every origin: the validation-stage history's scale
    want = [(forecast_series([y[:o]], chosen, H, tf, m)[0] - y[o : o + H]) / scale for o in origins]
    np.testing.assert_allclose(got, np.array(want), rtol=1e-10)


def test_default_valued_options_keep_the_panel_of_one_and_its_intervals_hold_up(tmp_path, capsys):
    """(audit) --selection val / --next-fit all / --device cpu, the defaults, switched to the window protocol; a
    constant series and one with n - 2H = 4 rows had NaN intervals; one spike of 1e5 gave a 95% bound of 2.3e7
    (each earlier origin's errors over its own history's scale)."""
    df = _sales(48).set_index("Month")
    for options in ({"selection": "val"}, {"next_fit": "all", "device": "cpu"}):
        assert isinstance(autofast.forecast(df, **options), PanelResult)
    const = autofast.forecast(pd.Series(np.full(48, 7.0), index=df.index, name="x")).next(intervals=True)
    assert (const.iloc[:, 1:].to_numpy(dtype=float) == 7.0).all()
    tight = autofast.forecast(df, horizon=22).next(intervals=True)  # 48 - 2 x 22 = 4 rows before the held-out ones
    assert np.isfinite(tight.iloc[:, 1:].to_numpy(dtype=float)).all()
    spiky = df.copy()
    spiky.iloc[30, 0] = 1e5
    band = autofast.forecast(spiky).next(intervals=True)["sales-hi-95"]
    assert band.max() < 1e6  # of the spike's order, not 230 times it
    df.to_csv(tmp_path / "s.csv")
    assert main(["forecast", "--data", str(tmp_path / "s.csv"), "--out", str(tmp_path / "r"), "--no-plot"]) == 0
    capsys.readouterr()
    assert main(["forecast", "--data", str(tmp_path / "s.csv"), "--out", str(tmp_path / "r"), "--no-plot"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err  # the reason note waits for the run folder


def test_a_panel_of_one_adjusts_by_the_seasonality_test_and_keeps_the_mean(monkeypatch):
    """One series' one validation window cannot choose the seasonal adjustment or a single model (FEW_SERIES): a
    flat validation window makes the naive forecast far ahead there, yet the mean with Theta and the damped trend
    stands, on the seasonally adjusted values (the series passes M4's test); with the selection of panels (the
    rule off) the naive forecast was chosen."""
    import autofast.forecast.panel as panel_module

    n, H = 72, 6
    t = np.arange(n)
    y = 100 + 0.8 * t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(3).normal(0, 1, n)
    y[n - 2 * H : n - H] = y[n - 2 * H - 1]  # the validation window: the last value held
    frame = pd.DataFrame({"date": pd.date_range("2000-01-01", periods=n, freq="MS").strftime("%Y-%m-%d"), "y": y})
    res = autofast.forecast(frame, horizon=H)
    assert isinstance(res, PanelResult) and res.validation_series == 1
    assert res.selection["single"]["validation_mase"] < 0.5 * res.selection["mean"]["validation_mase"]
    assert "theta" in res.chosen.kind and res.transform.deseason and res.config.diff_orders == [0, 1]  # no d = 2
    monkeypatch.setattr(panel_module, "FEW_SERIES", 1)  # a panel's selection
    old = autofast.forecast(frame, horizon=H)
    assert old.chosen.kind == "naive"


def test_a_season_kept_for_the_adjustment_scales_intervals_as_validated(tmp_path):
    """42 monthly rows at 18 steps: the validation history (6 rows) holds no two seasons, yet the season stays for
    the refits' seasonal adjustment (the series holds three); the validation errors were in one-step units (its
    MASE scale falls back to lag 1), so the intervals after the data are too (scale_lag 1), not in the seasonal
    differences of the 42 rows, and model.json keeps that."""
    from autofast.forecast.panel import PanelModel

    df = _sales(42)
    res = autofast.forecast(df, horizon=18)
    assert isinstance(res, PanelResult) and res.config.season == 12 and res.model.scale_lag == 1
    nxt = res.next(intervals=True)
    y = df["sales"].to_numpy(float)
    half = (nxt["sales-hi-95"] - nxt["sales"]).to_numpy()
    assert np.allclose(half, np.array(res.model.halfwidths[95]) * mase_scale(y, 1))
    assert not np.allclose(half, np.array(res.model.halfwidths[95]) * mase_scale(y, 12))
    res.model.save(tmp_path)
    again = PanelModel.from_dict(json.loads((tmp_path / "model.json").read_text()), tmp_path / "model.json")
    assert again.scale_lag == 1 and again == res.model
    assert autofast.forecast(_sales(66), horizon=18).model.scale_lag == 0  # 30 rows validated: seasonal units


def test_a_loaded_panel_of_one_predicts_from_one_series_in_any_form(tmp_path):
    """autofast.load(run).predict(last_rows) (the README's line) on a panel-of-one run: a 1-D array or Series was a
    TypeError, a path or DataFrame a float conversion error, and a (T, 1) array T one-row series, silently."""
    df = _sales(90)
    path = tmp_path / "sales.csv"
    df.to_csv(path, index=False)
    assert main(["forecast", "--data", str(path), "--out", str(tmp_path / "r"), "--no-plot"]) == 0
    model = autofast.load(tmp_path / "r")
    y = df["sales"].to_numpy(float)
    want = model.predict([y])[0]
    for rows in (y, y[:, None], list(y), pd.Series(y, name="other"), df, str(path)):
        got = model.predict(rows)
        assert got.shape == (len(want), 1) and np.allclose(got[:, 0], want), type(rows)
    assert model.predict([y, y[:60]]).shape == (2, len(want))  # a list of series: one row each
    with pytest.raises(AutofastError, match="at least"):
        model.predict(y[:2])


def test_a_panel_of_one_says_whether_its_series_was_adjusted_and_what_rule_chose(tmp_path):
    """The label 'seasonally adjusted' names the transform; a trending series that fails M4's test was not adjusted,
    and the run now says so (it read as adjusted), and its report states the few-series rule, not the panel's margin."""
    t = np.arange(60)
    y = 200 + 2 * t + 30 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 5, 60)
    df = pd.DataFrame({"date": pd.date_range("2000-01-01", periods=60, freq="MS").strftime("%Y-%m-%d"), "y": y})
    res = autofast.forecast(df)
    assert res.transform.deseason and res.selection["seasonal adjustment"].startswith("0 of 1 series pass")
    assert "too few windows to fit an AR" in res.sized_from_data["max_order"]
    path = tmp_path / "s.csv"
    df.to_csv(path, index=False)
    assert main(["forecast", "--data", str(path), "--out", str(tmp_path / "r"), "--no-plot"]) == 0
    report = (tmp_path / "r" / "report.md").read_text()
    assert "the mean with the per-series models stands" in report and "0 of 1 series pass" in report
    assert "a single model is chosen only below" not in report


@pytest.mark.parametrize("row", [50, 52, 57])
def test_one_typo_in_a_short_series_neither_pulls_the_forecast_nor_blows_up_its_bounds(row):
    """60 rows near 300 with one typo of 50 000: 8 rows before the end it pulled the forecast to ~2 300 (Theta's
    level and the damped trend on it), in the validation target (row 50) the 95% bounds reached 6.6e6 (the spike in
    the error and in the scale that carries it). Now the models fit the spike replaced by its neighbours' mean."""
    rng = np.random.default_rng(3)
    y = 300 + 10 * rng.standard_normal(60)
    y[row] = 50_000
    res = autofast.forecast(y)
    nxt = res.next(intervals=True)
    point = nxt["ch0"].to_numpy()
    assert np.all(np.abs(point - 300) < 40), point
    hi = nxt["ch0-hi-95"].to_numpy()
    assert np.all(hi[:2] < 400) and np.all(hi < 1e5), hi  # a spike in a validation target: a bound near its size
    assert "replaced by its neighbours' mean" in res.sized_from_data["isolated spikes"]
    assert res.sized_from_data["extreme values"].endswith("check them")


def test_a_panel_of_one_answers_the_forecasts_test_attributes():
    """The README's ``fc.test_mse, fc.seasonal_naive_mse`` raised AttributeError on a series of 144 rows (a panel of
    one): the panel result now has them, per its one horizon, as a window protocol Forecast does."""
    df = _sales(144)
    fc = autofast.forecast(df)
    H = fc.config.horizon
    assert fc.horizons == [H] and fc.test_mse == {H: fc.test["Auto-AR"]["mse"]}
    assert fc.seasonal_naive_mse == {H: fc.test["seasonal naive"]["mse"]}
