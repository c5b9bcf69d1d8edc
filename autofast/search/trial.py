"""The ASHA trial of ``search``: what one configuration trains and how it is scored.

Every trial trains with the same recipe on the shared engine (:mod:`autofast.engine`): SGD-Nesterov, the
config's lr / momentum / weight decay / dropout, per-step cosine decay to a FIXED horizon
(``horizon_epochs``, by default the ASHA maximum resource R) with an optional linear warm-up, per-trial
generators for batch order and dropout, model init seeded by the config's ``seed``. A promotion resumes the
paused trial from its checkpoint exactly.

The architecture is a dimension of the space when there are several (``config["arch"]``: the DASH pattern
or the backbone's plain 3x1 / 3x3 pattern), so the plain network is always a candidate.

Scoring, never on the test split:
* hold-out (``folds == 0``): the model trains on the training split and is scored on the validation split;
* k-fold (``folds >= 2``): the trial is a :class:`~autofast.models.ensemble.FoldEnsemble` of k models, model
  i trained on train+val outside fold i; the score is the out-of-fold accuracy (or -MSE) over train+val.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import torch

from autofast.asha import TorchTrial
from autofast.asha.executor import FusedPool, LocalPool
from autofast.dash.train import TrainSettings
from autofast.engine import OnDevice, Run, Schedule, cosine, evaluate, read_run, sgd, train_epoch, val_score
from autofast.engine.fused import fusion_pays, train_fused_epoch
from autofast.errors import AutofastError
from autofast.models import build_backbone, fixed_factory
from autofast.models.ensemble import FoldEnsemble

from .folds import fold_batches, fold_ids, fold_loss, out_of_fold_score

# DASHA's ASHA space (SPEC): lr, dropout, weight decay, momentum and the init seed.
DASHA_SPACE = {
    "lr": {"loguniform": [1e-5, 0.5]},
    "dropout": {"choice": [0.0, 0.05, 0.1]},
    "weight_decay": {"loguniform": [5e-7, 5e-3]},
    "momentum": {"uniform": [0.9, 1.0]},
    "seed": {"randint": [0, 1000]},
}
# search's default: DASHA's space without the SGD settings that cannot train within a planned budget of a
# few hundred to a few thousand updates: lr below 1e-3 (splice, 16 epochs: every such trial ended below 0.60
# validation accuracy at its first rung, the best lrs were 5e-3..4e-2) and momentum at 1 (no decay of the
# velocity: diverges). With a dozen configurations instead of DASHA's 120, a third of them landing there
# is a third of the budget lost.
SEARCH_SPACE = {**DASHA_SPACE, "lr": {"loguniform": [1e-3, 0.5]}, "momentum": {"uniform": [0.85, 0.99]}}
# The first configuration of each architecture, before the random draws: the recipe of ``dash``'s fixed
# baseline (:class:`autofast.dash.train.TrainSettings`: lr 0.05, momentum 0.9, weight decay 5e-4), a
# configuration known to train these backbones (splice 3x1 ResNet1D: 0.975 test accuracy alone). Starting
# a search from a default is what SMAC / auto-sklearn do; with a dozen draws the space may hold none as good.
RECIPE = {"lr": TrainSettings.lr, "momentum": TrainSettings.momentum, "weight_decay": TrainSettings.weight_decay,
          "dropout": 0.0}


def initial_configs(archs: list[str], seed: int) -> list[dict]:
    """:data:`RECIPE` once per architecture (``archs``: the ``arch`` choices, or ``[]`` for a space with one
    architecture), its init seed drawn from the search's ``seed``."""
    base = {**RECIPE, "seed": int(seed) % 1000}
    return [{**base, "arch": a} for a in archs] if archs else [base]


@dataclass(frozen=True)
class TuneSettings:
    width: int = 64
    positional: bool = False  # the backbone's position channel (ResNet1D), as the DASH stage had it
    n_configs: int = 120
    eta: float = 2
    min_epochs: int = 1
    max_epochs: int = 20
    batch_size: int = 64
    folds: int = 0  # 0: hold-out validation; k >= 2: k-fold cross-validation over train+val
    warmup_epochs: float = 0.0
    horizon_epochs: float | None = None  # the cosine's end for trials and retrain; None: max_epochs
    space: dict = field(default_factory=lambda: dict(SEARCH_SPACE))
    seed: int = 0
    sampler: str = "random"
    executor: str = "local"  # "local" (threads of this process) or "ray"
    devices: tuple = ("cpu",)  # local executor: one entry per device
    trials_per_device: int = 1
    fuse_trials: str = "auto"  # local executor: "on" trains waiting trials as one fused model; "auto": on GPUs only
    ordered: bool = True  # ASHA told results in the order jobs were handed out (:func:`autofast.asha.executor.drive`)
    address: str | None = None  # ray: an existing cluster ("auto", "ray://host:10001"); None starts a local one
    initial: tuple = ()  # the first trials' configurations (:func:`initial_configs`), then the sampler's

    @property
    def schedule(self) -> Schedule:
        """The one lr schedule of every trial and of the retrain."""
        return cosine(self.horizon_epochs or self.max_epochs, self.warmup_epochs)


def as_patterns(pattern) -> dict:
    """``{arch name: pattern}``: a plain list is the one architecture ``"dash"``."""
    return dict(pattern) if isinstance(pattern, dict) else {"dash": [tuple(p) for p in pattern]}


def arch_space(s: TuneSettings, patterns: dict) -> dict:
    """``s.space`` plus the ``arch`` choice when there are several architectures."""
    return {**s.space, "arch": {"choice": sorted(patterns)}} if len(patterns) > 1 else dict(s.space)


def pattern_of(patterns: dict, cfg: dict):
    """The (k, d) pattern of ``cfg`` (its ``arch``, or the only architecture)."""
    if "arch" in cfg:
        return patterns[cfg["arch"]]
    if len(patterns) != 1:
        raise AutofastError(f"configuration has no 'arch' but the search has {len(patterns)} architectures")
    return next(iter(patterns.values()))


def build_model(task, backbone: str, pattern, width: int, cfg: dict, positional: bool = False):
    """The fixed-pattern network of ``cfg`` (seeded by ``cfg["seed"]`` when called inside ``seeded_init``)
    and its SGD-Nesterov optimiser with the config's lr, momentum and weight decay."""
    data = task.data
    model = build_backbone(backbone, data.ndim, int(task.x_train.shape[1]), data.num_classes, width,
                           fixed_factory(pattern), dropout=float(cfg["dropout"]), positional=positional)
    opt = sgd(model.parameters(), cfg["lr"], cfg["momentum"], cfg["weight_decay"])
    return model, opt


def build_fold_model(task, backbone: str, pattern, width: int, cfg: dict, folds: int, positional: bool = False):
    """k fold models (built one after another under the caller's ``seeded_init``) as one
    :class:`FoldEnsemble`, and one SGD-Nesterov optimiser over all of them (per-parameter, so the same as
    k optimisers)."""
    members = [build_model(task, backbone, pattern, width, cfg, positional)[0] for _ in range(folds)]
    model = FoldEnsemble(members, classify=not task.y_train.is_floating_point())
    return model, sgd(model.parameters(), cfg["lr"], cfg["momentum"], cfg["weight_decay"])


def cv_pool(task, folds: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Train+val pooled and each example's fold (:func:`autofast.search.folds.fold_ids`, seeded)."""
    x = torch.cat([task.x_train, task.x_val])
    y = torch.cat([task.y_train, task.y_val])
    return x, y, fold_ids(y, folds, seed)


def make_trial(task, backbone: str, pattern, s: TuneSettings, stop: Callable[[], bool] | None = None) -> TorchTrial:
    """The ASHA trial (module docstring); ``pattern``: one (k, d) list or ``{arch: pattern}``; ``stop()``
    True ends a running trial before its next epoch (a spent time budget)."""
    patterns = as_patterns(pattern)
    if s.folds:
        x_pool, y_pool, folds = cv_pool(task, s.folds, s.seed)
        tensors = (x_pool, y_pool, folds)
        batches = fold_batches(folds, s.batch_size)
    else:
        tensors = (task.x_train, task.y_train, task.x_val, task.y_val)

    on = OnDevice(*tensors).for_model  # moved to each worker's device once, shared by every trial there

    def build(cfg):
        pat = pattern_of(patterns, cfg)
        if s.folds:
            return build_fold_model(task, backbone, pat, s.width, cfg, s.folds, s.positional)
        return build_model(task, backbone, pat, s.width, cfg, s.positional)

    def epoch(run: Run, cfg):
        if s.folds:
            x, y, _ = on(run.model)
            return train_epoch(run, x, y, s.batch_size, loss_fn=fold_loss(s.folds), batches=batches)
        x, y = on(run.model)[:2]
        return train_epoch(run, x, y, s.batch_size)

    def score(model, cfg):
        if s.folds:
            x, y, f = on(model)
            return out_of_fold_score(model, x, y, f)
        x_val, y_val = on(model)[2:]
        loss, acc = evaluate(model, x_val, y_val)
        return val_score(loss, acc, y_val.is_floating_point())

    def fused_epoch(runs: list[Run], cfgs):
        x, y = on(runs[0].model)[:2]
        return train_fused_epoch(runs, x, y, s.batch_size)

    return TorchTrial(build, epoch, score, s.schedule, fused_epoch=None if s.folds else fused_epoch, stop=stop)


def checkpoint_model(trial: TorchTrial, config: dict, checkpoint, device: str = "cpu") -> tuple:
    """``trial``'s model for ``config`` on ``device`` with the weights of ``checkpoint`` (read weights only;
    the trial may have run elsewhere), in eval mode; (model, the saved run state: ``history``, ...)."""
    run = trial.new_run(config, device)
    saved = read_run(checkpoint)
    run.model.load_state_dict(saved["model"])
    return run.model.eval(), saved


def fuses(s: TuneSettings) -> bool:
    """Whether the local executor fuses trials: ``fuse_trials`` 'on', or 'auto' with several trials per
    device and every device a GPU (on the CPU fusion measured 0.84x of one trial after another). Never for
    cross-validated trials (a trial is already k models)."""
    if s.fuse_trials not in ("auto", "on", "off"):
        raise ValueError(f"fuse_trials must be auto, on or off, got {s.fuse_trials!r}")
    if s.executor != "local" or s.fuse_trials == "off" or s.folds:
        return False
    return s.fuse_trials == "on" or (s.trials_per_device > 1 and all(fusion_pays(d) for d in s.devices))


#: trials per device when none is asked for and they fuse (every device a GPU): a training step of 8 fused
#: splice trials dispatches 200 operators where 8 trials one after another dispatch 882
#: (``bench/test_bench_fused.py``); on a GPU a small model's step is bound by those launches.
FUSED_PER_DEVICE = 8
#: trials in a fused group, as the plan prices ASHA's epochs where trials fuse: a default splice search (8 per
#: device, arrival order, two architectures) trained 3.06 trials per fused epoch on average (session 18)
FUSED_GROUP = 3


def with_parallelism(s: TuneSettings, per_device: int | None, order: str = "auto") -> TuneSettings:
    """``s`` with its trials per device and ASHA order: ``per_device`` as asked, else (None) 8 when every
    device is a GPU and the trials fuse (:func:`fuses`), else 1; ``order`` 'submission' / 'arrival' as asked,
    'auto' submission unless the trials fuse. Fused trials are told as they arrive: a fused trial's rounding
    depends on which trials share its epochs, a matter of timing, so the submission order cannot make such a
    run repeatable, and arrival lets the groups fill (splice, 8 per device: 3.1 trials per fused epoch on
    average vs 2.0 in submission order)."""
    if per_device is None:
        wide = replace(s, trials_per_device=FUSED_PER_DEVICE)
        gpus = all(fusion_pays(d) for d in s.devices)
        s = wide if gpus and fuses(wide) else replace(s, trials_per_device=1)
    else:
        s = replace(s, trials_per_device=int(per_device))
    return replace(s, ordered=order == "submission" or (order == "auto" and not fuses(s)))


def fused_group(s: TuneSettings, per_device: int | None, order: str = "auto") -> int:
    """The group size the plan times a fused step at (:data:`FUSED_GROUP`, at most the trials per device) where
    the trials of ``s`` with ``per_device`` trials per device fuse, else 0."""
    s = with_parallelism(s, per_device, order)
    return min(FUSED_GROUP, s.trials_per_device) if fuses(s) and s.trials_per_device > 1 else 0


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
