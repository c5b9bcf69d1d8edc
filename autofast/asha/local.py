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

from autofast.engine import CONSTANT, Run, Schedule, load_run, save_run, seeded_init
from autofast.errors import BudgetExhausted, Diverged

from .executor import LocalPool, drive
from .scheduler import ASHA, Job

TrialFn = Callable[[Job, "str | None", Path], float]


def run_local(scheduler: ASHA, trial_fn: TrialFn, checkpoint_dir: str | os.PathLike,
              on_result: Callable[[Job, float | None, str | None], None] | None = None,
              stop: Callable[[], bool] | None = None) -> ASHA:
    """Run every job in this process, one at a time, until the scheduler has nothing left.

    ``trial_fn(job, checkpoint_in, checkpoint_out) -> score`` trains ``job`` (resuming from
    ``checkpoint_in`` when it is not None) and saves its state to ``checkpoint_out``. For several
    trials at once (threads pinned to devices) or a Ray cluster use :func:`autofast.asha.executor.drive`.
    ``stop()`` True (a time budget spent): no new job is started and the scheduler is returned unfinished.
    """
    pool = LocalPool(lambda job, ck_in, ck_out, device: trial_fn(job, ck_in, ck_out))
    report = (lambda out: on_result(out.job, out.score, out.error)) if on_result else None
    return drive(scheduler, pool, checkpoint_dir, on_result=report, stop=stop)


@dataclass
class TorchTrial:
    """A checkpointing trial for torch models on the shared training engine (:mod:`autofast.engine`).

    ``build(config) -> (model, optimizer)`` runs under :func:`autofast.engine.seeded_init` with the
    config's ``seed`` (``seed_key``), so the initial weights do not depend on other trials running in
    other threads. The model is moved to the worker's device, then wrapped in an
    :class:`autofast.engine.Run` with its own generators (batch order; dropout / Gumbel noise) and
    ``schedule`` (a pure function of the step, horizon fixed: a trial paused at a rung and resumed follows
    the curve of one trained straight through).

    ``train_epoch(run, config)`` trains one epoch: with :func:`autofast.engine.train_epoch` (which ends
    the epoch and records it) or with its own steps on ``run.model``/``run.optimizer`` (then it may return
    the epoch's mean training loss, a float, or a record dict, and the epoch is ended here).
    ``score(model, config) -> float`` scores the model (validation data). Checkpoints are
    :mod:`autofast.engine.checkpoint` files (model, optimiser, schedule position, generator states, the
    whole per-epoch history), loaded with ``weights_only=True``; a resumed trial continues bit for bit.
    """

    build: Callable
    train_epoch: Callable
    score: Callable
    schedule: Schedule = CONSTANT
    seed_key: str = "seed"
    fused_epoch: Callable | None = None  # fused_epoch(runs, configs): one epoch of several runs as one model
    stop: Callable[[], bool] | None = None  # checked before each epoch: True raises BudgetExhausted

    def _check_stop(self, run: Run) -> None:
        if self.stop is not None and self.stop():
            raise BudgetExhausted(f"stopped at epoch {run.epoch}: the time budget ran out")

    def new_run(self, config: dict, device: str = "cpu") -> Run:
        """The trial's run before any training: seeded model and optimiser on ``device``, fresh generators."""
        seed = int(config.get(self.seed_key, 0))
        with seeded_init(seed):
            model, opt = self.build(config)
        model.to(device)  # in place: the optimizer keeps the same parameters
        return Run.create(model, opt, seed, self.schedule)

    def __call__(self, job: Job, checkpoint_in: str | None, checkpoint_out: Path, device: str = "cpu") -> float:
        run = self.new_run(job.config, device)
        if checkpoint_in is not None:
            load_run(checkpoint_in, run)
        if run.epoch != int(job.resource_from):
            raise RuntimeError(f"checkpoint holds {run.epoch} epochs but the job starts at {job.resource_from}")
        while run.epoch < int(job.resource_to):
            self._check_stop(run)
            before = run.epoch
            out = self.train_epoch(run, job.config)
            if run.epoch == before:
                run.end_epoch(out if isinstance(out, dict) else {"train_loss": float("nan") if out is None
                                                                   else float(out)})
        save_run(checkpoint_out, run, {"trial_id": job.trial_id, "config": dict(job.config)})
        return self.score(run.model, job.config)

    def run_fused(self, jobs: list[Job], checkpoint_outs: list[Path], device: str = "cpu") -> list:
        """Train ``jobs`` (one architecture, the same epoch range) together with ``fused_epoch``
        (:func:`autofast.engine.fused.train_fused_epoch`); one checkpoint per trial, as if run alone.

        Returns one entry per job: its score, or the :class:`autofast.errors.Diverged` of a trial that
        diverged (it left the group, saved nothing; the others went on). Anything else raises."""
        if self.fused_epoch is None:
            raise RuntimeError("this trial has no fused_epoch")
        if len({(int(j.resource_from), int(j.resource_to)) for j in jobs}) != 1:
            raise ValueError("fused jobs must cover the same epochs")
        runs = [self.new_run(j.config, device) for j in jobs]
        for run, job in zip(runs, jobs):
            if job.checkpoint is not None:
                load_run(job.checkpoint, run)
            if run.epoch != int(job.resource_from):
                raise RuntimeError(f"checkpoint holds {run.epoch} epochs but the job starts at {job.resource_from}")
        results: list = [None] * len(jobs)
        live = list(range(len(jobs)))
        while live and runs[live[0]].epoch < int(jobs[0].resource_to):
            self._check_stop(runs[live[0]])
            outs = self.fused_epoch([runs[i] for i in live], [jobs[i].config for i in live])
            for i, out in zip(list(live), outs or [None] * len(live)):
                if isinstance(out, Diverged):
                    results[i] = out
                    live.remove(i)
        for i in live:
            save_run(checkpoint_outs[i], runs[i], {"trial_id": jobs[i].trial_id, "config": dict(jobs[i].config)})
            results[i] = self.score(runs[i].model, jobs[i].config)
        return results
