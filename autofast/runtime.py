"""The process runtime: how many threads this process may use, and OpenMP set up to share a machine.

Every command calls :func:`configure` once, before torch, numba or the C++ extension load their
thread pools (``python -m autofast`` does it first thing; library users may call it themselves).

* Threads come from the CPUs this process may actually run on: the scheduler affinity mask
  (``taskset``, container cpusets) and the cgroup CPU quota (``docker --cpus``, Kubernetes limits),
  never the host's core count.
* OpenMP waits passively (``OMP_WAIT_POLICY=PASSIVE``): a thread that finishes its share of a parallel
  region sleeps instead of spinning. With a busy neighbour on one core, spinning threads of torch's
  OpenMP pool and of our extension's pool fight the neighbour for the core they wait on; measured on
  2 cores that cost up to ~30x on the ASHA stage. The policy is read when an OpenMP runtime starts,
  hence "before import".
* torch (intra-op and inter-op), BLAS, numba and the C++ extension follow the same count.

No global state of ours: the settings live where the runtimes read them (environment, torch).
"""
from __future__ import annotations

import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """CPUs allowed by the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``), None if unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        if quota != "max" and float(period) > 0:
            return float(quota) / float(period)
        return None
    except (OSError, ValueError):
        pass
    try:
        quota = float((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = float((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None


def usable_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may use: ``min(affinity mask, ceil(cgroup quota))``, at least 1."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        n = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        n = min(n, max(1, math.ceil(quota)))
    return max(1, n)


def configure(threads: int | None = None) -> int:
    """Set the thread count and passive OpenMP waiting for this process; returns the thread count.

    ``threads``: an explicit count (``--threads``); None uses :func:`usable_cpus`, or ``OMP_NUM_THREADS``
    when the user set it. Call it before torch loads for the wait policy to take effect; the thread
    count is applied to an already-loaded torch/numba as well.
    """
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "")
        threads = int(env) if env.isdigit() and int(env) > 0 else usable_cpus()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("KMP_BLOCKTIME", "0")  # the same for Intel's OpenMP, where a build uses it
    for var in _THREAD_VARS:
        os.environ[var] = str(threads)
    if "torch" in sys.modules:
        apply_torch_threads(threads)
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        except (ValueError, AttributeError):  # pragma: no cover - numba's pool not started
            pass
    return threads


def apply_torch_threads(threads: int) -> None:
    """torch's intra-op threads to ``threads``; inter-op to 1 where it can still be set."""
    import torch

    torch.set_num_threads(int(threads))
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already started: it can be set only once, before any parallel work
        pass


def process_started() -> float:
    """Wall time (``time.time()`` scale) at which this process started, from ``/proc`` on Linux (so a
    command's time budget counts its interpreter start and imports too); now, where that is unavailable."""
    import time

    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
        started = boot + ticks / os.sysconf("SC_CLK_TCK")
        return started if started <= time.time() else time.time()
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


@contextmanager
def callers_settings_kept(threads: int | None = None) -> Iterator[int]:
    """For the Python API (``autofast.search``, ``AutofastClassifier.fit``): :func:`configure` ``threads`` for a
    command run inside, then give the caller back what it had -- the environment variables :func:`configure`
    sets, torch's and numba's thread counts where they were loaded before -- and torch's global CPU RNG state
    (model initialisation forks it; code that does not, a feature draw, a network built to count its layers, is
    covered here). torch's inter-op pool can be sized only once: where this call sized it, it stays at 1.
    Yields the thread count."""
    keys = (*_THREAD_VARS, "OMP_WAIT_POLICY", "KMP_BLOCKTIME")
    env = {k: os.environ.get(k) for k in keys}
    torch, numba = sys.modules.get("torch"), sys.modules.get("numba")
    torch_threads = torch.get_num_threads() if torch is not None else None
    numba_threads = numba.get_num_threads() if numba is not None else None
    count = configure(threads)  # before torch loads: passive OpenMP waits
    import torch

    rng = torch.random.get_rng_state()
    try:
        yield count
    finally:
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        torch.random.set_rng_state(rng)
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        if numba_threads is not None:
            try:
                numba.set_num_threads(numba_threads)
            except (ValueError, AttributeError):  # pragma: no cover
                pass
