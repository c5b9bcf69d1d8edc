"""``python -m autofast dash``: DASH architecture search, retrain and one test evaluation."""
from __future__ import annotations

import json
from pathlib import Path

from .options import default_out, merge_options, require_task, validated
from .progress import make_console, stage


def add_dash_options(p) -> None:
    """The options ``dash`` and ``search`` share: the task, the backbone and DASH's search space and budget."""
    p.add_argument("--task", help="required: a bundled data set (`python -m autofast datasets`), a data file or a "
                                  "YAML task file (default: none)")
    p.add_argument("--time-budget", metavar="T",
                   help="wall-clock budget of the whole command: seconds, or 90s / 10m / 1h; every option left "
                        "unset is planned to fit it (default: search: from the data size, 2-7 min on 2 cores; "
                        "dash: none, the epochs as given)")
    p.add_argument("--backbone", choices=["auto", "resnet1d", "wrn16", "wrn22", "unet"],
                   help="network (default: auto: resnet1d for DNA and series, wrn16 for images and forecasting "
                        "windows, unet for dense)")
    p.add_argument("--positional", choices=["auto", "on", "off"],
                   help="resnet1d: append a position channel to the input (default: auto: on for DNA)")
    p.add_argument("--kind", choices=["auto", "classification", "timeseries"],
                   help="timeseries: DASH on forecasting windows (regression) (default: auto: by the bundled name)")
    p.add_argument("--conv-paths-from", metavar="RUN",
                   help="run every conv shape on the path another run recorded (its run folder or "
                        "conv_paths.json): that run's numerics on this machine (default: measured here, and "
                        "recorded in this run's folder)")
    p.add_argument("--kernel-sizes", nargs="+", type=int, help="DASH kernel sizes, odd (default: per modality)")
    p.add_argument("--dilations", nargs="+", type=int, help="DASH dilations (default: per modality)")
    planned = "default: search: planned from the data and the budget; dash:"
    for flag, typ, what in [
            ("--search-width", int, "channels of the DASH supernet (default: 16)"),
            ("--search-epochs", int, f"supernet training epochs ({planned} 20)"),
            ("--search-batch-fraction", float, f"fraction of the batches per supernet epoch ({planned} 1.0)"),
            ("--retrain-width", int, "channels of the final network (default: search 32, dash 64)"),
            ("--retrain-epochs", int, f"epochs of the final retrain ({planned} 30)"),
            ("--batch-size", int, f"examples per optimiser step ({planned} 64)"),
            ("--lr", float, "learning rate of the DASH supernet's weights (dash: also of the retrain and the "
                            "baseline; search tunes the trials' lr) (default: 0.05)"),
            ("--arch-lr", float, "learning rate of DASH's architecture weights (default: 0.05)"),
            ("--weight-decay", float, "weight decay of the DASH supernet (dash: also of the retrain) "
                                      "(default: 5e-4)"),
            ("--rf-penalty", float, "DASH's penalty on wide receptive fields (default: 0.01)"),
            ("--seed", int, "seed of the split, the search and the training runs (default: 0)"),
            ("--split-seed", int, "seed of the train/val/test split alone, so that several --seed runs share one "
                                  "test split (default: --seed)"),
            ("--threads", int, "CPU threads (default: the cores this process may use)"),
            ("--lookback", int, "forecasting windows: input rows (default: 96)"),
            ("--horizon", int, "forecasting windows: rows to predict (default: 24)"),
            ("--train-stride", int, "forecasting windows: stride between training windows (default: 4)")]:
        p.add_argument(flag, type=typ, help=what)


def add_parser(sub) -> None:
    """Register ``dash`` on an argparse subparsers object."""
    p = sub.add_parser("dash", help="DASH architecture search (kernel size x dilation per layer), retrain, test once",
                       description="DASH on a task: a bundled name (splice, digits, ...), a data file (.csv/.fasta "
                                   "DNA, .ts series, .npz or a folder of images) or a YAML task file.")
    add_dash_options(p)
    p.add_argument("--dropout", type=float, help="dropout of the retrained network (default: 0)")
    p.add_argument("--devices", nargs="+", metavar="DEV",
                   help="device to train and evaluate on, e.g. cpu or cuda:0; the first entry is used, as by "
                        "search's stages other than the ASHA trials (default: cpu)")
    p.add_argument("--no-baseline", dest="baseline", action="store_false", default=None,
                   help="skip the fixed-kernel baseline (default: trained, with the same epoch budget)")
    p.add_argument("--config", help="YAML file of options, keys = the flag names with underscores, e.g. "
                                    "search_epochs: 5 (flags win) (default: none)")
    p.add_argument("--out", help="run folder (default: runs/dash-<task>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=run)


def run(args) -> int:
    """``python -m autofast dash``: DASH search, retrain and one test evaluation in a staged run folder."""
    from rich.table import Table

    from autofast.dash.pipeline import DashConfig, check_options, run_dash
    from autofast.kernels.conv.run_record import FILE as RECORD
    from autofast.dash.report import pattern_rows, write_run
    from autofast.io import staged_run_dir

    raw = merge_options(args.config, list(DashConfig.model_fields), vars(args))
    cfg = validated(DashConfig, raw)
    require_task(raw, "dash")
    check_options(cfg)  # devices, precision: refused before anything is written
    console = make_console(stderr=True, quiet=args.json)
    out = Path(args.out) if args.out else default_out("dash", cfg.task, "dash")
    with staged_run_dir(out, args.overwrite, command="dash") as tmp:
        with stage(console, "DASH…") as update:
            result = run_dash(cfg, say=lambda m: update(f"DASH: {m}"), started=getattr(args, "started", None),
                              record=tmp / RECORD)
        write_run(tmp, result)
    result["run_dir"] = str(out)
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if k not in ("arch_probabilities",)}, indent=2, default=str))
        return 0
    con = make_console()
    table = Table(title=f"DASH pattern on {result['task']} ({result['backbone']})")
    for col in ["layer", "k", "d", "receptive field", "p(chosen)"]:
        table.add_column(col, justify="right")
    for i, k, d, rf, pr in pattern_rows(result):
        table.add_row(str(i), str(k), str(d), str(rf), f"{pr:.2f}")
    con.print(table)
    t = result["timings"]
    r = result["retrain"]
    lower, metric = result["lower_is_better"], result["metric"].split(" (")[0]

    def score(x, split):
        return f"{split} {metric} {x[f'{split}_loss' if split == 'test' else 'best_val_loss']:.4f}" if lower else \
            f"{split} {metric} {x['test_acc' if split == 'test' else 'best_val_acc']:.4f}"

    con.print(f"DASH (search {t['search']:.0f}s + retrain {t['retrain']:.0f}s): {score(r, 'test')} "
              f"(best {score(r, 'val')} at epoch {r['best_epoch']})")
    if "baseline" in result:
        b = result["baseline"]
        cut = b["epochs"] < b["planned_epochs"]  # its deadline: fewer epochs than the DASH side trained
        con.print(f"fixed baseline (kernel 3, dilation 1) ({b['epochs']} epochs, {b['seconds']:.0f}s): "
                  f"{score(b, 'test')} (best {score(b, 'val')})"
                  + (f" -- cut at its deadline after {b['epochs']} of the {b['planned_epochs']} epochs DASH trained: "
                     "not an equal-epoch comparison (a larger --time-budget)" if cut else ""))
    con.print(f"selected on: {result['selected_on']}. Results in {out}/")
    return 0
