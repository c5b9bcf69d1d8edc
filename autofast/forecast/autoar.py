"""The Auto-AR pipeline: fit the grid on train, select on validation (or in-sample BIC), refit, test once.

Stages are plain functions over :class:`AutoARConfig`; ``run_autoar`` chains them and times each.
numpy throughout: on the numba backend (the CPU default) nothing imports torch.

Memory: apart from the series, every stage is bounded independently of the number of rows --
window moments ``(C, L + H + 1, L + H + 1)``, candidate scores ``(B, H)``, and a test stage that
streams the errors of the chosen model in chunks of windows (:func:`test_errors`). Forecasts of
individual test windows (for plots, files, baselines) come on demand from :func:`window_forecasts`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
from threadpoolctl import threadpool_limits

from autofast.data.timeseries import PreparedSeries, Standardizer, WindowRange, window_range
from autofast.errors import AutofastError
from autofast.kernels.ar_grid import ARBackend, get_backend

from .config import AutoARConfig
from .damped import damped_panel
from .grid import CandidateGrid, bic, common_hold_back, fit_grid, score_grid, window_lag_moments
from .intervals import LEVELS, coverage, halfwidths
from .theta import theta_panel

Progress = Callable[[str], None]
#: forecasters fitted afresh on the rows each forecast sees (a window's lookback rows; a panel's series):
#: ``fn(list of (n_i,) float64, H) -> (N, H)``
LOCAL_FORECASTERS = {"theta": theta_panel, "damped": damped_panel}
#: the local forecasters alone, together, and with the AR pick: the means that compete with the AR pick
LOCAL_KINDS = ("theta", "damped", "theta+damped", "ar+theta", "ar+damped", "ar+theta+damped")
MODEL_KINDS = ("ar", "naive", "seasonal naive", *LOCAL_KINDS)
# Windows per block when forecasting individual windows explicitly (memory: block x (q + H) per channel).
FORECAST_BLOCK = 4096


@dataclass
class ChosenModel:
    """One selected forecaster (per group: the pooled model, or one channel's)."""

    group: int
    p: int
    d: int
    intercept: bool
    selection_score: float  # val MSE at the horizon, or the in-sample BIC (the same for every horizon)
    psi: list[float] = field(repr=False)  # level-AR coefficients of the final (refitted) model, lag order
    c: float = 0.0
    regularised: bool = False
    kind: str = "ar"  # "ar" (fitted), "naive" (psi = [1]) or "seasonal naive" (psi = e_season: row t-m repeated);
    # also "theta" (the Theta method), "damped" (Holt's damped trend), each fitted afresh on every window's rows
    # (a panel's: on every series), psi unused, and means of several, "+"-joined in the order ar, theta, damped
    # ("ar+theta", "theta+damped", ...: psi the AR part's); MODEL_KINDS lists them
    shrink: float = 0.0  # an AR's weight on the naive forecast: psi = (1 - w) psi_fit + w e_1, c = (1 - w) c_fit

    @property
    def local_parts(self) -> list[str]:
        """The parts fitted afresh on each window (``theta``, ``damped``), in kind order."""
        return [k for k in self.kind.split("+") if k in LOCAL_FORECASTERS]

    @property
    def has_ar_part(self) -> bool:
        """Whether ``psi``/``c`` forecast (a fitted AR, alone or in a mean, or a naive forecast)."""
        return self.kind.split("+")[0] in ("ar", "naive", "seasonal naive")

    @property
    def label(self) -> str:
        """``(p, d, const)`` of a fitted AR (with its shrinkage toward the naive forecast), else the naive
        forecast's name."""
        if self.kind in ("naive", "seasonal naive"):
            return f"seasonal naive ({self.p})" if self.kind == "seasonal naive" else "naive"
        names = {"ar": f"({self.p}, {self.d}, {'yes' if self.intercept else 'no'})" +
                 (f" shrunk {self.shrink:g}" if self.shrink else ""), "theta": "Theta", "damped": "damped trend"}
        parts = [names[k] for k in self.kind.split("+")]
        return parts[0] if len(parts) == 1 else "mean of " + ", ".join(parts[:-1]) + " and " + parts[-1]


#: weights toward the random walk (the naive forecast) tried for the validation pick: shrinkage of the AR's
#: coefficients to the random walk, the Minnesota prior's target for short series; kept only when the validation
#: MSE falls (bench/forecast_panel.py: Lynx 0.48 -> 0.29, 9 of the 10 M1 series where it was kept improved)
SHRINK_WEIGHTS = (0.25, 0.5, 0.75)


def shrink_toward_naive(psi: np.ndarray, c: float, w: float) -> tuple[np.ndarray, float]:
    """``((1 - w) psi + w e_1, (1 - w) c)``: the level AR pulled toward ``y_t = y_{t-1}`` by weight ``w``."""
    out = (1.0 - w) * np.asarray(psi, dtype=np.float64)
    out[0] += w
    return out, (1.0 - w) * c


def _shrunk_scores(grid: CandidateGrid, i: int, mom, backend: ARBackend) -> np.ndarray:
    """Validation MSE (mean over steps) of candidate ``i`` shrunk by each of :data:`SHRINK_WEIGHTS`."""
    sub = grid.subset(np.full(len(SHRINK_WEIGHTS), i))
    q = int(sub.order[0])
    for k, w in enumerate(SHRINK_WEIGHTS):
        sub.psi[k, :q], sub.intercept[k] = shrink_toward_naive(grid.psi[i, :q], float(grid.intercept[i]), w)
    return score_grid(sub, mom, backend).mean(1)


def refit_models(z: np.ndarray, chosen: list[ChosenModel], rows: tuple[int, int], lookback: int,
                 backend: ARBackend) -> list[ChosenModel]:
    """The chosen models with each AR part's ``(p, d, const)`` fitted again by OLS on ``z[:, rows[0]:rows[1]]``
    (one model for every channel: on all of them pooled; one per channel: on its own), its shrinkage toward the
    naive forecast kept; naive forecasts and models of local parts only are returned as they are, and so is a
    model whose refit is not finite."""
    out = []
    for m in chosen:
        if m.kind.split("+")[0] != "ar":
            out.append(m)
            continue
        zz = z if len(chosen) == 1 else z[m.group : m.group + 1]
        fit = fit_grid(zz, rows, orders=(m.p, m.p), diff_orders=[m.d], intercepts=[m.intercept], pooled=True,
                       lookback=lookback, backend=backend)
        q = m.p + m.d
        psi, c = shrink_toward_naive(fit.psi[0, :q], float(fit.intercept[0]), m.shrink)
        if not (np.isfinite(psi).all() and np.isfinite(c)):
            out.append(m)
            continue
        out.append(replace(m, psi=list(map(float, psi)), c=c, regularised=bool(fit.regularised[0])))
    return out


def naive_model(group: int, season: int, score: float) -> ChosenModel:
    """The (seasonal) naive forecast as a level AR: ``y_t = y_{t-m}`` (m = 1: the last value), no intercept;
    its recursive forecast repeats the input's last season. ARIMA(0,0,0)(0,1,0)_m, nothing fitted."""
    psi = [0.0] * season
    psi[-1] = 1.0
    return ChosenModel(group, season, 0, False, score, psi, 0.0, False, "seasonal naive" if season > 1 else "naive")


def naive_errors(z: np.ndarray, start: int, count: int, lookback: int, horizon: int, season: int,
                 backend: ARBackend | None = None) -> np.ndarray:
    """Error sums of the (seasonal) naive forecast over windows ``start .. start + count - 1``: the chosen-model
    test stream (:func:`test_errors`) on :func:`naive_model`, whose step ``h`` (0-based) of the window with inputs
    ``n .. n+L-1`` is row ``n + L - m + (h mod m)``.

    Returns ``(C, 2)`` float64: per channel, the sums of squared and of absolute errors over windows x steps.
    """
    if not 1 <= season <= lookback:
        raise AutofastError(f"season {season} must lie in 1..lookback ({lookback})")
    backend = backend or get_backend("auto", "cpu")
    return test_errors(z, [naive_model(0, season, 0.0)], start, count, lookback, horizon, backend).sum(axis=2)


@dataclass
class HorizonResult:
    """One horizon's outcome. Test windows start at rows ``test_start .. test_start + test_windows - 1``
    (inputs ``lookback`` rows, then ``horizon`` targets); MSE/MAE are means over windows x steps
    (x channels), on the standardised scale."""

    horizon: int
    mse: float
    mae: float
    mse_per_channel: list[float]
    mae_per_channel: list[float]
    mse_per_step: list[float]
    chosen: list[ChosenModel]
    candidates: int
    selected_on: str
    refit_on: str
    regularised_candidates: int
    timings: dict[str, float]
    test_windows: int
    test_start: int
    lookback: int
    #: prediction intervals (:func:`interval_summary`): half-widths per level ``(H, C)`` on the standardised scale,
    #: the validation windows they came from, their coverage and mean width on the test windows
    intervals: dict = field(default_factory=dict, repr=False)
    #: the models that forecast after the data (``Forecast.next``, ``model.json``): ``chosen`` with each AR part
    #: refitted on every row (``next_fit="all"``), or ``chosen`` itself (``"tested"``)
    final: list[ChosenModel] = field(default_factory=list, repr=False)
    final_on: str = "train"


#: windows (evenly spaced) whose errors give the intervals, and on which their test coverage is measured
INTERVAL_WINDOWS = 200


def _spread(start: int, count: int, most: int = INTERVAL_WINDOWS) -> np.ndarray:
    """At most ``most`` evenly spaced window starts of ``start .. start + count - 1``."""
    return start + np.unique(np.linspace(0, count - 1, min(count, most)).round().astype(np.int64))


def interval_summary(z: np.ndarray, chosen: list[ChosenModel], val: WindowRange, test: WindowRange,
                     backend: ARBackend, refit: str = "train", val_errors: np.ndarray | None = None,
                     levels: tuple[int, ...] = LEVELS, train: WindowRange | None = None) -> dict:
    """The chosen model's prediction intervals (:mod:`.intervals`) from its errors on (at most
    :data:`INTERVAL_WINDOWS`) validation windows -- or ``val_errors`` ``(n, H, C)``, the family stage's errors of
    the whole choice, its AR pick made without each block -- and their coverage and mean width on as many test
    windows. Where the validation split holds fewer than two windows (a horizon near its length), the errors on
    ``train``'s windows fill in (in-sample, so narrower than they should be; said in ``"from"``) -- the intervals
    were NaN, written as such.

    Returns ``{"levels", "halfwidth": {level: (H, C) list}, "windows", "from", "test_coverage": {level: share},
    "test_mean_width": {level: width}}`` (standardised scale).
    """
    L, H = val.lookback, val.horizon
    honest = val_errors is not None
    if not honest:
        fc, truth = window_forecasts(z, chosen, _spread(val.start, val.count), L, H, backend)
        val_errors = fc - truth
    half = halfwidths(val_errors, tuple(levels))  # {level: (H, C)}
    in_sample = train is not None and any(np.isnan(v).any() for v in half.values())
    if in_sample:
        fc, truth = window_forecasts(z, chosen, _spread(train.start, train.count), L, H, backend)
        fallback = halfwidths(fc - truth, tuple(levels))
        half = {k: np.where(np.isnan(v), fallback[k], v) for k, v in half.items()}
    fc_t, truth_t = window_forecasts(z, chosen, _spread(test.start, test.count), L, H, backend)
    return {"levels": sorted(levels), "windows": int(val_errors.shape[0]),
            "from": ("the absolute errors on validation windows" +
                     (" of the family choice (the AR pick of each block made on the others)" if honest else
                      " of the chosen model (evenly spaced)") +
                     ", per step and channel: the conformal quantile, or the Gaussian prediction interval "
                     "(Student's t) where too few for the level"
                     + ("; the model was refitted on train+val, so these errors are in-sample and the intervals "
                        "narrower than they should be" if refit == "train+val" else "")
                     + ("; the validation split held too few windows, so the errors on training windows (in-sample: "
                        "the intervals narrower than they should be)" if in_sample else "")),
            "halfwidth": {str(k): v.tolist() for k, v in half.items()},
            "test_coverage": {str(k): coverage(truth_t, fc_t, v[None]) for k, v in half.items()},
            "test_mean_width": {str(k): _mean_width(v) for k, v in half.items()},
            "test_windows": int(fc_t.shape[0])}


def _mean_width(half: np.ndarray) -> float:
    """Twice the mean of the finite half-widths; NaN where none is (fewer than two validation errors)."""
    finite = half[np.isfinite(half)]
    return float(2 * finite.mean()) if finite.size else float("nan")


def kpss_diff_order(z_train: np.ndarray, max_d: int = 2, alpha: float = 0.05) -> int:
    """The reference rule: difference while any channel rejects stationarity (KPSS 'ct', p <= alpha)."""
    import warnings

    from statsmodels.tools.sm_exceptions import InterpolationWarning
    from statsmodels.tsa.stattools import kpss

    d, x = 0, z_train
    while d < max_d:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InterpolationWarning)
            warnings.simplefilter("ignore", FutureWarning)  # statsmodels 0.15 result-object notice
            # a constant or exactly linear channel is trend-stationary (KPSS itself divides by zero on it)
            pvals = [1.0 if np.ptp(np.diff(ch)) <= 1e-12 * (1 + np.abs(ch).max()) else
                     kpss(ch, regression="ct", nlags="auto")[1] for ch in x]
        if min(pvals) > alpha:
            break
        x, d = np.diff(x, axis=1), d + 1
    return d


def _channel_models(chosen: list[ChosenModel], channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel: ``psi (C, Q)`` (zero-padded), ``intercept (C,)``, ``order (C,)`` of its model."""
    models = [chosen[0]] * channels if len(chosen) == 1 else chosen
    Q = max(len(m.psi) for m in models)
    psi = np.zeros((channels, Q))
    for ch, m in enumerate(models):
        psi[ch, : len(m.psi)] = m.psi
    return psi, np.array([m.c for m in models]), np.array([len(m.psi) for m in models], dtype=np.int64)


def test_errors(z: np.ndarray, chosen: list[ChosenModel], start: int, count: int, lookback: int, horizon: int,
                backend: ARBackend) -> np.ndarray:
    """Error sums of the chosen model(s) over test windows ``start .. start + count - 1``.

    Streams in chunks of windows (the backend's ``forecast_error_sums``): memory O(chunk + H) per
    task, never windows x horizon x channels.

    Returns:
        ``(C, 2, H)`` float64: per channel and step, the sum of squared and of absolute errors.
    """
    C = z.shape[0]
    if any(m.local_parts for m in chosen):  # fitted per window: forecast the windows explicitly, block by block
        sums = np.zeros((C, 2, horizon))
        for b0 in range(0, count, FORECAST_BLOCK):
            fc, truth = window_forecasts(z, chosen, start + np.arange(b0, min(count, b0 + FORECAST_BLOCK)), lookback,
                                         horizon, backend)
            err = fc - truth  # (n, H, C)
            sums[:, 0] += (err * err).sum(0).T
            sums[:, 1] += np.abs(err).sum(0).T
        return sums
    psi, c, q = _channel_models(chosen, C)
    seg = np.ascontiguousarray(z[:, start : start + count + lookback + horizon - 1])
    A = backend.asarray
    return backend.to_numpy(backend.forecast_error_sums(A(seg), A(psi), A(c), 0, count, lookback, horizon, order=A(q)))


def forecast_weights(chosen: list[ChosenModel], horizon: int, backend: ARBackend) -> list[np.ndarray | None]:
    """Each chosen model's recursive forecast weights ``(q + 1, H)``: ``yhat_h = M[0, h] + lags . M[1:, h]`` (of
    its AR part; None for a model of local parts only)."""
    out = []
    for m in chosen:
        if not m.has_ar_part:
            out.append(None)
            continue
        M = backend.ar_forecast_weights(backend.asarray(np.array([m.psi])), backend.asarray(np.array([m.c])), horizon)
        out.append(backend.to_numpy(M)[0])
    return out


def forecast_after(scaler: Standardizer, chosen: list[ChosenModel], horizon: int, tail: np.ndarray,
                   backend: ARBackend) -> np.ndarray:
    """Forecasts of the ``horizon`` rows after ``tail``: ``(L, C)`` rows in the data's own units (oldest first),
    standardised with the training statistics ``scaler``, forecast by the chosen models as a window of ``L`` rows,
    mapped back. Returns ``(H, C)`` float64 in the data's own units."""
    z = scaler.transform(tail).T  # (C, L)
    return scaler.inverse(forecasts_at(z, chosen, np.zeros(1, dtype=np.int64), z.shape[1], horizon, backend)[0])


def forecasts_at(z: np.ndarray, chosen: list[ChosenModel], starts: np.ndarray, lookback: int, horizon: int,
                 backend: ARBackend) -> np.ndarray:
    """Forecasts of the ``horizon`` rows after each window ``z[:, s : s + lookback]`` (``s`` in ``starts``).

    Args:
        z: ``(C, T)`` standardised series; ``chosen``: one model for every channel, or one per channel.
    Returns:
        ``(n, H, C)`` float64: a model's AR part through its recursive forecast weights, its local parts
        (:data:`LOCAL_FORECASTERS`) fitted on each window's rows, averaged. In blocks of ``FORECAST_BLOCK`` windows.
    """
    starts = np.asarray(starts, dtype=np.int64)
    C = z.shape[0]
    fc = np.empty((starts.size, horizon, C))
    weights = forecast_weights(chosen, horizon, backend)
    with threadpool_limits(1):  # small GEMMs: 2-thread OpenBLAS beside a busy core took 10x longer
        for ch in range(C):
            m, M = (chosen[0], weights[0]) if len(chosen) == 1 else (chosen[ch], weights[ch])
            for b0 in range(0, starts.size, FORECAST_BLOCK):
                s = starts[b0 : b0 + FORECAST_BLOCK]
                parts = []
                if M is not None:
                    q = M.shape[0] - 1
                    lags = z[ch][s[:, None] + lookback - 1 - np.arange(q)[None, :]]  # (n, q), lag 1 first
                    parts.append(M[0][None, :] + lags @ M[1:])
                windows = [z[ch, i : i + lookback] for i in s] if m.local_parts else []
                parts += [LOCAL_FORECASTERS[k](windows, horizon) for k in m.local_parts]
                fc[b0 : b0 + s.size, :, ch] = parts[0] if len(parts) == 1 else sum(parts) / len(parts)
    return fc


def window_forecasts(z: np.ndarray, chosen: list[ChosenModel], starts: np.ndarray, lookback: int, horizon: int,
                     backend: ARBackend) -> tuple[np.ndarray, np.ndarray]:
    """Explicit forecasts and targets of the windows starting at ``starts`` (for plots, files, baselines).

    Args:
        z: ``(C, T)`` standardised series; ``starts``: ``(n,)`` window start rows (inputs
            ``z[:, s : s + lookback]``, targets the next ``horizon`` rows, which must exist).
    Returns:
        forecasts, truth: ``(n, H, C)`` float64 each (:func:`forecasts_at`).
    """
    starts = np.asarray(starts, dtype=np.int64)
    truth = z[:, starts[:, None] + lookback + np.arange(horizon)[None, :]].transpose(1, 2, 0)
    return forecasts_at(z, chosen, starts, lookback, horizon, backend), np.ascontiguousarray(truth)


def _select(grid: CandidateGrid, crit: np.ndarray) -> list[int]:
    """Index of the best finite candidate per group."""
    picks = []
    for g in np.unique(grid.group):
        idx = np.nonzero(grid.group == g)[0]
        vals = crit[idx]
        if not np.isfinite(vals).any():
            raise AutofastError("every candidate produced a non-finite selection score (validation error or BIC); "
                                "check the data scale")
        picks.append(int(idx[np.nanargmin(np.where(np.isfinite(vals), vals, np.inf))]))
    return picks


#: ``pooling="auto"`` tries one model per channel beside the pooled one up to this many channels: the per-channel
#: grid is C fits and C scorings per horizon (20 channels x 50 000 rows, 4 horizons: 5.1-5.8 s -> 17.7-19.3 s)
AUTO_POOLING_CHANNELS = 8


def pooling_candidates(cfg: AutoARConfig, channels: int, protocol: str) -> list[bool]:
    """The poolings a run fits and scores (True: one model for every channel): ``global`` / ``per-channel`` as
    given; ``auto`` (the default) both where there are 2..:data:`AUTO_POOLING_CHANNELS` channels -- the one of lower
    mean validation MSE kept per horizon (a price column pooled with sales had flattened the sales' season: test MSE
    0.0088 -> 0.156) -- but the pooled model alone on the ETT protocol (the literature's setting), under BIC (whose
    criteria of the two are not comparable) and for more channels (a sensor array's are alike; the per-channel grid
    costs C fits)."""
    if cfg.pooling == "per-channel":
        return [False]
    if (cfg.pooling == "global" or channels == 1 or channels > AUTO_POOLING_CHANNELS or cfg.selection == "bic"
            or protocol.startswith("ett")):
        return [True]
    return [True, False]


def run_autoar(ps: PreparedSeries, cfg: AutoARConfig, progress: Progress | None = None) -> tuple[list[HorizonResult], dict]:
    """Run the whole Auto-AR search for every horizon in ``cfg.horizons``.

    Fields of ``cfg`` left None (horizons, lookback, max_order) are sized from ``ps`` first
    (:func:`autofast.forecast.defaults.resolve_config`).

    Returns per-horizon results and run-level facts (backend, d grid, fit timings).
    """
    from .family import SELECTED_ON, choose_family, family_applies  # the family stage builds on this module's parts

    say = progress or (lambda msg: None)
    if not cfg.resolved:
        from .defaults import resolve_config

        cfg = resolve_config(cfg, ps).config
    backend = get_backend(cfg.backend, cfg.device)
    L = cfg.lookback
    z = ps.z
    C = z.shape[0]
    b = ps.bounds
    for H in cfg.horizons:  # validate every horizon up front: fail before any work
        for split in ("train", "val", "test"):
            window_range(b, split, L, H, ps.name)
    if b.train_end - max(cfg.diff_orders) <= min(cfg.max_order, L) + 1:
        raise AutofastError(f"{ps.name}: training split ({b.train_end} rows) too short for order {cfg.max_order}; "
                            f"lower --max-order")
    t0 = time.perf_counter()
    diff_orders = list(cfg.diff_orders)
    if cfg.diff_rule == "kpss":
        diff_orders = [kpss_diff_order(z[:, : b.train_end], max(cfg.diff_orders))]
    intercepts = {"both": [True, False], "yes": [True], "no": [False]}[cfg.intercept]
    t_kpss = time.perf_counter() - t0
    poolings = pooling_candidates(cfg, C, b.protocol)
    say(f"fitting lag grid: orders {cfg.min_order}..{cfg.max_order}, d in {diff_orders}, "
        f"{' and '.join('pooled' if p else 'per-channel' for p in poolings)} ({backend.name})")
    t0 = time.perf_counter()
    orders = (cfg.min_order, cfg.max_order)
    hold_back = common_hold_back(orders, diff_orders, L)  # every candidate: targets = train rows hold_back..
    grids = {pooled: fit_grid(z, (0, b.train_end), orders=orders, diff_orders=diff_orders, intercepts=intercepts,
                              pooled=pooled, lookback=L, backend=backend, hold_back=hold_back) for pooled in poolings}
    grid = grids[poolings[0]]
    t_fit = time.perf_counter() - t0
    run_info = {"backend": backend.name, "device": str(backend.device), "diff_orders": diff_orders,
                "candidates": sum(len(g) for g in grids.values()), "fit_seconds": t_fit, "kpss_seconds": t_kpss,
                "regularised_candidates": int(sum(g.regularised.sum() for g in grids.values())),
                "estimation_rows": [hold_back, b.train_end],
                "pooling_tried": ["global" if p else "per-channel" for p in poolings]}
    pooled = poolings[0]
    bic_all = None
    if cfg.selection == "bic":  # in-sample, from the fit alone: one criterion (and choice) for every horizon
        t0 = time.perf_counter()
        bic_all = bic(grid)
        run_info["bic_seconds"] = time.perf_counter() - t0
        n_bic = int(grid.nobs[0])
        bic_text = (f"training split, in-sample BIC = -2 log L + (p + const + 1) log n: conditional Gaussian "
                    f"likelihood of the one-step residuals, sigma^2 = RSS/n (MLE), on the {b.train_end - hold_back} "
                    f"target rows {hold_back}..{b.train_end - 1} shared by every (p, d, const) candidate, n = {n_bic}"
                    f"{' (rows x channels, one pooled model)' if pooled else ' per channel'}; "
                    "the same choice for every horizon")
    def _pick(grid, crit, mom, pooled: bool, H: int, wr, times: dict) -> tuple:
        """The candidates' choice on one grid (:func:`_select`), refitted, shrunk, and against the naive forecasts
        or (short series) the family stage: ``(chosen, val_errors or None, family)``."""
        t0 = time.perf_counter()
        picks = _select(grid, crit)
        val_errors = None
        chosen = []
        for i in picks:
            p, d, wc, g = int(grid.p[i]), int(grid.d[i]), bool(grid.has_intercept[i]), int(grid.group[i])
            q = p + d
            psi, c, score, w = grid.psi[i, :q], float(grid.intercept[i]), float(crit[i]), 0.0
            if cfg.shrink and bic_all is None:  # the pick pulled toward the random walk, on the same windows
                shrunk = _shrunk_scores(grid, i, mom, backend)
                if np.nanmin(shrunk) < score:
                    k = int(np.nanargmin(shrunk))
                    score, w = float(shrunk[k]), SHRINK_WEIGHTS[k]
                    psi, c = shrink_toward_naive(psi, c, w)
            chosen.append(ChosenModel(g, p, d, wc, score, list(map(float, psi)), c, bool(grid.regularised[i]),
                                      shrink=w))
        if cfg.refit == "train+val":
            chosen = refit_models(z, chosen, (0, b.val_end), L, backend)
        wt = window_range(b, "test", L, H, ps.name)
        family = cfg.theta and bic_all is None and family_applies(wr.count, wt.count, L, C)
        if family:  # the AR pick against Theta, the damped trend, the naive forecasts and the means, honestly
            chosen, val_errors = choose_family(z, grid, chosen, wr.start, wr.count, L, H, cfg.season, naive=cfg.naive,
                                               shrink=cfg.shrink, pooled=pooled, backend=backend)
        elif cfg.naive and bic_all is None:  # the naive forecasts compete on the same validation windows
            for m in sorted({1, cfg.season}):
                mse = naive_errors(z, wr.start, wr.count, L, H, m, backend)[:, 0] / (wr.count * H)  # (C,)
                for k, ch in enumerate(chosen):
                    score = float(mse.mean() if pooled else mse[ch.group])
                    if score < ch.selection_score:
                        chosen[k] = naive_model(ch.group, m, score)
        times["select_refit"] += time.perf_counter() - t0
        return chosen, val_errors, family

    def _choose(grid, pooled: bool, H: int, times: dict) -> tuple:
        """Score ``grid`` on the validation windows and pick (:func:`_pick`): ``(chosen, val_errors, family,
        wr)``."""
        t0 = time.perf_counter()
        wr = window_range(b, "val", L, H, ps.name)
        mom = window_lag_moments(z, wr.start, wr.count, L, H, pooled, backend)
        times["moments"] += time.perf_counter() - t0
        say(f"H={H}: scoring {len(grid)} {'pooled' if pooled else 'per-channel'} candidates on {wr.count} val "
            f"windows" + (f" x {C} channels" if C > 1 else ""))
        t0 = time.perf_counter()
        crit = score_grid(grid, mom, backend).mean(1)
        times["score"] += time.perf_counter() - t0
        return (*_pick(grid, crit, mom, pooled, H, wr, times), wr)

    results = []
    for H in cfg.horizons:
        times: dict[str, float] = {"fit_grid": t_fit, "moments": 0.0, "score": 0.0, "select_refit": 0.0}
        if bic_all is not None:  # one pooling (pooling_candidates)
            say(f"H={H}: the BIC choice (the same for every horizon)")
            times["score"] = run_info["bic_seconds"] if H == cfg.horizons[0] else 0.0
            pooled = poolings[0]
            grid = grids[pooled]
            wr = window_range(b, "val", L, H, ps.name)
            chosen, val_errors, family = _pick(grid, bic_all, None, pooled, H, wr, times)
        else:  # with pooling "auto": the pooled and the per-channel choice, the lower mean validation MSE kept
            options = {p: _choose(grids[p], p, H, times) for p in poolings}
            mean_val = {p: float(np.mean([c.selection_score for c in options[p][0]])) for p in poolings}
            pooled = min(poolings, key=mean_val.get)
            grid = grids[pooled]
            chosen, val_errors, family, wr = options[pooled]
            if len(poolings) > 1:
                say(f"H={H}: {'one pooled model' if pooled else 'one model per channel'} kept (validation MSE "
                    + " vs ".join(f"{mean_val[p]:.4f}" for p in poolings) + ", pooled vs per channel)")
        wt = window_range(b, "test", L, H, ps.name)
        t0 = time.perf_counter()
        sums = test_errors(z, chosen, wt.start, wt.count, L, H, backend)  # (C, 2, H)
        n = wt.count * H
        times["test"] = time.perf_counter() - t0
        with np.errstate(over="ignore", invalid="ignore"):
            per_channel = sums.sum(axis=2) / n  # (C, 2)
            total = float(sums[:, 0].sum() / (n * C)), float(sums[:, 1].sum() / (n * C))
        if not (np.isfinite(per_channel).all() and np.isfinite(total).all()):  # never report an overflow as a score
            bad = ~np.isfinite(per_channel).all(axis=1)
            c = int(np.flatnonzero(bad)[0]) if bad.any() else 0
            raise AutofastError(f"{ps.name}: the test errors (channel {ps.data.columns[c]!r}) overflow float64: the "
                                "test split lies far outside the training split's scale; check the data for outliers")
        t0 = time.perf_counter()
        intervals = interval_summary(z, chosen, window_range(b, "val", L, H, ps.name), wt, backend, cfg.refit,
                                     val_errors if family else None, tuple(cfg.levels),
                                     window_range(b, "train", L, H, ps.name))
        times["intervals"] = time.perf_counter() - t0
        final, final_on = chosen, "the tested model's rows"
        if cfg.next_fit == "all" and any(m.kind.split("+")[0] == "ar" for m in chosen):
            final = refit_models(z, chosen, (0, z.shape[1]), L, backend)
            final_on = f"every row (0..{z.shape[1] - 1}): the chosen (p, d, const) refitted"
        results.append(HorizonResult(
            horizon=H, mse=total[0], mae=total[1],
            mse_per_channel=per_channel[:, 0].tolist(), mae_per_channel=per_channel[:, 1].tolist(),
            mse_per_step=(sums[:, 0].sum(0) / (wt.count * C)).tolist(),
            chosen=chosen, candidates=len(grid),
            selected_on=("validation split, MSE over steps 1..H" + (SELECTED_ON if family else "")
                         if cfg.selection == "val" else bic_text),
            refit_on="train+val" if cfg.refit == "train+val" else "train",
            regularised_candidates=int(grid.regularised.sum()), timings=times, test_windows=wt.count,
            test_start=wt.start, lookback=L, intervals=intervals, final=final, final_on=final_on))
        say(f"H={H}: test MSE {results[-1].mse:.4f} MAE {results[-1].mae:.4f} (z-scored), chosen "
            + ", ".join(sorted({c.label for c in chosen})))
    return results, run_info
