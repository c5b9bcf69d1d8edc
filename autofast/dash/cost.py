"""What a training step costs on this machine, measured before a plan (:mod:`autofast.search.plan`, the
``dash`` budget) is made: a few short epochs of the engine's training loop on the final network (plain
pattern, the retrain width) at two batch sizes; the DASH supernet's step is estimated from it
(:data:`SUPERNET_FACTOR`). A few seconds on 2 CPU cores for splice.

Measurements are kept on disk beside the conv-path cache, keyed by machine, shapes, widths, threads and the
code that trains (:func:`code_version`: a hash of the engine, model and kernel sources), so the same command on
the same machine and code makes the same plan (and gives the same result) every time, and a faster (or slower)
engine is measured afresh instead of planned from its predecessor's cost (a cache kept across sessions of
development here had splice's epoch at 0.83 s when it took 0.50 s, so the default budget came out 285 s
instead of 192 s). A measurement taken while the machine is busy (load above :data:`BUSY_LOAD` per usable CPU:
a neighbour's threads beside ours) is used for that run only, never kept. ``AUTOFAST_REMEASURE=1`` measures
afresh.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from autofast.budget import StepCost
from autofast.engine import seeded_init, sgd
from autofast.models import build_backbone, fixed_factory
from autofast.models.hydra import hydra_dilations

# one random-convolution fit's transform and standardisation, per example per input value (C x L), 2 CPU cores
# (the ridge's N^3 eigensolve is priced apart: plan.RIDGE_SECONDS_PER_N3); the numba MiniRocket kernel, AMD EPYC:
# splice 3.25 s per fit of 2 552 x 240 values of which ~2 s eigensolve (2.0e-6), JapaneseVowels 0.07 s for
# 270 x 312 (0.85e-6), ACSF1 0.13 s for 100 x 1 460 (0.9e-6)
ROCKET_SECONDS_PER_VALUE = 2.0e-6
# one Hydra fit (transform + ridge) per example per (step x dilation), 2 CPU cores: measured OSULeaf 442 x 427
# steps x 6 dilations 1.7 s, ACSF1 200 x 1 460 x 8 3.4 s (1.4-1.5e-6), 1.5x for slower machines
HYDRA_SECONDS_PER_VALUE = 2.2e-6


def _step_seconds(model, x, y, batch: int, reps: int = 3, warmup: int = 1, deadline: float | None = None) -> float:
    """Seconds per step of the engine's own loop (:func:`autofast.engine.train_epoch`: batch gather, lr
    schedule, loss, backward, SGD step, the epoch's bookkeeping) at ``batch``, over epochs of up to 4 steps
    on ``(x, y)``: the fastest of ``reps`` timed epochs after ``warmup`` untimed ones (allocations,
    conv-path measurement). A busy neighbour only ever slows an epoch down, so the minimum is the machine's
    own cost. (A bare forward/backward/step timed alone was 1.6-2x below what ASHA's trials then took.)
    ``model``: a list of networks is one step of them fused (:func:`autofast.engine.fused.train_fused_epoch`).
    ``deadline`` (``time.perf_counter()`` scale): no epoch starts after it once one warm epoch is timed. (The
    warm-up epoch stood in where none was: it holds the conv-path dispatcher's timing of every new shape, and an
    audit's 240 RGB 20 x 20 images were planned at 2.2 s a step for the 0.07 s they took: 4 configurations of one
    epoch, the run over at 23 s of its 60.)"""
    from autofast.engine import Run, cosine, train_epoch
    from autofast.engine.fused import train_fused_epoch

    steps = max(1, min(4, len(x) // max(batch, 1)))
    xs, ys = x[: steps * batch], y[: steps * batch]
    models = model if isinstance(model, list) else [model]
    runs = [Run.create(m, sgd(m.parameters(), 1e-3, 0.9, 0.0), 0, cosine(1000.0)) for m in models]
    times = []
    for i in range(reps + warmup):
        t0 = time.perf_counter()
        if len(runs) == 1:
            record = train_epoch(runs[0], xs, ys, batch)
        else:
            record = train_fused_epoch(runs, xs, ys, batch)[0]
        if xs.is_cuda:
            torch.cuda.synchronize(xs.device)
        seconds = (time.perf_counter() - t0) / max(1, record["steps"])
        if i >= warmup:
            times.append(seconds)
        if deadline is not None and time.perf_counter() > deadline and times:
            return min(times)
    return min(times)


def epoch_seconds(model, x, y, batch: int, x_val=None, y_val=None) -> tuple[float, float]:
    """``(training, validation)`` seconds of one epoch of ``model`` over ``(x, y)`` at ``batch``, measured now
    and not cached (``dash`` prices its searched pattern with it, right after the search): the engine's step
    (:func:`_step_seconds` on two batches: one warm-up epoch, which also makes the conv-path dispatcher measure
    the network's training shapes -- work its first epoch would otherwise do -- then the faster of two timed)
    times the epoch's steps (:func:`autofast.engine.steps_per_epoch`), and one validation pass over
    ``(x_val, y_val)`` (after an untimed one that measures the evaluation shapes; 0 without). About a second on
    2 CPU cores for digits' WRN-16 at width 64, besides the warm-up. ``model`` takes a few SGD steps: pass a
    throwaway copy, on the data's device."""
    from autofast.engine import steps_per_epoch, task_validator

    b = max(1, min(batch, len(x)))
    step = _step_seconds(model, x[: 2 * b], y[: 2 * b], b, reps=2, warmup=1)
    val = 0.0
    if x_val is not None and len(x_val):
        validate = task_validator(x_val, y_val)
        validate(model)
        t0 = time.perf_counter()
        validate(model)  # reads its loss back: the device is synchronised
        val = time.perf_counter() - t0
    return steps_per_epoch(len(x), batch) * step, val


def _line(model_fn, x, y, b1: int, b2: int, deadline: float | None = None) -> tuple[float, float]:
    """(overhead, per_example) of a straight line through the step times at batches b1 < b2 (past ``deadline``
    after b1: half of its step taken as fixed, half as per example)."""
    t1 = _step_seconds(model_fn(), x, y, b1, deadline=deadline)
    if b2 <= b1 or (deadline is not None and time.perf_counter() > deadline):
        return t1 * 0.5, t1 * 0.5 / max(b1, 1)
    t2 = _step_seconds(model_fn(), x, y, b2, deadline=deadline)
    if t2 <= t1:  # a disturbed measurement: no fixed cost, all of the larger step per example
        return 0.0, t2 / b2
    per = (t2 - t1) / (b2 - b1)
    return max(t1 - per * b1, 0.0), per


COST_MODEL = 3  # part of the cache key: measurements of an earlier way of measuring are not reused
SUPERNET_FACTOR = 1.5  # DASH supernet step (search width) / final-network step (retrain width), estimated
#: runnable processes per usable CPU (1-minute load average) above which a measurement is not cached. The
#: average lags: right after an earlier search of ours it still reads ~1.0-1.15 on 2 cores (at 1.0, back-to-back
#: ACSF1 searches each measured afresh and planned 10 / 9 / 9 configurations); a neighbour's thread beside our
#: two reads 1.5
BUSY_LOAD = 1.25
#: CPU seconds per wall second below which a CPU measurement is taken as starved by neighbours (not cached)
MIN_CPU_SHARE = 0.5
#: the packages whose code sets what a training step costs (their sources are hashed into the cache key)
TIMED_CODE = ("autofast.engine", "autofast.models", "autofast.kernels")


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """A short hash of the Python sources of :data:`TIMED_CODE` (file names and contents): a cached step cost
    is reused only by the code that was timed."""
    from importlib.util import find_spec

    h = hashlib.sha256()
    for package in TIMED_CODE:
        for root in find_spec(package).submodule_search_locations:
            for f in sorted(Path(root).rglob("*.py")):
                h.update(f"{package}/{f.relative_to(root)}".encode())
                h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _load_per_cpu() -> float:
    """The 1-minute load average per CPU this process may use (0 where the OS does not say)."""
    from autofast.runtime import usable_cpus

    try:
        return os.getloadavg()[0] / max(1, usable_cpus())
    except (OSError, AttributeError):
        return 0.0


def _cache_file():
    from autofast.kernels.conv.conv_path import cache_file

    f = cache_file()
    return f.with_name(f.name.replace("conv_paths", "step_costs"))


def _cache_key(task, backbone, positional, width, search_width, supernet_factory, device, fused=0) -> str:
    from autofast.kernels.conv.conv_path import device_name

    space = None if supernet_factory is None else [list(supernet_factory.kernel_sizes),
                                                   list(supernet_factory.dilations), list(supernet_factory.extents)]
    return json.dumps([COST_MODEL, code_version(), device_name(torch.device(device)), torch.get_num_threads(), backbone,
                       positional, width, search_width, list(task.x_train.shape[1:]), len(task.x_train),
                       int(task.data.num_classes), space, int(fused)], separators=(",", ":"))


def measure(task, backbone: str, positional: bool, width: int, search_width: int, supernet_factory=None,
            device: str = "cpu", b1: int = 8, b2: int = 64, fused: int = 0, limit: float | None = None,
            networks: bool = True) -> StepCost:
    """:class:`StepCost` on the task's own training examples (no validation or test data read): the cached
    measurement for this machine and shapes, or a new one (then cached). ``fused``: where trials fuse, the
    group size whose fused step is timed too (0: none). ``limit``: seconds after which no timed epoch starts
    (a share of a given budget: 300 series of 3 000 steps took 95 s of a 25 s budget to measure). ``networks``
    False (``--arch rocket``): no network is timed, only the feature families' costs (from the shapes)."""
    if not networks:
        return _feature_costs(task)
    key = _cache_key(task, backbone, positional, width, search_width, supernet_factory, device, fused)
    file = _cache_file()
    try:
        cached = json.loads(file.read_text()).get(key) if os.environ.get("AUTOFAST_REMEASURE") != "1" else None
        if isinstance(cached, dict):
            return StepCost(**cached)
    except (OSError, ValueError, TypeError):
        pass  # no or unreadable cache: measure
    busy = _load_per_cpu()
    deadline = None if limit is None else time.perf_counter() + limit
    wall0, cpu0 = time.perf_counter(), time.process_time()
    cost = _measure(task, backbone, positional, width, search_width, supernet_factory, device, b1, b2, fused,
                    deadline)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    # the load average lags (it read 0.38 at the start of a measurement that got 13 s of CPU in 76 s): the share
    # of a core this process got while measuring says it too
    starved = device == "cpu" and wall > 1.0 and cpu < MIN_CPU_SHARE * wall
    if busy > BUSY_LOAD or starved or (deadline is not None and time.perf_counter() > deadline):
        return cost  # an oversubscribed machine, or cut short by the budget: this run's only, not kept for later
    try:
        try:
            entries = json.loads(file.read_text())
        except (OSError, ValueError):
            entries = {}
        entries[key] = asdict(cost)
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entries, indent=0))
        os.replace(tmp, file)
    except OSError:
        pass  # a read-only home is no reason to fail a run
    return cost


def _feature_costs(task) -> StepCost:
    """The feature families' costs, from the shapes (no network timed)."""
    values = 1
    for s in task.x_train.shape[1:]:
        values *= int(s)
    length = int(task.x_train.shape[-1])
    return StepCost(overhead=0.0, per_example=0.0, rocket_per_example=ROCKET_SECONDS_PER_VALUE * values,
                    hydra_per_example=HYDRA_SECONDS_PER_VALUE * length * len(hydra_dilations(length))
                    if task.x_train.dim() == 3 else 0.0)


def _measure(task, backbone, positional, width, search_width, supernet_factory, device, b1, b2, fused=0,
             deadline=None) -> StepCost:
    data = task.data
    n = len(task.x_train)
    b1, b2 = max(1, min(b1, n)), max(1, min(b2, n))
    x, y = task.x_train[: 4 * b2].to(device), task.y_train[: 4 * b2].to(device)
    in_ch = int(task.x_train.shape[1])

    def plain():
        with seeded_init(0):
            return build_backbone(backbone, data.ndim, in_ch, data.num_classes, width, fixed_factory([]),
                                  positional=positional).to(device)

    overhead, per = _line(plain, x, y, b1, b2, deadline)
    # the DASH supernet is not timed: its first steps make the conv-path dispatcher time every mixed-conv
    # shape (seconds for a ResNet1D, 90 s for a 2-D UNet on 2 cores), work that belongs to the DASH stage
    # (which stops at its own deadline). Measured ratio supernet / final-network step: 1.0 (splice) to 1.3
    # (JapaneseVowels) per example, 1.8 fixed; SUPERNET_FACTOR errs on the slow side.
    s_over, s_per = (SUPERNET_FACTOR * overhead, SUPERNET_FACTOR * per) if supernet_factory is not None else (0.0, 0.0)
    # where trials fuse: one step of `fused` networks as one fused model, the group ASHA's trials form
    f_over, f_per = (_line(lambda: [plain() for _ in range(fused)], x, y, b1, b2, deadline) if fused > 1
                     else (0.0, 0.0))
    return replace(_feature_costs(task), overhead=overhead, per_example=per, supernet_overhead=s_over,
                   supernet_per_example=s_per, fused_trials=fused if fused > 1 else 0, fused_overhead=f_over,
                   fused_per_example=f_per)
