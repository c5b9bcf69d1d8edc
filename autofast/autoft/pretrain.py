"""``python -m autofast pretrain``: train an autofast backbone on a task and save it as a pretrained checkpoint.

The model is the fixed-kernel backbone (plain 3x1, or the (k, d) pattern of a ``pattern.json`` from a
``dash``/``search`` run), trained with SGD-Nesterov and cosine decay, early-stopped on VALIDATION accuracy
(ties broken by validation loss; the best epoch's weights are kept). The test split is evaluated once, at
the end. The checkpoint carries its full architecture in its meta (backbone, ndim, in_channels, num_classes, width, pattern, task, classes),
so ``finetune``/``compare`` rebuild it without flags. For transfer demos it can train on a subset of the
classes (``classes: 0-4``) or on a shifted copy of the task (``shift: noise:2``).
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Callable, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from autofast.dash.train import evaluate, task_loss
from autofast.models.checkpoint import save_checkpoint

from .model import CHECKPOINT_FORMAT, ArchSpec, build_model, load_pattern_file, pattern_backbone
from .tasks import load_classification, shift_task


class PretrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task: str = "digits"
    classes: str | int | list[str | int] | None = Field(None, description="subset of classes, e.g. '0-4' or 'EI,IE'")
    shift: str | None = Field(None, description="pretrain on a shifted copy of the task, e.g. 'noise:2'")
    backbone: Literal["auto", "resnet1d", "wrn16", "wrn22"] = "auto"
    width: int = Field(16, ge=1)
    pattern: str | None = Field(None, description="pattern.json from a dash/search run (default: plain 3x1)")
    epochs: int = Field(20, ge=1)
    patience: int = Field(5, ge=1, description="stop after this many epochs without a better val accuracy")
    lr: float = Field(0.05, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(5e-4, ge=0)
    batch_size: int = Field(64, ge=1)
    seed: int = 0
    format: Literal["pt", "safetensors"] = "pt"
    threads: int | None = Field(None, ge=1)


def resolve_backbone(cfg_backbone: str, pattern: str | None, kind: str) -> str:
    if cfg_backbone != "auto":
        return cfg_backbone
    return pattern_backbone(pattern) or ("resnet1d" if kind == "dna" else "wrn16")


def run_pretrain(cfg: PretrainConfig, out_dir: Path, say: Callable[[str], None] = lambda m: None) -> dict:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    t_start = time.perf_counter()
    task = load_classification(cfg.task, cfg.classes, seed=cfg.seed)
    if cfg.shift:
        task = shift_task(task, cfg.shift, seed=cfg.seed)
    data = task.data
    backbone = resolve_backbone(cfg.backbone, cfg.pattern, data.kind)
    arch = ArchSpec(backbone, data.ndim, int(task.x_train.shape[1]), data.num_classes, cfg.width,
                    load_pattern_file(cfg.pattern))
    torch.manual_seed(cfg.seed)
    model = build_model(arch)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                          nesterov=cfg.momentum > 0)
    n = len(task.x_train)
    per_epoch = max(1, math.ceil(n / cfg.batch_size))
    total = cfg.epochs * per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    g = torch.Generator().manual_seed(cfg.seed)
    history, best = [], {"val_acc": -1.0, "val_loss": float("inf"), "epoch": 0, "state": None}
    stopped_early = False
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=g)
        run = 0.0
        for i in range(0, n, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            loss = task_loss(model(task.x_train[idx]), task.y_train[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            run += float(loss.detach()) * len(idx)
        val_loss, val_acc = evaluate(model, task.x_val, task.y_val)
        history.append({"epoch": epoch + 1, "train_loss": run / n, "val_loss": val_loss, "val_acc": val_acc,
                        "seconds": time.perf_counter() - t0})
        say(f"epoch {epoch + 1}/{cfg.epochs}: val accuracy {val_acc:.4f}")
        # better = higher val accuracy, ties (a saturated small val split) broken by lower val loss
        if (val_acc, -val_loss) > (best["val_acc"], -best["val_loss"]):
            best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch + 1,
                    "state": copy.deepcopy(model.state_dict())}
        elif epoch + 1 - best["epoch"] >= cfg.patience:
            stopped_early = True
            break
    model.load_state_dict(best["state"])
    test_loss, test_acc = evaluate(model, task.x_test, task.y_test)
    seconds = time.perf_counter() - t_start
    meta = {"format": CHECKPOINT_FORMAT, **arch.meta(), "dropout": 0.0, "task": task.name,
            "classes": list(data.classes), "shift": cfg.shift, "split_seed": task.split.seed,
            "mean": None if task.mean is None else [float(v) for v in task.mean],
            "std": None if task.std is None else [float(v) for v in task.std],
            "best_epoch": best["epoch"], "val_acc": best["val_acc"], "test_acc": test_acc}
    ckpt = out_dir / f"model.{cfg.format}"
    save_checkpoint(ckpt, model, meta)
    result = {"command": "pretrain", "task": task.name, "kind": data.kind, "classes": list(data.classes),
            "shift": cfg.shift, "arch": arch.meta(), "split": task.split.sizes(), "split_seed": task.split.seed,
            "best_epoch": best["epoch"], "epochs_run": len(history), "stopped_early": stopped_early,
            "val_acc": best["val_acc"], "test_acc": test_acc, "test_loss": test_loss, "checkpoint": ckpt.name,
            "seconds": seconds, "history": history, "config": cfg.model_dump(mode="json"),
            "selected_on": "checkpoint epoch: validation accuracy, ties by validation loss (early stopping); test split evaluated once"}
    from .report import write_pretrain_report

    write_pretrain_report(out_dir, result)
    return result
