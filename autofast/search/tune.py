"""DASHA's second stage: ASHA over the training hyperparameters of a found (k, d) pattern, then a
retrain of the best configuration on train+val and ONE test evaluation.

Every ASHA trial and the retrain train with the same recipe on the shared engine (:mod:`autofast.engine`):
SGD-Nesterov, the config's lr / momentum / weight decay / dropout, per-step cosine decay to a FIXED horizon
(``horizon_epochs``, by default the ASHA maximum resource R) with an optional linear warm-up, per-trial
generators for batch order and dropout, model init seeded by the config's ``seed``. A promotion resumes the
paused trial from its checkpoint exactly (no epoch trained twice, the lr curve of a trial trained straight
through). Trials are scored on the VALIDATION split (accuracy, or -MSE for regression); the test split is
only used at the very end.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from autofast.asha import ASHA, Journal, TorchTrial
from autofast.asha.executor import FusedPool, LocalPool, drive
from autofast.dash.pipeline import test_scores
from autofast.engine import Run, Schedule, cosine, evaluate, read_run, seeded_init, sgd, train_epoch, val_score
from autofast.engine.fused import fusion_pays, train_fused_epoch
from autofast.errors import AutofastError
from autofast.models import build_backbone, fixed_factory

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
    positional: bool = False  # the backbone's position channel (ResNet1D), as the DASH stage had it
    n_configs: int = 120
    eta: float = 2
    min_epochs: int = 1
    max_epochs: int = 20
    batch_size: int = 64
    warmup_epochs: float = 0.0
    horizon_epochs: float | None = None  # the cosine's end for trials and retrain; None: max_epochs
    space: dict = field(default_factory=lambda: dict(DASHA_SPACE))
    seed: int = 0
    sampler: str = "random"
    executor: str = "local"  # "local" (threads of this process) or "ray"
    devices: tuple = ("cpu",)  # local executor: one entry per device
    trials_per_device: int = 1
    fuse_trials: str = "auto"  # local executor: "on" trains waiting trials as one fused model; "auto": on GPUs only
    address: str | None = None  # ray: an existing cluster ("auto", "ray://host:10001"); None starts a local one

    @property
    def schedule(self) -> Schedule:
        """The one lr schedule of every trial and of the retrain."""
        return cosine(self.horizon_epochs or self.max_epochs, self.warmup_epochs)


def build_model(task, backbone: str, pattern, width: int, cfg: dict, positional: bool = False):
    """The fixed-pattern network of ``cfg`` (seeded by ``cfg["seed"]`` when called inside ``seeded_init``)
    and its SGD-Nesterov optimiser with the config's lr, momentum and weight decay."""
    data = task.data
    model = build_backbone(backbone, data.ndim, int(task.x_train.shape[1]), data.num_classes, width,
                           fixed_factory(pattern), dropout=float(cfg["dropout"]), positional=positional)
    opt = sgd(model.parameters(), cfg["lr"], cfg["momentum"], cfg["weight_decay"])
    return model, opt


def make_trial(task, backbone: str, pattern, s: TuneSettings) -> TorchTrial:
    """The ASHA trial: train epochs of the config's recipe on train, score on validation."""
    on_device: dict = {}  # device -> the splits, moved there once and shared by every trial on it

    def splits(model):
        dev = next(model.parameters()).device
        if dev.type == "cpu":
            return task.x_train, task.y_train, task.x_val, task.y_val
        if dev not in on_device:
            on_device[dev] = tuple(t.to(dev) for t in (task.x_train, task.y_train, task.x_val, task.y_val))
        return on_device[dev]

    def epoch(run: Run, cfg):
        x, y = splits(run.model)[:2]
        return train_epoch(run, x, y, s.batch_size)

    def score(model, cfg):
        x_val, y_val = splits(model)[2:]
        loss, acc = evaluate(model, x_val, y_val)
        return val_score(loss, acc, y_val.is_floating_point())

    def fused_epoch(runs: list[Run], cfgs):
        x, y = splits(runs[0].model)[:2]
        return train_fused_epoch(runs, x, y, s.batch_size)

    return TorchTrial(lambda cfg: build_model(task, backbone, pattern, s.width, cfg, s.positional), epoch, score, s.schedule,
                      fused_epoch=fused_epoch)


def fuses(s: TuneSettings) -> bool:
    """Whether the local executor fuses trials: ``fuse_trials`` 'on', or 'auto' with several trials per
    device and every device a GPU (on the CPU fusion measured 0.84x of one trial after another)."""
    if s.fuse_trials not in ("auto", "on", "off"):
        raise ValueError(f"fuse_trials must be auto, on or off, got {s.fuse_trials!r}")
    if s.executor != "local" or s.fuse_trials == "off":
        return False
    return s.fuse_trials == "on" or (s.trials_per_device > 1 and all(fusion_pays(d) for d in s.devices))


def check_devices(devices) -> None:
    """Refuse a device list this machine cannot run (before any stage starts): each entry is ``cpu``,
    ``cuda`` or ``cuda:N`` with a CUDA device N present."""
    for dev in devices:
        name, _, index = str(dev).partition(":")
        if name == "cpu" and not index:
            continue
        if name != "cuda" or (index and not index.isdigit()):
            raise AutofastError(f"--devices {dev!r}: unknown device; use cpu, cuda or cuda:N")
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(index or 0) >= count:
            have = f"only {count} CUDA device(s)" if count else "no CUDA device"
            raise AutofastError(f"--devices {dev!r}: this machine has {have}; use --devices cpu"
                                + (f" or cuda:0..cuda:{count - 1}" if count else ""))


def make_executor(trial_fn, s: TuneSettings):
    """The executor named by ``s.executor``: a threaded :class:`LocalPool` (a :class:`FusedPool` when
    :func:`fuses`) or a ``RayExecutor``."""
    if s.executor == "ray":
        from autofast.asha.ray_executor import RayExecutor

        gpus = 1 if any(str(d).startswith("cuda") for d in s.devices) else 0
        return RayExecutor(trial_fn, address=s.address, num_gpus_per_trial=gpus)
    if fuses(s):
        return FusedPool(trial_fn, devices=list(s.devices), per_device=s.trials_per_device)
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
    executor = make_executor(make_trial(task, backbone, pattern, s), s)
    try:
        return drive(sched, executor, run_dir / "checkpoints", on_start=on_start, on_result=on_result)
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


class Ensemble(nn.Module):
    """The mean prediction of ``members``: for labels (``classify``) the log of the mean class probability
    (class dim 1, so ``(N, C)`` and dense ``(N, C, *spatial)`` outputs alike; argmax and cross-entropy of
    it are the ensemble's), for float targets the mean output."""

    def __init__(self, members: list, classify: bool) -> None:
        super().__init__()
        self.members, self.classify = nn.ModuleList(members), classify

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = torch.stack([m(x) for m in self.members])
        if not self.classify:
            return outs.mean(0)
        return torch.logsumexp(torch.log_softmax(outs, dim=2), dim=0) - math.log(len(self.members))


def retrain_best(task, backbone: str, pattern, s: TuneSettings, best_config: dict, epochs: int,
                 say: Callable[[str], None] = lambda m: None, members: int = 1) -> dict:
    """Retrain the best configuration on train+val for ``epochs`` with the trials' recipe and schedule
    (``s.schedule``: the same horizon), ``members`` times with different init/batch-order seeds
    (:func:`member_seeds`); the final model is their mean prediction (a deep ensemble; ``members=1``: the
    single retrained model). The test split is evaluated once, on that final model. No validation data is
    left for checkpoint selection: the last epoch of each member is used."""
    x = torch.cat([task.x_train, task.x_val])
    y = torch.cat([task.y_train, task.y_val])
    t0 = time.perf_counter()
    models, histories = [], []
    seeds = member_seeds(int(best_config["seed"]), members)
    for m, seed in enumerate(seeds):
        with seeded_init(seed):
            model, opt = build_model(task, backbone, pattern, s.width, best_config, s.positional)
        run = Run.create(model, opt, seed, s.schedule)
        tag = f"member {m + 1}/{members} " if members > 1 else ""
        while run.epoch < epochs:
            r = train_epoch(run, x, y, s.batch_size)
            say(f"retrain {tag}epoch {r['epoch']}/{epochs}: train loss {r['train_loss']:.4f}")
        models.append(model)
        histories.append(run.history)
    final = models[0] if members == 1 else Ensemble(models, classify=not y.is_floating_point())
    return {**test_scores(final, task), "epochs": epochs, "seconds": time.perf_counter() - t0,
            "history": histories[0], "member_histories": histories, "members": members, "member_seeds": seeds,
            "config": best_config, "trained_on": "train+val", "schedule": s.schedule.to_dict()}
