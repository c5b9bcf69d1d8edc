"""Run ASHA jobs on a Ray cluster (an :class:`~autofast.asha.executor.Executor` for :func:`drive`).

::

    from autofast.asha.executor import drive
    from autofast.asha.ray_executor import RayExecutor
    with RayExecutor(trial_fn, address="auto", num_gpus_per_trial=1) as ex:
        drive(sched, ex, "checkpoints/")

Contract:

* ``trial_fn(job, checkpoint_in, checkpoint_out, device) -> score`` (as for ``LocalPool``). It is put
  into the object store once (``ray.put``), so the data it captures (the task's tensors) is shipped
  once per search, and each worker process deserializes it once, not once per job.
* No shared file system is needed: the driver reads the job's input checkpoint as bytes and sends
  them along; the task writes them to a local temporary directory, runs ``trial_fn`` there with
  ``device="cuda"`` when Ray gave it GPUs (``ray.get_gpu_ids()``, exposed as ``cuda:0``) and
  ``"cpu"`` otherwise, and returns the bytes of the checkpoint it saved. The driver writes them
  atomically to ``checkpoint_out`` before reporting the job, so the journal only records complete files.
* A trial that raises, and a task that dies (worker crash, OOM kill, node lost), is reported as a
  failed :class:`Outcome` with a one-line error; :meth:`RayExecutor.wait` never raises for a job.
* Workers must be able to import ``autofast`` (install it on every node, or pass
  ``init_kwargs={"runtime_env": {"py_modules": [...]}}``).
"""
from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from autofast.errors import AutofastError
from autofast.engine.precision import asked as asked_precision
from autofast.engine.precision import requested as requested_precision
from autofast.kernels.conv.conv_path import forced_path, requested_path
from autofast.kernels.conv.run_record import active_record, recorded_run

from .executor import Outcome, failure_message
from .scheduler import Job

__all__ = ["RayExecutor"]

_FN_CACHE: dict = {}  # in each Ray worker process: object id -> deserialized trial_fn (a few at most)
_FN_CACHE_SIZE = 2
_JOB_DIR_PREFIX = "autofast-asha-"  # + the worker's pid + "-": a folder whose worker died can be told apart


def _import_ray():
    try:
        import ray
    except ImportError:
        raise AutofastError("the Ray executor needs ray: pip install 'autofast[ray]'") from None
    return ray


def _run_job(fn_box: list, job: Job, ckpt_in: Optional[bytes], in_name: str, out_name: str,
             conv_paths: Optional[dict] = None, asked: Optional[dict] = None) -> dict:
    """The Ray task: run one job in a private temp dir and return its score and checkpoint bytes.

    ``fn_box`` holds the trial function's ObjectRef inside a list so Ray does not resolve it: the
    worker deserializes it once and keeps it for later jobs of the same search. ``conv_paths``: the
    driver's conv-path record (:mod:`autofast.kernels.conv.run_record`) when it keeps one: the job's convs
    take those paths, and the paths of shapes new to it come back as ``"conv_paths"``. ``asked``: the
    driver's requested conv path and precision (a command's ``--conv-path`` / ``--precision``), in force
    for the job.
    """
    import ray

    asked = asked or {}

    t0 = time.perf_counter()
    worker = f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:8]}"
    record = None
    try:
        ref = fn_box[0]
        key = ref.hex()
        fn = _FN_CACHE.get(key)
        if fn is None:
            fn = ray.get(ref)
            while len(_FN_CACHE) >= _FN_CACHE_SIZE:
                _FN_CACHE.pop(next(iter(_FN_CACHE)))
            _FN_CACHE[key] = fn
        device = "cuda" if ray.get_gpu_ids() else "cpu"
        remove_orphaned_job_dirs()
        with tempfile.TemporaryDirectory(prefix=f"{_JOB_DIR_PREFIX}{os.getpid()}-") as tmp:
            path_in = None
            if ckpt_in is not None:
                path_in = os.path.join(tmp, in_name)
                with open(path_in, "wb") as f:
                    f.write(ckpt_in)
            path_out = Path(tmp) / "out" / out_name
            path_out.parent.mkdir()
            with forced_path(asked.get("conv_path")), asked_precision(asked.get("precision")), \
                    (recorded_run(None, entries=conv_paths) if conv_paths is not None else nullcontext()) as record:
                score = float(fn(job, path_in, path_out, device))
            data = path_out.read_bytes() if path_out.exists() else None
        return {"score": score, "checkpoint": data, "worker": worker, "seconds": time.perf_counter() - t0,
                "conv_paths": _new_paths(record, conv_paths)}
    except Exception as exc:  # a failing trial (also OOM) must not end the search
        return {"error": failure_message(exc), "worker": worker, "seconds": time.perf_counter() - t0,
                "conv_paths": _new_paths(record, conv_paths)}


def remove_orphaned_job_dirs() -> None:
    """Delete the job folders (in this machine's temp dir) of workers that died mid-job: a crash, an OOM
    kill, a forced cancel at the search's deadline leave their folder behind (no ``finally`` runs)."""
    for folder in Path(tempfile.gettempdir()).glob(f"{_JOB_DIR_PREFIX}*-*"):
        pid = folder.name[len(_JOB_DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _new_paths(record, given: Optional[dict]) -> dict:
    """The entries a job's record holds beyond those it was given (none without a record)."""
    return {} if record is None else {k: v for k, v in record.entries.items() if k not in (given or {})}


class RayExecutor:
    """Run jobs as Ray tasks, ``slots`` at a time (an ``Executor`` for :func:`drive`).

    Args:
        trial_fn: ``trial_fn(job, checkpoint_in, checkpoint_out, device) -> score``; must be picklable
            (closures are fine: Ray's cloudpickle ships them by value).
        address: an existing cluster (``"auto"``, ``"ray://host:10001"``, ...). ``None`` starts a local
            Ray unless one is already initialised in this process (then it is used as is).
        num_cpus_per_trial, num_gpus_per_trial: Ray resources each job reserves.
        max_concurrent: jobs in flight at once; default: what the cluster's CPUs (and GPUs, when
            ``num_gpus_per_trial > 0``) hold right now, at least 1.
        init_kwargs: extra ``ray.init`` arguments, e.g. ``{"num_cpus": 2, "include_dashboard": False}``.
        max_retries: Ray retries of a task whose worker died (0: a crash fails the trial at once).

    :meth:`close` (or leaving the ``with`` block) cancels jobs still running and shuts Ray down only
    if this executor started it.
    """

    def __init__(
        self,
        trial_fn: Callable,
        address: Optional[str] = None,
        num_cpus_per_trial: float = 1,
        num_gpus_per_trial: float = 0,
        max_concurrent: Optional[int] = None,
        init_kwargs: Optional[Mapping[str, Any]] = None,
        max_retries: int = 0,
    ) -> None:
        if num_cpus_per_trial < 0 or num_gpus_per_trial < 0:
            raise AutofastError("num_cpus_per_trial and num_gpus_per_trial must be >= 0")
        if max_concurrent is not None and max_concurrent < 1:
            raise AutofastError(f"max_concurrent must be >= 1, got {max_concurrent}")
        ray = _import_ray()
        self._ray = ray
        self._started_ray = False
        if not ray.is_initialized():
            kwargs = dict(init_kwargs or {})
            if address is not None:
                kwargs["address"] = address
            try:
                ray.init(**kwargs)
            except Exception as exc:
                where = f"the Ray cluster at {address!r}" if address else "a local Ray"
                raise AutofastError(f"could not start {where}: {failure_message(exc)}") from exc
            self._started_ray = True
        if max_concurrent is None:
            res = ray.cluster_resources()
            bounds = []
            if num_cpus_per_trial > 0:
                bounds.append(int(res.get("CPU", 0) // num_cpus_per_trial))
            if num_gpus_per_trial > 0:
                bounds.append(int(res.get("GPU", 0) // num_gpus_per_trial))
            max_concurrent = min(bounds) if bounds else int(res.get("CPU", 1))
        self.slots = max(1, int(max_concurrent))
        self._fn_ref = ray.put(trial_fn)
        self._task = ray.remote(_run_job).options(
            num_cpus=num_cpus_per_trial, num_gpus=num_gpus_per_trial, max_retries=max_retries)
        # the conv-path record of the run this executor serves (made inside the run's recorded_run): its
        # paths go to every job, the paths a job chose for new shapes come back into it
        self._record = active_record()
        # what the command asked for (--conv-path, --precision): in force in the workers too
        self._asked = {"conv_path": requested_path(), "precision": requested_precision()}
        self._running: dict = {}  # ObjectRef -> (job, checkpoint_out, submit time)
        self._early: list = []  # Outcomes of jobs that failed before reaching Ray
        self._closed = False

    def submit(self, job: Job, checkpoint_out: Path) -> None:
        """Start ``job`` as a Ray task (returns at once; the input checkpoint is read here)."""
        if self._closed:
            raise AutofastError("this RayExecutor is closed; make a new one")
        checkpoint_out = Path(checkpoint_out)
        t0 = time.perf_counter()
        try:
            data = Path(job.checkpoint).read_bytes() if job.checkpoint is not None else None
        except OSError as exc:
            self._early.append(Outcome(job, checkpoint_out, None, failure_message(exc), 0.0, "driver"))
            return
        in_name = Path(job.checkpoint).name if job.checkpoint is not None else ""
        conv_paths = self._record.snapshot() if self._record is not None else None
        ref = self._task.remote([self._fn_ref], job, data, in_name, checkpoint_out.name, conv_paths, self._asked)
        self._running[ref] = (job, checkpoint_out, t0)

    def wait(self) -> list:
        """Block until at least one job finished; return the Outcomes of all finished jobs."""
        if self._early:
            outs, self._early = self._early, []
            return outs + self._collect(timeout=0)
        if not self._running:
            raise AutofastError("RayExecutor.wait() with no job in flight; submit a job first")
        return self._collect(timeout=None)

    def _collect(self, timeout: Optional[float]) -> list:
        ray = self._ray
        refs = list(self._running)
        if not refs:
            return []
        if timeout is None:
            ray.wait(refs, num_returns=1)
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        return [self._outcome(ref) for ref in ready]

    def _outcome(self, ref) -> Outcome:
        job, checkpoint_out, t0 = self._running.pop(ref)
        try:
            res = self._ray.get(ref)
        except Exception as exc:  # the task died: worker crash, OOM kill, node lost, cancelled
            return Outcome(job, checkpoint_out, None, _ray_error(exc), time.perf_counter() - t0, "ray")
        if self._record is not None and res.get("conv_paths"):
            self._record.merge(res["conv_paths"])  # also from a failed job: those convs ran
        if "error" in res:
            return Outcome(job, checkpoint_out, None, res["error"], res["seconds"], res["worker"])
        try:
            if res["checkpoint"] is not None:
                tmp = checkpoint_out.with_name(checkpoint_out.name + ".tmp")
                tmp.write_bytes(res["checkpoint"])
                os.replace(tmp, checkpoint_out)
            else:
                checkpoint_out.unlink(missing_ok=True)  # no stale file from an earlier run is recorded
        except OSError as exc:
            return Outcome(job, checkpoint_out, None, failure_message(exc), res["seconds"], res["worker"])
        return Outcome(job, checkpoint_out, res["score"], None, res["seconds"], res["worker"])

    def close(self) -> None:
        """Cancel jobs still in flight; shut Ray down if this executor started it. Idempotent."""
        if self._closed:
            return
        self._closed = True
        ray = self._ray
        for ref in list(self._running):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # already finished or its worker is gone: nothing to cancel
                pass
        self._running.clear()
        self._fn_ref = None
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
            remove_orphaned_job_dirs()  # the folders of this machine's jobs cancelled above

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _ray_error(exc: BaseException) -> str:
    """One line for a task that died: its class name and the first line that says why."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
