"""Panels of many series in long format: one row per (series id, date, value), as statsforecast, Prophet and
most sales or sensor exports write them (``unique_id, ds, y``).

:func:`load_panel` reads a CSV, :func:`frame_panel` a pandas DataFrame; both give a :class:`PanelData` of
ragged series (each its own length and dates), each series' rows in date order. A table is a panel when it
has an id column: one named ``id_column``, or with ``id_column="auto"`` one named like an id
(:data:`ID_NAMES`, any case). Bad input is one :class:`~autofast.errors.AutofastError` line naming the
column, the series and the fix.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AutofastError, column_list
from .frequency import fill_gaps, frequency_of_stamps, parse_dates
from .text import csv_dialect, open_text, read_csv, refuse_spreadsheet
from .timeseries import AUTO_DATE, DATE_NAMES

#: ``id_column`` value that finds the id column by its name
AUTO_ID = "auto"
#: header names (any case) taken for the series id by ``id_column="auto"``
ID_NAMES = ("unique_id", "series_id", "series", "id", "item_id", "item", "sku", "store_item")
#: header names (any case) taken for the value by default, before "the one numeric column left"
VALUE_NAMES = ("y", "value", "target", "sales")
CLI_HINTS = ("--id-column", "--date-column", "--columns")
API_HINTS = ("id_column=", "date_column=", "columns=")


@dataclass(frozen=True)
class PanelData:
    """Ragged series: ``values[i]`` ``(n_i,)`` float64 of series ``ids[i]``, oldest first; ``dates[i]`` its
    date strings (None without a date column)."""

    ids: list[str]
    values: list[np.ndarray]
    dates: list[np.ndarray] | None
    id_column: str | None  # None: one series forecast as a panel of one (autofast.forecast.short)
    date_column: str | None
    value_column: str
    source: str
    #: per series id, the rows added where its dates skipped steps (linearly interpolated; none: not listed)
    filled: dict[str, int] = field(default_factory=dict)
    #: what the run says beside its sizing (a panel of one: the single-series notes, autofast.forecast.short)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def lengths(self) -> np.ndarray:
        return np.array([len(v) for v in self.values], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)


def find_id_column(columns: list[str], id_column: str | None) -> str | None:
    """The id column among ``columns``: ``id_column`` itself (must be there), None for None or "", or with
    ``"auto"`` the first column named like an id (:data:`ID_NAMES`, any case), else the first whose name ends in
    ``_id`` (``store_id``, ``country_id``); None when there is none."""
    if not id_column:
        return None
    if id_column != AUTO_ID:
        return id_column if id_column in columns else None
    by_name = {str(c).strip().lower(): c for c in columns}
    return next((by_name[n] for n in ID_NAMES if n in by_name),
                next((c for c in columns if str(c).strip().lower().endswith("_id")), None))


def csv_header(path: Path) -> list[str]:
    """The header row of a CSV (empty when unreadable: the series loader then words the error)."""
    import csv

    try:
        with open_text(path) as f:
            return next(csv.reader(f, delimiter=csv_dialect(path)[0]), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def load_panel(path: str | Path, id_column: str | None = AUTO_ID, date_column: str | None = AUTO_DATE,
               value_column: str | None = None, hints: tuple[str, str, str] = CLI_HINTS) -> PanelData:
    """Read a long-format CSV (see :func:`frame_panel`)."""
    path = Path(path)
    refuse_spreadsheet(path)
    header = csv_header(path)
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:
        raise AutofastError(f"{path}: column name(s) {', '.join(map(repr, repeated))} appear more than once in the "
                            "header; give every column a distinct name")
    try:
        sep, decimal = csv_dialect(path)
        df = read_csv(path, sep=sep, decimal=decimal, dtype={find_id_column(header, id_column) or "": str})
    except AutofastError:  # a damaged compressed file
        raise
    except Exception as exc:
        raise AutofastError(f"{path}: cannot be read as CSV ({str(exc).splitlines()[0]}); give a comma-separated "
                            "file with a header row") from None
    return frame_panel(df, id_column, date_column, value_column, str(path), hints)


def _first_unparsed(text: np.ndarray) -> int:
    """The first row of a date column whose value does not parse alone (row 0 where each does: the column's
    readings disagree, e.g. day-first and month-first)."""
    seen: set[str] = set()
    for i, v in enumerate(text[:100_000]):
        if v not in seen:
            seen.add(v)
            if parse_dates(np.asarray([v])) is None:
                return i
    return 0


def frame_panel(df, id_column: str | None = AUTO_ID, date_column: str | None = AUTO_DATE,
                value_column: str | None = None, source: str = "dataframe",
                hints: tuple[str, str, str] = API_HINTS) -> PanelData:
    """The series of a long-format DataFrame: the id column (:func:`find_id_column`), the date column (a name,
    None, or ``"auto"``: the first column named like a date, :data:`~autofast.data.timeseries.DATE_NAMES`, else
    the first non-numeric column other than the id), and one numeric value column (``value_column``, else one
    named like a value, :data:`VALUE_NAMES`, else the only numeric column left). Each series' rows are put in
    date order (dates must not repeat within a series); without dates the table's row order is kept.
    ``hints``: the options that fix the id, date and value columns, for the one-line errors."""
    import pandas as pd

    id_hint, date_hint, value_hint = hints
    cols = [str(c) for c in df.columns]
    df = df.set_axis(cols, axis=1)
    idc = find_id_column(cols, id_column)
    if idc is None:
        want = f"no id column {id_column!r}" if id_column and id_column != AUTO_ID else \
            f"no series id column (named one of {', '.join(ID_NAMES)})"
        raise AutofastError(f"{source}: {want} (columns: {column_list(cols)}); name it with {id_hint}")
    if df.empty:
        raise AutofastError(f"{source}: has no data rows")
    rest = [c for c in cols if c != idc]
    numeric = {c: pd.api.types.is_numeric_dtype(df[c]) for c in rest}
    if date_column == AUTO_DATE:
        date_column = next((c for c in rest if c.strip().lower() in DATE_NAMES), None) or \
            next((c for c in rest if not numeric[c] and c.strip().lower() not in VALUE_NAMES), None)
    elif date_column and date_column not in cols:
        raise AutofastError(f"{source}: no date column {date_column!r} (columns: {column_list(cols)}); fix {date_hint}")
    left = [c for c in rest if c != date_column]
    if value_column is None:
        named = {c.strip().lower(): c for c in left}
        value_column = next((named[n] for n in VALUE_NAMES if n in named), None)
        if value_column is None:
            nums = [c for c in left if numeric[c]]
            if len(nums) != 1:
                what = "no numeric value column" if not nums else f"value columns {', '.join(map(repr, nums))}"
                raise AutofastError(f"{source}: {what} beside the id {idc!r}" +
                                    (f" and date {date_column!r}" if date_column else "") +
                                    f"; name the one to forecast with {value_hint}")
            value_column = nums[0]
    elif value_column not in left:
        raise AutofastError(f"{source}: no value column {value_column!r} (columns: {column_list(cols)}); fix "
                            f"{value_hint}")
    ids = df[idc].astype(str).str.strip().to_numpy()
    vals = pd.to_numeric(df[value_column], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(vals))
    if bad.size:
        i = int(bad[0])
        raise AutofastError(f"{source}: value column {value_column!r} of series {str(ids[i])!r} is missing or not a "
                            f"finite number at data row {i + 1}; fill or drop those rows")
    order = np.argsort(ids, kind="stable")  # by id, rows in table order (with dates: by id, then date, below)
    dates = None
    if date_column:
        text = np.char.strip(df[date_column].astype(str).to_numpy().astype(str))
        stamps = parse_dates(text)
        if stamps is None:
            if np.char.isdigit(np.char.lstrip(text, "-")).all():
                stamps = text.astype(np.int64)
            else:
                i = _first_unparsed(text)
                raise AutofastError(f"{source}: date column {date_column!r} does not parse as dates (data row "
                                    f"{i + 1}: {str(text[i])!r}); give ISO dates (2020-01-31), quarters (2020 Q1) or "
                                    f"whole years, or fix {date_hint}")
        order = np.lexsort((stamps, ids))  # by id, then date
        s_ids, s_st = ids[order], stamps[order]
        same = np.flatnonzero((s_ids[1:] == s_ids[:-1]) & (s_st[1:] == s_st[:-1]))
        if same.size:
            k = int(order[same[0] + 1])
            # another column that tells those rows apart (store beside item): the series are named by two columns
            other = next((c for c in df.columns if c not in (idc, date_column, value_column)
                          and not df.duplicated([idc, c, date_column]).any()), None)
            fix = (f"column {other!r} also separates the series: combine it with {idc!r} into one id column (e.g. "
                   f"{other}_{idc}) and name that one with {id_hint}" if other is not None else
                   "keep one row per series and date")
            raise AutofastError(f"{source}: series {str(ids[k])!r} has date {str(text[k])!r} more than once (data row "
                                f"{k + 1}); {fix}")
        dates = text[order]
    s_ids = ids[order]
    cut = np.flatnonzero(s_ids[1:] != s_ids[:-1]) + 1
    starts = np.r_[0, cut]
    ends = np.r_[cut, len(order)]
    values = [vals[order[a:b]] for a, b in zip(starts, ends)]
    names = [str(s_ids[a]) for a in starts]
    series_dates = None if dates is None else [dates[a:b] for a, b in zip(starts, ends)]
    filled = {}
    if dates is not None and np.issubdtype(s_st.dtype, np.datetime64):  # calendar dates: fill the steps skipped
        longest = int(np.argmax(ends - starts))
        freq = frequency_of_stamps(s_st[starts[longest] : ends[longest]])  # the panel's, as resolve_panel reads it
        for i, (a, b) in enumerate(zip(starts, ends)):
            try:
                values[i], series_dates[i], added = fill_gaps(values[i], series_dates[i], s_st[a:b], freq)
            except ValueError as exc:
                raise AutofastError(f"{source}: series {names[i]!r}: {exc}; resample it to a regular frequency or "
                                    "drop it") from None
            if added:
                filled[names[i]] = added
    return PanelData(names, values, series_dates, idc, date_column or None, value_column, source, filled)
