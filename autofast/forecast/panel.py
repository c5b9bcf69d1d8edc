"""Auto-AR on a panel of many short series: one global AR over all of them, selected on every series' validation
rows, tested once on every series' last rows.

Why global: a series of 15 yearly values cannot estimate an AR of its own, but a few hundred such series, each
standardised to its own scale, can share one, and a shared model can afford a long memory (Montero-Manso &
Hyndman 2021, "Principles and algorithms for forecasting groups of time series: locality and globality", IJF 37:
global linear models compete with per-series methods with far fewer parameters; ``bench/forecast_competitions.py``
measures ours against statsforecast's per-series models on the M1, Tourism and M3 competitions' test rows).

The protocol, per series of ``n`` rows and the horizon ``H`` (the M competitions' hold-out):

1. *validation*: every candidate forecasts rows ``[n - 2H, n - H)`` from the rows before; the lowest mean MASE
   over the series wins. Candidates, under each transform (:mod:`.seasonal`: the levels; where they apply the
   logs, M4's seasonally adjusted values, both): an AR(p) on the d-times differenced, per-series standardised
   values, with or without an intercept, fitted on all series' rows ``[0, n - 2H)`` pooled (one Gram matrix
   per d gives every order); the best of them shrunk toward the naive forecast; the naive and seasonal naive
   forecasts; and the mean of the best AR, the per-series best of the four Theta models
   (:func:`.theta.auto_theta_panel`) and Holt's damped trend (:mod:`.damped`), which a single model (the AR
   alone, a naive forecast) replaces only when clearly ahead (:data:`SINGLE_MODEL_MARGIN`);
2. *test*: the chosen candidate refitted on rows ``[0, n - H)`` forecasts the last ``H`` rows (touched once):
   MASE (M4's: mean absolute error over the in-sample seasonal naive's), sMAPE and the MSE on the standardised
   scale, beside the naive and seasonal naive forecasts on the same rows;
3. *final*: refitted on all rows, it forecasts the ``H`` rows after each series (:class:`PanelModel`), with
   prediction intervals (:mod:`.intervals`): per step, the conformal quantile over the series of the choice's
   validation errors divided by each series' MASE scale, times the scale of the history forecast from (their
   test coverage and M4's MSIS are reported with the test scores).

Each series is transformed and standardised with the statistics of the rows it is forecast from (its history at
that stage), so the model applies to any series, also ones it never saw. A series with fewer history rows than a
candidate's order gets the naive forecast from that candidate. numpy throughout; nothing here imports torch.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field

from autofast.data.frequency import Frequency, infer_frequency, parse_dates, step_dates
from autofast.data.panel import PanelData
from autofast.data.timeseries import SeriesData
from autofast.errors import AutofastError
from autofast.io import write_json_atomic
from autofast.kernels.ar_grid import ARBackend, get_backend

from .autoar import (LOCAL_FORECASTERS, MODEL_KINDS, SHRINK_WEIGHTS, ChosenModel, naive_model,
                     shrink_toward_naive)
from .defaults import UNKNOWN_HORIZON, despiked
from .grid import CandidateGrid, grid_from_moments
from .intervals import (Levels, coverage_between, floor_point, floor_positive, halfwidths, interval_columns,
                        interval_score, never_negative)
from .seasonal import Transform, forward, inverse, is_seasonal, series_factors
from .theta import auto_theta_panel, theta_panel

#: the per-series Theta of a panel: "auto", the best of the four Theta models per series (since 2026-12-06:
#: M1 / M3 yearly and quarterly 1-4% lower MASE, bench/README.md); "standard" in a model.json from before
THETA_VARIANTS = {"auto": auto_theta_panel, "standard": theta_panel}
#: with the per-series models on, a single model (the AR alone, the naive or seasonal naive forecast) is chosen
#: over the mean of the AR pick, Theta and the damped trend only where its validation MASE is below this fraction
#: of the mean's (the best of each over the transforms): on the M1 and Tourism groups such models were ahead of
#: the mean on validation by up to 9% (M1 monthly: 1.926 vs 2.114) and behind it on the official test rows
#: (1.122 vs 1.089; docs/forecast.md); on panels of one stationary AR(2) (tests/test_forecast_panel.py) the AR alone
#: was 11-13% ahead on validation and 8-14% on test
SINGLE_MODEL_MARGIN = 0.9
#: validation over fewer series than this (a single series forecast as a panel of one: one window of H rows) is too
#: noisy to choose the seasonal adjustment or a single model by: there M4's seasonality test adjusts each series
#: that passes it (as M4's benchmarks and statsforecast's Theta do), only the log is chosen on validation, the mean
#: with the per-series models stands, and the AR is differenced at most once. Measured on single series of M1,
#: Tourism and M3 (300 drawn per group, 1 989 in all): MASE geometric mean 5% lower than selecting both (9 of 10
#: groups lower, none higher; M1 monthly 1.185 -> 1.109, M3 monthly 0.903 -> 0.818, Tourism quarterly 1.701 ->
#: 1.538), where the single models alone were chosen on 18-42% of the series, the naive forecast mostly. d <= 1:
#: on 35 hourly segments of 226 rows of ETTh1 at 24 steps an AR with d = 2 joined the mean on 12 and scored 2.54
#: MASE there (the seasonal naive 1.29); without d = 2 the 35 scored 1.064, with it 1.466. The largest order is not
#: cut to what one short series can fit (then Theta and the damped trend compete without the AR): cut to half the
#: rows before the two horizons, the AR joined the mean and the 4 871 competition series scored 1.580 mean MASE
#: instead of 1.508 (yearly 7-13% worse, M1 quarterly 2% better)
FEW_SERIES = 20
MAX_PANEL_ORDER = 48  # largest AR order of a global model (orders up to 48 helped Tourism's monthly panel)
_WINDOW_BLOCK = 1 << 18  # windows per Gram update (memory: block x (P + 2) floats, 100 MB at P = 48)


class PanelConfig(BaseModel):
    """What a panel search tries. ``horizon``, ``max_order`` and ``season`` left None are sized from the data
    (:func:`resolve_panel`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizon: int | None = Field(None, ge=1, description="steps ahead (None: M4's horizon for the dates' frequency)")
    max_order: int | None = Field(None, ge=1, description="largest AR order (None: sized from the series' lengths)")
    min_order: int = Field(1, ge=1)
    diff_orders: list[int] = Field(default=[0, 1, 2], min_length=1)
    intercept: str = Field("both", pattern="^(both|yes|no)$")
    season: int | None = Field(None, ge=1, description="season of the seasonal naive (None: from the dates)")
    naive: bool = True
    shrink: bool = True
    theta: bool = Field(True, description="the mean of the AR pick and the per-series Theta and damped trend, "
                                          "unless a single model is clearly ahead (SINGLE_MODEL_MARGIN); False: "
                                          "the AR and naive candidates alone")
    transforms: bool = Field(True, description="also try the log (every value positive) and M4's seasonal "
                                                "adjustment (season > 1), selected on validation")
    levels: Levels = Field(default=[80, 95], description="prediction interval levels in percent")
    backend: str = Field("auto", pattern="^(auto|reference|numba|triton)$")


@dataclass(frozen=True)
class PanelModel:
    """The chosen global forecaster: level-AR coefficients on per-series standardised values."""

    chosen: ChosenModel
    horizon: int
    frequency: str | None = None
    id_column: str | None = "unique_id"  # None: a single series forecast as a panel of one (:mod:`.short`)
    date_column: str | None = None
    value_column: str = "y"
    transform: Transform = Transform()
    season: int = 1
    #: per level, the prediction intervals' half-widths ``(H,)`` in units of each series' MASE scale
    #: (:func:`mase_scale` of the history forecast from); empty in a model.json from before the intervals
    halfwidths: dict[int, list[float]] = field(default_factory=dict)
    #: which per-series Theta a "theta" part runs (:data:`THETA_VARIANTS`)
    theta: str = "auto"
    #: the lag of the MASE scale the half-widths are in units of (0: the season): 1 where the validation histories
    #: were a season long or shorter, so their errors were scaled by the one-step differences (:func:`mase_scale`),
    #: and a longer history's seasonal ones would stretch the intervals by another unit
    scale_lag: int = 0

    FORMAT = "autofast-forecast-panel/1"

    def __repr__(self) -> str:
        return (f"PanelModel({self.chosen.label} on {self.transform.label}, H={self.horizon}, "
                f"{self.frequency or 'no frequency'}; columns {self.id_column}/{self.date_column}/{self.value_column})")

    def predict(self, history, horizon: int | None = None, intervals: bool = False):
        """Forecasts of the ``horizon`` (default: the model's) rows after each series in ``history``: a list of
        ``(n_i,)`` arrays (own units, oldest first) -> ``(S, H)`` float64 in each series' units; a long-format
        table (a DataFrame or CSV path with the run's id / date / value columns, as ``predict`` reads it) -> the
        table of :func:`next_frame` (id, dates, forecasts; ``intervals``: the bands too). A panel of one
        (``id_column`` None, one series forecast alone) also takes that series' newer rows as one history -- a
        ``(T,)`` or ``(T, 1)`` array, a pandas Series, a DataFrame or CSV path with its value column -- and then
        gives ``(H, 1)``, as :meth:`ForecastModel.predict <autofast.forecast.model.ForecastModel.predict>` does."""
        if self.id_column is None and not _series_list(history):
            return self.predict([self.one_series(history).values[:, 0]], horizon)[0][:, None]
        if not _series_list(history):
            if isinstance(history, (str, Path)) or type(history).__name__ == "DataFrame":
                return next_frame(self.read_panel(history), self, horizon, intervals=intervals)
            raise AutofastError(f"history: got {type(history).__name__}; give a list of 1-D arrays (one per series) "
                                f"or a long-format table (DataFrame or CSV path) with columns {self.id_column!r}, "
                                f"{self.date_column!r}, {self.value_column!r}")
        return forecast_series([np.asarray(h, dtype=np.float64) for h in history], self.chosen,
                               horizon or self.horizon, self.transform, self.season, theta=self.theta)

    def read_panel(self, data) -> PanelData:
        """A long-format DataFrame or CSV path with this model's id / date / value columns as a panel."""
        from autofast.data.panel import API_HINTS, frame_panel, load_panel

        if isinstance(data, (str, Path)):
            return load_panel(data, self.id_column, self.date_column, self.value_column, API_HINTS)
        return frame_panel(data, self.id_column, self.date_column, self.value_column)

    def one_series(self, data) -> "SeriesData":
        """A panel of one's newer rows read as :func:`autofast.forecast` reads one series: a ``(T,)`` / ``(T, 1)``
        array, a pandas Series (any name), a DataFrame or CSV path with the run's value (and date) column; at
        least :data:`~autofast.forecast.short.MIN_FIT_ROWS` rows, else one error line."""
        from .api import series_data
        from .short import check_history

        kind = type(data).__name__ if type(data).__module__.startswith("pandas") else ""
        if kind == "Series":
            data = data.rename(self.value_column)  # one series: its own name does not matter
        table = kind == "DataFrame" or isinstance(data, (str, Path))  # the run's date column, by name
        series, _ = series_data(data, columns=[self.value_column], date_column=self.date_column if table else None)
        check_history(series.length, series.source)
        return series

    def too_short(self, history) -> list[int]:
        """Indices of the series in ``history`` too short for the chosen level AR's order (after differencing):
        their AR part is their last value (the naive forecast; :func:`_forecasts`)."""
        if not any(k not in LOCAL_FORECASTERS and k != "theta" for k in self.chosen.kind.split("+")):
            return []
        psi = np.asarray(self.chosen.psi)
        order = int(np.flatnonzero(psi).max()) + 1 if np.any(psi) else 1
        return [i for i, h in enumerate(history) if len(h) - self.chosen.d < order]

    def bands(self, history, point: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{level: (lo, hi)}`` ``(S, H)`` around the forecasts ``point`` after each series of ``history``: the
        half-widths times each history's MASE scale (NaN beyond the model's horizon); lower bounds floored at 0
        for a positive history."""
        hists = [np.asarray(h, dtype=np.float64) for h in history]
        lag = self.scale_lag or self.season
        scale = np.array([mase_scale(despiked(h, self.season), lag) if len(h) > 1 else np.nan  # 1 row: no scale,
                          for h in hists])
        positive = np.array([bool(never_negative(h)) for h in hists])[:, None]
        out = {}
        for level, hw in sorted(self.halfwidths.items()):
            w = np.full(point.shape[1], np.nan)
            w[: min(len(hw), len(w))] = hw[: len(w)]
            half = scale[:, None] * w[None, :]  # no interval (NaN), not one of zero width
            out[level] = (floor_positive(point - half, positive, point), point + half)
        return out

    def to_dict(self) -> dict:
        return {"format": self.FORMAT, "horizon": self.horizon, "frequency": self.frequency,
                "id_column": self.id_column, "date_column": self.date_column, "value_column": self.value_column,
                "transform": asdict(self.transform), "season": self.season, "chosen": asdict(self.chosen),
                "halfwidths": {str(k): list(v) for k, v in sorted(self.halfwidths.items())}, "theta": self.theta,
                "scale_lag": self.scale_lag}

    def save(self, folder: Path) -> Path:
        from .model import FILE

        path = Path(folder) / FILE
        write_json_atomic(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, d: dict, path: Path) -> "PanelModel":
        try:
            names = {f.name for f in fields(ChosenModel)}
            chosen = ChosenModel(**{k: v for k, v in d["chosen"].items() if k in names})
            if not (chosen.psi and all(map(math.isfinite, chosen.psi)) and math.isfinite(chosen.c)
                    and chosen.kind in MODEL_KINDS
                    and isinstance(d["horizon"], int) and d["horizon"] >= 1):
                raise ValueError("inconsistent values")
            tf = Transform(**{k: bool(v) for k, v in d.get("transform", {}).items() if k in ("log", "deseason")})
            season = int(d.get("season", 1))
            if season < 1:
                raise ValueError(f"season {season}")
            halfwidths = {int(k): [float("nan") if x is None else float(x) for x in v]  # null: too few errors
                          for k, v in d.get("halfwidths", {}).items()}
            theta = d.get("theta", "standard")
            if theta not in THETA_VARIANTS:
                raise ValueError(f"theta {theta!r}")
            if not all(0 < k < 100 and len(v) == d["horizon"] and all(not x < 0 for x in v)
                       for k, v in halfwidths.items()):
                raise ValueError("interval half-widths")
            id_column = None if d["id_column"] is None else str(d["id_column"])  # None: a panel of one series
            scale_lag = int(d.get("scale_lag", 0))
            if scale_lag < 0:
                raise ValueError(f"scale_lag {scale_lag}")
            return cls(chosen, int(d["horizon"]), d.get("frequency"), id_column, d.get("date_column"),
                       str(d["value_column"]), tf, season, halfwidths, theta, scale_lag)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AutofastError(f"{path}: not a readable panel forecast model ({str(exc).splitlines()[0][:120]}); "
                                "rerun forecast to write it again") from None


@dataclass
class PanelResult:
    """A finished panel run (what ``autofast.forecast(long_frame)`` returns). ``test``: per method (``"Auto-AR"``,
    ``"naive"``, ``"seasonal naive"``) the means over the tested series of MASE, sMAPE and MSE on the
    standardised scale; :meth:`next` the rows after every series; :meth:`predict` the model on newer data."""

    config: PanelConfig  # resolved: horizon, max_order, season set
    frequency: Frequency | None
    sized_from_data: dict[str, str]
    chosen: ChosenModel  # selected on validation (its coefficients: the validation-stage fit)
    test: dict[str, dict[str, float]]  # method -> {"mse", "mase", "smape"}
    per_series: dict[str, np.ndarray] = field(repr=False)  # "mse", "mase", "smape" (S,) of the chosen, NaN untested
    candidates: int = 0
    validation_series: int = 0
    tested: np.ndarray = field(default=None, repr=False)  # (S,) bool
    model: PanelModel = field(default=None, repr=False)  # refitted on all rows
    timings: dict[str, float] = field(default_factory=dict)
    panel: PanelData = field(default=None, repr=False)
    test_model: ChosenModel = field(default=None, repr=False)  # the choice refitted on rows [0, n - H)
    next_values: np.ndarray = field(default=None, repr=False)  # (S, H): the final model after every series
    #: the validation MASE of the best mean with the per-series models ("mean") and of the best single model
    #: ("single": the AR alone or a naive forecast), each with its label, where there was one; as text, the few-series
    #: rule where it applied ("rule") and how many series M4's test adjusted ("seasonal adjustment")
    selection: dict[str, dict] = field(default_factory=dict)
    #: why a single series was forecast as a panel of one (:mod:`.short`); None for a panel
    reason: str | None = None

    @property
    def transform(self) -> Transform:
        """The transform the chosen model was selected and fitted under."""
        return self.model.transform

    @property
    def horizons(self) -> list[int]:
        """``[H]``: the one horizon (a :class:`~autofast.forecast.api.Forecast` may have several)."""
        return [self.config.horizon]

    @property
    def test_mse(self) -> dict[int, float]:
        """``{H: the chosen model's test MSE}`` on the standardised scale, as ``Forecast.test_mse``."""
        return {self.config.horizon: self.test["Auto-AR"]["mse"]}

    @property
    def seasonal_naive_mse(self) -> dict[int, float]:
        """``{H: the (seasonal) naive forecast's test MSE}`` on the same rows, the floor to beat, as
        ``Forecast.seasonal_naive_mse``."""
        naive = self.test.get("seasonal naive") or self.test["naive"]
        return {self.config.horizon: naive["mse"]}

    def next(self, horizon: int | None = None, intervals: bool = False):
        """The ``horizon`` (default: the run's) rows after every series: a long-format DataFrame (id, date or
        step, value) in each series' units (:func:`next_frame`); with ``intervals``, the 80% and 95% prediction
        intervals too (``{value}-lo-80``, ...)."""
        if horizon in (None, self.model.horizon):
            return next_frame(self.panel, self.model, values=self.next_values, intervals=intervals)
        return next_frame(self.panel, self.model, horizon, intervals=intervals)

    def predict(self, data, horizon: int | None = None, intervals: bool = False):
        """The model (refitted on every row, no new search) after each series of ``data``, a long-format
        DataFrame or CSV path with this run's id / date / value columns (a panel of one: the series' newer rows,
        as :func:`autofast.forecast` reads one series): a DataFrame as :meth:`next`'s."""
        m = self.model
        if m.id_column is None:  # a panel of one: newer rows of the one series
            from .short import panel_of_one

            return next_frame(panel_of_one(m.one_series(data)), m, horizon, intervals=intervals)
        return next_frame(m.read_panel(data), m, horizon, intervals=intervals)

    @property
    def per_series_frame(self):
        """Each series' test errors (NaN where untested) as a DataFrame indexed by id."""
        import pandas as pd

        return pd.DataFrame({"rows": self.panel.lengths, "tested": self.tested, **self.per_series},
                            index=pd.Index(self.panel.ids, name=self.panel.id_column or "series"))


def standardise(x: np.ndarray) -> tuple[np.ndarray, float, float]:
    """``((x - mean) / std, mean, std)``; a constant series keeps std 1."""
    mean = float(x.mean())
    std = float(x.std())
    if not std > 1e-12 * (1.0 + abs(mean)):
        std = 1.0
    return (x - mean) / std, mean, std


def panel_grid(hists: list[np.ndarray], orders: tuple[int, int], diff_orders: list[int], intercepts: list[bool],
               backend: ARBackend) -> CandidateGrid | None:
    """Every candidate fitted on all series at once: for each d, the Gram matrix of the windows of every series'
    d-times differenced values (``hists``: standardised, ``(n_i,)`` each) with ``P_d + 1`` rows, ``P_d`` the
    largest order some series can fill (at most ``orders[1]``), gives every order (nested Cholesky; every order
    on the same windows -- fitting the small orders on the short series' windows too was tried and lost on the
    yearly development sets, M1 3.32 -> 3.61 MASE); None when no series is long enough."""
    parts = []
    longest = max(len(h) for h in hists)
    for d in diff_orders:
        P = min(orders[1], longest - d - 1)
        if P < orders[0]:
            continue
        mom = np.zeros((1, P + 2, P + 2))
        nobs, rows, block = 0, 0, []

        def flush() -> None:
            if block:
                W = np.concatenate(block)
                V = np.concatenate([np.ones((len(W), 1)), W], axis=1)
                mom[0] += V.T @ V
                block.clear()

        for h in hists:
            w = np.diff(h, n=d) if d else h
            if len(w) <= P:
                continue
            win = sliding_window_view(w, P + 1)  # oldest lag first, the target last
            block.append(win)
            rows += len(win)
            nobs += len(win)
            if rows >= _WINDOW_BLOCK:
                flush()
                rows = 0
        flush()
        if nobs > P + 1:
            parts += grid_from_moments(mom, orders[0], P, d, intercepts, nobs, backend)
    return CandidateGrid.concat(parts) if parts else None


def _lags(hists: list[np.ndarray], Q: int) -> tuple[np.ndarray, np.ndarray]:
    """``(S, Q)`` lag-1-first last values of each history (zero where it is shorter) and the lengths ``(S,)``."""
    out = np.zeros((len(hists), Q))
    for i, h in enumerate(hists):
        k = min(Q, len(h))
        out[i, :k] = h[::-1][:k]
    return out, np.array([len(h) for h in hists])


def _forecasts(psi: np.ndarray, c: np.ndarray, lags: np.ndarray, lengths: np.ndarray, H: int,
               backend: ARBackend) -> np.ndarray:
    """``(B, S, H)`` forecasts of ``B`` level ARs (``psi (B, Q)`` lag order, ``c (B,)``) from each series' lags;
    a series with fewer rows than a model's order gets its last value (the naive forecast)."""
    order = np.array([int(np.flatnonzero(p).max()) + 1 if np.any(p) else 1 for p in psi])
    M = backend.to_numpy(backend.ar_forecast_weights(backend.asarray(psi), backend.asarray(c), H,
                                                     order=backend.asarray(order)))  # (B, Q + 1, H)
    Q = psi.shape[1]
    fc = M[:, None, 0, :] + np.matmul(lags[None, :, :Q], M[:, 1:, :])  # (B, S, H), one GEMM per model
    short = lengths[None, :] < order[:, None]  # (B, S)
    fc[short] = lags[np.nonzero(short)[1], 0][:, None]
    return fc


@dataclass
class Stage:
    """One stage's histories (each series' rows before its forecast origin) as the model sees them: isolated spikes
    replaced (:func:`~autofast.forecast.defaults.despiked`; ``clean=False``: as they are), transformed
    (:mod:`.seasonal`) and standardised with their own mean and std; ``factors`` / ``offsets`` ``(S, H)`` the
    seasonal adjustment of the forecast rows, ``mscale`` ``(S,)`` each history's MASE scale so cleaned (0: left out
    of scores), the unit of the interval half-widths."""

    z: list[np.ndarray]
    mean: np.ndarray
    std: np.ndarray
    factors: np.ndarray
    offsets: np.ndarray
    mscale: np.ndarray
    transform: Transform

    @classmethod
    def build(cls, hists: list[np.ndarray], tf: Transform, season: int, H: int, clean: bool = True) -> "Stage":
        z, mean, std, fut, off, msc = [], [], [], [], [], []
        for h in hists:
            h = despiked(h, season) if clean else h
            sa = series_factors(h, season, tf, H)
            zz, mu, sd = standardise(forward(h, sa.factors, tf, sa.offsets))
            z.append(zz), mean.append(mu), std.append(sd), msc.append(mase_scale(h, season))
            fut.append(sa.next_factors), off.append(sa.next_offsets)
        S = len(hists)
        return cls(z, np.array(mean), np.array(std), np.array(fut).reshape(S, H), np.array(off).reshape(S, H),
                   np.array(msc), tf)

    def to_units(self, fc: np.ndarray) -> np.ndarray:
        """``(..., S, H)`` standardised forecasts -> the series' units."""
        return inverse(fc * self.std[:, None] + self.mean[:, None], self.factors, self.transform, self.offsets)


def _mase(stage: Stage, fc: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Mean MASE ``(B,)`` over the series with a non-zero MASE scale of standardised forecasts ``fc (B, S, H)``
    mapped back to the series' units, against ``targets`` ``(S, H)`` (same units)."""
    keep = stage.mscale > 0
    if not keep.any():  # no series with a history to scale by (all constant or a row long): nothing to compare
        return np.full(fc.shape[0], np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        err = np.abs(stage.to_units(fc) - targets[None]).mean(axis=2)[:, keep] / stage.mscale[keep][None]
        out = err.mean(axis=1)
    return np.where(np.isfinite(out), out, np.inf)


def _scores(psi: np.ndarray, c: np.ndarray, stage: Stage, lags, lengths, targets: np.ndarray, backend,
            block_values: int = 1 << 22) -> np.ndarray:
    """:func:`_mase` of level ARs ``psi (B, Q)``, ``c (B,)``, in blocks of models of at most ``block_values``
    forecasts (models x series x steps; 32 MiB of float64 per copy)."""
    out = np.empty(psi.shape[0])
    block = max(1, block_values // max(1, targets.size))
    for b0 in range(0, len(out), block):
        out[b0 : b0 + block] = _mase(stage, _forecasts(psi[b0 : b0 + block], c[b0 : b0 + block], lags, lengths,
                                                       targets.shape[1], backend), targets)
    return out


def _naive_psi(season: int) -> np.ndarray:
    return np.array(naive_model(0, season, 0.0).psi)


def forecast_series(hists: list[np.ndarray], chosen: ChosenModel, H: int, tf: Transform = Transform(),
                    season: int = 1, backend: ARBackend | None = None, theta: str = "auto") -> np.ndarray:
    """``(S, H)`` forecasts after each history in its own units: transformed and standardised by its own
    statistics (:class:`Stage`), the chosen model (level AR applied recursively, per-series parts fitted on each
    history, ``theta`` the Theta variant) mapped back; at least 0 after a history never below 0
    (:func:`~autofast.forecast.intervals.floor_point`)."""
    backend = backend or get_backend("auto", "cpu")
    if any(len(h) == 0 for h in hists):
        raise AutofastError("a series has no rows to forecast from")
    if tf.log and any(np.any(h <= 0) for h in hists):
        raise AutofastError("the model forecasts logs; every value must be positive")
    stage = Stage.build(hists, tf, season, H)
    return floor_point(stage.to_units(_model_forecasts(stage, chosen, H, backend, theta=theta)), hists)


def local_forecasters(theta: str = "auto") -> dict:
    """The per-series forecasters of a panel: :data:`~autofast.forecast.autoar.LOCAL_FORECASTERS` with the
    ``theta`` variant (:data:`THETA_VARIANTS`) as "theta"."""
    return {**LOCAL_FORECASTERS, "theta": THETA_VARIANTS[theta]}


def _model_forecasts(stage: Stage, chosen: ChosenModel, H: int, backend, local: dict | None = None,
                     theta: str = "auto") -> np.ndarray:
    """``(S, H)`` standardised forecasts of a chosen model: its level AR (naive forecasts too), the per-series
    Theta (``theta`` variant), the damped trend (:func:`local_forecasters`), or the mean of several (``kind``
    "+"-joined); ``local``: those per-series forecasts of this stage where already computed."""
    local, parts, fits = local or {}, [], local_forecasters(theta)
    for k in chosen.kind.split("+"):
        if k in fits:
            parts.append(local[k] if k in local else fits[k](stage.z, H))
        else:  # "ar", "naive", "seasonal naive": a level AR
            lags, lengths = _lags(stage.z, len(chosen.psi))
            parts.append(_forecasts(np.array([chosen.psi]), np.array([chosen.c]), lags, lengths, H, backend)[0])
    return np.mean(parts, axis=0)


def _refit(hists: list[np.ndarray], chosen: ChosenModel, backend) -> ChosenModel:
    """The chosen candidate's (p, d, const) fitted again on ``hists`` (standardised), with its shrinkage; the
    naive forecasts are returned as they are."""
    if not chosen.kind.startswith("ar"):
        return chosen
    grid = panel_grid(hists, (chosen.p, chosen.p), [chosen.d], [chosen.intercept], backend)
    if grid is None:
        return chosen
    q = chosen.p + chosen.d
    psi, c = grid.psi[0, :q], float(grid.intercept[0])
    if chosen.shrink:
        psi, c = shrink_toward_naive(psi, c, chosen.shrink)
    return ChosenModel(0, chosen.p, chosen.d, chosen.intercept, chosen.selection_score, list(map(float, psi)), c,
                       bool(grid.regularised[0]), chosen.kind, chosen.shrink)


def mase_scale(x: np.ndarray, season: int) -> float:
    """M4's MASE denominator: the mean absolute in-sample seasonal difference (lag ``season``, 1 when the series is
    shorter than two seasons); 0 for a constant history."""
    m = season if len(x) > season else 1
    return float(np.mean(np.abs(x[m:] - x[:-m]))) if len(x) > m else 0.0


def error_table(hists: list[np.ndarray], targets: list[np.ndarray], fc: np.ndarray, season: int
                ) -> dict[str, np.ndarray]:
    """Per series: MSE on the history's standardised scale, MASE and sMAPE (percent) of ``fc (S, H)``."""
    S = len(hists)
    out = {k: np.full(S, np.nan) for k in ("mse", "mase", "smape")}
    for i, (h, t) in enumerate(zip(hists, targets)):
        _, _, std = standardise(h)
        err = fc[i] - t
        out["mse"][i] = float(np.mean((err / std) ** 2))
        scale = mase_scale(h, season)
        out["mase"][i] = float(np.mean(np.abs(err)) / scale) if scale > 0 else np.nan
        denom = np.abs(t) + np.abs(fc[i])
        if (denom > 0).any():  # 0 / 0 (zero forecast of zero) is undefined, not a perfect 0%: left out
            out["smape"][i] = float(np.mean(200.0 * np.abs(err[denom > 0]) / denom[denom > 0]))
    return out


def naive_series_note(ids: list[str]) -> str:
    """The line naming the series forecast by their last value (:meth:`PanelModel.too_short`), for the run and
    ``predict``."""
    more = ", ..." if len(ids) > 10 else ""
    return (f"{len(ids)} series shorter than the model's AR order forecast by their last value (the naive forecast): "
            f"{', '.join(ids[:10])}{more}")


def _ended_early(panel: PanelData, H: int) -> list[str]:
    """The ids of series whose last date lies more than ``H`` steps (the longest series' median step) before the
    panel's last date: a store closed in 2020 is forecast for 2020-2021 while the panel runs to 2022."""
    if panel.dates is None:
        return []
    last = parse_dates(np.array([str(d[-1]) for d in panel.dates if len(d)]))
    longest = panel.dates[int(np.argmax(panel.lengths))]
    stamps = parse_dates(np.asarray(longest)) if len(longest) > 1 else None
    if last is None or stamps is None:
        return []
    step = np.median(np.diff(stamps))
    ids = [i for i, d in zip(panel.ids, panel.dates) if len(d)]
    return [i for i, t in zip(ids, last) if t < last.max() - H * step]


def few_series(lengths: np.ndarray, horizon: int) -> bool:
    """Whether fewer than :data:`FEW_SERIES` series are long enough to validate at ``horizon`` (more than 2H rows):
    the rule :func:`resolve_panel` sizes by and :func:`run_panel` selects by."""
    return int((np.asarray(lengths) > 2 * horizon).sum()) < FEW_SERIES


def resolve_panel(cfg: PanelConfig, panel: PanelData) -> tuple[PanelConfig, Frequency | None, dict[str, str]]:
    """Fill ``horizon``, ``max_order`` and ``season`` left None: the horizon is M4's for the dates' frequency (read
    from the longest series; 96 without one), at most half a median series; the largest order reaches what the
    longer series can estimate -- the 75th percentile of the lengths less the two held-out horizons, at least a
    season + 1, at most :data:`MAX_PANEL_ORDER`; the season is the frequency's where a median series' history
    holds two."""
    lengths = panel.lengths
    longest = int(np.argmax(lengths))
    freq = infer_frequency(panel.dates[longest]) if panel.dates is not None else None
    med = int(np.median(lengths))
    notes = {}
    odd = other_frequency(panel, freq)
    if odd:
        notes["frequency"] = frequency_note(odd, freq)
    H = cfg.horizon
    if H is None:
        base = freq.horizon if freq else UNKNOWN_HORIZON
        cap = max(1, (med - 1) // 2)
        H = min(base, cap)
        why = f"M4's horizon for {freq.name} data" if freq else "no recognised date frequency: 96"
        notes["horizon"] = f"{H} ({why}" + (f", capped at half the median series of {med} rows)" if base > cap else ")")
    fit = lengths[lengths > 2 * H]  # the series the validation uses (a 1-row series moved the median)
    few = few_series(lengths, H)
    held = int(np.median(fit)) - 2 * H if len(fit) else 0  # a median validated series' rows before the horizons
    season = cfg.season
    if season is None:
        m = freq.season if freq else 1
        # few series (a panel of one): the season stays where the series hold three, for the seasonal adjustment
        # of the refits on longer histories (M4's test needs three seasons), though the validation holds fewer
        whole = few and med >= 3 * m and held < 2 * m
        season = m if m > 1 and (held >= 2 * m or whole) else 1
        notes["season"] = f"{season} (" + (f"{freq.name} dates" + (
                                              f"; the validation history holds {held} rows, fewer than two seasons: "
                                              "the series' seasonal adjustment applies where it holds three"
                                              if whole else "") + ")" if season > 1 else
                                          f"none: {freq.name} dates" + (
                                              f", the median series fitted on holds {held} rows before its two "
                                              f"held-out horizons, fewer than two seasons" if m > 1 else "") + ")"
                                          if freq else
                                          "none: no recognised date frequency)")
    P = cfg.max_order
    if P is None:
        q75 = int(np.percentile(lengths, 75))
        P = max(cfg.min_order, season + 1, min(MAX_PANEL_ORDER, q75 - 2 * H))
        notes["max_order"] = f"{P} (the 75th percentile of the series' lengths, {q75}, less two horizons; at least " \
                             f"a season + 1, at most {MAX_PANEL_ORDER})"
        if few and P > (held - 4) // 2:  # too few windows for the AR: said, not capped (measured, FEW_SERIES)
            notes["max_order"] += (f"; with {held} rows before the two held-out horizons too few windows to fit an AR "
                                   f"of that order: Theta, the damped trend and the naive forecasts compete "
                                   f"(--max-order {max(1, (held - 4) // 2)} would fit one)")
    if panel.filled:
        first = next(iter(panel.filled))
        n = sum(panel.filled.values())
        notes["missing dates"] = (f"{n} row{'s' * (n != 1)} added in {len(panel.filled)} series where the dates "
                                  f"skip steps (first: {first!r}), linearly interpolated")
    ended = _ended_early(panel, H)
    if ended:
        notes["series ended early"] = (f"{len(ended)} series end over {H} steps before the panel's last date (e.g. "
                                       f"{ended[0]!r}): their forecasts follow their own last date")
    if int(lengths.max()) <= 2 * H:
        raise AutofastError(f"{panel.source}: no series has more than {2 * H} rows, the two horizons held out (the "
                            f"longest has {int(lengths.max())}); lower the horizon")
    diffs = cfg.diff_orders
    if few and "diff_orders" not in cfg.model_fields_set and max(diffs) > 1:  # FEW_SERIES
        diffs = [d for d in diffs if d <= 1]
        notes["diff_orders"] = (", ".join(map(str, diffs)) + f" (fewer than {FEW_SERIES} series: a twice-differenced "
                                "AR chosen on so few windows extrapolates a curve)")
    spiky = [i for i, v in enumerate(panel.values) if despiked(v, season) is not v]
    if spiky:
        which = "the series" if len(panel.values) == 1 else f"{len(spiky)} series (e.g. {panel.ids[spiky[0]]!r})"
        notes["isolated spikes"] = (f"{which}: one-off spikes, few and not a season apart; the models fit each "
                                    "replaced by its neighbours' mean, validation and test score them as data")
    full = cfg.model_copy(update={"horizon": H, "season": season, "max_order": P, "diff_orders": diffs})
    return full, freq, {**notes, **panel.notes}


def _variants(cfg: PanelConfig, panel: PanelData, season: int, few: bool = False) -> list[Transform]:
    """The transforms tried: the levels; with ``cfg.transforms`` also the seasonal adjustment (season > 1) and
    the log (every value positive), and both. ``few`` validating series (:data:`FEW_SERIES`): the seasonal
    adjustment always (each series where it passes M4's test), with and without the log."""
    out = [Transform()]
    if cfg.transforms and few:
        out = [Transform(deseason=season > 1)]
        if all(np.all(v > 0) for v in panel.values):
            out.append(Transform(log=True, deseason=season > 1))
    elif cfg.transforms:
        if season > 1:
            out.append(Transform(deseason=True))
        if all(np.all(v > 0) for v in panel.values):
            out += [Transform(log=True)] + ([Transform(log=True, deseason=True)] if season > 1 else [])
    return out


def _interval_test(fc: np.ndarray, targets: list[np.ndarray], unit: np.ndarray, half: dict,
                   positive: np.ndarray | None = None, scale: np.ndarray | None = None) -> dict[str, float]:
    """Test coverage of each level's intervals (``fc`` ``(S, H)`` +- half-width x ``unit`` (:attr:`Stage.mscale`);
    lower bounds floored at 0 for the ``positive`` ``(S,)`` histories) over the series with a non-zero unit, and
    M4's mean scaled interval score (MSIS: the interval score over the histories' MASE ``scale`` (default
    ``unit``), mean over steps and series)."""
    scale = unit if scale is None else scale
    keep = (unit > 0) & (scale > 0)
    y, f, u, sc = np.stack(targets)[keep], fc[keep], unit[keep, None], scale[keep, None]
    pos = np.zeros((int(keep.sum()), 1), bool) if positive is None else np.asarray(positive)[keep, None]
    out = {}
    for level, hw in sorted(half.items()):
        w = hw[None, :] * u
        lo, hi = floor_positive(f - w, pos, f), f + w
        out[f"coverage_{level}"] = coverage_between(y, lo, hi)
        score = interval_score(y, lo, hi, level) / sc
        out[f"msis_{level}"] = float(np.nanmean(score)) if np.isfinite(score).any() else float("nan")
    return out


def _candidates(stage: Stage, grid: CandidateGrid | None, targets: np.ndarray, cfg: PanelConfig, backend
                ) -> tuple[list[ChosenModel], dict]:
    """One transform's candidates scored on validation (``targets`` ``(S, H)``): the AR pick of ``grid`` and it
    shrunk toward the naive forecast, the naive forecasts, and (``cfg.theta``) the mean of the pick, the per-series
    Theta and the damped trend; and those per-series forecasts (``local``, reused for the intervals)."""
    H, m = targets.shape[1], cfg.season
    lags, lengths = _lags(stage.z, max(grid.psi.shape[1] if grid is not None else 1, m))
    cands: list[ChosenModel] = []
    if grid is not None:
        crit = _scores(grid.psi, grid.intercept, stage, lags, lengths, targets, backend)
        i = int(np.argmin(crit))
        q = int(grid.order[i])
        pick = ChosenModel(0, int(grid.p[i]), int(grid.d[i]), bool(grid.has_intercept[i]), float(crit[i]),
                           list(map(float, grid.psi[i, :q])), float(grid.intercept[i]), bool(grid.regularised[i]))
        cands.append(pick)
        for w in SHRINK_WEIGHTS if cfg.shrink else ():
            psi, c = shrink_toward_naive(np.array(pick.psi), pick.c, w)
            s = float(_scores(psi[None], np.array([c]), stage, lags, lengths, targets, backend)[0])
            cands.append(ChosenModel(0, pick.p, pick.d, pick.intercept, s, list(map(float, psi)), c,
                                     pick.regularised, shrink=w))
    if cfg.naive or grid is None:
        for season in sorted({1, m}):
            s = float(_scores(_naive_psi(season)[None], np.zeros(1), stage, lags, lengths, targets, backend)[0])
            cands.append(naive_model(0, season, s))
    local = {}
    if cfg.theta:  # the mean of the AR pick, the per-series Theta and the damped trend
        local = {k: fn(stage.z, H) for k, fn in local_forecasters().items()}
        kind = "theta+damped"
        if grid is not None:
            local["ar"] = _forecasts(np.array([pick.psi]), np.array([pick.c]), lags, lengths, H, backend)[0]
            kind = "ar+theta+damped"
        s = float(_mase(stage, np.mean([local[k] for k in kind.split("+")], axis=0)[None], targets)[0])
        cands.append(ChosenModel(0, pick.p, pick.d, pick.intercept, s, pick.psi, pick.c, pick.regularised, kind)
                     if grid is not None else ChosenModel(0, 0, 0, False, s, [1.0], 0.0, kind=kind))
    return cands, local


#: validation errors per step the intervals want; where fewer series validate (a panel of one), forecasts from
#: earlier origins of each series add theirs (:func:`_earlier_origin_errors`)
INTERVAL_ERRORS = 20
MIN_ORIGIN_ROWS = 2


def _earlier_origin_errors(panel: PanelData, val: np.ndarray, scales: np.ndarray, chosen: ChosenModel, tf: Transform,
                           m: int, H: int, backend, count: int) -> np.ndarray:
    """Errors ``(k, H)`` of the validation choice (its validation-stage fit, so the AR part is in-sample there and
    the intervals a little narrow; Theta and the damped trend fitted on each origin's rows) forecasting from the
    ``count // len(val)`` or so origins before each validated series' ``n - 2H``, one step apart, each with at least
    half the validation stage's rows (and :data:`MIN_ORIGIN_ROWS`) before it; over ``scales`` ``(len(val),)``, the
    MASE scale of each series' validation-stage history (:attr:`Stage.mscale`), the one unit for all its origins
    (each origin's own scale jumped where a spike entered it, and the intervals with it)."""
    per = -(-count // max(len(val), 1))
    hists, tgts, unit = [], [], []
    for i, scale in zip(val, scales):
        y = panel.values[i]
        n = len(y)
        if not scale > 0:
            continue
        for o in range(n - 2 * H - 1, max(MIN_ORIGIN_ROWS, (n - 2 * H) // 2, n - 2 * H - 1 - per), -1):
            hists.append(y[:o])
            tgts.append(y[o : o + H])
            unit.append(scale)
    if not hists:
        return np.empty((0, H))
    stage = Stage.build(hists, tf, m, H)
    fc = stage.to_units(_model_forecasts(stage, chosen, H, backend))
    with np.errstate(invalid="ignore", over="ignore"):
        return (fc - np.stack(tgts)) / np.array(unit)[:, None]


def run_panel(panel: PanelData, cfg: PanelConfig, progress=None) -> PanelResult:
    """The whole panel protocol (module docstring) on ``panel``."""
    import time

    say = progress or (lambda msg: None)
    cfg, freq, notes = resolve_panel(cfg, panel)
    if notes:
        say("sized from the data: " + "; ".join(f"{k.replace('_', ' ')} {v}" for k, v in notes.items()))
    H, m = cfg.horizon, cfg.season
    backend = get_backend(cfg.backend, "cpu" if cfg.backend != "triton" else "auto")
    intercepts = {"both": [True, False], "yes": [True], "no": [False]}[cfg.intercept]
    n = panel.lengths
    timings = {"fit": 0.0, "select": 0.0}
    # 1. validation: fit on [0, n - 2H), forecast [n - 2H, n - H), per transform
    val = np.flatnonzero(n > 2 * H)
    hists = [panel.values[i][: n[i] - 2 * H] for i in val]
    targets = np.stack([panel.values[i][n[i] - 2 * H : n[i] - H] for i in val])
    few = few_series(n, H)  # too few windows to choose the adjustment or a single model by
    variants = _variants(cfg, panel, m, few)
    say(f"fitting the global lag grid: orders {cfg.min_order}..{cfg.max_order}, d in {cfg.diff_orders}, "
        f"{len(val)} series, {len(variants)} transform(s)")
    best: dict[bool, tuple] = {}  # is a mean with the per-series models -> (chosen, transform, stage, local)
    n_cands = 0
    for tf in variants:
        t0 = time.perf_counter()
        stage = Stage.build(hists, tf, m, H)
        grid = panel_grid(stage.z, (cfg.min_order, cfg.max_order), cfg.diff_orders, intercepts, backend)
        timings["fit"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        cands, local = _candidates(stage, grid, targets, cfg, backend)
        n_cands += len(grid) if grid is not None else 0
        for c in cands:
            mean = c.kind in ("ar+theta+damped", "theta+damped")
            if mean not in best or c.selection_score < best[mean][0].selection_score:
                best[mean] = (c, tf, stage, local)
        timings["select"] += time.perf_counter() - t0
    # a single model (the AR alone, a naive forecast) only where clearly ahead of the mean (SINGLE_MODEL_MARGIN)
    single = best.get(False)
    if True in best and (single is None or few or single[0].selection_score >= SINGLE_MODEL_MARGIN
                         * best[True][0].selection_score):
        chosen, tf, best_stage, best_local = best[True]
    else:
        chosen, tf, best_stage, best_local = single
    # M4's test over every series, only where a shown transform (the choice, the best mean or single) adjusts
    shown = [v[1] for v in (best.get(True), single) if v is not None]
    passed = sum(is_seasonal(v, m) for v in panel.values) if m > 1 and any(t.deseason for t in shown) else -1

    def named(t: Transform) -> str:  # "seasonally adjusted" where no series was: what the values were
        return t.label if passed or not t.deseason else (Transform(log=t.log).label
                                                         + " (no series passed M4's seasonality test)")

    selection = {k: {"label": f"{v[0].label} on the {named(v[1])}", "validation_mase": v[0].selection_score}
                 for k, v in (("mean", best.get(True)), ("single", single)) if v is not None}
    adjusted = ""
    if tf.deseason and m > 1:  # the label names the transform; whether a series passed M4's test is said here
        adjusted = (f"{passed} of {len(panel.values)} series pass M4's seasonality test at season {m} and are "
                    "adjusted")
        selection["seasonal adjustment"] = adjusted
    if few:
        selection["rule"] = (f"fewer than {FEW_SERIES} validating series: the mean with the per-series models stands "
                             "(no single model), the seasonal adjustment by M4's test, the AR differenced at most once")
    say(f"validation ({len(val)} series x {H} steps): chose {chosen.label} on the {named(tf)} (MASE "
        f"{chosen.selection_score:.3f})" + (f"; {adjusted}" if adjusted else ""))
    # prediction intervals: the choice's validation errors over each series' MASE scale, per step
    keep = best_stage.mscale > 0
    val_fc = best_stage.to_units(_model_forecasts(best_stage, chosen, H, backend, best_local))  # no second fit
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = (val_fc - targets)[keep] / best_stage.mscale[keep, None]
        if len(scaled) < INTERVAL_ERRORS:  # a panel of one (a few): earlier origins of the series add errors
            scaled = np.concatenate([scaled, _earlier_origin_errors(panel, val, best_stage.mscale, chosen, tf, m, H,
                                                                    backend, INTERVAL_ERRORS - len(scaled))])
        half = halfwidths(scaled, tuple(cfg.levels))  # (H,) each
    if not keep.any():  # every validated history constant: it forecasts itself, intervals of width 0
        half = {level: np.zeros(H) for level in cfg.levels}
    # the validation histories a season long or shorter: their errors are in one-step units (mase_scale), so are
    # the intervals of the longer histories tested and forecast from (a season kept for the seasonal adjustment)
    scale_lag = 1 if m > 1 and len(hists) and max(len(h) for h in hists) <= m else 0
    # 2. test: refit on [0, n - H), forecast the last H rows
    t0 = time.perf_counter()
    tested = n > H
    idx = np.flatnonzero(tested)
    hist_raw = [panel.values[i][: n[i] - H] for i in idx]
    tgt_raw = [panel.values[i][n[i] - H :] for i in idx]
    stages = {(tf, True): Stage.build(hist_raw, tf, m, H)}  # the refit and its forecasts share it
    final_t = _refit(stages[tf, True].z, chosen, backend)
    test, per_series = {}, {}
    methods = {"Auto-AR": (final_t, tf), "naive": (naive_model(0, 1, 0.0), Transform())}
    if m > 1:
        methods["seasonal naive"] = (naive_model(0, m, 0.0), Transform())
    for name, (model, mtf) in methods.items():
        key = (mtf, name == "Auto-AR")  # the benchmarks forecast from the rows as they are
        if key not in stages:
            stages[key] = Stage.build(hist_raw, mtf, m, H, clean=name == "Auto-AR")
        fc = floor_point(stages[key].to_units(_model_forecasts(stages[key], model, H, backend)), hist_raw)
        tab = error_table(hist_raw, tgt_raw, fc, m)
        test[name] = {k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan") for k, v in tab.items()}
        test[name].update({f"series_{k}": int(np.isfinite(v).sum()) for k, v in tab.items()})  # behind each mean
        if name == "Auto-AR":
            unit = (np.array([mase_scale(despiked(h, m), scale_lag) for h in hist_raw]) if scale_lag
                    else stages[key].mscale)
            test[name].update(_interval_test(fc, tgt_raw, unit, half,
                                             np.array([bool(never_negative(h)) for h in hist_raw]),
                                             np.array([mase_scale(h, scale_lag or m) for h in hist_raw])))
            for k, v in tab.items():
                per_series[k] = np.full(len(n), np.nan)
                per_series[k][idx] = v
    timings["test"] = time.perf_counter() - t0
    scored = test["Auto-AR"]["series_mase"]
    say(f"test ({len(idx)} series, their last {H} rows): MASE {test['Auto-AR']['mase']:.3f} (naive "
        f"{test['naive']['mase']:.3f})" + ("" if scored == len(idx) else
                                           f", over the {scored} series with in-sample change (MASE is undefined on "
                                           f"{len(idx) - scored} constant one(s))"))
    # 3. final: refit on every row
    stage = Stage.build(panel.values, tf, m, H)
    final = _refit(stage.z, chosen, backend)
    model = PanelModel(final, H, freq.name if freq else None, panel.id_column, panel.date_column, panel.value_column,
                       tf, m, {level: v.tolist() for level, v in half.items()}, scale_lag=scale_lag)
    # = model.predict(panel.values)
    next_values = floor_point(stage.to_units(_model_forecasts(stage, final, H, backend)), panel.values)
    return PanelResult(cfg, freq, notes, chosen, test, per_series, n_cands, len(val), tested, model, timings, panel,
                       final_t, next_values, selection)


def other_frequency(panel: PanelData, freq: Frequency | None) -> list[str]:
    """The ids of ``panel``'s series whose own dates step at another frequency than ``freq`` (the panel's, read
    from its longest series): a daily series in a weekly panel was forecast and scored beside the others without
    a word. Empty without dates or a frequency."""
    from autofast.data.frequency import frequency_of_stamps

    if panel.dates is None or freq is None:
        return []
    stamps = parse_dates(np.concatenate([np.asarray(d) for d in panel.dates]))
    if stamps is None:
        return []
    ends = np.cumsum(panel.lengths)
    own = (frequency_of_stamps(stamps[e - n : e]) for e, n in zip(ends, panel.lengths))
    return [panel.ids[i] for i, f in enumerate(own) if f is not None and f.name != freq.name]


def frequency_note(odd: list[str], freq: Frequency) -> str:
    """The run's (and predict's) note on :func:`other_frequency`'s series."""
    return (f"{len(odd)} series (e.g. {odd[0]!r}) step at another frequency than the panel's {freq.name} dates: "
            "forecast and scored by the panel's model as they are; give them their own run")


def _series_list(history) -> bool:
    """Whether ``history`` is a list (or tuple) of series, each a sequence of values, rather than one series."""
    return isinstance(history, (list, tuple)) and len(history) > 0 and all(np.ndim(h) == 1 for h in history)


def plot_panel(path: Path, res: PanelResult, n_series: int = 6) -> None:
    """A few series (evenly spaced among the tested ones, by id): their history, the test rows with the test
    forecast, and the forecast after the data, in each series' units. matplotlib's object API on the Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from autofast.io import atomic_path

    panel, H, m = res.panel, res.config.horizon, res.config.season
    tested = np.flatnonzero(res.tested)
    picks = tested[np.linspace(0, len(tested) - 1, min(n_series, len(tested))).astype(int)]
    cols = min(3, len(picks))
    rows = -(-len(picks) // cols)
    fig = Figure(figsize=(4.4 * cols, 2.6 * rows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, i in zip(axes, picks):
        y = panel.values[i]
        n = len(y)
        test_fc = forecast_series([y[: n - H]], res.test_model, H, res.transform, m)[0]
        next_fc = res.model.predict([y])[0]
        start = max(0, n - H - 4 * H)
        ax.plot(np.arange(start, n), y[start:], color="k", lw=0.9, label="data")
        ax.plot(np.arange(n - H, n), test_fc, color="tab:blue", lw=1.1, label="test forecast")
        ax.plot(np.arange(n, n + H), next_fc, color="tab:red", lw=1.1, label="next")
        ax.axvline(n - H - 0.5, color="0.7", lw=0.6)
        ax.set_title(f"{panel.ids[i]} (test MASE {res.per_series['mase'][i]:.2f})", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(picks):]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{len(panel)} series, H={H}: {res.chosen.label} on the {res.transform.label}", fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def next_frame(panel: PanelData, model: PanelModel, horizon: int | None = None, values: np.ndarray | None = None,
               intervals: bool = False):
    """The rows after each series as a long-format DataFrame: id, date (stepped by each series' dates; a step
    number 1..H without them) and the forecast value (a panel of one: ``date`` or ``step`` and the value, the
    single-series file's columns), in each series' units; ``values`` ``(S, H)``: the model's
    forecasts when already computed; with ``intervals``, the model's prediction intervals (``{value}-lo-80``,
    ``{value}-hi-80``, ...; none for a model saved without them)."""
    import pandas as pd

    fc = model.predict(panel.values, horizon) if values is None else values
    H = fc.shape[1]
    stamps = []
    freq = infer_frequency(panel.dates[int(np.argmax(panel.lengths))]) if panel.dates is not None else None
    for i in range(len(panel)):
        s = step_dates(panel.dates[i], H, freq) if panel.dates is not None else None  # 1 row: the panel's steps
        stamps.append(s if s is not None else list(range(1, H + 1)))
    if panel.id_column is None:  # a panel of one: the single-series file's columns (date or step, value, bands)
        date_name = "date" if panel.dates is not None else "step"
    else:
        date_name = panel.date_column or "step"
    cols = {panel.id_column: np.repeat(panel.ids, H)} if panel.id_column is not None else {}
    cols.update({date_name: np.concatenate(stamps), panel.value_column: fc.reshape(-1)})
    for level, (lo, hi) in (model.bands(panel.values, fc) if intervals else {}).items():
        lo_name, hi_name = interval_columns(panel.value_column, (level,))
        cols[lo_name], cols[hi_name] = lo.reshape(-1), hi.reshape(-1)
    return pd.DataFrame(cols)
