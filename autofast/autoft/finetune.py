"""``python -m autofast finetune``: AutoFT (Choi et al. 2024) on a pretrained checkpoint.

1. Load the checkpoint (weights only) and its architecture; adapt the head to the task (re-initialised when
   the classes differ). Build the OOD validation set and the OOD test sets (user files, or built-in shifts of
   the ID val / ID test splits).
2. Search the fine-tuning objective with ASHA (:data:`autofast.autoft.losses.AUTOFT_SPACE`: a weight per loss
   term, ``lr_mult``, ``weight_decay``, ``seed``). Resource = inner fine-tuning EPOCHS over the ID training
   split (an epoch is ``max(ceil(n / batch), min_steps_per_epoch)`` steps); a promotion resumes the trial
   from its checkpoint. Each trial is scored on the OOD VALIDATION set (accuracy, macro-F1 or worst-group
   accuracy). lr = ``base_lr * lr_mult`` exactly, no scheduler, no warm-up.
3. Objective selection, noise-aware (:mod:`autofast.autoft.selection`): CE-only fine-tuning (every other loss
   weight 0, no weight decay) is always a candidate, its lr picked from ``base_lr * control_lr_mults`` by the OOD
   validation metric (one grid run, seed ``10000 + seed``, ``final_epochs``); the search's best objective is
   retrained with that seed and budget. Both are scored on units of the OOD validation set (examples for
   accuracy, class-stratified folds otherwise) and the one-standard-error rule keeps CE-only unless the searched
   objective beats it by more than one paired SE. The result records the winner, the difference, its SE and why.
4. Final fine-tunes on ID train (``final_epochs``, the last epoch is the model), once per seed in
   ``final_seeds``: the AutoFT arm with the selected objective, beside the CE-only control (its lr as above).
   When CE-only wins, the AutoFT arm IS the control (same runs). ID test and every OOD test set are evaluated
   once per final model.

The run folder holds the ASHA journal (``asha/asha.sqlite``) and trial checkpoints, so ``--resume`` continues a
killed search; ``result.json``, ``report.md``/``.html``, ``asha_rungs.png``, ``finetuned.pt`` and ``model/`` (the
AutoFT arm's first-seed model for ``predict``, :mod:`autofast.predictor`) are written atomically at the end.
"""
from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Callable, Literal

from pydantic import ConfigDict, Field, NonNegativeInt, PositiveFloat

from autofast.runtime import configure as configure_runtime
from autofast.asha import ASHA, Journal, parse_space, run_local
from autofast.autoft.losses import AutoFTObjective, autoft_space, objective_from_config
from autofast.errors import AutofastError
from autofast.io import write_json_atomic
from autofast.engine import device_of, predict
from autofast.engine.numerics import NumericsOptions, in_force
from autofast.models.checkpoint import save_checkpoint

from .metrics import METRICS, evaluate_scores, mean_std
from .model import finetuned_meta, load_pretrained, prepare
from .training import autoft_trial, check_devices, config_key, config_lr, finetune_full, lr_grid_finetune
from .tasks import load_classification, ood_sets


CONTROL_SELECTION_SEED = 10_000


class FinetuneConfig(NumericsOptions):
    """AutoFT settings (defaults sized for a few minutes on 2 CPU cores on a small task)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint: str
    task: str = "digits"
    classes: str | int | list[str | int] | None = None
    arch: str | None = Field(None, description="override the checkpoint's architecture: backbone or timm:NAME")
    width: int | None = Field(None, ge=1)
    pattern: str | None = None
    head: Literal["auto", "reinit", "keep"] = "auto"
    ood_val: str | list[str] | None = Field(None, description="shift spec(s) (noise:3) or file(s), concatenated; "
                                                               "default per modality")
    ood_test: list[str] | None = None
    metric: Literal["accuracy", "macro_f1", "worst_group"] = "accuracy"
    optimizer: Literal["adamw", "sgd"] = "adamw"
    base_lr: float = Field(1e-3, gt=0)
    n_configs: int = Field(12, ge=1)
    sampler: Literal["random", "grid", "tpe"] = Field("random", description="tpe: optuna's TPE, as the AutoFT paper")
    eta: float = Field(2, gt=1)
    min_epochs: int = Field(1, ge=1)
    max_epochs: int = Field(8, ge=1, description="top ASHA rung; by default equal to final_epochs, so the "
                                                 "selected objective was scored at the final budget")
    space: dict | None = Field(None, description="replace the AutoFT search space (keys w_<term>, lr_mult, "
                                                  "weight_decay, seed)")
    final_epochs: int = Field(8, ge=1)
    final_seeds: list[NonNegativeInt] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    control_lr_mults: list[PositiveFloat] = Field(default_factory=lambda: [0.1, 1.0, 10.0], min_length=1)
    batch_size: int = Field(64, ge=1)
    min_steps_per_epoch: int = Field(1, ge=1)
    seed: int = Field(0, ge=0, description="split seed, shift seeds and ASHA sampling seed")
    selection_seeds: int = Field(3, ge=1, description="training seeds each candidate objective is retrained and "
                                                      "scored with for the one-SE rule")
    selection_folds: int = Field(5, ge=2, description="folds of the OOD validation set for the one-SE rule when "
                                                      "the metric is not accuracy (accuracy: per example)")
    threads: int | None = Field(None, ge=1)
    devices: list[str] = Field(default_factory=lambda: ["cpu"], min_length=1,
                               description="cpu, cuda or cuda:N: training and evaluation on the first")


def validate_space(space: dict | None) -> dict:
    allowed = autoft_space(contrastive=True)
    if space is None:
        return autoft_space()
    if not isinstance(space, dict):
        raise AutofastError("space: expected a mapping of key: {distribution: [args]}")
    unknown = sorted(set(space) - set(allowed))
    if unknown:
        raise AutofastError(f"space: unknown search-space key(s) {', '.join(unknown)}; known: {', '.join(allowed)}")
    if "w_contrastive" in space:
        raise AutofastError("space: w_contrastive needs a model with a label/text tower (class_embeddings); "
                            "autofast backbones have none, drop the key")
    if not any(k.startswith("w_") for k in space):
        raise AutofastError("space: give at least one loss weight w_<term>")
    parse_space(space)  # distributions checked here (one-line errors)
    return dict(space)


class FinetuneContext:
    """Everything validated before a run folder is touched: task, checkpoint, model factory, OOD sets."""

    def __init__(self, cfg: FinetuneConfig):
        check_devices(cfg.devices, cfg.precision)
        if cfg.threads:
            configure_runtime(cfg.threads)
        self.cfg = cfg
        self.space = validate_space(cfg.space)
        if cfg.min_epochs > cfg.max_epochs:
            raise AutofastError(f"min_epochs ({cfg.min_epochs}) must be <= max_epochs ({cfg.max_epochs})")
        if len(set(cfg.final_seeds)) != len(cfg.final_seeds):  # a "spread" over one seed run twice: std 0
            raise AutofastError(f"--final-seeds {cfg.final_seeds} repeats a seed; give distinct seeds")
        self.task = load_classification(cfg.task, cfg.classes, seed=cfg.seed)
        self.pre = load_pretrained(cfg.checkpoint, self.task, cfg.arch, cfg.width, cfg.pattern)
        self.make, self.model_info = prepare(self.pre, self.task, cfg.head)
        self.val, self.tests, self.ood_info = ood_sets(self.task, cfg.ood_val, cfg.ood_test, cfg.seed)


def _eval_all(model, ctx: FinetuneContext) -> dict:
    k = ctx.task.data.num_classes
    out = {"ood_val": evaluate_scores(model, ctx.val.x, ctx.val.y, k),
           "id_test": evaluate_scores(model, ctx.task.x_test, ctx.task.y_test, k)}
    for t in ctx.tests:
        out[f"ood_test:{t.name}"] = evaluate_scores(model, t.x, t.y, k)
    ood = [out[f"ood_test:{t.name}"] for t in ctx.tests]
    out["ood_test_mean"] = {m: statistics.fmean(o[m] for o in ood) for m in METRICS}
    return out


def _select_objective(ctx: FinetuneContext, models: dict, search_diverged: str | None) -> dict:
    """One-SE choice between ``models["ce_only"]`` and ``models["search"]`` (each a list: one model per selection
    seed, trained with the final budget) on per-unit OOD validation scores, ``(seeds, units)`` per candidate
    (:mod:`.selection`); a diverged search run loses."""
    import numpy as np

    from .selection import one_se_select, unit_scores

    cfg, k = ctx.cfg, ctx.task.data.num_classes
    units = {name: np.stack([unit_scores(predict(m, ctx.val.x.to(device_of(m))).argmax(1), ctx.val.y, k, cfg.metric,
                                         cfg.selection_folds, cfg.seed) for m in ms]) for name, ms in models.items()}
    seeds = len(models["ce_only"])
    unit_name = ((f"{len(ctx.val)} examples (per-example correctness)" if cfg.metric == "accuracy" else
                  f"{units['ce_only'].shape[1]} class-stratified folds ({cfg.metric} per fold)")
                 + f" x {seeds} training seed{'s' if seeds > 1 else ''}")
    if search_diverged:
        sel = one_se_select({"ce_only": units["ce_only"]}, ["ce_only"])
        sel["candidates"]["search"] = None
    else:
        sel = one_se_select(units, ["ce_only", "search"])
    c = sel["candidates"]
    diff, se = (c["search"]["diff_vs_simplest"], c["search"]["se_vs_simplest"]) if c["search"] else (None, None)
    what = f"OOD validation {cfg.metric}"
    if search_diverged:
        reason = f"CE-only kept: the searched objective diverged when retrained ({search_diverged})"
    elif sel["winner"] == "search":
        reason = (f"searched objective selected: it beats CE-only by {diff:+.4f} on {what}, more than one standard "
                  f"error ({se:.4f}) over {unit_name}")
    elif diff == 0:
        reason = f"CE-only kept: the searched objective ties it on {what} over {unit_name}"
    elif diff < 0:
        reason = (f"CE-only kept: the searched objective scores {diff:+.4f} below it on {what} (one standard error: "
                  f"{se:.4f} over {unit_name})")
    else:
        reason = (f"CE-only kept: the searched objective's lead {diff:+.4f} on {what} is within one standard "
                  f"error ({se:.4f}) over {unit_name}, so the simpler objective wins")
    return {**sel, "rule": "one standard error, CE-only (simplest) preferred", "metric": cfg.metric,
            "unit_name": unit_name, "difference": diff, "se": se, "reason": reason}


def run_finetune(cfg: FinetuneConfig, run_dir: Path, resume: bool = False, ctx: FinetuneContext | None = None,
                 say: Callable[[str], None] = lambda m: None) -> dict:
    """AutoFT (module docstring); every model trains and is evaluated on ``cfg.devices[0]`` in the config's
    numerics, the saved ones as CPU tensors."""
    ctx = ctx or FinetuneContext(cfg)
    with in_force(cfg):
        return _run_finetune(cfg, run_dir, resume, ctx, say)


def _run_finetune(cfg: FinetuneConfig, run_dir: Path, resume: bool, ctx: FinetuneContext,
                  say: Callable[[str], None]) -> dict:
    task, k, device = ctx.task, ctx.task.data.num_classes, cfg.devices[0]
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    asha_dir = run_dir / "asha"
    asha_dir.mkdir(parents=True, exist_ok=True)
    journal = asha_dir / "asha.sqlite"
    if resume and journal.exists():
        sched = ASHA.resume(journal)
        say("resume: ASHA journal from the earlier run")
    else:
        sched = ASHA(ctx.space, cfg.min_epochs, cfg.max_epochs, eta=cfg.eta, max_trials=cfg.n_configs, seed=cfg.seed,
                     sampler=cfg.sampler)
        sched.attach(Journal(journal))
    lr_log: dict = {}
    trial = autoft_trial(ctx.make, task.x_train, task.y_train, ctx.val.x, ctx.val.y, k, cfg.metric, cfg.base_lr,
                         cfg.optimizer, cfg.batch_size, cfg.min_steps_per_epoch, lr_log)
    def on_result(job, score, error):
        what = f"failed ({error})" if error else f"OOD val {cfg.metric} {score:.4f}"
        say(f"AutoFT trial {job.trial_id} epochs {job.resource_from:g}->{job.resource_to:g}: {what}")

    t0 = time.perf_counter()
    run_local(sched, trial, asha_dir / "checkpoints", on_result=on_result, device=device)
    timings["autoft_search"] = time.perf_counter() - t0
    best = sched.best()
    trials = sched.trials()
    if best is None:
        errs = [t["error"] for t in trials if t["error"]]
        raise AutofastError(f"every AutoFT trial failed (first: {errs[0] if errs else 'unknown'}); lower base_lr or "
                            f"check the data")
    best_id, best_cfg, best_score, best_rung = best
    for t in trials:
        t["lr"] = config_lr(t["config"], cfg.base_lr)
        used = lr_log.get(config_key(t["config"]))
        t["lr_used"] = sorted(set(used)) if used else None  # None: trained in an earlier (resumed) process
    search_obj = objective_from_config(best_cfg)
    search_lr, search_wd = config_lr(best_cfg, cfg.base_lr), float(best_cfg.get("weight_decay", 0.0))
    # CE-only, the simplest objective, is a candidate too: its lr from a grid (final budget, seed 10000 + seed),
    # best OOD validation score; the searched objective is retrained with the same seed and budget, so both
    # are scored on the same protocol, and the one-SE rule picks between them
    control_lrs = [cfg.base_lr * m for m in cfg.control_lr_mults]
    t0 = time.perf_counter()
    say(f"CE-only candidate: lr grid {', '.join(f'{lr:.2g}' for lr in control_lrs)} on OOD validation")
    ce = AutoFTObjective({"ce": 1.0})
    selection_seed = CONTROL_SELECTION_SEED + cfg.seed  # not a final seed: the finals are fresh runs
    ce_model, grid = lr_grid_finetune(ctx.make, control_lrs, selection_seed, task.x_train, task.y_train, ctx.val.x,
                                      ctx.val.y, k, cfg.metric, cfg.final_epochs, cfg.optimizer, cfg.batch_size,
                                      cfg.min_steps_per_epoch, objective=ce, device=device)
    control_lr = grid["lr"]
    timings["control_lr_selection"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # every candidate retrained with the same selection seeds (the lr grid's run is CE-only's first)
    sel_seeds = [selection_seed + 1000 * j for j in range(cfg.selection_seeds)]
    say(f"objective selection: CE-only and the searched objective retrained with {len(sel_seeds)} selection "
        f"seed(s), scored on OOD validation")
    ce_models = [ce_model] + [finetune_full(ctx.make, ce, control_lr, 0.0, s, task.x_train, task.y_train,
                                            cfg.final_epochs, cfg.optimizer, cfg.batch_size,
                                            cfg.min_steps_per_epoch, device=device)[0] for s in sel_seeds[1:]]
    search_models, diverged = [], None
    for s in sel_seeds:
        m, info = finetune_full(ctx.make, search_obj, search_lr, search_wd, s, task.x_train, task.y_train,
                                cfg.final_epochs, cfg.optimizer, cfg.batch_size, cfg.min_steps_per_epoch,
                                device=device)
        search_models.append(m)
        diverged = diverged or info["diverged"]
    selection = _select_objective(ctx, {"ce_only": ce_models, "search": search_models}, diverged)
    timings["objective_selection"] = time.perf_counter() - t0
    if selection["winner"] == "search":
        objective, best_lr, best_wd = search_obj, search_lr, search_wd
    else:
        objective, best_lr, best_wd = ce, control_lr, 0.0
    say(selection["reason"])
    runs = []
    first_model = None
    t0 = time.perf_counter()
    for s in cfg.final_seeds:
        say(f"final fine-tune: ce_only, seed {s} ({cfg.final_epochs} epochs)")
        ce_final, ce_info = finetune_full(ctx.make, ce, control_lr, 0.0, s, task.x_train, task.y_train,
                                          cfg.final_epochs, cfg.optimizer, cfg.batch_size, cfg.min_steps_per_epoch,
                                          device=device)
        ce_run = {"arm": "ce_only", "seed": s, "scores": _eval_all(ce_final, ctx), **ce_info}
        if selection["winner"] == "search":
            say(f"final fine-tune: autoft, seed {s} ({cfg.final_epochs} epochs)")
            model, info = finetune_full(ctx.make, objective, best_lr, best_wd, s, task.x_train, task.y_train,
                                        cfg.final_epochs, cfg.optimizer, cfg.batch_size, cfg.min_steps_per_epoch,
                                        device=device)
            runs.append({"arm": "autoft", "seed": s, "scores": _eval_all(model, ctx), **info})
        else:  # the same objective, lr and seed: the CE-only run is the AutoFT arm's run
            model = ce_final
            runs.append({**ce_run, "arm": "autoft"})
        runs.append(ce_run)
        if first_model is None:
            first_model = model
    timings["final_finetunes"] = time.perf_counter() - t0
    sets = ["ood_val", "id_test", *[f"ood_test:{t.name}" for t in ctx.tests], "ood_test_mean"]
    summary = {arm: {s: {m: mean_std([r["scores"][s][m] for r in runs if r["arm"] == arm]) for m in METRICS}
                     for s in sets} for arm in ("autoft", "ce_only")}
    first_model.cpu()  # saved as CPU tensors
    save_checkpoint(run_dir / "finetuned.pt", first_model,
                    finetuned_meta(ctx.pre, task, {"autoft_objective": objective.weights, "lr": best_lr,
                                                   "weight_decay": best_wd, "seed": cfg.final_seeds[0]}))
    saved = _save_predictor(run_dir, first_model, ctx, runs[0]["scores"]["id_test"][cfg.metric])
    timings["total"] = time.perf_counter() - t_all
    result = {
        "command": "finetune", "task": task.name, "kind": task.data.kind, "classes": list(task.data.classes),
        "split": task.split.describe(),
        "model": ctx.model_info, "ood": {**ctx.ood_info, "val_source": ctx.val.source,
                                         "test_sources": {t.name: t.source for t in ctx.tests}},
        "metric": cfg.metric,
        "asha": {"rungs": sched.rungs, "eta": cfg.eta, "resource": "inner fine-tuning epochs over ID train",
                 "trials": trials, "best_trial": best_id, "best_val_score": best_score, "best_rung": best_rung,
                 "best_config": best_cfg},
        "autoft_objective": {"weights": objective.weights, "lr": best_lr, "weight_decay": best_wd,
                             "source": selection["winner"]},
        "search_objective": {"weights": search_obj.weights, "lr": search_lr, "weight_decay": search_wd,
                             "diverged": diverged},
        "selection": {**selection, "selection_seeds": sel_seeds},
        "control": {"objective": {"ce": 1.0}, "weight_decay": 0.0, "lr_grid": control_lrs, "lr": control_lr,
                    "grid": grid["grid"], "selection_seed": selection_seed,
                    "selected_on": f"OOD validation {cfg.metric}"},
        "final_seeds": list(cfg.final_seeds), "final_epochs": cfg.final_epochs, "runs": runs, "summary": summary,
        "headline": {"metric": cfg.metric,
                     "selected_objective": selection["winner"],
                     "autoft_ood_test": summary["autoft"]["ood_test_mean"][cfg.metric],
                     "ce_only_ood_test": summary["ce_only"]["ood_test_mean"][cfg.metric],
                     "autoft_id_test": summary["autoft"]["id_test"][cfg.metric],
                     "ce_only_id_test": summary["ce_only"]["id_test"][cfg.metric]},
        "config": cfg.model_dump(mode="json"), "timings": timings, "saved_model": saved,
        "selected_on": (f"searched objective (loss weights, lr, weight decay, seed): OOD validation {cfg.metric} "
                        f"({ctx.val.source}) via ASHA; CE-only lr: the same OOD validation {cfg.metric} (grid run "
                        f"once, seed {selection_seed}); AutoFT's final objective: CE-only or the searched one by the "
                        f"one-standard-error rule on {selection['unit_name']} of the same OOD validation set (both "
                        f"retrained with selection seeds {sel_seeds}); final models of both arms: "
                        f"trained afresh with seeds {list(cfg.final_seeds)}, last epoch of {cfg.final_epochs} on ID "
                        f"train (no checkpoint selection); ID test and OOD test sets evaluated once per final model"),
    }
    from .report import write_finetune_report

    write_finetune_report(run_dir, result)
    return result


def _save_predictor(run_dir: Path, model, ctx: FinetuneContext, id_test: float) -> dict:
    """``run_dir/model/`` (:mod:`autofast.predictor`): the AutoFT arm's model of the first final seed (the one
    in ``finetuned.pt``) with its ID test score, so ``predict`` and ``autofast.load`` apply it."""
    from autofast.predictor import save_model

    cfg, arch, task = ctx.cfg, ctx.pre.arch, ctx.task
    saved = save_model(run_dir, model, task, "finetune", {
        "backbone": arch.backbone, "positional": arch.positional,
        "members": [{"pattern": arch.pattern, "width": arch.width, "dropout": 0.0}]}, {
        "task_source": cfg.task, "metric": cfg.metric, "lower_is_better": False, "test_score": id_test,
        "split_seed": task.split.seed, "class_subset": list(task.data.classes) if cfg.classes else None,
        "trained_on": f"ID train, AutoFT objective, seed {cfg.final_seeds[0]}, last of {cfg.final_epochs} epochs"})
    return {**saved, "arm": "autoft", "seed": cfg.final_seeds[0], "id_test": {cfg.metric: id_test}}


def load_saved_config(run_dir: Path) -> dict:
    saved = run_dir / "finetune_config.json"
    if not saved.exists():
        raise AutofastError(f"{run_dir}: no finetune_config.json, so not a finetune run folder; check --resume")
    try:
        return json.loads(saved.read_text())
    except ValueError:
        raise AutofastError(f"{saved}: not valid JSON; start a new run") from None


def save_config(run_dir: Path, cfg: FinetuneConfig) -> None:
    write_json_atomic(run_dir / "finetune_config.json", cfg.model_dump(mode="json"))
