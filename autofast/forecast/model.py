"""The chosen Auto-AR forecaster as a file: ``model.json`` in a forecast run folder, applied to newer history.

Everything a forecast needs and nothing else: the channels, the lookback, the training statistics the series
was standardised with, and per horizon the chosen model(s) (kind; the level-AR coefficients and intercept of an
AR part; Theta and the damped trend are fitted afresh on the last ``lookback`` rows). JSON, not pickle: a model
file is data, never code. ``python -m autofast predict RUN_DIR --data newer.csv`` and
:meth:`autofast.forecast.api.Forecast.model` use it.

Format ``autofast-forecast-model/1``::

    {"format": ..., "columns": [...], "lookback": L, "mean": [...], "std": [...], "frequency": "monthly" | null,
     "date_column": "Month" | null, "horizons": {"12": [{"group", "p", "d", "intercept", "selection_score",
     "psi", "c", "regularised", "kind", "shrink"}, ...]}, "halfwidths": {"12": {"80": [[...] x C] x H, "95": ...}}}
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from autofast.data.timeseries import Standardizer
from autofast.errors import AutofastError
from autofast.io import write_json_atomic

from .autoar import MODEL_KINDS, ChosenModel, forecast_after
from .intervals import floor_positive, never_negative

FORMAT = "autofast-forecast-model/1"
FILE = "model.json"


@dataclass(frozen=True)
class ForecastModel:
    """Chosen models per horizon, with the standardisation and lookback they were selected under."""

    columns: list[str]
    lookback: int
    scaler: Standardizer
    chosen: dict[int, list[ChosenModel]]
    frequency: str | None = None
    date_column: str | None = None
    #: per horizon and level, the prediction intervals' half-widths ``(H, C)`` on the standardised scale
    #: (:mod:`.intervals`); empty in a model.json written before 2026-12-06's intervals
    halfwidths: dict[int, dict[int, np.ndarray]] = field(default_factory=dict)

    @property
    def horizons(self) -> list[int]:
        return sorted(self.chosen)

    def __repr__(self) -> str:
        models = "; ".join(f"H={h}: " + ", ".join(sorted({m.label for m in ms})) for h, ms in sorted(self.chosen.items()))
        return (f"ForecastModel({len(self.columns)} channel(s) {self.columns[:4]}{'...' if len(self.columns) > 4 else ''}, "
                f"lookback {self.lookback}, {self.frequency or 'no frequency'}; {models})")

    def _model_horizon(self, horizon: int) -> int:
        """The horizon whose model gives ``horizon`` steps: its own, else the shortest longer one (its first
        ``horizon`` steps); a horizon beyond every model's is one error line."""
        if horizon in self.chosen:
            return horizon
        longer = [h for h in self.horizons if h > horizon]
        if horizon < 1 or not longer:
            raise AutofastError(f"no model for horizon {horizon}: this forecast has {self.horizons} (a shorter "
                                "horizon is the first steps of a longer one; a longer one needs a new run with it)")
        return longer[0]

    def history_values(self, history) -> np.ndarray:
        """``history`` as rows ``(T, C)`` of the model's channels: an array, a pandas DataFrame (its date column
        or date index and the model's columns, read as the training file was) or Series, or a CSV path."""
        from autofast.data.timeseries import API_HINTS, frame_series, load_series

        if isinstance(history, (str, Path)):
            return load_series(history, self.date_column or "auto", self.columns, API_HINTS).values
        if type(history).__module__.split(".")[0] == "pandas":
            import pandas as pd

            frame = history.to_frame() if isinstance(history, pd.Series) else history
            if isinstance(frame, pd.DataFrame) and len(frame.columns) > 1:
                dated = isinstance(frame.index, (pd.DatetimeIndex, pd.PeriodIndex))
                return frame_series(frame.reset_index(drop=True), None if dated else self.date_column or "auto",
                                    [c for c in self.columns if c in frame.columns] or None, "history",
                                    hints=API_HINTS).values
            history = frame.to_numpy()
        try:
            return np.asarray(history, dtype=np.float64)
        except (TypeError, ValueError):
            raise AutofastError("history: not numbers; give rows (T, C) of the channels "
                                f"{self.columns}, a DataFrame with them (and its dates), or a CSV path") from None

    def predict(self, history, horizon: int | None = None, backend=None) -> np.ndarray:
        """Forecasts of the ``horizon`` rows after ``history`` (default: the first horizon; no refit).

        Args:
            history: ``(T, C)`` or ``(T,)`` (one channel) in the data's own units, oldest row first, at least
                ``lookback`` rows (the last ``lookback`` are read, as in the test windows); or a pandas DataFrame
                with the model's columns (and a date column or index, read as at training), or a CSV path.
            horizon: one of :attr:`horizons`, or fewer steps (the first steps of the next longer one's model).
        Returns:
            ``(H, C)`` float64 in the data's own units.
        """
        if horizon is None:
            horizon = self.horizons[0]
        model_h = self._model_horizon(horizon)
        x = self.history_values(history)
        if x.ndim == 1:
            x = x[:, None]
        C, L = len(self.columns), self.lookback
        if x.ndim != 2 or x.shape[1] != C:
            raise AutofastError(f"history must be (rows, {C}) (the channels {self.columns}), got shape {x.shape}")
        if x.shape[0] < L:
            raise AutofastError(f"history has {x.shape[0]} rows; the model reads the last {L} (its lookback): give "
                                f"at least {L} rows up to the point to forecast from")
        if not np.isfinite(x).all():
            raise AutofastError("history holds NaN or inf; fill or drop those rows")
        if backend is None:
            from autofast.kernels.ar_grid import get_backend

            backend = get_backend("auto", "cpu")
        return forecast_after(self.scaler, self.chosen[model_h], model_h, x[-L:], backend)[:horizon]

    def intervals(self, history, horizon: int | None = None, backend=None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Prediction intervals around :meth:`predict`'s forecasts: ``{level: (lo, hi)}``, each ``(H, C)`` in the
        data's own units (empty for a model saved without intervals)."""
        horizon = self.horizons[0] if horizon is None else horizon
        x = self.history_values(history)  # a CSV path read once
        return self.bands(self.predict(x, horizon, backend), horizon, x)

    def bands(self, point: np.ndarray, horizon: int, history=None) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{level: (lo, hi)}`` around the ``(H, C)`` forecasts ``point`` of this horizon, own units; lower bounds
        floored at 0 for the channels whose ``history`` (the rows forecast from, ``(T, C)``) is positive."""
        positive = False
        if history is not None:
            x = np.asarray(history, dtype=np.float64)
            positive = never_negative(x.reshape(len(x), -1))[None, :]
        out = {}
        for level, hw in sorted(self.halfwidths.get(self._model_horizon(horizon), {}).items()):
            half = hw[:horizon] * self.scaler.std[None]  # (H, C), own units
            out[level] = (floor_positive(point - half, positive, point), point + half)
        return out

    def to_dict(self) -> dict:
        return {"format": FORMAT, "columns": self.columns, "lookback": self.lookback,
                "mean": self.scaler.mean.tolist(), "std": self.scaler.std.tolist(), "frequency": self.frequency,
                "date_column": self.date_column,
                "horizons": {str(h): [asdict(m) for m in ms] for h, ms in sorted(self.chosen.items())},
                "halfwidths": {str(h): {str(k): v.tolist() for k, v in lv.items()}
                               for h, lv in sorted(self.halfwidths.items())}}

    def save(self, folder: Path) -> Path:
        """Write ``folder/model.json`` atomically; returns its path."""
        path = Path(folder) / FILE
        write_json_atomic(path, self.to_dict())
        return path

    @classmethod
    def load(cls, run_dir: str | Path) -> "ForecastModel":
        """Read ``run_dir/model.json``; a missing or malformed file is one :class:`AutofastError` line."""
        path = Path(run_dir) / FILE
        if not path.is_file():
            raise AutofastError(f"{run_dir}: no {FILE}; give the folder of a forecast run made by autofast 0.1 of "
                                "2026-12-06 or later (rerun forecast to write one)")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            if d.get("format") != FORMAT:
                raise ValueError(f"format {d.get('format')!r}, expected {FORMAT!r}")
            names = {f.name for f in fields(ChosenModel)}
            chosen = {int(h): [ChosenModel(**{k: v for k, v in m.items() if k in names}) for m in ms]
                      for h, ms in d["horizons"].items()}
            columns, L = [str(c) for c in d["columns"]], int(d["lookback"])
            mean, std = np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64)
            ok = (mean.shape == std.shape == (len(columns),) and L >= 1 and chosen and
                  all(len(ms) in (1, len(columns)) and all(len(m.psi) <= L and all(map(math.isfinite, m.psi)) and
                                                            m.kind in MODEL_KINDS and m.has_ar_part == bool(m.psi)
                                                            for m in ms) for ms in chosen.values()) and
                  np.isfinite(mean).all() and (std > 0).all())
            halfwidths = {int(h): {int(k): np.asarray(v, dtype=np.float64) for k, v in lv.items()}
                          for h, lv in d.get("halfwidths", {}).items()}
            ok = ok and all(h in chosen and 0 < k < 100 and v.shape == (h, len(columns)) and
                            bool((np.nan_to_num(v, nan=0.0) >= 0).all())
                            for h, lv in halfwidths.items() for k, v in lv.items())
            if not ok:
                raise ValueError("inconsistent shapes or values")
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AutofastError(f"{path}: not a readable forecast model ({str(exc).splitlines()[0][:120]}); rerun "
                                "forecast to write it again") from None
        return cls(columns, L, Standardizer(mean, std), chosen, d.get("frequency"), d.get("date_column"), halfwidths)


def load_model(run_dir: str | Path):
    """The model in ``run_dir/model.json``: a :class:`ForecastModel` (one series) or a
    :class:`~autofast.forecast.panel.PanelModel` (a panel run's global model), by its ``format``."""
    path = Path(run_dir) / FILE
    if path.is_file():
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            d = None
        from .panel import PanelModel

        if isinstance(d, dict) and d.get("format") == PanelModel.FORMAT:
            return PanelModel.from_dict(d, path)
    return ForecastModel.load(run_dir)  # also words the errors of an unreadable file
