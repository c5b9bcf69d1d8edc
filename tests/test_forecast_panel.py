"""Auto-AR on a long-format panel: the loader (:mod:`autofast.data.panel`), the global AR's math and protocol
(:mod:`autofast.forecast.panel`), ``python -m autofast forecast`` / ``predict`` on a panel CSV, the Python API
and the ``model.json`` of a panel run."""
import json

import numpy as np
import pandas as pd
import pytest

import autofast
from autofast.cli import main
from autofast.data.panel import PanelData, find_id_column, frame_panel, load_panel
from autofast.errors import AutofastError
from autofast.forecast.api import Forecast
from autofast.forecast.autoar import ChosenModel, naive_model
from autofast.forecast.seasonal import Transform
from autofast.forecast.model import load_model
from autofast.forecast.panel import (PanelConfig, PanelModel, PanelResult, error_table, forecast_series, mase_scale,
                                     next_frame, panel_grid, resolve_panel, run_panel, standardise)
from autofast.kernels.ar_grid import get_backend
from cli_helpers import run_cli

# ---------------------------------------------------------------------------------------------------------------
# synthetic panels


def _panel(values, dates=None, ids=None, source="test"):
    """A PanelData straight from arrays (ids s00, s01, ... unless given)."""
    ids = ids or [f"s{i:02d}" for i in range(len(values))]
    return PanelData(list(ids), [np.asarray(v, dtype=np.float64) for v in values],
                     None if dates is None else [np.asarray(d).astype(str) for d in dates],
                     "unique_id", None if dates is None else "ds", "y", source)


def _ar2_values(seed, S=60, lo=40, hi=80, phi=(0.6, -0.3)):
    """``S`` series of one AR(2) process, each with its own level and scale and a length in ``[lo, hi]``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(S):
        n = int(rng.integers(lo, hi + 1))
        e = rng.standard_normal(n + 100)
        x = np.zeros(n + 100)
        for t in range(2, n + 100):
            x[t] = phi[0] * x[t - 1] + phi[1] * x[t - 2] + e[t]
        out.append(x[100:] * rng.uniform(0.5, 20) + rng.uniform(-100, 100))
    return out


def _walks(seed, S, lo=40, hi=80):
    rng = np.random.default_rng(seed)
    return [np.cumsum(rng.standard_normal(int(rng.integers(lo, hi + 1)))) * rng.uniform(0.5, 20)
            + rng.uniform(-100, 100) for _ in range(S)]


def _monthly_long(seed=1, S=12, lo=60, hi=90, shuffle=True):
    """A long-format monthly panel (unique_id, ds, y): seasonal random walks starting in different months."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in range(S):
        n = int(rng.integers(lo, hi + 1))
        start = pd.Timestamp("2000-01-01") + pd.DateOffset(months=int(rng.integers(0, 24)))
        t = np.arange(n)
        y = 100 + 5 * s + np.cumsum(rng.standard_normal(n)) + 10 * np.sin(2 * np.pi * t / 12)
        frames.append(pd.DataFrame({"unique_id": f"s{s:02d}",
                                    "ds": pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m-%d"), "y": y}))
    df = pd.concat(frames, ignore_index=True)
    return df.sample(frac=1, random_state=seed).reset_index(drop=True) if shuffle else df


def _csv(tmp_path, df, name="panel.csv"):
    p = tmp_path / name
    df.to_csv(p, index=False)
    return p


BACKEND = get_backend("auto", "cpu")

# ---------------------------------------------------------------------------------------------------------------
# 1. loader


def test_find_id_column_by_name_any_case_or_given():
    assert find_id_column(["ds", "unique_id", "y"], "auto") == "unique_id"
    assert find_id_column(["ID", "ds", "y"], "auto") == "ID"
    assert find_id_column(["Series_Id", "y"], "auto") == "Series_Id"
    assert find_id_column(["unique_id", "id", "y"], "auto") == "unique_id"  # the first name of ID_NAMES wins
    assert find_id_column(["date", "a", "b"], "auto") is None
    assert find_id_column(["store", "y"], "store") == "store"
    assert find_id_column(["store", "y"], "shop") is None
    assert find_id_column(["unique_id", "y"], "") is None and find_id_column(["unique_id", "y"], None) is None


def test_csv_shuffled_rows_come_back_per_series_in_date_order(tmp_path):
    df = _monthly_long(seed=3, S=5, lo=10, hi=20, shuffle=False)
    p = _csv(tmp_path, df.sample(frac=1, random_state=7))
    panel = load_panel(p)
    assert (panel.id_column, panel.date_column, panel.value_column) == ("unique_id", "ds", "y")
    assert panel.ids == sorted(df["unique_id"].unique()) and len(panel) == 5
    for sid, vals, dates in zip(panel.ids, panel.values, panel.dates):
        want = df[df["unique_id"] == sid]  # written in date order
        np.testing.assert_allclose(vals, want["y"].to_numpy(), rtol=1e-15)
        assert list(dates) == list(want["ds"]) and list(dates) == sorted(dates)
    assert list(panel.lengths) == [int((df["unique_id"] == s).sum()) for s in panel.ids]


def test_ids_sorted_as_text_and_kept_verbatim_from_csv(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("ID,ds,y\n007,2020-02-01,2\n10,2020-01-01,5\n007,2020-01-01,1\n2,2020-01-01,7\n10,2020-02-01,6\n")
    panel = load_panel(p)
    assert panel.id_column == "ID"  # any case
    assert panel.ids == ["007", "10", "2"]  # read as text: the leading zeros stay, sorted as text
    assert [list(v) for v in panel.values] == [[1.0, 2.0], [5.0, 6.0], [7.0]]


def test_value_column_by_name_else_the_one_numeric_column():
    base = pd.DataFrame({"unique_id": ["a", "a", "b"], "ds": ["2020-01-01", "2020-02-01", "2020-01-01"]})
    named = frame_panel(base.assign(y=[1.0, 2.0, 3.0], other=[9.0, 9.0, 9.0]))
    assert named.value_column == "y" and [list(v) for v in named.values] == [[1.0, 2.0], [3.0]]
    one = frame_panel(base.assign(qty=[4, 5, 6]))
    assert one.value_column == "qty" and [list(v) for v in one.values] == [[4.0, 5.0], [6.0]]
    chosen = frame_panel(base.assign(a=[1.0, 2.0, 3.0], b=[7.0, 8.0, 9.0]), value_column="b")
    assert [list(v) for v in chosen.values] == [[7.0, 8.0], [9.0]]


def test_date_column_found_by_name_or_as_the_non_numeric_column():
    df = pd.DataFrame({"item": ["x", "x", "x"], "when": ["2020-03-01", "2020-01-01", "2020-02-01"],
                       "sales": [3.0, 1.0, 2.0]})
    p = frame_panel(df)
    assert (p.id_column, p.date_column, p.value_column) == ("item", "when", "sales")
    assert list(p.values[0]) == [1.0, 2.0, 3.0]
    dt = frame_panel(df.assign(when=pd.to_datetime(df["when"])))  # a datetime64 column reads the same
    assert list(dt.dates[0]) == ["2020-01-01", "2020-02-01", "2020-03-01"] and list(dt.values[0]) == [1.0, 2.0, 3.0]


def test_without_a_date_column_the_row_order_is_kept(tmp_path):
    df = pd.DataFrame({"unique_id": ["b", "a", "b", "a", "b"], "y": [5.0, 9.0, 3.0, 1.0, 4.0]})
    p = frame_panel(df)
    assert p.date_column is None and p.dates is None
    assert p.ids == ["a", "b"] and [list(v) for v in p.values] == [[9.0, 1.0], [5.0, 3.0, 4.0]]
    csv = load_panel(_csv(tmp_path, df))
    assert csv.dates is None and [list(v) for v in csv.values] == [[9.0, 1.0], [5.0, 3.0, 4.0]]
    # date_column=None ignores a date-like column: the rows stay in file order
    q = frame_panel(df.assign(ds=["2020-05-01", "2020-04-01", "2020-03-01", "2020-02-01", "2020-01-01"]),
                    date_column=None)
    assert q.dates is None and [list(v) for v in q.values] == [[9.0, 1.0], [5.0, 3.0, 4.0]]


def test_repeated_date_within_a_series_names_the_series(tmp_path):
    df = pd.DataFrame({"unique_id": ["a", "b", "b", "a"], "ds": ["2020-01-01", "2020-01-01", "2020-02-01",
                                                                 "2020-02-01"], "y": [1.0, 2.0, 3.0, 4.0]})
    frame_panel(df)  # the same date in two different series is fine
    bad = df.assign(ds=["2020-01-01", "2020-01-01", "2020-02-01", "2020-01-01"])
    with pytest.raises(AutofastError, match="series 'a'.*2020-01-01.*more than once") as exc:
        load_panel(_csv(tmp_path, bad))
    assert "\n" not in str(exc.value)


def test_repeated_date_message_shows_the_plain_date(tmp_path):
    bad = pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2020-01-01", "2020-01-01"], "y": [1.0, 2.0]})
    with pytest.raises(AutofastError) as exc:
        frame_panel(bad)
    assert "date '2020-01-01'" in str(exc.value) and "np." not in str(exc.value)


def test_missing_value_names_the_series(tmp_path):
    df = _monthly_long(seed=2, S=3, lo=6, hi=8, shuffle=False)
    victim = df.index[df["unique_id"] == "s01"][2]
    df.loc[victim, "y"] = np.nan
    with pytest.raises(AutofastError, match="value column 'y' of series 's01'") as exc:
        load_panel(_csv(tmp_path, df))
    assert f"data row {victim + 1}" in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(AutofastError, match="series 's01'"):
        frame_panel(df)
    with pytest.raises(AutofastError, match="series 's02'"):
        frame_panel(df.assign(y=np.where(df["unique_id"] == "s02", np.inf, 1.0)))


def test_missing_value_message_has_no_numpy_repr():
    df = pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2020-01-01", "2020-02-01"], "y": [1.0, np.nan]})
    with pytest.raises(AutofastError) as exc:
        frame_panel(df)
    assert "np.float64" not in str(exc.value)


def test_two_value_columns_without_a_choice_ask_to_name_one(tmp_path):
    df = pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2020-01-01", "2020-02-01"], "a": [1.0, 2.0],
                       "b": [3.0, 4.0]})
    with pytest.raises(AutofastError, match="value columns 'a', 'b'.*name the one to forecast with --columns"):
        load_panel(_csv(tmp_path, df))
    with pytest.raises(AutofastError, match="name the one to forecast with columns="):
        frame_panel(df)


def test_named_columns_that_are_missing_are_errors(tmp_path):
    df = pd.DataFrame({"unique_id": ["a", "a"], "ds": ["2020-01-01", "2020-02-01"], "y": [1.0, 2.0]})
    with pytest.raises(AutofastError, match="no id column 'store'.*--id-column"):
        load_panel(_csv(tmp_path, df), id_column="store")
    with pytest.raises(AutofastError, match="no id column 'store'.*id_column="):
        frame_panel(df, id_column="store")
    with pytest.raises(AutofastError, match="no series id column"):
        frame_panel(df.rename(columns={"unique_id": "name"}))
    with pytest.raises(AutofastError, match="no date column 'when'"):
        frame_panel(df, date_column="when")
    with pytest.raises(AutofastError, match="no value column 'qty'"):
        frame_panel(df, value_column="qty")


# ---------------------------------------------------------------------------------------------------------------
# 2. core math against plain references


def _reference_fit(hists, p, d, intercept, start=None):
    """OLS by ``lstsq`` on the stacked windows of every series' d-times differenced values (targets from row
    ``start`` of each differenced series, default ``p``), then to level coefficients by polynomial product."""
    start = p if start is None else start
    X, Y = [], []
    for h in hists:
        w = np.diff(h, n=d) if d else h
        for t in range(start, len(w)):
            X.append(([1.0] if intercept else []) + list(w[t - p : t][::-1]))  # lag 1 first
            Y.append(w[t])
    beta = np.linalg.lstsq(np.array(X), np.array(Y), rcond=None)[0]
    c, phi = (beta[0], beta[1:]) if intercept else (0.0, beta)
    poly = np.r_[1.0, -phi]
    for _ in range(d):
        poly = np.polynomial.polynomial.polymul(poly, [1.0, -1.0])
    return -poly[1:], c


def _std_hists(seed, S=7):
    rng = np.random.default_rng(seed)
    hists = []
    for _ in range(S):
        n = int(rng.integers(15, 40))
        hists.append(standardise(np.cumsum(rng.standard_normal(n)) + 0.3 * rng.standard_normal(n))[0])
    hists.append(standardise(rng.standard_normal(4))[0])  # too short for the larger orders: no windows there
    return hists


@pytest.mark.parametrize("p,d,intercept", [(2, 1, True), (3, 0, False), (1, 2, True), (4, 1, False)])
def test_panel_grid_is_pooled_least_squares(p, d, intercept):
    hists = _std_hists(seed=p * 10 + d)
    grid = panel_grid(hists, (p, p), [d], [intercept], BACKEND)
    assert len(grid) == 1 and int(grid.p[0]) == p and int(grid.d[0]) == d and bool(grid.has_intercept[0]) == intercept
    psi, c = _reference_fit(hists, p, d, intercept)
    np.testing.assert_allclose(grid.psi[0, : p + d], psi, rtol=1e-8, atol=1e-10)
    assert float(grid.intercept[0]) == pytest.approx(c, rel=1e-8, abs=1e-10)
    assert not np.any(grid.psi[0, p + d :])


def test_panel_grid_orders_share_the_largest_orders_sample():
    hists = _std_hists(seed=5)
    P = 4
    grid = panel_grid(hists, (1, P), [0, 1], [True, False], BACKEND)
    assert len(grid) == P * 2 * 2
    for i in range(len(grid)):
        p, d, ic = int(grid.p[i]), int(grid.d[i]), bool(grid.has_intercept[i])
        psi, c = _reference_fit(hists, p, d, ic, start=P)  # every order fitted on the windows with P lags
        np.testing.assert_allclose(grid.psi[i, : p + d], psi, rtol=1e-7, atol=1e-9, err_msg=f"(p, d, c) {p, d, ic}")
        assert float(grid.intercept[i]) == pytest.approx(c, rel=1e-7, abs=1e-9)


def test_panel_grid_is_none_when_no_series_is_long_enough():
    assert panel_grid([np.arange(3.0), np.arange(2.0)], (3, 5), [0], [True], BACKEND) is None


def test_a_seasonal_series_with_zeros_is_forecast_with_its_cycle():
    """Seasonal adjustment of a series that is not positive throughout: additive, so the naive forecast of the
    adjusted values carries the cycle into the forecast rows (before: no adjustment, a flat forecast)."""
    m, cycle = 4, np.array([0.0, 20.0, 50.0, 10.0])
    x = np.tile(cycle, 10) + np.random.default_rng(0).normal(0, 0.5, 40)
    fc = forecast_series([x], naive_model(0, 1, 0.0), 8, Transform(deseason=True), m)[0]
    np.testing.assert_allclose(fc - fc.mean(), np.tile(cycle - cycle.mean(), 2), atol=2.0)


def test_panel_test_means_say_how_many_series_they_cover():
    """A constant and an all-zero series: MASE is undefined on both, sMAPE on the zero one (0 / 0 was counted as a
    perfect 0%), and the headline means say over how many series they are (the run printed 'MASE 0.798' over 4
    series where 2 had one)."""
    hists = [np.arange(1.0, 21.0), np.full(20, 5.0), np.zeros(20)]
    targets = [np.arange(21.0, 25.0), np.full(4, 5.0), np.zeros(4)]
    tab = error_table(hists, targets, np.array([t + 1 for t in targets[:2]] + [np.zeros(4)]), 1)
    assert np.isfinite(tab["mase"]).tolist() == [True, False, False]
    assert np.isfinite(tab["smape"]).tolist() == [True, True, False]
    dates = pd.date_range("2024-01-01", periods=60, freq="D").strftime("%Y-%m-%d")
    rng = np.random.default_rng(0)
    rows = [{"store_id": s, "date": d, "sales": v} for s, vals in
            (("S1", 50 + rng.normal(0, 3, 60)), ("S2", 80 + rng.normal(0, 5, 60)), ("flat", np.full(60, 7.0)))
            for d, v in zip(dates, vals)]
    res = autofast.forecast(pd.DataFrame(rows), horizon=7)  # 'store_id': a panel (ends in _id)
    assert res.test["Auto-AR"]["series_mase"] == 2 and res.test["Auto-AR"]["series_mse"] == 3


def test_a_one_row_series_leaves_the_panel_as_it_was():
    """One series of one row moved the median length: the season fell from 12 to 1 (said as 'a median history
    shorter than two seasons', untrue) and the other series' test MASE doubled; its forecast rows were numbered 1, 2,
    3 and its intervals of zero width."""
    rng = np.random.default_rng(0)
    rows = []
    for k, n in enumerate((60, 62, 64, 66, 70)):
        dates = pd.date_range("2015-01-01", periods=n, freq="MS").strftime("%Y-%m-%d")
        t = np.arange(n)
        rows += [{"unique_id": f"s{k}", "ds": d, "y": 100 + 20 * np.sin(2 * np.pi * v / 12) + rng.normal(0, 2)}
                 for d, v in zip(dates, t)]
    five = pd.DataFrame(rows)
    six = pd.concat([five, pd.DataFrame([{"unique_id": "Y", "ds": "2020-11-01", "y": 3.0}])])
    a, b = autofast.forecast(five, horizon=6), autofast.forecast(six, horizon=6)
    assert a.config.season == b.config.season == 12
    assert b.test["Auto-AR"]["mase"] == pytest.approx(a.test["Auto-AR"]["mase"], rel=1e-9)
    nxt = b.next(intervals=True)
    y = nxt[nxt["unique_id"] == "Y"]
    assert y["ds"].tolist()[:2] == ["2020-12-01", "2021-01-01"] and y["y-lo-80"].isna().all()


def test_a_series_that_ended_long_before_the_panel_is_named():
    """A store closed in 2020 was forecast for 2020-2021, the panel running to 2022, without a note."""
    from autofast.forecast.panel import _ended_early

    def rows(uid, start, n):
        dates = pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m-%d")
        return [{"unique_id": uid, "ds": d, "y": 10.0 + i % 12} for i, d in enumerate(dates)]

    frame = pd.DataFrame(rows("a", "2015-01-01", 96) + rows("b", "2015-01-01", 96) + rows("closed", "2015-01-01", 60))
    res = autofast.forecast(frame, horizon=6)
    assert "'closed'" in res.sized_from_data["series ended early"]
    assert _ended_early(res.panel, 6) == ["closed"] and _ended_early(res.panel, 48) == []


def test_series_shorter_than_the_ar_order_are_named():
    """A series shorter than the global AR's order is forecast by its last value: said by the run and predict
    (30 new rows of a store gave a flat forecast without a word)."""
    model = PanelModel(ChosenModel(0, 3, 0, False, 0.0, [0.5, 0.0, 0.2], 0.0), horizon=4)
    hists = [np.array([1.0, 4.0]), np.arange(10.0), np.arange(3.0)]
    assert model.too_short(hists) == [0]  # 2 rows < order 3
    fc = model.predict(hists)
    np.testing.assert_allclose(fc[0], 4.0)
    differenced = PanelModel(ChosenModel(0, 3, 1, False, 0.0, [0.5, 0.0, 0.2], 0.0), horizon=4)
    assert differenced.too_short(hists) == [0, 2]  # 3 rows, once differenced: 2


def test_forecast_series_is_the_recursion_in_each_series_units():
    rng = np.random.default_rng(0)
    hists = [rng.standard_normal(12) * 50 + 1000, rng.standard_normal(30) * 0.01 - 3, np.array([1.0, 4.0, 2.0])]
    H = 5
    for psi, c in (([0.5], 0.0), ([0.5, 0.2], 0.3)):
        chosen = ChosenModel(0, len(psi), 0, bool(c), 0.0, psi, c)
        got = forecast_series(hists, chosen, H)
        assert got.shape == (3, H)
        for i, h in enumerate(hists):
            mean, std = h.mean(), h.std()
            z = list((h - mean) / std)
            for _ in range(H):
                z.append(c + sum(a * z[-1 - j] for j, a in enumerate(psi)))
            np.testing.assert_allclose(got[i], np.array(z[-H:]) * std + mean, rtol=1e-10)
    # AR(1) 0.5 without intercept: halfway back to each series' own mean every step
    got = forecast_series(hists, ChosenModel(0, 1, 0, False, 0.0, [0.5], 0.0), 2)
    for i, h in enumerate(hists):
        np.testing.assert_allclose(got[i], h.mean() + (h[-1] - h.mean()) * np.array([0.5, 0.25]), rtol=1e-10)


def test_naive_and_seasonal_naive_and_short_series():
    rng = np.random.default_rng(1)
    hists = [rng.standard_normal(9) * 7 + 40, np.array([3.0, 5.0]), np.array([2.0]), np.full(6, 4.0)]
    naive = forecast_series(hists, naive_model(0, 1, 0.0), 4)
    np.testing.assert_allclose(naive, np.array([[h[-1]] * 4 for h in hists]), rtol=1e-12)
    snaive = forecast_series(hists[:1], naive_model(0, 3, 0.0), 6)
    np.testing.assert_allclose(snaive[0], np.tile(hists[0][-3:], 2), rtol=1e-12)
    ar3 = ChosenModel(0, 3, 0, False, 0.0, [0.5, 0.2, 0.1], 0.0)  # order 3
    fc = forecast_series(hists, ar3, 3)
    np.testing.assert_allclose(fc[1], [5.0] * 3)  # 2 rows < order 3: the last value
    np.testing.assert_allclose(fc[2], [2.0] * 3)
    assert not np.allclose(fc[0], hists[0][-1])  # long enough: the AR itself
    with pytest.raises(AutofastError, match="no rows"):
        forecast_series([np.array([])], ar3, 3)


def test_mase_scale_and_error_table_by_hand():
    x = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    assert mase_scale(x, 1) == pytest.approx(np.mean([2, 1, 4, 2]))
    assert mase_scale(x, 2) == pytest.approx(np.mean([1, 3, 2]))
    assert mase_scale(x, 5) == pytest.approx(np.mean([2, 1, 4, 2]))  # shorter than two seasons: lag 1
    assert mase_scale(np.full(4, 2.0), 1) == 0.0
    t = np.array([5.0, 7.0])
    fc = np.array([[4.0, 4.0]])
    tab = error_table([x], [t], fc, 1)
    assert tab["mase"][0] == pytest.approx(2.0 / 2.25)
    assert tab["mse"][0] == pytest.approx(np.mean(([1.0, 3.0] / x.std()) ** 2))
    assert tab["smape"][0] == pytest.approx(np.mean([200 * 1 / 9, 200 * 3 / 11]))
    flat = error_table([np.full(4, 2.0)], [t], fc, 1)
    assert np.isnan(flat["mase"][0])  # a constant history has no MASE scale


# ---------------------------------------------------------------------------------------------------------------
# 3. protocol honesty


def test_test_rows_never_reach_the_selection():
    values = _ar2_values(seed=4, S=30)
    base = _panel(values)
    cfg = PanelConfig(horizon=6)
    ref = run_panel(base, cfg)
    H = ref.config.horizon
    spread = max(float(np.ptp(v)) for v in values)
    res = {}
    for K in (1000.0, 2000.0):  # the last H rows of every series moved far above everything else
        changed = _panel([np.r_[v[:-H], v[-H:] + K * spread] for v in values])
        res[K] = run_panel(changed, cfg)
        r = res[K]
        assert r.chosen == ref.chosen and r.chosen.label == ref.chosen.label
        assert r.chosen.selection_score == ref.chosen.selection_score
        assert r.config == ref.config and r.candidates == ref.candidates
        assert r.test["Auto-AR"]["mase"] > 10 * ref.test["Auto-AR"]["mase"]
        assert r.test["naive"]["mase"] > 10 * ref.test["naive"]["mase"]
    # the test forecasts come from rows [0, n - H) only: with every target K above the forecast, the mean
    # absolute error is K - mean(error), so raising K by 1000 spread raises each MASE by exactly that over its scale
    for i, v in enumerate(values):
        scale = mase_scale(v[:-H], ref.config.season)
        diff = (res[2000.0].per_series["mase"][i] - res[1000.0].per_series["mase"][i]) * scale
        assert diff == pytest.approx(1000.0 * spread, rel=1e-9)


def test_validation_rows_drive_the_selection():
    values = _ar2_values(seed=4, S=30)
    cfg = PanelConfig(horizon=6)
    ref = run_panel(_panel(values), cfg)
    H = 6
    rng = np.random.default_rng(9)
    changed = [np.r_[v[: -2 * H], v[-2 * H : -H] + rng.normal(0, 3 * v.std(), H), v[-H:]] for v in values]
    r = run_panel(_panel(changed), cfg)
    assert r.chosen.selection_score != pytest.approx(ref.chosen.selection_score, rel=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# 4. quality on synthetic panels


def test_common_ar2_panel_chooses_an_ar_that_beats_naive():
    res = run_panel(_panel(_ar2_values(seed=0, S=60)), PanelConfig(horizon=8))
    assert res.chosen.kind == "ar" and res.model.chosen.kind == "ar"
    assert res.validation_series == 60 and res.tested.all() and res.candidates > 0
    assert res.test["Auto-AR"]["mase"] < 0.9 * res.test["naive"]["mase"]
    # the refit keeps the chosen (p, d, const) and shrinkage
    m, c = res.model.chosen, res.chosen
    assert (m.p, m.d, m.intercept, m.shrink) == (c.p, c.d, c.intercept, c.shrink) and len(m.psi) == c.p + c.d


def test_a_single_model_replaces_the_mean_only_when_clearly_ahead(monkeypatch):
    """The mean of the AR pick, Theta and the damped trend is the choice unless a single model (the AR alone, a
    naive forecast) is below SINGLE_MODEL_MARGIN x its validation MASE; with the per-series models off, the
    single models alone."""
    import autofast.forecast.panel as panel_module

    panel = _panel(_ar2_values(seed=0, S=60))
    res = run_panel(panel, PanelConfig(horizon=8))
    sel = res.selection
    assert sel["single"]["validation_mase"] < panel_module.SINGLE_MODEL_MARGIN * sel["mean"]["validation_mase"]
    assert res.chosen.selection_score == sel["single"]["validation_mase"] and "Theta" in sel["mean"]["label"]
    monkeypatch.setattr(panel_module, "SINGLE_MODEL_MARGIN", 0.5)  # never clearly enough ahead: the mean
    res = run_panel(panel, PanelConfig(horizon=8))
    assert res.chosen.kind == "ar+theta+damped" and res.chosen.selection_score == sel["mean"]["validation_mase"]
    assert res.model.chosen.kind == "ar+theta+damped"
    res = run_panel(panel, PanelConfig(horizon=8, theta=False))
    assert set(res.selection) == {"single"} and res.chosen.kind == "ar"


@pytest.mark.filterwarnings("error")
def test_histories_too_short_to_scale_choose_quietly():
    """Series of 2H + 1 rows: every validation history is one row (no MASE scale), so no candidate can be scored;
    the run still chooses (the mean), tests and forecasts, without numpy's empty-slice warnings."""
    rng = np.random.default_rng(0)
    res = run_panel(_panel([50 + np.cumsum(rng.normal(0, 1, 9)) for _ in range(12)]), PanelConfig(horizon=4))
    assert res.chosen.kind == "theta+damped" and np.isfinite(res.test["Auto-AR"]["mase"])
    assert res.next_values.shape == (12, 4) and np.isfinite(res.next_values).all()


def test_random_walk_panel_is_about_as_good_as_naive():
    res = run_panel(_panel(_walks(seed=3, S=200)), PanelConfig(horizon=8))
    assert res.test["Auto-AR"]["mase"] <= 1.1 * res.test["naive"]["mase"]


def test_per_series_frame_matches_the_means():
    values = _ar2_values(seed=2, S=20, lo=20, hi=40)
    values.append(np.arange(5.0))  # too short to be tested at H=6
    res = run_panel(_panel(values), PanelConfig(horizon=6))
    f = res.per_series_frame
    assert list(f.index) == [f"s{i:02d}" for i in range(21)] and f.index.name == "unique_id"
    assert list(f["rows"]) == [len(v) for v in values]
    assert list(f["tested"]) == [True] * 20 + [False] and np.isnan(f["mase"].iloc[-1])
    assert res.validation_series == 20
    for k in ("mase", "mse", "smape"):
        assert f[k].mean() == pytest.approx(res.test["Auto-AR"][k], rel=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# 5. resolve_panel


def _monthly_dates(n, start="2001-01-01"):
    return pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m-%d")


def test_resolve_monthly_yearly_and_no_dates():
    rng = np.random.default_rng(0)
    lengths = [70, 80, 90]
    monthly = _panel([rng.standard_normal(n) for n in lengths], [_monthly_dates(n) for n in lengths])
    cfg, freq, notes = resolve_panel(PanelConfig(), monthly)
    assert freq.name == "monthly" and cfg.horizon == 18 and cfg.season == 12
    assert cfg.max_order == max(13, min(48, int(np.percentile(lengths, 75)) - 36))
    assert {"horizon", "season", "max_order"} <= set(notes) <= {"horizon", "season", "max_order", "diff_orders",
                                                                "series ended early"} and "monthly" in notes["horizon"]
    assert cfg.diff_orders == [0, 1] and "twice-differenced" in notes["diff_orders"]  # 3 series: FEW_SERIES
    short = _panel([rng.standard_normal(40)] * 20, [_monthly_dates(40)] * 20)  # 40 - 36 rows: no two seasons
    cfg, _, notes = resolve_panel(PanelConfig(), short)
    assert cfg.horizon == 18 and cfg.season == 1 and "fewer than two seasons" in notes["season"]
    # few series (FEW_SERIES) of three seasons keep theirs: the refits on longer histories adjust by it
    cfg, _, notes = resolve_panel(PanelConfig(), _panel([rng.standard_normal(40)] * 3, [_monthly_dates(40)] * 3))
    assert cfg.season == 12 and "adjustment applies where it holds three" in notes["season"]
    yearly = _panel([rng.standard_normal(30)] * 4, [np.arange(1990, 2020).astype(str)] * 4)
    cfg, freq, _ = resolve_panel(PanelConfig(), yearly)
    assert freq.name == "yearly" and cfg.horizon == 6 and cfg.season == 1
    plain = _panel([rng.standard_normal(n) for n in (20, 31, 45)])
    cfg, freq, notes = resolve_panel(PanelConfig(), plain)
    assert freq is None and cfg.horizon == (31 - 1) // 2 == 15 and cfg.season == 1
    assert "capped at half the median series of 31 rows" in notes["horizon"]
    long_plain = _panel([rng.standard_normal(400)] * 3)
    assert resolve_panel(PanelConfig(), long_plain)[0].horizon == 96  # no frequency: 96 when it fits


def test_resolve_keeps_given_values_and_refuses_all_short_series():
    rng = np.random.default_rng(0)
    monthly = _panel([rng.standard_normal(80)] * 2, [_monthly_dates(80)] * 2)
    cfg, _, notes = resolve_panel(PanelConfig(horizon=5, season=4, max_order=7, diff_orders=[0, 1, 2]), monthly)
    assert (cfg.horizon, cfg.season, cfg.max_order, cfg.diff_orders) == (5, 4, 7, [0, 1, 2]) and notes == {}
    tiny = _panel([rng.standard_normal(20), rng.standard_normal(16)])
    with pytest.raises(AutofastError, match="no series has more than 20 rows.*lower the horizon"):
        resolve_panel(PanelConfig(horizon=10), tiny)
    with pytest.raises(AutofastError, match="lower the horizon"):
        run_panel(tiny, PanelConfig(horizon=10))
    resolve_panel(PanelConfig(horizon=9), tiny)  # 20 > 18: one series is enough


# ---------------------------------------------------------------------------------------------------------------
# 6. the command line


@pytest.fixture(scope="module")
def panel_run(tmp_path_factory):
    """One ``forecast --json`` run on a shuffled monthly panel CSV: (csv path, data frame, run folder, payload)."""
    import contextlib
    import io

    tmp = tmp_path_factory.mktemp("panel")
    df = _monthly_long(seed=1, S=12)
    path = _csv(tmp, df)
    out = tmp / "run"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["forecast", "--data", str(path), "--out", str(out), "--json"])
    assert code == 0
    return path, df, out, json.loads(buf.getvalue())


def test_cli_panel_run_writes_its_files(panel_run):
    path, df, out, res = panel_run
    assert res["kind"] == "panel" and res["series"] == 12 and res["rows"] == len(df)
    assert (res["id_column"], res["date_column"], res["value_column"]) == ("unique_id", "ds", "y")
    assert res["frequency"] == "monthly" and res["config"]["horizon"] == 18 and res["config"]["season"] == 12
    assert set(res["test"]) == {"Auto-AR", "naive", "seasonal naive"}
    assert json.loads((out / "result.json").read_text())["test"] == res["test"]
    H = 18
    assert {"result.json", "report.md", "per_series.csv", f"forecast_next_H{H}.csv", "model.json",
            "forecast_panel.png"} <= {p.name for p in out.iterdir()}
    assert (out / "forecast_panel.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (out / "report.md").read_text()
    assert res["chosen"]["label"] in report and f"{res['test']['Auto-AR']['mase']:.4f}" in report
    per = pd.read_csv(out / "per_series.csv", dtype={"unique_id": str})
    assert list(per["unique_id"]) == sorted(df["unique_id"].unique())
    assert list(per["rows"]) == [int((df["unique_id"] == s).sum()) for s in per["unique_id"]]
    assert per["test_mase"].mean() == pytest.approx(res["test"]["Auto-AR"]["mase"], rel=1e-9)
    nxt = pd.read_csv(out / f"forecast_next_H{H}.csv", dtype={"unique_id": str, "ds": str})
    assert list(nxt.columns) == ["unique_id", "ds", "y", "y-lo-80", "y-hi-80", "y-lo-95", "y-hi-95"]
    assert len(nxt) == 12 * H and ((nxt["y-lo-95"] <= nxt["y-lo-80"]) & (nxt["y-lo-80"] <= nxt["y"]) &
                                   (nxt["y"] <= nxt["y-hi-80"]) & (nxt["y-hi-80"] <= nxt["y-hi-95"])).all()
    model = load_model(out)
    assert isinstance(model, PanelModel) and model.horizon == H and model.chosen.label == res["chosen"]["label"]
    for sid, rows in nxt.groupby("unique_id", sort=True):
        hist = df[df["unique_id"] == sid].sort_values("ds")
        assert len(rows) == H
        last = pd.Timestamp(hist["ds"].iloc[-1])
        assert list(rows["ds"]) == [(last + pd.DateOffset(months=k)).strftime("%Y-%m-%d") for k in range(1, H + 1)]
        np.testing.assert_allclose(rows["y"].to_numpy(), model.predict([hist["y"].to_numpy()])[0], rtol=1e-9)


def test_cli_predict_and_load_on_newer_data(panel_run, tmp_path, capsys):
    path, df, out, res = panel_run
    # newer data: the first 5 rows of each series dropped, 3 more months for s00, and a series the run never saw
    newer = df.sort_values(["unique_id", "ds"]).groupby("unique_id").tail(60)
    extra = pd.DataFrame({"unique_id": ["s00"] * 3 + ["zz"] * 30,
                          "ds": list(pd.date_range(pd.Timestamp(df[df.unique_id == "s00"]["ds"].max())
                                                   + pd.DateOffset(months=1), periods=3, freq="MS")
                                     .strftime("%Y-%m-%d")) + list(_monthly_dates(30, "2010-06-01")),
                          "y": np.r_[[150.0, 151.0, 149.0], 50 + np.sin(np.arange(30))]})
    newer = pd.concat([newer, extra]).sample(frac=1, random_state=3)
    data = _csv(tmp_path, newer, "newer.csv")
    code, stdout, err = run_cli(["predict", str(out), "--data", str(data)], capsys)
    assert code == 0, err
    H = res["config"]["horizon"]
    written = out / f"forecast-newer-H{H}.csv"
    assert str(written) in " ".join(stdout.split())
    got = pd.read_csv(written, dtype={"unique_id": str, "ds": str})
    panel = load_panel(data)
    model = autofast.load(out)
    assert isinstance(model, PanelModel)
    want = model.predict(panel.values)
    assert want.shape == (13, H) and list(got["unique_id"].unique()) == panel.ids
    np.testing.assert_allclose(got["y"].to_numpy(), want.reshape(-1), rtol=1e-9)
    s00 = got[got["unique_id"] == "s00"]
    assert s00["ds"].iloc[0] == (pd.Timestamp(extra["ds"].iloc[2]) + pd.DateOffset(months=1)).strftime("%Y-%m-%d")
    assert list(got[got["unique_id"] == "zz"]["ds"])[:2] == ["2012-12-01", "2013-01-01"]
    # the model does not refit: a series forecast alone is the same as within the panel
    np.testing.assert_allclose(model.predict([panel.values[-1]])[0], want[-1], rtol=1e-12)


@pytest.mark.parametrize("args,needle", [
    (["--lookback", "5"], "--lookback does not apply to a panel"),
    (["--horizon", "6", "12"], "a panel run takes one horizon"),
    (["--columns", "y", "ds"], "a panel forecasts one value column"),
    (["--baseline", "autoarima"], "--baseline does not apply to a panel"),
    (["--id-column", "store"], "no id column 'store'"),
])
def test_cli_single_series_options_on_a_panel_are_clean_errors(args, needle, tmp_path, capsys):
    if args[0] == "--baseline":
        pytest.importorskip("statsforecast")
    path = _csv(tmp_path, _monthly_long(seed=5, S=4, lo=50, hi=60))
    out = tmp_path / "out"
    code, stdout, err = run_cli(["forecast", "--data", str(path), "--out", str(out), "--json", *args], capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert stdout == ""
    assert not out.exists() and not any(x.name.startswith(".out") for x in tmp_path.iterdir())


def test_cli_empty_id_column_reads_the_file_as_one_series(tmp_path, capsys):
    df = _monthly_long(seed=6, S=3, lo=50, hi=60, shuffle=False)
    path = _csv(tmp_path, df)
    out = tmp_path / "single"
    code, stdout, err = run_cli(["forecast", "--data", str(path), "--out", str(out), "--json", "--id-column", "",
                                 "--no-plot"], capsys)
    if code == 0:
        assert json.loads(stdout).get("kind") != "panel"
    else:
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
        assert not out.exists()
    # the same values without the id column are one series: short, so a panel of one (forecast/short.py); with
    # --split ratio the window protocol
    solo = _csv(tmp_path, df[df["unique_id"] == "s00"].drop(columns="unique_id"), "solo.csv")
    code, stdout, err = run_cli(["forecast", "--data", str(solo), "--out", str(tmp_path / "solo"), "--json",
                                 "--no-plot"], capsys)
    assert code == 0, err
    assert json.loads(stdout)["kind"] == "panel of one" and load_model(tmp_path / "solo").id_column is None
    code, stdout, err = run_cli(["forecast", "--data", str(solo), "--out", str(tmp_path / "solo-w"), "--json",
                                 "--no-plot", "--split", "ratio"], capsys)
    assert code == 0, err
    assert "kind" not in json.loads(stdout) and not isinstance(load_model(tmp_path / "solo-w"), PanelModel)


def test_cli_panel_options_reach_the_config(tmp_path, capsys):
    path = _csv(tmp_path, _monthly_long(seed=5, S=6, lo=50, hi=60))
    code, stdout, err = run_cli(["forecast", "--data", str(path), "--out", str(tmp_path / "o"), "--json",
                                 "--horizon", "4", "--max-order", "6", "--diff", "1", "--season", "12"], capsys)
    assert code == 0, err
    cfg = json.loads(stdout)["config"]
    assert (cfg["horizon"], cfg["max_order"], cfg["diff_orders"], cfg["season"]) == (4, 6, [1], 12)
    assert len(pd.read_csv(tmp_path / "o" / "forecast_next_H4.csv")) == 6 * 4
    assert (tmp_path / "o" / "forecast_panel.png").is_file()
    code, stdout, err = run_cli(["forecast", "--data", str(path), "--out", str(tmp_path / "np"), "--json",
                                 "--horizon", "4", "--no-plot", "--theta", "no"], capsys)
    assert code == 0, err
    assert not (tmp_path / "np" / "forecast_panel.png").exists() and (tmp_path / "np" / "model.json").is_file()
    res = json.loads(stdout)
    assert res["config"]["theta"] is False and not {"theta", "damped"} & set(res["chosen"]["kind"].split("+"))


# ---------------------------------------------------------------------------------------------------------------
# 7. Python API


def test_api_long_frame_gives_a_panel_result(tmp_path):
    df = _monthly_long(seed=7, S=8, lo=60, hi=80)
    res = autofast.forecast(df)
    assert isinstance(res, PanelResult) and res.config.horizon == 18 and res.frequency.name == "monthly"
    H = res.config.horizon
    nxt = res.next()
    assert list(nxt.columns) == ["unique_id", "ds", "y"] and len(nxt) == 8 * H
    assert (nxt.groupby("unique_id").size() == H).all()
    short = res.next(3)
    assert len(short) == 8 * 3
    np.testing.assert_allclose(short["y"].to_numpy(), nxt.groupby("unique_id").head(3)["y"].to_numpy(), rtol=1e-12)
    subset = df[df["unique_id"].isin(["s01", "s05"])]
    pred = res.predict(subset)
    want = nxt[nxt["unique_id"].isin(["s01", "s05"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(pred.reset_index(drop=True), want)
    path = _csv(tmp_path, subset, "sub.csv")
    pd.testing.assert_frame_equal(res.predict(str(path)).reset_index(drop=True), want)
    # the same data as a CSV path: the same run (up to the last bit the CSV's decimal text keeps)
    again = autofast.forecast(str(_csv(tmp_path, df)))
    assert isinstance(again, PanelResult) and again.chosen.label == res.chosen.label
    assert again.chosen.selection_score == pytest.approx(res.chosen.selection_score, rel=1e-9)
    for method, scores in res.test.items():
        assert again.test[method] == pytest.approx(scores, rel=1e-9)
    # an id column named explicitly
    other = autofast.forecast(df.rename(columns={"unique_id": "shop"}), id_column="shop")
    assert isinstance(other, PanelResult) and other.chosen == res.chosen and other.panel.id_column == "shop"
    assert list(other.next().columns) == ["shop", "ds", "y"]


@pytest.mark.parametrize("id_column", ["auto", "unique_id"])
def test_api_frame_indexed_by_the_id_is_a_panel(id_column):
    df = _monthly_long(seed=7, S=8, lo=60, hi=80)
    res = autofast.forecast(df.set_index("unique_id"), id_column=id_column, horizon=6)
    assert isinstance(res, PanelResult) and res.panel.ids == [f"s{i:02d}" for i in range(8)]


def test_api_named_id_column_that_is_missing_is_an_error(tmp_path):
    df = _monthly_long(seed=7, S=3, lo=30, hi=40, shuffle=False).drop(columns="unique_id").iloc[:30]
    with pytest.raises(AutofastError, match="no id column 'store'"):
        autofast.forecast(df, id_column="store", horizon=4)


def test_api_panel_options_and_errors():
    df = _monthly_long(seed=8, S=5, lo=40, hi=50)
    res = autofast.forecast(df, horizon=4, max_order=5, diff_orders=[0])
    assert res.config.horizon == 4 and res.config.max_order == 5 and res.chosen.d == 0
    assert autofast.forecast(df, horizon=[4]).config.horizon == 4
    with pytest.raises(AutofastError, match="lookback"):
        autofast.forecast(df, lookback=5)
    with pytest.raises(AutofastError, match="one horizon"):
        autofast.forecast(df, horizon=[4, 8])
    with pytest.raises(AutofastError, match="horizon"):
        autofast.forecast(df, horizon=0)
    with pytest.raises(AutofastError, match="one value column"):
        autofast.forecast(df, columns=["y", "ds"])


def test_api_frame_without_id_column_is_a_single_series_forecast():
    t = np.arange(320)
    df = pd.DataFrame({"ds": pd.date_range("1990-01-01", periods=320, freq="MS").strftime("%Y-%m-%d"),
                       "y": 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12)})
    fc = autofast.forecast(df)
    assert isinstance(fc, Forecast) and not isinstance(fc, PanelResult) and fc.columns == ["y"]
    short = autofast.forecast(df.iloc[:120])  # at most 300 rows: a panel of one (forecast/short.py)
    assert isinstance(short, PanelResult) and "panel of one" in short.reason and len(short.panel) == 1
    assert list(short.next().columns) == ["date", "y"] and short.next()["date"].iloc[0] == "2000-01-01"
    long = _monthly_long(seed=9, S=3, lo=50, hi=60, shuffle=False)
    one = long[long["unique_id"] == "s00"].drop(columns="unique_id")
    assert isinstance(autofast.forecast(one, horizon=4, split="ratio"), Forecast)
    # id_column=None: never a panel (the id column is then text, not a channel)
    with pytest.raises(AutofastError):
        autofast.forecast(long, id_column=None)


# ---------------------------------------------------------------------------------------------------------------
# 8. model.json


def test_panel_model_round_trip(tmp_path):
    res = run_panel(_panel(_ar2_values(seed=1, S=20, lo=30, hi=40)), PanelConfig(horizon=5))
    model = res.model
    model.save(tmp_path)
    back = load_model(tmp_path)
    assert isinstance(back, PanelModel) and back == model
    assert back.to_dict()["format"] == "autofast-forecast-panel/1" and "PanelModel(" in repr(back)
    hist = [np.arange(12.0) ** 1.5, np.sin(np.arange(25.0)) * 3 + 7]
    np.testing.assert_array_equal(back.predict(hist), model.predict(hist))
    assert back.predict(hist).shape == (2, 5) and back.predict(hist, 2).shape == (2, 2)
    np.testing.assert_allclose(back.predict(hist, 2), back.predict(hist)[:, :2], rtol=1e-12)
    frame = next_frame(res.panel, back)
    np.testing.assert_allclose(frame["y"].to_numpy(), res.next()["y"].to_numpy(), rtol=1e-12)
    assert list(frame.columns) == ["unique_id", "step", "y"] and list(frame["step"][:5]) == [1, 2, 3, 4, 5]


def test_panel_model_runs_the_theta_variant_it_was_saved_with(tmp_path):
    """A "theta" part runs the best of the four Theta models; a model.json from before the variant was recorded
    runs the standard method it was fitted with; an unknown variant is a clear error."""
    from autofast.forecast.theta import auto_theta_panel, theta_panel

    rng = np.random.default_rng(2)
    hist = [20 + np.cumsum(rng.normal(0.4, 1, n)) for n in (30, 45)]
    model = PanelModel(ChosenModel(0, 0, 0, False, 0.5, [1.0], 0.0, kind="theta"), 4)
    d = model.to_dict()
    assert d["theta"] == "auto"
    stage_z = [(h - h.mean()) / h.std() for h in hist]
    for variant, fn, doc in (("auto", auto_theta_panel, d), ("standard", theta_panel, {k: v for k, v in d.items()
                                                                                        if k != "theta"})):
        (tmp_path / "model.json").write_text(json.dumps(doc))
        back = load_model(tmp_path)
        assert back.theta == variant
        want = fn(stage_z, 4) * np.array([h.std() for h in hist])[:, None] + np.array([h.mean() for h in hist])[:, None]
        np.testing.assert_allclose(back.predict(hist), want, rtol=1e-10)
    assert not np.allclose(auto_theta_panel(stage_z, 4), theta_panel(stage_z, 4))
    (tmp_path / "model.json").write_text(json.dumps({**d, "theta": "optimal"}))
    with pytest.raises(AutofastError, match="not a readable panel forecast model"):
        load_model(tmp_path)


def _damage(d, how):
    if how == "psi text":
        d["chosen"]["psi"][0] = "x"
    elif how == "no chosen":
        del d["chosen"]
    elif how == "empty psi":
        d["chosen"]["psi"] = []
    elif how == "nan psi":
        d["chosen"]["psi"][0] = float("nan")
    elif how == "horizon 0":
        d["horizon"] = 0
    elif how == "no p":
        del d["chosen"]["p"]
    elif how == "chosen a list":
        d["chosen"] = [1, 2]
    elif how == "transform a list":
        d["transform"] = [True]
    return d


@pytest.mark.parametrize("how", [
    "psi text", "no chosen", "empty psi", "nan psi", "horizon 0", "no p",
    "chosen a list",
    "transform a list",
])
def test_damaged_model_json_is_one_error_line(how, tmp_path, capsys):
    model = PanelModel(ChosenModel(0, 2, 0, True, 0.5, [0.4, 0.1], 0.2), 6, "monthly", "unique_id", "ds", "y")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    d = _damage(model.to_dict(), how)
    (run_dir / "model.json").write_text(json.dumps(d))
    with pytest.raises(AutofastError, match="not a readable panel forecast model") as exc:
        load_model(run_dir)
    assert "\n" not in str(exc.value) and "model.json" in str(exc.value)
    data = _csv(tmp_path, pd.DataFrame({"unique_id": ["a"] * 3, "ds": list(_monthly_dates(3)), "y": [1.0, 2, 3]}))
    code, out, err = run_cli(["predict", str(run_dir), "--data", str(data)], capsys)
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err


def test_model_json_that_is_not_an_object_is_one_error_line(tmp_path):
    (tmp_path / "model.json").write_text("[1, 2]")
    with pytest.raises(AutofastError, match="not a readable"):
        load_model(tmp_path)


def test_a_panel_user_audit_counts_floor_tables_frequencies_and_dates(tmp_path, capsys):
    """A panel user's audit (session 36): a series of counts that is never negative was forecast at -0.16 with a
    lower bound of -1.1 (now floored at 0, point and bounds); ``autofast.load(run).predict`` of the long table the
    run read was a raw ValueError (now the forecast table); a daily series in a weekly panel, and daily data given
    to a weekly run, passed without a word (now notes); an unparseable date was reported with a valid example
    (now its data row)."""
    rng = np.random.default_rng(0)
    frames = []
    for s in range(12):
        n = int(rng.integers(40, 70))
        y = rng.poisson(0.4, n).astype(float) if s == 0 else 50 + np.cumsum(rng.standard_normal(n))
        if s == 0:
            y[-12:] = 0.0  # a count that stopped: a falling forecast went below 0
        frames.append(pd.DataFrame({"unique_id": f"s{s:02d}", "y": y,
                                    "ds": pd.date_range("2020-01-05", periods=n, freq="W-SUN").strftime("%Y-%m-%d")}))
    df = pd.concat(frames, ignore_index=True)
    run = tmp_path / "run"
    assert main(["forecast", "--data", str(_csv(tmp_path, df)), "--out", str(run), "--no-plot"]) == 0
    capsys.readouterr()
    model = autofast.load(run)
    table = model.predict(df, intervals=True)  # the long table itself (it raised a ValueError)
    counts = table[table.unique_id == "s00"]
    assert len(table) == 12 * model.horizon and (counts["y"] >= 0).all() and (counts["y-lo-95"] >= 0).all()
    assert np.allclose(table["y"], model.predict(_csv(tmp_path, df))["y"])
    with pytest.raises(AutofastError, match="give a list of 1-D arrays"):
        model.predict({"s00": [1.0, 2.0]})
    daily = pd.DataFrame({"unique_id": "DAILY", "y": np.arange(60.0),
                          "ds": pd.date_range("2021-01-01", periods=60, freq="D").strftime("%Y-%m-%d")})
    mixed = pd.concat([df, daily], ignore_index=True)
    res = autofast.forecast(mixed)
    assert res.sized_from_data["frequency"].startswith("1 series (e.g. 'DAILY') step at another frequency than the "
                                                       "panel's weekly dates")
    new = pd.concat([d.assign(ds=pd.date_range("2022-01-01", periods=len(d), freq="D").strftime("%Y-%m-%d"))
                     for _, d in df.groupby("unique_id")], ignore_index=True)
    assert main(["predict", str(run), "--data", str(_csv(tmp_path, new, "daily.csv"))]) == 0
    assert "note: the new data are daily, the run's model was chosen on weekly data" in capsys.readouterr().out
    one = pd.concat([df, df.iloc[:1].assign(unique_id="ONE")], ignore_index=True)
    assert main(["predict", str(run), "--data", str(_csv(tmp_path, one, "one.csv"))]) == 0
    assert "1 series of one row (e.g. 'ONE') have no prediction intervals" in capsys.readouterr().out
    bad = df.astype({"ds": object})
    bad.loc[7, "ds"] = "not a date"
    with pytest.raises(AutofastError, match=r"does not parse as dates \(data row 8: 'not a date'\)"):
        frame_panel(bad)


def test_a_seasonal_adjustment_no_series_passed_is_not_named_as_done():
    """'mean of Theta and damped trend on the seasonally adjusted' beside '0 of 5 series pass M4's seasonality
    test': the label now says what the values were."""
    rng = np.random.default_rng(2)
    frames = [pd.DataFrame({"unique_id": f"s{s}", "y": np.maximum(0, rng.poisson(2.0, 60)).astype(float) + 1,
                            "ds": pd.date_range("2015-01-01", periods=60, freq="MS").strftime("%Y-%m-%d")})
              for s in range(5)]
    res = autofast.forecast(pd.concat(frames, ignore_index=True))
    assert res.transform.deseason and res.selection["seasonal adjustment"].startswith("0 of 5 series pass")
    assert "(no series passed M4's seasonality test)" in res.selection["mean"]["label"]
    assert "seasonally adjusted" not in res.selection["mean"]["label"]


def test_series_named_by_two_columns_get_the_fix_in_the_error():
    """store x item: the item column alone was taken as the id and the repeated dates were the error, with no word
    that store_id tells the rows apart."""
    rows = [{"store_id": st, "item": it, "date": d, "sales": 1.0} for st in "AB" for it in ("I1", "I2")
            for d in pd.date_range("2021-01-03", periods=20, freq="W-SUN").strftime("%Y-%m-%d")]
    with pytest.raises(AutofastError, match="column 'store_id' also separates the series: combine it with 'item'"):
        frame_panel(pd.DataFrame(rows))
    one = pd.DataFrame(rows[:20] + rows[:1])
    with pytest.raises(AutofastError, match="more than once .*keep one row per series and date"):
        frame_panel(one)
