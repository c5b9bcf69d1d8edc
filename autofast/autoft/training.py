"""Fine-tuning on the shared training engine (:mod:`autofast.engine`), used by ``finetune`` and ``compare``.

* The optimiser's learning rate is exactly the one given (AutoFT: ``base_lr * lr_mult``): the ``constant``
  member of the engine's schedule family, no warm-up (the public AutoFT code let a scheduler overwrite the
  searched lr). Every step's lr is read back from the optimiser and recorded (``lr_log``), so reports and
  tests can check it.
* An *epoch* is ``max(ceil(n / batch_size), min_steps)`` steps over reshuffles of the training set drawn
  from the run's own generator: with ``min_steps`` a 1-shot set still gets a real budget, and every arm of a
  comparison gets the same one.
* AutoFT trials (:func:`autoft_trial`) are ASHA :class:`~autofast.asha.TorchTrial` s: the resource is inner
  fine-tuning epochs; a promotion resumes the trial from its checkpoint exactly (weights, optimiser state,
  generator states).
* Models train on the device they are given (``device``, or the ASHA worker's); the data follows the model
  there once per run (``x.to(device_of(model))``), so a caller passes CPU tensors.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from autofast.asha import TorchTrial
from autofast.autoft.losses import AutoFTObjective, objective_from_config, snapshot_params
from autofast.engine import CONSTANT, OnDevice, Run, device_of, fit, seeded_init, sgd, train_epoch
from autofast.errors import AutofastError

from .metrics import evaluate_scores

OPTIMIZERS = ("adamw", "sgd")


def make_optimizer(name: str, params, lr: float, weight_decay: float, momentum: float = 0.9):
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return sgd(params, lr, momentum, weight_decay)
    raise AutofastError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")


class _Objective:
    """The engine's loss function for an AutoFT objective (``objective(model, logits, y, init)``)."""

    def __init__(self, objective: AutoFTObjective, init_params):
        self.objective, self.init = objective, init_params

    def __call__(self, model, logits, y):
        return self.objective(model, logits, y, self.init)


class _LrLog:
    def __init__(self, log: list):
        self.log = log

    def after_step(self, run: Run, lr: float) -> None:
        self.log.append(float(run.optimizer.param_groups[0]["lr"]))


def check_devices(devices, precision: str | None = None) -> None:
    """Refuse, before any data is loaded, a device this machine lacks or one ``precision`` (the config's;
    None: ``$AUTOFAST_PRECISION``) cannot train in: one error line naming the fix."""
    from autofast.engine.precision import check as check_precision
    from autofast.search.trial import check_devices as check_present

    check_present(devices)
    check_precision(devices, precision)


def config_lr(cfg: dict, base_lr: float) -> float:
    return float(base_lr) * float(cfg.get("lr_mult", 1.0))


def config_key(cfg: dict) -> tuple:
    return tuple(sorted((k, float(v)) for k, v in cfg.items()))


def autoft_trial(make_model: Callable[[int], nn.Module], x_train, y_train, x_sel, y_sel, num_classes: int,
                 metric: str, base_lr: float, optimizer: str = "adamw", batch_size: int = 64, min_steps: int = 1,
                 lr_log: dict | None = None) -> TorchTrial:
    """An ASHA trial: fine-tune the pretrained model with the config's objective, lr = ``base_lr * lr_mult``
    (constant), weight decay and seed; scored by ``metric`` on the selection set ``(x_sel, y_sel)`` (the OOD
    validation set). ``lr_log`` (a dict) collects, per config, every lr the optimiser actually stepped with.
    The trial trains on its worker's device (``run_local(..., device=...)``), the training and selection inputs
    moved there once."""
    on = OnDevice(x_train, y_train, x_sel).for_model  # moved to the worker's device once, not per epoch or rung

    def build(cfg):
        model = make_model(int(cfg.get("seed", 0)))
        model._autoft_init = snapshot_params(model)  # the pretrained (+ fresh head) weights: l*_init terms
        opt = make_optimizer(optimizer, model.parameters(), config_lr(cfg, base_lr), float(cfg.get("weight_decay", 0.0)))
        return model, opt

    def epoch_fn(run: Run, cfg):
        log = None if lr_log is None else _LrLog(lr_log.setdefault(config_key(cfg), []))
        init = [t.to(p.device) for t, p in zip(run.model._autoft_init, run.model.parameters())]
        return train_epoch(run, *on(run.model)[:2], batch_size, _Objective(objective_from_config(cfg), init),
                           min_steps=min_steps, hooks=log)

    def score(model, cfg):
        return evaluate_scores(model, on(model)[2], y_sel, num_classes)[metric]

    return TorchTrial(build, epoch_fn, score, CONSTANT)


def finetune_full(make_model: Callable[[int], nn.Module], objective: AutoFTObjective, lr: float, weight_decay: float,
                  seed: int, x, y, epochs: int, optimizer: str = "adamw", batch_size: int = 64,
                  min_steps: int = 1, select: tuple | None = None, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Fine-tune for ``epochs`` with a fixed objective and constant lr, on ``device``. Without ``select`` the
    LAST epoch is the model (no selection data spent); with ``select = (x_val, y_val, num_classes, metric)`` the
    epoch with the best validation score is (ties: the earlier). A non-finite loss stops training (``diverged``)."""
    with seeded_init(int(seed)):
        model = make_model(int(seed))
    model.to(device)
    x, y = x.to(device_of(model)), y.to(device_of(model))
    init = snapshot_params(model)
    run = Run.create(model, make_optimizer(optimizer, model.parameters(), lr, weight_decay), int(seed), CONSTANT)
    lrs: list[float] = []
    validate = None
    if select is not None:
        select = (select[0].to(device_of(model)), *select[1:])  # moved once, evaluated every epoch

        def validate(m):
            return {"val_score": evaluate_scores(m, select[0], select[1], select[2])[select[3]]}
    res = fit(run, x, y, int(epochs), batch_size, _Objective(objective, init), min_steps=min_steps,
              hooks=_LrLog(lrs), validate=validate, stop_on_divergence=True)
    if res.best_state is not None:
        model.load_state_dict(res.best_state)
    best_epoch = res.best_epoch if select is not None else len(run.history)
    return model, {"lr": lr, "weight_decay": weight_decay, "seed": int(seed), "epochs": int(epochs),
                   "best_epoch": best_epoch, "steps": len(lrs), "lr_used": sorted(set(lrs)), "diverged": res.diverged,
                   "seconds": res.seconds, "history": run.history}


def lr_grid_finetune(make_model, lrs: list[float], seed: int, x, y, x_sel, y_sel, num_classes: int, metric: str,
                     epochs: int, optimizer: str = "adamw", batch_size: int = 64, min_steps: int = 1,
                     objective: AutoFTObjective | None = None, weight_decay: float = 0.0,
                     select_epoch: bool = False, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Plain fine-tuning (CE unless ``objective``) at each lr of a small grid, full budget each; the lr with the
    best ``metric`` on the selection set wins (ties: the smaller lr). ``select_epoch``: each run keeps its best
    epoch on the selection set instead of its last."""
    objective = objective or AutoFTObjective({"ce": 1.0})
    best, rows = None, []
    for lr in sorted(lrs):
        model, info = finetune_full(make_model, objective, lr, weight_decay, seed, x, y, epochs, optimizer,
                                    batch_size, min_steps,
                                    (x_sel, y_sel, num_classes, metric) if select_epoch else None, device)
        sel = evaluate_scores(model, x_sel, y_sel, num_classes)[metric]
        sel = sel if info["diverged"] is None and math.isfinite(sel) else float("-inf")
        rows.append({"lr": lr, "selection_score": sel, "diverged": info["diverged"], "seconds": info["seconds"],
                     "lr_used": info["lr_used"], "best_epoch": info["best_epoch"]})
        if best is None or sel > best[0]:
            best = (sel, model, info)
    if all(r["diverged"] is not None for r in rows):  # nothing to report: it was scored and tabled all the same
        from autofast.errors import Diverged

        raise Diverged(f"fine-tuning diverged at every learning rate tried ({', '.join(f'{r:g}' for r in sorted(lrs))}):"
                       f" {rows[0]['diverged']}; give smaller learning-rate multipliers")
    sel, model, info = best
    return model, {**info, "grid": rows, "selection_score": sel}
