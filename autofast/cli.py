"""``python -m autofast``: command-line entry points.

Each subcommand parses its flags into a validated config, runs plain pipeline functions and
prints a rich table (or JSON with ``--json``). Bad input ends in one ``error:`` line, exit 2.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

from .autoft.commands import add_parsers as _add_autoft_parsers
from .errors import AutofastError
from .runtime import configure as configure_runtime


def _load_yaml_config(path: str | None) -> dict:
    if not path:
        return {}
    import yaml

    p = Path(path)
    if not p.exists():
        raise AutofastError(f"config file {path!r} does not exist; check the path")
    try:
        data = yaml.safe_load(p.read_text())  # data only: safe_load never builds objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise AutofastError(f"{path}: invalid YAML{where}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AutofastError(f"{path}: expected a mapping of option: value at the top level")
    return data


def _add_forecast_parser(sub) -> None:
    p = sub.add_parser("forecast", help="Auto-AR forecasting: search the whole lag grid, select on validation, test once",
                       description="Auto-AR on a CSV of series (a date column + numeric channels) or a bundled data set.")
    p.add_argument("--data", default="ETTh1", help="bundled data set name (see `datasets`) or a .csv/.npy path")
    p.add_argument("--date-column", default="date", help="name of the date column ('' if none)")
    p.add_argument("--columns", nargs="+", help="channels to use (default: every numeric column)")
    p.add_argument("--horizon", nargs="+", type=int, help="forecast horizons (default 96 192 336 720)")
    p.add_argument("--lookback", type=int, help="history rows per forecast (default 512)")
    p.add_argument("--max-order", type=int, help="largest AR order searched (default 512)")
    p.add_argument("--min-order", type=int, help="smallest AR order searched (default 1)")
    p.add_argument("--diff", nargs="+", type=int, dest="diff_orders", help="differencing orders (default 0 1 2)")
    p.add_argument("--diff-rule", choices=["grid", "kpss"], help="grid: search d; kpss: the reference KPSS rule")
    p.add_argument("--intercept", choices=["both", "yes", "no"])
    p.add_argument("--pooling", choices=["global", "per-channel"])
    p.add_argument("--selection", choices=["val", "bic"], help="val: validation MSE (default); bic: in-sample BIC")
    p.add_argument("--refit", choices=["train", "train+val"], help="rows the selected model is fitted on")
    p.add_argument("--backend", choices=["auto", "reference", "numba", "triton"])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"])
    p.add_argument("--split", choices=["auto", "ett-hourly", "ett-15min", "ratio"])
    p.add_argument("--ratios", nargs=3, type=float, help="train/val/test fractions for --split ratio")
    p.add_argument("--config", help="YAML file with any of these options (command-line flags win)")
    p.add_argument("--baseline", choices=["autoarima"], help="add statsforecast AutoARIMA on the same splits")
    p.add_argument("--baseline-origins", type=int, default=20, help="test origins the baseline is scored on")
    p.add_argument("--out", help="run folder (default runs/forecast-<data>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=cmd_forecast)


_CONFIG_KEYS = ["horizons", "lookback", "max_order", "min_order", "diff_orders", "diff_rule", "intercept", "pooling",
                "selection", "refit", "backend", "device", "split", "ratios"]


def _merge_options(config_path: str | None, keys: list[str], cli: dict) -> dict:
    """YAML options (unknown keys rejected) overridden by the command-line flags that were given."""
    raw = _load_yaml_config(config_path)
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise AutofastError(f"{config_path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(keys)}")
    raw.update({k: v for k, v in cli.items() if k in keys and v is not None})
    return raw


def _validated(model_cls, raw: dict):
    """Build a pydantic config; the first validation error becomes one ``error:`` line."""
    from pydantic import ValidationError

    try:
        return model_cls(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "config"
        raise AutofastError(f"invalid option {field}: {err['msg']}") from None


def _forecast_config(args):
    from .forecast import AutoARConfig

    cli = {"horizons": args.horizon, **{k: getattr(args, k, None) for k in _CONFIG_KEYS if k != "horizons"}}
    raw = _merge_options(args.config, _CONFIG_KEYS, cli)
    if raw.get("ratios") is not None:
        raw["ratios"] = tuple(raw["ratios"])
    return _validated(AutoARConfig, raw)


def cmd_forecast(args) -> int:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from .data.registry import resolve_timeseries
    from .data.timeseries import PreparedSeries, load_series
    from .forecast import run_autoar
    from .forecast import outputs as O
    from .forecast.autoar import window_forecasts
    from .io import staged_run_dir
    from .kernels.ar_grid import get_backend

    console = Console(stderr=True, quiet=args.json)
    cfg = _forecast_config(args)
    try:
        backend = get_backend(cfg.backend, cfg.device)  # the numba CPU default never imports torch
    except ValueError as exc:
        raise AutofastError(str(exc)) from None
    name, path = resolve_timeseries(args.data)
    t0 = time.perf_counter()
    data = load_series(path, args.date_column or None, args.columns)
    ps = PreparedSeries.build(name, data, cfg.split, cfg.ratios)
    t_load = time.perf_counter() - t0
    out = Path(args.out or f"runs/forecast-{name}-{datetime.now():%Y%m%d-%H%M%S}")
    with staged_run_dir(out, args.overwrite) as tmp:
        with console.status("Auto-AR search…") as status:
            results, info = run_autoar(ps, cfg, progress=lambda m: status.update(f"Auto-AR: {m}"))
        baselines = {}
        if args.baseline == "autoarima":
            from .forecast.baseline import autoarima_baseline, subset_errors

            for res in results:
                with console.status(f"AutoARIMA baseline, H={res.horizon}…"):
                    bl = autoarima_baseline(ps, res.horizon, cfg.lookback, max_origins=args.baseline_origins)
                fc, truth = window_forecasts(ps.z, res.chosen, res.test_start + np.asarray(bl["window_index"]),
                                             cfg.lookback, res.horizon, backend)
                bl["autoar_same_origins"] = subset_errors(fc, truth, np.arange(len(bl["window_index"])))
                baselines[res.horizon] = bl
        for res in results:
            O.write_test_forecasts(tmp / f"test_forecasts_H{res.horizon}.npz", ps, res, backend)
            nxt = O.next_forecast(ps, res.chosen, res.horizon, cfg.lookback, backend)
            O.write_next_csv(tmp / f"forecast_next_H{res.horizon}.csv", ps, nxt)
        if not args.no_plot:
            O.plot_test_windows(tmp / "forecast_vs_truth.png", ps, results, backend)
        payload = {
            "command": "forecast", "data": name, "source": str(path), "rows": data.length, "channels": data.columns,
            "split": {"protocol": ps.bounds.protocol, "train_rows": [0, ps.bounds.train_end],
                      "val_rows": [ps.bounds.train_end, ps.bounds.val_end],
                      "test_rows": [ps.bounds.val_end, ps.bounds.test_end],
                      "scaling": "z-score with training-split statistics"},
            "config": cfg.model_dump(mode="json"), "run": {**info, "load_seconds": t_load},
            "evaluation": "selection on the split named in each result's 'selected_on'; the test split is used once, "
                          "for the final MSE/MAE (standardised scale, mean over windows x steps x channels)",
            "results": [O.result_dict(r, data.columns) for r in results],
            "baselines": {str(h): b for h, b in baselines.items()},
            "run_dir": str(out),
        }
        O.write_result_json(tmp / "result.json", payload)
    if args.json:
        print(json.dumps(payload, indent=2, default=str))
        return 0
    table = Table(title=f"Auto-AR on {name}: {info['candidates']} candidates, backend {info['backend']}")
    sel = "val MSE@H" if cfg.selection == "val" else "BIC"
    for col in ["H", "test MSE", "test MAE", "(p, d, const)", sel, "search s", "test s"]:
        table.add_column(col, justify="right", no_wrap=True)
    notes = []
    for r in results:
        ch = r.chosen
        if len(ch) == 1:
            chosen, score = f"({ch[0].p}, {ch[0].d}, {'yes' if ch[0].intercept else 'no'})", f"{ch[0].selection_score:.4f}"
        else:
            chosen, score = "per channel", "-"
            notes.append(f"H={r.horizon} per-channel (p, d): " + ", ".join(f"{data.columns[c.group]}:({c.p},{c.d})" for c in ch))
        t = r.timings
        search = t["fit_grid"] + t["moments"] + t["score"] + t["select_refit"]
        table.add_row(str(r.horizon), f"{r.mse:.4f}", f"{r.mae:.4f}", chosen, score, f"{search:.2f}", f"{t['test']:.2f}")
    out_console = Console()
    out_console.print(table)
    for line in notes:
        out_console.print(line)
    for h, bl in baselines.items():
        same = bl["autoar_same_origins"]
        out_console.print(f"H={h}: {bl['model']} on {bl['windows']} test origins: MSE {bl['mse']:.4f} MAE {bl['mae']:.4f} "
                          f"(fit {bl['fit_seconds']:.1f}s) | Auto-AR on the same origins: MSE {same['mse']:.4f} "
                          f"MAE {same['mae']:.4f}")
    out_console.print(f"selected on: {results[0].selected_on}; refit on {results[0].refit_on}; test split touched once. "
                      f"Results in {out}/")
    return 0


def cmd_datasets(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from .data.registry import list_datasets

    ds = list_datasets()
    if args.json:
        print(json.dumps([{"name": d.name, "kind": d.kind, "path": str(d.path) if d.path else None, "description": d.description,
                           "source": d.source, "split": d.split} for d in ds], indent=2))
        return 0
    table = Table(title="Bundled data sets")
    for col in ["name", "kind", "description", "default split", "source / licence"]:
        table.add_column(col)
    for d in ds:
        table.add_row(d.name, d.kind, d.description, d.split, d.source)
    Console().print(table)
    return 0


def _add_dash_parser(sub) -> None:
    p = sub.add_parser("dash", help="DASH architecture search (kernel size x dilation per layer), retrain, test once",
                       description="DASH on a classification task: a bundled name (splice, digits) or a file "
                                   "(.csv/.fasta DNA, .npz or a folder of images).")
    p.add_argument("--task", default="splice")
    p.add_argument("--backbone", choices=["auto", "resnet1d", "wrn16", "wrn22"])
    p.add_argument("--kernel-sizes", nargs="+", type=int)
    p.add_argument("--dilations", nargs="+", type=int)
    for flag, typ in [("--search-width", int), ("--retrain-width", int), ("--search-epochs", int),
                      ("--search-batch-fraction", float), ("--retrain-epochs", int), ("--batch-size", int),
                      ("--lr", float), ("--arch-lr", float), ("--weight-decay", float), ("--rf-penalty", float),
                      ("--dropout", float), ("--seed", int), ("--threads", int), ("--lookback", int),
                      ("--horizon", int), ("--train-stride", int)]:
        p.add_argument(flag, type=typ)
    p.add_argument("--kind", choices=["auto", "classification", "timeseries"],
                   help="timeseries: DASH on forecasting windows (regression); auto: by the bundled name")
    p.add_argument("--no-baseline", dest="baseline", action="store_false", default=None,
                   help="skip the fixed-kernel baseline")
    p.add_argument("--config", help="YAML file with any of these options (flags win)")
    p.add_argument("--out", help="run folder (default runs/dash-<task>-<time>)")
    p.add_argument("--overwrite", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_dash)


def cmd_dash(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from .dash.pipeline import DashConfig, run_dash
    from .dash.report import pattern_rows, write_run
    from .io import staged_run_dir

    cfg = _validated(DashConfig, _merge_options(args.config, list(DashConfig.model_fields), vars(args)))
    console = Console(stderr=True, quiet=args.json)
    out = Path(args.out or f"runs/dash-{Path(cfg.task).stem}-{datetime.now():%Y%m%d-%H%M%S}")
    with staged_run_dir(out, args.overwrite) as tmp:
        with console.status("DASH…") as status:
            result = run_dash(cfg, say=lambda m: status.update(f"DASH: {m}"))
        write_run(tmp, result)
    result["run_dir"] = str(out)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k not in ("arch_probabilities",)}, indent=2, default=str))
        return 0
    con = Console()
    table = Table(title=f"DASH pattern on {result['task']} ({result['backbone']})")
    for col in ["layer", "k", "d", "receptive field", "p(chosen)"]:
        table.add_column(col, justify="right")
    for i, k, d, rf, pr in pattern_rows(result):
        table.add_row(str(i), str(k), str(d), str(rf), f"{pr:.2f}")
    con.print(table)
    t = result["timings"]
    r = result["retrain"]
    reg = result["kind"] == "timeseries"

    def score(x, split):
        return f"{split} MSE {x[f'{split}_loss' if split == 'test' else 'best_val_loss']:.4f}" if reg else \
            f"{split} accuracy {x['test_acc' if split == 'test' else 'best_val_acc']:.4f}"

    con.print(f"DASH (search {t['search']:.0f}s + retrain {t['retrain']:.0f}s): {score(r, 'test')} "
              f"(best {score(r, 'val')} at epoch {r['best_epoch']})")
    if "baseline" in result:
        b = result["baseline"]
        con.print(f"fixed 3x1 baseline ({b['epochs']} epochs, {b['seconds']:.0f}s): {score(b, 'test')} "
                  f"(best {score(b, 'val')})")
    con.print(f"selected on: {result['selected_on']}. Results in {out}/")
    return 0


def _add_search_parser(sub) -> None:
    p = sub.add_parser("search", help="DASHA: DASH search, ASHA over the training hyperparameters, retrain, test once",
                       description="The main job: a tuned supervised baseline for a task (splice, digits, ETTh1 "
                                   "windows, or your file). --resume RUN_DIR continues a killed search.")
    p.add_argument("--task", default="splice")
    p.add_argument("--backbone", choices=["auto", "resnet1d", "wrn16", "wrn22"])
    p.add_argument("--kind", choices=["auto", "classification", "timeseries"])
    for flag, typ in [("--search-width", int), ("--search-epochs", int), ("--search-batch-fraction", float),
                      ("--retrain-width", int), ("--retrain-epochs", int), ("--n-configs", int), ("--eta", float),
                      ("--min-epochs", int), ("--max-epochs", int), ("--batch-size", int), ("--seed", int),
                      ("--threads", int), ("--lookback", int), ("--horizon", int), ("--trials-per-device", int)]:
        p.add_argument(flag, type=typ)
    p.add_argument("--warmup-epochs", type=float, help="linear lr warm-up of every trial and the retrain (default 0)")
    p.add_argument("--sampler", choices=["random", "grid", "tpe"], help="new ASHA configurations (default random)")
    p.add_argument("--executor", choices=["local", "ray"],
                   help="local: trials in threads of this process (default); ray: trials on a Ray cluster")
    p.add_argument("--address", help="--executor ray: address of an existing Ray cluster (default: start a local one)")
    p.add_argument("--devices", nargs="+", metavar="DEV",
                   help="local executor: devices to pin trials to, e.g. cpu or cuda:0 cuda:1 (default cpu)")
    p.add_argument("--fuse-trials", choices=["auto", "on", "off"],
                   help="local executor: train up to --trials-per-device waiting trials as one fused model "
                        "(default auto: on GPUs only)")
    p.add_argument("--config", help="YAML file with any of these options (flags win); --task may also be a "
                                    "YAML task file describing your data (see README)")
    p.add_argument("--out", help="run folder (default runs/search-<task>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the search in RUN_DIR")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_search)


def cmd_search(args) -> int:
    from rich.console import Console

    from .search.config import SearchConfig
    from .search.pipeline import run_search

    if args.resume:
        run_dir = Path(args.resume)
        saved = run_dir / "search_config.json"
        if not saved.exists():
            raise AutofastError(f"{run_dir}: no search_config.json, so not a search run folder; check --resume")
        raw = json.loads(saved.read_text())
    else:
        raw = _merge_options(args.config, list(SearchConfig.model_fields), vars(args))
        run_dir = Path(args.out or f"runs/search-{Path(raw.get('task', 'splice')).stem}-{datetime.now():%Y%m%d-%H%M%S}")
        if run_dir.exists() and any(run_dir.iterdir()):
            raise AutofastError(f"output folder {str(run_dir)!r} exists and is not empty; choose another --out "
                                f"or continue it with --resume {run_dir}")
    cfg = _validated(SearchConfig, raw)
    from rich.live import Live

    from .search.progress import SearchProgress
    from .io import write_json_atomic

    fresh = not run_dir.exists()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "search_config.json", cfg.model_dump(mode="json"))
    console = Console(stderr=True, quiet=args.json)
    progress = SearchProgress(cfg.n_configs)
    try:
        if console.is_terminal:
            with Live(progress, console=console, refresh_per_second=4):
                result = run_search(cfg, run_dir, resume=bool(args.resume), say=progress.stage,
                                    on_start=progress.on_start, on_result=progress.on_result)
        else:  # a log file or pipe: one line per stage message and per finished job
            def logged(out):
                progress.on_result(out)
                what = out.error or f"val {out.score:.4f}"
                console.print(f"trial {out.job.trial_id} rung {out.job.rung} ({out.job.resource_to:g} epochs): "
                              f"{what} [{out.seconds:.1f}s]", highlight=False)

            result = run_search(cfg, run_dir, resume=bool(args.resume), say=lambda m: console.print(m, highlight=False),
                                on_start=progress.on_start, on_result=logged)
    except AutofastError:
        if fresh and not (run_dir / "pattern.json").exists():  # failed before any work: leave nothing behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k != "final_history"}, indent=2, default=str))
        return 0
    con = Console()
    a = result["asha"]
    con.print(f"pattern ({result['backbone']}): {[tuple(p) for p in result['pattern']]}")
    con.print(f"ASHA: {len(a['trials'])} trials, rungs {a['rungs']}; best trial {a['best_trial']} "
              f"(validation {a['best_val_score']:.4f})")
    con.print(f"test {result['metric']}: {result['test_score']:.4f}   (report: {run_dir}/report.md)")
    con.print(f"selected on: {result['selected_on']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autofast", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _add_forecast_parser(sub)
    _add_dash_parser(sub)
    _add_search_parser(sub)
    _add_autoft_parsers(sub)
    for name in ("dash", "search", "pretrain", "finetune", "compare"):  # the commands that train convs
        sub.choices[name].add_argument(
            "--conv-path", choices=["auto", "native", "tap", "fft"], default=None,
            help="how convolutions run: auto (default: the fastest exact path per shape, measured once and "
                 "cached in ~/.cache/autofast), native (torch's conv), tap (autofast's tap kernels), fft; "
                 "also $AUTOFAST_CONV_PATH")
        sub.choices[name].add_argument(
            "--precision", choices=["auto", "fp32", "bf16", "fp16"], default=None,
            help="training precision: auto (default: fp32), fp32, bf16 (autocast), fp16 (autocast + loss "
                 "scaling, CUDA only); also $AUTOFAST_PRECISION")
    d = sub.add_parser("datasets", help="list the bundled data sets")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_datasets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        threads = getattr(args, "threads", None)
        if threads is not None and threads < 1:
            raise AutofastError(f"--threads {threads}: give a positive thread count (default: the CPUs this process may use)")
        configure_runtime(threads)  # before torch / numba / the C++ extension start their thread pools
        if getattr(args, "conv_path", None):
            os.environ["AUTOFAST_CONV_PATH"] = args.conv_path  # read by autofast.kernels.conv.conv_path
        if getattr(args, "precision", None):
            os.environ["AUTOFAST_PRECISION"] = args.precision  # read by autofast.engine.precision
        return args.func(args)
    except AutofastError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
