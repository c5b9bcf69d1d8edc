"""Train a :class:`~autofast.engine.loop.Run` for several epochs, optionally keeping the best epoch on
VALIDATION data (never the test split) and stopping early.

``validate(model) -> dict`` scores the model after each epoch (merged into the epoch's record); ``key(record)``
turns a record into a comparable selection key (higher is better; ties keep the earlier epoch).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .loop import Run, evaluate, plain_loss, train_epoch, val_score


@dataclass
class FitResult:
    history: list = field(default_factory=list)  # the run's records of the epochs trained in this call
    best_epoch: int = -1  # -1: no selection (the last epoch is the model)
    best_record: dict | None = None
    best_state: dict | None = None  # a CPU copy of the best epoch's state dict
    stopped_early: bool = False
    stopped: bool = False  # ``stop()`` ended training before ``epochs``
    diverged: str | None = None  # with ``stop_on_divergence``: the FloatingPointError's message
    seconds: float = 0.0


def task_validator(x_val: torch.Tensor, y_val: torch.Tensor) -> Callable:
    """``validate`` for plain tasks: ``val_loss``, ``val_acc`` (NaN for regression) and ``val_score``
    (accuracy, or -MSE for regression)."""
    reg = y_val.is_floating_point()

    def validate(model) -> dict:
        loss, acc = evaluate(model, x_val, y_val)
        return {"val_loss": loss, "val_acc": acc, "val_score": val_score(loss, acc, reg)}

    return validate


def fit(run: Run, x: torch.Tensor, y: torch.Tensor, epochs: int, batch_size: int, loss_fn=plain_loss,
        fraction: float = 1.0, min_steps: int = 1, hooks=None, validate: Callable | None = None,
        key: Callable[[dict], object] = lambda r: r["val_score"], patience: int | None = None,
        on_epoch: Callable[[dict], None] | None = None, stop_on_divergence: bool = False,
        stop: Callable[[], bool] | None = None) -> FitResult:
    """Train ``run`` until it has finished ``epochs`` epochs (continuing from ``run.epoch``).

    With ``validate`` the best epoch by ``key`` is kept (``best_state``; load it yourself) and, with
    ``patience``, training stops after that many epochs without a better key. A non-finite loss raises
    ``FloatingPointError``, or with ``stop_on_divergence`` ends training (``diverged``; the best epoch so far
    is kept). ``stop()`` True before an epoch (e.g. a time budget spent) ends training there (``stopped``).
    """
    res = FitResult()
    t0 = time.perf_counter()
    best_key = None
    while run.epoch < epochs:
        if stop is not None and run.epoch and stop():
            res.stopped = True
            break
        try:
            rec = train_epoch(run, x, y, batch_size, loss_fn, fraction, min_steps, hooks)
        except FloatingPointError as e:
            if not stop_on_divergence:
                raise
            res.diverged = str(e)
            break
        if validate is not None:
            rec.update(validate(run.model))
            k = key(rec)
            if best_key is None or k > best_key:
                best_key, res.best_epoch, res.best_record = k, rec["epoch"], dict(rec)
                res.best_state = {n: t.detach().to("cpu", copy=True) for n, t in run.model.state_dict().items()}
            elif patience is not None and rec["epoch"] - res.best_epoch >= patience:
                res.stopped_early = True
        res.history.append(rec)
        if on_epoch:
            on_epoch(rec)
        if res.stopped_early:
            break
    res.seconds = time.perf_counter() - t0
    return res
