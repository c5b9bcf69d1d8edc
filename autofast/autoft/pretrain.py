"""``python -m autofast pretrain``: train an autofast backbone on a task and save it as a pretrained checkpoint.

The model is the fixed-kernel backbone (plain 3x1, or the (k, d) pattern of a ``pattern.json`` from a
``dash``/``search`` run), trained with SGD-Nesterov and cosine decay, early-stopped on VALIDATION accuracy
(ties broken by validation loss; the best epoch's weights are kept). The test split is evaluated once, at
the end. The checkpoint carries its full architecture in its meta (backbone, ndim, in_channels, num_classes, width, pattern, task, classes),
so ``finetune``/``compare`` rebuild it without flags. For transfer demos it can train on a subset of the
classes (``classes: 0-4``) or on a shifted copy of the task (``shift: noise:2``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Literal

import numpy as np
from pydantic import ConfigDict, Field

from autofast.runtime import configure as configure_runtime
from autofast.engine import Run, cosine, device_of, evaluate, fit, seeded_init, sgd, task_validator
from autofast.engine.numerics import NumericsOptions, in_force
from autofast.models import default_backbone
from autofast.data.types import row_digests
from autofast.models.checkpoint import save_checkpoint

from .model import (CHECKPOINT_FORMAT, ArchSpec, build_model, load_pattern_file, pattern_backbone,
                    pattern_positional)
from .tasks import load_classification, shift_task


class PretrainConfig(NumericsOptions):
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
    seed: int = Field(0, ge=0)
    format: Literal["pt", "safetensors"] = "pt"
    threads: int | None = Field(None, ge=1)
    devices: list[str] = Field(default_factory=lambda: ["cpu"], min_length=1,
                               description="cpu, cuda or cuda:N: training and evaluation on the first")


def resolve_backbone(cfg_backbone: str, pattern: str | None, kind: str) -> str:
    if cfg_backbone != "auto":
        return cfg_backbone
    return pattern_backbone(pattern) or default_backbone(kind)


def run_pretrain(cfg: PretrainConfig, out_dir: Path, say: Callable[[str], None] = lambda m: None) -> dict:
    """Train on ``cfg.devices[0]`` (the data moved there once) in the config's numerics, save the best epoch's
    weights as CPU tensors."""
    from .training import check_devices

    check_devices(cfg.devices, cfg.precision)
    with in_force(cfg):
        return _run_pretrain(cfg, out_dir, say)


def _run_pretrain(cfg: PretrainConfig, out_dir: Path, say: Callable[[str], None]) -> dict:
    if cfg.threads:
        configure_runtime(cfg.threads)
    t_start = time.perf_counter()
    task = load_classification(cfg.task, cfg.classes, seed=cfg.seed)
    if cfg.shift:
        task = shift_task(task, cfg.shift, seed=cfg.seed)
    data = task.data
    backbone = resolve_backbone(cfg.backbone, cfg.pattern, data.kind)
    arch = ArchSpec(backbone, data.ndim, int(task.x_train.shape[1]), data.num_classes, cfg.width,
                    load_pattern_file(cfg.pattern), backbone == "resnet1d" and pattern_positional(cfg.pattern))
    with seeded_init(cfg.seed):
        model = build_model(arch)
    model.to(cfg.devices[0])
    dev = device_of(model)
    opt = sgd(model.parameters(), cfg.lr, cfg.momentum, cfg.weight_decay)
    run = Run.create(model, opt, cfg.seed, cosine(cfg.epochs))
    # better = higher val accuracy, ties (a saturated small val split) broken by lower val loss
    res = fit(run, task.x_train.to(dev), task.y_train.to(dev), cfg.epochs, cfg.batch_size,
              validate=task_validator(task.x_val.to(dev), task.y_val.to(dev)),
              key=lambda r: (r["val_acc"], -r["val_loss"]),
              patience=cfg.patience, on_epoch=lambda r: say(f"epoch {r['epoch']}/{cfg.epochs}: val accuracy "
                                                            f"{r['val_acc']:.4f}"))
    history, stopped_early = res.history, res.stopped_early
    best = {"val_acc": res.best_record["val_acc"], "epoch": res.best_epoch, "state": res.best_state}
    model.load_state_dict(best["state"])
    test_loss, test_acc = evaluate(model, task.x_test.to(dev), task.y_test.to(dev))
    model.cpu()  # saved as CPU tensors
    seconds = time.perf_counter() - t_start
    trained_rows = np.concatenate([task.split.train, task.split.val])  # val: its early stopping read them
    meta = {"format": CHECKPOINT_FORMAT, **arch.meta(), "dropout": 0.0, "task": task.name, "kind": data.kind,
            "train_rows": row_digests(data.x[trained_rows]),
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
