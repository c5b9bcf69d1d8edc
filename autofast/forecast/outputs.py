"""What a forecast run writes: result JSON, test forecasts, the next-H forecast CSV, a plot.

The CLI writes them into :func:`autofast.io.staged_run_dir`, a temporary folder renamed to the run
folder only when complete, so a failed run leaves nothing half-written.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from pathlib import Path

import numpy as np

from autofast.data.frequency import step_dates
from autofast.data.timeseries import PreparedSeries
from autofast.io import atomic_path

from .autoar import ChosenModel, HorizonResult, window_forecasts
from .intervals import interval_columns


def result_dict(res: HorizonResult, columns: list[str]) -> dict:
    """One horizon's entry of ``result.json``: scores, the chosen (tested) models and the final ones (the
    forecasts after the data), each with its channel and level coefficients."""
    d = {k: v for k, v in asdict(res).items() if k not in ("chosen", "final")}
    d["mse_per_channel"] = dict(zip(columns, res.mse_per_channel))
    d["mae_per_channel"] = dict(zip(columns, res.mae_per_channel))

    def models(ms: list[ChosenModel]) -> list[dict]:
        return [{**{k: v for k, v in asdict(c).items() if k != "psi"}, "order_on_levels": len(c.psi),
                 "channel": columns[c.group] if len(ms) > 1 else "all (pooled)", "level_coefficients": c.psi}
                for c in ms]

    d["chosen"] = models(res.chosen)
    d["final"] = models(res.final or res.chosen)
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


def forecast_table(columns: list[str], fc: np.ndarray, intervals: dict | None = None
                   ) -> tuple[list[str], list[np.ndarray]]:
    """Column names and ``(H,)`` columns of a forecast table: one per channel, then per channel its intervals'
    bounds (``{column}-lo-{level}``, ``{column}-hi-{level}``; ``intervals``: ``{level: (lo, hi)}``, ``(H, C)``)."""
    names, cols = list(columns), [fc[:, c] for c in range(fc.shape[1])]
    for c, column in enumerate(columns):
        for level, (lo, hi) in sorted((intervals or {}).items()):
            names += interval_columns(column, (level,))
            cols += [lo[:, c], hi[:, c]]
    return names, cols


def write_next_csv(path: Path, dates, columns: list[str], fc: np.ndarray, intervals: dict | None = None) -> None:
    """The ``(H, C)`` forecasts ``fc`` after data whose dates are ``dates`` (or None): a date column (the dates
    that follow, :func:`~autofast.data.frequency.step_dates`) or a step column, then one column per channel,
    original units, then the prediction intervals ``{level: (lo, hi)}`` if given (:func:`forecast_table`)
    (``forecast_next_H*.csv``, and ``predict``'s output for a forecast run)."""
    import csv

    stamps = step_dates(dates, fc.shape[0])
    first = ("date", stamps) if stamps is not None else ("step", list(range(1, fc.shape[0] + 1)))
    names, cols = forecast_table(columns, fc, intervals)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow([first[0], *names])
            for stamp, row in zip(first[1], np.column_stack(cols).tolist()):
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


def report_markdown(result: dict) -> str:
    """``report.md`` of a forecast run from its ``result.json`` payload: the split, what was sized from the data,
    per horizon the chosen model and its test MSE beside the seasonal naive's (and AutoARIMA's), what was
    selected on what."""
    cfg, split = result["config"], result["split"]
    lines = [f"# autofast forecast: {result['data']}", "",
             f"{result['rows']} rows x {len(result['channels'])} channel(s) from `{result['source']}`"
             + (f"; {result['frequency']['name']} dates (season {result['frequency']['season']})"
                if result.get("frequency") else "; no date frequency recognised") + ".", "",
             f"Selected on: {result['results'][0]['selected_on']}; refit on {result['results'][0]['refit_on']}; "
             "the test split evaluated once. " + result["units"][:1].upper() + result["units"][1:] + ". "
             f"The forecasts after the data (`forecast_next_H*.csv`, `model.json`) come from the chosen model fitted "
             f"on {result['results'][0].get('final_on', 'train')}.", "",
             "## Splits", "", "| split | rows |", "|---|---|"]
    for name in ("train", "val", "test"):
        lo, hi = split[f"{name}_rows"]
        lines.append(f"| {name} | {lo}..{hi - 1} ({hi - lo}) |")
    lines += ["", f"Protocol: {split['protocol']}; {split['scaling']}.", ""]
    if result.get("sized_from_data"):
        lines += ["## Sized from the data", ""] + [f"- {k.replace('_', ' ')}: {v}" for k, v in
                                                 result["sized_from_data"].items()] + [""]
    lines += ["## Results (MSE / MAE on z-scored data; lower is better)", "",
              "| H | chosen | validation MSE | test MSE | test MAE | seasonal naive MSE | AutoARIMA MSE |",
              "|---|---|---|---|---|---|---|"]
    for r in result["results"]:
        h = str(r["horizon"])
        chosen = ", ".join(f"{c['channel']}: {chosen_label(c)}" if len(r["chosen"]) > 1 else chosen_label(c) for c in r["chosen"])
        score = f"{r['chosen'][0]['selection_score']:.4f}" if len(r["chosen"]) == 1 else "per channel"
        naive = result["seasonal_naive"].get(h)
        bl = result["baselines"].get(h)
        arima = "-"
        if bl:  # on its own test origins: bold whichever of it and Auto-AR there is lower
            theirs, there = bl["mse"], bl["autoar_same_origins"]["mse"]
            arima = (f"{_bold(theirs, theirs < there)} on {bl['windows']} test origins (Auto-AR there "
                     f"{_bold(there, there <= theirs)})")
        ours, naive_mse = r["mse"], naive["mse"]
        lines.append(f"| {h} | {chosen} | {score} | {_bold(ours, ours <= naive_mse)} | {r['mae']:.4f} | "
                     f"{_bold(naive_mse, naive_mse < ours)} ({naive['model']}) | {arima} |")
    notes = test_notes(result)
    lines += [""] + [f"- {note}" for note in notes] if notes else []
    iv = [(r["horizon"], r["intervals"]) for r in result["results"] if r.get("intervals")]
    if iv:
        lines += ["", f"Prediction intervals (`forecast_next_H*.csv`: `<channel>-lo-<level>`, `-hi-`): "
                      f"{iv[0][1]['from']}. Test coverage: " + "; ".join(
                          f"H={h}: " + ", ".join(f"{float(c):.1%} of the {lv}% intervals" for lv, c in
                                                 i["test_coverage"].items()) for h, i in iv) + "."]
    lines += ["", f"Candidates: {result['run']['candidates']} (p {cfg['min_order']}..{cfg['max_order']}, d in "
              f"{result['run']['diff_orders']}, lookback {cfg['lookback']}, {cfg['pooling']})"
              + ("; the naive and seasonal naive forecasts" if cfg.get("naive") else "")
              + ("; the pick shrunk toward the naive forecast by 0.25/0.5/0.75" if cfg.get("shrink") else "")
              + ("; the Theta method, the damped trend and their means with the pick (short series)"
                 if cfg.get("theta") else "")
              + ". Files: `forecast_next_H*.csv` (the rows after the data, own units), `model.json` (`predict RUN_DIR "
              "--data newer.csv`), `test_forecasts_H*.npz`.", ""]
    return "\n".join(lines)


#: a test MSE this many times the validation MSE of the chosen model is said beside the results
DRIFT_RATIO = 4.0


def _bold(value: float, best: bool) -> str:
    """``value`` to 4 decimals, in bold where it is the lower of a comparison."""
    return f"**{value:.4f}**" if best else f"{value:.4f}"


def test_notes(result: dict) -> list[str]:
    """Lines for what the test split showed after the choice was made: the chosen model behind the seasonal naive
    there, or its test MSE far above its validation MSE (the rows after validation behave otherwise: a level shift,
    a new regime). Said, not acted on: the test split is touched once."""
    out = []
    for r in result["results"]:
        naive = result["seasonal_naive"].get(str(r["horizon"]))
        val = r["chosen"][0]["selection_score"] if len(r["chosen"]) == 1 else None
        if val is not None and val > 0 and r["mse"] > DRIFT_RATIO * val:
            out.append(f"H={r['horizon']}: the test MSE is {r['mse'] / val:.0f}x the chosen model's validation MSE: "
                       "the test rows behave unlike the rows it was chosen on (a level shift or a new regime near the "
                       "end?); look at the last rows before trusting the forecast")
        if naive and naive["mse"] < r["mse"]:
            out.append(f"H={r['horizon']}: the {naive['model']} forecast was more accurate on the test windows "
                       f"({naive['mse']:.4f} vs {r['mse']:.4f})")
    return out


def chosen_label(c: dict) -> str:
    """:attr:`ChosenModel.label` of a chosen model as ``result.json`` writes it (:func:`result_dict`)."""
    names = {f.name for f in fields(ChosenModel)} - {"psi"}
    return ChosenModel(**{k: v for k, v in c.items() if k in names}, psi=c.get("level_coefficients", [])).label
