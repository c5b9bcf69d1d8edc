"""A short single series is forecast as a panel of one (:mod:`.panel`'s protocol on one series).

The window protocol (:mod:`.autoar`) splits a series 60/20/20 and scores every candidate on the validation split's
windows of ``lookback`` rows: on a few dozen rows that leaves Theta and the damped trend 7-17 rows per window, and a
long horizon no room at all (66 monthly rows at M4's 18 steps: "forecasts at most 13 steps"). The panel protocol
selects on the ``H`` rows before the last ``H``, fitting every candidate on all the rows before them, and tests on
the last ``H`` rows once: what the M competitions do per series.

Measured (``bench/forecast_short.py``: each series of M1 and Tourism alone, forecast after its training rows and
scored on the official test rows, MASE): the panel of one was also ahead on the series the window protocol can
split, up to ~120-150 rows (geometric-mean ratio 0.79 at <= 30 rows at the official horizons, 0.87-1.00 at the
default horizon up to 120 rows) and behind beyond. For now only the series the window protocol refused (a given
horizon its splits cannot hold) take it; the shorter series' switch waits on the window protocol's notes (filled
dates, interpolated cells) and ``predict``'s checks (another frequency, renamed columns) in the panel path.
"""
from __future__ import annotations

import numpy as np

from autofast.data.panel import PanelData
from autofast.data.timeseries import PreparedSeries, SeriesData, window_range
from autofast.errors import AutofastError

from .config import AutoARConfig

#: rows a panel of one needs before its two held-out horizons
MIN_FIT_ROWS = 4
#: AutoARConfig fields only the window protocol reads: given, the series keeps it
WINDOW_OPTIONS = frozenset({"lookback", "pooling", "selection", "refit", "next_fit", "diff_rule", "split", "ratios",
                            "device"})
#: AutoARConfig field -> PanelConfig field of the options both protocols read
SHARED_OPTIONS = {"max_order": "max_order", "min_order": "min_order", "diff_orders": "diff_orders",
                  "intercept": "intercept", "season": "season", "naive": "naive", "shrink": "shrink",
                  "theta": "theta", "levels": "levels", "backend": "backend"}


def panel_of_one(data: SeriesData) -> PanelData:
    """``data``'s one channel as a panel of one series, named by its source; no id column (newer data for its
    model are read as one series again)."""
    if data.values.shape[1] != 1:
        raise AutofastError(f"{data.source}: a panel of one takes one channel, got {data.values.shape[1]}")
    dates = None if data.dates is None else [np.asarray(data.dates)]
    return PanelData([str(data.source)], [np.ascontiguousarray(data.values[:, 0], dtype=np.float64)], dates, None,
                     data.date_column, data.columns[0], str(data.source),
                     {str(data.source): data.filled} if data.filled else {})


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


def short_series_panel(data: SeriesData, cfg: AutoARConfig, name: str):
    """The :class:`~autofast.forecast.panel.PanelConfig` and the reason (one sentence) where ``data`` is forecast
    as a panel of one, else None: one channel, one given horizon that the window protocol's splits cannot hold (its
    error before), no window-only option (:data:`WINDOW_OPTIONS`) given, and at least :data:`MIN_FIT_ROWS` rows
    before the two held-out horizons."""
    from .panel import PanelConfig

    given = cfg.model_fields_set
    if data.values.shape[1] != 1 or given & WINDOW_OPTIONS or not cfg.horizons or len(cfg.horizons) > 1:
        return None  # a sized horizon (a tenth of the rows) always fits the splits
    n, H = data.length, cfg.horizons[0]
    if n - 2 * H < MIN_FIT_ROWS or _windows_hold(data, cfg, name) is not False:
        return None
    options = {SHARED_OPTIONS[k]: getattr(cfg, k) for k in given if k in SHARED_OPTIONS}
    pcfg = PanelConfig(horizon=H, **options)
    return pcfg, (f"a short series ({n} rows): its 60/20/20 splits cannot hold {H} steps, so it is forecast as a "
                  f"panel of one -- every candidate fitted on the rows before "
                  f"the last 2H, chosen on the H rows before the last H, tested once on the last H, refitted on every "
                  f"row for the next H")
