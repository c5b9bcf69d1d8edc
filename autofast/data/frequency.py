"""What a series' date column says about it: its timestamps, its sampling frequency, its season.

A forecaster's defaults depend on the calendar: monthly data has a season of 12 and is forecast a year
and a half ahead in the M4 competition, hourly data a season of 24 and two days ahead. This module
reads that from the dates a user's CSV already holds, so ``forecast`` needs no flags for it.

* :func:`parse_dates` turns a date column (strings or integers) into ``datetime64[ns]``: ISO stamps,
  anything pandas parses (``1991 Jul``, ``2021-05-01 00:30:00+00:00``), quarters (``1970 Q1``,
  ``1970-Q1``, ``1970Q1``) and whole years (``1821``).
* :func:`infer_frequency` names the sampling step from the median gap between dates (robust to a
  missing row or a daylight-saving hour) and gives the season length and the M4 horizon.
* :func:`fill_gaps` adds the rows a series' dates skip (a missing month, an outage of a few hours), linearly
  interpolated: the models read rows as consecutive steps, so a skipped month would shift every later season.
"""
from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Frequency", "parse_dates", "infer_frequency", "frequency_of_stamps", "step_dates", "fill_gaps"]

_QUARTER = re.compile(r"^\s*(\d{4})\s*-?\s*[Qq]([1-4])\s*$")
_YEAR = re.compile(r"^\s*\d{4}\s*$")
_MONTH = re.compile(r"^\s*\d{4}-\d{2}\s*$")  # 2024-03
_ISO_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{2})(?:-?([1-7]))?\s*$")  # 2015-W53, 2015W53, 2015-W53-1
_OFFSET = re.compile(r"(?<=\d)(?:\s*[+-]\d\d:?\d\d|Z)$")  # a time zone offset after a time of day
#: dates written day and month first, then the year (13/01/2024, 13.01.2024, 01-13-2024, with a time after)
_NUMERIC_DATE = re.compile(r"^\s*(\d{1,2})([/.-])(\d{1,2})\2(\d{2}|\d{4})\b")
_DAY_S = 86_400
#: leading dates the frequency is read from (the loader already parsed and checked every date; a median gap over
#: 10 000 is as good as over a million, and parsing a million again cost 0.74 s)
FREQUENCY_SAMPLE = 10_001


@dataclass(frozen=True)
class Frequency:
    """A recognised sampling step.

    Attributes:
        name: ``yearly``, ``quarterly``, ``monthly``, ``weekly``, ``daily``, ``hourly`` or ``N-minute``.
        season: steps per seasonal cycle (1 = none: yearly data; a year for quarterly/monthly/weekly,
            a week for daily, a day below that).
        horizon: the M4 competition's forecast horizon for the frequency (yearly 6, quarterly 8,
            monthly 18, weekly 13, daily 14, hourly 48); one day for sub-hourly data.
        months: the step in calendar months for yearly/quarterly/monthly data (0 otherwise), so that
            following dates keep to the calendar (a month is not 30 days).
        seconds: the fixed step of the other frequencies (0 for the calendar-month ones).
    """

    name: str
    season: int
    horizon: int
    months: int = 0
    seconds: int = 0


_CALENDAR = {  # (shortest, longest) gap in days -> frequency
    (360, 370): Frequency("yearly", 1, 6, 12),
    (88, 93): Frequency("quarterly", 4, 8, 3),
    (28, 31): Frequency("monthly", 12, 18, 1),
    (7, 7): Frequency("weekly", 52, 13, seconds=7 * _DAY_S),
    (1, 1): Frequency("daily", 7, 14, seconds=_DAY_S),
}


def _text(dates) -> np.ndarray:
    return np.char.strip(np.asarray(dates).astype(str))


def parse_dates(dates, utc: bool = False) -> np.ndarray | None:
    """``(T,)`` ``datetime64[ns]`` stamps of a date column, or None when some entry does not parse.

    Whole numbers parse only as years (four digits, 1000-2999): a column of row numbers is not a
    calendar. Dates with a time zone offset are read in their own local time where it is one offset throughout or
    the same time of day throughout (daily and coarser data: 2024-04-09T00:00:00+02:00 is 9 April, across a
    daylight-saving change too), else converted to UTC (hourly data across such a change stay one hour apart);
    ``utc``: always converted (to order rows in time: a series table's time column).
    """
    text = _text(dates)
    if text.size == 0:
        return None
    zones = {None}
    if not utc and (_OFFSET.search(text[0]) or _OFFSET.search(text[-1])):  # offsets: every date scanned only then
        zones = {m.group(0).strip() if m else None for m in map(_OFFSET.search, text)}
    if zones != {None}:
        local = _utc_dates(np.array([_OFFSET.sub("", t) for t in text]))
        if local is not None and (len(zones) == 1 or len(np.unique(local.astype(np.int64) % (_DAY_S * 10**9))) == 1):
            return local
    return _utc_dates(text)


def mixed_date_forms(text: np.ndarray) -> tuple[str, str] | None:
    """One ISO date (``2023-04-10``) and one ``a/b/year`` date (``11/04/2023``) of a column holding both forms, or
    None: read row by row, such a column's day-first rows may read month first."""
    iso = next((t for t in text if re.match(r"^\s*\d{4}-\d\d-\d\d", t)), None)
    numeric = next((t for t in text if _NUMERIC_DATE.match(t)), None)
    return (str(iso).strip(), str(numeric).strip()) if iso is not None and numeric is not None else None


def _utc_dates(text: np.ndarray) -> np.ndarray | None:
    """:func:`parse_dates` of stripped ``text``, offsets converted to UTC."""
    if all(_YEAR.match(t) for t in text):
        years = text.astype(np.int64)
        if years.min() < 1000 or years.max() > 2999:
            return None
        return (years - 1970).astype("datetime64[Y]").astype("datetime64[ns]")
    if np.char.isdigit(np.char.lstrip(text, "-")).all():
        return _epoch(text)  # Unix times; other integers that are not years: labels, not dates
    weeks = [_ISO_WEEK.match(t) for t in text]
    if all(weeks):  # ISO weeks: their Monday (or the day given)
        import datetime

        try:
            days = [datetime.date.fromisocalendar(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
                    for m in weeks]
        except ValueError:  # week 53 of a year of 52
            return None
        return np.array(days, dtype="datetime64[D]").astype("datetime64[ns]")
    quarters = [_QUARTER.match(t) for t in text]
    if all(quarters):
        months = [f"{m.group(1)}-{3 * int(m.group(2)) - 2:02d}" for m in quarters]
        return np.array(months, dtype="datetime64[M]").astype("datetime64[ns]")
    with contextlib.suppress(ValueError), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy: "no explicit representation of timezones" (read as UTC)
        return text.astype("datetime64[ns]")
    found = [_NUMERIC_DATE.match(t) for t in text]
    return _numeric_dates(text, found) if all(found) else _pandas_dates(text, False)


#: Unix times by their size: seconds, milliseconds, microseconds, nanoseconds since 1970 for dates in 1979-2099
_EPOCH_UNITS = (("s", 3 * 10**8), ("ms", 3 * 10**11), ("us", 3 * 10**14), ("ns", 3 * 10**17))


def _epoch(text: np.ndarray) -> np.ndarray | None:
    """Whole numbers that are Unix times (every one 1979-2099 in one unit: :data:`_EPOCH_UNITS`) as
    ``datetime64[ns]``; None for other integers (row labels)."""
    if any(len(t.lstrip("-")) > 19 for t in text):
        return None
    values = text.astype(np.int64)
    for unit, low in _EPOCH_UNITS:
        if values.min() >= low and values.max() < low * 41 // 3:
            return values.astype(f"datetime64[{unit}]").astype("datetime64[ns]")
    return None


def _pandas_dates(text: np.ndarray, day_first: bool) -> np.ndarray | None:
    import pandas as pd  # anything numpy's ISO parser refuses

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "could not infer format"
        try:
            parsed = pd.to_datetime(pd.Series(text), errors="coerce", format="mixed", utc=True, dayfirst=day_first)
        except (ValueError, TypeError, OverflowError):
            return None
    if parsed.isna().any():
        return None
    return parsed.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")


def _numeric_dates(text: np.ndarray, found: list[re.Match]) -> np.ndarray | None:
    """Dates of the form ``a/b/year`` (or ``.``, ``-``) read one way throughout: day first where a first field is
    above 12, month first where a second one is; where every field could be either, the reading whose steps are
    the more regular (a year of 01/01/2023, 01/02/2023, ..., 01/01/2024 is monthly read day first, eleven days
    and a jump read month first), month first on a tie (pandas' default: 02/01/2024, 03/01/2024 alone are
    February and March); ``found``: each date's :data:`_NUMERIC_DATE` match. None: the reading does not parse.
    Each date was read on its own before, so 12/01/2024 was 1 December and 13/01/2024 13 January, and a sorted
    European file went "back in time"."""
    first = max(int(m.group(1)) for m in found)
    second = max(int(m.group(3)) for m in found)
    if first > 12 or second > 12:
        return _pandas_dates(text, first > 12)
    readings = {day_first: _pandas_dates(text, day_first) for day_first in (False, True)}
    if any(r is None or len(r) < 3 for r in readings.values()):
        return readings[False]

    def regularity(stamps: np.ndarray) -> int:
        steps = np.diff(stamps).astype("timedelta64[s]").astype(np.int64)
        kinds = [_frequency_of_step(float(v)) for v in steps]
        common = max(set(kinds), key=kinds.count)
        return sum(k == common and k is not None for k in kinds) - 2 * int((steps <= 0).sum())

    return readings[regularity(readings[True]) > regularity(readings[False])]


def infer_frequency(dates) -> Frequency | None:
    """The sampling frequency of a date column (see :class:`Frequency`), read from its first
    :data:`FREQUENCY_SAMPLE` dates; None when they do not parse, are fewer than 3, or their median step is not a
    calendar unit nor a divisor of a day."""
    return frequency_of_stamps(parse_dates(np.asarray(dates)[:FREQUENCY_SAMPLE]) if dates is not None else None)


def frequency_of_stamps(stamps: np.ndarray | None) -> Frequency | None:
    """:func:`infer_frequency` of dates already parsed (``datetime64``): the median step of the first
    :data:`FREQUENCY_SAMPLE`."""
    if stamps is None or stamps.size < 3:
        return None
    head = stamps[:FREQUENCY_SAMPLE]
    return _frequency_of_step(float(np.median(np.diff(head).astype("timedelta64[s]").astype(np.int64))))


def _frequency_of_step(step_s: float) -> Frequency | None:
    """The frequency whose step (seconds) this is, or None."""
    if step_s <= 0:
        return None
    days = step_s / _DAY_S
    for (lo, hi), freq in _CALENDAR.items():
        if lo <= days <= hi and (lo > 1 or step_s == _DAY_S):
            return freq
    if step_s < _DAY_S and step_s == int(step_s) and _DAY_S % int(step_s) == 0:
        per_day = _DAY_S // int(step_s)
        if step_s == 3600:
            return Frequency("hourly", 24, 48, seconds=3600)
        return Frequency(f"{int(step_s) // 60}-minute" if step_s % 60 == 0 else f"{int(step_s)}-second",
                         per_day, per_day, seconds=int(step_s))
    return None


def step_dates(dates, horizon: int, freq: "Frequency | None" = None) -> list[str] | None:
    """The ``horizon`` dates after the last one, one step apart, as strings; None when they do not parse.
    ``freq``: the step of a single date (a panel's one-row series: its panel's frequency).

    Yearly, quarterly and monthly dates step by calendar months (1960-12 is followed by 1961-01, not a
    fixed 31 days later; first days of months stay first days, other days become month ends); whole
    numbers (years, row labels) stay whole numbers; everything else steps by the last gap. Stamps at
    midnight are written as dates only.
    """
    if dates is None or len(dates) == 0 or len(dates) < 2 and freq is None:
        return None
    text = _text(dates)
    if len(text) == 1:  # one date: stepped by the frequency given
        stamp = parse_dates(text)
        if stamp is None:
            return None
        if freq.months:
            nxt = (stamp[0].astype("datetime64[M]") + np.arange(1, horizon + 1) * freq.months).astype("datetime64[ns]")
        elif freq.seconds:
            nxt = stamp[0] + np.arange(1, horizon + 1) * np.timedelta64(freq.seconds, "s")
        else:
            return None
        return _format_like(text[0], nxt)
    if np.char.isdigit(np.char.lstrip(text[-2:], "-")).all():  # years or row numbers: stay whole numbers
        last, step = int(text[-1]), int(text[-1]) - int(text[-2])
        return [str(last + step * k) for k in range(1, horizon + 1)] if step > 0 else None
    # the whole column read (day first or month first is decided on all of it: 01/12/2023 is 1 December after
    # 30/11/2023), its last three dates stepped; the last three alone where the column does not parse
    stamps = parse_dates(text)
    stamps = parse_dates(text[-3:]) if stamps is None else stamps[-3:]
    if stamps is None:
        return None
    freq = _frequency_of_step(float(np.median(np.diff(stamps).astype("timedelta64[s]").astype(np.int64))))
    if freq is not None and freq.months:
        month = stamps[-1].astype("datetime64[M]")
        nxt = month + np.arange(1, horizon + 1) * freq.months
        if _MONTH.match(text[-1]) or _QUARTER.match(text[-1]):  # months (2024-03), quarters
            return _format_like(text[-1], nxt.astype("datetime64[ns]"))  # (2000Q1): written as they came
        if stamps[-1].astype("datetime64[D]") == month.astype("datetime64[D]"):  # first days of months
            return [str(m.astype("datetime64[D]")) for m in nxt]
        return [str((m + 1).astype("datetime64[D]") - 1) for m in nxt]  # month ends
    step = stamps[-1] - stamps[-2]
    if step <= np.timedelta64(0, "ns"):
        return None
    nxt = stamps[-1] + step * np.arange(1, horizon + 1)
    zone = _OFFSET.search(text[-1])
    if zone is not None:  # written in the last date's own offset, marked: read in UTC (an offset that changes
        local = _utc_dates(np.array([_OFFSET.sub("", text[-1])]))  # over hourly data), or in local time
        shift = local[0] - stamps[-1] if local is not None else np.timedelta64(0, "ns")
        if not ((nxt + shift).astype(np.int64) % (_DAY_S * 10**9) == 0).all():  # local midnights: dates (below)
            sep = "T" if "T" in text[-1] else " "
            return [str(d).replace("T", sep) + zone.group(0).strip() for d in (nxt + shift).astype("datetime64[s]")]
        nxt = nxt + shift
    if _ISO_WEEK.match(text[-1]):  # ISO weeks: written as they came (2015-W53)
        return _format_like(text[-1], nxt)
    if (nxt.astype(np.int64) % (_DAY_S * 10**9) == 0).all():
        return [str(d) for d in nxt.astype("datetime64[D]")]
    if (nxt.astype(np.int64) % 10**9 == 0).all():
        return [str(d).replace("T", " ") for d in nxt.astype("datetime64[s]")]
    return [str(d).replace("T", " ") for d in nxt]


def grid_steps(stamps: np.ndarray, freq: Frequency) -> np.ndarray | None:
    """``(n,)`` int64: each date's step number from the first on ``freq``'s grid (calendar months for yearly,
    quarterly and monthly data, fixed steps otherwise); None when a date is off that grid."""
    if freq.months:
        months = stamps.astype("datetime64[M]").astype(np.int64)
        off = months - months[0]
        return None if np.any(off % freq.months) else off // freq.months
    if not freq.seconds:
        return None
    off = (stamps - stamps[0]).astype("timedelta64[s]").astype(np.int64)
    return None if np.any(off % freq.seconds) else off // freq.seconds


def _format_like(sample: str, stamps: np.ndarray) -> list[str]:
    """``stamps`` written the way ``sample`` (a date of the same column) is: whole years, quarters, dates, or
    dates with a time of day."""
    if _YEAR.match(sample):
        return [str(d) for d in stamps.astype("datetime64[Y]")]
    if sample.strip().lstrip("-").isdigit() and _epoch(np.array([sample.strip()])) is not None:  # Unix times
        unit = next(u for u, low in reversed(_EPOCH_UNITS) if int(sample) >= low)
        return [str(v) for v in stamps.astype(f"datetime64[{unit}]").astype(np.int64)]
    week = _ISO_WEEK.match(sample)
    if week:  # ISO weeks, written as the sample: 2015-W53 (2015W53)
        dash = "-" if "-W" in sample else ""
        return [f"{d.isocalendar()[0]}{dash}W{d.isocalendar()[1]:02d}" + (f"-{d.isocalendar()[2]}" if week.group(3)
                                                                          else "")
                for d in stamps.astype("datetime64[D]").astype(object)]
    if _MONTH.match(sample):
        return [str(d) for d in stamps.astype("datetime64[M]")]
    if _QUARTER.match(sample):
        months = stamps.astype("datetime64[M]").astype(np.int64)
        return [f"{1970 + m // 12}{sample.strip()[4:-1]}{m % 12 // 3 + 1}" for m in months]
    if (stamps.astype(np.int64) % (_DAY_S * 10**9) == 0).all() and len(sample.strip()) <= 10:
        return [str(d) for d in stamps.astype("datetime64[D]")]
    sep = "T" if "T" in sample else " "
    minutes = re.search(r"\d\d:\d\d$", sample.strip()) is not None and sample.strip().count(":") == 1  # no seconds
    return [str(d).replace("T", sep)[: 16 if minutes else None] for d in stamps.astype("datetime64[s]")]


#: a series whose dates skip more rows than it has is not filled (the fix is the user's: resample it)
MAX_FILLED_SHARE = 0.5


def fill_gaps(values: np.ndarray, dates: np.ndarray, stamps: np.ndarray, freq: Frequency | None = None
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """The rows a series' dates skip, linearly interpolated: ``(values, dates, rows added)``.

    Args:
        values: ``(n,)`` or ``(n, C)`` float64, in date order; dates: ``(n,)`` their date strings; stamps: the
            same dates parsed (:func:`parse_dates`), strictly increasing; freq: the frequency (default: read from
            these dates).
    Returns:
        the series on every step of the frequency from its first date to its last (``(m, ...)``, ``(m,)`` date
        strings, added ones written like the others), and ``m - n``; the inputs as they are (0 added) where
        nothing is skipped, the frequency is not recognised, or a date is off its grid. A series that would be
        more than :data:`MAX_FILLED_SHARE` interpolated is a :class:`ValueError` (the caller names it).
    """
    freq = freq or frequency_of_stamps(stamps)
    steps = grid_steps(stamps, freq) if freq is not None and len(stamps) >= 2 else None
    if steps is None or steps[-1] + 1 == len(steps):
        return values, dates, 0
    total = int(steps[-1]) + 1
    if total - len(steps) > MAX_FILLED_SHARE * total:
        raise ValueError(f"its {freq.name} dates skip {total - len(steps)} of the {total} steps from the first to "
                         f"the last")
    full = np.arange(total)
    flat = values.reshape(len(values), -1)
    filled = np.stack([np.interp(full, steps, col) for col in flat.T], axis=1).reshape((total,) + values.shape[1:])
    missing = np.setdiff1d(full, steps)
    if freq.months:  # the column's day of the month: the first, the last, or the first date's
        months = stamps[0].astype("datetime64[M]") + missing * freq.months
        days = stamps.astype("datetime64[D]")
        month_ends = (days + 1).astype("datetime64[M]") != days.astype("datetime64[M]")
        if month_ends.all():
            new = (months + 1).astype("datetime64[D]") - 1
        else:
            new = months.astype("datetime64[D]") + (days[0] - days[0].astype("datetime64[M]").astype("datetime64[D]"))
    else:
        new = stamps[0] + missing * np.timedelta64(freq.seconds, "s")
    out_dates = np.empty(total, dtype=object)
    out_dates[steps] = np.asarray(dates).astype(str)
    out_dates[missing] = _format_like(str(dates[0]), np.asarray(new).astype("datetime64[ns]"))
    return filled, out_dates.astype(str), total - len(steps)
