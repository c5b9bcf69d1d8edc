"""``python -m autofast compare``: a pretrained checkpoint vs the tuned supervised baseline, swept over the
number of labelled training examples (shots per class) and seeds (Entezari et al. 2023; Xu et al. 2024).

For every (shots, seed):

* the training set is a class-stratified, seeded subsample of the ID TRAINING split (``shots`` per class, or
  all of it for ``full``; for one seed the subsets are nested).
* the selection set (``selection``): ``kshot`` (default) carves a validation set of the same budget from the
  same pool, disjoint from the training shots: ``shots`` per class (fewer only when the smallest class has not
  ``2 * shots``; :func:`~autofast.autoft.tasks.val_shots_for`), counted as labelled data; every choice of both
  arms (lr, objective, hyperparameters, kept epoch) is made on it. At ``full`` the selection set is the task's
  validation split (the full labelled budget). ``full-val`` is the old protocol: the task's whole validation
  split at every size, more labelled data than a k-shot user has, so it FLATTERS the few-shot rows.
  The test split is the task's own, identical for every size, seed and arm.
* **pretrained**: the checkpoint fine-tuned on the subsample, either plain fine-tuning (CE) over a small lr
  grid (``base_lr * ft_lr_mults``, ``ft_epochs`` each) or AutoFT (ASHA over the objective); the lr / objective
  is selected on the selection set.
* **baseline**: the same backbone family trained from scratch with the DASHA recipe: ASHA over DASHA's
  hyperparameter space (lr, dropout, weight decay, momentum, init seed) with the kernel pattern of the
  checkpoint (or a ``pattern.json`` from a ``search`` run), trials scored on the selection set; the best
  configuration is retrained for ``baseline_epochs`` (default: ``baseline_max_epochs``). Trials and retrain
  share one lr schedule (SGD-Nesterov, per-step cosine decay to a horizon of ``baseline_epochs``, as in
  ``search``); the retrain keeps the epoch with the best selection-set score.
* the pretrained arm likewise keeps, per run, the epoch with the best selection-set score.
* each arm's model is evaluated ONCE on the test split.
* every model trains and is evaluated on ``devices[0]`` (the cell's data moved there once per run).

Both arms count epochs the same way (``max(ceil(n / batch), min_steps_per_epoch)`` steps), so a 1-shot set
still gets a real training budget on either side.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Literal

import torch
from pydantic import ConfigDict, Field, NonNegativeInt, PositiveFloat, field_validator

from autofast.budget import Clock, parse_duration
from autofast.runtime import configure as configure_runtime
from autofast.asha import ASHA, TorchTrial, run_local
from autofast.autoft.losses import autoft_space, objective_from_config
from autofast.engine import OnDevice, Run, Schedule, cosine, device_of, fit, seeded_init, sgd, train_epoch
from autofast.engine.numerics import NumericsOptions, in_force
from autofast.models import default_backbone
from autofast.search.trial import DASHA_SPACE
from autofast.errors import AutofastError

from .metrics import evaluate_scores, mean_std
from .model import (ArchSpec, build_model, load_pattern_file, load_pretrained, pattern_backbone,
                    pattern_positional, prepare)
from .tasks import check_shots, few_shot_indices, few_shot_split, load_classification, parse_shots
from .training import autoft_trial, check_devices, config_lr, finetune_full, lr_grid_finetune


class CompareConfig(NumericsOptions):
    """Transfer-study settings (defaults sized for minutes on 2 CPU cores on a small task)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint: str
    task: str = "digits"
    classes: str | int | list[str | int] | None = None
    arch: str | None = None
    width: int | None = Field(None, ge=1)
    pattern: str | None = None
    head: Literal["auto", "reinit", "keep"] = "auto"
    shots: list[int | str] = Field(default_factory=lambda: [1, 5, 10, 20, 100, "full"], min_length=1)
    seeds: list[NonNegativeInt] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    finetune: Literal["lr_grid", "autoft"] = "lr_grid"
    selection: Literal["kshot", "full-val"] = Field("kshot", description="kshot: choices on a validation set of "
                                                    "the same budget carved from the pool; full-val: the task's "
                                                    "whole validation split (flatters few shots)")
    metric: Literal["accuracy", "macro_f1", "worst_group"] = "accuracy"
    optimizer: Literal["adamw", "sgd"] = "adamw"
    base_lr: float = Field(1e-3, gt=0)
    ft_lr_mults: list[PositiveFloat] = Field(default_factory=lambda: [0.3, 1.0, 3.0], min_length=1)
    ft_epochs: int = Field(10, ge=1)
    autoft_configs: int = Field(6, ge=1)
    autoft_max_epochs: int = Field(4, ge=1)
    baseline_backbone: str | None = Field(None, description="default: the checkpoint's backbone")
    baseline_width: int | None = Field(None, ge=1, description="default: the checkpoint's width")
    baseline_pattern: str | None = Field(None, description="pattern.json of a search run (default: the checkpoint's)")
    baseline_configs: int = Field(8, ge=1)
    baseline_min_epochs: int = Field(1, ge=1)
    baseline_max_epochs: int = Field(16, ge=1, description="ASHA's top rung R (the retrain's default length)")
    baseline_epochs: int | None = Field(None, ge=1, description="retrain of the best ASHA config (default "
                                       "baseline_max_epochs; the cosine horizon of trials and retrain)")
    baseline_time_budget: float | None = Field(None, description="wall clock of the baseline arm per (shots, "
                                               "seed) cell, seconds or 90s/2m; default: none (the epochs as given)")
    eta: float = Field(2, gt=1)
    batch_size: int = Field(64, ge=1)
    min_steps_per_epoch: int = Field(5, ge=1)
    seed: int = Field(0, ge=0, description="split seed")
    threads: int | None = Field(None, ge=1)
    devices: list[str] = Field(default_factory=lambda: ["cpu"], min_length=1,
                               description="cpu, cuda or cuda:N: training and evaluation on the first")

    @field_validator("baseline_time_budget", mode="before")
    @classmethod
    def _budget(cls, v):
        return None if v is None else parse_duration(v, "--baseline-time-budget")


class CompareContext:
    def __init__(self, cfg: CompareConfig):
        check_devices(cfg.devices, cfg.precision)
        if cfg.threads:
            configure_runtime(cfg.threads)
        self.cfg = cfg
        self.shots = parse_shots(cfg.shots)
        if cfg.baseline_min_epochs > cfg.baseline_max_epochs:
            raise AutofastError(f"baseline_min_epochs ({cfg.baseline_min_epochs}) must be <= baseline_max_epochs "
                                f"({cfg.baseline_max_epochs})")
        if len(set(cfg.seeds)) != len(cfg.seeds):
            raise AutofastError(f"--seeds {cfg.seeds} repeats a seed; give distinct seeds")
        self.task = load_classification(cfg.task, cfg.classes, seed=cfg.seed)
        check_shots(self.task.y_train, self.shots, self.task.data.classes, keep_val=cfg.selection == "kshot")
        self.pre = load_pretrained(cfg.checkpoint, self.task, cfg.arch, cfg.width, cfg.pattern)
        self.make, self.model_info = prepare(self.pre, self.task, cfg.head)
        a = self.pre.arch
        backbone = cfg.baseline_backbone or pattern_backbone(cfg.baseline_pattern) or a.backbone
        if backbone.startswith("timm:"):
            backbone = default_backbone(self.task.data.kind)
        pattern = load_pattern_file(cfg.baseline_pattern) if cfg.baseline_pattern else (
            list(a.pattern) if backbone == a.backbone else [])
        positional = backbone == "resnet1d" and (pattern_positional(cfg.baseline_pattern) if cfg.baseline_pattern
                                                 else a.positional and backbone == a.backbone)
        self.baseline_arch = ArchSpec(backbone, self.task.data.ndim, int(self.task.x_train.shape[1]),
                                      self.task.data.num_classes, cfg.baseline_width or a.width or 16, pattern,
                                      positional)
        build_model(self.baseline_arch)  # fail early on a bad baseline architecture


def _baseline_optimizer(model, cfg):
    return sgd(model.parameters(), cfg["lr"], cfg["momentum"], cfg["weight_decay"])


def _baseline_trial(arch: ArchSpec, x, y, x_val, y_val, metric: str, batch_size: int, min_steps: int,
                    schedule: Schedule, stop: Callable[[], bool] | None = None) -> TorchTrial:
    k = arch.num_classes
    data = OnDevice(x, y, x_val)  # moved to the worker's device once, not per epoch or rung

    def build(cfg):
        model = build_model(arch, dropout=float(cfg["dropout"]))
        return model, _baseline_optimizer(model, cfg)

    def epoch_fn(run: Run, cfg):
        return train_epoch(run, *data.for_model(run.model)[:2], batch_size, min_steps=min_steps)

    def score(model, cfg):
        return evaluate_scores(model, data.for_model(model)[2], y_val, k)[metric]

    return TorchTrial(build, epoch_fn, score, schedule, stop=stop)


#: a budgeted baseline: the retrain's share of the cell's budget, and what is kept back (evaluation, noise)
RETRAIN_SHARE, BUDGET_MARGIN = 0.4, 0.1


def _secs(seconds: float) -> str:
    """Seconds with the digits a short epoch needs (0.012, 1.5, 12.3)."""
    return f"{seconds:.2g}" if seconds < 1 else f"{seconds:.1f}"


def baseline_plan(cfg: CompareConfig, epoch_seconds: float, budget: float | None, spent: float = 0.0) -> dict:
    """The baseline arm's epochs: as configured without a budget; with one (seconds, of which ``spent`` is
    gone), the retrain gets at most :data:`RETRAIN_SHARE` of it (``baseline_epochs`` given: kept), ASHA's top
    rung is at most the retrain's length (one cosine horizon for both), and ASHA hands out jobs until
    ``asha_seconds`` (what is left after the retrain's predicted time and :data:`BUDGET_MARGIN`).
    ``epoch_seconds``: one training epoch plus one selection-set evaluation, measured on this cell."""
    epochs = cfg.baseline_epochs or cfg.baseline_max_epochs
    if budget is None:
        return {"epochs": epochs, "max_epochs": cfg.baseline_max_epochs, "asha_seconds": None}
    usable = budget * (1 - BUDGET_MARGIN) - spent
    if usable < 2 * epoch_seconds:  # one trial epoch and one retrain epoch
        need = (spent + 2 * epoch_seconds) / (1 - BUDGET_MARGIN)
        raise AutofastError(f"--baseline-time-budget {budget:g}s is too small: it must hold the {_secs(spent)} s "
                            f"spent measuring one baseline epoch, two such epochs ({_secs(epoch_seconds)} s each on "
                            f"this cell: one trial's, one retrain's) and a {BUDGET_MARGIN:.0%} margin; give at least "
                            f"--baseline-time-budget {math.ceil(need)}")
    if cfg.baseline_epochs is None:
        epochs = max(1, min(epochs, int(RETRAIN_SHARE * budget // epoch_seconds)))
    max_epochs = max(cfg.baseline_min_epochs, min(cfg.baseline_max_epochs, epochs))
    return {"epochs": epochs, "max_epochs": max_epochs, "epoch_seconds": epoch_seconds,
            "asha_seconds": spent + max(epoch_seconds, usable - epochs * epoch_seconds)}


def _epoch_seconds(ctx: CompareContext, x, y, x_val, y_val) -> float:
    """One epoch of the baseline network on ``(x, y)`` plus one evaluation of ``(x_val, y_val)``, timed after a
    first epoch (which pays the one-time costs: conv-path measurements, allocator warm-up)."""
    cfg = ctx.cfg
    with seeded_init(0):
        model = build_model(ctx.baseline_arch)
    model.to(cfg.devices[0])
    x, y = x.to(device_of(model)), y.to(device_of(model))
    run = Run.create(model, _baseline_optimizer(model, {"lr": 0.01, "momentum": 0.9, "weight_decay": 0.0}), 0,
                     cosine(2))
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        train_epoch(run, x, y, cfg.batch_size, min_steps=cfg.min_steps_per_epoch)
        evaluate_scores(model, x_val, y_val, ctx.task.data.num_classes)
        times.append(time.perf_counter() - t0)
    return times[-1]


def _check_baseline_budget(ctx: CompareContext, cells: list[tuple]) -> None:
    """Refuse a ``baseline_time_budget`` too small for the baseline arm before any cell runs (it was refused only
    in the first baseline cell, after the pretrained arm had trained): :func:`baseline_plan` on the largest of
    ``cells`` ((shots, seed) pairs whose baseline is still to run), as that cell will measure it."""
    x, y, xv, yv, _ = max((_cell_data(ctx, *c) for c in cells), key=lambda d: len(d[1]))
    t0 = time.perf_counter()
    measured = _epoch_seconds(ctx, x, y, xv, yv)
    baseline_plan(ctx.cfg, measured, ctx.cfg.baseline_time_budget, time.perf_counter() - t0)


def _run_baseline(ctx: CompareContext, x, y, x_val, y_val, seed: int, workdir: Path) -> tuple[torch.nn.Module, dict]:
    """From scratch on ``(x, y)``, every choice on the selection set ``(x_val, y_val)``; with
    ``baseline_time_budget`` the arm ends within it (:func:`baseline_plan`)."""
    cfg, task = ctx.cfg, ctx.task
    k = task.data.num_classes
    clock = Clock(budget=cfg.baseline_time_budget or float("inf"))
    t0 = time.perf_counter()
    measured = _epoch_seconds(ctx, x, y, x_val, y_val) if cfg.baseline_time_budget is not None else None
    plan = baseline_plan(cfg, measured or 0.0, cfg.baseline_time_budget, clock.elapsed())
    epochs = plan["epochs"]
    asha_until = None if plan["asha_seconds"] is None else clock.at(plan["asha_seconds"])
    stop = None if asha_until is None else (lambda: time.time() > asha_until)  # noqa: E731
    schedule = cosine(epochs)  # one schedule for the trials and the retrain (the same horizon)
    sched = ASHA(dict(DASHA_SPACE), cfg.baseline_min_epochs, plan["max_epochs"], eta=cfg.eta,
                 max_trials=cfg.baseline_configs, seed=seed)
    trial = _baseline_trial(ctx.baseline_arch, x, y, x_val, y_val, cfg.metric, cfg.batch_size,
                            cfg.min_steps_per_epoch, schedule, stop)
    run_local(sched, trial, workdir, stop=stop, device=cfg.devices[0])
    best = sched.best()
    if best is None:
        if stop is not None and stop():
            raise AutofastError(f"--baseline-time-budget {cfg.baseline_time_budget:g}s ran out before any baseline "
                                "trial finished its first rung; give a larger budget")
        raise AutofastError("every baseline trial failed; check the data")
    tid, bcfg, bscore, brung = best
    # DASHA's last stage: retrain the best configuration with the trials' recipe and schedule, keeping the
    # epoch with the best validation score. Epochs are counted like everywhere here (min_steps_per_epoch).
    with seeded_init(int(bcfg["seed"])):
        model = build_model(ctx.baseline_arch, dropout=float(bcfg["dropout"]))
    model.to(cfg.devices[0])
    x, y, x_val = x.to(device_of(model)), y.to(device_of(model)), x_val.to(device_of(model))
    run = Run.create(model, _baseline_optimizer(model, bcfg), int(bcfg["seed"]), schedule)
    end = clock.budget * (1 - BUDGET_MARGIN / 2)
    res = fit(run, x, y, epochs, cfg.batch_size, min_steps=cfg.min_steps_per_epoch,
              validate=lambda m: {"val_score": evaluate_scores(m, x_val, y_val, k)[cfg.metric]},
              stop=lambda: clock.elapsed() + (measured or 0.0) > end)
    model.load_state_dict(res.best_state)
    return model, {"selection_score": res.best_record["val_score"], "asha_val_score": bscore, "config": bcfg,
                   "asha_epochs": sched.rungs[brung], "epochs": epochs, "epochs_trained": run.epoch,
                   "best_epoch": res.best_epoch, "schedule": schedule.describe(), "trials": len(sched.trials()),
                   "budget": None if cfg.baseline_time_budget is None else {
                       "seconds": cfg.baseline_time_budget, "epoch_seconds": measured, "asha_top_rung":
                       plan["max_epochs"], "asha_seconds": plan["asha_seconds"]},
                   "seconds": time.perf_counter() - t0}


def _run_pretrained(ctx: CompareContext, x, y, x_val, y_val, seed: int, workdir: Path) -> tuple[torch.nn.Module, dict]:
    """The checkpoint fine-tuned on ``(x, y)``, every choice on the selection set ``(x_val, y_val)``."""
    cfg, k = ctx.cfg, ctx.task.data.num_classes
    t0 = time.perf_counter()
    if cfg.finetune == "lr_grid":
        lrs = [cfg.base_lr * m for m in cfg.ft_lr_mults]
        model, info = lr_grid_finetune(ctx.make, lrs, seed, x, y, x_val, y_val, k, cfg.metric,
                                       cfg.ft_epochs, cfg.optimizer, cfg.batch_size, cfg.min_steps_per_epoch,
                                       select_epoch=True, device=cfg.devices[0])
        return model, {"selection_score": info["selection_score"], "lr": info["lr"], "grid": info["grid"],
                       "epochs": cfg.ft_epochs, "best_epoch": info["best_epoch"],
                       "seconds": time.perf_counter() - t0}
    sched = ASHA(autoft_space(), 1, cfg.autoft_max_epochs, eta=cfg.eta, max_trials=cfg.autoft_configs, seed=seed)
    trial = autoft_trial(ctx.make, x, y, x_val, y_val, k, cfg.metric, cfg.base_lr, cfg.optimizer,
                         cfg.batch_size, cfg.min_steps_per_epoch)
    run_local(sched, trial, workdir, device=cfg.devices[0])
    best = sched.best()
    if best is None:
        raise AutofastError("every AutoFT trial failed; lower base_lr")
    _, bcfg, bscore, _ = best
    model, info = finetune_full(ctx.make, objective_from_config(bcfg), config_lr(bcfg, cfg.base_lr),
                                float(bcfg.get("weight_decay", 0.0)), seed, x, y, cfg.ft_epochs, cfg.optimizer,
                                cfg.batch_size, cfg.min_steps_per_epoch, (x_val, y_val, k, cfg.metric),
                                device=cfg.devices[0])
    sel = evaluate_scores(model, x_val, y_val, k)[cfg.metric]
    return model, {"selection_score": sel, "asha_val_score": bscore, "lr": info["lr"], "autoft_config": bcfg,
                   "epochs": cfg.ft_epochs, "best_epoch": info["best_epoch"], "seconds": time.perf_counter() - t0}


ARMS = ("pretrained", "baseline")


def _cell_data(ctx: CompareContext, shots, seed: int) -> tuple:
    """``(x, y, x_val, y_val, val_shots)`` of one (shots, seed) cell, the same for both arms: the training shots
    and the selection set (see the module docstring); ``val_shots`` per class, or
    ``"full"`` for the task's validation split."""
    task = ctx.task
    if ctx.cfg.selection == "kshot" and shots != "full":
        idx, vidx = few_shot_split(task.y_train, shots, seed)
        return (task.x_train[idx], task.y_train[idx], task.x_train[vidx], task.y_train[vidx],
                len(vidx) // task.data.num_classes)
    idx = few_shot_indices(task.y_train, shots, seed)
    return task.x_train[idx], task.y_train[idx], task.x_val, task.y_val, "full"


def _cells_header(cfg: CompareConfig) -> str:
    """The cells file's first line: the options and the checkpoint file's SHA-256 (a checkpoint replaced at the
    same path -- pretrain --overwrite -- made a continued run mix two checkpoints' cells in one table)."""
    import hashlib

    digest = hashlib.sha256()
    with open(cfg.checkpoint, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return json.dumps({**cfg.model_dump(mode="json"), "checkpoint_sha256": digest.hexdigest()}, sort_keys=True)


#: options that change how fast a cell runs, not what it computes: a continued run may give others
RUNTIME_OPTIONS = ("threads",)


def _header_options(line: str) -> dict:
    """A cells file's header line as the options that decide its cells (:data:`RUNTIME_OPTIONS` left out);
    ``{}`` for a line that is not one."""
    try:
        options = json.loads(line)
    except json.JSONDecodeError:
        return {}
    return {k: v for k, v in options.items() if k not in RUNTIME_OPTIONS} if isinstance(options, dict) else {}


def _load_cells(path: Path | None, cfg: CompareConfig) -> list[dict]:
    """Rows finished by an earlier, interrupted run of the same configuration (``path`` is JSON lines: the
    configuration first, then one finished (shots, seed, arm) row per line; a torn last line is ignored)."""
    if path is None or not path.exists():
        return []
    lines = path.read_text().splitlines()
    was, now = _header_options(lines[0] if lines else ""), _header_options(_cells_header(cfg))
    if was != now:
        differ = [k for k in sorted(set(was) | set(now)) if was.get(k) != now.get(k) and k != "checkpoint_sha256"]
        what = (f"other options ({', '.join(differ[:5])}{', ...' if len(differ) > 5 else ''})" if differ else
                "another checkpoint file")
        raise AutofastError(f"{path}: holds cells of a compare run with {what}; give the same options to go on, or "
                            "delete the file (or use another --out) to start afresh")
    rows = []
    for line in lines[1:]:
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # killed while writing this line
            break
    return rows


def _append_cell(path: Path | None, cfg: CompareConfig, row: dict) -> None:
    if path is None:
        return
    new = not path.exists()
    with open(path, "a") as f:
        if new:
            f.write(_cells_header(cfg) + "\n")
        f.write(json.dumps(row, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())


def run_compare(cfg: CompareConfig, out_dir: Path, ctx: CompareContext | None = None,
                say: Callable[[str], None] = lambda m: None, cells_file: Path | None = None) -> dict:
    """Run the sweep; with ``cells_file`` every finished (shots, seed, arm) cell is appended there at once and
    cells already in it (from a killed run with the same options) are not run again. Every model trains in
    the config's numerics."""
    ctx = ctx or CompareContext(cfg)
    with in_force(cfg):
        return _run_compare(cfg, out_dir, ctx, say, cells_file)


def _run_compare(cfg: CompareConfig, out_dir: Path, ctx: CompareContext, say: Callable[[str], None],
                 cells_file: Path | None) -> dict:
    task, k = ctx.task, ctx.task.data.num_classes
    rows = _load_cells(cells_file, cfg)
    done = {(r["shots"], r["seed"], r["arm"]) for r in rows}
    if done:
        say(f"resuming: {len(done)} finished cells from {cells_file}")
    t_all = time.perf_counter()
    todo = [(shots, seed) for shots in ctx.shots for seed in cfg.seeds if (shots, seed, "baseline") not in done]
    if cfg.baseline_time_budget is not None and todo:
        _check_baseline_budget(ctx, todo)
    cells = len(ctx.shots) * len(cfg.seeds)
    with tempfile.TemporaryDirectory(prefix="autofast-compare-") as tmp:
        for si, shots in enumerate(ctx.shots):
            for sj, seed in enumerate(cfg.seeds):
                x, y, xv, yv, val_shots = _cell_data(ctx, shots, seed)
                cell = (f"[{si * len(cfg.seeds) + sj + 1}/{cells}] shots {shots}, seed {seed} ({len(y)} train, "
                        f"{len(yv)} validation examples)")
                for arm in ARMS:
                    if (shots, seed, arm) in done:
                        continue
                    say(f"{cell}: {arm}")
                    work = Path(tmp) / f"{arm}-{shots}-{seed}"
                    runner = _run_pretrained if arm == "pretrained" else _run_baseline
                    model, info = runner(ctx, x, y, xv, yv, seed, work)
                    test = evaluate_scores(model, task.x_test, task.y_test, k)  # the one test evaluation
                    rows.append({"shots": shots, "seed": seed, "n_train": len(y), "val_shots": val_shots,
                                 "n_val": len(yv), "arm": arm,
                                 "val_score": info["selection_score"], "test": test,
                                 "test_score": test[cfg.metric], **{kk: v for kk, v in info.items()
                                                                   if kk != "selection_score"}})
                    _append_cell(cells_file, cfg, rows[-1])
    table = []
    for shots in ctx.shots:
        for arm in ARMS:
            sel = [r for r in rows if r["shots"] == shots and r["arm"] == arm]
            table.append({"shots": shots, "n_train": statistics.fmean(r["n_train"] for r in sel),
                          "val_shots": sel[0]["val_shots"], "n_val": statistics.fmean(r["n_val"] for r in sel),
                          "arm": arm,
                          "test": mean_std([r["test_score"] for r in sel]),
                          "val": mean_std([r["val_score"] for r in sel])})
    result = {
        "command": "compare", "task": task.name, "kind": task.data.kind, "classes": list(task.data.classes),
        "split": task.split.describe(),
        "metric": cfg.metric, "shots": ctx.shots, "seeds": list(cfg.seeds), "model": ctx.model_info,
        "baseline_arch": ctx.baseline_arch.meta(),
        "pretrained_arm": (f"checkpoint fine-tuned: CE over lr grid {[cfg.base_lr * m for m in cfg.ft_lr_mults]} "
                           f"({cfg.optimizer}, constant lr, {cfg.ft_epochs} epochs each, best validation epoch)"
                           if cfg.finetune == "lr_grid" else
                           f"checkpoint fine-tuned with AutoFT ({cfg.autoft_configs} ASHA configs up to "
                           f"{cfg.autoft_max_epochs} epochs, then {cfg.ft_epochs} epochs)"),
        "baseline_arm": (f"{ctx.baseline_arch.backbone} (width {ctx.baseline_arch.width}, "
                         f"{'DASH pattern' if ctx.baseline_arch.pattern else 'plain 3x1'}) from scratch: ASHA over "
                         f"DASHA's space, {cfg.baseline_configs} configs, epochs {cfg.baseline_min_epochs}.."
                         f"{cfg.baseline_max_epochs}, then the best retrained for "
                         f"{cfg.baseline_epochs or cfg.baseline_max_epochs} epochs; trials and retrain on one lr "
                         f"schedule ({cosine(cfg.baseline_epochs or cfg.baseline_max_epochs).describe()}); best "
                         f"validation epoch)"
                         + ("" if cfg.baseline_time_budget is None else
                            f"; within {cfg.baseline_time_budget:g}s per cell: retrain epochs (at most "
                            f"{RETRAIN_SHARE:.0%} of it) and ASHA's top rung cut to fit from one measured epoch, "
                            f"ASHA stopped when its share is spent (each row's budget)")),
        "rows": rows, "table": table, "config": cfg.model_dump(mode="json"),
        "timings": {"total": time.perf_counter() - t_all,  # this run; the cells' own times, earlier runs' included:
                    "cells": float(sum(r.get("seconds", 0.0) for r in rows))},
        "selection": cfg.selection,
        "selected_on": (f"subsample: seeded, class-stratified from ID train; lr / objective / hyperparameters and "
                        f"the kept epoch of both arms: {cfg.metric} on "
                        + ("a validation set of the same budget carved from ID train, disjoint from the training "
                           "shots (val shots per class in the table; at 'full' the task's validation split), counted "
                           "as labelled data" if cfg.selection == "kshot" else
                           "the task's full validation split at every size (full-val: more labelled data than the "
                           "shots, flatters the few-shot rows)")
                        + "; test split evaluated once per (size, seed, arm)"),
    }
    from .report import write_compare_report

    write_compare_report(out_dir, result)
    return result
