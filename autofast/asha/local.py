"""In-process executor for the ASHA scheduler, and a checkpointing trial for torch models.

``run_local`` drives ask -> run -> tell until the search is finished. Each job trains its trial from
``job.resource_from`` to ``job.resource_to`` epochs, starting from the trial's last checkpoint, so a
promotion resumes a paused trial and no epoch is trained twice. A trial that raises (including
out-of-memory errors) is recorded as failed and the search goes on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .executor import LocalPool, drive
from .scheduler import ASHA, Job

TrialFn = Callable[[Job, "str | None", Path], float]


def run_local(scheduler: ASHA, trial_fn: TrialFn, checkpoint_dir: str | os.PathLike,
              on_result: Callable[[Job, float | None, str | None], None] | None = None) -> ASHA:
    """Run every job in this process, one at a time, until the scheduler has nothing left.

    ``trial_fn(job, checkpoint_in, checkpoint_out) -> score`` trains ``job`` (resuming from
    ``checkpoint_in`` when it is not None) and saves its state to ``checkpoint_out``. For several
    trials at once (threads pinned to devices) or a Ray cluster use :func:`autofast.asha.executor.drive`.
    """
    pool = LocalPool(lambda job, ck_in, ck_out, device: trial_fn(job, ck_in, ck_out))
    report = (lambda out: on_result(out.job, out.score, out.error)) if on_result else None
    return drive(scheduler, pool, checkpoint_dir, on_result=report)


@dataclass
class TorchTrial:
    """A checkpointing trial for torch models: build, train epoch by epoch, score.

    ``build(config) -> (model, optimizer)``; ``train_epoch(model, optimizer, config, epoch)``, which may
    return the epoch's mean training loss (the checkpoint keeps the trial's whole per-epoch history: a
    learning curve across resumes); ``score(model, config) -> float``. The model is moved to the
    worker's device after ``build``; ``train_epoch``/``score`` find it as
    ``next(model.parameters()).device``. Checkpoints hold plain state dicts plus the epoch count and
    are loaded with ``weights_only=True``.
    """

    build: Callable
    train_epoch: Callable
    score: Callable

    def __call__(self, job: Job, checkpoint_in: str | None, checkpoint_out: Path, device: str = "cpu") -> float:
        model, opt = self.build(job.config)
        model.to(device)  # in place: the optimizer keeps the same parameters
        done = 0
        if checkpoint_in is not None:
            state = torch.load(checkpoint_in, weights_only=True, map_location=device)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            done = int(state["epochs"])
        if done != int(job.resource_from):
            raise RuntimeError(f"checkpoint holds {done} epochs but the job starts at {job.resource_from}")
        history = [float(v) for v in state.get("train_loss", [])] if checkpoint_in is not None else []
        for epoch in range(done, int(job.resource_to)):
            loss = self.train_epoch(model, opt, job.config, epoch)
            history.append(float("nan") if loss is None else float(loss))
        tmp = checkpoint_out.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epochs": int(job.resource_to),
                    "train_loss": history}, tmp)
        os.replace(tmp, checkpoint_out)
        return self.score(model, job.config)
