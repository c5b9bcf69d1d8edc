"""DASHA's second stage: ASHA over the training hyperparameters (and the architecture: the DASH pattern or
the plain one) with the trial of :mod:`.trial`, then the final model: the best configuration retrained on
train+val (hold-out selection; ``members`` seeds averaged) or its k fold models (cross-validation), and
ONE test evaluation (:func:`autofast.tasks.test_scores`, by the caller)."""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

import torch

from autofast.asha import ASHA, Journal
from autofast.asha.executor import drive
from autofast.engine import Run, device_of, read_run, seeded_init, train_epoch
from autofast.engine.fused import train_fused_epoch
from autofast.models.ensemble import Ensemble

from .trial import (TuneSettings, arch_space, as_patterns, build_model, checkpoint_model, fuses, make_executor,
                    make_trial, pattern_of)


def tune(task, backbone: str, pattern, s: TuneSettings, run_dir: Path, resume: bool = False,
         on_start: Callable | None = None, on_result: Callable | None = None,
         stop: Callable[[], bool] | None = None, halt: Callable[[], bool] | None = None) -> ASHA:
    """ASHA over ``s.space`` (plus ``arch`` when ``pattern`` is a dict of several patterns); the journal
    (``asha.sqlite``) and checkpoints live in ``run_dir``.

    ``on_start(job)`` / ``on_result(outcome)`` are called from this thread (e.g. a live progress table).
    ``stop()`` True: no new jobs (the budget for ASHA is spent); ``halt()`` True: running trials stop before
    their next epoch (their finished rungs count).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    journal = run_dir / "asha.sqlite"
    if resume and journal.exists():
        sched = ASHA.resume(journal)
    else:
        sched = ASHA(arch_space(s, as_patterns(pattern)), s.min_epochs, s.max_epochs, eta=s.eta, max_trials=s.n_configs, seed=s.seed,
                     sampler=s.sampler, initial=s.initial)
        sched.attach(Journal(journal))
    executor = make_executor(make_trial(task, backbone, pattern, s, stop=halt), s)
    try:
        return drive(sched, executor, run_dir / "checkpoints", on_start=on_start, on_result=on_result, stop=stop,
                     ordered=s.ordered)
    finally:
        executor.close()


def trial_histories(sched: ASHA, checkpoint_dir: Path) -> dict:
    """trial id -> per-epoch training loss, read from each trial's last checkpoint (its whole history);
    journaled checkpoint paths are relative to ``checkpoint_dir``."""
    out = {}
    for t in sched.trials():
        path = checkpoint_dir / t["checkpoint"] if t["checkpoint"] else None
        if path is not None and path.exists():
            out[t["trial_id"]] = [float(r["train_loss"]) for r in read_run(path)["history"]]
    return out


def member_seeds(seed: int, members: int) -> list[int]:
    """The init/batch-order seeds of an ensemble's members: the best trial's own seed first."""
    return [int(seed) + 7919 * i for i in range(members)]


def retrain_best(task, backbone: str, pattern, s: TuneSettings, best_config: dict, epochs: int,
                 say: Callable[[str], None] = lambda m: None, members: int = 1,
                 budget_left: Callable[[], float] | None = None) -> dict:
    """Retrain the best configuration on train+val for ``epochs`` with the trials' recipe and schedule
    (``s.schedule``: the same horizon), ``members`` times with different init/batch-order seeds
    (:func:`member_seeds`); the final model is their mean prediction (a deep ensemble; ``members=1``: the
    single retrained model). No validation data is left for checkpoint selection: the last epoch of each
    member is used. ``pattern``: a (k, d) list, or ``{arch: pattern}`` read by the config's ``arch``.
    ``budget_left()``: seconds left; a further member starts only when the last one's time fits. The members
    train on ``s.devices[0]`` (train+val moved there once), one after another, or as one fused model
    (:mod:`autofast.engine.fused`) where the trials fuse (:func:`.trial.fuses`). Returns the final model (``"model"``, on that
    device) and the record; the caller evaluates the test split once."""
    pattern = pattern_of(as_patterns(pattern), best_config)
    x = torch.cat([task.x_train, task.x_val])
    y = torch.cat([task.y_train, task.y_val])
    t0 = time.perf_counter()
    seeds = member_seeds(int(best_config["seed"]), members)
    fused = members > 1 and fuses(s)  # the members as one fused model: about one member's time on a GPU
    runs: list[Run] = []
    for g, group in enumerate([seeds] if fused else [[seed] for seed in seeds]):
        if g and budget_left is not None and budget_left() < (time.perf_counter() - t0) / g:
            say(f"retrain: the time budget pays {g} of {members} members")
            break
        group_runs = []
        for seed in group:
            with seeded_init(seed):
                model, opt = build_model(task, backbone, pattern, s.width, best_config, s.positional)
            model.to(s.devices[0])  # in place: the optimiser keeps its parameters
            group_runs.append(Run.create(model, opt, seed, s.schedule))
        x, y = x.to(device_of(model)), y.to(device_of(model))  # moved by the first group only
        tag = f"{len(group)} fused members " if fused else f"member {g + 1}/{members} " if members > 1 else ""
        t_group = time.perf_counter()
        while group_runs[0].epoch < epochs:
            recs = train_fused_epoch(group_runs, x, y, s.batch_size) if fused else \
                [train_epoch(group_runs[0], x, y, s.batch_size)]
            for r in recs:
                if isinstance(r, Exception):
                    raise r
            say(f"retrain {tag}epoch {recs[0]['epoch']}/{epochs}: train loss "
                + ", ".join(f"{r['train_loss']:.4f}" for r in recs))
            done = group_runs[0].epoch
            if budget_left is not None and done < epochs:
                fits = shortened(done, epochs, (time.perf_counter() - t_group) / done, budget_left())
                # slower than planned (a busy machine): end the cosine earlier, still at 0
                if s.schedule.warmup_epochs < fits < epochs:
                    say(f"retrain: the time budget pays {fits} of {epochs} epochs")
                    epochs = fits
                    for run in group_runs:
                        run.schedule = replace(run.schedule, horizon_epochs=float(fits))
        runs += group_runs
    members = len(runs)
    final = runs[0].model if members == 1 else Ensemble([r.model for r in runs], classify=not y.is_floating_point())
    return {"model": final, "epochs": epochs, "seconds": time.perf_counter() - t0,
            "history": runs[0].history, "member_histories": [r.history for r in runs], "members": members,
            "member_seeds": seeds[:members], "fused": fused,
            "config": best_config, "trained_on": "train+val", "schedule": runs[-1].schedule.to_dict()}


def shortened(done: int, epochs: int, epoch_seconds: float, left: float) -> int:
    """How many epochs a retrain that has ``done`` of ``epochs`` can have when ``left`` seconds remain at
    ``epoch_seconds`` each: ``epochs`` when they fit, else as many as fit (at least one more than done)."""
    if left >= (epochs - done) * epoch_seconds:
        return epochs
    return max(done + 1, done + int(max(left, 0.0) // max(epoch_seconds, 1e-9)))


def fold_models(task, backbone: str, pattern, s: TuneSettings, best_trial: dict, checkpoint_dir: Path):
    """The final model of a cross-validated search: the best trial's :class:`FoldEnsemble` (k models, each
    trained outside its fold) loaded from its last checkpoint, in eval mode (their mean prediction), on
    ``s.devices[0]``."""
    model, saved = checkpoint_model(make_trial(task, backbone, pattern, s), best_trial["config"],
                                    checkpoint_dir / best_trial["checkpoint"], s.devices[0])
    return model, saved["history"]
