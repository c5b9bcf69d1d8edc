"""Executors for the ASHA scheduler: one driver loop, pluggable ways to run jobs.

:func:`drive` is the asynchronous loop every executor shares: it keeps ``executor.slots`` jobs in
flight (asking the scheduler whenever a slot is free), waits for any job to finish and tells the
scheduler its score, a failure, and the checkpoint the job saved. The scheduler is only ever called
from the driver's thread. An executor implements two methods::

    submit(job, checkpoint_out: Path) -> None       # start the job; it must not block for long
    wait() -> list[Outcome]                          # block until >= 1 submitted job finished

:class:`LocalPool` (this module) runs jobs in threads of this process, each worker pinned to one
device ("cpu", "cuda:0", ...; several workers may share a device), so data loaded once is shared by
all trials and no process starts per trial. :class:`FusedPool` trains the jobs waiting for a device
that cover the same epochs as ONE fused model (:mod:`autofast.engine.fused`; the GPU default). ``autofast.asha.ray_executor.RayExecutor`` runs them on
a Ray cluster.

A trial function is ``trial_fn(job, checkpoint_in, checkpoint_out, device) -> score``: it trains
``job`` from ``job.resource_from`` to ``job.resource_to`` (resuming from ``checkpoint_in`` when it is
not None), saves its state to ``checkpoint_out`` and returns the validation score.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Optional, Protocol, Sequence

from autofast.errors import AutofastError, BudgetExhausted

from .scheduler import ASHA, Job

__all__ = ["Outcome", "Executor", "FusedPool", "LocalPool", "drive", "failure_message"]

TrialFn = Callable[[Job, Optional[str], Path, str], float]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What one finished job reports back to the driver."""

    job: Job
    checkpoint_out: Path
    score: Optional[float]  # None when the job failed
    error: Optional[str]  # one line, when the job failed
    seconds: float
    worker: str  # e.g. "cpu#0", "cuda:1#0", "cuda:0#fused4", a Ray node id
    note: Optional[str] = None  # e.g. why a job meant to train fused ran alone (FusedPool)


class Executor(Protocol):
    slots: int

    def submit(self, job: Job, checkpoint_out: Path) -> None: ...

    def wait(self) -> list: ...


def failure_message(exc: BaseException) -> str:
    """``"ExcType: first line of the message"`` (OOM errors keep their class name)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def checkpoint_path(checkpoint_dir: Path, job: Job) -> Path:
    return rung_checkpoint(checkpoint_dir, job.trial_id, job.rung)


def rung_checkpoint(checkpoint_dir: Path, trial_id: int, rung: int) -> Path:
    """Where trial ``trial_id``'s state at the end of ``rung`` is kept."""
    return Path(checkpoint_dir) / f"trial{trial_id:04d}_rung{rung}.pt"


def drive(scheduler: ASHA, executor: Executor, checkpoint_dir: str | os.PathLike,
          on_start: Callable[[Job], None] | None = None,
          on_result: Callable[[Outcome], None] | None = None,
          stop: Callable[[], bool] | None = None, ordered: bool = False) -> ASHA:
    """Run the search to the end: fill free slots with ``scheduler.ask()``, tell every outcome.

    ``stop()`` True (e.g. a time budget spent): no new job is asked for; the running ones are waited for
    (they may stop themselves) and the scheduler is returned unfinished, its journal resumable.

    ``ordered``: outcomes are told in the order the jobs were handed out, and a slot is free again only when
    its job has been told, so every decision (which trial is promoted, which configuration is drawn next) is
    a function of the scores alone, not of which parallel job happened to finish first; a worker whose job
    finished early may wait for an earlier one. With one slot both orders are the same.

    Returns the scheduler. A job that raised, or returned a non-finite score (a diverged trial), is told as
    failed (never promoted); the search goes on. Checkpoints are journaled relative to ``checkpoint_dir``,
    so a run folder that was moved or copied resumes from its own checkpoints.
    """
    ckdir = Path(checkpoint_dir)
    ckdir.mkdir(parents=True, exist_ok=True)
    in_flight = 0  # handed out, not yet told
    handed_out: deque = deque()  # (trial, rung) of the jobs in flight, oldest first
    finished: dict = {}  # outcomes not yet told (ordered: waiting for an earlier job's), in arrival order

    def tell(out: Outcome) -> None:
        job = out.job
        if out.error is None and not math.isfinite(out.score):
            out = replace(out, score=None, error=f"Diverged: the validation score is {out.score}")
        if out.error is not None:
            scheduler.tell_failed(job.trial_id, out.error)
        else:
            if out.checkpoint_out.exists():
                scheduler.record_checkpoint(job.trial_id, job.rung, os.path.relpath(out.checkpoint_out, ckdir))
            scheduler.tell(job.trial_id, job.rung, out.score)
        if on_result:
            on_result(out)

    def fill() -> None:  # hand out jobs until every slot is busy (or nothing is left, or stop)
        nonlocal in_flight
        while in_flight < executor.slots and not (stop and stop()) and (job := scheduler.ask()) is not None:
            if job.checkpoint is not None:  # relative to the checkpoint folder (absolute in older journals)
                job = replace(job, checkpoint=str(ckdir / job.checkpoint))
            executor.submit(job, checkpoint_path(ckdir, job))
            in_flight += 1
            handed_out.append((job.trial_id, job.rung))
            if on_start:
                on_start(job)

    while True:
        fill()
        if in_flight == 0:
            if stop and stop():
                return scheduler
            if not scheduler.is_finished():  # nothing runs and nothing can be asked: a scheduler bug
                raise AutofastError("ASHA has pending jobs that no executor runs; resume the search from its journal")
            return scheduler
        for out in executor.wait():
            finished[(out.job.trial_id, out.job.rung)] = out
        while finished and (not ordered or handed_out[0] in finished):  # as they came, or oldest first
            key = handed_out[0] if ordered else next(iter(finished))
            handed_out.remove(key)
            in_flight -= 1
            tell(finished.pop(key))
            fill()  # the freed slot's next job is asked for right after this tell: ordered, one tell per ask


class LocalPool:
    """Run jobs in worker threads of this process, each pinned to a device.

    Args:
        trial_fn: ``trial_fn(job, checkpoint_in, checkpoint_out, device) -> score``.
        devices: one entry per device, e.g. ``["cpu"]`` or ``["cuda:0", "cuda:1"]``.
        per_device: workers per device (several small trials can share one device).

    With one worker the job runs in the driver's thread (plain sequential, easiest to debug).
    Torch releases the GIL inside its kernels, so threads overlap real work.
    """

    def __init__(self, trial_fn: TrialFn, devices: Sequence[str] = ("cpu",), per_device: int = 1) -> None:
        if not devices:
            raise AutofastError("LocalPool needs at least one device, e.g. devices=['cpu']")
        if per_device < 1:
            raise AutofastError(f"per_device must be >= 1, got {per_device}")
        self.trial_fn = trial_fn
        self.workers = [f"{d}#{i}" for d in devices for i in range(per_device)]
        self.slots = len(self.workers)
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for w in self.workers:
            self._free.put(w)
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(self.slots, thread_name_prefix="asha") if self.slots > 1 else None

    def _run(self, job: Job, checkpoint_out: Path, worker: str) -> None:
        device = worker.split("#")[0]
        t0 = time.perf_counter()
        try:
            score = float(self.trial_fn(job, job.checkpoint, checkpoint_out, device))
            out = Outcome(job, checkpoint_out, score, None, time.perf_counter() - t0, worker)
        except Exception as exc:  # a failing trial (also OOM) must not end the search
            out = Outcome(job, checkpoint_out, None, failure_message(exc), time.perf_counter() - t0, worker)
        self._free.put(worker)
        self._done.put(out)

    def submit(self, job: Job, checkpoint_out: Path) -> None:
        worker = self._free.get()
        if self._pool is None:
            self._run(job, checkpoint_out, worker)
        else:
            self._pool.submit(self._run, job, checkpoint_out, worker)

    def wait(self) -> list:
        outs = [self._done.get()]
        while True:
            try:
                outs.append(self._done.get_nowait())
            except queue.Empty:
                return outs

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "LocalPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()



def _fusion_key(job: Job) -> tuple:
    """Jobs that may train as one fused model: the same epochs and the same architecture (``config["arch"]``
    where the search space has that dimension)."""
    return job.resource_from, job.resource_to, str(job.config.get("arch", ""))


class FusedPool:
    """Run the jobs waiting for a device together: up to ``per_device`` jobs covering the same epochs
    (and architecture) are trained as one fused model (``trial.run_fused``), one thread per device.

    ``trial`` is a :class:`autofast.asha.local.TorchTrial` with ``fused_epoch`` (it is also called
    alone for a group of one). A trial that diverges leaves its group and fails alone (``run_fused``); the
    others go on. A group that cannot be trained fused (an unfusable layer, out of memory, ...) is re-run job
    by job: a warning is logged and each job's :class:`Outcome` says why (``note``).
    """

    def __init__(self, trial, devices: Sequence[str] = ("cuda:0",), per_device: int = 4) -> None:
        if not devices or per_device < 1:
            raise AutofastError("FusedPool needs at least one device and per_device >= 1")
        self.trial = trial
        self.devices = list(devices)
        self.per_device = per_device
        self.slots = len(self.devices) * per_device
        self._pending: list[tuple[Job, Path]] = []
        self._busy: set[str] = set()
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._pool = ThreadPoolExecutor(len(self.devices), thread_name_prefix="asha-fused")

    def submit(self, job: Job, checkpoint_out: Path) -> None:
        self._pending.append((job, checkpoint_out))

    def _launch(self) -> None:
        for dev in self.devices:
            if dev in self._busy or not self._pending:
                continue
            key = _fusion_key(self._pending[0][0])
            group = [p for p in self._pending if _fusion_key(p[0]) == key][: self.per_device]
            for p in group:
                self._pending.remove(p)
            self._busy.add(dev)
            self._pool.submit(self._run_group, group, dev)

    def _alone(self, job: Job, checkpoint_out: Path, dev: str) -> Outcome:
        t0 = time.perf_counter()
        try:
            score = float(self.trial(job, job.checkpoint, checkpoint_out, dev))
            return Outcome(job, checkpoint_out, score, None, time.perf_counter() - t0, f"{dev}#0")
        except Exception as exc:  # a failing trial (also OOM) must not end the search
            return Outcome(job, checkpoint_out, None, failure_message(exc), time.perf_counter() - t0, f"{dev}#0")

    def _run_group(self, group: list, dev: str) -> None:
        t0 = time.perf_counter()
        if len(group) == 1:
            outs = [self._alone(*group[0], dev)]
        else:
            try:
                results = self.trial.run_fused([j for j, _ in group], [c for _, c in group], dev)
                dt, worker = time.perf_counter() - t0, f"{dev}#fused{len(group)}"
                outs = [Outcome(j, c, None, failure_message(r), dt, worker) if isinstance(r, BaseException)
                        else Outcome(j, c, float(r), None, dt, worker) for (j, c), r in zip(group, results)]
            except BudgetExhausted as exc:  # the time budget, not the fusion: every job stops, as alone
                dt = time.perf_counter() - t0
                outs = [Outcome(j, c, None, failure_message(exc), dt, f"{dev}#fused{len(group)}") for j, c in group]
            except Exception as exc:  # the fusion failed (e.g. OOM): run them one by one, and say so
                why = f"fusion failed ({failure_message(exc)}); trained alone"
                log.warning("trials %s on %s: %s", ", ".join(str(j.trial_id) for j, _ in group), dev, why)
                outs = [replace(self._alone(j, c, dev), note=why) for j, c in group]
        self._done.put((dev, outs))

    def wait(self) -> list:
        self._launch()
        dev, outs = self._done.get()
        self._busy.discard(dev)
        while True:
            try:
                dev, more = self._done.get_nowait()
            except queue.Empty:
                return outs
            self._busy.discard(dev)
            outs += more

    def close(self) -> None:
        self._pool.shutdown(wait=True)
