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
from autofast.dash.pipeline import _load, search_architecture
from autofast.dash.supernet import load_pattern, save_pattern

from .config import SearchConfig
from .report import write_search_report
from .tune import TuneSettings, retrain_best, trial_histories, tune


def tune_settings(cfg: SearchConfig) -> TuneSettings:
    return TuneSettings(width=cfg.retrain_width, n_configs=cfg.n_configs, eta=cfg.eta, min_epochs=cfg.min_epochs,
                        max_epochs=cfg.max_epochs, batch_size=cfg.batch_size, warmup_epochs=cfg.warmup_epochs,
                        horizon_epochs=cfg.horizon_epochs, seed=cfg.seed, sampler=cfg.sampler,
                        executor=cfg.executor, address=cfg.address, devices=tuple(cfg.devices),
                        trials_per_device=cfg.trials_per_device, fuse_trials=cfg.fuse_trials)


def run_search(cfg: SearchConfig, run_dir: Path, resume: bool = False,
               say: Callable[[str], None] = lambda m: None,
               on_start: Callable | None = None, on_result: Callable | None = None) -> dict:
    """Run (or, with ``resume``, continue) the DASHA workflow in ``run_dir``; return the result dict.

    ``say(message)`` reports stage progress; ``on_start(job)``/``on_result(outcome)`` every ASHA job.
    """
    if cfg.threads:
        configure_runtime(cfg.threads)
    run_dir.mkdir(parents=True, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    task = _load(cfg)
    timings["load"] = time.perf_counter() - t0
    pattern_file = run_dir / "pattern.json"
    if resume and pattern_file.exists():
        meta = json.loads(pattern_file.read_text())
        pattern, backbone = load_pattern(pattern_file), meta["backbone"]
        say("resume: pattern from the earlier run")
    else:
        found = search_architecture(task, cfg, say)
        pattern, backbone = found["pattern"], found["backbone"]
        save_pattern(pattern_file, pattern, {"backbone": backbone, "task": task.name, "seconds": found["seconds"]})
        timings["dash_search"] = found["seconds"]
    s = tune_settings(cfg)
    say(f"ASHA: {cfg.n_configs} configurations, epochs {cfg.min_epochs}..{cfg.max_epochs}, eta {cfg.eta}; "
        f"lr schedule: {s.schedule.describe()}")
    t0 = time.perf_counter()
    sched = tune(task, backbone, pattern, s, run_dir / "asha", resume=resume, on_start=on_start, on_result=on_result)
    timings["asha"] = time.perf_counter() - t0
    curves = trial_histories(sched)
    best_id, best_cfg, best_score, best_rung = sched.best()
    epochs = cfg.horizon_epochs
    say(f"retrain trial {best_id} on train+val for {epochs} epochs")
    final = retrain_best(task, backbone, pattern, s, best_cfg, epochs, say)
    timings["retrain"] = final["seconds"]
    reg = task.data.kind == "timeseries"
    result = {
        "task": task.name, "kind": task.data.kind, "backbone": backbone, "pattern": [list(p) for p in pattern],
        "asha": {"rungs": sched.rungs, "trials": sched.trials(), "best_trial": best_id, "best_val_score": best_score,
                 "best_rung": best_rung, "eta": cfg.eta, "sampler": cfg.sampler, "executor": cfg.executor,
                 "train_loss_curves": {str(k): v for k, v in curves.items()}},
        "schedule": {**s.schedule.to_dict(), "description": s.schedule.describe(), "max_epochs": cfg.max_epochs,
                     "retrain_epochs": epochs, "horizon_is_max_epochs": epochs == cfg.max_epochs},
        "final": {k: v for k, v in final.items() if k != "history"}, "final_history": final["history"],
        "metric": "MSE" if reg else "accuracy",
        "test_score": final["test_loss"] if reg else final["test_acc"],
        "config": cfg.model_dump(mode="json"), "timings": timings, "conv_paths": path_summary(),
        "selected_on": "pattern: training loss (DASH, single level); hyperparameters: validation "
                       f"{'MSE' if reg else 'accuracy'} (ASHA); final model: trained on train+val; "
                       "test split evaluated once",
    }
    write_search_report(run_dir, result)
    return result
