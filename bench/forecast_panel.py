"""The forecast panel: does ``autofast forecast`` with its defaults hold up on the short series users bring?

Per series, in ONE run:

1. ``forecast``: ``python -m autofast forecast --data CSV --split ratio --json`` with no sizing flags (the window
   protocol: a series of at most 300 rows takes the panel of one without ``--split``; a subprocess, timed from
   process start to exit): the horizon, lookback, orders and season come from the data; its ``result.json`` gives
   Auto-AR's test MSE and the seasonal naive's on the same test windows;
2. the peers a user would pick instead, statsforecast's AutoARIMA and AutoETS with the run's season, fitted here
   on the same training rows in the data's own units (ETS's multiplicative forms need them), scored on the
   z-scale like Auto-AR, and applied (``forward``: the fitted model filtered over the history, not
   refitted) at every test window's origin to ALL the rows before it -- more history than Auto-AR's lookback,
   which favours the peers. ETTh1 (17 420 rows, where a seasonal AutoARIMA fit takes minutes) instead runs the
   command's own ``--baseline autoarima`` on 20 test origins (each origin's lookback rows), compared with
   Auto-AR on the same 20.

MSE on the z-scored scale (training statistics), mean over test windows x steps x channels. Beside it, how often
the test targets fall inside each method's 80% and 95% prediction intervals (ours from validation errors,
``autofast/forecast/intervals.py``; the peers' from their models, ``forward(..., level=[80, 95])``). Everything is
deterministic: one run per series.

Series: aeon's forecasting CSVs (BSD-3; Airline, ShampooSales, Uschange, PBS_dataset, solar, Lynx) and, as a
second development round, ETTh1's OT as daily means (725 days) and the 20 M1 yearly series with at least 40
years (``m1_yearly_dataset.tsf``): the defaults, the naive candidates and the shrinkage were chosen on these;
ETTh1 at H = 96 (the protocol the defaults must not change); held out, first run once all of that was fixed:
the 51 M1 yearly series of 25-39 years. Each group is summarised by the geometric mean of each method's MSE
relative to the (seasonal) naive forecast's and by how often Auto-AR beats each peer.

Usage (repository root)::

    .venv/bin/python bench/forecast_panel.py --out runs/forecast-panel          # ~3 min on 2 cores
    .venv/bin/python bench/forecast_panel.py --out runs/fp --only Airline Lynx
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEV = {"Airline": "Airline/Airline.csv", "ShampooSales": "ShampooSales/ShampooSales.csv",
       "Uschange": "Uschange/Uschange.csv", "PBS": "PBS_dataset/PBS_dataset.csv", "solar": "solar/solar.csv",
       "Lynx": "Lynx/Lynx.csv"}
M1_MIN_YEARS = 40
#: M1 yearly series first run after every default here was fixed (2026-12-06, with the shrinkage): the check
HELD_OUT_YEARS = (25, 39)


def aeon_data() -> Path:
    spec = importlib.util.find_spec("aeon")
    if spec is None:
        raise SystemExit("the forecast panel reads aeon's bundled CSVs: .venv/bin/pip install --no-deps aeon==1.6.0")
    return Path(spec.origin).parent / "datasets" / "data"


def write_ett_daily(folder: Path) -> dict[str, Path]:
    """ETTh1's OT as daily means (725 days), as a CSV."""
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    ett = pd.read_csv(ROOT.parent / "shared" / "data" / "ett" / "ETTh1.csv", parse_dates=["date"])
    daily = ett.set_index("date")["OT"].resample("D").mean().dropna()
    p = folder / "ett_ot_daily.csv"  # not "ETTh1...": that name selects the hourly ETT protocol
    daily.rename("OT").to_frame().rename_axis("date").to_csv(p, date_format="%Y-%m-%d")
    return {"ETTh1 OT daily": p}


def write_m1(folder: Path, years: tuple[int, int]) -> dict[str, Path]:
    """The M1 yearly series (``m1_yearly_dataset.tsf``) of ``years[0]`` to ``years[1]`` years, one CSV each."""
    import pandas as pd
    from aeon.datasets import load_from_tsf_file

    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    df, _ = load_from_tsf_file(str(aeon_data() / "m1_yearly_dataset" / "m1_yearly_dataset.tsf"))
    for _, row in df.iterrows():
        values = np.asarray(row["series_value"], dtype=float)
        if not years[0] <= len(values) <= years[1]:
            continue
        start = pd.Timestamp(row["start_timestamp"]).year
        p = folder / f"M1_{row['series_name']}.csv"
        pd.DataFrame({"year": np.arange(start, start + len(values)), "value": values}).to_csv(p, index=False)
        out[f"M1 {row['series_name']}"] = p
    return out


def run_forecast(csv: Path, out: Path, extra: list[str]) -> tuple[dict, float]:
    """The command on ``csv`` under the window protocol (``--split ratio``: since 2026-12-07 a series of at most
    120 rows, since a later change 300, takes the panel of one by default, measured series by series in ``bench/forecast_short.py``; this
    panel compares the window protocol's test windows with the peers' on the same windows)."""
    split = [] if "--columns" in extra else ["--split", "ratio"]  # ETTh1 keeps its own protocol
    cmd = [sys.executable, "-m", "autofast", "forecast", "--data", str(csv), "--out", str(out), "--overwrite",
           "--no-plot", "--json", *split, *extra]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{csv.name}: {r.stderr.strip().splitlines()[-1]}")
    return json.loads(r.stdout), wall


def peers(csv: Path, res: dict) -> dict[str, float]:
    """AutoARIMA and AutoETS (season from the run) fitted on the run's training rows; at every test window's
    origin, forward over all the rows before it. MSE per model, z-scored, over windows x steps x channels."""
    from statsforecast.models import AutoARIMA, AutoETS

    from autofast.data.timeseries import PreparedSeries, load_series, window_range

    ps = PreparedSeries.build(res["data"], load_series(csv), res["config"]["split"], tuple(res["config"]["ratios"]))
    L, m = res["config"]["lookback"], res["season"]
    r0 = res["results"][0]
    H = r0["horizon"]
    wt = window_range(ps.bounds, "test", L, H, ps.name)
    out = {}
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for key, cls in (("autoarima", AutoARIMA), ("autoets", AutoETS)):
            sq, inside = [], {80: [], 95: []}
            for c in range(ps.z.shape[0]):  # raw units (ETS's multiplicative forms need positive data), scored z-scored
                raw = np.ascontiguousarray(ps.data.values[:, c])
                mean, std = ps.scaler.mean[c], ps.scaler.std[c]
                model = cls(season_length=m).fit(raw[: ps.bounds.train_end])
                for n in wt.starts:
                    f = model.forward(raw[: n + L], h=H, level=[80, 95])
                    truth = raw[n + L : n + L + H]
                    sq.append(((f["mean"] - mean) / std - ps.z[c, n + L : n + L + H]) ** 2)
                    for lv in inside:
                        inside[lv].append((f[f"lo-{lv}"] <= truth) & (truth <= f[f"hi-{lv}"]))
            out[key] = float(np.mean(sq))
            out[f"{key}_coverage"] = {lv: float(np.mean(v)) for lv, v in inside.items()}
    return out


def measure(name: str, csv: Path, folder: Path, extra: list[str]) -> dict:
    from autofast.forecast.outputs import chosen_label

    res, wall = run_forecast(csv, folder / "runs" / name.replace(" ", "_"), extra)
    r0 = res["results"][0]
    h = str(r0["horizon"])
    row = {"name": name, "rows": res["rows"], "channels": len(res["channels"]),
           "frequency": (res["frequency"] or {}).get("name", "-"), "horizon": r0["horizon"],
           "lookback": res["config"]["lookback"], "max_order": res["config"]["max_order"], "season": res["season"],
           "test_windows": r0["test_windows"], "autoar": r0["mse"],
           "chosen": ", ".join(sorted({chosen_label(c) for c in r0["chosen"]})),
           "naive": res["seasonal_naive"][h]["mse"], "naive_model": res["seasonal_naive"][h]["model"],
           "wall_s": wall, "arima_windows": r0["test_windows"], "autoets": None,
           "coverage": {int(k): v for k, v in r0["intervals"]["test_coverage"].items()}}
    if h in res["baselines"]:  # the command's own AutoARIMA on a subset of origins (ETTh1)
        bl = res["baselines"][h]
        row.update(autoarima=bl["mse"], autoar_same_origins=bl["autoar_same_origins"]["mse"], arima_windows=bl["windows"])
    else:
        row.update(peers(csv, res))
    return row


def table(rows: list[dict]) -> str:
    lines = ["| series | rows x ch | freq | H / L / P / m | Auto-AR (chosen) | seasonal naive | AutoARIMA | AutoETS "
             "| 80% / 95% coverage: Auto-AR, AutoETS | wall |", "|---|---|---|---|---|---|---|---|---|---|"]
    pct = lambda c: "-" if not c else f"{c[80]:.2f} / {c[95]:.2f}"  # noqa: E731
    for r in rows:
        best = min(v for v in (r["autoar"], r["naive"], r["autoarima"], r["autoets"]) if v is not None)
        f = lambda v: "n/a" if v is None else (f"**{v:.4f}**" if v == best else f"{v:.4f}")  # noqa: E731
        arima = f(r["autoarima"]) if r["arima_windows"] == r["test_windows"] else \
            f"{r['autoarima']:.4f} ({r['arima_windows']} windows; Auto-AR there {r['autoar_same_origins']:.4f})"
        lines.append(f"| {r['name']} | {r['rows']} x {r['channels']} | {r['frequency']} | {r['horizon']} / "
                     f"{r['lookback']} / {r['max_order']} / {r['season']} | {f(r['autoar'])} ({r['chosen']}) | "
                     f"{f(r['naive'])} | {arima} | {f(r['autoets'])} | {pct(r.get('coverage'))}, "
                     f"{pct(r.get('autoets_coverage'))} | {r['wall_s']:.1f} s |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    """Geometric mean of MSE / naive MSE per method, and Auto-AR's wins against each peer."""
    out = []
    for key, label in (("autoar", "Auto-AR"), ("autoarima", "AutoARIMA"), ("autoets", "AutoETS")):
        rel = [r[key] / r["naive"] for r in rows if r[key] is not None and r["naive"] > 0]
        if rel:
            out.append(f"{label} {math.exp(np.mean(np.log(rel))):.3f}")
    cov = []
    for key, label in (("coverage", "Auto-AR"), ("autoarima_coverage", "AutoARIMA"), ("autoets_coverage", "AutoETS")):
        vals = [r[key] for r in rows if r.get(key)]
        if vals:
            cov.append(f"{label} {np.mean([v[80] for v in vals]):.2f} / {np.mean([v[95] for v in vals]):.2f}")
    n = {k: sum(r[k] is not None for r in rows) for k in ("autoarima", "autoets", "naive")}
    wins = {k: sum(r["autoar"] < r[k] for r in rows if r[k] is not None) for k in n}
    return (f"{len(rows)} series; geometric mean of MSE / naive MSE: " + ", ".join(out) + "; Auto-AR below " +
            ", ".join(f"{label} on {wins[k]} of {n[k]}" for k, label in
                      (("autoarima", "AutoARIMA"), ("autoets", "AutoETS"), ("naive", "the (seasonal) naive")) if n[k])
            + ("; test coverage of the 80% / 95% prediction intervals (mean over series): " + ", ".join(cov)
               if cov else ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "forecast-panel")
    ap.add_argument("--only", nargs="+", help="series names to run (default: all)")
    args = ap.parse_args(argv)
    t_start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    data = aeon_data()
    groups = {"development (aeon)": {n: data / f for n, f in DEV.items()},
              "development (M1 >= 40 years, ETT daily)": {**write_ett_daily(args.out / "data"),
                                                           **write_m1(args.out / "data", (M1_MIN_YEARS, 10**6))},
              "ETT protocol": {"ETTh1": "ETTh1"},
              "held out (M1 25-39 years)": write_m1(args.out / "data", HELD_OUT_YEARS)}
    report, results = [], {}
    for group, series in groups.items():
        rows = []
        for name, csv in series.items():
            if args.only and name not in args.only:
                continue
            extra = ["--horizon", "96", "--columns", "OT", "--baseline", "autoarima"] if name == "ETTh1" else []
            row = measure(name, Path(csv) if name != "ETTh1" else csv, args.out, extra)
            print(f"  {group}: {name}: Auto-AR {row['autoar']:.4f}, naive {row['naive']:.4f}, AutoARIMA "
                  f"{row['autoarima']:.4f}, AutoETS {row['autoets'] if row['autoets'] is None else round(row['autoets'], 4)}"
                  f" ({row['wall_s']:.1f} s)", flush=True)
            rows.append(row)
        if rows:
            results[group] = rows
            report += [f"**{group}**" + (f": {summary(rows)}" if len(rows) >= 3 else ""), "", table(rows), ""]
    import platform

    import statsforecast

    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    report.insert(0, f"Measured {time.strftime('%Y-%m-%d')} on {cpu}, {len(os.sched_getaffinity(0))} usable cores, "
                     f"load average {os.getloadavg()[0]:.1f} at the end; statsforecast {statsforecast.__version__}; "
                     f"`.venv/bin/python bench/forecast_panel.py` ({time.perf_counter() - t_start:.0f} s in all). MSE "
                     "on z-scored data, lower is better, the best of a row in bold.\n")
    (args.out / "forecast_panel.json").write_text(json.dumps(results, indent=1))
    (args.out / "forecast_panel.md").write_text("\n".join(report))
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
