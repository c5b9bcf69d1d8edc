"""What a forecast run writes: result JSON, test forecasts, the next-H forecast CSV, a plot.

The CLI writes them into :func:`autofast.io.staged_run_dir`, a temporary folder renamed to the run
folder only when complete, so a failed run leaves nothing half-written.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from autofast.data.frequency import step_dates
from autofast.data.timeseries import PreparedSeries
from autofast.io import atomic_path, write_json_atomic

from .autoar import HorizonResult, window_forecasts


def result_dict(res: HorizonResult, columns: list[str]) -> dict:
    d = {k: v for k, v in asdict(res).items() if k != "chosen"}
    d["mse_per_channel"] = dict(zip(columns, res.mse_per_channel))
    d["mae_per_channel"] = dict(zip(columns, res.mae_per_channel))
    d["chosen"] = [{**{k: v for k, v in asdict(c).items() if k != "psi"}, "order_on_levels": len(c.psi),
                    "channel": columns[c.group] if len(res.chosen) > 1 else "all (pooled)",
                    "level_coefficients": c.psi} for c in res.chosen]
    return d


def write_test_forecasts(path: Path, ps: PreparedSeries, res: HorizonResult, backend) -> None:
    """Non-overlapping test windows (every H-th origin): float32 forecasts and truth, ``(N/H, H, C)``.

    Forecast here, from the chosen model(s): about as many values as the test rows, never all windows.
    Stored uncompressed: zlib took 0.5-0.9 s per horizon at 200k rows and gains little on such floats.
    """
    idx = np.arange(0, res.test_windows, res.horizon)
    fc, truth = window_forecasts(ps.z, res.chosen, res.test_start + idx, res.lookback, res.horizon, backend)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, origins_index=idx, forecast=fc.astype(np.float32), truth=truth.astype(np.float32))


def write_next_csv(path: Path, dates, columns: list[str], fc: np.ndarray) -> None:
    """The ``(H, C)`` forecasts ``fc`` after data whose dates are ``dates`` (or None): a date column (the dates
    that follow, :func:`~autofast.data.frequency.step_dates`) or a step column, then one column per channel,
    original units (``forecast_next_H*.csv``, and ``predict``'s output for a forecast run)."""
    import csv

    stamps = step_dates(dates, fc.shape[0])
    first = ("date", stamps) if stamps is not None else ("step", list(range(1, fc.shape[0] + 1)))
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow([first[0], *columns])
            for stamp, row in zip(first[1], fc.tolist()):
                w.writerow([stamp, *row])


def plot_test_windows(path: Path, ps: PreparedSeries, results: list[HorizonResult], backend,
                      channel: int = -1, n_windows: int = 3) -> None:
    """Forecast vs truth on a few test windows, one row per horizon (standardised scale).

    matplotlib's object API on the Agg canvas, imported only here (no pyplot, no GUI backend); the few
    windows shown are forecast on demand.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    ch = channel % ps.z.shape[0]
    fig = Figure(figsize=(4.2 * n_windows, 2.6 * len(results)))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(results), n_windows, squeeze=False)
    for r, res in enumerate(results):
        picks = np.linspace(0, res.test_windows - 1, n_windows).astype(int)
        fc, truth = window_forecasts(ps.z, res.chosen, res.test_start + picks, res.lookback, res.horizon, backend)
        for k, i in enumerate(picks):
            ax = axes[r][k]
            origin = res.test_start + i + res.lookback  # first target row of test window i
            hist = ps.z[ch, origin - min(res.lookback, 2 * res.horizon) : origin]
            t_hist = np.arange(-len(hist), 0)
            t_fc = np.arange(res.horizon)
            ax.plot(t_hist, hist, color="0.6", lw=0.8, label="history")
            ax.plot(t_fc, truth[k, :, ch], color="k", lw=0.9, label="truth")
            ax.plot(t_fc, fc[k, :, ch], color="tab:red", lw=1.1, label="Auto-AR")
            ax.set_title(f"H={res.horizon}, test window {i}", fontsize=8)
            ax.tick_params(labelsize=7)
            if r == 0 and k == 0:
                ax.legend(fontsize=7)
    fig.suptitle(f"{ps.name}: channel {ps.data.columns[ch]} (standardised)", fontsize=10)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.08 / len(results), top=1 - 0.25 / len(results),
                        wspace=0.2, hspace=0.45)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


def write_result_json(path: Path, payload: dict) -> None:
    write_json_atomic(path, payload)
