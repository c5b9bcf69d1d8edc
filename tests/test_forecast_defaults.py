"""Data-sized forecast defaults: dates and their frequency, the date column found in a CSV, the sized
config (horizon, lookback, largest order, season), the naive and seasonal naive candidates, and the
`forecast` command with no sizing flags."""
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from autofast.data import timeseries as T
from autofast.data.frequency import infer_frequency, parse_dates, step_dates
from autofast.data.timeseries import PreparedSeries, SeriesData, load_series, window_range
from autofast.errors import AutofastError
from autofast.forecast.autoar import naive_errors, naive_model, run_autoar, window_forecasts
from autofast.forecast.baseline import seasonal_naive
from autofast.forecast.config import AutoARConfig
from autofast.forecast.defaults import resolve_config, season_length
from autofast.kernels.ar_grid import get_backend
from cli_helpers import run_cli

CPU = {"backend": "numba", "device": "cpu"}


def months(n, start="1990-01"):
    """``n`` consecutive months as ``YYYY-MM`` strings."""
    first = np.datetime64(start, "M")
    return [str(m) for m in np.arange(first, first + n)]


def stamps(start, n, step):
    """``n`` ``YYYY-MM-DD HH:MM:SS`` stamps ``step`` (a numpy timedelta) apart."""
    t = np.datetime64(start, "s") + np.arange(n) * step
    return [str(x).replace("T", " ") for x in t]


def prepared(values, dates=None, name="s", protocol="ratio"):
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    cols = [f"c{i}" for i in range(values.shape[1])]
    return PreparedSeries.build(name, SeriesData(values, cols, name, None if dates is None else np.asarray(dates)),
                                protocol)


def seasonal_random_walk(n, seed, m=12):
    """``y_t = y_{t-m} + e_t``: the seasonal naive forecast is the optimal one."""
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    y[:m] = 3 * rng.standard_normal(m)
    e = rng.standard_normal(n)
    for t in range(m, n):
        y[t] = y[t - m] + e[t]
    return y


# ---------------------------------------------------------------- parse_dates / infer_frequency

@pytest.mark.parametrize("dates, name, season, horizon", [
    (months(30, "1949-01"), "monthly", 12, 18),
    (["1991 Jul", "1991 Aug", "1991 Sep", "1991 Oct"], "monthly", 12, 18),
    (["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"], "monthly", 12, 18),
    (["1970 Q1", "1970-Q2", "1970Q3", "1970 Q4", "1971 q1"], "quarterly", 4, 8),
    (["1821", "1822", "1823", "1824"], "yearly", 1, 6),
    (np.arange(1821, 1830), "yearly", 1, 6),  # integers, as pandas reads a year column
    (stamps("2016-07-01", 50, np.timedelta64(1, "h")), "hourly", 24, 48),
    (stamps("2016-07-01", 50, np.timedelta64(15, "m")), "15-minute", 96, 96),
    ([str(d) for d in np.arange(np.datetime64("2020-02-20"), np.datetime64("2020-03-10"))], "daily", 7, 14),
    ([str(d) for d in np.datetime64("2019-12-02") + 7 * np.arange(10)], "weekly", 52, 13),
])
def test_infer_frequency_of_calendar_units(dates, name, season, horizon):
    f = infer_frequency(dates)
    assert f is not None and (f.name, f.season, f.horizon) == (name, season, horizon)
    assert f.months == {"yearly": 12, "quarterly": 3, "monthly": 1}.get(name, 0)


def test_parse_dates_values():
    got = parse_dates(["1970 Q1", "1970-Q2", "1970Q3", "1970 q4"])
    assert [str(d)[:10] for d in got] == ["1970-01-01", "1970-04-01", "1970-07-01", "1970-10-01"]
    assert got.dtype == np.dtype("datetime64[ns]")
    assert [str(d)[:10] for d in parse_dates(["1821", " 1822 "])] == ["1821-01-01", "1822-01-01"]
    assert str(parse_dates(["1991 Jul"])[0])[:10] == "1991-07-01"
    assert str(parse_dates(["1949-01"])[0])[:10] == "1949-01-01"
    # time zones: one offset throughout is local time; offsets that change (and times of day with them): UTC
    assert str(parse_dates(["2021-05-01 02:30:00+02:00"])[0]).startswith("2021-05-01T02:30:00")
    utc = parse_dates(["2021-05-01 02:30:00+02:00", "2021-05-01 03:30:00+01:00"])
    assert [str(d)[11:16] for d in utc] == ["00:30", "02:30"]


def test_half_hourly_stamps_with_utc_offset_warn_nothing():
    d = [s + "+00:00" for s in stamps("2021-05-01", 96, np.timedelta64(30, "m"))]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        parsed = parse_dates(d)
        f = infer_frequency(d)
    assert str(parsed[1]).startswith("2021-05-01T00:30:00")
    assert (f.name, f.season, f.horizon) == ("30-minute", 48, 48)


@pytest.mark.parametrize("dates", [
    ["0999", "1000", "1001", "1002"],  # four digits, but not a year in 1000..2999
    ["3000", "3001", "3002"],
    [str(i) for i in range(10)],  # row numbers
    np.arange(10),
    ["-1", "0", "1", "2"],
    ["10000", "10001", "10002"],
])
def test_whole_numbers_that_are_not_years_are_no_calendar(dates):
    assert parse_dates(dates) is None
    assert infer_frequency(dates) is None


@pytest.mark.parametrize("dates", [
    ["2020-01-01", "2020-01-02", "2020-01-07", "2020-01-24"],  # steps 1, 5, 17 days: median 5 days
    ["foo", "bar", "baz"],  # not dates
    ["2020-01", "2020-02"],  # fewer than 3
    ["2020-01-01 00:00:00", "2020-01-01 00:00:07", "2020-01-01 00:00:14"],  # 7 s: does not divide a day
    ["2020-03", "2020-02", "2020-01"],  # steps back
])
def test_infer_frequency_none(dates):
    assert infer_frequency(dates) is None


def test_infer_frequency_none_and_empty_inputs():
    assert infer_frequency(None) is None
    assert parse_dates([]) is None
    assert parse_dates(["2020-01-01", "yesterday"]) is None


def test_median_step_is_robust_to_a_missing_row():
    d = months(24)
    del d[7]  # one gap of two months
    assert infer_frequency(d).name == "monthly"
    h = stamps("2020-03-28", 72, np.timedelta64(1, "h"))
    del h[50]
    assert infer_frequency(h).name == "hourly"


# ---------------------------------------------------------------- step_dates

def test_step_dates_monthly_crosses_the_year_end():
    assert step_dates(["1960-10", "1960-11", "1960-12"], 2) == ["1961-01", "1961-02"]  # written as they came
    nxt = step_dates(months(40, "1957-09"), 14)  # ends 1960-12
    assert nxt[0] == "1961-01" and nxt[12] == "1962-01" and nxt[13] == "1962-02"
    assert step_dates(["1960-11-01", "1960-12-01"], 1) == ["1961-01-01"]
    assert step_dates(["1991 Jul", "1991 Aug", "1991 Sep"], 1) == ["1991-10-01"]


def test_step_dates_two_monthly_dates_step_by_calendar_months():
    assert step_dates(["1960-11", "1960-12"], 2) == ["1961-01", "1961-02"]


def test_step_dates_month_ends_stay_month_ends():
    assert step_dates(["2020-01-31", "2020-02-29", "2020-03-31"], 2) == ["2020-04-30", "2020-05-31"]
    nxt = step_dates(["2020-10-31", "2020-11-30", "2020-12-31"], 3)
    assert nxt == ["2021-01-31", "2021-02-28", "2021-03-31"]


def test_step_dates_quarters_and_years():
    assert step_dates(["1970 Q2", "1970 Q3", "1970 Q4"], 3) == ["1971 Q1", "1971 Q2", "1971 Q3"]  # as they came
    assert step_dates(["1970-01-01", "1970-04-01", "1970-07-01"], 2) == ["1970-10-01", "1971-01-01"]
    assert step_dates(["1990-01-01", "1991-01-01", "1992-01-01"], 2) == ["1993-01-01", "1994-01-01"]


def test_step_dates_whole_numbers_stay_whole_numbers():
    assert step_dates(["1821", "1822", "1823"], 3) == ["1824", "1825", "1826"]
    assert step_dates(np.arange(1821, 1830), 2) == ["1830", "1831"]
    assert step_dates([str(i) for i in range(5)], 3) == ["5", "6", "7"]
    assert step_dates(["1990", "1995"], 2) == ["2000", "2005"]  # by the last gap
    assert step_dates(["3", "2"], 2) is None  # going back: no continuation
    assert step_dates(["2020-01-01"], 2) is None


def test_step_dates_by_the_gap():
    h = stamps("2016-07-01 20:00:00", 3, np.timedelta64(1, "h"))
    assert step_dates(h, 3) == ["2016-07-01 23:00:00", "2016-07-02 00:00:00", "2016-07-02 01:00:00"]
    days = ["2020-02-27", "2020-02-28", "2020-02-29"]
    assert step_dates(days, 2) == ["2020-03-01", "2020-03-02"]  # midnight stamps: dates only
    assert step_dates(["2020-01-01", "2020-01-08", "2020-01-15"], 1) == ["2020-01-22"]
    assert step_dates(["foo", "bar", "baz"], 2) is None


# ---------------------------------------------------------------- load_series: the date column

def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_capitalised_date_column_of_months_numpy_path(tmp_path):
    p = _write(tmp_path, "m.csv", "Date,x,y\n" + "".join(f"{m},{i},{2 * i}\n" for i, m in enumerate(months(5))))
    fast = T._load_csv_numpy(p, T.AUTO_DATE, None)
    assert fast is not None  # plain numeric CSV: numpy reads it
    s = load_series(p)
    assert s.columns == ["x", "y"]
    assert list(s.dates) == months(5)
    np.testing.assert_array_equal(s.values, np.c_[np.arange(5), 2 * np.arange(5)])
    assert infer_frequency(s.dates).name == "monthly"


def test_numpy_and_pandas_paths_agree(tmp_path, monkeypatch):
    p = _write(tmp_path, "d.csv", "a,Date,b\n" + "".join(f"{i / 4},{m},{i}\n" for i, m in enumerate(months(6))))
    fast = load_series(p)
    assert T._load_csv_numpy(p, T.AUTO_DATE, None) is not None
    monkeypatch.setattr(T, "_load_csv_numpy", lambda *a: None)
    slow = load_series(p)
    assert fast.columns == slow.columns == ["a", "b"]
    np.testing.assert_array_equal(fast.values, slow.values)
    assert list(fast.dates.astype(str)) == list(slow.dates.astype(str)) == months(6)


def test_unrecognised_first_text_column_is_the_date_column(tmp_path):
    p = _write(tmp_path, "w.csv", "when,x\n2020-01-01,1\n2020-01-02,2\n2020-01-03,3\n")
    assert T._load_csv_numpy(p, T.AUTO_DATE, None) is None  # not numeric: pandas reads it
    s = load_series(p)
    assert s.columns == ["x"]
    assert list(s.dates) == ["2020-01-01", "2020-01-02", "2020-01-03"]
    assert infer_frequency(s.dates).name == "daily"


def test_unnamed_index_then_quarter_column(tmp_path):
    df = pd.DataFrame({"Quarter": ["1970 Q1", "1970 Q2", "1970 Q3", "1970 Q4", "1971 Q1"],
                       "a": [1.0, 2, 3, 4, 5], "b": [5.0, 6, 7, 8, 9]})
    p = tmp_path / "q.csv"
    df.to_csv(p, index=True)
    assert p.read_text().startswith(",Quarter,a,b\n")
    s = load_series(p)
    assert s.columns == ["a", "b"]  # the index is dropped, not a channel
    assert list(s.dates) == list(df["Quarter"])
    np.testing.assert_array_equal(s.values, df[["a", "b"]].to_numpy())
    assert infer_frequency(s.dates).name == "quarterly"


def test_unnamed_index_of_years_is_the_date_column(tmp_path):
    """aeon's Lynx.csv: header ``,0``, rows ``year,count``."""
    p = _write(tmp_path, "lynx.csv", ",0\n1821,269\n1822,321\n1823,585\n1824,871\n1825,1475\n")
    s = load_series(p)
    assert s.columns == ["0"]
    np.testing.assert_array_equal(s.values[:, 0], [269, 321, 585, 871, 1475])
    assert [str(d) for d in s.dates] == ["1821", "1822", "1823", "1824", "1825"]
    assert infer_frequency(s.dates).name == "yearly"
    assert step_dates(s.dates, 2) == ["1826", "1827"]


def test_unnamed_row_number_index_is_taken_as_labels_not_a_channel(tmp_path):
    df = pd.DataFrame({"a": np.arange(6.0), "b": np.arange(6.0) ** 2})
    p = tmp_path / "idx.csv"
    df.to_csv(p, index=True)
    s = load_series(p)
    assert s.columns == ["a", "b"]
    assert infer_frequency(s.dates) is None
    assert step_dates(s.dates, 2) == ["6", "7"]


def test_unnamed_index_then_a_numeric_year_column(tmp_path):
    """A date-named column wins over the index, in any case, even when it holds numbers (pandas path)."""
    df = pd.DataFrame({"Year": np.arange(1990, 1996), "value": np.arange(6.0)})
    p = tmp_path / "y.csv"
    df.to_csv(p, index=True)
    s = load_series(p)
    assert s.columns == ["value"]
    assert [str(d) for d in s.dates] == [str(y) for y in range(1990, 1996)]
    assert infer_frequency(s.dates).name == "yearly"


def test_all_numeric_csv_without_date_name_has_no_dates(tmp_path):
    p = _write(tmp_path, "n.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    assert T._load_csv_numpy(p, T.AUTO_DATE, None) is not None
    s = load_series(p)
    assert s.columns == ["a", "b", "c"] and s.dates is None


def test_explicit_none_keeps_a_date_named_numeric_column_as_a_channel(tmp_path):
    p = _write(tmp_path, "dn.csv", "date,b\n1,2\n3,4\n5,6\n")
    auto = load_series(p)
    assert auto.columns == ["b"] and list(auto.dates) == ["1", "3", "5"]
    s = load_series(p, date_column=None)
    assert s.columns == ["date", "b"] and s.dates is None
    np.testing.assert_array_equal(s.values, [[1, 2], [3, 4], [5, 6]])


def test_explicit_date_column_missing_names_the_flag(tmp_path):
    p = _write(tmp_path, "nd.csv", "when,b\nx,2\ny,4\nz,6\n")
    with pytest.raises(AutofastError, match="--date-column") as e:
        load_series(p, date_column="date")
    assert "'date'" in str(e.value)


# ---------------------------------------------------------------- check_dates (via load_series)

def test_decreasing_integer_labels_go_back_in_time(tmp_path):
    p = _write(tmp_path, "dec.csv", "date,b\n1,2\n3,4\n2,6\n")
    with pytest.raises(AutofastError, match="'date' goes back in time") as e:
        load_series(p)
    assert "'2' after '3'" in str(e.value) and "data row 3" in str(e.value)  # 1-based, as the DNA loaders count
    with pytest.raises(AutofastError, match="'date' goes back in time"):  # the numpy path checks itself
        T._load_csv_numpy(p, T.AUTO_DATE, None)


def test_repeated_year_repeats(tmp_path):
    # (matched after the column name: the message starts with the path, which holds the test's name)
    with pytest.raises(AutofastError, match="'year' repeats data row 3"):
        load_series(_write(tmp_path, "rep.csv", "year,b\n1990,2\n1991,4\n1991,6\n"))
    with pytest.raises(AutofastError, match="'Unnamed: 0' repeats data row 3"):  # pandas path: index of years
        load_series(_write(tmp_path, "rep2.csv", ",0\n1990,2\n1991,4\n1991,6\n"))
    with pytest.raises(AutofastError, match="'Month' goes back in time at data row 2"):
        load_series(_write(tmp_path, "back.csv", "Month,b\n1990-02,2\n1990-01,4\n1990-03,6\n"))


def test_unparseable_labels_are_kept(tmp_path):
    s = load_series(_write(tmp_path, "lab.csv", "when,b\nc,2\nb,4\na,6\n"))
    assert list(s.dates) == ["c", "b", "a"] and infer_frequency(s.dates) is None


# ---------------------------------------------------------------- resolve_config

def test_resolve_monthly_144_rows():
    ps = prepared(np.random.default_rng(0).standard_normal(144), months(144))
    assert ps.bounds.train_end == 86
    r = resolve_config(AutoARConfig(), ps)
    c = r.config
    assert c.resolved
    assert c.horizons == [14]  # M4's 18, capped at 144 // 10
    assert c.lookback == 43  # 86 // 2
    assert c.max_order == 21  # max(86 // 4, 12 + 1)
    assert c.season == 12
    assert r.frequency.name == "monthly"
    assert set(r.notes) == {"horizon", "lookback", "max_order", "season"}
    assert "monthly" in r.notes["horizon"] and "monthly" in r.notes["season"]


def test_resolve_keeps_user_fields():
    ps = prepared(np.random.default_rng(0).standard_normal(144), months(144))
    r = resolve_config(AutoARConfig(horizons=[5], lookback=20, max_order=7, season=1), ps)
    c = r.config
    assert (c.horizons, c.lookback, c.max_order, c.season) == ([5], 20, 7, 1)
    assert r.notes == {}
    r = resolve_config(AutoARConfig(lookback=20), ps)
    assert r.config.lookback == 20 and "lookback" not in r.notes
    assert r.config.max_order == 20  # 21 capped by the user's lookback
    assert r.config.season == 12 and r.config.horizons == [14]


def test_resolve_short_monthly_series():
    ps = prepared(np.random.default_rng(1).standard_normal(36), months(36))
    assert ps.bounds.train_end == 21
    r = resolve_config(AutoARConfig(), ps)
    c = r.config
    assert c.horizons == [3]
    assert c.lookback == 10
    assert c.max_order == 10  # one season + 1 = 13, capped by the lookback
    assert c.season == 1
    # a lookback that sees a season is not enough: 2 * 12 > 21 training rows
    assert resolve_config(AutoARConfig(lookback=12), ps).config.season == 1


def test_ten_monthly_rows_forecast_with_the_defaults():
    """10 months: the season floor sized order 3 for 6 training rows, and the run failed 'training split (6 rows)
    too short for order 3; lower --max-order' -- a flag the user never set. The order is cut to what fits."""
    y = 100 + np.arange(10) * 2.5 + np.random.default_rng(2).normal(size=10)
    ps = prepared(y, months(10))
    r = resolve_config(AutoARConfig(), ps)
    assert ps.bounds.train_end == 6 and r.config.max_order == 2 and "fit after differencing" in r.notes["max_order"]
    results, _ = run_autoar(ps, r.config)
    assert np.isfinite(results[0].mse)


def test_an_isolated_spike_is_named_and_a_level_shift_is_not():
    """One typo (5000 in a weekly series near 100) chose a flat 'damped trend' and a 0..2716 interval without a
    word; the run now names it among the sized-from-data notes."""
    from autofast.forecast.defaults import isolated_spikes

    t = np.arange(200)
    y = 100 + 10 * np.sin(2 * np.pi * t / 7) + np.random.default_rng(0).normal(0, 2, 200)
    shifted = np.where(t < 120, y, y + 300)  # a level shift: one jump
    spiky = y.copy()
    spiky[100] = 5000
    assert isolated_spikes(np.column_stack([y, shifted, spiky])) == [(100, 2)]
    r = resolve_config(AutoARConfig(), prepared(spiky, None))
    assert "data row 101" in r.notes["extreme values"]


def test_despiked_replaces_few_one_off_spikes_only():
    """A lone typo is replaced by its neighbours' mean; a spike recurring a season apart (Easter's tourists, +-1 row;
    a quarter's peak outgrowing the spread of the steps, as Tourism's Q147) or spikes in over 2% of the rows (a
    weekly pattern read without dates) stay, and so does a level shift."""
    from autofast.forecast.defaults import despiked, isolated_spikes

    t = np.arange(200)
    y = 100 + np.random.default_rng(0).normal(0, 2, 200)
    assert despiked(y) is y
    one = y.copy()
    one[100] = 5000
    out = despiked(one, 12)
    assert out is not one and out[100] == pytest.approx((y[99] + y[101]) / 2) and np.array_equal(out[:100], y[:100])
    assert one[100] == 5000  # the input is not changed
    yearly = one.copy()
    yearly[113] = 5000  # 13 rows later: a moving yearly event
    assert despiked(yearly, 12) is yearly
    assert despiked(yearly, 1) is not yearly  # without a season: two one-off spikes in 200 rows
    peaks = 100 + 20 * (t % 4 == 2) * (1 + (t >= 190) * 40)  # a quarter's peak outgrowing the steps' spread
    peaks = peaks + np.random.default_rng(1).normal(0, 2, 200)
    assert isolated_spikes(peaks[:, None]) and despiked(peaks, 4) is peaks
    typo = peaks.copy()
    typo[101] = 9000  # not a peak quarter: replaced, the peaks kept
    out = despiked(typo, 4)
    assert out[101] < 200 and np.array_equal(out[190:], peaks[190:])
    weekly = np.where(t % 7 == 3, 5000.0, y)
    assert despiked(weekly, 1) is weekly
    shifted = np.where(t < 120, y, y + 300)
    assert despiked(shifted) is shifted


def test_season_length_rule():
    f = infer_frequency(months(5))
    assert season_length(f, 12, 24) == 12
    assert season_length(f, 11, 100) == 1  # lookback shorter than the season
    assert season_length(f, 12, 23) == 1  # fewer than two seasons of training rows
    assert season_length(None, 100, 100) == 1
    assert season_length(infer_frequency(["1990", "1991", "1992"]), 100, 100) == 1
    ps = prepared(np.random.default_rng(0).standard_normal(144), months(144))
    assert resolve_config(AutoARConfig(lookback=11), ps).config.season == 1


def test_resolve_ett_protocol():
    d = np.arange(np.datetime64("2016-07-01T00", "h"), np.datetime64("2016-07-01T00", "h") + 17420).astype(str)
    ps = prepared(np.random.default_rng(0).standard_normal((17420, 1)), d, name="ETTh1", protocol="auto")
    assert ps.bounds.protocol == "ett-hourly"
    r = resolve_config(AutoARConfig(), ps)
    c = r.config
    assert c.horizons == [96, 192, 336, 720]
    assert c.lookback == 512 and c.max_order == 512 and c.season == 24
    assert r.frequency.name == "hourly"


def test_resolve_without_dates():
    ps = prepared(np.random.default_rng(0).standard_normal(500))
    r = resolve_config(AutoARConfig(), ps)
    assert r.frequency is None
    assert r.config.horizons == [50]  # min(96, 500 // 10)
    assert (r.config.lookback, r.config.max_order, r.config.season) == (150, 75, 1)
    ps = prepared(np.random.default_rng(0).standard_normal(2000))
    assert resolve_config(AutoARConfig(), ps).config.horizons == [96]
    assert resolve_config(AutoARConfig(), ps).config.lookback == 512  # 1200 // 2, at most 512


def test_resolve_rejects_a_horizon_the_validation_split_cannot_hold():
    ps = prepared(np.random.default_rng(0).standard_normal(500))
    with pytest.raises(AutofastError, match="too short"):
        resolve_config(AutoARConfig(horizons=[120]), ps)  # val rows 300..399: 100 < 120
    with pytest.raises(AutofastError, match="season"):
        resolve_config(AutoARConfig(season=200), ps)  # larger than the sized lookback 150


# ---------------------------------------------------------------- naive candidates

def _val_mse_of(ps, chosen, L, H, backend):
    """Validation MSE (mean over windows x steps x channels) of one pooled model, forecast explicitly."""
    wr = window_range(ps.bounds, "val", L, H)
    fc, truth = window_forecasts(ps.z, [chosen], wr.starts, L, H, backend)
    return float(((fc - truth) ** 2).mean())


def test_pure_seasonal_series_keeps_the_better_of_ar_and_seasonal_naive():
    rng = np.random.default_rng(0)
    y = np.tile(rng.standard_normal(12), 20) + 1e-3 * rng.standard_normal(240)
    ps = prepared(y, months(240))
    cfg = resolve_config(AutoARConfig(**CPU, theta=False), ps).config  # the AR pick's own score (no family stage)
    assert cfg.season == 12
    L, H = cfg.lookback, cfg.horizons[0]
    results, _ = run_autoar(ps, cfg)
    ch = results[0].chosen[0]
    wr = window_range(ps.bounds, "val", L, H)
    naive = {m: float(naive_errors(ps.z, wr.start, wr.count, L, H, m)[0, 0] / (wr.count * H)) for m in (1, 12)}
    assert ch.kind in ("ar", "seasonal naive")
    assert ch.selection_score <= naive[12] and ch.selection_score <= naive[1]
    if ch.kind == "seasonal naive":
        assert ch.selection_score == pytest.approx(naive[12], rel=1e-12)
    else:  # the AR's score is its validation MSE: comparable with the naive ones
        assert ch.selection_score == pytest.approx(_val_mse_of(ps, ch, L, H, get_backend("numba", "cpu")), rel=1e-6)


def test_seasonal_random_walk_selects_seasonal_naive_and_tests_it():
    ps = prepared(seasonal_random_walk(240, seed=0), months(240))
    cfg = resolve_config(AutoARConfig(**CPU), ps).config
    L, H = cfg.lookback, cfg.horizons[0]
    res = run_autoar(ps, cfg)[0][0]
    ch = res.chosen[0]
    assert (ch.kind, ch.label, ch.p, ch.d, ch.intercept) == ("seasonal naive", "seasonal naive (12)", 12, 0, False)
    wr = window_range(ps.bounds, "val", L, H)
    assert ch.selection_score == pytest.approx(naive_errors(ps.z, wr.start, wr.count, L, H, 12)[0, 0] / (wr.count * H),
                                               rel=1e-12)
    # the test errors are the seasonal naive's on the test windows
    sn = seasonal_naive(ps, H, L, 12)
    assert res.test_windows == sn["windows"]
    assert res.mse == pytest.approx(sn["mse"], rel=1e-9) and res.mae == pytest.approx(sn["mae"], rel=1e-9)


def test_naive_off_and_bic_choose_only_ar_models():
    ps = prepared(seasonal_random_walk(240, seed=0), months(240))
    for kw in ({"naive": False}, {"selection": "bic"}):
        cfg = resolve_config(AutoARConfig(**CPU, **kw), ps).config
        results, _ = run_autoar(ps, cfg)
        assert all(c.kind == "ar" for r in results for c in r.chosen), kw


def test_per_channel_naive_scores_are_each_channels():
    """Per-channel pooling: each channel's model competes with that channel's naive errors."""
    rng = np.random.default_rng(3)
    ar = np.zeros(240)
    for t in range(1, 240):
        ar[t] = 0.5 * ar[t - 1] + rng.standard_normal()
    y = np.c_[seasonal_random_walk(240, seed=0), ar]
    ps = prepared(y, months(240))
    cfg = resolve_config(AutoARConfig(**CPU, pooling="per-channel", theta=False), ps).config
    L, H = cfg.lookback, cfg.horizons[0]
    chosen = run_autoar(ps, cfg)[0][0].chosen
    assert [c.group for c in chosen] == [0, 1]
    wr = window_range(ps.bounds, "val", L, H)
    naive = {m: naive_errors(ps.z, wr.start, wr.count, L, H, m)[:, 0] / (wr.count * H) for m in (1, 12)}
    for c in chosen:
        assert c.selection_score <= min(naive[1][c.group], naive[12][c.group])
        if c.kind != "ar":
            m = 12 if c.kind == "seasonal naive" else 1
            assert c.selection_score == pytest.approx(naive[m][c.group], rel=1e-12)
    assert chosen[0].kind == "seasonal naive"


def test_naive_model_and_its_recursive_forecast():
    m = naive_model(0, 12, 0.1)
    assert len(m.psi) == 12 and m.psi[-1] == 1 and not any(m.psi[:-1])
    assert (m.kind, m.label, m.selection_score, m.c, m.d, m.intercept) == \
        ("seasonal naive", "seasonal naive (12)", 0.1, 0.0, 0, False)
    m1 = naive_model(2, 1, 0.5)
    assert (m1.psi, m1.kind, m1.label, m1.group) == ([1.0], "naive", "naive", 2)

    ps = prepared(np.random.default_rng(0).standard_normal((200, 2)))
    L, H = 24, 30  # H > season: the last season repeats more than twice
    starts = np.array([0, 7, 55, 200 - L - H])
    fc, truth = window_forecasts(ps.z, [m], starts, L, H, get_backend("numba", "cpu"))
    h = np.arange(H)
    for c in range(2):
        for i, s in enumerate(starts):
            np.testing.assert_allclose(fc[i, :, c], ps.z[c, s + L - 12 + (h % 12)], rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(truth[i, :, c], ps.z[c, s + L + h])
    fc1, _ = window_forecasts(ps.z, [m1], starts, L, H, get_backend("numba", "cpu"))
    np.testing.assert_allclose(fc1, np.broadcast_to(ps.z[:, starts + L - 1].T[:, None, :], fc1.shape), rtol=1e-12)


@pytest.mark.parametrize("lookback, horizon, season", [(24, 5, 12), (24, 30, 12), (10, 7, 1), (12, 13, 12), (8, 3, 8)])
def test_naive_errors_match_a_plain_loop(lookback, horizon, season):
    rng = np.random.default_rng(lookback * 100 + horizon)
    z = rng.standard_normal((3, 150))
    start, count = 9, 150 - 9 - lookback - horizon + 1
    want = np.zeros((3, 2))
    for c in range(3):
        for n in range(start, start + count):
            for h in range(horizon):
                e = z[c, n + lookback - season + h % season] - z[c, n + lookback + h]
                want[c] += e * e, abs(e)
    got = naive_errors(z, start, count, lookback, horizon, season)
    assert got.dtype == np.float64 and got.shape == (3, 2)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_naive_errors_rejects_a_season_outside_the_lookback():
    z = np.zeros((1, 50))
    for season in (0, 11):
        with pytest.raises(AutofastError, match="season"):
            naive_errors(z, 0, 5, 10, 3, season)


# ---------------------------------------------------------------- seasonal_naive baseline

@pytest.mark.parametrize("season", [1, 4, 12])
def test_seasonal_naive_is_naive_errors_on_the_test_windows(season):
    ps = prepared(np.random.default_rng(season).standard_normal((180, 2)), months(180))
    L, H = 20, 9
    got = seasonal_naive(ps, H, L, season)
    wt = window_range(ps.bounds, "test", L, H)
    per = naive_errors(ps.z, wt.start, wt.count, L, H, season) / (wt.count * H)
    assert got["windows"] == wt.count and got["horizon"] == H and got["season"] == season
    np.testing.assert_allclose(got["mse_per_channel"], per[:, 0], rtol=1e-12)
    np.testing.assert_allclose(got["mae_per_channel"], per[:, 1], rtol=1e-12)
    assert got["mse"] == pytest.approx(per[:, 0].mean(), rel=1e-12)
    assert got["mae"] == pytest.approx(per[:, 1].mean(), rel=1e-12)
    assert got["model"] == ("naive (last value)" if season == 1 else f"seasonal naive (season {season})")


def test_seasonal_naive_rejects_a_season_beyond_the_lookback():
    ps = prepared(np.random.default_rng(0).standard_normal(180), months(180))
    with pytest.raises(AutofastError, match="season"):
        seasonal_naive(ps, 9, 10, 12)


# ---------------------------------------------------------------- forecast CLI with no sizing flags

def _monthly_csv(tmp_path, n=120, seed=0, y=None):
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    if y is None:
        y = 100 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 12) + rng.standard_normal(n)
    p = tmp_path / "sales.csv"
    pd.DataFrame({"Month": months(n), "sales": y}).to_csv(p, index=False)
    return p


def test_forecast_cli_sizes_everything_from_monthly_dates(tmp_path, capsys):
    data = _monthly_csv(tmp_path)  # 1990-01 .. 1999-12
    out = tmp_path / "run"
    code, stdout, err = run_cli(["forecast", "--data", str(data), "--out", str(out), "--json", "--no-plot",
                                 "--split", "ratio"], capsys)
    assert code == 0, err
    res = json.loads(stdout)
    assert json.loads((out / "result.json").read_text())["results"] == res["results"]
    assert res["frequency"] == {"name": "monthly", "season": 12, "m4_horizon": 18}
    assert res["season"] == 12
    r0 = res["results"][0]
    assert [r["horizon"] for r in res["results"]] == [12]  # 18 capped at 120 // 10
    assert res["seasonal_naive"]["12"]["windows"] == r0["test_windows"]
    assert res["seasonal_naive"]["12"]["season"] == 12
    assert set(res["sized_from_data"]) == {"horizon", "lookback", "max_order", "season"}
    assert res["config"]["lookback"] == 36 and res["config"]["max_order"] == 18  # train rows 72: half, a quarter
    assert res["channels"] == ["sales"]
    nxt = pd.read_csv(out / "forecast_next_H12.csv")
    assert list(nxt.columns) == ["date", "sales", "sales-lo-80", "sales-hi-80", "sales-lo-95", "sales-hi-95"]
    assert len(nxt) == 12 and (nxt["sales-lo-95"] <= nxt["sales-lo-80"]).all() and (nxt["sales-lo-80"] <= nxt["sales"]).all()
    assert nxt["date"].iloc[0] == "2000-01" and nxt["date"].iloc[-1] == "2000-12"  # as the file writes months
    assert np.isfinite(nxt["sales"]).all()


def test_forecast_cli_season_beyond_lookback_is_one_error_line(tmp_path, capsys):
    data = _monthly_csv(tmp_path)
    code, stdout, err = run_cli(["forecast", "--data", str(data), "--out", str(tmp_path / "run"), "--json",
                                 "--no-plot", "--season", "200", "--split", "ratio"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "season 200" in lines[0], err
    assert not (tmp_path / "run").exists()


def test_forecast_cli_naive_no(tmp_path, capsys):
    """On a seasonal random walk the seasonal naive wins validation by default; --naive no keeps fitted ARs."""
    data = _monthly_csv(tmp_path, y=seasonal_random_walk(120, seed=0))
    kinds = {}
    for flag in ("yes", "no"):
        out = tmp_path / f"run-{flag}"
        code, stdout, err = run_cli(["forecast", "--data", str(data), "--out", str(out), "--json", "--no-plot",
                                     "--naive", flag, "--split", "ratio"], capsys)
        assert code == 0, err
        res = json.loads((out / "result.json").read_text())
        assert res["config"]["naive"] is (flag == "yes")
        kinds[flag] = [c["kind"] for r in res["results"] for c in r["chosen"]]
    assert kinds["no"] and all(k == "ar" for k in kinds["no"])
    assert kinds["yes"] == ["seasonal naive"]


# ---------------------------------------------------------------- shrinkage toward the naive forecast
def _cycle(seed: int, n: int = 110) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    for t in range(2, n):
        y[t] = 1.3 * y[t - 1] - 0.6 * y[t - 2] + rng.normal()
    return y + 0.05 * np.arange(n)


def test_shrink_toward_naive_is_a_convex_pull_to_the_random_walk():
    from autofast.forecast.autoar import shrink_toward_naive

    psi, c = shrink_toward_naive(np.array([0.5, 0.3, -0.2]), 0.8, 0.25)
    np.testing.assert_allclose(psi, [0.75 * 0.5 + 0.25, 0.75 * 0.3, 0.75 * -0.2])
    assert c == pytest.approx(0.6)
    one, _ = shrink_toward_naive(np.array([0.5, 0.3]), 1.0, 1.0)
    np.testing.assert_allclose(one, [1.0, 0.0])  # weight 1: the naive forecast itself


@pytest.mark.parametrize("seed", [1, 6])
def test_shrunk_pick_is_scored_on_validation_and_beats_the_plain_pick(seed):
    """Where shrinkage is kept, the model is the unshrunk pick pulled by its weight, and its selection score is
    its own validation MSE, below the plain pick's."""
    import autofast
    from autofast.forecast.autoar import window_forecasts

    y = _cycle(seed)
    plain = autofast.forecast(y, horizon=6, shrink=False, naive=False, theta=False, split="ratio")
    fc = autofast.forecast(y, horizon=6, naive=False, theta=False, split="ratio")
    p0, ch = plain.chosen[6][0], fc.chosen[6][0]
    assert ch.shrink in (0.25, 0.5, 0.75) and (ch.p, ch.d, ch.intercept) == (p0.p, p0.d, p0.intercept)
    expected = (1 - ch.shrink) * np.asarray(p0.psi)
    expected[0] += ch.shrink
    np.testing.assert_allclose(ch.psi, expected, rtol=1e-12, atol=1e-14)
    assert ch.c == pytest.approx((1 - ch.shrink) * p0.c, abs=1e-14) and ch.selection_score < p0.selection_score
    ps, L = fc.series, fc.config.lookback
    wr = window_range(ps.bounds, "val", L, 6)
    f, t = window_forecasts(ps.z, [ch], wr.starts, L, 6, fc.backend)
    assert ch.selection_score == pytest.approx(float(((f - t) ** 2).mean()), rel=1e-8)
    assert "shrunk" in ch.label and fc.test_mse[6] != plain.test_mse[6]


def test_shrink_off_and_bic_keep_the_fitted_coefficients():
    import autofast

    y = _cycle(1)
    assert autofast.forecast(y, horizon=6, shrink=False, split="ratio").chosen[6][0].shrink == 0.0
    assert autofast.forecast(y, horizon=6, selection="bic").chosen[6][0].shrink == 0.0


def test_iso_weeks_are_weekly_dates_written_as_they_came():
    """'2015-W53' was no date: 'no date frequency', season 1, forecast rows numbered by step."""
    weeks = ["2015-W51", "2015-W52", "2015-W53", "2016-W01"]
    assert [str(d)[:10] for d in parse_dates(weeks)] == ["2015-12-14", "2015-12-21", "2015-12-28", "2016-01-04"]
    assert infer_frequency(weeks).name == "weekly"
    assert step_dates(weeks, 2) == ["2016-W02", "2016-W03"] and step_dates(["2020W01", "2020W02"], 1) == ["2020W03"]
    assert parse_dates(["2019-W53"]) is None  # 2019 has 52 ISO weeks


def test_side_columns_are_named():
    """month, promo and a constant store id beside sales were forecast as demand without a word."""
    from autofast.forecast.defaults import side_columns

    t = np.arange(60.0)
    values = np.column_stack([100 + t, t % 12 + 1, (t % 7 == 0).astype(float), np.full(60, 7.0), np.sin(t)])
    assert side_columns(values, ["sales", "month", "promo", "store", "temp"]) == ["month", "promo", "store"]
    assert side_columns(values[:, :1], ["sales"]) == []


def test_a_horizon_too_long_names_one_that_every_split_holds():
    """60 rows (36 / 12 / 12): --horizon 40 said 'at most 36' (the training split alone), and 36 then failed on the
    lookback; the longest horizon every split holds at the lookback is 12, and 12 fits."""
    bounds = T.split_bounds(60, "ratio")
    for horizon, split in ((40, "train"), (13, "val")):
        with pytest.raises(AutofastError, match="forecasts at most 12 steps at lookback 18; use --horizon 12"):
            window_range(bounds, split, 18, horizon)
    with pytest.raises(AutofastError, match=r"at lookback 30: --horizon 6 at most"):
        window_range(bounds, "train", 30, 7)
    for split in ("train", "val", "test"):
        assert window_range(bounds, split, 18, 12).count >= 1
