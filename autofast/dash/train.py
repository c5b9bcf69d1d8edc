"""A plain, fast training loop for the search and the retrain (tensors in memory, no DataLoader).

Model selection inside a run uses the VALIDATION split only: the best epoch by validation accuracy
(validation MSE for regression targets) is kept (its weights returned); the test split never enters here.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .supernet import arch_parameters, normalise_arch_grads, rf_penalty, weight_parameters


@dataclass(frozen=True)
class TrainSettings:
    epochs: int
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 64
    dropout: float = 0.0
    batch_fraction: float = 1.0  # fraction of batches per epoch (DASH search: 0.2)
    seed: int = 0
    # search only
    arch_lr: float = 0.01
    rf_penalty: float = 0.0


@dataclass
class TrainResult:
    history: list[dict] = field(default_factory=list)  # per epoch: train_loss, val_loss, val_acc, seconds
    best_epoch: int = -1
    best_val_acc: float = -1.0
    best_val_loss: float = float("inf")
    best_score: float = float("-inf")
    best_state: dict | None = None
    seconds: float = 0.0


def task_loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for integer labels (classification), MSE for float targets (regression)."""
    if y.is_floating_point():
        return F.mse_loss(out, y, reduction=reduction) / (1 if reduction == "mean" else y.shape[1])
    return F.cross_entropy(out, y, reduction=reduction)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512) -> tuple[float, float]:
    """Mean loss (cross-entropy, or MSE per target for regression) and accuracy (NaN for regression)."""
    model.eval()
    loss, correct = 0.0, 0
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size])
        loss += task_loss(out, y[i : i + batch_size], reduction="sum").item()
        if not y.is_floating_point():
            correct += (out.argmax(1) == y[i : i + batch_size]).sum().item()
    acc = float("nan") if y.is_floating_point() else correct / max(1, len(x))
    return loss / max(1, len(x)), acc


def train(model: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
          s: TrainSettings, search: bool = False, on_epoch: Callable[[dict], None] | None = None) -> TrainResult:
    """SGD-Nesterov with cosine decay; in ``search`` mode the architecture logits are optimised jointly
    (single level) with their gradients normalised per layer and a receptive-field penalty."""
    g = torch.Generator().manual_seed(s.seed)
    weights = weight_parameters(model) if search else list(model.parameters())
    opt = torch.optim.SGD(weights, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay, nesterov=True)
    arch_opt = torch.optim.SGD(arch_parameters(model), lr=s.arch_lr, momentum=0.9, nesterov=True) if search else None
    n = len(x_train)
    n_batches = max(1, math.ceil(n / s.batch_size))
    per_epoch = max(1, int(round(n_batches * s.batch_fraction)))
    total = s.epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total)))
    res = TrainResult()
    t_start = time.perf_counter()
    for epoch in range(s.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=g)
        run_loss, seen = 0.0, 0
        for b in range(per_epoch):
            idx = perm[b * s.batch_size : (b + 1) * s.batch_size]
            if len(idx) == 0:
                idx = perm[: s.batch_size]
            out = model(x_train[idx])
            loss = task_loss(out, y_train[idx])
            total_loss = loss + s.rf_penalty * rf_penalty(model) if search and s.rf_penalty > 0 else loss
            opt.zero_grad(set_to_none=True)
            if arch_opt is not None:
                arch_opt.zero_grad(set_to_none=True)
            total_loss.backward()
            opt.step()
            sched.step()
            if arch_opt is not None:
                normalise_arch_grads(model)
                arch_opt.step()
            run_loss += loss.item() * len(idx)
            seen += len(idx)
        val_loss, val_acc = evaluate(model, x_val, y_val)
        rec = {"epoch": epoch + 1, "train_loss": run_loss / max(1, seen), "val_loss": val_loss, "val_acc": val_acc,
               "seconds": time.perf_counter() - t0}
        res.history.append(rec)
        score = -val_loss if y_val.is_floating_point() else val_acc  # regression: lowest validation MSE
        if res.best_epoch < 0 or score > res.best_score:
            res.best_score, res.best_val_acc, res.best_val_loss, res.best_epoch = score, val_acc, val_loss, epoch + 1
            res.best_state = copy.deepcopy(model.state_dict())
        if on_epoch:
            on_epoch(rec)
    res.seconds = time.perf_counter() - t_start
    return res
