"""Dates that skip steps (a missing month, an outage of a few hours): the rows are added, linearly interpolated,
so that every row is one step of the frequency -- for one series and for every series of a panel -- and a series
too sparse to fill is one clear error."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from autofast.cli import main
from autofast.data.frequency import MAX_FILLED_SHARE, fill_gaps, infer_frequency, parse_dates
from autofast.data.panel import load_panel
from autofast.data.timeseries import load_series
from autofast.errors import AutofastError


def _fill(dates, values):
    dates = np.array(dates)
    return fill_gaps(np.asarray(values, dtype=np.float64), dates, parse_dates(dates), infer_frequency(dates))


@pytest.mark.parametrize("dates, want", [
    (["2020-01-01", "2020-02-01", "2020-04-01", "2020-05-01", "2020-06-01", "2020-07-01"],
     ["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01", "2020-05-01", "2020-06-01", "2020-07-01"]),
    (["2020-01-31", "2020-02-29", "2020-04-30", "2020-05-31", "2020-06-30", "2020-07-31"],
     ["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30", "2020-05-31", "2020-06-30", "2020-07-31"]),
    (["2020-01-15", "2020-02-15", "2020-04-15", "2020-05-15", "2020-06-15", "2020-07-15"],
     ["2020-01-15", "2020-02-15", "2020-03-15", "2020-04-15", "2020-05-15", "2020-06-15", "2020-07-15"]),
    (["2019 Q3", "2019 Q4", "2020 Q2", "2020 Q3", "2020 Q4", "2021 Q1"],
     ["2019 Q3", "2019 Q4", "2020 Q1", "2020 Q2", "2020 Q3", "2020 Q4", "2021 Q1"]),
    (["1990", "1991", "1993", "1994", "1995", "1996"], ["1990", "1991", "1992", "1993", "1994", "1995", "1996"]),
    (["2020-03-01 00:00", "2020-03-01 01:00", "2020-03-01 03:00", "2020-03-01 04:00", "2020-03-01 05:00",
      "2020-03-01 06:00"],
     ["2020-03-01 00:00", "2020-03-01 01:00", "2020-03-01 02:00", "2020-03-01 03:00", "2020-03-01 04:00",
      "2020-03-01 05:00", "2020-03-01 06:00"]),
])
def test_the_skipped_step_is_added_between_its_neighbours(dates, want):
    values = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0], [5.0, 50.0], [6.0, 60.0], [7.0, 70.0]])
    got, got_dates, added = _fill(dates, values)
    assert added == 1 and list(got_dates) == want
    np.testing.assert_array_equal(got, [[1, 10], [2, 20], [3, 30], [4, 40], [5, 50], [6, 60], [7, 70]])


def test_a_regular_series_or_an_unrecognised_step_is_left_as_it_is():
    dates = np.array(["2020-01-01", "2020-02-01", "2020-03-01", "2020-04-01"])
    values = np.arange(4.0)
    got, got_dates, added = fill_gaps(values, dates, parse_dates(dates))
    assert added == 0 and got is values and got_dates is dates
    odd = np.array(["2020-01-01", "2020-01-11", "2020-01-21", "2020-02-03"])  # no recognised frequency
    assert fill_gaps(values, odd, parse_dates(odd))[2] == 0
    off_grid = np.array(["2020-01-01 00:00", "2020-01-01 01:00", "2020-01-01 02:30", "2020-01-01 03:00"])
    assert fill_gaps(values, off_grid, parse_dates(off_grid))[2] == 0  # a date between two steps


def test_a_series_mostly_skipped_is_refused():
    dates = np.array(["2020-01-01", "2020-02-01", "2020-03-01", "2021-06-01"])
    with pytest.raises(ValueError, match="skip 14 of the 18 steps"):
        fill_gaps(np.arange(4.0), dates, parse_dates(dates), infer_frequency(dates))
    assert MAX_FILLED_SHARE == 0.5


def _monthly(n, skip=(), start="2015-01-01"):
    dates = pd.date_range(start, periods=n, freq="MS").strftime("%Y-%m-%d")
    keep = [i for i in range(n) if i not in set(skip)]
    t = np.arange(n)
    return dates[keep], (100 + t + 10 * np.sin(2 * np.pi * t / 12))[keep]


def test_one_series_with_a_skipped_month_is_filled_and_said(tmp_path, capsys):
    dates, y = _monthly(72, skip=(30, 31))
    path = tmp_path / "sales.csv"
    pd.DataFrame({"date": dates, "sales": y}).to_csv(path, index=False)
    data = load_series(path)
    assert data.filled == 2 and data.length == 72 and list(data.dates[29:33]) == [
        "2017-06-01", "2017-07-01", "2017-08-01", "2017-09-01"]
    np.testing.assert_allclose(data.values[30:32, 0], np.interp([30, 31], [29, 32], data.values[[29, 32], 0]))
    assert main(["forecast", "--data", str(path), "--out", str(tmp_path / "run"), "--no-plot", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["rows"] == 72 and "2 rows added" in out["sized_from_data"]["missing dates"]
    assert data.made_up.tolist() == [30, 31] and "interpolated test rows" not in out["sized_from_data"]
    assert main(["predict", str(tmp_path / "run"), "--data", str(path)]) == 0  # predict says so too
    assert "missing dates: 2 rows added" in capsys.readouterr().out


def test_a_series_too_sparse_to_fill_is_one_error_line(tmp_path):
    dates, y = _monthly(40, skip=range(5, 35))
    path = tmp_path / "sparse.csv"
    pd.DataFrame({"date": dates, "sales": y}).to_csv(path, index=False)
    with pytest.raises(AutofastError, match="sparse.csv: its monthly dates skip 30 of the 40 steps") as exc:
        load_series(path)
    assert "\n" not in str(exc.value) and "resample" in str(exc.value)


def test_panel_series_with_skipped_months_are_filled_on_the_panels_frequency(tmp_path):
    frames = []
    for k, skip in enumerate([(), (10,), (3, 4, 20), ()]):
        dates, y = _monthly(48 + 6 * k, skip=skip)
        frames.append(pd.DataFrame({"unique_id": f"s{k}", "ds": dates, "y": y}))
    path = tmp_path / "long.csv"
    pd.concat(frames).to_csv(path, index=False)
    panel = load_panel(path)
    assert panel.filled == {"s1": 1, "s2": 3}
    assert list(panel.lengths) == [48, 54, 60, 66]
    assert list(panel.dates[2][2:6]) == ["2015-03-01", "2015-04-01", "2015-05-01", "2015-06-01"]
    np.testing.assert_allclose(panel.values[1][10], (panel.values[1][9] + panel.values[1][11]) / 2)
    from autofast.forecast.panel import PanelConfig, resolve_panel

    _, _, notes = resolve_panel(PanelConfig(), panel)
    assert notes["missing dates"].startswith("4 rows added in 2 series")


def test_a_dataframe_with_a_date_index_is_filled_too():
    import autofast

    dates, y = _monthly(60, skip=(25,))
    fc = autofast.forecast(pd.DataFrame({"sales": y}, index=pd.to_datetime(dates)), horizon=6)
    assert fc.sized_from_data["missing dates"].startswith("1 row added")
    assert fc.next().shape[0] == 6


@pytest.mark.parametrize("dates, want", [
    # a first field above 12: day first throughout (12/01 was read as 1 December, 13/01 as 13 January)
    (["11/01/2024", "12/01/2024", "13/01/2024"], ["2024-01-11", "2024-01-12", "2024-01-13"]),
    (["11.01.2024 10:00", "12.01.2024 10:00", "13.01.2024 10:00"],
     ["2024-01-11T10", "2024-01-12T10", "2024-01-13T10"]),
    (["01/11/2024", "01/12/2024", "01/13/2024"], ["2024-01-11", "2024-01-12", "2024-01-13"]),  # month first
    # every field 12 or less: the more regular reading (a year of months, not eleven days and a jump)
    ([f"01/{m:02d}/2023" for m in range(1, 13)] + ["01/01/2024"],
     [f"2023-{m:02d}-01" for m in range(1, 13)] + ["2024-01-01"]),
    (["02/01/2024", "03/01/2024", "04/01/2024"], ["2024-02-01", "2024-03-01", "2024-04-01"]),  # a tie: month first
])
def test_day_first_dates_read_as_written(dates, want):
    np.testing.assert_array_equal(parse_dates(np.array(dates)), np.array(want, dtype="datetime64[ns]"))


def test_a_european_daily_csv_forecasts(tmp_path):
    """dd/mm/yyyy rows, sorted: was 'goes back in time at data row 12 ... sort the rows by date'."""
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    rng = np.random.default_rng(0)
    pd.DataFrame({"date": days.strftime("%d/%m/%Y"), "visits": 10 + rng.normal(size=60)}).to_csv(
        tmp_path / "eu.csv", index=False)
    data = load_series(tmp_path / "eu.csv")
    assert infer_frequency(data.dates).name == "daily" and data.values.shape == (60, 1)


def test_a_date_column_of_another_name_is_kept_with_columns_and_in_predict(tmp_path, capsys):
    """'order_date' (not a date name): found as the first text column by the pandas path, but `--columns sales`
    took the numpy path, which dropped it (no dates, no gap filling); predict -- which reads the run's columns --
    then forecast steps, not dates, from other rows. The run keeps the column it found."""
    dates, y = _monthly(72, skip=(30,))
    path = tmp_path / "orders.csv"
    pd.DataFrame({"order_date": dates, "sales": y}).to_csv(path, index=False)
    data = load_series(path, columns=["sales"])
    assert data.filled == 1 and data.date_column == "order_date" and data.dates[-1] == "2020-12-01"
    assert main(["forecast", "--data", str(path), "--columns", "sales", "--out", str(tmp_path / "run"),
                 "--no-plot", "--json"]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "run" / "model.json").read_text())["date_column"] == "order_date"
    assert main(["predict", str(tmp_path / "run"), "--data", str(path), "--out", str(tmp_path / "p.csv")]) == 0
    run_rows = pd.read_csv(next((tmp_path / "run").glob("forecast_next*.csv")))
    new_rows = pd.read_csv(tmp_path / "p.csv")
    assert list(new_rows["date"]) == list(run_rows["date"]) and new_rows["date"][0] == "2021-01-01"
    np.testing.assert_allclose(new_rows["sales"], run_rows["sales"])


def test_dates_with_a_time_zone_offset_stay_in_their_own_time():
    """Daily dates at local midnight with an offset (across a daylight-saving change too) are their own days (they
    were converted to UTC: 22:00 of the day before, and the forecast dated so); hourly ones are read in UTC (one
    hour apart across the change) and their forecast written in the last row's offset."""
    from autofast.data.frequency import step_dates

    days = ["2024-03-30T00:00:00+01:00", "2024-03-31T00:00:00+01:00", "2024-04-01T00:00:00+02:00"]
    np.testing.assert_array_equal(parse_dates(np.array(days)),
                                  np.array(["2024-03-30", "2024-03-31", "2024-04-01"], dtype="datetime64[ns]"))
    assert step_dates(days, 2) == ["2024-04-02", "2024-04-03"]
    hours = ["2024-10-27T01:00:00+02:00", "2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00"]
    np.testing.assert_array_equal(np.diff(parse_dates(np.array(hours))).astype("timedelta64[h]").astype(int), [1, 1])
    assert step_dates(hours, 2) == ["2024-10-27T03:00:00+01:00", "2024-10-27T04:00:00+01:00"]
    # one offset throughout (or Z): local times, the offset written back (it was dropped)
    assert step_dates(["2024-01-25T22:00:00+01:00", "2024-01-25T23:00:00+01:00"], 2) == [
        "2024-01-26T00:00:00+01:00", "2024-01-26T01:00:00+01:00"]
    assert step_dates(["2024-01-13T10:00:00Z", "2024-01-13T11:00:00Z"], 1) == ["2024-01-13T12:00:00Z"]


def test_day_first_dates_are_stepped_as_the_column_was_read():
    """The dates after the data follow the whole column's reading: the last three dates of a day-first column can
    read month first as well (11/01/2024, 12/01/2024: daily data forecast as 2025-01-01, 2025-02-01, ...; a
    monthly 01/10/2023 .. 01/12/2023 as 13, 14, 15 January 2023)."""
    from autofast.data.frequency import step_dates

    days = pd.date_range("2023-12-01", "2024-01-12", freq="D").strftime("%d/%m/%Y")
    assert step_dates(np.array(days), 2) == ["2024-01-13", "2024-01-14"]
    months = pd.date_range("2020-01-01", periods=48, freq="MS").strftime("%d/%m/%Y")
    assert step_dates(np.array(months), 2) == ["2024-01-01", "2024-02-01"]


def test_empty_cells_blank_rows_and_a_total_row(tmp_path, capsys):
    """An empty cell between values is interpolated like a skipped date and said (it was refused: 'non-finite
    values'); a spreadsheet's blank ',' rows are dropped (they were NaN rows); a 'Total' row below the dates is one
    error line (the whole column was read as labels, the frequency lost and the total forecast as data)."""
    dates, y = _monthly(60)
    frame = pd.DataFrame({"date": dates, "sales": y})
    frame.loc[[20, 50, 51], "sales"] = np.nan
    frame.to_csv(tmp_path / "holes.csv", index=False)
    with open(tmp_path / "holes.csv", "a") as f:
        f.write(",\n,\n")
    data = load_series(tmp_path / "holes.csv")
    assert data.length == 60 and data.interpolated == 3 and data.dates[-1] == dates[-1]
    assert data.made_up.tolist() == [20, 50, 51]
    np.testing.assert_allclose(data.values[50:52, 0], np.interp([50, 51], [49, 52], y[[49, 52]]))
    assert main(["forecast", "--data", str(tmp_path / "holes.csv"), "--out", str(tmp_path / "r"), "--no-plot",
                 "--json", "--split", "ratio"]) == 0
    sized = json.loads(capsys.readouterr().out)["sized_from_data"]
    assert "3 empty cells" in sized["missing values"]
    assert sized["interpolated test rows"].startswith("2 of the 12 test rows")  # rows 50-51 of 60: the last fifth
    assert main(["forecast", "--data", str(tmp_path / "holes.csv"), "--out", str(tmp_path / "p1"), "--no-plot",
                 "--json", "--horizon", "10"]) == 0  # a panel of one: its test rows are the last 10
    sized = json.loads(capsys.readouterr().out)["sized_from_data"]
    assert "3 empty cells" in sized["missing values"]
    assert sized["interpolated test rows"].startswith("2 of the 10 test rows")
    frame.loc[0, "sales"] = np.nan
    frame.to_csv(tmp_path / "first.csv", index=False)
    with pytest.raises(AutofastError, match=r"column 'sales' has no value in its first row \(data row 1\)"):
        load_series(tmp_path / "first.csv")
    total = pd.concat([pd.DataFrame({"date": dates, "sales": y}),
                       pd.DataFrame({"date": ["Total"], "sales": [y.sum()]})])
    total.to_csv(tmp_path / "total.csv", index=False)
    with pytest.raises(AutofastError, match=r"holds 'Total' at data row 61, not a date; drop such rows"):
        load_series(tmp_path / "total.csv")


def test_amounts_with_currency_signs_and_thousands_separators_are_numbers(tmp_path):
    """'$1,234.56' and quoted '1,234' (a spreadsheet's currency format) were 'not numeric ... drop it with
    --columns', advice that dropped the target; accounting negatives '(1,000)' too. Other text is still refused."""
    dates, y = _monthly(24)
    money = [f"${v:,.2f}" if i % 5 else f"({v:,.2f})" for i, v in enumerate(y * 100)]
    pd.DataFrame({"date": dates, "revenue": money, "units": [f"{v:,.0f}" for v in y * 1000]}).to_csv(
        tmp_path / "money.csv", index=False)
    data = load_series(tmp_path / "money.csv")
    want = np.round(y * 100, 2) * np.where(np.arange(24) % 5, 1, -1)
    np.testing.assert_allclose(data.values[:, 0], want)
    np.testing.assert_allclose(data.values[:, 1], np.round(y * 1000))
    pd.DataFrame({"date": dates, "revenue": ["$1"] * 23 + ["n/a?"]}).to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(AutofastError, match=r"column 'revenue' is not numeric \(data row 24"):
        load_series(tmp_path / "text.csv")


def test_unix_times_are_dates():
    """Epoch seconds/milliseconds ('ts', 'timestamp') were row labels or a channel: no frequency, season 1."""
    from autofast.data.frequency import step_dates

    hours = [str(1704067200 + 3600 * i) for i in range(48)]
    assert infer_frequency(hours).name == "hourly" and str(parse_dates(hours)[0]) == "2024-01-01T00:00:00.000000000"
    assert step_dates(hours, 1) == [str(1704067200 + 3600 * 48)]  # written as they came
    days_ms = [str(1704067200000 + 86_400_000 * i) for i in range(10)]
    assert infer_frequency(days_ms).name == "daily"
    stamps = parse_dates(days_ms)
    keep = [i for i in range(10) if i != 4]  # a skipped day is filled, its stamp in milliseconds
    _, dates, added = fill_gaps(np.arange(9.0)[:, None], np.array(days_ms)[keep], stamps[keep])
    assert added == 1 and dates[4] == days_ms[4]
    assert parse_dates([str(i) for i in range(100, 110)]) is None  # row labels stay labels


def test_predict_says_when_new_data_have_another_frequency(tmp_path, capsys):
    """A monthly run applied to daily rows forecast 'months' from days without a word."""
    dates, y = _monthly(60)
    pd.DataFrame({"date": dates, "sales": y}).to_csv(tmp_path / "m.csv", index=False)
    assert main(["forecast", "--data", str(tmp_path / "m.csv"), "--out", str(tmp_path / "r"), "--no-plot",
                 "--json"]) == 0
    days = pd.date_range("2024-01-01", periods=60, freq="D").strftime("%Y-%m-%d")
    pd.DataFrame({"date": days, "sales": y}).to_csv(tmp_path / "d.csv", index=False)
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "d.csv")]) == 0
    assert "note: the new data are daily, the run's model was chosen on monthly data" in capsys.readouterr().out


def test_a_repeated_night_hour_names_daylight_saving(tmp_path):
    """Local hourly times across the autumn change repeat 02:00: the error advised dropping 'duplicate timestamps'."""
    hours = list(pd.date_range("2024-10-26 00:00", periods=27, freq="h").strftime("%Y-%m-%d %H:%M"))  # to 02:00
    hours += ["2024-10-27 02:00"] + list(pd.date_range("2024-10-27 03:00", periods=20, freq="h").strftime(
        "%Y-%m-%d %H:%M"))
    pd.DataFrame({"timestamp": hours, "load": np.arange(len(hours), dtype=float)}).to_csv(tmp_path / "dst.csv",
                                                                                          index=False)
    with pytest.raises(AutofastError, match="daylight-saving change in local time"):
        load_series(tmp_path / "dst.csv")


def test_year_and_month_columns_are_one_date(tmp_path, capsys):
    """year,month,sales: 'date column year repeats data row 2; sort the rows by date and drop duplicate timestamps'
    (nothing was duplicated). The two columns are one date now, in training and predict; also year + week."""
    y = 100 + np.arange(48.0)
    pd.DataFrame({"year": np.repeat(np.arange(2010, 2014), 12), "month": np.tile(np.arange(1, 13), 4),
                  "sales": y}).to_csv(tmp_path / "ym.csv", index=False)
    data = load_series(tmp_path / "ym.csv")
    assert data.dates[:2].tolist() == ["2010-01", "2010-02"] and data.columns == ["sales"]
    assert infer_frequency(data.dates).name == "monthly"
    assert main(["forecast", "--data", str(tmp_path / "ym.csv"), "--out", str(tmp_path / "r"), "--no-plot"]) == 0
    assert main(["predict", str(tmp_path / "r"), "--data", str(tmp_path / "ym.csv"), "--out",
                 str(tmp_path / "p.csv")]) == 0
    assert pd.read_csv(tmp_path / "p.csv")["date"][0] == "2014-01"
    pd.DataFrame({"Year": [2015] * 30, "Week": np.arange(1, 31), "y": np.arange(30.0)}).to_csv(tmp_path / "yw.csv",
                                                                                              index=False)
    assert load_series(tmp_path / "yw.csv").dates[0] == "2015-W01"


def test_a_column_of_mixed_date_forms_is_named_as_such(tmp_path):
    """ISO dates, then day-first ones: rows in order, but read row by row 12/04/2023 came before 13/04/2023 and the
    error said 'sort the rows by date'; it names the two forms now."""
    from autofast.data.timeseries import load_series

    days = pd.date_range("2023-01-01", periods=120, freq="D")
    text = [d.strftime("%Y-%m-%d") if i < 100 else d.strftime("%d/%m/%Y") for i, d in enumerate(days)]
    path = tmp_path / "mixed.csv"
    pd.DataFrame({"date": text, "sales": np.arange(120.0)}).to_csv(path, index=False)
    with pytest.raises(AutofastError, match=r"mixes date forms \('2023-01-01' and '11/04/2023'\).*write every date"):
        load_series(path)
