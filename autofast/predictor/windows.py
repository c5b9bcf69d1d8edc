"""Newer rows for a model searched on forecasting windows (``search --task ETTh1``: ``kind`` ``timeseries``): its
last ``lookback`` rows, standardised with the training rows' per-channel statistics as at training, through the
network (or the window ridge) to the next ``horizon`` rows in the series' units.

The manifest's ``input.windows`` record holds what this needs: ``lookback``, ``horizon``, ``columns`` (the
channels, in the model's order), ``date_column`` and the training ``mean`` / ``std`` per channel (runs saved
before they were recorded cannot forecast: one error line)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..errors import AutofastError

if TYPE_CHECKING:
    from ..data.timeseries import SeriesData
    from .model import Predictor


def window_record(predictor: "Predictor") -> dict:
    """The model's ``input.windows`` record, with the statistics it needs (one error line without them)."""
    rec = predictor.input.get("windows") or {}
    if rec.get("mean") is None:
        raise AutofastError(f"{predictor.folder}: this window model was saved before autofast recorded the series' "
                            "training statistics; rerun the search with this version to forecast with it")
    return rec


def newer_rows(predictor: "Predictor", source) -> "SeriesData":
    """``source`` (a CSV / ``.npy`` path or bundled name, a DataFrame / Series, or an array ``(T, C)`` / ``(T,)``)
    as a series with the model's channels, in its order."""
    from ..forecast.api import series_data

    rec = window_record(predictor)
    columns = list(rec["columns"])
    if isinstance(source, (str,)) or hasattr(source, "__fspath__"):
        from ..data.registry import resolve_timeseries
        from ..data.timeseries import load_series

        _, path = resolve_timeseries(str(source))
        cols = ", ".join(map(repr, columns))
        return load_series(path, rec.get("date_column"), columns,
                           (f"give newer rows with the run's date column {rec.get('date_column')!r}",
                            f"the new data: the model forecasts column(s) {cols}"))
    arr = None if type(source).__module__.split(".")[0] == "pandas" else np.asarray(source)
    if arr is not None and arr.ndim == 1:
        arr = arr[:, None]
    data, _ = series_data(source if arr is None else arr, columns=None if arr is not None else columns)
    if data.values.shape[1] != len(columns):
        raise AutofastError(f"{data.source}: {data.values.shape[1]} channel(s) but the model forecasts "
                            f"{len(columns)} ({', '.join(columns)}); give rows of those columns, in that order")
    return data


def forecast_after(predictor: "Predictor", data: "SeriesData") -> np.ndarray:
    """``(H, C)`` float64 forecasts of the ``horizon`` rows after ``data``'s last row, in its units (the model
    reads the last ``lookback`` rows; fewer is one error line)."""
    import torch

    rec = window_record(predictor)
    L, H, C = int(rec["lookback"]), int(rec["horizon"]), len(rec["columns"])
    if data.length < L:
        raise AutofastError(f"{data.source}: {data.length} rows; the model reads the last {L} rows of the series "
                            f"(its lookback) to forecast the next {H}: give at least {L}")
    mean, std = np.asarray(rec["mean"], np.float64), np.asarray(rec["std"], np.float64)
    z = (data.values[-L:] - mean) / std  # (L, C)
    x = torch.from_numpy(np.ascontiguousarray(z.T[None], dtype=np.float32))  # (1, C, L)
    out = predictor.predict(x).double().numpy().reshape(C, H)  # channel-major targets (window_task)
    return out.T * std + mean
