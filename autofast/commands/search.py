"""``python -m autofast search``: the DASHA workflow (DASH -> ASHA -> retrain -> one test score) in a run
folder that a killed, interrupted or moved run resumes from (``--resume RUN_DIR``)."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from autofast.errors import AutofastError
from autofast.io import RunFolderInUse, locked_run_dir, make_run_dir

from .dash import add_dash_options
from .options import default_out, finished_result, merge_options, require_task, resumed_options, validated
from .progress import make_console


def add_parser(sub) -> None:
    """Register ``search`` on an argparse subparsers object."""
    p = sub.add_parser("search", help="DASHA: DASH search, ASHA over the training hyperparameters, retrain, test once",
                       description="The main job: a tuned supervised baseline for a task (--task splice, digits, "
                                   "ETTh1 windows, or your file). --resume RUN_DIR continues a killed search.")
    add_dash_options(p)
    p.add_argument("--arch", choices=["auto", "dash", "plain", "rocket"],
                   help="candidates: auto = ASHA over the DASH pattern and the plain 3x1/3x3 network, plus "
                        "random-convolution features for 1-D classification (MiniRocket; Hydra too on series); "
                        "dash / plain: that pattern only; rocket: the features only (default: auto)")
    p.add_argument("--folds", type=int, metavar="K",
                   help="selection: 0 = hold-out validation split, K >= 2 = K-fold cross-validation over train+val "
                        "(default: planned: 5 folds when the validation split is small and the budget leaves "
                        "enough updates, else 0)")
    for flag, typ, what in [("--n-configs", int, "ASHA configurations (default: planned)"),
                            ("--eta", float, "ASHA reduction factor (default: 2)"),
                            ("--min-epochs", int, "first rung, epochs (default: planned)"),
                            ("--max-epochs", int, "top rung R, epochs (default: planned from ~1500 updates)"),
                            ("--trials-per-device", int, "concurrent trials per device (default: 8 fused trials on "
                                                          "GPUs, 1 on CPUs)")]:
        p.add_argument(flag, type=typ, help=what)
    p.add_argument("--ensemble", type=int, metavar="K",
                   help="final model: mean prediction of K retrains of the best configuration (default: planned: "
                        "as many as fit the final share of the budget, at most 3; with cross-validation the fold "
                        "models are the ensemble)")
    p.add_argument("--warmup-epochs", type=float,
                   help="linear lr warm-up of every trial and the retrain, epochs (default: 0)")
    p.add_argument("--sampler", choices=["random", "grid", "tpe"], help="new ASHA configurations (default: random)")
    p.add_argument("--executor", choices=["local", "ray"],
                   help="local: trials in threads of this process; ray: trials on a Ray cluster (default: local)")
    p.add_argument("--address", help="--executor ray: address of an existing Ray cluster (default: start a local "
                                     "one)")
    p.add_argument("--devices", nargs="+", metavar="DEV",
                   help="local executor: devices to pin trials to, e.g. cpu or cuda:0 cuda:1; the DASH search, the "
                        "final model and the test evaluation run on the first (default: cpu)")
    p.add_argument("--asha-order", choices=["auto", "submission", "arrival"],
                   help="with parallel trials: submission = ASHA takes results in the order it handed the jobs out, "
                        "so its decisions depend on the scores only, not on which trial finished first (a worker "
                        "may wait); arrival = as they come, no waiting (default: auto: arrival for fused trials, "
                        "whose rounding depends on which trials share an epoch; else submission)")
    p.add_argument("--fuse-trials", choices=["auto", "on", "off"],
                   help="local executor: train up to --trials-per-device trials of one architecture as one fused model "
                        "(default: auto: on GPUs only)")
    p.add_argument("--config", help="YAML file of options, keys = the flag names with underscores, e.g. "
                                    "time_budget: 5m (flags win); --task may also be a YAML task file describing "
                                    "your data (default: none)")
    p.add_argument("--out", help="run folder (default: runs/search-<task>-<time>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the search in RUN_DIR (default: a new run)")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    p.set_defaults(func=run)


def config_keys() -> list[str]:
    """The option names of ``search`` (flags and YAML keys): the config's, less those only ``dash`` uses."""
    from autofast.search.config import SearchConfig
    from autofast.search.report import DASH_ONLY

    return [k for k in SearchConfig.model_fields if k not in DASH_ONLY]


def saved_config(run_dir: Path) -> dict:
    """The options a run folder was started with (``search_config.json``), checked."""
    if not run_dir.is_dir():
        raise AutofastError(f"--resume {str(run_dir)!r} is not a folder; give the run folder of a search")
    saved = run_dir / "search_config.json"
    if not saved.is_file():
        raise AutofastError(f"{run_dir}: no search_config.json, so not a search run folder; check --resume")
    try:
        raw = json.loads(saved.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raw = None
    if not isinstance(raw, dict):
        raise AutofastError(f"{saved}: corrupt (not a JSON mapping of options); restore it from a copy or start "
                            "a new search with the same options and --out")
    return raw


def run(args) -> int:
    """``python -m autofast search``: the DASHA workflow in a resumable run folder."""
    from autofast.search.config import SearchConfig

    if args.resume:
        run_dir = Path(args.resume)
        raw = resumed_options(saved_config(run_dir), args, run_dir, SearchConfig)
        done = finished_result(run_dir, "search")
        if done is not None:
            if not (run_dir / "report.md").is_file():  # stopped before its report was written
                from autofast.search.report import write_search_report

                write_search_report(run_dir, done)
            return _report(done, run_dir, args)
    else:
        raw = merge_options(args.config, config_keys(), vars(args))
        validated(SearchConfig, raw)  # a bad option first, then a missing task
        require_task(raw, "search")
        run_dir = Path(args.out) if args.out else default_out("search", raw.get("task"), "search")
        if run_dir.exists() and not run_dir.is_dir():
            raise AutofastError(f"--out {str(run_dir)!r} is a file, not a folder; choose another --out")
        if run_dir.exists() and any(run_dir.iterdir()):
            from autofast.io import lock_holder

            holder = lock_holder(run_dir)  # a search still running there: --resume would be refused too
            if holder is not None:
                raise AutofastError(f"output folder {str(run_dir)!r} is in use by a running autofast process (pid "
                                    f"{holder}); wait for it to finish, or choose another --out")
            resumable = (run_dir / "search_config.json").is_file()
            raise AutofastError(f"output folder {str(run_dir)!r} exists and is not empty; choose another --out"
                                + (f" or continue it with --resume {run_dir}" if resumable else
                                   " (it is not a search run folder)"))
    started = getattr(args, "started", None)
    cfg = validated(SearchConfig, raw)
    from autofast.search.pipeline import check_options, holds_finished_work

    check_options(cfg)  # devices, options: refused before anything is written
    fresh = not run_dir.exists()
    new_parent = fresh and not run_dir.parent.exists()  # the default runs/: removed with a fresh folder that fails
    make_run_dir(run_dir, "--resume" if args.resume else "--out")
    try:  # a fresh folder that fails before any work is removed (under the lock): nothing left behind
        with locked_run_dir(run_dir, fresh, keep=lambda: holds_finished_work(run_dir), command="search"):
            result = _run_locked(cfg, run_dir, args, started)
    except RunFolderInUse:
        raise  # another search holds it: its folder, left alone
    except BaseException as exc:
        if fresh and not run_dir.exists():
            if new_parent and not any(run_dir.parent.iterdir()):
                run_dir.parent.rmdir()
            if isinstance(exc, KeyboardInterrupt):
                raise AutofastError("interrupted before the first stage finished; nothing was kept") from None
            raise
        resume = f"continue with `python -m autofast search --resume {run_dir}`"
        if isinstance(exc, KeyboardInterrupt):
            raise AutofastError(f"interrupted; finished work is kept in {run_dir}: {resume}") from None
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError):
            raise AutofastError(f"{run_dir / 'asha' / 'asha.sqlite'}: the ASHA journal is damaged ({exc}); restore "
                                "the run folder from a copy, or start a new search") from None
        if isinstance(exc, (OSError, sqlite3.Error)):
            raise AutofastError(f"{run_dir}: cannot write the run folder ({exc}); free disk space or fix the "
                                f"file system, then {resume}") from None
        raise
    return _report(result, run_dir, args)


def _run_locked(cfg, run_dir: Path, args, started: float | None = None) -> dict:
    from rich.live import Live

    from autofast.io import write_json_atomic
    from autofast.search.pipeline import run_search
    from autofast.search.progress import SearchProgress

    write_json_atomic(run_dir / "search_config.json", cfg.model_dump(mode="json"))
    console = make_console(stderr=True, quiet=args.json)
    progress = SearchProgress(cfg.n_configs or 0)
    if console.is_terminal:
        with Live(progress, console=console, refresh_per_second=4) as live:
            def say(message: str) -> None:
                if message.startswith("plan: "):  # the plan stays on screen above the live table
                    live.console.print(message, highlight=False)
                progress.stage(message)

            return run_search(cfg, run_dir, resume=bool(args.resume), say=say, on_start=progress.on_start,
                              on_result=progress.on_result, started=started, on_plan=progress.on_plan)

    def logged(out):  # a log file or pipe: one line per stage message and per finished job
        progress.on_result(out)
        what = out.error or f"val {out.score:.4f}"
        console.print(f"trial {out.job.trial_id} rung {out.job.rung} ({out.job.resource_to:g} epochs): "
                      f"{what} [{out.seconds:.1f}s]", highlight=False)

    return run_search(cfg, run_dir, resume=bool(args.resume), say=lambda m: console.print(m, highlight=False),
                      on_start=progress.on_start, on_result=logged, started=started, on_plan=progress.on_plan)


def _report(result: dict, run_dir: Path, args) -> int:
    if args.json:
        skip = ("final_history", "final_member_histories")
        print(json.dumps({**{k: v for k, v in result.items() if k not in skip}, "run_dir": str(run_dir)}, indent=2,
                         default=str))
        return 0
    con = make_console()
    a = result["asha"]
    pos = " + position channel" if result.get("positional_input") else ""
    for arch, pat in result["architectures"].items():
        con.print(f"pattern '{arch}' ({result['backbone']}{pos}): {[tuple(p) for p in pat]}")
    if a and a["best_trial"] is not None:
        con.print(f"ASHA: {len(a['trials'])} trials, rungs {a['rungs']}; best trial {a['best_trial']} "
                  f"(validation {a['best_val_score']:.4f})")
    sel = result["selection"]
    lower = result["metric"] not in ("accuracy", "per-pixel accuracy")  # val scores: minus MSE, standardised
    con.print(f"candidates (validation{', minus MSE on standardised targets' if lower else ''}): "
              + ", ".join(f"{k} {v:.4f}" for k, v in sel["val_scores"].items())
              + f"; final model: {sel['winner']}")
    from autofast.search.report import score_text, skew_notes, test_beside, test_name

    beside = test_beside(result["final"])
    con.print(f"{test_name(result)} {result['metric']}: {score_text(result['test_score'])}"
              + (f" ({'; '.join(beside)})" if beside else "")
              + f"   in {result['timings']['total']:.0f}s of a {result['plan']['budget']:.0f}s budget   (report: "
              f"{run_dir}/report.md)")
    for note in skew_notes(result):
        con.print(f"note: {note}")
    con.print(f"selected on: {result['selected_on']}")
    return 0
