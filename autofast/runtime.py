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
* Where the count was not given (``--threads``, ``OMP_NUM_THREADS``), :func:`adapt_threads` (called at each
  training epoch's start) lowers torch's count while other processes keep some of this process's CPUs busy,
  and raises it again when they leave: on 2 cores beside a process spinning on one, an epoch took 2.89 s on 2
  threads and 1.91 s on 1 (quiet: 1.50 s / 1.84 s), since each parallel region waits for its slowest thread.

State of ours: only that governor's last look at the CPUs (one per process, like the thread count it sets);
the other settings live where the runtimes read them (environment, torch).
"""
from __future__ import annotations

import math
import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
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
    env = os.environ.get("OMP_NUM_THREADS", "")
    # a count in the environment is the user's choice, unless an earlier configure() of ours wrote it
    chosen = threads is not None or (env.isdigit() and int(env) > 0 and env != _STATE["auto_count"])
    if threads is None:
        threads = int(env) if chosen else usable_cpus()
    _STATE["governor"] = None if chosen else ThreadGovernor.start(threads)
    _STATE["auto_count"] = None if chosen else str(threads)
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


# ------------------------------------------------------------------------------------------ thread governor

#: seconds between two looks at what other processes use of this process's CPUs
ADAPT_INTERVAL = 2.0

_STATE: dict = {"governor": None, "auto_count": None}


def _busy_seconds(cpus: frozenset[int], stat: Path = Path("/proc/stat")) -> float | None:
    """CPU-seconds the ``cpus`` spent busy since boot (user, nice, system, irq, softirq, steal), from
    ``/proc/stat``; None where it is unreadable or lacks one of them."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    busy, seen = 0, 0
    for line in lines:
        if line.startswith("cpu") and line[3:4].isdigit():
            name, *ticks = line.split()
            if int(name[3:]) in cpus and len(ticks) >= 8:
                t = [int(v) for v in ticks[:8]]
                busy += t[0] + t[1] + t[2] + t[5] + t[6] + t[7]
                seen += 1
    return busy / os.sysconf("SC_CLK_TCK") if seen == len(cpus) else None


def _own_seconds() -> float:
    t = os.times()
    return t.user + t.system


@dataclass
class ThreadGovernor:
    """torch's thread count set to the CPUs other processes leave this one: ``ceiling`` (the configured
    count) less what they kept busy of this process's ``cpus`` since the last look, rounded, at least 1.
    ``history``: ``(time.time(), threads, others)`` at each change."""
    ceiling: int
    cpus: frozenset[int]
    threads: int
    at: float
    busy: float
    own: float
    history: list = field(default_factory=list)

    @classmethod
    def start(cls, ceiling: int) -> "ThreadGovernor | None":
        """A governor for ``ceiling`` threads, or None where it cannot measure (not Linux, a CPU quota
        narrower than the affinity mask: the mask's CPUs then serve other containers too) or has no choice."""
        try:
            cpus = frozenset(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return None
        busy = _busy_seconds(cpus)
        if ceiling < 2 or busy is None or len(cpus) != ceiling:
            return None
        return cls(ceiling, cpus, ceiling, time.monotonic(), busy, _own_seconds())

    def look(self, now: float | None = None) -> int:
        """Re-measure (at most every :data:`ADAPT_INTERVAL` s) and set torch's threads; returns the count."""
        now = time.monotonic() if now is None else now
        if now - self.at < ADAPT_INTERVAL:
            return self.threads
        busy, own = _busy_seconds(self.cpus), _own_seconds()
        if busy is None:
            return self.threads
        others = max(0.0, (busy - self.busy) - (own - self.own)) / (now - self.at)
        self.at, self.busy, self.own = now, busy, own
        want = max(1, min(self.ceiling, math.floor(self.ceiling - others + 0.5)))
        if want != self.threads:
            import torch

            torch.set_num_threads(want)
            self.threads = want
            self.history.append((time.time(), want, round(others, 2)))
        return self.threads


def adapt_threads() -> int | None:
    """Let this process's :class:`ThreadGovernor` (where :func:`configure` chose the count) look again;
    returns the thread count it set, or None where the count is fixed."""
    governor = _STATE["governor"]
    return governor.look() if governor is not None else None


def thread_history() -> list:
    """The governor's changes so far, ``[(time.time(), threads, others), ...]`` (empty where none)."""
    governor = _STATE["governor"]
    return list(governor.history) if governor is not None else []


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
    state = dict(_STATE)
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
        _STATE.update(state)
        if torch_threads is not None:
            torch.set_num_threads(torch_threads)
        if numba_threads is not None:
            try:
                numba.set_num_threads(numba_threads)
            except (ValueError, AttributeError):  # pragma: no cover
                pass
