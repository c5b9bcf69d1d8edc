"""Auto-AR's data-sized defaults: the horizon, the lookback and the largest AR order, from the series.

The ETT protocol keeps the long-horizon literature's settings (horizons 96/192/336/720, lookback 512).
Any other series -- often a few dozen to a few hundred rows of monthly sales or yearly counts -- gets:

* **horizon**: the M4 competition's horizon for the data's frequency (yearly 6, quarterly 8, monthly 18,
  weekly 13, daily 14, hourly 48, a day below that; read from the date column by
  :func:`autofast.data.frequency.infer_frequency`; 96 when the dates say nothing), at most a tenth of
  the rows, so that the 60/20/20 split's validation fifth holds at least as many windows as steps;
* **lookback**: half the training rows, at most 512;
* **season** (of the seasonal naive candidate and baselines): the frequency's, where the lookback sees a
  whole season and the training rows hold two; else 1;
* **largest order**: a quarter of the training rows (at least one season + 1 where that fits the
  lookback), at most the lookback. Orders near the training length are estimated from too few
  equations: on aeon's Lynx (79 training rows) order 36 was selected by BIC and forecast with MSE 27.5,
  on PBS (order 69 of 71) with MSE 9e4; a quarter kept every tried set finite (bench/forecast_panel.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import ValidationError

from autofast.data.frequency import Frequency, infer_frequency
from autofast.data.timeseries import PreparedSeries, SeriesData, window_range
from autofast.errors import AutofastError

from .config import AutoARConfig

ETT_HORIZONS = (96, 192, 336, 720)
MAX_LOOKBACK = 512  # the ETT literature's lookback; also the cap for long user series
UNKNOWN_HORIZON = 96  # dates absent or irregular: the ETT protocol's shortest horizon, capped by the rows
HORIZON_SHARE = 10  # an automatic horizon is at most 1/10 of the rows
LOOKBACK_SHARE = 2  # ... the lookback at most 1/2 of the training rows
ORDER_SHARE = 4  # ... the largest order at most 1/4 of them


@dataclass(frozen=True)
class ResolvedConfig:
    """A config with every data-sized field set, the frequency it was read from, and why each was chosen."""

    config: AutoARConfig
    frequency: Frequency | None
    notes: dict[str, str] = field(default_factory=dict)  # field -> "value: reason", only for sized fields


def side_columns(values: np.ndarray, columns: list[str]) -> list[str]:
    """Of several channels, those that look like data beside the target rather than a series to forecast: a
    constant, a 0/1 flag, or whole numbers 0..53 in a column named like a calendar part (month, week, day, hour,
    quarter, year)."""
    if values.shape[1] < 2:
        return []
    out = []
    for c, name in enumerate(columns):
        v = values[:, c]
        whole = bool(np.all(v == np.round(v)))
        calendar = whole and v.min() >= 0 and v.max() <= 53 and any(
            k in name.lower() for k in ("month", "week", "day", "hour", "quarter", "year"))
        if np.ptp(v) == 0 or whole and set(np.unique(v)) <= {0.0, 1.0} or calendar:
            out.append(name)
    return out


#: a step this many robust standard deviations (of the steps) away, up and straight back, is an isolated spike
SPIKE_STEPS = 30


def isolated_spikes(values: np.ndarray) -> list[tuple[int, int]]:
    """``(row, channel)`` of every value that jumps away from its neighbours and straight back by more than
    :data:`SPIKE_STEPS` robust standard deviations of the series' steps (1.4826 x their median absolute
    deviation): a typo or a sensor glitch, not a level shift (one jump) or a busy day (a step of a few)."""
    out = []
    for ch in range(values.shape[1]):
        d = np.diff(values[:, ch])
        if len(d) < 3:
            continue
        scale = 1.4826 * np.median(np.abs(d - np.median(d)))
        if scale <= 0:
            continue
        big = np.abs(d) > SPIKE_STEPS * scale
        rows = np.flatnonzero(big[:-1] & big[1:] & (np.sign(d[:-1]) != np.sign(d[1:]))) + 1
        out += [(int(r), ch) for r in rows]
    return sorted(out)


#: at most this share of a history's rows (and at least one) are isolated spikes for :func:`despiked` to replace them
SPIKE_SHARE = 0.02
#: a spike repeats a season away where a row there (+-1: Easter moves) stands out of its neighbours the same way by
#: at least this fraction of the spike's own departure
SEASONAL_ECHO = 0.25


def despiked(x: np.ndarray, season: int = 1) -> np.ndarray:
    """The history ``x`` ``(T,)`` as the panel protocol's models fit it: each isolated spike
    (:func:`isolated_spikes`) replaced by its two neighbours' mean where the spikes are few (at most
    :data:`SPIKE_SHARE` of the rows, at least one) and, with a ``season`` > 1, not repeated a season before or after
    (:data:`SEASONAL_ECHO`: a quarter's peak growing faster than the steps' spread is flagged as a spike, as in
    Tourism's Q147). ``x`` itself where nothing is replaced.

    None of the fitted models forecasts a one-off spike back; each is pulled by it: 60 rows near 300 with one typo of
    50 000 eight rows before the end were forecast at ~2 300 (Theta's level, the damped trend; statsforecast's
    AutoTheta gave ~5 000, AutoETS 53), with 95% bounds up to 6.6e6 where the spike was in a validation target
    (the spike in both the error and the scale that carries it). The targets the models are scored on stay as
    they are."""
    x64 = np.asarray(x, dtype=np.float64)
    rows = [r for r, _ in isolated_spikes(x64[:, None])]
    if not rows or len(rows) > max(1, int(SPIKE_SHARE * len(x64))):
        return x

    def departure(r: int) -> float:
        return x64[r] - 0.5 * (x64[r - 1] + x64[r + 1])

    def echoed(r: int) -> bool:  # a row a season away (+-1) stands out the same way
        near = (r + sign * season + k for sign in (-1, 1) for k in (-1, 0, 1))
        return any(departure(e) * departure(r) > 0 and abs(departure(e)) >= SEASONAL_ECHO * abs(departure(r))
                   for e in near if 0 < e < len(x64) - 1)

    if season > 1:
        rows = [r for r in rows if not echoed(r)]
        if not rows:
            return x
    r = np.array(rows)
    out = x64.copy()
    out[r] = 0.5 * (out[r - 1] + out[r + 1])
    return out


def sized_horizon(freq: Frequency | None, rows: int) -> tuple[int, str]:
    """The horizon of a series of ``rows`` rows with no horizon given, and why: M4's for the dates' frequency (96
    without one), at most a tenth of the rows."""
    base = freq.horizon if freq else UNKNOWN_HORIZON
    cap = max(1, rows // HORIZON_SHARE)
    why = f"M4's horizon for {freq.name} data" if freq else "no recognised date frequency: 96"
    return min(base, cap), f"{min(base, cap)} ({why}" + (f", capped at a tenth of the {rows} rows)" if base > cap
                                                         else ")")


def data_notes(data: SeriesData) -> dict[str, str]:
    """What the run says about the data themselves: rows added for skipped dates, empty cells interpolated, side
    columns (a constant, a flag, a calendar part) and isolated spikes."""
    notes = {}
    if data.filled:
        n = data.filled
        notes["missing dates"] = f"{n} row{'s' * (n != 1)} added where the dates skip steps, linearly interpolated"
    if data.interpolated:
        n = data.interpolated
        notes["missing values"] = f"{n} empty cell{'s' * (n != 1)} linearly interpolated between their neighbours"
    odd = side_columns(data.values, data.columns)
    if odd:
        notes["side columns"] = (f"{', '.join(map(repr, odd))} look like a constant, a 0/1 flag or a calendar part: "
                                 "forecast like the others (each by its own model where that validates better); "
                                 "leave them out with --columns if they are not to be forecast")
    spikes = isolated_spikes(data.values)
    if spikes:
        row, ch = spikes[0]
        notes["extreme values"] = (f"{len(spikes)} isolated spike(s), e.g. data row {row + 1} of "
                                   f"{data.columns[ch]!r} ({data.values[row, ch]:.6g} between "
                                   f"{data.values[row - 1, ch]:.6g} and {data.values[row + 1, ch]:.6g}); "
                                   "check them")
    return notes


def resolve_config(cfg: AutoARConfig, ps: PreparedSeries) -> ResolvedConfig:
    """Fill ``horizons``, ``lookback``, ``max_order`` and ``season`` left None from the prepared series (see the module
    docstring); fields the user set are kept as they are."""
    freq = infer_frequency(ps.data.dates)
    b = ps.bounds
    rows, train = b.test_end, b.train_end
    ett = b.protocol.startswith("ett")
    notes: dict[str, str] = {}
    horizons = cfg.horizons
    if horizons is None:
        if ett:
            horizons = list(ETT_HORIZONS)
            notes["horizon"] = "the ETT protocol's four horizons"
        else:
            H, notes["horizon"] = sized_horizon(freq, rows)
            horizons = [H]
    lookback = cfg.lookback
    floor = cfg.min_order + max(cfg.diff_orders)
    if lookback is None:
        lookback = MAX_LOOKBACK if ett else max(floor, min(MAX_LOOKBACK, train // LOOKBACK_SHARE))
        notes["lookback"] = f"{lookback} (" + ("the ETT literature's 512)" if ett else
                                               f"half the {train} training rows, at most {MAX_LOOKBACK})")
    max_order = cfg.max_order
    if max_order is None:
        season_floor = freq.season + 1 if freq and freq.season > 1 else 1
        max_order = max(cfg.min_order, min(lookback, max(train // ORDER_SHARE, min(season_floor, lookback))))
        fits = train - max(cfg.diff_orders) - 2  # the largest order the training rows give equations for
        notes["max_order"] = f"{max_order} (a quarter of the {train} training rows" + (
            f", at least one {freq.name} season + 1" if season_floor > train // ORDER_SHARE else "") + \
            ", at most the lookback)"
        if fits < max_order:  # a dozen rows: the season floor would leave no equations (it failed with 'lower
            max_order = max(cfg.min_order, fits)  # --max-order', a flag the user never set)
            notes["max_order"] = f"{max_order} (the most the {train} training rows fit after differencing)"
    season = cfg.season
    if season is None:
        season = season_length(freq, lookback, train)
        notes["season"] = f"{season} (" + (f"{freq.name} dates)" if season > 1 else
                                          "none: " + (f"{freq.name} dates" if freq and freq.season == 1 else
                                                      "the lookback or training rows hold less than the season" if freq
                                                      else "no recognised date frequency") + ")")
    notes.update(data_notes(ps.data))
    if "extreme values" in notes:  # the window protocol fits them as they are (a panel's models: despiked)
        notes["extreme values"] += ": the choice and the intervals follow them"
    made = ps.data.made_up
    in_test = 0 if made is None else int(((made >= b.val_end) & (made < b.test_end)).sum())
    if in_test:  # the test windows' targets include them: said beside the score, not hidden in it
        notes["interpolated test rows"] = (f"{in_test} of the {b.test_end - b.val_end} test rows hold interpolated "
                                           "values, scored as data")
    for H in horizons:  # every window range exists: fail here, before any output, naming the flags
        for split in ("train", "val", "test"):
            window_range(b, split, lookback, H, ps.name)
    try:
        full = AutoARConfig.model_validate({**cfg.model_dump(), "horizons": horizons, "lookback": lookback,
                                            "max_order": max_order, "season": season})
    except ValidationError as exc:
        raise AutofastError(f"{ps.name}: {exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
    return ResolvedConfig(full, freq, notes)


def season_length(freq: Frequency | None, lookback: int, train_rows: int) -> int:
    """The season a seasonal baseline uses: the frequency's, where the lookback sees a whole season and
    the training rows hold two; else 1 (non-seasonal)."""
    m = freq.season if freq else 1
    return m if 1 < m <= lookback and 2 * m <= train_rows else 1
