"""``autofast.forecast(...)``: Auto-AR from Python on paths, data frames and arrays; its ``Forecast``."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import autofast
from autofast.cli import main
from autofast.errors import AutofastError
from autofast.forecast.autoar import window_forecasts
from autofast.data.timeseries import window_range


def _monthly(n=120, seed=0, channels=1):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    cols = {f"c{k}": 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12 + k) + rng.normal(0, 1, n) for k in range(channels)}
    return pd.DataFrame(cols, index=pd.date_range("1990-01-01", periods=n, freq="MS"))


def test_path_gives_the_commands_result(tmp_path, capsys):
    df = _monthly().rename_axis("Month")
    path = tmp_path / "sales.csv"
    df.to_csv(path, date_format="%Y-%m")
    fc = autofast.forecast(str(path), split="ratio")  # 120 rows: the window protocol, as asked
    assert main(["forecast", "--data", str(path), "--split", "ratio", "--out", str(tmp_path / "run"), "--json",
                 "--no-plot"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert fc.horizons == [r["horizon"] for r in res["results"]] == [12]
    assert fc.test_mse[12] == pytest.approx(res["results"][0]["mse"], rel=1e-12)
    assert fc.seasonal_naive_mse[12] == pytest.approx(res["seasonal_naive"]["12"]["mse"], rel=1e-12)
    assert fc.frequency.name == "monthly" and fc.config.season == 12 and fc.sized_from_data == res["sized_from_data"]
    nxt = pd.read_csv(tmp_path / "run" / "forecast_next_H12.csv")
    np.testing.assert_allclose(fc.next()["c0"].to_numpy(), nxt["c0"].to_numpy(), rtol=1e-9)
    assert fc.next().index[0] == "2000-01" and "H=12: test MSE" in repr(fc)


def test_data_frame_series_and_array_inputs_agree():
    df = _monthly(channels=2)
    a = autofast.forecast(df, horizon=6)
    b = autofast.forecast(df.reset_index(names="date"), horizon=6)  # a date column instead of the index
    c = autofast.forecast(df.to_numpy(), horizon=6, dates=df.index.strftime("%Y-%m-%d"))
    for other in (b, c):
        assert other.test_mse == pytest.approx(a.test_mse, rel=1e-12) and other.config == a.config
    assert a.columns == ["c0", "c1"] and c.columns == ["ch0", "ch1"]
    s = autofast.forecast(df["c0"], horizon=6, split="ratio")
    assert s.columns == ["c0"] and s.frequency.name == "monthly"
    plain = autofast.forecast(df.to_numpy()[:, 0], horizon=6, split="ratio")  # no dates: no season, steps as the index
    assert plain.frequency is None and plain.config.season == 1 and list(plain.next().index) == list(range(1, 7))


@pytest.mark.parametrize("next_fit", ["all", "tested"])
def test_predict_is_the_test_window_forecast_in_own_units(next_fit):
    fc = autofast.forecast(_monthly(channels=2), horizon=[4, 12], next_fit=next_fit)
    ps, L = fc.series, fc.config.lookback
    for H in (4, 12):
        wr = window_range(ps.bounds, "test", L, H)
        starts = wr.starts[[0, wr.count // 2, -1]]
        models = fc.model.chosen[H]  # what model.json holds: the tested models, or refitted on every row
        assert (models == fc.chosen[H]) == (next_fit == "tested")
        z_fc, _ = window_forecasts(ps.z, models, starts, L, H, fc.backend)
        for k, s in enumerate(starts):
            got = fc.predict(ps.data.values[s : s + L], H)
            np.testing.assert_allclose(got, ps.scaler.inverse(z_fc[k]), rtol=1e-10)
    longer = ps.data.values[: L + 7]  # only the last L rows are read
    np.testing.assert_allclose(fc.predict(longer, 4), fc.predict(longer[-L:], 4))
    np.testing.assert_allclose(fc.next(4).to_numpy(), fc.predict(ps.data.values, 4))


@pytest.mark.parametrize("history, needle", [
    (np.zeros((200, 3)), "(rows, 2)"),
    (np.zeros((5, 2)), "last"),
    (np.full((200, 2), np.nan), "NaN"),
])
def test_predict_refuses_bad_history(history, needle):
    fc = autofast.forecast(_monthly(channels=2), horizon=3)
    with pytest.raises(AutofastError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        fc.predict(history)
    with pytest.raises(AutofastError, match="horizon 5"):
        fc.next(5)


def test_predict_reads_newer_rows_as_the_training_data_were(tmp_path):
    """fc.predict / autofast.load(run).predict took arrays only: a DataFrame read from the newer CSV ('could not
    convert string to float: 1949-01'), one with parsed dates (a TypeError) or the CSV's path (a ValueError) failed
    with raw Python errors; a horizon shorter than the run's was 'no model for horizon 7'."""
    frame = pd.DataFrame({"Month": pd.date_range("2010-01-01", periods=120, freq="MS").strftime("%Y-%m"),
                          "Passengers": _monthly()["c0"].to_numpy()})
    frame.to_csv(tmp_path / "sales.csv", index=False)
    fc = autofast.forecast(str(tmp_path / "sales.csv"), horizon=[6, 12])
    want = fc.predict(frame["Passengers"].to_numpy(), 12)
    parsed = pd.read_csv(tmp_path / "sales.csv", parse_dates=["Month"])
    for history in (frame, parsed, str(tmp_path / "sales.csv"), parsed.set_index("Month")):
        np.testing.assert_allclose(fc.predict(history, 12), want, rtol=1e-12)
    np.testing.assert_allclose(fc.predict(frame, 4), fc.predict(frame, 6)[:4], rtol=1e-12)  # the H=6 model's steps
    assert fc.next(4).index[0] == "2020-01" and len(fc.model.intervals(frame, 4)[80][0]) == 4
    with pytest.raises(AutofastError, match="no model for horizon 13"):
        fc.predict(frame, 13)
    with pytest.raises(AutofastError, match="not numbers"):
        fc.predict([["a"], ["b"]])


@pytest.mark.parametrize("call, needle", [
    (lambda: autofast.forecast(np.arange(100.0), lookback=1), "forecast option lookback"),
    (lambda: autofast.forecast(np.arange(100.0), horizon=0), "positive"),
    (lambda: autofast.forecast(np.arange(100.0), nonsense=3), "nonsense"),
    (lambda: autofast.forecast(np.arange(100.0), dates=["2020-01-01"] * 3), "one date per row"),
    (lambda: autofast.forecast(pd.DataFrame({"date": ["a"] * 50, "name": ["x"] * 50, "v": range(50)})), "'name'"),
    (lambda: autofast.forecast(_monthly(), columns=["nope"]), "'nope' not found"),
    (lambda: autofast.forecast(np.arange(30.0), horizon=20), "30 rows hold at most 13 steps ahead"),
    (lambda: autofast.forecast(np.arange(200.0), level=[90]), "level: not an option; did you mean levels=?"),
])
def test_bad_input_is_one_autofast_error(call, needle):
    with pytest.raises(AutofastError, match=needle) as info:
        call()
    assert "\n" not in str(info.value)


def test_forecast_imports_no_torch():
    code = ("import sys, numpy as np, autofast; fc = autofast.forecast(np.sin(np.arange(400) / 5), horizon=5); "
            "print(fc.test_mse[5] < 1, 'torch' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ["True", "False"], r.stderr


# ---------------------------------------------------------------- model.json and predict on a forecast run
def test_model_json_round_trip_predicts_the_same(tmp_path):
    from autofast.forecast.model import ForecastModel

    fc = autofast.forecast(_monthly(channels=2), horizon=[3, 12], pooling="per-channel")
    path = fc.model.save(tmp_path)
    back = ForecastModel.load(tmp_path)
    assert path.name == "model.json" and back.horizons == [3, 12] and back.columns == ["c0", "c1"]
    assert back.frequency == "monthly" and back.lookback == fc.config.lookback
    assert [m.kind for m in back.chosen[12]] == [m.kind for m in fc.chosen[12]] and len(back.chosen[12]) == 2
    x = fc.series.data.values[:90]
    for h in (3, 12):
        np.testing.assert_array_equal(back.predict(x, h), fc.predict(x, h))


def test_load_of_a_forecast_run_is_its_model(tmp_path, capsys):
    from autofast.forecast.model import ForecastModel

    data = tmp_path / "s.csv"
    _monthly(channels=2).to_csv(data)
    assert main(["forecast", "--data", str(data), "--out", str(tmp_path / "run"), "--no-plot", "--horizon", "5"]) == 0
    model = autofast.load(tmp_path / "run")
    fc = autofast.forecast(str(data), horizon=5)
    assert isinstance(model, ForecastModel) and "H=5" in repr(model) and "lookback" in repr(model)
    x = fc.series.data.values
    np.testing.assert_array_equal(model.predict(x, 5), fc.predict(x, 5))


def test_predict_command_forecasts_after_newer_data(tmp_path, capsys):
    df = _monthly().rename_axis("Month")
    full, older = tmp_path / "sales.csv", tmp_path / "older.csv"
    df.to_csv(full, date_format="%Y-%m")
    df.iloc[:100].to_csv(older, date_format="%Y-%m")
    run_dir = tmp_path / "run"
    assert main(["forecast", "--data", str(older), "--out", str(run_dir), "--no-plot", "--horizon", "6",
                 "--split", "ratio"]) == 0
    fc = autofast.forecast(str(older), horizon=6, split="ratio")
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--data", str(full), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    got = pd.read_csv(summary["out"]["6"])
    assert summary["after"] == "1999-12" and summary["rows"] == 120
    assert got["date"].tolist()[:2] == ["2000-01", "2000-02"]  # the months after the newer data
    np.testing.assert_allclose(got["c0"].to_numpy(), fc.predict(df.to_numpy(), 6)[:, 0], rtol=1e-12)


@pytest.mark.parametrize("damage, needle", [
    (lambda p: p.write_text("{not json"), "not a readable forecast model"),
    (lambda p: p.write_text(json.dumps({"format": "other/9"})), "not a readable forecast model"),
    (lambda p: p.write_text(p.read_text().replace('"lookback": ', '"lookback": -')), "not a readable forecast model"),
])
def test_damaged_model_json_is_one_error_line(tmp_path, capsys, damage, needle):
    df = _monthly()
    data = tmp_path / "s.csv"
    df.to_csv(data)
    run_dir = tmp_path / "run"
    assert main(["forecast", "--data", str(data), "--out", str(run_dir), "--no-plot", "--split", "ratio"]) == 0
    damage(run_dir / "model.json")
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--data", str(data)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "model.json" in err[0]


def test_predict_out_with_several_horizons_is_refused(tmp_path, capsys):
    data = tmp_path / "s.csv"
    _monthly().to_csv(data)
    run_dir = tmp_path / "run"
    assert main(["forecast", "--data", str(data), "--out", str(run_dir), "--no-plot", "--horizon", "3", "6"]) == 0
    capsys.readouterr()
    assert main(["predict", str(run_dir), "--data", str(data), "--out", str(tmp_path / "x.csv")]) == 2
    assert "2 horizons" in capsys.readouterr().err and not (tmp_path / "x.csv").exists()


def test_predict_on_data_that_does_not_fit_says_what_the_run_needs(tmp_path, capsys):
    """predict has no --columns: a missing column named the run's columns (it said 'fix --columns'); too short a
    history named the file and the rows to give."""
    df = _monthly()
    data = tmp_path / "s.csv"
    df.to_csv(data)
    run_dir = tmp_path / "run"
    assert main(["forecast", "--data", str(data), "--out", str(run_dir), "--no-plot", "--split", "ratio"]) == 0
    capsys.readouterr()
    other = df.rename(columns={c: f"{c}_x" for c in df.columns})
    other.to_csv(tmp_path / "renamed.csv")
    assert main(["predict", str(run_dir), "--data", str(tmp_path / "renamed.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "the run forecasts column(s)" in err and "--columns" not in err
    df.head(3).to_csv(tmp_path / "short.csv")
    assert main(["predict", str(run_dir), "--data", str(tmp_path / "short.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path / 'short.csv'}: history has 3 rows") and "give at least" in err
