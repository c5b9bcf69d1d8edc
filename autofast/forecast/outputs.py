"""What a forecast run writes: result JSON, test forecasts, the next-H forecast CSV, a plot.

The CLI writes them into :func:`autofast.io.staged_run_dir`, a temporary folder renamed to the run
folder only when complete, so a failed run leaves nothing half-written.
"""
from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np

from autofast.data.timeseries import PreparedSeries
from autofast.io import write_json_atomic

from .autoar import ChosenModel, HorizonResult, forecast_windows


def result_dict(res: HorizonResult, columns: list[str]) -> dict:
    d = {k: v for k, v in asdict(res).items() if k not in ("forecasts", "truth", "chosen")}
    d["mse_per_channel"] = dict(zip(columns, res.mse_per_channel))
    d["mae_per_channel"] = dict(zip(columns, res.mae_per_channel))
    d["chosen"] = [{**{k: v for k, v in asdict(c).items() if k != "psi"}, "order_on_levels": len(c.psi),
                    "channel": columns[c.group] if len(res.chosen) > 1 else "all (pooled)",
                    "level_coefficients": c.psi} for c in res.chosen]
    return d


def write_test_forecasts(path: Path, res: HorizonResult) -> None:
    """Non-overlapping test windows (every H-th origin): float32 forecasts and truth, (N, H, C)."""
    idx = np.arange(0, res.forecasts.shape[0], res.horizon)
    np.savez_compressed(path, origins_index=idx, forecast=res.forecasts[idx].astype(np.float32),
                        truth=res.truth[idx].astype(np.float32))


def next_forecast(ps: PreparedSeries, chosen: list[ChosenModel], horizon: int, lookback: int, backend) -> np.ndarray:
    """Forecast of the H rows after the last row of the data, in original units: ``(H, C)``."""
    z_all = ps.scaler.transform(ps.data.values).T  # every row, train statistics
    tail = z_all[:, -lookback:][:, ::-1]  # lag order
    C = z_all.shape[0]
    out = np.stack([forecast_windows(chosen[0] if len(chosen) == 1 else chosen[c], tail[c : c + 1].copy(),
                                     horizon, backend)[0] for c in range(C)], axis=1)
    return ps.scaler.inverse(out)


def write_next_csv(path: Path, ps: PreparedSeries, fc: np.ndarray) -> None:
    import pandas as pd

    index = None
    if ps.data.dates is not None:
        try:
            dates = pd.to_datetime(pd.Series(ps.data.dates[-3:]))
            step = dates.iloc[-1] - dates.iloc[-2]
            index = pd.date_range(dates.iloc[-1] + step, periods=fc.shape[0], freq=step)
        except (ValueError, TypeError):
            index = None
    df = pd.DataFrame(fc, columns=ps.data.columns)
    df.insert(0, "date" if index is not None else "step", index if index is not None else np.arange(1, len(fc) + 1))
    df.to_csv(path, index=False)


def plot_test_windows(path: Path, ps: PreparedSeries, results: list[HorizonResult], lookback: int,
                      channel: int = -1, n_windows: int = 3) -> None:
    """Forecast vs truth on a few test windows, one row per horizon (standardised scale)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ch = channel % ps.z.shape[0]
    fig, axes = plt.subplots(len(results), n_windows, figsize=(4.2 * n_windows, 2.6 * len(results)), squeeze=False)
    for r, res in enumerate(results):
        N = res.forecasts.shape[0]
        for k, i in enumerate(np.linspace(0, N - 1, n_windows).astype(int)):
            ax = axes[r][k]
            origin = ps.bounds.val_end + i  # first target row of test window i
            hist = ps.z[ch, origin - min(lookback, 2 * res.horizon) : origin]
            t_hist = np.arange(-len(hist), 0)
            t_fc = np.arange(res.horizon)
            ax.plot(t_hist, hist, color="0.6", lw=0.8, label="history")
            ax.plot(t_fc, res.truth[i, :, ch], color="k", lw=0.9, label="truth")
            ax.plot(t_fc, res.forecasts[i, :, ch], color="tab:red", lw=1.1, label="Auto-AR")
            ax.set_title(f"H={res.horizon}, test window {i}", fontsize=8)
            ax.tick_params(labelsize=7)
            if r == 0 and k == 0:
                ax.legend(fontsize=7)
    fig.suptitle(f"{ps.name}: channel {ps.data.columns[ch]} (standardised)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_result_json(path: Path, payload: dict) -> None:
    write_json_atomic(path, payload)
