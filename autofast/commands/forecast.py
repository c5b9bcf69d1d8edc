"""``python -m autofast forecast``: Auto-AR on a CSV/.npy of series or a bundled data set."""
from __future__ import annotations

import json
import time
from pathlib import Path

from autofast.errors import AutofastError

from .options import default_out, merge_options, validated
from .progress import make_console, stage, steps

# the scale every forecast MSE/MAE is on (printed, in result.json and in each result)
SCALE = "z-scored data (each channel standardised with the training split's mean and std)"


def add_parser(sub) -> None:
    """Register ``forecast`` on an argparse subparsers object."""
    p = sub.add_parser("forecast", help="Auto-AR forecasting: search the whole lag grid, select on validation, test once",
                       description="Auto-AR on a CSV of series (a date column + numeric channels) or a bundled data set; "
                                   "a long-format CSV with a series id column (unique_id, id, ...: rows of id, date, "
                                   "value) is a panel, forecast by one global model over every series.")
    p.add_argument("--data", help="bundled data set name (see `datasets`) or a .csv/.npy path (default: ETTh1)")
    p.add_argument("--date-column", help="name of the date column, '' if none; auto: a column named date/time/"
                   "timestamp/month/... (any case), else a first non-numeric column (default: auto)")
    p.add_argument("--id-column", help="a long-format panel's series id column ('' : read the file as one series); "
                   "auto: a column named unique_id/series_id/series/id/item_id/... (any case) makes the file a panel "
                   "of many series, forecast by one global model (default: auto)")
    p.add_argument("--columns", nargs="+", help="channels to use (default: every numeric column; a panel: its value "
                                                "column, default y/value/target/sales or the one numeric column)")
    p.add_argument("--horizon", nargs="+", type=int, help="forecast horizons (default: ETT: 96 192 336 720; else "
                   "the M4 horizon of the dates' frequency, e.g. monthly 18, at most a tenth of the rows)")
    p.add_argument("--lookback", type=int, help="history rows per forecast (default: ETT 512; else half the training "
                                                "rows, at most 512)")
    p.add_argument("--max-order", type=int, help="largest AR order searched (default: a quarter of the training rows, "
                                                 "at most the lookback)")
    p.add_argument("--min-order", type=int, help="smallest AR order searched (default: 1)")
    p.add_argument("--diff", nargs="+", type=int,
                   help="differencing orders (default: 0 1 2; 0 1 for a panel of fewer than 20 series, one alone too)")
    p.add_argument("--diff-rule", choices=["grid", "kpss"],
                   help="grid: search d; kpss: the reference KPSS rule (default: grid)")
    p.add_argument("--intercept", choices=["both", "yes", "no"], help="fit an intercept: both = search it (default: both)")
    p.add_argument("--pooling", choices=["auto", "global", "per-channel"],
                   help="one model for all channels, or one per channel; auto: both where there are 2-8 "
                        "channels, the lower validation MSE kept per horizon (global on the ETT protocol and under "
                        "--selection bic) (default: auto)")
    p.add_argument("--selection", choices=["val", "bic"], help="val: validation MSE over steps 1..H; bic: in-sample "
                   "BIC (one-step Gaussian likelihood of the training fit, the same choice for every H) (default: val)")
    p.add_argument("--refit", choices=["train", "train+val"], help="rows the selected model is fitted on for its "
                                                                    "test (default: train)")
    p.add_argument("--next-fit", choices=["all", "tested"], help="rows the model forecasting after the data "
                   "(forecast_next_H*.csv, model.json) is fitted on: all = the chosen (p, d, const) refitted on every "
                   "row; tested = the tested model as it is (default: all)")
    p.add_argument("--backend", choices=["auto", "reference", "numba", "triton"],
                   help="grid kernels: auto = triton on CUDA, else numba (default: auto)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where the grid runs (default: auto)")
    p.add_argument("--split", choices=["auto", "ett-hourly", "ett-15min", "ratio"],
                   help="train/val/test split: auto = the ETT protocol for the bundled ETT sets, else ratio "
                        "(default: auto)")
    p.add_argument("--ratios", nargs=3, type=float, help="train/val/test fractions for --split ratio "
                                                         "(default: 0.6 0.2 0.2)")
    p.add_argument("--config", help="YAML file of options, keys = the flag names with underscores, e.g. "
                                    "horizon: [96, 192] (flags win) (default: none)")
    p.add_argument("--baseline", choices=["autoarima"],
                   help="add statsforecast AutoARIMA on the same splits (default: none)")
    p.add_argument("--baseline-origins", type=int, help="test origins the baseline is scored on (default: 20)")
    p.add_argument("--season", type=int, help="season of the seasonal naive candidate and the baselines (default: from "
                                              "the dates: monthly 12, quarterly 4, daily 7, hourly 24, ...; 1 if none)")
    p.add_argument("--naive", choices=["yes", "no"], help="also select among the naive and seasonal naive forecasts "
                                                          "on validation (default: yes)")
    p.add_argument("--shrink", choices=["yes", "no"], help="also try the validation pick shrunk toward the naive "
                                                           "forecast (weights 0.25/0.5/0.75), kept if better on "
                                                           "validation (default: yes)")
    p.add_argument("--theta", choices=["yes", "no"], help="also try the Theta method, the damped trend and their "
                                                          "means with the AR pick: one series, fitted on each window "
                                                          "and chosen on validation blocks the AR pick was not "
                                                          "chosen on (short series only); a panel: the mean of the "
                                                          "AR pick, each series' Theta and damped trend, unless a "
                                                          "single model is over 10%% ahead on validation; no: the "
                                                          "AR and naive candidates alone (default: yes)")
    p.add_argument("--level", nargs="+", type=int, help="prediction interval levels, whole percentages "
                                                        "(1-99), in forecast_next_H*.csv (default: 80 95)")
    p.add_argument("--out", help="run folder (default: runs/forecast-<data>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--no-plot", action="store_true", default=None, help="skip the plot (forecast_vs_truth.png; a panel's forecast_panel.png)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.add_argument("--threads", type=int, help="CPU threads (default: the CPUs this process may use)")
    p.set_defaults(func=run)


# the run's options (flags and YAML keys) beside the Auto-AR config, with their defaults
RUN_OPTIONS = {"data": "ETTh1", "date_column": "auto", "id_column": "auto", "columns": None, "baseline": None, "baseline_origins": 20,
               "no_plot": False}
# flag name -> AutoARConfig field
CONFIG_FIELDS = {"horizon": "horizons", "lookback": "lookback", "max_order": "max_order", "min_order": "min_order",
                 "diff": "diff_orders", "diff_rule": "diff_rule", "intercept": "intercept", "pooling": "pooling",
                 "selection": "selection", "refit": "refit", "next_fit": "next_fit", "backend": "backend",
                 "device": "device",
                 "split": "split", "ratios": "ratios", "season": "season", "naive": "naive",
                 "shrink": "shrink", "theta": "theta", "level": "levels"}
RENAMED = {"horizons": "horizon", "diff_orders": "diff"}  # YAML keys before they were the flag names


def _forecast_options(args) -> tuple[dict, "object", dict]:
    """(run options, validated AutoARConfig, the config options given by flag name) from ``--config`` and the
    flags."""
    from autofast.forecast import AutoARConfig

    keys = [*RUN_OPTIONS, *CONFIG_FIELDS]
    raw = merge_options(args.config, keys, vars(args), renamed=RENAMED)
    if isinstance(raw.get("ratios"), list):
        raw["ratios"] = tuple(raw["ratios"])
    for key in ("horizon", "diff", "level"):  # one value in a YAML file (horizon: 6) is a list of one, as on the
        if isinstance(raw.get(key), (int, float)) and not isinstance(raw[key], bool):  # command line
            raw[key] = [raw[key]]
    for flag in ("naive", "shrink", "theta"):
        if isinstance(raw.get(flag), str) and raw[flag] in ("yes", "no"):
            raw[flag] = raw[flag] == "yes"
    opts = {k: default if raw.get(k) is None else raw[k] for k, default in RUN_OPTIONS.items()}
    given = {k: v for k, v in raw.items() if k in CONFIG_FIELDS and v is not None}
    cfg = validated(AutoARConfig, {CONFIG_FIELDS[k]: v for k, v in given.items()},
                    names={v: k for k, v in CONFIG_FIELDS.items()})
    return opts, cfg, given


def run(args) -> int:
    """``python -m autofast forecast``: Auto-AR on a series; results in a staged run folder."""
    import numpy as np
    from rich.table import Table

    from autofast.data.registry import resolve_timeseries
    from autofast.data.timeseries import load_series
    from autofast.forecast import outputs as O
    from autofast.forecast.api import run_forecast
    from autofast.forecast.autoar import window_forecasts
    from autofast.io import staged_run_dir
    from autofast.reporting import write_reports
    from autofast.kernels.ar_grid import get_backend

    console = make_console(stderr=True, quiet=args.json)
    opts, cfg, given = _forecast_options(args)
    try:
        backend = get_backend(cfg.backend, cfg.device)  # the numba CPU default never imports torch
    except ValueError as exc:
        raise AutofastError(str(exc)) from None
    columns = opts["columns"]
    if columns and len(set(columns)) != len(columns):
        dup = next(c for c in columns if columns.count(c) > 1)
        raise AutofastError(f"--columns names {dup!r} more than once; give each channel once")
    if opts["baseline"] == "autoarima":
        from autofast.forecast.baseline import import_autoarima

        import_autoarima()  # a missing extra is refused before the search, not after it
    name, path = resolve_timeseries(str(opts["data"]))
    from autofast.data.text import data_suffix

    if data_suffix(path) == ".csv":
        from autofast.data.panel import csv_header, find_id_column

        id_column = find_id_column(csv_header(path), opts["id_column"] or None)
        if id_column is not None:
            from .forecast_panel import run_panel_command

            return run_panel_command(args, given, opts, path, name, id_column)
        if opts["id_column"] not in ("auto", ""):
            raise AutofastError(f"{path}: no id column {opts['id_column']!r} in its header; fix --id-column")
    t0 = time.perf_counter()
    data = load_series(path, opts["date_column"] or None, columns)
    t_load = time.perf_counter() - t0
    if not opts["baseline"]:
        from autofast.forecast.short import panel_of_one, short_series_panel

        short = short_series_panel(data, cfg, name)
        if short is not None:  # a short univariate series: the panel protocol on one series
            from .forecast_panel import write_panel_run

            return write_panel_run(args, short.config, opts, panel_of_one(data, short.notes, name), path, name,
                                   t_load, console, short.reason)

    def say_sized(sized) -> None:
        if sized.notes:
            freq = sized.frequency
            console.print(f"sized from the data ({freq.name + ' dates' if freq else 'no date frequency'}, "
                          f"{data.length} rows): " + "; ".join(f"{k.replace('_', ' ')} {v}"
                                                              for k, v in sized.notes.items()))

    out = Path(args.out) if args.out else default_out("forecast", name, name)
    with staged_run_dir(out, args.overwrite, command="forecast") as tmp:
        with stage(console, "Auto-AR search…") as say:
            run_ = run_forecast(data, name, cfg, progress=lambda m: say(f"Auto-AR: {m}"), on_sized=say_sized,
                                date_column=opts["date_column"] or None)
        cfg, ps, results, info, freq = run_.config, run_.series, run_.results, run_.run_info, run_.frequency
        naive = run_.seasonal_naive
        season = cfg.season
        baselines = {}
        if opts["baseline"] == "autoarima":
            from autofast.forecast.baseline import autoarima_baseline, subset_errors

            fitted: dict = {}  # one AutoARIMA fit per channel, shared by the horizons
            n_steps = len(results) * len(data.columns)
            with steps(console, f"AutoARIMA baseline ({len(data.columns)} channel fits, then "
                                f"{opts['baseline_origins']} test origins per horizon)", n_steps) as step:
                for res in results:
                    bl = autoarima_baseline(ps, res.horizon, cfg.lookback, max_origins=opts["baseline_origins"],
                                            season_length=season,
                                            progress=lambda m, h=res.horizon: step(f"H={h} {m}"), fitted=fitted)
                    fc, truth = window_forecasts(ps.z, res.chosen, res.test_start + np.asarray(bl["window_index"]),
                                                 cfg.lookback, res.horizon, backend)
                    bl["autoar_same_origins"] = subset_errors(fc, truth, np.arange(len(bl["window_index"])))
                    bl["scale"] = SCALE
                    baselines[res.horizon] = bl
        with stage(console, "writing test forecasts, next-H forecasts" + ("" if opts["no_plot"] else " and the plot")
                   + "…"):
            model = run_.model
            for res in results:
                O.write_test_forecasts(tmp / f"test_forecasts_H{res.horizon}.npz", ps, res, backend)
                nxt = model.predict(ps.data.values, res.horizon, backend)
                O.write_next_csv(tmp / f"forecast_next_H{res.horizon}.csv", ps.data.dates, ps.data.columns, nxt,
                                 model.bands(nxt, res.horizon, ps.data.values))
            model.save(tmp)  # model.json: predict RUN_DIR --data newer.csv
            if not opts["no_plot"]:
                O.plot_test_windows(tmp / "forecast_vs_truth.png", ps, results, backend)
        dumped = cfg.model_dump(mode="json")
        payload = {
            "command": "forecast", "data": name, "source": str(path), "rows": data.length, "channels": data.columns,
            "split": {"protocol": ps.bounds.protocol, "train_rows": [0, ps.bounds.train_end],
                      "val_rows": [ps.bounds.train_end, ps.bounds.val_end],
                      "test_rows": [ps.bounds.val_end, ps.bounds.test_end],
                      "scaling": "z-score with training-split statistics"},
            # by flag name, as --config reads them back (the AutoARConfig fields 'horizons', 'levels', ... were not)
            "config": {flag: dumped[field] for flag, field in CONFIG_FIELDS.items()},
            "run": {**info, "load_seconds": t_load},
            "frequency": None if freq is None else {"name": freq.name, "season": freq.season, "m4_horizon": freq.horizon},
            "sized_from_data": run_.sized_from_data, "season": season,
            "seasonal_naive": {str(h): n for h, n in naive.items()},
            "evaluation": "selection on the split named in each result's 'selected_on'; the test split is used once, "
                          "for the final MSE/MAE (standardised scale, mean over windows x steps x channels)",
            "units": f"every MSE/MAE here is on {SCALE}; forecast_next_H*.csv is in the data's own units",
            "results": [{**O.result_dict(r, data.columns), "scale": SCALE} for r in results],
            "baselines": {str(h): b for h, b in baselines.items()},
            "run_dir": str(out),
        }
        write_reports(tmp, payload, O.report_markdown(payload), f"autofast forecast {name}")
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return 0
    table = Table(title=f"Auto-AR on {name}: {info['candidates']} candidates, backend {info['backend']}",
                  caption=f"MSE/MAE on {SCALE}")
    sel = "val MSE@H" if cfg.selection == "val" else "BIC"
    table.add_column("H", justify="right", no_wrap=True, min_width=max(len(str(r.horizon)) for r in results))
    for col in ["test MSE (z)", "test MAE (z)", "(p, d, const)", sel, "search s", "test s"]:  # these wrap on a
        table.add_column(col, justify="right", no_wrap=col != "(p, d, const)")  # narrow terminal; H never
    notes = []
    for r in results:
        ch = r.chosen
        if len(ch) == 1:
            chosen, score = ch[0].label, f"{ch[0].selection_score:.4f}"
        else:
            chosen, score = "per channel", "-"
            notes.append(f"H={r.horizon} per-channel models: " + ", ".join(f"{data.columns[c.group]}:{c.label}" for c in ch))
        t = r.timings
        search = t["fit_grid"] + t["moments"] + t["score"] + t["select_refit"]
        table.add_row(str(r.horizon), f"{r.mse:.4f}", f"{r.mae:.4f}", chosen, score, f"{search:.2f}", f"{t['test']:.2f}")
    out_console = make_console()
    out_console.print(table)
    for line in notes:
        out_console.print(line)
    for h, n in naive.items():
        res = next(r for r in results if r.horizon == h)
        out_console.print(f"H={h}: {n['model']} on the same {n['windows']} test windows: MSE {n['mse']:.4f} "
                          f"MAE {n['mae']:.4f} | Auto-AR: MSE {res.mse:.4f} MAE {res.mae:.4f} (z-scored)")
    for h, bl in baselines.items():
        same = bl["autoar_same_origins"]
        fit = f"fit {bl['fit_seconds']:.1f}s" if not bl["fits_reused"] else "fits of the first horizon"
        out_console.print(f"H={h}: {bl['model']} on {bl['windows']} test origins: MSE {bl['mse']:.4f} MAE {bl['mae']:.4f} "
                          f"({fit}) | Auto-AR on the same origins: MSE {same['mse']:.4f} MAE {same['mae']:.4f} "
                          "(z-scored)")
    for line in O.test_notes(payload):
        out_console.print(f"note: {line}")
    out_console.print(f"selected on: {results[0].selected_on}; refit on {results[0].refit_on}; test split touched "
                      f"once; the forecasts after the data fitted on {results[0].final_on}. Results in {out}/")
    return 0
