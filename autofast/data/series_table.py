"""CSV tables of series, the two shapes spreadsheets and data frames export (a header row in both):

* **wide**: one series per row -- its label column and one numeric column per step, in column order. Empty
  fields at a row's end make a shorter series; an ``id`` column whose values are all different names the
  series and is not a step.
* **long**: one time step per row -- an ``id`` column (the series each row belongs to; rows of one series need
  not be adjacent), an optional ``time`` column that orders a series' rows (numbers or dates; without it, file
  order), the label column (one label per series) and every other column one channel of the series (one
  column: univariate). A table is long when an ``id`` value repeats (without a ``time`` column, a table of
  more channels than its longest series has steps is refused: likely whole series per row). This is how
  multichannel recordings (an accelerometer's x, y, z per timestamp) are usually kept, tsfresh's and pandas'
  "long" format.

A column with no number in any row (a subject's name, a recording date, a note) is metadata, not a step or a
channel: it is not read, and the search says so; a numeric metadata column (an age, a subject number) would be
read as one, so a task file names it under ``ignore_columns:``.

Separators: commas, or semicolons with decimal commas, or tabs (:func:`~.text.csv_dialect`). R's and
spreadsheets' missing-value marks (:data:`MISSING_MARKS`) are empty fields. The column names are the task
file's ``label_column:``, ``id_column:``, ``time_column:`` and ``ignore_columns:``.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..errors import AutofastError, column_list
from .frequency import parse_dates
from .text import csv_dialect, csv_head, find_column, find_label, find_time, is_number, read_csv

#: fields read as empty (a missing value; at a wide row's end, a shorter series)
MISSING_MARKS = ("", "NA", "NaN", "nan", "N/A", "null", "NULL")


@dataclass(frozen=True)
class TableColumns:
    """The names of a table's special columns (the task file's keys)."""

    label: str = "label"
    id: str = "id"
    time: str = "time"
    channels: tuple[str, ...] | None = None  # a long table's channel columns to read, in this order (default: all)
    steps: tuple[str, ...] | None = None  # a wide table's step columns at training: the same names in another
    #                                       order are read in this one (none of them: by position; _training_steps)
    ignore: tuple[str, ...] = ()  # columns not read (the task file's ignore_columns: numeric metadata)
    timed: bool = False  # new data of a model whose long training table had the time column: it must too


@dataclass
class SeriesTable:
    """A table's series: ``series`` float64 ``(C, L_i)`` each, in the order of their first row; ``labels`` (None
    where the table has no label column); ``ids`` (None without an id column); ``channels`` the channel columns
    of a long table, in column order (None for a wide table: one channel); ``steps`` a wide table's step columns in
    the order read (None for a long table); ``text`` the columns of text not read (:func:`text_columns`);
    ``timed``: a long table whose rows were put in order by its time column; ``extra``: a wide table's numeric
    columns beside the training steps read by name (:attr:`TableColumns.steps`), not read; ``skip``: the first
    series of a long table whose whole-number times skip a step inside, and the first time missing (the later
    steps were closed up)."""

    series: list[np.ndarray]
    labels: list[str] | None
    ids: list[str] | None
    channels: list[str] | None
    steps: list[str] | None = None
    text: list[str] = field(default_factory=list)
    timed: bool = False
    extra: list[str] = field(default_factory=list)
    skip: tuple[str, int] | None = None


def resolved(cols: TableColumns, header) -> TableColumns:
    """``cols`` with the label, id and time columns named as ``header`` writes them (any case:
    :func:`~.text.find_column`; the label also as 'class' or 'target': :func:`~.text.find_label`; the time also as
    'timestamp' or 'date': :func:`~.text.find_time`)."""
    return replace(cols, label=find_label(header, cols.label) or cols.label,
                   id=find_column(header, cols.id) or cols.id, time=find_time(header, cols.time) or cols.time)


def is_series_table(path: Path, cols: TableColumns = TableColumns(), sequence_column: str = "sequence") -> bool:
    """Whether a ``.csv`` is a table of series rather than of DNA sequences: a header row without
    ``sequence_column``, with the label column (names in any case), and whose first row holds numbers in most
    other columns but the id and time columns: at least two of them (steps), or one (a channel) when there is an
    id column. Text columns among the numbers (a subject's name, a site) make it a table of series still, unless
    one of them looks like a DNA sequence (then a DNA table whose sequence column has another name)."""
    _, header, first = csv_head(path)
    cols = resolved(cols, header)
    if find_column(header, sequence_column) or cols.label not in header:
        return False
    values = [v for h, v in zip(header, first) if h not in (cols.label, cols.id, cols.time)]
    numeric = sum(is_number(v.replace(",", ".")) or v in MISSING_MARKS for v in values)
    need = 1 if cols.id in header else 2
    return numeric >= need and (2 * numeric > len(values) or not any(map(_looks_like_dna, values)))


def _looks_like_dna(v: str) -> bool:
    """A field of 8 or more letters, nearly all A/C/G/T/U/N (IUPAC codes and gaps aside)."""
    v = v.strip().upper()
    letters = v.replace("-", "").replace(".", "")
    return len(v) >= 8 and letters.isalpha() and sum(ch in "ACGTUN" for ch in v) >= 0.8 * len(v)


def has_header_row(path: Path, label_column: str = "label") -> bool:
    """Whether a series ``.csv`` starts with a header row -- its first field is ``label_column``, or a field after
    the first is not a number -- i.e. is a table (:func:`read_series_table`), not UCR rows (label first)."""
    _, header, _ = csv_head(path)
    return bool(header) and (find_label(header[:1], label_column) is not None
                             or any(not is_number(t) for t in header[1:]))


def read_series_table(path: Path, cols: TableColumns = TableColumns(), labels_required: bool = True) -> SeriesTable:
    """The series of a wide or long table (module docstring); one-line errors naming the row or column."""
    sep, decimal = csv_dialect(path)
    try:
        df = read_csv(path, sep=sep, decimal=decimal, dtype={cols.label: str, cols.id: str},
                      keep_default_na=False, na_values=[""], float_precision="round_trip")
    except AutofastError:  # a damaged compressed file
        raise
    except Exception as exc:  # parser errors, empty files, binary junk
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AutofastError(f"{path}: cannot be read as a CSV table of series ({first}); give a header row, then "
                            f"one series per row (column {cols.label!r} and one column per step) or one step per "
                            f"row (columns {cols.id!r}, {cols.label!r} and one per channel)") from None
    df.columns = [str(c).strip() for c in df.columns]
    cols = resolved(cols, df.columns)
    if cols.id not in df.columns and "Unnamed: 0" in df.columns and df["Unnamed: 0"].is_unique:
        cols = replace(cols, id="Unnamed: 0")  # pandas' index (to_csv's default, no header): the rows' ids
    absent = [c for c in cols.ignore if c not in df.columns]
    if absent and cols.steps is None and cols.channels is None:  # the training file (val/test, new data: lenient)
        raise AutofastError(f"{path}: no column {absent[0]!r} to ignore (columns: {column_list(df.columns)}); "
                            "fix the name under 'ignore_columns:'")
    df = df.drop(columns=[c for c in cols.ignore if c in df.columns and c not in (cols.label, cols.id, cols.time)])
    if cols.label not in df.columns and labels_required:
        raise AutofastError(f"{path}: no column {cols.label!r} (columns: {column_list(df.columns)}); name the "
                            "label column 'label' (or 'class' or 'target') or set 'label_column:' in a task file")
    if len(df) == 0:
        raise AutofastError(f"{path}: holds a header row but no series; add one row per series (or per step)")
    if labels_required and _labels(df, cols, path) is None:
        raise AutofastError(f"{path}: column {cols.label!r} is empty; give every series its class (or value)")
    if cols.id in df.columns:
        ids = df[cols.id].astype("string").fillna("").str.strip()  # str even where the header had spaces
        if (ids == "").any():
            row = int(np.flatnonzero((ids == "").to_numpy())[0]) + 2
            raise AutofastError(f"{path}: row {row} has an empty {cols.id!r}; name the series of every row")
        if ids.duplicated().any():
            return _long(df, ids, path, cols)
        df = df.drop(columns=[cols.id])
        return _wide(df, path, cols, list(ids))
    return _wide(df, path, cols, None)


def _labels(df, cols: TableColumns, path: Path) -> list[str] | None:
    """The label column's text per row (None without the column, or where it is empty throughout: new data to
    predict); an empty label among others is one error line (it was a class named '')."""
    if cols.label not in df.columns:
        return None
    labels = [str(v).strip() for v in df[cols.label].fillna("")]
    empty = [i for i, v in enumerate(labels) if not v]
    if empty and len(empty) == len(labels):
        return None
    if empty:
        raise AutofastError(f"{path}: row {empty[0] + 2} has an empty {cols.label!r}; fill it in or drop the row")
    return labels


def text_columns(df, columns: list[str]) -> list[str]:
    """The columns of ``columns`` with no number in any row (missing marks aside) and some text: metadata."""
    import pandas as pd

    out = []
    for c in columns:
        col = df[c]
        if pd.api.types.is_numeric_dtype(col):
            continue
        text = col[col.notna()].astype(str).str.strip()
        text = text[~text.isin(MISSING_MARKS)]
        if len(text) and pd.to_numeric(text.str.replace(",", ".", regex=False), errors="coerce").isna().all():
            out.append(c)
    return out


def _numbers(df, columns: list[str], path: Path, what: str):
    """``df[columns]`` as float64 (missing marks as NaN); a field that is not a number is one error line."""
    import pandas as pd

    out = {}
    for c in columns:
        col = df[c]
        if not pd.api.types.is_numeric_dtype(col):
            col = col.where(~col.astype(str).str.strip().isin(MISSING_MARKS))
            numbers = pd.to_numeric(col, errors="coerce")
            bad = col[numbers.isna() & col.notna()]
            if len(bad):
                raise AutofastError(f"{path}: column {c!r} is not a number (row {bad.index[0] + 2} holds "
                                    f"{str(bad.iloc[0])!r}); {what}")
            col = numbers
        out[c] = col.to_numpy(dtype=np.float64)
    return np.stack([out[c] for c in columns], axis=1)


def _wide(df, path: Path, cols: TableColumns, ids: list[str] | None) -> SeriesTable:
    labels = _labels(df, cols, path)
    steps = [c for c in df.columns if c != cols.label]
    text = text_columns(df, steps)
    steps = [c for c in steps if c not in text]
    if cols.steps is None and len(steps) < FEW_STEPS:  # few "steps" beside a repeated id-like column: a long table
        for c in df.columns:
            if c != cols.label and str(c).lower().replace("-", "_").endswith(("_id", "id")) and df[c].duplicated().any():
                raise AutofastError(f"{path}: column {c!r} repeats and there are {len(steps)} numeric column(s); if "
                                    f"each row is one step of the series {c!r} names, set 'id_column: {c}' in a task "
                                    f"file (or name the column {cols.id!r})")
    extra: list[str] = []
    if cols.steps and set(cols.steps) & set(steps):
        steps, extra = _training_steps(steps, cols.steps, path)
    if len(steps) < 2:
        raise AutofastError(f"{path}: a table of series needs one row per series and at least two numeric step "
                            f"columns beside {cols.label!r}")
    kept = f"{cols.label!r}" + ("" if ids is None else f" and {cols.id!r}")
    values = _numbers(df, steps, path, f"every column but {kept} is one step of the series; list a metadata "
                                       "column under 'ignore_columns:' in a task file")
    filled = np.isfinite(values).any(0)  # per step: some series has a value there
    last = int(np.flatnonzero(filled)[-1]) if filled.any() else -1
    empty = [c for j, c in enumerate(steps) if j < last and not filled[j]]  # (trailing empty steps: shorter series)
    if empty and len(values) > 1:  # a column empty throughout: its name, not the first row it breaks
        raise AutofastError(f"{path}: column {empty[0]!r} is empty in every row; drop the column")
    series = []
    for i, row in enumerate(values):
        finite = np.isfinite(row)
        n = int(np.flatnonzero(finite)[-1]) + 1 if finite.any() else 0
        if n == 0 or not finite[:n].all():
            what = "no values" if n == 0 else "an empty or non-finite field inside the series"
            raise AutofastError(f"{path}: row {i + 2} (series {i + 1}) has {what}; fill it in or drop the series")
        series.append(row[None, :n])
    return SeriesTable(series, labels, ids, None, steps, text, extra=extra)


def _training_steps(columns: list[str], trained: tuple[str, ...], path: Path) -> tuple[list[str], list[str]]:
    """The training step columns among ``columns`` (sharing names with them), in the training order (another order,
    e.g. df[sorted(...)]'s t10 before t2, was read by position), and the other numeric columns, not read. A
    shorter series lacks a trailing run of them and has no other numeric column (names 0..149 for a model of
    1..150 are positions); any other missing one is one error line."""
    present = [c for c in trained if c in columns]
    missing = [c for c in trained if c not in columns]
    extra = [c for c in columns if c not in trained]
    if missing and (extra or missing != list(trained[len(present):])):
        beside = f" (column {extra[0]!r} is not one of them)" if extra else ""
        raise AutofastError(f"{path}: step column {missing[0]!r} of the training file is missing{beside}; give "
                            "every step column it had (a shorter series: its first ones), or none of their names "
                            "(columns are then read by position)")
    return present, extra


def table_notes(table: SeriesTable) -> list[str]:
    """What a table of series held that was not read as it stands, as notes: numeric columns beside the training
    step columns (:attr:`SeriesTable.extra`), a step skipped inside a series (:attr:`SeriesTable.skip`)."""
    notes = []
    if table.extra:
        notes.append(f"{len(table.extra)} numeric column(s) beside the {len(table.steps)} training step columns left "
                     f"unread (first {table.extra[0]!r}); a longer series is read as those steps alone")
    if table.skip is not None:
        name, t = table.skip
        notes.append(f"series {name!r} skips time {t}: read closed up (its later steps one place early); add the "
                     "missing rows (e.g. interpolated)")
    return notes


#: a wide table with fewer step columns than this beside a repeated id-like column is likely a long one
FEW_STEPS = 8


def _counts_steps(col, ids) -> bool:
    """Whether a numeric column holds, within every series of 3 rows or more, the whole numbers ``k .. k + n - 1``
    once each, ``k`` 0 or 1: a step index."""
    import pandas as pd

    values = pd.to_numeric(col, errors="coerce")
    if values.isna().any() or not (values == values.round()).all():
        return False
    g = pd.DataFrame({"id": ids.to_numpy(), "v": values.to_numpy()}).groupby("id")["v"]
    n, lo, hi, distinct = g.size(), g.min(), g.max(), g.nunique()
    return bool((n > 2).all() and (distinct == n).all() and (hi - lo + 1 == n).all() and lo.isin([0, 1]).all())


def _order(df, ids, path: Path, cols: TableColumns) -> np.ndarray:
    """Row order: series by their first row, a series' rows by the time column (stable; file order without)."""
    import pandas as pd

    first = pd.Series(np.arange(len(ids)), index=ids.index).groupby(ids.to_numpy()).transform("min").to_numpy()
    if cols.time not in df.columns:
        return np.lexsort((np.arange(len(ids)), first))
    raw = df[cols.time]
    t = pd.to_numeric(raw, errors="coerce")
    stamps = parse_dates(raw.astype(str).to_numpy(), utc=True) if t.isna().any() else None
    if stamps is not None:  # one reading for the column: day first where a day exceeds 12 (was one per cell:
        t = pd.Series(stamps.astype(np.int64), index=raw.index)  # 02/01 1 Feb beside 13/01 13 Jan)
    elif t.isna().any():
        try:
            dates = pd.to_datetime(raw, errors="coerce", format="mixed", utc=True)  # offsets: one clock
        except (TypeError, ValueError):
            dates = pd.Series(pd.NaT, index=raw.index)
        if dates.isna().any():  # the first row that is neither (or, in a mix of both, the first number)
            bad = (t.isna() & dates.isna()).to_numpy()
            row = int(np.flatnonzero(bad if bad.any() else dates.isna().to_numpy())[0])
            raise AutofastError(f"{path}: column {cols.time!r} row {row + 2} holds {str(raw.iloc[row])!r}, not a "
                                f"number or date like the others; give every row its time as a number or a date, or "
                                f"drop the column (file order is used)")
        t = dates.dt.tz_localize(None).astype("int64")
    key = t.to_numpy(dtype=np.float64)
    dup = pd.DataFrame({"id": ids.to_numpy(), "t": key}).duplicated()
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        raise AutofastError(f"{path}: row {row + 2}: series {ids.iloc[row]!r} has two rows at {cols.time} "
                            f"{str(raw.iloc[row])!r}; give each step one row (two series sharing an id?)")
    return np.lexsort((np.arange(len(ids)), key, first))


def _long(df, ids, path: Path, cols: TableColumns) -> SeriesTable:
    import pandas as pd

    channels = [c for c in df.columns if c not in (cols.id, cols.time, cols.label)]
    text = text_columns(df, channels)
    channels = [c for c in channels if c not in text]
    if cols.time not in df.columns:  # a column of dates or step numbers under another name orders the rows
        for c in text:
            if pd.to_datetime(df[c], errors="coerce", format="mixed").notna().all():
                raise AutofastError(f"{path}: column {c!r} holds dates and there is no {cols.time!r} column; name it "
                                    f"{cols.time!r} or set 'time_column: {c}' in a task file, so each series' rows are "
                                    "put in time order")
        for c in channels if cols.channels is None else []:
            if _counts_steps(df[c], ids):
                raise AutofastError(f"{path}: column {c!r} numbers the steps of each series (0, 1, 2, ...) and there "
                                    f"is no {cols.time!r} column; name it {cols.time!r} or set 'time_column: {c}' in a "
                                    "task file (it was read as a channel, the rows left in file order)")
    if cols.channels is not None:  # a val/test file or new data: the training file's channels, by name
        missing = [c for c in cols.channels if c not in df.columns]
        if missing:
            raise AutofastError(f"{path}: no channel column {missing[0]!r} (the training file's channels: "
                                f"{', '.join(cols.channels)}; columns here: {column_list(df.columns)}); give the "
                                "same channel columns")
        channels = list(cols.channels)
    if not channels:
        raise AutofastError(f"{path}: a long table (one row per step of series {cols.id!r}) needs at least one "
                            f"numeric channel column beside {cols.id!r}, {cols.time!r} and {cols.label!r}")
    values = _numbers(df, channels, path, f"every column but {cols.id!r}, {cols.time!r} and {cols.label!r} is one "
                                          "channel; list a metadata column under 'ignore_columns:' in a task file")
    holes = ~np.isfinite(values)
    if holes.any():
        r, c = (int(v) for v in np.argwhere(holes)[0])
        raise AutofastError(f"{path}: row {r + 2}: column {channels[c]!r} is empty or not finite; fill it in "
                            "(e.g. interpolate) or drop the row")
    if cols.timed and cols.time not in df.columns:  # file order would be read as time order, silently
        raise AutofastError(f"{path}: no column {cols.time!r}; the model's training table put each series' rows in "
                            f"order by it: give it here too")
    order = _order(df, ids, path, cols)
    key = ids.to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    longest = int((ends - starts).max())
    if cols.time not in df.columns and cols.channels is None and len(channels) > longest:
        # more channels than steps and nothing that says time: likely whole series per row under a repeated id
        raise AutofastError(f"{path}: {cols.id!r} repeats, so each row is read as one step of a series, giving "
                            f"{len(channels)} channels of at most {longest} steps; if each row is a whole series, "
                            f"drop or rename the {cols.id!r} column, else add a {cols.time!r} column")
    labels = _labels(df, cols, path)
    series, names, per_series = [], [], []
    for s, e in zip(starts, ends):
        rows = order[s:e]
        series.append(np.ascontiguousarray(values[rows].T))
        names.append(str(key[s]))
        if labels is not None:
            found = list(dict.fromkeys(labels[r] for r in rows))
            if len(found) > 1:
                raise AutofastError(f"{path}: series {key[s]!r} has labels {found[0]!r} and {found[1]!r}; give each "
                                    f"series one label in column {cols.label!r}")
            per_series.append(found[0])
    return SeriesTable(series, per_series if labels is not None else None, names, channels, None, text,
                       cols.time in df.columns, skip=_skipped_step(df, cols, key, order))


#: the share of a long table's time steps at each series' smallest one that makes its whole-number times regular
REGULAR_SHARE = 0.9


def _skipped_step(df, cols: TableColumns, key: np.ndarray, order: np.ndarray) -> tuple[str, int] | None:
    """The first series (in table order) whose whole-number times, regular elsewhere (:data:`REGULAR_SHARE` of the
    steps at each series' smallest), skip a step inside, and the first time missing: read closed up, the later
    steps moved one place earlier. None where there is no such series, or the times are not whole numbers."""
    import pandas as pd

    if cols.time not in df.columns:
        return None
    t = pd.to_numeric(df[cols.time], errors="coerce").to_numpy(dtype=np.float64)[order]
    if np.isnan(t).any() or not (t == np.round(t)).all():  # dates, or fractional times
        return None
    inside = key[1:] == key[:-1]  # consecutive rows of one series
    d, series, before = np.diff(t)[inside], key[1:][inside], t[:-1][inside]
    if not len(d):
        return None
    step = pd.Series(d).groupby(series).transform("min").to_numpy()
    if (d == step).mean() < REGULAR_SHARE or not (d > step).any():
        return None
    i = int(np.flatnonzero(d > step)[0])
    return str(series[i]), int(before[i] + step[i])
