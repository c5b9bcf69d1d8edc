"""A short single series is forecast as a panel of one (:mod:`.panel`'s protocol on one series).

The window protocol (:mod:`.autoar`) splits a series 60/20/20 and scores every candidate on the validation split's
windows of ``lookback`` rows: on a few dozen rows that leaves Theta and the damped trend 7-17 rows per window, and a
long horizon no room at all (66 monthly rows at M4's 18 steps: "forecasts at most 13 steps"). The panel protocol
selects on the ``H`` rows before the last ``H``, fitting every candidate on all the rows before them, and tests on
the last ``H`` rows once: what the M competitions do per series.

Measured (``bench/forecast_short.py``: each series of M1, Tourism and M3 alone, forecast after its training rows and
scored on the official test rows, MASE): on the M1 and Tourism series the window protocol can split, the panel of
one was ahead up to ~120-150 rows (geometric-mean ratio 0.79 at <= 30 rows at the official horizons, 0.87-1.00 at
the default horizon up to 120 rows) and behind beyond (Tourism's ~300-row monthly series 1.06); held out, on M3's
1 560 such series of at most 120 rows: 0.94 (mean MASE 1.388 -> 1.287). Since the panel of one keeps the mean with
Theta and the damped trend and adjusts by M4's seasonality test instead of choosing either on its one validation
window (:data:`autofast.forecast.panel.FEW_SERIES`), it is ahead on longer series too: on the 702 competition series
of 121-309 rows (M1 and Tourism monthly and quarterly, M3 monthly) geometric-mean ratio 0.84-0.92 per group, 0.90
on Tourism's 264 monthly series of 300-309 rows. So a univariate series of at most :data:`SHORT_SERIES_ROWS` rows
(the longest measured, rounded down), or one whose splits cannot hold the horizon given, is forecast as a panel of
one unless an option only the window protocol reads is given (``split="ratio"`` keeps it).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from autofast.data.frequency import infer_frequency
from autofast.data.panel import PanelData
from autofast.data.timeseries import AUTO_DATE, PreparedSeries, SeriesData, window_range
from autofast.errors import AutofastError

from .config import AutoARConfig

if TYPE_CHECKING:
    from .panel import PanelConfig

#: a univariate series of at most this many rows is forecast as a panel of one (module docstring)
SHORT_SERIES_ROWS = 300
#: rows a panel of one needs before its two held-out horizons
MIN_FIT_ROWS = 4
#: AutoARConfig fields only the window protocol reads: given, the series keeps it
WINDOW_OPTIONS = frozenset({"lookback", "pooling", "selection", "refit", "next_fit", "diff_rule", "split", "ratios",
                            "device"})
#: AutoARConfig field -> PanelConfig field of the options both protocols read
SHARED_OPTIONS = {"max_order": "max_order", "min_order": "min_order", "diff_orders": "diff_orders",
                  "intercept": "intercept", "season": "season", "naive": "naive", "shrink": "shrink",
                  "theta": "theta", "levels": "levels", "backend": "backend"}


def panel_of_one(data: SeriesData, notes: dict[str, str] | None = None, name: str | None = None) -> PanelData:
    """``data``'s one channel as a panel of one series, named ``name`` (default: its source); no id column (newer
    data for its model are read as one series again); ``notes``: what the run says beside its sizing."""
    if data.values.shape[1] != 1:
        raise AutofastError(f"{data.source}: a panel of one takes one channel, got {data.values.shape[1]}")
    dates = None if data.dates is None else [np.asarray(data.dates)]
    # dates given beside an array or as a frame's index ("dates"): newer data's are found again, as Forecast.model
    date_column = AUTO_DATE if data.date_column == "dates" else data.date_column
    return PanelData([str(name or data.source)], [np.ascontiguousarray(data.values[:, 0], dtype=np.float64)], dates,
                     None, date_column, data.columns[0], str(data.source), notes=dict(notes or {}))


def check_history(rows: int, source: str) -> None:
    """Newer history for a panel-of-one model: at least :data:`MIN_FIT_ROWS` rows (a row or two gave NaN intervals
    and step numbers for dates), else one error line."""
    if rows < MIN_FIT_ROWS:
        raise AutofastError(f"{source}: {rows} row{'s' * (rows != 1)}; the model forecasts after at least "
                            f"{MIN_FIT_ROWS} rows of the series (its history: the more the better); give more rows")


def _windows_hold(data: SeriesData, cfg: AutoARConfig, name: str) -> bool | None:
    """Whether the window protocol's splits hold ``cfg``'s (given) horizon at the lookback sized from the data;
    None where the data or another option fail it anyway (its own error then stands)."""
    from .defaults import resolve_config

    try:
        ps = PreparedSeries.build(name, data, cfg.split, cfg.ratios)
        lookback = resolve_config(cfg.model_copy(update={"horizons": [1]}), ps).config.lookback
    except AutofastError:
        return None
    try:
        for split in ("train", "val", "test"):
            window_range(ps.bounds, split, lookback, cfg.horizons[0], name)
    except AutofastError:
        return False
    return True


class ShortSeries(NamedTuple):
    """How a short single series is forecast as a panel of one (:func:`short_series_panel`)."""

    config: PanelConfig
    notes: dict[str, str]  # the window protocol's notes on the data, and the horizon sized as it sizes it
    reason: str  # one sentence for the report


def short_series_panel(data: SeriesData, cfg: AutoARConfig, name: str) -> ShortSeries | None:
    """The :class:`ShortSeries` where ``data`` is forecast as a panel of one, else None: one channel, at most one
    horizon, no window-only option (:data:`WINDOW_OPTIONS`) set to other than its default, and at most
    :data:`SHORT_SERIES_ROWS` rows or a given horizon the window protocol's splits cannot hold (its error before).
    A horizon leaving fewer than :data:`MIN_FIT_ROWS` rows before the two held-out horizons, or a season longer
    than those rows, is then one error line naming what the series holds."""
    from .defaults import data_notes, sized_horizon
    from .panel import PanelConfig

    given = cfg.model_fields_set
    changed = {k for k in given if getattr(cfg, k) != AutoARConfig.model_fields[k].default}  # a default: no choice
    if cfg.device == "cpu":  # where the panel of one runs anyway
        changed.discard("device")
    if data.values.shape[1] != 1 or changed & WINDOW_OPTIONS or (cfg.horizons and len(cfg.horizons) > 1):
        return None
    n = data.length
    if n <= SHORT_SERIES_ROWS:
        why = f"a short series ({n} rows, at most {SHORT_SERIES_ROWS})"
    elif cfg.horizons and _windows_hold(data, cfg, name) is False:
        why = f"a series whose 60/20/20 splits cannot hold {cfg.horizons[0]} steps"
    else:
        return None  # the window protocol (and its own errors)
    notes = data_notes(data)
    if cfg.horizons:
        H = cfg.horizons[0]
    else:
        H, notes["horizon"] = sized_horizon(infer_frequency(data.dates) if data.dates is not None else None, n)
    if n - 2 * H < MIN_FIT_ROWS:
        most = (n - MIN_FIT_ROWS) // 2
        raise AutofastError(f"{name}: {n} rows hold at most {max(most, 0)} steps ahead: a short series is chosen on the "
                            f"H rows before its last H and tested on the last H, with at least {MIN_FIT_ROWS} rows "
                            "before them; " + (f"use --horizon {most} or a longer series" if most >= 1 else
                                               f"give at least {2 + MIN_FIT_ROWS} rows"))
    if (cfg.season or 1) > n - 2 * H:
        raise AutofastError(f"{name}: season {cfg.season} exceeds the {n - 2 * H} rows before the last two horizons "
                            "(a short series is chosen on the H rows before its last H); give a smaller --season, "
                            "or none (from the dates)")
    made = 0 if data.made_up is None else int((data.made_up >= n - H).sum())
    if made:  # the test targets include them: said beside the score, not hidden in it
        notes["interpolated test rows"] = f"{made} of the {H} test rows hold interpolated values, scored as data"
    options = {SHARED_OPTIONS[k]: getattr(cfg, k) for k in given if k in SHARED_OPTIONS}
    return ShortSeries(PanelConfig(horizon=H, **options), notes, (
        f"{why}: forecast as a panel of one -- every candidate fitted on the rows before the last 2H, chosen on the "
        f"H rows before the last H, tested once on the last H, refitted on every row for the next H (split='ratio' "
        f"/ --split ratio: the window protocol)"))
