"""Time-series data layer: loading, validation, the ETT split protocol, z-scoring, window ranges.

Windows are stride-1. A window starting at row ``n`` has inputs ``n .. n+L-1`` and targets
``n+L .. n+L+H-1``. The windows of a split are those whose targets lie inside the split, so
validation and test windows begin ``L`` rows before their boundary (the standard ETT protocol).
"""
from __future__ import annotations

import itertools
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import AutofastError, column_list
from .frequency import fill_gaps, mixed_date_forms, parse_dates
from .arrays import np_load
from .text import csv_dialect, data_suffix, open_binary, open_text, read_csv, refuse_spreadsheet

SplitName = Literal["train", "val", "test"]
HOURS_PER_MONTH = 30 * 24
#: ``date_column`` value that finds the date column (:func:`auto_date_column`)
AUTO_DATE = "auto"
#: header names (any case) taken for the date column by ``date_column="auto"``
DATE_NAMES = frozenset({"date", "datetime", "time", "timestamp", "ds", "ts", "period", "year", "quarter", "month",
                        "week", "day"})
#: train/val/test fractions of ``split="ratio"``: the ETT protocol's 12/4/4 months are 60/20/20 too, and a
#: validation fifth holds enough windows to select on where a series has only a few hundred rows
FORECAST_RATIOS = (0.6, 0.2, 0.2)


@dataclass(frozen=True)
class SeriesData:
    """A multichannel series: ``values`` is ``(T, C)`` float64, one column per channel."""

    values: np.ndarray
    columns: list[str]
    source: str
    dates: np.ndarray | None = None
    #: rows added where the dates skipped steps, linearly interpolated (:func:`with_gaps_filled`)
    filled: int = 0
    #: the column the dates were read from (found by ``date_column="auto"`` or named), None without one
    date_column: str | None = None
    #: empty cells between a column's first and last value, linearly interpolated (:func:`frame_series`)
    interpolated: int = 0
    #: the rows holding interpolated values (added dates, empty cells), sorted indices into ``values``; None: none
    made_up: np.ndarray | None = None

    @property
    def length(self) -> int:
        return self.values.shape[0]

    @classmethod
    def from_array(cls, array: np.ndarray, columns: list[str] | None = None, source: str = "<array>") -> "SeriesData":
        arr = np.asarray(array)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise AutofastError(f"{source}: expected a (time, channels) array, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise AutofastError(f"{source}: array dtype {arr.dtype} is not real numbers; convert it to float")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise AutofastError(f"{source}: the array of shape {arr.shape} holds no data; give (time, channels) values")
        arr = arr.astype(np.float64)
        columns = columns or [f"ch{i}" for i in range(arr.shape[1])]
        _check_finite(arr, columns, source)
        return cls(arr, list(columns), source)


def _check_finite(arr: np.ndarray, columns: list[str], source: str) -> None:
    bad = ~np.isfinite(arr)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(arr[row, col]) else "inf"
        raise AutofastError(f"{source}: column {columns[col]!r} has {int(bad[:, col].sum())} non-finite value(s) "
                            f"(first: {kind} at data row {row + 1}); fill or drop them before forecasting")


# Longest date string the numpy CSV path reads (read as bytes, 1 per character; longer: pandas).
_DATE_CHARS = 40
_CSV_BLOCK_ROWS = 65536  # lines parsed per numpy.loadtxt call


def _load_csv_numpy(path: Path, date_column: str | None, columns: list[str] | None) -> SeriesData | None:
    """The plain CSV without pandas (whose import alone costs ~0.7 s): a header row, commas, no quotes,
    every selected field a number. ``numpy.loadtxt`` (C parser, correctly rounded floats) on blocks of
    lines, written straight into the ``(T, C)`` output: peak memory is the output plus one block.

    Returns None for anything else (quotes, empty or non-numeric fields, ragged rows, a missing date
    or selected column, duplicate names): pandas then reads the file and reports what is wrong.
    """
    try:
        with open_text(path) as f:
            header = f.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return None
    names = header.split(",")
    if not header or '"' in header or "'" in header or len(set(names)) != len(names):
        return None
    if csv_dialect(path)[0] != ",":  # semicolons or tabs: pandas with that separator
        return None
    date_idx = None
    if date_column == AUTO_DATE:
        lower = {n.strip().lower() for n in names}
        if names[0].strip() == "" or "year" in lower and lower & {"month", "quarter", "week"}:
            return None  # an unnamed index column, or the dates in year + month columns: pandas decides
        date_column = auto_date_column(names, names, lambda c: True)[0]  # numeric, or loadtxt fails -> pandas
        if date_column is None and columns and names[0] not in columns:
            return None  # the first column may hold dates under another name ('order_date'): pandas decides
    if date_column:
        if date_column not in names:
            return None
        date_idx = names.index(date_column)
    if columns:
        if any(c not in names for c in columns):
            return None
        sel = [names.index(c) for c in columns]
    else:
        sel = [i for i in range(len(names)) if i != date_idx]
    if not sel:
        return None
    use = sorted(set(sel) | ({date_idx} if date_idx is not None else set()))
    dtype = [(f"f{i}", f"S{_DATE_CHARS}" if i == date_idx else "f8") for i in use]
    try:
        rows = _count_lines(path) - 1  # an upper bound (blank lines are skipped by the parser)
        values = np.empty((max(rows, 0), len(sel)))
        raw = np.empty(max(rows, 0), dtype=f"S{_DATE_CHARS}") if date_idx is not None else None
        n = 0
        with open_text(path) as f, warnings.catch_warnings():
            warnings.simplefilter("error")  # e.g. "input contained no data"
            f.readline()
            while True:  # blocks of lines: memory is the output plus one block's table
                lines = list(itertools.islice(f, _CSV_BLOCK_ROWS))
                if not lines:
                    break
                if not any(ln.strip() for ln in lines):
                    continue
                table = np.loadtxt(lines, delimiter=",", usecols=use, dtype=dtype, comments=None, ndmin=1,
                                   quotechar=None)
                k = table.shape[0]
                if n + k > rows:
                    return None
                for j, i in enumerate(sel):
                    values[n : n + k, j] = table[f"f{i}"]
                if raw is not None:
                    raw[n : n + k] = table[f"f{date_idx}"]
                n += k
    except (ValueError, UserWarning, UnicodeDecodeError, OSError):
        return None
    if n == 0:
        return None
    values = values[:n] if n < values.shape[0] else values
    dates = None
    if raw is not None:
        raw = raw[:n]
        width = int(np.char.str_len(raw).max())
        if width >= _DATE_CHARS:
            return None
        dates = raw.astype(f"U{max(width, 1)}")  # str, as pandas gives them; 4 bytes per character
        del raw
    cols = [names[i] for i in sel]
    _check_finite(values, cols, str(path))
    return with_gaps_filled(values, cols, str(path), dates, date_column)


def _count_lines(path: Path) -> int:
    """Line count (a last line without a newline counts), read in 16 MiB blocks."""
    n, last = 0, b"\n"
    with open_binary(path) as f:
        while block := f.read(1 << 24):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def auto_date_column(columns: list[str], header: list[str], numeric) -> tuple[str | None, str | None]:
    """``(date column, index column to drop)`` of a CSV read with ``date_column="auto"``.

    A first column with an empty header is a row index (pandas calls it ``Unnamed: 0``). The date column
    is the first one named like a date (:data:`DATE_NAMES`, any case), else the first column after the
    index when it is not numeric, else the index itself (e.g. years written as row labels); else none.
    ``numeric(name)`` says whether a column holds numbers.
    """
    index = columns[0] if header and header[0].strip() == "" else None
    rest = columns[1:] if index is not None else columns
    named = next((c for c in rest if str(c).strip().lower() in DATE_NAMES), None)
    if named is not None:
        return named, index
    if rest and not numeric(rest[0]):
        return rest[0], index
    return index, None


def load_series(path: str | Path, date_column: str | None = AUTO_DATE, columns: list[str] | None = None,
                hints: tuple[str, str] | None = None) -> SeriesData:
    """Load a CSV (a date column plus numeric channels; comma-separated, or semicolon / tab, :func:`csv_dialect`)
    or a ``.npy`` array of shape (T, C).

    ``date_column``: a column name, None (no date column) or ``"auto"`` (:func:`auto_date_column`); ``hints``:
    :func:`frame_series`' (default: the ``forecast`` command's options).
    Plain CSVs are parsed by numpy (:func:`_load_csv_numpy`); anything else by pandas, which also
    words the errors. ``values`` is ``(T, C)`` float64; ``dates`` the date column's strings (or None).
    """
    path = Path(path)
    if not path.exists():
        raise AutofastError(f"data file {str(path)!r} does not exist; check the path")
    refuse_spreadsheet(path)
    if data_suffix(path) == ".npy":
        try:
            array = np_load(path)
        except (ValueError, OSError, EOFError) as exc:  # pickled objects, not a .npy file, truncated
            with open_binary(path) as f:
                magic = f.read(6) == b"\x93NUMPY"
            what = "holds Python objects, not numbers" if magic and "bject" in str(exc) else \
                "is not a readable .npy array"
            raise AutofastError(f"{path}: {what}; save a numeric (time, channels) array with numpy.save") from None
        return SeriesData.from_array(array, columns, source=str(path))
    fast = _load_csv_numpy(path, date_column, columns)
    if fast is not None:
        return fast
    import csv

    sep, decimal = csv_dialect(path)
    try:
        with open_text(path) as f:
            header = next(csv.reader(f, delimiter=sep), [])
    except (OSError, UnicodeDecodeError, csv.Error):
        header = []
    repeated = sorted({h for h in header if header.count(h) > 1})
    if repeated:  # pandas would rename them silently ('a', 'a.1')
        raise AutofastError(f"{path}: column name(s) {', '.join(map(repr, repeated))} appear more than once in the "
                            "header; give every column a distinct name")
    try:
        df = read_csv(path, sep=sep, decimal=decimal)
    except AutofastError:  # a damaged compressed file
        raise
    except Exception as exc:  # parser errors, empty files, binary junk
        raise AutofastError(f"{path}: cannot be read as CSV ({str(exc).splitlines()[0]}); give a comma-separated "
                            f"file with a header row") from None
    df = df.dropna(how="all")  # blank lines a spreadsheet leaves (',,'), not missing values
    if df.empty:
        raise AutofastError(f"{path}: has no data rows")
    return frame_series(df.reset_index(drop=True), date_column, columns, str(path), header, hints or CLI_HINTS)


CLI_HINTS = ("pass --date-column NAME or --date-column ''", "--columns")  # how the command's user fixes the input
API_HINTS = ("pass date_column=NAME or date_column=None", "columns=")  # ... and a Python caller


def frame_series(df, date_column: str | None, columns: list[str] | None, source: str, header: list[str] | None = None,
                 hints: tuple[str, str] = CLI_HINTS) -> SeriesData:
    """The channels (and dates) of a pandas DataFrame: its date column (a name, None, or ``"auto"``:
    :func:`auto_date_column`, where ``header`` is the file's header row, empty names for unnamed columns),
    then ``columns`` or every other column, which must be numeric. ``hints``: how to fix a missing date column
    and which option selects columns, for the one-line errors (``"--columns"`` on the command line)."""
    import pandas as pd

    date_hint, columns_option = hints
    header = [str(c) for c in df.columns] if header is None else header
    dates = None
    parts = _date_parts(df) if date_column == AUTO_DATE or date_column and "+" in date_column else None
    if parts is not None:  # year + month / quarter / week columns: one date column of them
        date_column, dates = "+".join(parts[0]), parts[1]
        df = df.drop(columns=list(parts[0]))
    elif date_column == AUTO_DATE:
        date_column, index = auto_date_column([str(c) for c in df.columns], header,
                                              lambda c: pd.api.types.is_numeric_dtype(df[c]))
        if index is not None:
            df = df.drop(columns=[index])
    if date_column and dates is None:
        if date_column in df.columns:
            dates = df[date_column].to_numpy()
            df = df.drop(columns=[date_column])
        else:  # a named date column must be there (auto found one or none above)
            raise AutofastError(f"{source}: no date column {date_column!r} (columns: {column_list(df.columns)}); "
                                f"{date_hint}")
    if columns:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise AutofastError(f"{source}: column(s) {', '.join(map(repr, missing))} not found "
                                f"(available: {column_list(df.columns)}); fix {columns_option}")
        df = df[list(columns)]
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]):
            amount = df[c].astype(str).map(lambda t: bool(_AMOUNT.match(t)))  # '$1,234.56', '(1,000)'
            if df[c].notna().any() and amount[df[c].notna()].all():
                df = df.assign(**{c: _amounts(df[c])})
                continue
            bad = df[c][pd.to_numeric(df[c], errors="coerce").isna() & df[c].notna() & ~amount]
            where = f"data row {bad.index[0] + 1} is not a number" if len(bad) else "not a number"
            hint = (f"drop it with {columns_option} or fix the values" if columns is None else
                    "fix the values (write plain numbers)")
            raise AutofastError(f"{source}: column {c!r} is not numeric ({where}); {hint}")
    if df.shape[1] == 0:
        raise AutofastError(f"{source}: no numeric channel columns besides the date column")
    values = df.to_numpy(dtype=np.float64)
    cols = [str(c) for c in df.columns]
    values, gaps, rows = _interpolate_missing(values, cols, source)
    return with_gaps_filled(values, cols, source, dates, date_column, rows, gaps)


#: an amount as spreadsheets export it: a currency sign, thousands groups of three digits, a decimal point
_AMOUNT = re.compile(r"^\s*\(?-?\s*[$€£¥]?\s*-?\d{1,3}(?:,\d{3})*(?:\.\d+)?\s*\)?\s*$"  # $1,234.56, (1,000)
                     r"|^\s*[$€£¥]\s*-?\d+(?:\.\d+)?\s*$")  # $1234.5


def _amounts(col):
    """A text column of amounts (:data:`_AMOUNT`: ``$1,234.56``, ``"1,234"``, ``€ 12.50``; empty cells kept empty)
    as float64."""
    import pandas as pd

    plain = col.astype("string").str.replace(r"[\s$€£¥,]", "", regex=True)
    negative = plain.str.startswith("(") & plain.str.endswith(")")  # accounting negatives: (1,234)
    values = pd.to_numeric(plain.str.strip("()"), errors="coerce").astype(np.float64)
    return values.where(~negative.fillna(False), -values)


def _interpolate_missing(values: np.ndarray, columns: list[str], source: str
                         ) -> tuple[np.ndarray, int, np.ndarray | None]:
    """``(values, count, rows)``: empty cells (NaN) between a column's first and last value linearly interpolated, as
    skipped dates are (:func:`with_gaps_filled`); infinities, a column without its first or last value, or one
    missing more than :data:`~.frequency.MAX_FILLED_SHARE` of its rows are one error line."""
    from .frequency import MAX_FILLED_SHARE

    missing = np.isnan(values)
    if not missing.any():
        return values, 0, None
    _check_finite(np.where(missing, 0.0, values), columns, source)
    for c in np.flatnonzero(missing.any(0)):
        holes = np.flatnonzero(missing[:, c])
        name = columns[c]
        if holes[0] == 0 or holes[-1] == len(values) - 1:
            end = "first" if holes[0] == 0 else "last"
            raise AutofastError(f"{source}: column {name!r} has no value in its {end} row (data row "
                                f"{1 if holes[0] == 0 else len(values)}); drop the rows before its first value "
                                "and after its last, or fill them in")
        if len(holes) > MAX_FILLED_SHARE * len(values):
            raise AutofastError(f"{source}: column {name!r} misses {len(holes)} of its {len(values)} values; fill "
                                "them in or drop the column")
    values = values.copy()
    rows = np.arange(len(values))
    for c in np.flatnonzero(missing.any(0)):
        have = ~missing[:, c]
        values[~have, c] = np.interp(rows[~have], rows[have], values[have, c])
    return values, int(missing.sum()), np.flatnonzero(missing.any(1))


def _date_parts(df) -> tuple[tuple[str, str], np.ndarray] | None:
    """``((year column, part column), dates)`` where a table gives its dates as a whole-number ``year`` column and a
    ``month`` (1-12), ``quarter`` (1-4) or ``week`` (ISO, 1-53) column beside it (any case): dates ``2010-03``,
    ``2010Q1``, ``2010-W07``. They were read as a date column 'year' that "repeats" and a channel 'month'."""
    import pandas as pd

    by_name = {str(c).strip().lower(): c for c in df.columns}
    year = by_name.get("year")
    if year is None:
        return None
    for part, fmt, top in (("month", "{}-{:02d}", 12), ("quarter", "{}Q{}", 4), ("week", "{}-W{:02d}", 53)):
        col = by_name.get(part)
        if col is None:
            continue
        y, p = pd.to_numeric(df[year], errors="coerce"), pd.to_numeric(df[col], errors="coerce")
        if y.isna().any() or p.isna().any() or (y % 1 != 0).any() or (p % 1 != 0).any() or not p.between(1, top).all():
            return None
        return (year, col), np.array([fmt.format(int(a), int(b)) for a, b in zip(y, p)])
    return None


def with_gaps_filled(values: np.ndarray, columns: list[str], source: str, dates: np.ndarray | None,
                     date_column: str | None, interpolated_rows: np.ndarray | None = None,
                     interpolated: int = 0) -> SeriesData:
    """The :class:`SeriesData` of checked dates (:func:`check_dates`, ``date_column`` naming them in its errors),
    with the rows they skip added, linearly interpolated (:func:`autofast.data.frequency.fill_gaps`; not where the
    dates are labels); ``interpolated_rows`` / ``interpolated``: the rows and cells interpolated before."""
    stamps = check_dates(dates, Path(source), date_column)
    named = date_column if dates is not None else None
    added = 0
    if stamps is not None:
        try:
            filled, new_dates, added = fill_gaps(values, dates, stamps)
        except ValueError as exc:
            raise AutofastError(f"{source}: {exc}; resample it to a regular frequency, or drop the date column to "
                                "read the rows as consecutive steps") from None
        if added:
            kept = np.flatnonzero(np.isin(new_dates, np.asarray(dates).astype(str)))  # each given row's new index
            made = np.setdiff1d(np.arange(len(new_dates)), kept)
            if interpolated_rows is not None:
                interpolated_rows = kept[interpolated_rows]
            interpolated_rows = made if interpolated_rows is None else np.union1d(made, interpolated_rows)
        values, dates = filled, new_dates
    return SeriesData(values, columns, source, dates, added, named, interpolated, interpolated_rows)


def check_dates(dates: np.ndarray | None, path: Path, column: str | None) -> np.ndarray | None:
    """Dates that parse (:func:`autofast.data.frequency.parse_dates`: timestamps, quarters, whole years) must
    increase strictly; whole numbers that are not years must too (row labels). Dates that do not parse are
    kept as labels (forecast steps are then numbered). Returns the parsed dates (``datetime64[ns]``), None for
    labels."""
    if dates is None or len(dates) < 2:
        return None
    text = np.char.strip(np.asarray(dates).astype(str))
    stamps = calendar = parse_dates(text)
    if stamps is None and np.char.isdigit(np.char.lstrip(text, "-")).all():
        stamps = text.astype(np.int64)
    if stamps is None:
        _name_stray_rows(text, path, column)
        return None
    steps = np.diff(stamps)
    bad = np.flatnonzero(steps <= steps.dtype.type(0))
    if len(bad):
        i = int(bad[0])
        what = "repeats" if steps[i] == steps.dtype.type(0) else "goes back in time at"
        dst = calendar is not None and steps[i] == steps.dtype.type(0) and 0 < int(
            (stamps[i] - stamps[i].astype("datetime64[D]")) / np.timedelta64(1, "h")) < 4  # 01:00-03:59
        mixed = mixed_date_forms(text)
        fix = ("a daylight-saving change in local time? give the times with their UTC offsets (02:00+02:00, "
               "02:00+01:00) or in UTC" if dst else
               f"the column mixes date forms ({mixed[0]!r} and {mixed[1]!r}), which read differently: write every "
               "date one way" if mixed else "sort the rows by date and drop duplicate timestamps")
        raise AutofastError(f"{path}: date column {column!r} {what} data row {i + 2} ({str(text[i + 1])!r} after "
                            f"{str(text[i])!r}); {fix}")
    return calendar


def _name_stray_rows(text: np.ndarray, path: Path, column: str | None) -> None:
    """One error line where nearly all of a date column are dates but a few rows are not (a spreadsheet's 'Total'
    row, a note): those rows were data under a column then read as labels, the dates' frequency lost."""
    import pandas as pd

    if len(text) < 10:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ok = pd.to_datetime(pd.Series(text), errors="coerce", format="mixed").notna().to_numpy()
    if ok.all() or ok.mean() < 0.9:
        return
    bad = np.flatnonzero(~ok)
    more = f" (and {len(bad) - 1} more row{'s' * (len(bad) > 2)})" if len(bad) > 1 else ""
    raise AutofastError(f"{path}: date column {column!r} holds {str(text[bad[0]])!r} at data row {bad[0] + 1}, not a "
                        f"date{more}; drop such rows (a total or a note) or fix the date")


@dataclass(frozen=True)
class SplitBounds:
    """Row boundaries: train ``[0, train_end)``, val ``[train_end, val_end)``, test ``[val_end, test_end)``."""

    train_end: int
    val_end: int
    test_end: int
    protocol: str

    def rows(self, split: SplitName) -> tuple[int, int]:
        return {"train": (0, self.train_end), "val": (self.train_end, self.val_end),
                "test": (self.val_end, self.test_end)}[split]


def split_bounds(length: int, protocol: str = "auto", ratios: tuple[float, float, float] = FORECAST_RATIOS,
                 source_name: str = "") -> SplitBounds:
    """ETT protocols ('ett-hourly': 12/4/4 months; 'ett-15min': the same months at 4 rows/hour)
    or 'ratio' (default 60/20/20, :data:`FORECAST_RATIOS`). 'auto' uses the ETT protocol for ETTh*/ETTm* names."""
    if protocol == "auto":
        low = source_name.lower()
        protocol = "ett-hourly" if low.startswith("etth") else "ett-15min" if low.startswith("ettm") else "ratio"
    if protocol in ("ett-hourly", "ett-15min"):
        per_month = HOURS_PER_MONTH * (4 if protocol == "ett-15min" else 1)
        b = SplitBounds(12 * per_month, 16 * per_month, 20 * per_month, protocol)
        if length < b.test_end:
            raise AutofastError(f"{source_name or 'series'}: {length} rows, but the {protocol} protocol needs "
                                f"{b.test_end}; use --split ratio")
        return b
    if protocol != "ratio":
        raise AutofastError(f"unknown split protocol {protocol!r}; use auto, ett-hourly, ett-15min or ratio")
    if len(ratios) != 3 or min(ratios) <= 0 or abs(sum(ratios) - 1) > 1e-6:
        raise AutofastError(f"split ratios {ratios} must be three positive numbers summing to 1")
    tr = int(length * ratios[0])
    va = int(length * (ratios[0] + ratios[1]))
    return SplitBounds(tr, va, length, "ratio {:g}/{:g}/{:g}".format(*ratios))


@dataclass(frozen=True)
class Standardizer:
    """Per-channel z-score with statistics of the training rows only."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, train_values: np.ndarray) -> "Standardizer":
        std = train_values.std(axis=0)
        return cls(train_values.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


@dataclass(frozen=True)
class WindowRange:
    """Stride-1 windows starting at rows ``start .. start+count-1`` (inputs L rows, targets H rows)."""

    start: int
    count: int
    lookback: int
    horizon: int

    @property
    def starts(self) -> np.ndarray:
        return np.arange(self.start, self.start + self.count)


def window_range(bounds: SplitBounds, split: SplitName, lookback: int, horizon: int,
                 source_name: str = "series") -> WindowRange:
    """The windows whose targets lie inside ``split``; the first one's inputs start L rows earlier."""
    if horizon <= 0:
        raise AutofastError(f"horizon must be a positive number of steps, got {horizon}")
    if lookback <= 0:
        raise AutofastError(f"lookback must be positive, got {lookback}")
    lo, hi = bounds.rows(split)
    first_target = max(lo, lookback)
    count = hi - horizon + 1 - first_target
    # the longest horizon every split holds at this lookback (training windows' inputs stay inside the data)
    most = min(hi_ - max(lo_, lookback if name == "train" else 0)
               for name, (lo_, hi_) in ((n, bounds.rows(n)) for n in ("train", "val", "test")))
    if count < 1 and hi - lo < horizon:  # no lookback helps: the split cannot hold one horizon of targets
        raise AutofastError(f"{source_name}: the {split} split (rows {lo}..{hi - 1}) holds {hi - lo} rows, too short "
                            f"for the horizon {horizon}: every split must hold one horizon of targets to choose and "
                            f"test a model on, so this series forecasts at most {max(most, 1)} steps at lookback "
                            f"{lookback}; use --horizon {max(most, 1)} or a longer series")
    if count < 1:
        raise AutofastError(f"{source_name}: the {split} split (rows {lo}..{hi - 1}) is too short for lookback "
                            f"{lookback} + horizon {horizon}; use a longer series, a smaller --lookback or --horizon"
                            + (f" (at lookback {lookback}: --horizon {most} at most)" if most >= 1 else ""))
    return WindowRange(first_target - lookback, count, lookback, horizon)


@dataclass
class PreparedSeries:
    """A loaded series, its split and its standardised values (float64, ``(C, T)`` channels-first)."""

    name: str
    data: SeriesData
    bounds: SplitBounds
    scaler: Standardizer
    z: np.ndarray = field(repr=False)

    @classmethod
    def build(cls, name: str, data: SeriesData, protocol: str = "auto",
              ratios: tuple[float, float, float] = FORECAST_RATIOS) -> "PreparedSeries":
        bounds = split_bounds(data.length, protocol, ratios, name)
        if bounds.train_end < 2:
            raise AutofastError(f"{name}: {data.length} rows leave {bounds.train_end} for the training split; give a "
                                "longer series")
        values = data.values[: bounds.test_end]
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked below, not warned about
            scaler = Standardizer.fit(values[: bounds.train_end])
            z = np.empty((values.shape[1], values.shape[0]))  # one new array, no (T, C) temporaries
            z[:] = values.T
            z -= scaler.mean[:, None]
            z /= scaler.std[:, None]
        finite = np.isfinite(scaler.mean) & np.isfinite(scaler.std) & np.isfinite(z).all(axis=1)
        if not finite.all():
            c = int(np.flatnonzero(~finite)[0])
            raise AutofastError(f"{name}: column {data.columns[c]!r} cannot be standardised in float64 (values up to "
                                f"{np.abs(values[:, c]).max():.3g} overflow); rescale it, e.g. divide by 1e6")
        return cls(name, data, bounds, scaler, z)
