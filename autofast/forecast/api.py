"""Auto-AR from Python: ``autofast.forecast(data, horizon=None, **options)`` runs the pipeline of ``python -m
autofast forecast`` in memory (no run folder, nothing printed) and returns a :class:`Forecast`::

    import autofast
    fc = autofast.forecast("sales.csv")                     # or a DataFrame, a Series, a (T,) / (T, C) array
    fc.test_mse, fc.seasonal_naive_mse, fc.chosen            # per horizon; selected on validation, tested once
    fc.next()                                                # DataFrame: the H rows after the data, own units
    fc.next(intervals=True)                                  # + 80% / 95% prediction intervals ({col}-lo-80, ...)
    fc.predict(last_rows)                                    # the same model after newer history, no refit

Options are :class:`~autofast.forecast.AutoARConfig`'s fields (``lookback``, ``max_order``, ``season``,
``naive``, ``selection``, ``refit``, ``split``, ``ratios``, ...); left out, they are sized from the data as in
the command. Bad input raises :class:`~autofast.errors.AutofastError` with the command's one-line message.
numpy throughout (pandas for data frames and dates): nothing here imports torch.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from pydantic import ValidationError

from autofast.data.frequency import Frequency, step_dates
from autofast.data.text import data_suffix
from autofast.data.timeseries import (API_HINTS, AUTO_DATE, PreparedSeries, SeriesData, frame_series, load_series,
                                      with_gaps_filled)
from autofast.errors import AutofastError

from .autoar import ChosenModel, HorizonResult, run_autoar
from .baseline import seasonal_naive
from .config import AutoARConfig
from .defaults import resolve_config
from .model import ForecastModel
from .short import panel_of_one, short_series_panel

__all__ = ["Forecast", "forecast", "run_forecast", "series_data"]



@dataclass
class Forecast:
    """A finished Auto-AR run: the resolved config, what was sized from the data, one result per horizon.

    Scores are MSE on the z-scored scale (each channel standardised with the training split's statistics),
    means over test windows x steps x channels; forecasts (:meth:`next`, :meth:`predict`) are in the data's
    own units.
    """

    name: str
    config: AutoARConfig
    frequency: Frequency | None
    sized_from_data: dict[str, str]
    results: list[HorizonResult]
    seasonal_naive: dict[int, dict]
    run_info: dict = field(repr=False)  # backend, candidates, fit timings (result.json's "run")
    series: PreparedSeries = field(repr=False)
    backend: Any = field(repr=False)
    date_column: str | None = AUTO_DATE  # how newer data's dates are read (model.json)

    def __repr__(self) -> str:
        parts = ", ".join(f"H={r.horizon}: test MSE {r.mse:.4f} ({', '.join(sorted({c.label for c in r.chosen}))})"
                          for r in self.results)
        return f"Forecast({self.name!r}, {self.series.data.length} rows x {len(self.columns)} channels; {parts})"

    @property
    def columns(self) -> list[str]:
        return list(self.series.data.columns)

    @property
    def horizons(self) -> list[int]:
        return [r.horizon for r in self.results]

    @property
    def test_mse(self) -> dict[int, float]:
        """Per horizon: the chosen model's test MSE (z-scored)."""
        return {r.horizon: r.mse for r in self.results}

    @property
    def seasonal_naive_mse(self) -> dict[int, float]:
        """Per horizon: the (seasonal) naive forecast's MSE on the same test windows, the floor to beat."""
        return {h: n["mse"] for h, n in self.seasonal_naive.items()}

    @property
    def chosen(self) -> dict[int, list[ChosenModel]]:
        """Per horizon: the selected model (one when pooled, one per channel otherwise)."""
        return {r.horizon: r.chosen for r in self.results}

    @property
    def model(self) -> ForecastModel:
        """The models that forecast after the data -- the chosen ones, each AR part refitted on every row unless
        ``next_fit="tested"`` -- with their lookback and training statistics: what ``model.json`` holds."""
        halfwidths = {r.horizon: {int(k): np.asarray(v) for k, v in r.intervals.get("halfwidth", {}).items()}
                      for r in self.results}
        found = self.series.data.date_column  # the column "auto" found: newer data are read by its name
        date_column = found if self.date_column == AUTO_DATE and found and found != "dates" else self.date_column
        final = {r.horizon: r.final or r.chosen for r in self.results}  # refitted on every row (next_fit)
        return ForecastModel(self.columns, self.config.lookback, self.series.scaler, final,
                             self.frequency.name if self.frequency else None, date_column, halfwidths)

    def predict(self, history, horizon: int | None = None) -> np.ndarray:
        """The forecast of the ``horizon`` rows after ``history`` by :attr:`model` (no new fit): ``(H, C)`` float64
        in the data's own units from ``(T, C)`` or ``(T,)`` rows, at least ``config.lookback`` of them (the last
        ``lookback`` are read). See :meth:`ForecastModel.predict`."""
        return self.model.predict(history, self.horizons[0] if horizon is None else horizon, self.backend)

    def next(self, horizon: int | None = None, intervals: bool = False):
        """The ``horizon`` rows after the data (default: the first horizon), own units, as a pandas DataFrame
        indexed by the following dates (stepped by the data's frequency) or by step 1..H without dates; with
        ``intervals``, also the 80% and 95% prediction intervals (columns ``{channel}-lo-80``, ``-hi-80``, ...)."""
        import pandas as pd

        from .outputs import forecast_table

        h = self.horizons[0] if horizon is None else horizon  # or fewer steps: the next longer model's first
        model = self.model
        values = model.predict(self.series.data.values, h, self.backend)
        bands = model.bands(values, h, self.series.data.values) if intervals else {}
        stamps = step_dates(self.series.data.dates, h)
        index = pd.Index(stamps, name="date") if stamps is not None else pd.RangeIndex(1, h + 1, name="step")
        names, cols = forecast_table(self.columns, values, bands)
        return pd.DataFrame(np.column_stack(cols), index=index, columns=names)


def run_forecast(data: SeriesData, name: str, cfg: AutoARConfig, progress: Callable[[str], None] | None = None,
                 on_sized: Callable | None = None, date_column: str | None = AUTO_DATE) -> Forecast:
    """The pipeline under the command and :func:`forecast`: split and standardise, size the config from the data,
    run Auto-AR, score the (seasonal) naive forecast on the same test windows. ``on_sized(resolved)`` is called
    once the config is sized, before the search."""
    from autofast.kernels.ar_grid import get_backend

    ps = PreparedSeries.build(name, data, cfg.split, cfg.ratios)
    sized = resolve_config(cfg, ps)
    if on_sized is not None:
        on_sized(sized)
    full = sized.config
    results, info = run_autoar(ps, full, progress=progress)
    naive = {r.horizon: seasonal_naive(ps, r.horizon, full.lookback, full.season) for r in results}
    return Forecast(name, full, sized.frequency, sized.notes, results, naive, info, ps,
                    get_backend(full.backend, full.device), date_column)


def series_data(data, *, dates=None, columns: list[str] | None = None, date_column: str | None = AUTO_DATE
                ) -> tuple[SeriesData, str]:
    """``(SeriesData, name)`` from a path or bundled name, a pandas DataFrame / Series or an array.

    A DataFrame's or Series' datetime-like index gives the dates, else (DataFrame) a date column found as for
    CSVs (:func:`autofast.data.timeseries.auto_date_column`, or ``date_column``); an array's dates come from
    ``dates`` (optional, one per row).
    """
    if isinstance(data, (str, Path)):
        from autofast.data.registry import resolve_timeseries

        name, path = resolve_timeseries(str(data))
        return load_series(path, date_column or None, columns), name
    pd = None
    if type(data).__module__.split(".")[0] == "pandas":  # arrays never import pandas (~0.7 s)
        import pandas as pd

        if isinstance(data, pd.Series):
            data = data.to_frame(name=str(data.name) if data.name is not None else "value")
    if pd is not None and isinstance(data, pd.DataFrame):
        df = data
        if isinstance(df.index, (pd.DatetimeIndex, pd.PeriodIndex)):  # the index holds the dates
            stamps = df.index.to_timestamp() if isinstance(df.index, pd.PeriodIndex) else df.index
            dates, date_column = np.asarray(stamps.astype(str)), None
        series = frame_series(df.reset_index(drop=True), date_column, columns, "dataframe", hints=API_HINTS)
    else:
        series = SeriesData.from_array(np.asarray(data), columns, source="array")
    if dates is not None:
        dates = np.asarray(dates).astype(str)
        if dates.shape != (series.length,):
            raise AutofastError(f"dates has shape {dates.shape}; give one date per row ({series.length})")
        series = with_gaps_filled(series.values, series.columns, series.source, dates, "dates")
    return series, series.source


def _panel_of(data, id_column: str | None, date_column: str | None, columns: list[str] | None):
    """The :class:`~autofast.data.panel.PanelData` of ``data`` when it is a long-format table with an id column
    (a CSV path or a DataFrame), else None."""
    from autofast.data.panel import API_HINTS, csv_header, find_id_column, frame_panel, load_panel

    if not id_column:
        return None
    value = None
    if columns:
        if len(columns) != 1:
            raise AutofastError(f"columns: a panel forecasts one value column, got {len(columns)}; name one")
        value = columns[0]
    named = id_column != "auto"  # a named id column must be there (auto: a panel only when one is found)
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file() or data_suffix(path) != ".csv":
            if named:
                raise AutofastError(f"{data}: id_column={id_column!r} names a panel's id column, but this is not a "
                                    "CSV file; give a long-format CSV or DataFrame")
            return None
        if find_id_column(csv_header(path), id_column) is None:
            if named:
                raise AutofastError(f"{path}: no id column {id_column!r} in its header; fix id_column=")
            return None
        return load_panel(path, id_column, date_column, value, API_HINTS)
    if type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "columns"):
        frame = data.reset_index(drop=not any(n is not None for n in data.index.names))  # a named index: a column
        if find_id_column([str(c) for c in frame.columns], id_column) is None:
            if named:
                raise AutofastError(f"dataframe: no id column {id_column!r} (columns or index); fix id_column=")
            return None
        return frame_panel(frame, id_column, date_column, value)
    if named:
        raise AutofastError(f"id_column={id_column!r} needs a long-format DataFrame or CSV, not {type(data).__name__}")
    return None


def _config(cls, options: dict, what: str):
    """``cls(**options)``; the first validation error as one :class:`AutofastError` line naming the option."""
    try:
        return cls(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(map(str, err["loc"])) or "options"
        if err["type"] == "extra_forbidden":  # a misspelt keyword: name the one meant, or all of them
            import difflib

            close = difflib.get_close_matches(str(err["loc"][0]), list(cls.model_fields), n=1)
            raise AutofastError(f"{what} {where}: not an option; " + (f"did you mean {close[0]}=?" if close else
                                "the options are " + ", ".join(cls.model_fields))) from None
        raise AutofastError(f"{what} {where}: {err['msg'].removeprefix('Value error, ')}") from None


def forecast(data, horizon: int | list[int] | None = None, *, dates=None, columns: list[str] | None = None,
             date_column: str | None = AUTO_DATE, id_column: str | None = "auto", **options: Any):
    """Run Auto-AR on ``data`` and return the :class:`Forecast` (see the module docstring) -- a short univariate
    series (at most 300 rows, or too short for the windows at the horizon; no window-only option such as
    ``lookback=`` or ``split=`` given) is forecast as a panel of one (:mod:`autofast.forecast.short`) and returned
    as a :class:`~autofast.forecast.panel.PanelResult` (``next()`` a frame of date and value, ``predict(newer)``,
    ``test``, ``reason``); on a long-format
    panel (a CSV or DataFrame with a series id column: ``id_column``, default found by name -- ``unique_id``,
    ``series_id``, ``id``, ...) one global model over every series, returned as a
    :class:`~autofast.forecast.panel.PanelResult` (``next()``, ``predict(newer)``, ``test``, ``per_series_frame``).

    Args:
        data: a CSV / ``.npy`` path or bundled name, a pandas DataFrame (numeric channels; dates from a
            datetime index or a date column) or Series, or a ``(T,)`` / ``(T, C)`` array.
        horizon: steps ahead, one or several (default: sized from the data, as the command does).
        dates: an array's dates, one per row (optional; they give the frequency, the season and the dates of
            :meth:`Forecast.next`).
        columns: channels to use (default: every numeric column).
        date_column: a DataFrame's or CSV's date column (default: found; None: none).
        options: :class:`AutoARConfig` fields (``lookback=``, ``season=``, ``naive=``, ``refit=`` ...); a panel:
            :class:`~autofast.forecast.panel.PanelConfig` fields (``max_order=``, ``season=``, ...).
        id_column: a panel's series id column (None: never a panel).
    """
    panel = _panel_of(data, id_column, date_column, columns)
    if panel is not None:
        from .panel import PanelConfig, run_panel

        if isinstance(horizon, list):
            if len(horizon) != 1:
                raise AutofastError(f"horizon: a panel takes one horizon, got {horizon}")
            horizon = horizon[0]
        return run_panel(panel, _config(PanelConfig, {"horizon": horizon, **options}, "panel forecast option"))
    if horizon is not None:
        options["horizons"] = [horizon] if isinstance(horizon, int) else list(horizon)
    cfg = _config(AutoARConfig, options, "forecast option")
    series, name = series_data(data, dates=dates, columns=columns, date_column=date_column)
    short = short_series_panel(series, cfg, name)
    if short is not None:  # a short univariate series: the panel protocol on one series
        from .panel import run_panel

        res = run_panel(panel_of_one(series, short.notes, name), short.config)
        res.reason = short.reason
        return res
    return run_forecast(series, name, cfg, date_column=date_column)
