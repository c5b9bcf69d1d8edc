"""DASH's training stages on the shared engine (:mod:`autofast.engine`): the supernet search (weights
and architecture logits jointly) and plain training of a fixed network (retrain, baseline).

Model selection inside a run uses the VALIDATION split only: the best epoch by validation accuracy
(validation MSE for regression targets) is kept (its weights returned); the test split never enters here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from autofast.engine import Run, Schedule, cosine, fit, sgd, task_loss, task_validator

from .supernet import arch_parameters, normalise_arch_grads, rf_penalty, searchable_layers, weight_parameters


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    batch_fraction: float = 1.0  # fraction of batches per epoch (DASH search: 0.2)
    min_steps: int = 1  # an epoch is at least this many steps (few-shot sets)
    seed: int = 0  # the run's batch order and dropout / Gumbel noise (model init is the caller's)
    schedule: Schedule | None = None  # None: cosine decay to 0 at ``epochs``
    # search only
    arch_lr: float = 0.01
    rf_penalty: float = 0.0


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # per epoch: train_loss, val_loss, val_acc, lr, seconds
    best_epoch: int = -1
    best_val_acc: float = -1.0
    best_val_loss: float = float("inf")
    best_score: float = float("-inf")
    best_state: dict | None = None
    seconds: float = 0.0


class _SearchHooks:
    """DASH's per-step extras: per-layer unit-norm architecture gradients."""

    def after_backward(self, run: Run) -> None:
        normalise_arch_grads(run.model)


def make_run(model: nn.Module, s: TrainSettings, search: bool = False) -> Run:
    """SGD-Nesterov on the weights (scheduled); in ``search`` mode also SGD-Nesterov on the architecture
    logits (constant ``arch_lr``) and the Gumbel noise of every searchable layer bound to the run."""
    weights = weight_parameters(model) if search else list(model.parameters())
    opt = sgd(weights, s.lr, s.momentum, s.weight_decay)
    extra = {"arch": sgd(arch_parameters(model), s.arch_lr, 0.9)} if search else {}
    return Run.create(model, opt, s.seed, s.schedule or cosine(s.epochs), extra,
                      noise_modules=searchable_layers(model) if search else ())


def train(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
          s: TrainSettings, search: bool = False, on_epoch: Callable[[dict], None] | None = None,
          stop: Callable[[], bool] | None = None) -> TrainResult:
    """Train ``model`` for ``s.epochs`` epochs; keep the best epoch on ``(x_val, y_val)`` when it is not
    empty (its weights in ``best_state``; the model itself ends at the last epoch). In ``search`` mode the
    architecture logits are optimised jointly (single level), their gradients normalised per layer, and
    the loss carries the receptive-field penalty ``s.rf_penalty * rf_penalty(model)``. ``stop()`` True ends
    training before the next epoch (after the first)."""
    run = make_run(model, s, search)
    loss_fn = None
    if search and s.rf_penalty > 0:
        def loss_fn(m, out, y):
            task = task_loss(out, y)
            return task + s.rf_penalty * rf_penalty(m), {"task_loss": task.detach()}
    validate = task_validator(x_val, y_val) if len(x_val) else None
    kw = {"loss_fn": loss_fn} if loss_fn else {}
    r = fit(run, x_train, y_train, s.epochs, s.batch_size, fraction=s.batch_fraction, min_steps=s.min_steps,
            hooks=_SearchHooks() if search else None, validate=validate, on_epoch=on_epoch, stop=stop, **kw)
    res = TrainResult(history=r.history, seconds=r.seconds)
    if r.best_record is not None:
        b = r.best_record
        res.best_epoch, res.best_val_acc, res.best_val_loss = b["epoch"], b["val_acc"], b["val_loss"]
        res.best_score, res.best_state = b["val_score"], r.best_state
    return res
