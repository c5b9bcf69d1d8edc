"""Fused trials vs the same trials one after another: one training epoch of N ASHA-like trials (one
architecture, each its own lr / momentum / weight decay / seed) on splice, through the engine's loop.

The anchor is the obvious way to train N trials on one device: one ``train_epoch`` after another. Fusion
pays where one small model leaves the device idle and the step is bound by the host dispatching kernels
(a GPU; on the CPU a narrow network comes closest). So besides the time, each case records the
operators it dispatches per training step (``ops_per_step``, views excluded: on a GPU each is a kernel
launch), the quantity fusion has to keep near one trial's for N trials to cost about one.

Issue 21 asks >= 3x the ASHA throughput of one trial per device on a GPU: run this file there
(``bench/gpu_session.sh`` does) with CUDA present; here it measures the CPU.

Run: ``python -m pytest bench/test_bench_fused.py --benchmark-only``.
"""
from __future__ import annotations

import collections

import pytest
import torch

from autofast.engine import Run, cosine, seeded_init, sgd, train_epoch
from autofast.engine.fused import train_fused_epoch
from autofast.models import build_backbone, fixed_factory

DEVICE = "cuda:0" if torch.cuda.is_available() else "cpu"
PATTERN = [(3, 1)] * 10  # the plain network's pattern: ASHA's "plain" architecture
VIEWS = {"aten::slice", "aten::detach", "aten::view", "aten::as_strided", "aten::reshape", "aten::chunk",
         "aten::split", "aten::split_with_sizes", "aten::unsqueeze", "aten::expand", "aten::transpose", "aten::t",
         "aten::permute", "aten::select", "aten::alias", "aten::squeeze", "aten::flatten", "aten::_reshape_alias",
         "aten::narrow", "aten::unbind", "aten::empty", "aten::empty_like", "aten::empty_strided",
         "aten::_unsafe_view", "aten::result_type", "aten::_has_compatible_shallow_copy_type", "aten::set_",
         "aten::lift_fresh", "aten::resolve_conj", "aten::resolve_neg"}


def _runs(task, n: int, width: int) -> list[Run]:
    runs = []
    for i in range(n):
        with seeded_init(i):
            model = build_backbone("resnet1d", 1, int(task.x_train.shape[1]), task.data.num_classes, width,
                                   fixed_factory(PATTERN), dropout=0.0, positional=True)
        model.to(DEVICE)
        opt = sgd(model.parameters(), 0.01 * (i + 1), 0.9, 5e-4)
        runs.append(Run.create(model, opt, i, cosine(50)))
    return runs


def _ops_per_step(epoch, steps: int) -> float:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        epoch()
    count = collections.Counter(e.name for e in prof.events() if e.name.startswith("aten::")
                                and (e.cpu_parent is None or not e.cpu_parent.name.startswith("aten::")))
    return sum(v for k, v in count.items() if k not in VIEWS) / steps


@pytest.mark.parametrize("width", [8, 64])
@pytest.mark.parametrize("n", [4, 8])
@pytest.mark.parametrize("impl", ["fused", "one_after_another"])
def test_epoch_of_n_trials(benchmark, splice, impl, n, width):
    x, y = splice.x_train.to(DEVICE), splice.y_train.to(DEVICE)
    runs = _runs(splice, n, width)
    if impl == "fused":
        epoch = lambda: train_fused_epoch(runs, x, y, 64)  # noqa: E731
    else:
        epoch = lambda: [train_epoch(r, x, y, 64) for r in runs]  # noqa: E731

    def timed():
        epoch()
        if DEVICE.startswith("cuda"):
            torch.cuda.synchronize()

    timed()  # warm-up (conv-path measurement, allocator)
    steps = runs[0].history[-1]["steps"]
    benchmark.group = f"epoch of {n} trials, splice, resnet1d width {width}, {DEVICE}"
    benchmark.extra_info.update(impl=impl, n=n, width=width, device=DEVICE, steps=steps,
                                ops_per_step=round(_ops_per_step(epoch, steps), 1), threads=torch.get_num_threads())
    benchmark.pedantic(timed, rounds=3, iterations=1)
