"""DASHA's second stage: ASHA over the training hyperparameters of a found (k, d) pattern, then a
retrain of the best configuration on train+val and ONE test evaluation.

Each ASHA trial is a checkpointing torch trial (:class:`autofast.asha.TorchTrial`): a promotion
resumes the paused trial from its checkpoint, so no epoch is trained twice. Trials are scored on the
VALIDATION split (accuracy, or -MSE for regression); the test split is only used at the very end.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from autofast.asha import ASHA, Journal, TorchTrial
from autofast.asha.executor import LocalPool, drive
from autofast.models import build_backbone, fixed_factory

from .train import TrainSettings, evaluate, task_loss, train

# DASHA's ASHA space (SPEC): lr, dropout, weight decay, momentum and the init seed.
DASHA_SPACE = {
    "lr": {"loguniform": [1e-5, 0.5]},
    "dropout": {"choice": [0.0, 0.05, 0.1]},
    "weight_decay": {"loguniform": [5e-7, 5e-3]},
    "momentum": {"uniform": [0.9, 1.0]},
    "seed": {"randint": [0, 1000]},
}


@dataclass(frozen=True)
class TuneSettings:
    width: int = 64
    n_configs: int = 120
    eta: float = 2
    min_epochs: int = 1
    max_epochs: int = 20
    batch_size: int = 64
    space: dict = field(default_factory=lambda: dict(DASHA_SPACE))
    seed: int = 0
    sampler: str = "random"
    executor: str = "local"  # "local" (threads of this process) or "ray"
    devices: tuple = ("cpu",)  # local executor: one entry per device
    trials_per_device: int = 1
    address: str | None = None  # ray: an existing cluster ("auto", "ray://host:10001"); None starts a local one


def _trial(task, backbone: str, pattern, s: TuneSettings) -> TorchTrial:
    data = task.data
    in_ch = int(task.x_train.shape[1])
    on_device: dict = {}  # device -> the splits, moved there once and shared by every trial on it

    def splits(model):
        dev = next(model.parameters()).device
        if dev.type == "cpu":
            return task.x_train, task.y_train, task.x_val, task.y_val
        if dev not in on_device:
            on_device[dev] = tuple(t.to(dev) for t in (task.x_train, task.y_train, task.x_val, task.y_val))
        return on_device[dev]

    def build(cfg):
        torch.manual_seed(int(cfg["seed"]))
        model = build_backbone(backbone, data.ndim, in_ch, data.num_classes, s.width,
                               fixed_factory(pattern), dropout=float(cfg["dropout"]))
        opt = torch.optim.SGD(model.parameters(), lr=float(cfg["lr"]), momentum=float(cfg["momentum"]),
                              weight_decay=float(cfg["weight_decay"]), nesterov=True)
        return model, opt

    def train_epoch(model, opt, cfg, epoch):
        x, y = splits(model)[:2]
        model.train()
        g = torch.Generator().manual_seed(int(cfg["seed"]) * 1000 + epoch)
        perm = torch.randperm(len(x), generator=g).to(x.device)
        total = torch.zeros((), device=x.device)
        for i in range(0, len(perm), s.batch_size):
            idx = perm[i : i + s.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = task_loss(model(x[idx]), y[idx])
            if not torch.isfinite(loss):
                raise FloatingPointError(f"training loss became {loss.item()} at epoch {epoch + 1}")
            loss.backward()
            opt.step()
            total += loss.detach() * len(idx)
        return float(total) / len(x)

    def score(model, cfg):
        x_val, y_val = splits(model)[2:]
        loss, acc = evaluate(model, x_val, y_val)
        return -loss if y_val.is_floating_point() else acc

    return TorchTrial(build, train_epoch, score)


def make_executor(trial_fn, s: TuneSettings):
    """The executor named by ``s.executor``: a threaded :class:`LocalPool` or a ``RayExecutor``."""
    if s.executor == "ray":
        from autofast.asha.ray_executor import RayExecutor

        gpus = 1 if any(str(d).startswith("cuda") for d in s.devices) else 0
        return RayExecutor(trial_fn, address=s.address, num_gpus_per_trial=gpus)
    return LocalPool(trial_fn, devices=list(s.devices), per_device=s.trials_per_device)


def tune(task, backbone: str, pattern, s: TuneSettings, run_dir: Path, resume: bool = False,
         on_start: Callable | None = None, on_result: Callable | None = None) -> ASHA:
    """ASHA over ``s.space``; the journal (``asha.sqlite``) and checkpoints live in ``run_dir``.

    ``on_start(job)`` / ``on_result(outcome)`` are called from this thread (e.g. a live progress table).
    """
    run_dir.mkdir(parents=True, exist_ok=True)
    journal = run_dir / "asha.sqlite"
    if resume and journal.exists():
        sched = ASHA.resume(journal)
    else:
        sched = ASHA(s.space, s.min_epochs, s.max_epochs, eta=s.eta, max_trials=s.n_configs, seed=s.seed,
                     sampler=s.sampler)
        sched.attach(Journal(journal))
    executor = make_executor(_trial(task, backbone, pattern, s), s)
    try:
        return drive(sched, executor, run_dir / "checkpoints", on_start=on_start, on_result=on_result)
    finally:
        executor.close()


def trial_histories(sched: ASHA) -> dict:
    """trial id -> per-epoch training loss, read from each trial's last checkpoint (its whole history)."""
    out = {}
    for t in sched.trials():
        if t["checkpoint"] and Path(t["checkpoint"]).exists():
            state = torch.load(t["checkpoint"], weights_only=True, map_location="cpu")
            out[t["trial_id"]] = [float(v) for v in state.get("train_loss", [])]
    return out


def retrain_best(task, backbone: str, pattern, s: TuneSettings, best_config: dict, epochs: int,
                 say: Callable[[str], None] = lambda m: None) -> dict:
    """Retrain the best configuration on train+val for ``epochs``; evaluate the test split once."""
    data = task.data
    torch.manual_seed(int(best_config["seed"]))
    model = build_backbone(backbone, data.ndim, int(task.x_train.shape[1]), data.num_classes, s.width,
                           fixed_factory(pattern), dropout=float(best_config["dropout"]))
    x = torch.cat([task.x_train, task.x_val])
    y = torch.cat([task.y_train, task.y_val])
    t0 = time.perf_counter()
    # no validation data is left for checkpoint selection: the last epoch is the model
    res = train(model, x, y, task.x_val[:0], task.y_val[:0],
                TrainSettings(epochs=epochs, lr=float(best_config["lr"]), momentum=float(best_config["momentum"]),
                              weight_decay=float(best_config["weight_decay"]), batch_size=s.batch_size,
                              seed=int(best_config["seed"])),
                on_epoch=lambda r: say(f"retrain epoch {r['epoch']}/{epochs}: train loss {r['train_loss']:.4f}"))
    test_loss, test_acc = evaluate(model, task.x_test, task.y_test)
    return {"test_loss": test_loss, "test_acc": test_acc, "epochs": epochs, "seconds": time.perf_counter() - t0,
            "history": res.history, "config": best_config, "trained_on": "train+val"}
