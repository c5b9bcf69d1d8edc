"""The DASHA workflow behind ``python -m autofast search``: DASH search -> ASHA over the training
hyperparameters of the found pattern -> retrain the best on train+val -> ONE test evaluation.

The run folder is the search's state: ``pattern.json`` (stage 1, written as soon as it is found),
``asha/asha.sqlite`` (every suggestion, rung result, promotion, checkpoint) and ``asha/checkpoints/``.
``resume=True`` skips what is finished and continues the journal, so a killed search loses no
finished rung.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from autofast.kernels.conv import path_summary
from autofast.runtime import configure as configure_runtime
from autofast.dash.pipeline import _load, search_architecture, task_metric
from autofast.dash.supernet import load_pattern, save_pattern
from autofast.errors import AutofastError

from .config import SearchConfig
from .report import write_search_report
from .tune import TuneSettings, check_devices, retrain_best, trial_histories, tune


def split_record(task) -> dict:
    """Sizes, seed and where each split came from (official files, carved, or ratios)."""
    split = task.split
    if hasattr(split, "describe"):
        return split.describe()
    return {"train": len(task.y_train), "val": len(task.y_val), "test": len(task.y_test), "seed": split.seed,
            "provenance": {"train": split.protocol, "val": split.protocol, "test": split.protocol}}


def tune_settings(cfg: SearchConfig, positional: bool = False) -> TuneSettings:
    return TuneSettings(width=cfg.retrain_width, positional=positional, n_configs=cfg.n_configs, eta=cfg.eta, min_epochs=cfg.min_epochs,
                        max_epochs=cfg.max_epochs, batch_size=cfg.batch_size, warmup_epochs=cfg.warmup_epochs,
                        horizon_epochs=cfg.horizon_epochs, seed=cfg.seed, sampler=cfg.sampler,
                        executor=cfg.executor, address=cfg.address, devices=tuple(cfg.devices),
                        trials_per_device=cfg.trials_per_device, fuse_trials=cfg.fuse_trials)


def check_options(cfg: SearchConfig) -> None:
    """What can be checked before any data is loaded or anything written: the devices."""
    check_devices(cfg.devices)


def run_search(cfg: SearchConfig, run_dir: Path, resume: bool = False,
               say: Callable[[str], None] = lambda m: None,
               on_start: Callable | None = None, on_result: Callable | None = None) -> dict:
    """Run (or, with ``resume``, continue) the DASHA workflow in ``run_dir``; return the result dict.

    ``say(message)`` reports stage progress; ``on_start(job)``/``on_result(outcome)`` every ASHA job.
    """
    check_options(cfg)
    if cfg.threads:
        configure_runtime(cfg.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    task = _load(cfg)
    timings["load"] = time.perf_counter() - t0
    pattern_file = run_dir / "pattern.json"
    if resume and pattern_file.exists():
        pattern = load_pattern(pattern_file)  # a damaged file is one error line
        meta = json.loads(pattern_file.read_text())
        backbone, positional = meta.get("backbone"), meta.get("positional", False)
        if not isinstance(backbone, str) or not isinstance(positional, bool):
            raise AutofastError(f"{pattern_file}: no backbone (or a 'positional' that is not true/false) recorded; "
                                "delete the file to redo the DASH stage")
        say("resume: pattern from the earlier run")
    else:
        found = search_architecture(task, cfg, say)
        pattern, backbone, positional = found["pattern"], found["backbone"], found["positional"]
        save_pattern(pattern_file, pattern, {"backbone": backbone, "positional": positional, "task": task.name,
                                             "seconds": found["seconds"]})
        timings["dash_search"] = found["seconds"]
    s = tune_settings(cfg, positional)
    say(f"ASHA: {cfg.n_configs} configurations, epochs {cfg.min_epochs}..{cfg.max_epochs}, eta {cfg.eta}; "
        f"lr schedule: {s.schedule.describe()}")
    t0 = time.perf_counter()
    sched = tune(task, backbone, pattern, s, run_dir / "asha", resume=resume, on_start=on_start, on_result=on_result)
    timings["asha"] = time.perf_counter() - t0
    curves = trial_histories(sched, run_dir / "asha" / "checkpoints")
    best = sched.best()
    if best is None:
        first = min((t for t in sched.trials() if t["error"]), key=lambda t: t["trial_id"], default=None)
        why = f"; the first, trial {first['trial_id']}: {first['error']}" if first else ""
        raise AutofastError(f"every ASHA trial failed{why}")
    best_id, best_cfg, best_score, best_rung = best
    epochs = cfg.horizon_epochs
    say(f"retrain trial {best_id} on train+val for {epochs} epochs"
        + (f", {cfg.ensemble} members (seeds) averaged" if cfg.ensemble > 1 else ""))
    final = retrain_best(task, backbone, pattern, s, best_cfg, epochs, say, members=cfg.ensemble)
    timings["retrain"] = final["seconds"]
    metric, lower = task_metric(task)
    result = {
        "task": task.name, "kind": task.data.kind, "backbone": backbone, "positional_input": positional,
        "pattern": [list(p) for p in pattern],
        "split": split_record(task),
        "asha": {"rungs": sched.rungs, "trials": sched.trials(), "best_trial": best_id, "best_val_score": best_score,
                 "best_rung": best_rung, "eta": cfg.eta, "sampler": cfg.sampler, "executor": cfg.executor,
                 "train_loss_curves": {str(k): v for k, v in curves.items()}},
        "schedule": {**s.schedule.to_dict(), "description": s.schedule.describe(), "max_epochs": cfg.max_epochs,
                     "retrain_epochs": epochs, "horizon_is_max_epochs": epochs == cfg.max_epochs},
        "final": {k: v for k, v in final.items() if k not in ("history", "member_histories")},
        "final_history": final["history"], "final_member_histories": final["member_histories"],
        "metric": metric, "lower_is_better": lower,
        "test_score": final["test_loss"] if lower else final["test_acc"],
        "config": cfg.model_dump(mode="json"), "timings": timings, "conv_paths": path_summary(),
        "selected_on": "pattern: training loss (DASH, single level); hyperparameters: validation "
                       f"{metric} (ASHA); final model: "
                       + (f"mean prediction of {cfg.ensemble} retrains (seeds fixed in advance, none selected), "
                          if cfg.ensemble > 1 else "")
                       + "trained on train+val; "
                       "test split evaluated once",
    }
    write_search_report(run_dir, result)
    return result
