"""Prediction intervals (autofast/forecast/intervals.py) and their path through a forecast run: half-widths against
direct references, coverage on data where the nominal rate is known, model.json, predict and the API."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student

import autofast
from autofast.forecast.intervals import coverage, halfwidths, interval_columns, interval_score
from autofast.forecast.model import ForecastModel
from cli_helpers import run_cli


def test_halfwidths_are_the_conformal_rank_or_the_t_interval():
    rng = np.random.default_rng(0)
    e = rng.standard_normal((40, 3))
    hw = halfwidths(e, (80, 95))
    for lv in (80, 95):
        k = math.ceil(41 * lv / 100)  # 33rd and 39th of 40
        np.testing.assert_allclose(hw[lv], np.sort(np.abs(e), axis=0)[k - 1], rtol=1e-15)
    few = rng.standard_normal((6, 2))  # 80%: rank 6 of 6; 95%: rank 7 > 6 -> t_5 interval
    hw = halfwidths(few, (80, 95))
    np.testing.assert_allclose(hw[80], np.abs(few).max(0), rtol=1e-15)
    rms = np.sqrt((few ** 2).mean(0))
    np.testing.assert_allclose(hw[95], np.fmax(student.ppf(0.975, 5) * math.sqrt(7 / 6) * rms, hw[80]), rtol=1e-12)


def test_halfwidths_ignore_missing_errors_and_need_two():
    e = np.array([[1.0, np.nan], [-2.0, 3.0], [0.5, np.nan]])
    hw = halfwidths(e, (50, 80))
    assert hw[50][0] == 1.0 and hw[50][1] == 3.0  # one error: its conformal rank 1 of 1 at 50%
    assert np.isnan(hw[80][1])  # rank 2 of 1, and no variance from one error: no interval
    assert hw[80][0] >= hw[50][0]


def test_levels_are_nested_and_widths_grow_with_the_errors():
    rng = np.random.default_rng(1)
    e = rng.standard_normal((12, 5))
    hw = halfwidths(e, (50, 80, 95, 99))
    assert all((hw[a] <= hw[b]).all() for a, b in ((50, 80), (80, 95), (95, 99)))
    np.testing.assert_allclose(halfwidths(3 * e, (80,))[80], 3 * hw[80])


def test_interval_score_and_coverage_by_hand():
    y, lo, hi = np.array([0.0, 2.0, -3.0]), np.array([-1.0, -1.0, -1.0]), np.array([1.0, 1.0, 1.0])
    np.testing.assert_allclose(interval_score(y, lo, hi, 80), [2.0, 2.0 + 10 * 1.0, 2.0 + 10 * 2.0])
    assert coverage(y, np.zeros(3), np.ones(3)) == pytest.approx(1 / 3)
    assert coverage(np.array([np.nan, 0.0]), np.zeros(2), np.ones(2)) == 1.0
    assert interval_columns("y") == ["y-lo-80", "y-hi-80", "y-lo-95", "y-hi-95"]


def test_white_noise_coverage_is_near_nominal():
    """Many windows of i.i.d. noise around a level: the validation errors are exchangeable with the test errors,
    so the test coverage must sit near the level (a scale or rank error would miss by far more than 4 points)."""
    y = 10 + np.random.default_rng(2).standard_normal(4000)
    fc = autofast.forecast(y, horizon=5, lookback=50, max_order=5, theta=False)
    cov = fc.results[0].intervals["test_coverage"]
    assert abs(cov["80"] - 0.80) < 0.04 and abs(cov["95"] - 0.95) < 0.03, cov


def _monthly(n=96, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame({"month": pd.date_range("2000-01", periods=n, freq="MS").strftime("%Y-%m"),
                         "sales": 100 + 0.5 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 2, n)})


def test_too_few_validation_windows_give_in_sample_intervals_and_no_warning(tmp_path, capsys):
    """12 daily rows, horizon 2: under two validation errors per step, so the training windows' errors give the
    intervals, said (they were NaN) -- and no numpy warning on the user's screen (it printed 'Mean of empty
    slice')."""
    import warnings

    y = np.cumsum(np.random.default_rng(0).normal(size=12))
    csv = tmp_path / "short.csv"
    pd.DataFrame({"date": pd.date_range("2020-01-01", periods=12, freq="D").strftime("%Y-%m-%d"), "y": y}).to_csv(
        csv, index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code, out, err = run_cli(["forecast", "--split", "ratio", "--data", str(csv), "--horizon", "2",
                                  "--out", str(tmp_path / "run"),
                                  "--no-plot", "--json"], capsys)
    assert code == 0, err
    iv = json.loads(out)["results"][0]["intervals"]
    assert all(v > 0 for v in iv["test_mean_width"].values()) and "training windows" in iv["from"]
    assert all(0 <= v <= 1 for v in iv["test_coverage"].values())


def test_intervals_through_the_model_file_predict_and_next(tmp_path, capsys):
    df = _monthly()
    csv = tmp_path / "sales.csv"
    df.to_csv(csv, index=False)
    code, out, err = run_cli(["forecast", "--split", "ratio", "--data", str(csv), "--out",
                              str(tmp_path / "run"), "--no-plot", "--json"],
                             capsys)
    assert code == 0, err
    res = json.loads(out)["results"][0]
    H = res["horizon"]
    hw = {int(k): np.asarray(v) for k, v in res["intervals"]["halfwidth"].items()}
    assert set(hw) == {80, 95} and hw[80].shape == (H, 1) and (hw[95] >= hw[80]).all()
    assert set(res["intervals"]["test_coverage"]) == {"80", "95"}
    model = ForecastModel.load(tmp_path / "run")
    point = model.predict(df[["sales"]].to_numpy(), H)
    bands = model.intervals(df[["sales"]].to_numpy(), H)
    for lv in (80, 95):
        np.testing.assert_allclose(bands[lv][1] - point, hw[lv] * model.scaler.std[None], rtol=1e-12)
        np.testing.assert_allclose(point - bands[lv][0], hw[lv] * model.scaler.std[None], rtol=1e-12)
    nxt = pd.read_csv(tmp_path / "run" / f"forecast_next_H{H}.csv")
    np.testing.assert_allclose(nxt["sales-hi-95"], bands[95][1][:, 0], rtol=1e-12)
    code, _, err = run_cli(["predict", str(tmp_path / "run"), "--data", str(csv), "--out", str(tmp_path / "p.csv")],
                           capsys)
    assert code == 0, err
    pred = pd.read_csv(tmp_path / "p.csv")
    pd.testing.assert_frame_equal(pred, nxt)
    api = autofast.forecast(df, split="ratio")
    frame = api.next(intervals=True)
    assert list(frame.columns) == ["sales", *interval_columns("sales")] and list(api.next().columns) == ["sales"]
    np.testing.assert_allclose(frame.to_numpy(), nxt.drop(columns="date").to_numpy(), rtol=1e-9)
    # a model file from before the intervals: point forecasts only
    d = json.loads((tmp_path / "run" / "model.json").read_text())
    del d["halfwidths"]
    (tmp_path / "run" / "model.json").write_text(json.dumps(d))
    assert ForecastModel.load(tmp_path / "run").intervals(df[["sales"]].to_numpy(), H) == {}
    code, _, err = run_cli(["predict", str(tmp_path / "run"), "--data", str(csv), "--out", str(tmp_path / "q.csv")],
                           capsys)
    assert code == 0 and list(pd.read_csv(tmp_path / "q.csv").columns) == ["date", "sales"]


@pytest.mark.parametrize("bad", [{"12": {"80": [[-1.0]] * 12}}, {"12": {"80": [[1.0]] * 5}}, {"7": {"80": [[1.0]]}}])
def test_model_file_with_bad_halfwidths_is_refused(tmp_path, bad):
    from autofast.errors import AutofastError

    fc = autofast.forecast(_monthly()["sales"].to_numpy(), horizon=12)
    fc.model.save(tmp_path)
    d = json.loads((tmp_path / "model.json").read_text())
    d["halfwidths"] = bad
    (tmp_path / "model.json").write_text(json.dumps(d))
    with pytest.raises(AutofastError, match="not a readable forecast model"):
        ForecastModel.load(tmp_path)


# ---------------------------------------------------------------------------------------------------------------
# panels: half-widths per step in units of each series' MASE scale


def _noise_panel(seed, S=300, lo=40, hi=70):
    from autofast.data.panel import PanelData

    rng = np.random.default_rng(seed)
    values = [rng.uniform(-50, 50) + rng.uniform(0.5, 10) * rng.standard_normal(int(rng.integers(lo, hi + 1)))
              for _ in range(S)]
    return PanelData([f"s{i:03d}" for i in range(S)], values, None, "unique_id", None, "y", "noise")


def test_panel_intervals_cover_exchangeable_noise_near_nominal():
    """Each series i.i.d. noise around its own level with its own scale: the scaled validation errors are
    exchangeable with the test ones, so the test coverage must sit near each level."""
    from autofast.forecast.panel import PanelConfig, run_panel

    res = run_panel(_noise_panel(0), PanelConfig(horizon=4))
    a = res.test["Auto-AR"]
    assert abs(a["coverage_80"] - 0.80) < 0.05 and abs(a["coverage_95"] - 0.95) < 0.035, a
    assert a["msis_95"] > a["mase"] and set(res.model.halfwidths) == {80, 95}
    hw = {k: np.asarray(v) for k, v in res.model.halfwidths.items()}
    assert hw[80].shape == (4,) and (hw[95] >= hw[80]).all() and (hw[80] > 0).all()


def test_panel_interval_test_scores_by_hand():
    from autofast.forecast.panel import _interval_test

    fc = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]])
    y = [np.array([1.0, -3.0]), np.array([10.0, 12.0]), np.array([0.0, 0.0])]
    scale = np.array([1.0, 2.0, 0.0])  # the third series: no scale, left out
    half = {80: np.array([2.0, 2.0])}
    out = _interval_test(fc, y, scale, half)
    # series 0: half-width 2 -> [-2, 2]: 1 in, -3 out by 1; series 1: half-width 4 -> [6, 14]: both in
    assert out["coverage_80"] == pytest.approx(3 / 4)
    s0 = np.mean([4.0, 4.0 + 10 * 1.0]) / 1.0
    s1 = 8.0 / 2.0
    assert out["msis_80"] == pytest.approx((s0 + s1) / 2)


def test_panel_next_bands_model_file_and_predict(tmp_path, capsys):
    from autofast.forecast.model import load_model
    from autofast.forecast.panel import PanelConfig, PanelModel, mase_scale, next_frame, run_panel

    panel = _noise_panel(1, S=40)
    res = run_panel(panel, PanelConfig(horizon=3))
    frame = res.next(intervals=True)
    assert list(frame.columns) == ["unique_id", "step", "y", *interval_columns("y")]
    assert list(res.next().columns) == ["unique_id", "step", "y"]
    scale = np.repeat([mase_scale(v, 1) for v in panel.values], 3)
    for lv in (80, 95):
        hw = np.tile(res.model.halfwidths[lv], len(panel))
        np.testing.assert_allclose(frame[f"y-hi-{lv}"] - frame["y"], hw * scale, rtol=1e-12)
        np.testing.assert_allclose(frame["y"] - frame[f"y-lo-{lv}"], hw * scale, rtol=1e-12)
    res.model.save(tmp_path)
    back = load_model(tmp_path)
    assert isinstance(back, PanelModel) and back == res.model
    long = pd.DataFrame({"unique_id": np.repeat(panel.ids, [len(v) for v in panel.values]),
                         "y": np.concatenate(panel.values)})
    long.to_csv(tmp_path / "newer.csv", index=False)
    code, _, err = run_cli(["predict", str(tmp_path), "--data", str(tmp_path / "newer.csv"), "--out",
                            str(tmp_path / "p.csv")], capsys)
    assert code == 0, err
    got = pd.read_csv(tmp_path / "p.csv", dtype={"unique_id": str})
    np.testing.assert_allclose(got.drop(columns=["unique_id", "step"]).to_numpy(),
                               frame.drop(columns=["unique_id", "step"]).to_numpy(), rtol=1e-9)
    d = json.loads((tmp_path / "model.json").read_text())
    del d["halfwidths"]  # a model from before the intervals: point forecasts only
    assert list(next_frame(panel, PanelModel.from_dict(d, tmp_path), intervals=True).columns) == \
        ["unique_id", "step", "y"]
    for bad in ({"80": [1.0, 1.0]}, {"80": [1.0, -1.0, 1.0]}, {"100": [1.0] * 3}):
        d["halfwidths"] = bad
        with pytest.raises(Exception, match="not a readable panel forecast model"):
            PanelModel.from_dict(d, tmp_path)


def test_level_option_sets_the_intervals_and_bad_levels_are_one_line(tmp_path, capsys):
    df = _monthly()
    csv = tmp_path / "sales.csv"
    df.to_csv(csv, index=False)
    code, out, err = run_cli(["forecast", "--split", "ratio", "--data", str(csv), "--out", str(tmp_path / "r"),
                              "--no-plot", "--json",
                              "--level", "90", "50"], capsys)
    assert code == 0, err
    res = json.loads(out)["results"][0]
    assert res["intervals"]["levels"] == [50, 90] and set(res["intervals"]["test_coverage"]) == {"50", "90"}
    H = res["horizon"]
    assert list(pd.read_csv(tmp_path / "r" / f"forecast_next_H{H}.csv").columns) == \
        ["date", "sales", "sales-lo-50", "sales-hi-50", "sales-lo-90", "sales-hi-90"]
    for bad in (["0"], ["100"], ["80", "80"]):
        code, _, err = run_cli(["forecast", "--split", "ratio", "--data", str(csv), "--out",
                                str(tmp_path / "x"), "--level", *bad], capsys)
        assert code == 2 and err.startswith("error: invalid option level: prediction interval levels") and \
            len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "x").exists()
    long = pd.DataFrame({"unique_id": np.repeat(["a", "b", "c"], 96), "ds": np.tile(df["month"], 3),
                         "y": np.concatenate([df["sales"] + k for k in range(3)])})
    long.to_csv(tmp_path / "long.csv", index=False)
    code, out, err = run_cli(["forecast", "--data", str(tmp_path / "long.csv"), "--out", str(tmp_path / "p"),
                              "--no-plot", "--json", "--level", "70"], capsys)
    assert code == 0, err
    assert {"coverage_70", "msis_70"} <= set(json.loads(out)["test"]["Auto-AR"])
    assert "y-lo-70" in pd.read_csv(tmp_path / "p" / f"forecast_next_H{json.loads(out)['config']['horizon']}.csv")


def test_lower_bounds_of_a_positive_history_are_floored_at_zero(tmp_path):
    from autofast.forecast.intervals import floor_positive
    from autofast.forecast.panel import PanelModel, _interval_test
    from autofast.forecast.autoar import naive_model

    np.testing.assert_array_equal(floor_positive(np.array([[-1.0, 2.0], [-3.0, 1.0]]), np.array([[True], [False]]),
                                                 np.array([[1.0, 3.0], [1.0, 3.0]])),
                                  [[0.0, 2.0], [-3.0, 1.0]])
    # a falling positive series forecast below 0: its lower bound stays below the forecast (was lo 0 > point -4)
    assert floor_positive(np.array([-20.0]), np.array([True]), np.array([-4.0])).tolist() == [-20.0]
    # one series: small positive counts, wide intervals -> floored; the same rows shifted below zero -> not
    y = 1.0 + np.abs(np.random.default_rng(3).standard_normal(80)) * 3
    fc = autofast.forecast(y, horizon=4, theta=False, split="ratio")
    model = fc.model
    point = model.predict(y[:, None], 4)
    hw = model.halfwidths[4][95][:, 0] * model.scaler.std[0]
    lo = model.intervals(y[:, None], 4)[95][0][:, 0]
    np.testing.assert_allclose(lo, np.maximum(point[:, 0] - hw, 0.0), rtol=1e-12)
    assert (point[:, 0] - hw < 0).any()  # the floor did something here
    shifted = y - 1.5
    lo_s = model.intervals(shifted[:, None], 4)[95][0][:, 0]
    np.testing.assert_allclose(lo_s, model.predict(shifted[:, None], 4)[:, 0] - hw, rtol=1e-12)
    # panels: per series, by its own history
    pm = PanelModel(naive_model(0, 1, 0.0), 2, halfwidths={80: [1.0, 2.0]})
    b = pm.bands([np.array([1.0, 2.0, 1.0]), np.array([-1.0, 2.0, 1.0])], np.array([[1.0, 1.0], [1.0, 1.0]]))
    np.testing.assert_allclose(b[80][0], [[0.0, 0.0], [-1.0, -3.0]])  # scales 1, 2: [0, -1] floored | [-1, -3]
    out = _interval_test(np.array([[1.0, 1.0]]), [np.array([0.5, 0.2])], np.array([1.0]), {80: np.array([2.0, 2.0])},
                         np.array([True]))
    assert out["coverage_80"] == 1.0 and out["msis_80"] == pytest.approx(3.0)  # [0, 3]: width 3, both inside


def test_one_validation_window_gives_intervals_from_training_windows(tmp_path):
    """A horizon as long as the validation split leaves one window: the intervals were NaN, written as 'nan' in the
    CSV and as bare NaN (not JSON) in result.json. The training windows' errors fill in, said in 'from'."""
    t = np.arange(120)
    y = 100 + 2 * t + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 1, 120)
    pd.DataFrame({"date": pd.date_range("2010-01-01", periods=120, freq="MS").strftime("%Y-%m-%d"),
                  "sales": y}).to_csv(tmp_path / "s.csv", index=False)
    from autofast.cli import main

    assert main(["forecast", "--split", "ratio", "--data", str(tmp_path / "s.csv"), "--horizon", "24", "--out",
                 str(tmp_path / "r"),
                 "--no-plot"]) == 0
    nxt = pd.read_csv(tmp_path / "r" / "forecast_next_H24.csv")
    assert np.isfinite(nxt.to_numpy()[:, 1:].astype(float)).all()
    text = (tmp_path / "r" / "result.json").read_text()
    assert "NaN" not in text
    iv = json.loads(text)["results"][0]["intervals"]
    assert iv["windows"] == 1 and "training windows" in iv["from"]
