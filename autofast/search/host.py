"""The host-CPU feature families beside the device stages: where every device of a search is a GPU, the
families that fit on the CPU (:data:`HOST_FAMILIES`: scikit-learn, numpy and CPU torch work) run in a second
process while the GPU trains the DASH supernet and the ASHA trials, and the chosen family's refit on train+val
runs there while the GPU retrains the CNN. On a GPU machine the CPU would otherwise wait: the weighted-degree
kernel SVM is ~11 s of CPU work on splice, more than the share of a GPU search's one-minute budget the plan
gives a family that runs in line (the plan left it out there, and with it the CPU search's accuracy).

A process, not a thread: the device stages' Python thread dispatches small kernels back to back and holds the
interpreter lock nearly all the time, and a family thread that needs the lock back after each of its
thousands of short torch calls would wait for a switch interval (5 ms) each time. The worker is a fresh
interpreter (``python -c``, not :mod:`multiprocessing`: a spawned child would import the caller's main script
again, and a forked CUDA context is unusable) that reads pickled calls from a pipe and writes the pickled
results back; it computes exactly what the in-line call computes (on the CPU, its own seeds). On a CPU-only
machine the families stay in line: there the training takes every core.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import subprocess
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch

import autofast

#: the feature families whose fits run on the host CPU (the others run on the search's device, in line)
HOST_FAMILIES = ("kmer", "wd")


class WorkerDied(RuntimeError):
    """The worker process ended without an answer (killed, out of memory)."""


def runs_beside(devices) -> bool:
    """Whether the host families run beside the device stages: every device of the search a GPU."""
    return bool(devices) and all(torch.device(d).type == "cuda" for d in devices)


def worker_threads() -> int:
    """The worker's threads: this process's torch threads less the one the device stages' dispatch keeps
    busy, at least 1."""
    return max(1, torch.get_num_threads() - 1)


def _candidate(name: str, task, folds, seed: int, options: dict) -> dict:
    from .pipeline import FAMILIES

    return FAMILIES[name].candidate(task, folds, seed, "cpu", **options)


def _final(name: str, task, cand: dict, seed: int, temperature: float):
    from .pipeline import FAMILIES

    return FAMILIES[name].final(task, cand, seed, temperature, "cpu")


def serve(threads: int) -> None:
    """The worker's loop: read a pickled ``(function, args)`` from stdin, write back ``(True, result)`` or
    ``(False, exception)``; stdout is the channel, so anything printed goes to stderr instead."""
    from autofast.runtime import configure

    configure(threads)
    channel = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    requests = os.fdopen(0, "rb")
    while True:
        try:
            fn, args = pickle.load(requests)
        except EOFError:
            return
        try:
            answer = (True, fn(*args))
        except Exception as exc:  # the caller raises it, as the in-line call would have
            answer = (False, exc)
        pickle.dump(answer, channel, protocol=pickle.HIGHEST_PROTOCOL)
        channel.flush()


class HostWorker:
    """One worker process for the host families (module docstring); a context manager (the worker ends
    with it). ``candidate`` and ``final`` take the in-line functions' arguments and return futures, answered
    one after another; :meth:`result` waits for one and records how long the caller waited (``waited``, s)."""

    def __init__(self, threads: int | None = None) -> None:
        self.threads = worker_threads() if threads is None else int(threads)
        here = str(Path(autofast.__file__).resolve().parents[1])  # the worker imports this autofast
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (here, os.environ.get("PYTHONPATH")) if p),
               **{v: str(self.threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}}
        self._proc = subprocess.Popen(
            [sys.executable, "-c", f"from autofast.search.host import serve; serve({self.threads})"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            start_new_session=True)  # Ctrl-C in the terminal interrupts the search, which ends the worker
        self._io = ThreadPoolExecutor(1)  # sends a call and reads its answer; calls queue up in order
        self.waited = 0.0

    def _call(self, fn, *args):
        try:
            pickle.dump((fn, args), self._proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self._proc.stdin.flush()
            ok, value = pickle.load(self._proc.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            raise WorkerDied(f"the host-family worker ended ({type(exc).__name__}; exit {self._proc.poll()})") from exc
        if not ok:
            raise value
        return value

    def submit(self, fn, *args) -> Future:
        """``fn(*args)`` in the worker (``fn`` importable by name)."""
        return self._io.submit(self._call, fn, *args)

    def candidate(self, name: str, task, folds, seed: int, options: dict) -> Future:
        """``FAMILIES[name].candidate(task, folds, seed, "cpu", **options)`` in the worker."""
        return self.submit(_candidate, name, task, folds, seed, options)

    def final(self, name: str, task, cand: dict, seed: int, temperature: float) -> Future:
        """``FAMILIES[name].final(task, cand, seed, temperature, "cpu")`` in the worker; ``cand`` without its
        held-out scores (the refit does not read them)."""
        return self.submit(_final, name, task, {k: v for k, v in cand.items() if k != "held_out"}, seed,
                           temperature)

    def result(self, future: Future, inline):
        """``future``'s result; where the worker process died, ``inline()`` computes it here instead. A
        family's own exception is raised as it would be in line."""
        t0 = time.perf_counter()
        try:
            return future.result()
        except WorkerDied:
            return inline()
        finally:
            self.waited += time.perf_counter() - t0

    def close(self) -> None:
        """End the worker; a fit still running there is stopped, not waited for (the search ended without it:
        an error, an interrupt)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._io.shutdown(wait=True, cancel_futures=True)  # a call in flight ends with WorkerDied
        for pipe in (self._proc.stdin, self._proc.stdout):
            with contextlib.suppress(OSError):  # flushing into a killed worker's pipe
                pipe.close()

    def __enter__(self) -> "HostWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
