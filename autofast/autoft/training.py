"""Fine-tuning loops shared by ``finetune`` and ``compare``.

* The optimiser's learning rate is exactly the one given (AutoFT: ``base_lr * lr_mult``): no scheduler, no
  warm-up (the public AutoFT code let a scheduler overwrite the searched lr). Every step's lr is read back from
  the optimiser and recorded (``lr_log``), so reports and tests can check it.
* An *epoch* is ``max(ceil(n / batch_size), min_steps)`` steps over seeded reshuffles of the training set:
  with ``min_steps`` a 1-shot set still gets a real budget, and every arm of a comparison gets the same one.
* AutoFT trials (:func:`autoft_trial`) are ASHA :class:`~autofast.asha.TorchTrial` s: the resource is inner
  fine-tuning epochs; a promotion resumes the trial from its checkpoint (weights and optimiser state).
"""
from __future__ import annotations

import copy
import math
import time
from typing import Callable

import torch
from torch import nn

from autofast.asha import TorchTrial
from autofast.autoft.losses import AutoFTObjective, objective_from_config, snapshot_params
from autofast.errors import AutofastError

from .metrics import evaluate_scores

OPTIMIZERS = ("adamw", "sgd")


def make_optimizer(name: str, params, lr: float, weight_decay: float, momentum: float = 0.9):
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=momentum > 0)
    raise AutofastError(f"unknown optimizer {name!r}; use one of {', '.join(OPTIMIZERS)}")


def steps_per_epoch(n: int, batch_size: int, min_steps: int = 1) -> int:
    return max(math.ceil(n / batch_size), int(min_steps), 1)


def epoch_batches(n: int, batch_size: int, min_steps: int, seed: int, epoch: int) -> list[torch.Tensor]:
    """Index batches for one epoch: seeded reshuffles, concatenated until ``steps_per_epoch`` batches."""
    g = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
    steps = steps_per_epoch(n, batch_size, min_steps)
    bs = min(batch_size, n)
    order = torch.cat([torch.randperm(n, generator=g) for _ in range(math.ceil(steps * bs / n))])
    return [order[i * bs : (i + 1) * bs] for i in range(steps)]


def train_epoch(model: nn.Module, opt, x: torch.Tensor, y: torch.Tensor, objective: AutoFTObjective,
                init_params, batch_size: int, min_steps: int, seed: int, epoch: int,
                lr_log: list | None = None) -> dict:
    """One epoch of ``objective`` on ``(x, y)``; returns the mean unweighted term values and total loss.
    Raises FloatingPointError when the loss is not finite (ASHA records the trial as failed)."""
    model.train()
    sums: dict[str, float] = {}
    steps = 0
    for idx in epoch_batches(len(x), batch_size, min_steps, seed, epoch):
        logits = model(x[idx])
        total, terms = objective(model, logits, y[idx], init_params)
        if not torch.isfinite(total):
            raise FloatingPointError(f"fine-tuning loss became {float(total)} at epoch {epoch + 1}")
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        if lr_log is not None:
            lr_log.append(float(opt.param_groups[0]["lr"]))
        for k, v in terms.items():
            sums[k] = sums.get(k, 0.0) + v
        sums["total"] = sums.get("total", 0.0) + float(total.detach())
        steps += 1
    return {k: v / max(1, steps) for k, v in sums.items()}


def config_lr(cfg: dict, base_lr: float) -> float:
    return float(base_lr) * float(cfg.get("lr_mult", 1.0))


def config_key(cfg: dict) -> tuple:
    return tuple(sorted((k, float(v)) for k, v in cfg.items()))


def autoft_trial(make_model: Callable[[int], nn.Module], x_train, y_train, x_sel, y_sel, num_classes: int,
                 metric: str, base_lr: float, optimizer: str = "adamw", batch_size: int = 64, min_steps: int = 1,
                 lr_log: dict | None = None) -> TorchTrial:
    """An ASHA trial: fine-tune the pretrained model with the config's objective, lr = ``base_lr * lr_mult``,
    weight decay and seed; scored by ``metric`` on the selection set ``(x_sel, y_sel)`` (the OOD validation
    set). ``lr_log`` (a dict) collects, per config, every lr the optimiser actually stepped with."""

    def build(cfg):
        seed = int(cfg.get("seed", 0))
        torch.manual_seed(seed)
        model = make_model(seed)
        model._autoft_init = snapshot_params(model)  # the pretrained (+ fresh head) weights: l*_init terms
        opt = make_optimizer(optimizer, model.parameters(), config_lr(cfg, base_lr), float(cfg.get("weight_decay", 0.0)))
        return model, opt

    def epoch_fn(model, opt, cfg, epoch):
        log = None if lr_log is None else lr_log.setdefault(config_key(cfg), [])
        train_epoch(model, opt, x_train, y_train, objective_from_config(cfg), model._autoft_init, batch_size,
                    min_steps, int(cfg.get("seed", 0)), epoch, log)

    def score(model, cfg):
        return evaluate_scores(model, x_sel, y_sel, num_classes)[metric]

    return TorchTrial(build, epoch_fn, score)


def finetune_full(make_model: Callable[[int], nn.Module], objective: AutoFTObjective, lr: float, weight_decay: float,
                  seed: int, x, y, epochs: int, optimizer: str = "adamw", batch_size: int = 64,
                  min_steps: int = 1, select: tuple | None = None) -> tuple[nn.Module, dict]:
    """Fine-tune for ``epochs`` with a fixed objective and lr. Without ``select`` the LAST epoch is the model
    (no selection data spent); with ``select = (x_val, y_val, num_classes, metric)`` the epoch with the best
    validation score is (ties: the earlier). A non-finite loss stops training (``diverged``)."""
    torch.manual_seed(int(seed))
    model = make_model(int(seed))
    init = snapshot_params(model)
    opt = make_optimizer(optimizer, model.parameters(), lr, weight_decay)
    lrs: list[float] = []
    history, diverged = [], None
    best = (float("-inf"), 0, None)
    t0 = time.perf_counter()
    for epoch in range(int(epochs)):
        try:
            history.append(train_epoch(model, opt, x, y, objective, init, batch_size, min_steps, seed, epoch, lrs))
        except FloatingPointError as e:
            diverged = str(e)
            break
        if select is not None:
            sc = evaluate_scores(model, select[0], select[1], select[2])[select[3]]
            history[-1]["val_score"] = sc
            if sc > best[0]:
                best = (sc, epoch + 1, copy.deepcopy(model.state_dict()))
    if select is not None and best[2] is not None:
        model.load_state_dict(best[2])
    return model, {"lr": lr, "weight_decay": weight_decay, "seed": int(seed), "epochs": int(epochs),
                   "best_epoch": best[1] if select is not None else len(history),
                   "steps": len(lrs), "lr_used": sorted(set(lrs)), "diverged": diverged,
                   "seconds": time.perf_counter() - t0, "history": history}


def lr_grid_finetune(make_model, lrs: list[float], seed: int, x, y, x_sel, y_sel, num_classes: int, metric: str,
                     epochs: int, optimizer: str = "adamw", batch_size: int = 64, min_steps: int = 1,
                     objective: AutoFTObjective | None = None, weight_decay: float = 0.0,
                     select_epoch: bool = False) -> tuple[nn.Module, dict]:
    """Plain fine-tuning (CE unless ``objective``) at each lr of a small grid, full budget each; the lr with the
    best ``metric`` on the selection set wins (ties: the smaller lr). ``select_epoch``: each run keeps its best
    epoch on the selection set instead of its last."""
    objective = objective or AutoFTObjective({"ce": 1.0})
    best, rows = None, []
    for lr in sorted(lrs):
        model, info = finetune_full(make_model, objective, lr, weight_decay, seed, x, y, epochs, optimizer,
                                    batch_size, min_steps,
                                    (x_sel, y_sel, num_classes, metric) if select_epoch else None)
        sel = evaluate_scores(model, x_sel, y_sel, num_classes)[metric]
        sel = sel if info["diverged"] is None and math.isfinite(sel) else float("-inf")
        rows.append({"lr": lr, "selection_score": sel, "diverged": info["diverged"], "seconds": info["seconds"],
                     "lr_used": info["lr_used"], "best_epoch": info["best_epoch"]})
        if best is None or sel > best[0]:
            best = (sel, model, info)
    sel, model, info = best
    return model, {**info, "grid": rows, "selection_score": sel}
