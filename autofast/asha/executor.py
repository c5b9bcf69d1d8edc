"""Executors for the ASHA scheduler: one driver loop, pluggable ways to run jobs.

:func:`drive` is the asynchronous loop every executor shares: it keeps ``executor.slots`` jobs in
flight (asking the scheduler whenever a slot is free), waits for any job to finish and tells the
scheduler its score, a failure, and the checkpoint the job saved. The scheduler is only ever called
from the driver's thread. An executor implements two methods::

    submit(job, checkpoint_out: Path) -> None       # start the job; it must not block for long
    wait() -> list[Outcome]                          # block until >= 1 submitted job finished

:class:`LocalPool` (this module) runs jobs in threads of this process, each worker pinned to one
device ("cpu", "cuda:0", ...; several workers may share a device), so data loaded once is shared by
all trials and no process starts per trial. :class:`FusedPool` trains every job a device holds at once,
those of one architecture as ONE fused model (:mod:`autofast.engine.fused`; the GPU default).
``autofast.asha.ray_executor.RayExecutor`` runs them on a Ray cluster.

A trial function is ``trial_fn(job, checkpoint_in, checkpoint_out, device) -> score``: it trains
``job`` from ``job.resource_from`` to ``job.resource_to`` (resuming from ``checkpoint_in`` when it is
not None), saves its state to ``checkpoint_out`` and returns the validation score.
"""
from __future__ import annotations

import logging
import math
import os
import queue
import threading
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



def _arch(job: Job) -> str:
    """Jobs that may train as one fused model: one architecture (``config["arch"]`` where the search space has
    that dimension). Their epochs may differ: every run keeps its own schedule and step count."""
    return str(job.config.get("arch", ""))


@dataclass
class _Held:
    """A job a device is training: its run (model, optimiser, generators) stays in memory between epochs."""

    job: Job
    checkpoint_out: Path
    run: object
    t0: float
    widest: int = 1  # the largest group it trained in


class FusedPool:
    """Train every job a device holds at once, one epoch at a time: the held jobs of one architecture as ONE
    fused model (``trial.epoch_together``), whatever epoch each is at (each run keeps its own schedule,
    generators, step count and checkpoint). A job that reaches its last epoch leaves at once (checkpoint,
    score, outcome) and its slot takes the next job, which joins at the next epoch; so ASHA's mix of rungs
    and architectures still fills the groups (grouping only jobs that waited together with the same epochs
    gave groups of 1.3 on average). One thread per device, up to ``per_device`` jobs on each.

    ``trial`` is a :class:`autofast.asha.local.TorchTrial` with ``fused_epoch``. A trial that diverges leaves
    its group and fails alone; the others go on. A group whose fused epoch raises (an unfusable layer, out
    of memory, ...) is re-run job by job from each job's start: a warning is logged and each job's
    :class:`Outcome` says why (``note``). A spent budget (:class:`autofast.errors.BudgetExhausted`) stops
    every held job.
    """

    def __init__(self, trial, devices: Sequence[str] = ("cuda:0",), per_device: int = 4) -> None:
        if not devices or per_device < 1:
            raise AutofastError("FusedPool needs at least one device and per_device >= 1")
        self.trial = trial
        self.devices = list(devices)
        self.per_device = per_device
        self.slots = len(self.devices) * per_device
        self._lock = threading.Lock()
        self._abort = threading.Event()  # close() before the jobs finished (Ctrl-C, an error in the driver)
        self._load = {d: 0 for d in self.devices}  # jobs submitted to a device and not yet reported
        self._inbox = {d: queue.SimpleQueue() for d in self.devices}
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._serve, args=(d,), name=f"asha-fused-{d}", daemon=True)
                         for d in self.devices]  # started by the first wait(): the first jobs start together

    def submit(self, job: Job, checkpoint_out: Path) -> None:
        with self._lock:
            dev = min(self.devices, key=lambda d: self._load[d])
            if self._load[dev] >= self.per_device:
                raise AutofastError(f"FusedPool: more than {self.slots} jobs submitted at once")
            self._load[dev] += 1
        self._inbox[dev].put((job, checkpoint_out))

    def _report(self, dev: str, out: Outcome) -> None:
        with self._lock:
            self._load[dev] -= 1
        self._done.put(out)

    def _fail(self, dev: str, h: _Held, exc: BaseException) -> None:
        self._report(dev, Outcome(h.job, h.checkpoint_out, None, failure_message(exc), time.perf_counter() - h.t0,
                                  _worker(dev, h.widest)))

    def _alone(self, job: Job, checkpoint_out: Path, dev: str) -> Outcome:
        t0 = time.perf_counter()
        try:
            score = float(self.trial(job, job.checkpoint, checkpoint_out, dev))
            return Outcome(job, checkpoint_out, score, None, time.perf_counter() - t0, f"{dev}#0")
        except Exception as exc:  # a failing trial (also OOM) must not end the search
            return Outcome(job, checkpoint_out, None, failure_message(exc), time.perf_counter() - t0, f"{dev}#0")

    def _serve(self, dev: str) -> None:
        held: list[_Held] = []
        closing = False
        while not (closing and not held):
            while True:  # take what has arrived; wait for something when holding nothing
                try:
                    item = self._inbox[dev].get(block=not held and not closing)
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    continue
                job, checkpoint_out = item
                h = _Held(job, checkpoint_out, None, time.perf_counter())
                try:
                    h.run = self.trial.start(job, dev)
                    held.append(h)
                except Exception as exc:
                    self._fail(dev, h, exc)
            for arch in dict.fromkeys(_arch(h.job) for h in held):
                if self._abort.is_set():  # stop after this epoch: the held jobs fail, nothing is saved
                    for h in held:
                        self._fail(dev, h, AutofastError("stopped: the search was interrupted"))
                    return
                group = [h for h in held if _arch(h.job) == arch]
                held = [h for h in held if _arch(h.job) != arch]
                held += self._epoch(dev, group)

    def _epoch(self, dev: str, group: list[_Held]) -> list[_Held]:
        """One epoch of ``group`` (one architecture); report the jobs that finished or failed; return the rest."""
        for h in group:
            h.widest = max(h.widest, len(group))
        try:
            outs = self.trial.epoch_together([h.run for h in group], [h.job.config for h in group])
        except BudgetExhausted as exc:  # the time budget, not the fusion: every job stops, as alone
            for h in group:
                self._fail(dev, h, exc)
            return []
        except Exception as exc:
            if len(group) == 1:  # a failing trial (also OOM) fails alone; the search goes on
                self._fail(dev, group[0], exc)
                return []
            # the fusion failed (e.g. OOM): run them one by one from their start, and say so
            why = f"fusion failed ({failure_message(exc)}); trained alone"
            log.warning("trials %s on %s: %s", ", ".join(str(h.job.trial_id) for h in group), dev, why)
            for h in group:
                self._report(dev, replace(self._alone(h.job, h.checkpoint_out, dev), note=why))
            return []
        rest = []
        for h, out in zip(group, outs):
            if isinstance(out, BaseException):
                self._fail(dev, h, out)
            elif h.run.epoch >= int(h.job.resource_to):
                try:
                    score = float(self.trial.finish(h.run, h.job, h.checkpoint_out))
                    self._report(dev, Outcome(h.job, h.checkpoint_out, score, None, time.perf_counter() - h.t0,
                                              _worker(dev, h.widest)))
                except Exception as exc:
                    self._fail(dev, h, exc)
            else:
                rest.append(h)
        return rest

    def wait(self) -> list:
        for t in self._threads:
            if t.ident is None:
                t.start()
        outs = [self._done.get()]
        while True:
            try:
                outs.append(self._done.get_nowait())
            except queue.Empty:
                return outs

    def close(self) -> None:
        """Stop the device threads: at once when nothing is held (the search ended), else after the epoch
        they are training (the search was interrupted; those jobs are reported failed)."""
        self._abort.set()
        for d in self.devices:
            self._inbox[d].put(None)
        for t in self._threads:
            if t.ident is not None:
                t.join()


def _worker(dev: str, widest: int) -> str:
    return f"{dev}#fused{widest}" if widest > 1 else f"{dev}#0"
