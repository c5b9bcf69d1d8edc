"""In-process executor for the ASHA scheduler, and a checkpointing trial for torch models.

``run_local`` drives ask -> run -> tell until the search is finished. Each job trains its trial from
``job.resource_from`` to ``job.resource_to`` epochs, starting from the trial's last checkpoint, so a
promotion resumes a paused trial and no epoch is trained twice. A trial that raises (including
out-of-memory errors) is recorded as failed and the search goes on.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from autofast.engine import CONSTANT, Run, Schedule, load_run, save_run, seeded_init
from autofast.errors import BudgetExhausted, Diverged

from .executor import LocalPool, drive
from .scheduler import ASHA, Job

TrialFn = Callable[[Job, "str | None", Path], float]


def run_local(scheduler: ASHA, trial_fn: TrialFn, checkpoint_dir: str | os.PathLike,
              on_result: Callable[[Job, float | None, str | None], None] | None = None,
              stop: Callable[[], bool] | None = None, device: str | None = None) -> ASHA:
    """Run every job in this process, one at a time, until the scheduler has nothing left.

    ``trial_fn(job, checkpoint_in, checkpoint_out) -> score`` trains ``job`` (resuming from
    ``checkpoint_in`` when it is not None) and saves its state to ``checkpoint_out``; with ``device``
    (``"cuda:0"``, ...) it is called with that device as a fourth argument (a :class:`TorchTrial` trains
    there). For several trials at once (threads pinned to devices) or a Ray cluster use
    :func:`autofast.asha.executor.drive`. ``stop()`` True (a time budget spent): no new job is started and the
    scheduler is returned unfinished.
    """
    if device is None:
        pool = LocalPool(lambda job, ck_in, ck_out, dev: trial_fn(job, ck_in, ck_out))
    else:
        pool = LocalPool(trial_fn, devices=[device])
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

    def start(self, job: Job, device: str = "cpu") -> Run:
        """``job``'s run on ``device`` at its first epoch: resumed from ``job.checkpoint`` (None for a new
        trial), which must hold ``job.resource_from`` epochs."""
        run = self.new_run(job.config, device)
        if job.checkpoint is not None:
            load_run(job.checkpoint, run)
        if run.epoch != int(job.resource_from):
            raise RuntimeError(f"checkpoint holds {run.epoch} epochs but the job starts at {job.resource_from}")
        return run

    def one_epoch(self, run: Run, config: dict) -> None:
        """Train ``run`` one more epoch with ``train_epoch`` (ending the epoch if it did not)."""
        self._check_stop(run)
        before = run.epoch
        out = self.train_epoch(run, config)
        if run.epoch == before:
            run.end_epoch(out if isinstance(out, dict) else {"train_loss": float("nan") if out is None
                                                               else float(out)})

    def epoch_together(self, runs: list[Run], configs: list[dict]) -> list:
        """One more epoch of each of ``runs`` (one architecture; each at its own epoch, with its own schedule):
        with ``fused_epoch`` as one fused model when there are several, else alone. One entry per run: its
        epoch record, or the :class:`autofast.errors.Diverged` of a run that diverged (its epoch not ended).
        A spent budget raises :class:`autofast.errors.BudgetExhausted`; anything else raises too."""
        if len(runs) > 1:
            if self.fused_epoch is None:
                raise RuntimeError("this trial has no fused_epoch")
            self._check_stop(runs[0])
            return list(self.fused_epoch(runs, configs))
        try:
            self.one_epoch(runs[0], configs[0])
        except Diverged as exc:
            return [exc]
        return [runs[0].history[-1]]

    def finish(self, run: Run, job: Job, checkpoint_out: Path) -> float:
        """Save ``run``'s checkpoint to ``checkpoint_out`` and return its score."""
        save_run(checkpoint_out, run, {"trial_id": job.trial_id, "config": dict(job.config)})
        return self.score(run.model, job.config)

    def __call__(self, job: Job, checkpoint_in: str | None, checkpoint_out: Path, device: str = "cpu") -> float:
        run = self.start(replace(job, checkpoint=checkpoint_in), device)
        while run.epoch < int(job.resource_to):
            self.one_epoch(run, job.config)
        return self.finish(run, job, checkpoint_out)
