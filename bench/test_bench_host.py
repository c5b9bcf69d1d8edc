"""The host-CPU families beside the device stages (:mod:`autofast.search.host`) vs in line: the weighted-degree
kernel SVM's candidate fit on splice (what a DNA search fits before selection) and the work of the device
stages, one after the other (the anchor: what ``search`` does on a CPU, and did on GPUs, where the plan then
left the kernel SVM out of a ~100 s budget) or at once (the SVM in the worker process, the training here).

On a GPU machine the device stages leave the host's cores idle; here the stand-in for them is the plain
network training on one CPU thread while the worker gets the machine's other core (1 thread each, both
cases). The beside case includes starting the worker (a fresh interpreter importing torch) and pickling the
task both ways; the SVM's validation scores are checked equal in both.

Run: ``python -m pytest bench/test_bench_host.py --benchmark-only`` (2+ cores).
"""
from __future__ import annotations

import time

import pytest
import torch

from autofast.engine import Run, cosine, seeded_init, sgd, train_epoch
from autofast.models import build_backbone, fixed_factory
from autofast.search import wd_family
from autofast.search.host import HostWorker

EPOCHS = 6  # plain-network epochs on one thread: about the kernel SVM's fit on one thread


def _train(task, epochs: int) -> float:
    with seeded_init(0):
        model = build_backbone("resnet1d", 1, int(task.x_train.shape[1]), task.data.num_classes, 64,
                               fixed_factory([(3, 1)] * 10), positional=True)
    run = Run.create(model, sgd(model.parameters(), 0.05, 0.9, 5e-4), 0, cosine(epochs))
    t0 = time.perf_counter()
    for _ in range(epochs):
        train_epoch(run, task.x_train, task.y_train, 64)
    return time.perf_counter() - t0


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("impl", ["in_line", "beside"])
def test_kernel_svm_and_training(benchmark, splice, one_thread, impl):
    out = {}

    def in_line():
        t0 = time.perf_counter()
        out["cand"] = wd_family.candidate(splice, None, 0, "cpu")
        out["svm_s"] = time.perf_counter() - t0
        out["train_s"] = _train(splice, EPOCHS)

    def beside():
        with HostWorker(threads=1) as worker:
            future = worker.candidate("wd", splice, None, 0, {})
            out["train_s"] = _train(splice, EPOCHS)
            out["cand"] = worker.result(future, lambda: pytest.fail("the worker died"))
            out["svm_s"], out["waited_s"] = out["cand"]["seconds"], worker.waited

    benchmark.group = f"kernel SVM fit (splice) + {EPOCHS} training epochs, 1 thread each"
    benchmark.pedantic(in_line if impl == "in_line" else beside, rounds=1, iterations=1)
    ref = wd_family.candidate(splice, None, 0, "cpu") if impl == "beside" else out["cand"]
    assert torch.equal(out["cand"]["held_out"], ref["held_out"])
    benchmark.extra_info.update(impl=impl, svm_s=round(out["svm_s"], 2), train_s=round(out["train_s"], 2),
                                waited_s=round(out.get("waited_s", 0.0), 2), val_acc=out["cand"]["val_acc"])
