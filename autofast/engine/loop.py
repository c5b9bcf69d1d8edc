"""The one training loop: a :class:`Run` (model, optimisers, schedule, generators, counters, history)
and :func:`train_epoch`, used by DASH search and retrain, ASHA trials, AutoFT, compare and pretrain.

Data are tensors in memory (no DataLoader): ``x`` of shape ``(N, C, ...)`` (float32), ``y`` of shape
``(N,)`` (int64 class labels), ``(N, T)`` (float32 regression targets), or for dense prediction
``(N, *S)`` (int64 per-position labels) / ``(N, T, *S)`` (float32 fields), on the model's device.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from autofast.data.types import IGNORE_INDEX
from autofast.errors import Diverged
from autofast.runtime import adapt_threads

from . import precision as _precision
from .rng import RunRNG, bind_noise
from .schedule import CONSTANT, Schedule

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], "tuple[torch.Tensor, dict[str, float]]"]
#: gradient-norm cap of every run trained on values ``(N, T)`` (MSE): the squared error's gradient grows with the
#: error, and at the learning rates that suit cross-entropy a third of the search's configurations diverged on
#: the series-regression sets (one outlying series is enough); cross-entropy's gradient is bounded, classes are
#: not clipped
VALUE_GRAD_CLIP = 1.0


@dataclass
class Run:
    """Everything a training run's next step depends on (and what :mod:`.checkpoint` saves).

    ``optimizer`` follows ``schedule`` (each param group's ``base_lr``, recorded on creation, times the
    schedule's factor at ``step``); ``extra_optimizers`` (e.g. DASH's architecture optimiser) step at a
    constant lr. ``epoch``: epochs finished; ``step``: optimiser steps taken; ``history``: one record per
    finished epoch (plain floats). ``precision``: 'fp32', 'bf16' or 'fp16' (:mod:`.precision`; forward
    and loss under autocast, fp16 with ``scaler``).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    rng: RunRNG
    schedule: Schedule = CONSTANT
    extra_optimizers: dict = field(default_factory=dict)
    epoch: int = 0
    step: int = 0
    history: list = field(default_factory=list)
    precision: str = "fp32"
    scaler: torch.amp.GradScaler | None = None

    def __post_init__(self) -> None:
        for g in self.optimizer.param_groups:
            g.setdefault("base_lr", g["lr"])

    @classmethod
    def create(cls, model: nn.Module, optimizer, seed: int, schedule: Schedule = CONSTANT,
               extra_optimizers: dict | None = None, noise_modules=(), precision: str | None = None) -> "Run":
        """A fresh run: generators seeded from ``seed`` on the model's device, bound to its noise modules;
        ``precision`` None: ``$AUTOFAST_PRECISION`` or 'auto' (:func:`.precision.resolve`)."""
        device = device_of(model)
        rng = RunRNG.from_seed(seed, device)
        bind_noise(model, rng.noise, noise_modules)
        prec = _precision.resolve(precision, device)
        return cls(model, optimizer, rng, schedule, dict(extra_optimizers or {}), precision=prec,
                   scaler=_precision.grad_scaler(prec, device))

    @property
    def optimizers(self) -> dict:
        return {"main": self.optimizer, **self.extra_optimizers}

    def set_lr(self, steps_per_epoch: int) -> float:
        """Set the scheduled lr for the step about to be taken; return the first group's lr."""
        f = self.schedule.factor(self.step, steps_per_epoch)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * f
        return self.optimizer.param_groups[0]["lr"]

    def end_epoch(self, record: dict | None) -> dict:
        """Count a finished epoch and append its record (``{"epoch": n, ...}``)."""
        self.epoch += 1
        rec = {"epoch": self.epoch, **(record or {})}
        self.history.append(rec)
        return rec


def device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


class OnDevice:
    """Training tensors moved once to each device a model trains on and shared by every run there (an ASHA
    worker's trials): ``for_model(model)`` gives them on ``model``'s device, the originals on theirs."""

    def __init__(self, *tensors: torch.Tensor) -> None:
        self.tensors = tensors
        self._moved: dict[torch.device, tuple] = {}

    def for_model(self, model: nn.Module) -> tuple:
        dev = device_of(model)
        if all(t.device == dev for t in self.tensors):
            return self.tensors
        if dev not in self._moved:
            self._moved[dev] = tuple(t.to(dev) for t in self.tensors)
        return self._moved[dev]


def steps_per_epoch(n: int, batch_size: int, fraction: float = 1.0, min_steps: int = 1) -> int:
    """``max(round(batches * fraction), min_steps, 1)`` with ``batches`` the batches of one pass
    (:func:`epoch_batches`: ``ceil(n / batch)``, one fewer when the last would hold one example): DASH's search
    trains on a fraction of the batches; few-shot fine-tuning gets at least ``min_steps``."""
    b = max(1, min(batch_size, n)) if n else max(1, batch_size)
    batches = math.ceil(n / b) - (1 if n > b and n % b == 1 else 0)
    return max(int(round(batches * fraction)), int(min_steps), 1)


def epoch_batches(n: int, batch_size: int, generator: torch.Generator, steps: int) -> list[torch.Tensor]:
    """``steps`` index batches (int64, CPU): fresh permutations of ``range(n)`` from ``generator``, each cut
    into ``ceil(n / b)`` batches of ``b = min(batch_size, n)`` (the last of a permutation may be short; a last
    batch of one example is merged into the one before, since batch norm cannot train on it)."""
    b = max(1, min(batch_size, n))
    out: list[torch.Tensor] = []
    while len(out) < steps:
        perm = torch.randperm(n, generator=generator)
        cut = [perm[i : i + b] for i in range(0, n, b)]
        if len(cut) > 1 and len(cut[-1]) == 1:  # a batch of one breaks batch norm: it joins the one before
            cut[-2:] = [torch.cat(cut[-2:])]
        out += cut
    return out[:steps]


def relative_l2(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example relative L2 error ``||out - y|| / ||y||`` over all but the batch axis: ``(N,)``."""
    return (out - y).flatten(1).norm(dim=1) / y.flatten(1).norm(dim=1).clamp_min(1e-12)


def task_loss(out: torch.Tensor, y: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy for int64 labels ``(N,)``; MSE per target for float targets ``(N, T)``. Dense
    prediction: per-position cross-entropy (mean over the positions not :data:`IGNORE_INDEX`) for int64
    ``(N, *S)`` against logits ``(N, K, *S)``; relative L2 (:func:`relative_l2`) for float fields ``(N, T, *S)``.
    ``reduction`` "sum" sums the per-example values."""
    if y.is_floating_point():
        if y.dim() > 2:
            per = relative_l2(out, y)
            return per.mean() if reduction == "mean" else per.sum()
        return F.mse_loss(out, y, reduction=reduction) / (1 if reduction == "mean" else y.shape[1])
    if y.dim() > 1:
        kept = (y != IGNORE_INDEX).flatten(1)
        per = F.cross_entropy(out, y, reduction="none", ignore_index=IGNORE_INDEX).flatten(1)
        per = per.sum(1) / kept.sum(1).clamp(min=1)
        return per.mean() if reduction == "mean" else per.sum()
    return F.cross_entropy(out, y, reduction=reduction)


def plain_loss(model: nn.Module, out: torch.Tensor, y: torch.Tensor):
    """The default :data:`LossFn`: :func:`task_loss`, no extra terms."""
    return task_loss(out, y), {}


class StepHooks(Protocol):
    """Optional per-step hooks (any subset, as attributes or methods)."""

    def after_backward(self, run: Run) -> None: ...  # e.g. DASH: normalise the arch gradients

    def after_step(self, run: Run, lr: float) -> None: ...  # e.g. AutoFT: log the lr used


def train_epoch(run: Run, x: torch.Tensor, y: torch.Tensor, batch_size: int, loss_fn: LossFn = plain_loss,
                fraction: float = 1.0, min_steps: int = 1, hooks: object | None = None,
                batches: Callable[[torch.Generator], list] | None = None) -> dict:
    """Train one epoch of ``run`` on ``(x, y)``; end it (``run.end_epoch``) and return its record.

    The epoch's index batches are :func:`epoch_batches` over all of ``x``, or ``batches(run.rng.batch)``
    when given (e.g. the k fold models' batches side by side, :mod:`autofast.search.folds`).

    Each step: scheduled lr; ``total, terms = loss_fn(model, model(x[idx]), y[idx])`` (under autocast
    unless ``run.precision`` is fp32; ``terms``: name -> float or 0-d tensor, averaged into the record);
    a non-finite total raises :class:`autofast.errors.Diverged` (a ``FloatingPointError``) at the end of
    the epoch (:func:`train_epochs`: the check is read once per epoch); backward
    (loss-scaled for fp16, gradients unscaled before the hooks); for values ``(N, T)`` the main optimiser's
    gradients clipped to norm :data:`VALUE_GRAD_CLIP`; ``hooks.after_backward(run)``; every
    optimiser steps;
    ``hooks.after_step(run, lr)``. Record: ``train_loss`` (mean total), mean of each term, last ``lr``,
    ``steps``, ``seconds``. (:func:`train_epochs` with one run.)
    """
    out = train_epochs([run], x, y, batch_size, loss_fn, fraction, min_steps, hooks, batches)[0]
    if isinstance(out, Diverged):
        raise out
    return out


Forward = Callable[["list[Run]", "list[torch.Tensor]"], "list[torch.Tensor]"]


def _own_models(runs: list[Run], xs: list[torch.Tensor]) -> list[torch.Tensor]:
    return [r.model(xb) for r, xb in zip(runs, xs)]


def train_epochs(runs: list[Run], x: torch.Tensor, y: torch.Tensor, batch_size: int, loss_fn: LossFn = plain_loss,
                 fraction: float = 1.0, min_steps: int = 1, hooks: object | None = None,
                 batches: Callable[[torch.Generator], list] | None = None, forward: Forward | None = None,
                 record: dict | None = None) -> list:
    """The step loop (:func:`train_epoch`'s, step for step) for several runs in lockstep on the same data,
    each with its own batches, lr, optimisers, loss scaler and hooks: one epoch of each.

    ``forward(runs, inputs) -> outputs``: each run's model output for its batch ``x[idx]``; default
    each run's own model. :mod:`.fused` passes one grouped model over the batches side by side; the sum of
    the runs' (scaled) losses goes backward, so each run's parameters get exactly its own loss's gradient.
    A run whose loss becomes non-finite is a :class:`autofast.errors.Diverged` entry (loss, epoch and lr of
    its first non-finite step; its epoch not ended). Host synchronisation: the index batches go to the
    device once per epoch, the losses are summed there, and each run's first non-finite step is kept there
    and read once, at the epoch's end: a diverging run takes the epoch's remaining steps (its weights end
    non-finite; no computation mixes two runs, fused or not, so the others are untouched) and is then
    stopped. That costs at most one epoch and saves a host sync per step.
    Returns one entry per run: its epoch record (``record``'s fields added) or that ``Diverged``.
    """
    t0 = time.perf_counter()
    if x.device.type == "cpu":
        adapt_threads()  # fewer threads while other processes keep some of our CPUs busy (autofast.runtime)
    if len({r.precision for r in runs}) != 1:
        raise ValueError("runs trained together must share one precision")
    for r in runs:
        r.model.train()
    if batches is None:
        steps = steps_per_epoch(len(x), batch_size, fraction, min_steps)
        plans = [epoch_batches(len(x), batch_size, r.rng.batch, steps) for r in runs]
    else:
        plans = [batches(r.rng.batch) for r in runs]
        steps = len(plans[0])
        if any(len(p) != steps for p in plans):
            raise ValueError("runs trained together must take the same number of steps")
    plans = [torch.cat(p).to(x.device).split([len(b) for b in p]) for p in plans]  # one copy per run
    forward = forward or _own_models
    clip = y.is_floating_point() and y.dim() == 2  # values (N, T): VALUE_GRAD_CLIP
    after_backward = getattr(hooks, "after_backward", None)
    after_step = getattr(hooks, "after_step", None)
    n = len(runs)
    result: list = [None] * n
    total_sum = torch.zeros(n, dtype=torch.float64, device=x.device)
    terms_sum: list[dict] = [{} for _ in runs]
    lrs = [float("nan")] * n
    first_bad = torch.full((n,), steps, dtype=torch.int64, device=x.device)  # each run's first non-finite step
    bad_loss = torch.zeros(n, dtype=torch.float64, device=x.device)  # ... and its loss there
    step_lrs: list[list[float]] = [[] for _ in runs]  # each step's lr, for the message
    for s in range(steps):
        for i, r in enumerate(runs):
            lrs[i] = r.set_lr(steps)
            step_lrs[i].append(lrs[i])
        with _precision.autocast(runs[0].precision, x.device):
            outs = forward(runs, [x[j[s]] for j in plans])
            losses = [loss_fn(r.model, o, y[j[s]]) for r, o, j in zip(runs, outs, plans)]
        totals = [t for t, _ in losses]
        step_loss = torch.stack([t.detach() for t in totals]).double()  # on the device, read after the epoch
        newly = ~torch.isfinite(step_loss) & (first_bad == steps)
        first_bad = torch.where(newly, s, first_bad)
        bad_loss = torch.where(newly, step_loss, bad_loss)
        total_sum += step_loss
        for r in runs:
            for opt in r.optimizers.values():
                opt.zero_grad(set_to_none=True)
        sum(tot if r.scaler is None else r.scaler.scale(tot) for tot, r in zip(totals, runs)).backward()
        for r in runs:
            if r.scaler is not None:
                for opt in r.optimizers.values():
                    r.scaler.unscale_(opt)
            if clip:  # on the device, no host sync (a non-finite norm leaves the gradients non-finite)
                for params in _clip_groups(r):
                    nn.utils.clip_grad_norm_(params, VALUE_GRAD_CLIP, foreach=True)
            if after_backward:
                after_backward(r)
        for i, r in enumerate(runs):
            for opt in r.optimizers.values():
                if r.scaler is None:
                    opt.step()
                else:
                    r.scaler.step(opt)
            if r.scaler is not None:
                r.scaler.update()
            r.step += 1
            if after_step:
                after_step(r, lrs[i])
            for name, v in losses[i][1].items():
                terms_sum[i][name] = terms_sum[i].get(name, 0.0) + (v.detach() if torch.is_tensor(v) else float(v))
    secs = time.perf_counter() - t0
    read = torch.cat([first_bad.double(), bad_loss, total_sum]).tolist()  # the epoch's one read
    at, loss, total = read[:n], read[n : 2 * n], read[2 * n :]
    live = []
    for i in range(n):
        if at[i] < steps:
            result[i] = _diverged(loss[i], runs[i].epoch + 1, step_lrs[i][int(at[i])])
        else:
            live.append(i)
    for i in live:
        rec = {"train_loss": total[i] / steps, **{k: float(v) / steps for k, v in terms_sum[i].items()},
               "lr": lrs[i], "steps": steps, "seconds": secs, **(record or {})}
        result[i] = runs[i].end_epoch(rec)
    return result


def _clip_groups(run: Run) -> list[list[torch.Tensor]]:
    """The parameter sets clipped one by one: each model of a model that trains several side by side
    (``grad_groups()``, e.g. :class:`~autofast.models.ensemble.FoldEnsemble`'s fold models: one fold's large
    gradient must not shrink another's step), else the main optimiser's parameters."""
    groups = getattr(run.model, "grad_groups", None)
    return groups() if groups is not None else [[p for g in run.optimizer.param_groups for p in g["params"]]]


def _diverged(loss: float, epoch: int, lr: float) -> Diverged:
    return Diverged(f"training diverged: the loss became {loss} at epoch {epoch} (learning rate {lr:.3g}); "
                    "lower the learning rate")


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 512) -> torch.Tensor:
    """Model outputs for ``x`` in eval mode, batch by batch: ``(N, classes)`` logits or ``(N, T)``."""
    model.eval()
    outs = [model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    return torch.cat(outs) if outs else torch.zeros(0)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 512,
             predicted: list | None = None) -> tuple[float, float]:
    """Mean loss per example (:func:`task_loss`: cross-entropy, MSE per target, relative L2 for fields) and
    accuracy (per position for dense labels; NaN for regression targets). Summed on ``x``'s device (float64,
    as the sum of the batches' float32 sums), read once. ``predicted``: a list each batch's argmax class
    predictions are appended to (class labels only), for figures beside accuracy from the same pass."""
    model.eval()
    loss = torch.zeros((), dtype=torch.float64, device=x.device)
    correct = torch.zeros((), dtype=torch.int64, device=x.device)
    for i in range(0, len(x), batch_size):
        out = model(x[i : i + batch_size])
        loss += task_loss(out, y[i : i + batch_size], reduction="sum").double()
        if not y.is_floating_point():
            pred = out.argmax(1)
            correct += (pred == y[i : i + batch_size]).sum()  # an ignored position (-1) is never right
            if predicted is not None:
                predicted.append(pred)
    total, right = float(loss), int(correct)
    counted = y.numel() if y.is_floating_point() or y.dim() == 1 else int((y != IGNORE_INDEX).sum())
    acc = float("nan") if y.is_floating_point() else right / max(1, counted)
    return total / max(1, len(x)), acc


@torch.no_grad()
def mean_iou(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int, batch_size: int = 512) -> float:
    """Mean over classes of intersection / union of the argmax prediction and int64 labels ``(N, *S)``
    (classes absent from both prediction and labels are skipped; positions labelled :data:`IGNORE_INDEX` too)."""
    model.eval()
    inter = torch.zeros(num_classes, dtype=torch.float64)
    union = torch.zeros(num_classes, dtype=torch.float64)
    for i in range(0, len(x), batch_size):
        pred = model(x[i : i + batch_size]).argmax(1).flatten().cpu()
        true = y[i : i + batch_size].flatten().cpu()
        pred, true = pred[true != IGNORE_INDEX], true[true != IGNORE_INDEX]
        p = torch.bincount(pred, minlength=num_classes)[:num_classes].double()
        t = torch.bincount(true, minlength=num_classes)[:num_classes].double()
        both = torch.bincount(true[pred == true], minlength=num_classes)[:num_classes].double()
        inter += both
        union += p + t - both
    seen = union > 0
    return float((inter[seen] / union[seen]).mean()) if bool(seen.any()) else float("nan")


TIE_BREAK = 1e-7  # x min(loss, 10) <= 1e-6: below the 1/N step of an accuracy for any N < 10^6


def val_score(loss: float, acc: float, regression: bool) -> float:
    """The selection score of :func:`evaluate`'s pair (higher is better): -MSE for regression; for labels the
    accuracy with ties broken by the lower loss (``acc - 1e-7 * min(loss, 10)``: small validation sets tie
    often, e.g. several configurations at 1.000, and the earliest is not the best guess)."""
    if regression:
        return -loss
    return max(0.0, acc - TIE_BREAK * (min(loss, 10.0) if math.isfinite(loss) else 10.0))
