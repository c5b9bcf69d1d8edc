"""`python -m autofast forecast` / `datasets` end to end, and one clear error line per bad input."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml

from autofast.data.registry import DATASETS
from cli_helpers import run_cli

SMALL = ["--split", "ratio", "--horizon", "8", "24", "--lookback", "48", "--max-order", "40", "--no-plot"]


@pytest.fixture
def etth1_slice(tmp_path):
    """The first 1500 rows of the bundled ETTh1 (real data, small)."""
    df = pd.read_csv(DATASETS["ETTh1"].path, nrows=1500)
    path = tmp_path / "etth1_small.csv"
    df.to_csv(path, index=False)
    return path


def test_forecast_end_to_end_on_etth1_slice(etth1_slice, tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, err = run_cli(["forecast", "--data", str(etth1_slice), "--out", str(out_dir), "--json", *SMALL], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert [r["horizon"] for r in res["results"]] == [8, 24]
    assert "z-scored" in res["units"]
    for r in res["results"]:
        assert 0 < r["mse"] < 2 and 0 < r["mae"] < 2 and r["scale"].startswith("z-scored data")
        per_grid = 2 * (40 + 40 + 40)  # (p, d, const) candidates of one model; one grid per channel unpooled
        assert r["candidates"] == (per_grid if len(r["chosen"]) == 1 else per_grid * len(r["chosen"]))
        assert r["chosen"][0]["p"] >= 1
    assert res["run"]["pooling_tried"] == ["global", "per-channel"]  # several channels: both, kept on validation
    files = {p.name for p in out_dir.iterdir()}
    assert {"result.json", "test_forecasts_H8.npz", "forecast_next_H24.csv", "model.json", "report.md",
            "report.html"} <= files
    report = (out_dir / "report.md").read_text()
    for r in res["results"]:  # every horizon's row: its chosen model and test MSE
        assert f"| {r['horizon']} | " in report and f"**{r['mse']:.4f}**" in report
    assert "Selected on: validation split" in report and "- season: 24" in report  # hourly dates
    assert "- horizon:" not in report and "- lookback:" not in report  # given as flags: not sized
    nxt = pd.read_csv(out_dir / "forecast_next_H24.csv")
    chans = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
    bands = [f"{c}-{side}-{lv}" for c in chans for lv in (80, 95) for side in ("lo", "hi")]
    assert len(nxt) == 24 and list(nxt.columns) == ["date", *chans, *bands]
    for c in chans:  # nested around the point forecast
        assert ((nxt[f"{c}-lo-95"] <= nxt[f"{c}-lo-80"]) & (nxt[f"{c}-lo-80"] <= nxt[c]) &
                (nxt[c] <= nxt[f"{c}-hi-80"]) & (nxt[f"{c}-hi-80"] <= nxt[f"{c}-hi-95"])).all()
    assert pd.to_datetime(nxt["date"].iloc[0]) == pd.Timestamp("2016-09-01 12:00:00")  # row 1500 (62.5 days on) follows the last


def test_forecast_table_output_and_plot(etth1_slice, tmp_path, capsys):
    out_dir = tmp_path / "run"
    args = ["forecast", "--data", str(etth1_slice), "--out", str(out_dir), "--pooling", "per-channel",
            "--split", "ratio", "--horizon", "12", "--lookback", "32", "--max-order", "16", "--diff", "0", "1"]
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    assert "test MSE (z)" in out and "H=12 per-channel models: HUFL:" in " ".join(out.split()), out
    assert "MSE/MAE on z-scored data (each channel standardised with the training split's mean and std)" in \
        " ".join(out.split())  # the table's caption, however rich wraps it
    assert (out_dir / "forecast_vs_truth.png").stat().st_size > 10_000


def test_module_entry_point_and_datasets():
    r = subprocess.run([sys.executable, "-m", "autofast", "datasets", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = [d["name"] for d in json.loads(r.stdout)]
    assert names == ["ETTh1", "splice", "digits", "darcy", "JapaneseVowels", "ACSF1", "PickupGestureWiimoteZ"]
    r = subprocess.run([sys.executable, "-m", "autofast", "forecast", "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--horizon" in r.stdout


def _csv(tmp_path, df, name="bad.csv"):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


def _series(n=600, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"date": pd.date_range("2020-01-01", periods=n, freq="h").astype(str),
                         "a": rng.standard_normal(n).cumsum(), "b": rng.standard_normal(n)})


BAD = {
    "nan": (lambda df: df.assign(a=df["a"].where(df.index != 0)), ["column 'a'", "first row", "data row 1"]),
    "inf": (lambda df: df.assign(b=df["b"].where(df.index != 7, np.inf)), ["column 'b'", "inf"]),
    "text": (lambda df: df.assign(b=df["b"].astype(object).where(df.index != 3, "oops")), ["column 'b'", "not numeric", "data row 4"]),
    "short": (lambda df: df.iloc[:60], ["too short", "--lookback"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_csv_gives_one_line_error_and_writes_nothing(case, tmp_path, capsys):
    make, needles = BAD[case]
    p = _csv(tmp_path, make(_series()))
    out_dir = tmp_path / "out"
    code, out, err = run_cli(["forecast", "--data", str(p), "--out", str(out_dir), *SMALL], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(p) in lines[0] or "too short" in lines[0]
    for n in needles:
        assert n in lines[0], lines[0]
    assert "oops" not in lines[0]  # the row is named, the file's contents are never echoed
    assert not out_dir.exists() and not any(x.name.startswith(".out") for x in tmp_path.iterdir())


@pytest.mark.parametrize("args,needle", [
    (["--data", "ETTh9"], "unknown data set 'ETTh9'"),
    (["--data", "missing.csv"], "does not exist"),
    (["--data", "splice"], "not a time series"),
    (["--horizon", "0"], "--horizon"),
    (["--columns", "HUFL", "nope"], "'nope' not found"),
    (["--lookback", "1"], "lookback"),
])
def test_bad_arguments(args, needle, tmp_path, capsys):
    code, out, err = run_cli(["forecast", "--out", str(tmp_path / "o"), *args], capsys)
    assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_missing_date_column_and_yaml_errors(tmp_path, capsys):
    p = _csv(tmp_path, _series().rename(columns={"date": "when"}))
    code, _, err = run_cli(["forecast", "--data", str(p), "--date-column", "date", *SMALL], capsys)
    assert code == 2 and "no date column 'date'" in err and "--date-column" in err
    code, out, err = run_cli(["forecast", "--data", str(p), "--json", "--out", str(tmp_path / "auto"), *SMALL], capsys)
    assert code == 0 and json.loads(out)["frequency"]["name"] == "hourly", err  # auto: the non-numeric first column
    bad_yaml = tmp_path / "cfg.yaml"
    bad_yaml.write_text("lookback: [1, 2\n")
    code, _, err = run_cli(["forecast", "--config", str(bad_yaml)], capsys)
    assert code == 2 and "invalid YAML" in err and "line" in err
    unknown = tmp_path / "cfg2.yaml"
    unknown.write_text("lookbak: 96\n")
    code, _, err = run_cli(["forecast", "--config", str(unknown)], capsys)
    assert code == 2 and "unknown option(s) lookbak" in err
    code, _, err = run_cli(["forecast", "--data", str(p), "--date-column", "when", "--out", str(tmp_path / "y"),
                            "--config", str(_yaml(tmp_path)), "--no-plot"], capsys)
    assert code == 0, err
    one = tmp_path / "one.yaml"  # (audit) 'horizon: 6' was 'Input should be a valid list'
    one.write_text("horizon: 6\nlevel: 90\nlookback: 24\nmax_order: 12\nsplit: ratio\n")
    code, out, err = run_cli(["forecast", "--data", str(p), "--date-column", "when", "--out", str(tmp_path / "z"),
                              "--config", str(one), "--no-plot", "--json"], capsys)
    assert code == 0, err
    res = json.loads(out)
    assert res["config"]["horizon"] == [6] and res["config"]["level"] == [90]


def _yaml(tmp_path):
    p = tmp_path / "good.yaml"
    p.write_text("horizon: [6]\nlookback: 24\nmax_order: 12\nsplit: ratio\n")
    return p


def test_yaml_keys_are_the_flag_names(etth1_slice, tmp_path, capsys):
    """Every flag's name is a YAML key (data and diff included); the old keys horizons / diff_orders still
    read, with one deprecation note naming the new key; --json always gives the run folder."""
    cfg = tmp_path / "all.yaml"
    cfg.write_text(f"data: {etth1_slice}\ncolumns: [HUFL, OT]\nhorizon: [6]\ndiff: [0, 1]\nlookback: 24\n"
                   "max_order: 12\nsplit: ratio\nno_plot: true\n")
    code, out, err = run_cli(["forecast", "--config", str(cfg), "--out", str(tmp_path / "a"), "--json"], capsys)
    assert code == 0 and err == "", err
    res = json.loads(out)
    assert res["run_dir"] == str(tmp_path / "a") and res["channels"] == ["HUFL", "OT"]
    assert res["config"]["horizon"] == [6] and res["config"]["diff"] == [0, 1] and res["config"]["level"] == [80, 95]
    assert not (tmp_path / "a" / "forecast_vs_truth.png").exists()
    # the result's config, by flag name, is a --config file again (it held 'horizons', 'levels': refused)
    again = tmp_path / "again.yaml"
    again.write_text(yaml.safe_dump({**res["config"], "data": str(etth1_slice), "columns": ["HUFL", "OT"],
                                     "no_plot": True}))
    code, out, err = run_cli(["forecast", "--config", str(again), "--out", str(tmp_path / "a2"), "--json"], capsys)
    assert code == 0 and err == "" and json.loads(out)["config"] == res["config"], err
    old = tmp_path / "old.yaml"
    old.write_text(f"data: {etth1_slice}\nhorizons: [6]\ndiff_orders: [0]\nlookback: 24\nmax_order: 12\n"
                   "split: ratio\nno_plot: true\n")
    code, out, err = run_cli(["forecast", "--config", str(old), "--out", str(tmp_path / "b"), "--json"], capsys)
    notes = err.strip().splitlines()
    assert code == 0 and len(notes) == 2 and all(n.startswith("note: ") and "deprecated" in n for n in notes), err
    assert "use 'horizon'" in notes[0] and "use 'diff'" in notes[1]
    assert json.loads(out)["config"]["diff"] == [0]
    both = tmp_path / "both.yaml"
    both.write_text("horizons: [6]\nhorizon: [8]\n")
    code, _, err = run_cli(["forecast", "--config", str(both)], capsys)
    assert code == 2 and "keep 'horizon'" in err and len(err.strip().splitlines()) == 1


def test_existing_output_folder_is_not_clobbered(etth1_slice, tmp_path, capsys):
    out_dir = tmp_path / "run"
    out_dir.mkdir()
    (out_dir / "keep.txt").write_text("x")
    code, _, err = run_cli(["forecast", "--data", str(etth1_slice), "--out", str(out_dir), *SMALL], capsys)
    assert code == 2 and "--overwrite" in err
    assert (out_dir / "keep.txt").read_text() == "x"


def test_plain_csv_is_read_without_pandas_and_matches_it(tmp_path):
    """The numpy CSV path gives pandas' values (to float parsing's last bit), names, order and dates;
    anything unusual (quotes here) goes to pandas and still loads."""
    from autofast.data.timeseries import _load_csv_numpy, load_series

    df = _series(300)
    df["c"] = np.arange(300) * 0.1
    p = _csv(tmp_path, df, "plain.csv")
    with open(p, "a") as f:
        f.write("\n")  # a trailing blank line is skipped
    fast = _load_csv_numpy(p, "date", ["c", "a"])
    assert fast is not None and fast.columns == ["c", "a"]
    ref = pd.read_csv(p)
    np.testing.assert_allclose(fast.values, ref[["c", "a"]].to_numpy(), rtol=1e-13, atol=0)  # pandas: a few ulps off
    exact = pd.read_csv(p, float_precision="round_trip")  # Python's correctly rounded parser
    assert np.array_equal(fast.values, exact[["c", "a"]].to_numpy())
    assert list(fast.dates) == list(ref["date"])
    quoted = tmp_path / "quoted.csv"
    quoted.write_text('"date","a"\n"2020-01-01 00:00:00",1.5\n"2020-01-01 01:00:00",2.5\n')
    assert _load_csv_numpy(quoted, "date", None) is None
    got = load_series(quoted)
    assert got.columns == ["a"] and got.values[:, 0].tolist() == [1.5, 2.5]


def test_next_dates_follow_the_data_step():
    from autofast.data.frequency import step_dates

    assert step_dates(np.array(["2016-07-01 00:00:00", "2016-07-01 01:00:00"]), 2) == \
        ["2016-07-01 02:00:00", "2016-07-01 03:00:00"]
    assert step_dates(np.array(["2016-07-01", "2016-07-02"]), 1) == ["2016-07-03"]  # daily: dates only, as pandas
    assert step_dates(np.array(["7/1/2016 00:00", "7/1/2016 01:00"]), 1) == ["2016-07-01 02:00:00"]  # via pandas
    assert step_dates(np.array(["b", "a"]), 3) is None and step_dates(None, 3) is None


def test_warmup_compiles_every_kernel_signature_a_forecast_uses(etth1_slice, tmp_path, capsys):
    """After the set-up's warm-up, forecasts (pooled, per channel, BIC, refit) and a MiniRocket fit compile
    nothing new: every numba kernel already has the one signature a run uses, so a fresh process only loads it
    from numba's cache."""
    from autofast.forecast import warmup

    assert warmup.main([]) == 0
    err = capsys.readouterr().err
    assert "autofast warm-up:" in err and "numba kernels" in err and "cached in" in err, err
    before = warmup.kernel_signatures()
    for name in ("ar_grid._window_moments", "ar_grid._ar_grid_scores", "ar_grid._forecast_error_sums",
                 "ar_grid._forecast_weights", "minirocket._outputs", "minirocket._transform_rows"):
        assert len(before[name]) == 1, before
    for extra in ([], ["--pooling", "per-channel", "--selection", "bic", "--refit", "train+val"]):
        code, out, err = run_cli(["forecast", "--data", str(etth1_slice), "--out", str(tmp_path / f"r{len(extra)}"),
                                  "--json", *SMALL, *extra], capsys)
        assert code == 0, err
    import torch

    from autofast.models.rocket import RocketClassifier

    x = torch.randn(12, 3, 60, dtype=torch.float64)  # another dtype and shape than the warm-up's
    RocketClassifier(num_features=336).fit(x, torch.arange(12) % 2).predict(x[:5])
    assert warmup.kernel_signatures() == before


def test_forecast_without_a_writable_numba_cache(tmp_path):
    """No writable cache directory (NUMBA_CACHE_DIR unwritable -- a path under a regular file, which even root
    cannot create -- and numba told not to fall back to the package's __pycache__ or the home cache, as with a
    read-only package dir and home): the kernels compile in memory, the forecast succeeds, one warning."""
    import os

    rng = np.random.default_rng(0)
    y = rng.standard_normal((300, 2)).cumsum(axis=0) * 0.1 + rng.standard_normal((300, 2))
    np.save(tmp_path / "s.npy", y)
    (tmp_path / "file").write_text("not a directory")
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "file" / "cache"),
           "NUMBA_CACHE_LOCATOR_CLASSES": "UserProvidedCacheLocator", "AUTOFAST_AR_BACKEND": "numba"}
    r = subprocess.run([sys.executable, "-m", "autofast", "forecast", "--data", str(tmp_path / "s.npy"), "--horizon",
                        "3", "--lookback", "8", "--max-order", "4", "--diff", "0", "--split", "ratio", "--no-plot",
                        "--out", str(tmp_path / "run"), "--json"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["run"]["backend"] == "numba"
    assert r.stderr.count("numba cannot write a kernel cache") == 1, r.stderr
    assert r.stderr.count("Warning") == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "file").is_dir()


def test_autoarima_baseline_says_each_fit_and_fits_once_per_channel(etth1_slice, tmp_path, capsys):
    """In a log every AutoARIMA channel fit is one line (a fit takes seconds); later horizons reuse the fits."""
    pytest.importorskip("statsforecast")
    args = ["forecast", "--data", str(etth1_slice), "--columns", "HUFL", "OT", "--baseline", "autoarima",
            "--baseline-origins", "3", "--season", "1", "--out", str(tmp_path / "bl"), *SMALL]  # seasonal: 2 min
    code, out, err = run_cli(args, capsys)
    assert code == 0, err
    lines = err.splitlines()
    assert lines[lines.index(next(l for l in lines if l.startswith("AutoARIMA baseline"))) + 1:][:4] == [
        "  [1/4] H=8 channel HUFL: fitting AutoARIMA on 900 rows", "  [2/4] H=8 channel OT: fitting AutoARIMA on 900 rows",
        "  [3/4] H=24 channel HUFL: fitted model reused, forecasting 3 origins",
        "  [4/4] H=24 channel OT: fitted model reused, forecasting 3 origins"]
    flat = " ".join(out.split())  # rich wraps long lines
    assert "H=24: AutoARIMA (statsforecast) on 3 test origins" in flat and "(fits of the first horizon)" in flat
    res = json.loads((tmp_path / "bl" / "result.json").read_text())
    assert res["baselines"]["24"]["fits_reused"] == 2 and res["baselines"]["8"]["scale"].startswith("z-scored")
    assert res["baselines"]["8"]["season_length"] == 1 and res["season"] == 1  # --season wins over the dates


def test_autoarima_baseline_takes_the_season_of_the_dates(tmp_path, capsys):
    """Monthly dates: the AutoARIMA baseline is seasonal (12), like the seasonal naive beside it."""
    pytest.importorskip("statsforecast")
    rng = np.random.default_rng(0)
    t = np.arange(96)
    df = pd.DataFrame({"month": pd.date_range("2000-01-01", periods=96, freq="MS").strftime("%Y-%m"),
                       "sales": 50 + 0.3 * t + 8 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, 96)})
    p = tmp_path / "m.csv"
    df.to_csv(p, index=False)
    code, out, err = run_cli(["forecast", "--data", str(p), "--baseline", "autoarima", "--no-plot", "--json",
                              "--out", str(tmp_path / "run")], capsys)
    assert code == 0, err
    res = json.loads(out)
    h = str(res["results"][0]["horizon"])
    assert res["season"] == 12 and res["baselines"][h]["season_length"] == 12 and res["baselines"][h]["orders"][0]["period"] == 12


def test_a_level_shift_in_the_test_rows_is_said_and_the_lower_mse_is_bold(tmp_path, capsys):
    """A level drop after the validation rows: the forecast returned to the old level and the report printed its
    test MSE in bold beside a lower seasonal-naive MSE, without a word."""
    t = np.arange(150)
    y = 200 + 10 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(0).normal(0, 1, 150)
    y[-20:] -= 100
    p = _csv(tmp_path, pd.DataFrame({"date": pd.date_range("2000-01-01", periods=150, freq="MS").strftime("%Y-%m-%d"),
                                     "sales": y}))
    code, out, err = run_cli(["forecast", "--data", str(p), "--out", str(tmp_path / "r"), "--no-plot", "--split", "ratio"],
                              capsys)
    assert code == 0, err
    assert "note: H=" in out and "validation MSE" in out.replace("\n", " ")
    report = (tmp_path / "r" / "report.md").read_text()
    row = next(line for line in report.splitlines() if line.split("|")[1:2] and line.split("|")[1].strip().isdigit())
    ours, naive = row.split("|")[4].strip(), row.split("|")[6].strip()
    assert ours.startswith("**") != naive.startswith("**")  # one of the two, the lower, in bold
    assert "behave unlike" in report


def test_forecast_takes_threads_and_the_ar_kernels_follow_them(etth1_slice, tmp_path, capsys):
    """``forecast --threads N`` (it was refused: 'unrecognized arguments'), and the AR kernels' worker pool follows
    the configured count (it took every usable CPU whatever --threads said)."""
    code, out, err = run_cli(["forecast", "--data", str(etth1_slice), "--out", str(tmp_path / "r"), "--json",
                              "--threads", "1", *SMALL], capsys)
    assert code == 0, err
    probe = ("from autofast.runtime import configure; configure(1); "
             "from autofast.kernels.ar_grid import numba_cpu; print(numba_cpu._n_threads())")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["1"], r.stderr
