"""What a training step costs on this machine, measured before the plan (:mod:`.plan`) is made: a few
forward+backward+SGD steps of the final network (plain pattern, the retrain width) at two batch sizes, and
of the DASH supernet at the search width (its first call also makes the conv-path dispatcher measure its
shapes, work the DASH stage would do anyway). About a second or two on 2 CPU cores for splice."""
from __future__ import annotations

import statistics
import time

import torch

from autofast.engine import seeded_init, sgd, task_loss
from autofast.models import build_backbone, fixed_factory

from .plan import StepCost

ROCKET_SECONDS_PER_VALUE = 2.5e-7  # transform + ridge, per example per input value (C x L), 2 CPU cores


def _step_seconds(model, x, y, reps: int = 3) -> float:
    opt = sgd(model.parameters(), 1e-3, 0.9, 0.0)
    model.train()
    times = []
    for i in range(reps + 1):
        t0 = time.perf_counter()
        loss = task_loss(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if x.is_cuda:
            torch.cuda.synchronize(x.device)
        if i:  # the first step warms up (allocations, conv-path measurement)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _line(model_fn, x, y, b1: int, b2: int) -> tuple[float, float]:
    """(overhead, per_example) of a straight line through the step times at batches b1 < b2."""
    t1 = _step_seconds(model_fn(), x[:b1], y[:b1])
    if b2 <= b1:
        return t1 * 0.5, t1 * 0.5 / max(b1, 1)
    t2 = _step_seconds(model_fn(), x[:b2], y[:b2])
    per = max((t2 - t1) / (b2 - b1), 1e-9)
    return max(t1 - per * b1, 0.0), per


def measure(task, backbone: str, positional: bool, width: int, search_width: int, supernet_factory=None,
            device: str = "cpu", b1: int = 8, b2: int = 32) -> StepCost:
    """Measure :class:`StepCost` on the task's own training examples (no validation or test data read)."""
    data = task.data
    n = len(task.x_train)
    b1, b2 = max(1, min(b1, n)), max(1, min(b2, n))
    x, y = task.x_train[:b2].to(device), task.y_train[:b2].to(device)
    in_ch = int(task.x_train.shape[1])

    def plain():
        with seeded_init(0):
            return build_backbone(backbone, data.ndim, in_ch, data.num_classes, width, fixed_factory([]),
                                  positional=positional).to(device)

    overhead, per = _line(plain, x, y, b1, b2)
    s_over, s_per = 0.0, 0.0
    if supernet_factory is not None:
        def supernet():
            with seeded_init(0):
                return build_backbone(backbone, data.ndim, in_ch, data.num_classes, search_width, supernet_factory,
                                      positional=positional).to(device)

        s_over, s_per = _line(supernet, x, y, b1, b2)
    values = 1
    for s in task.x_train.shape[1:]:
        values *= int(s)
    return StepCost(overhead=overhead, per_example=per, supernet_overhead=s_over, supernet_per_example=s_per,
                    rocket_per_example=ROCKET_SECONDS_PER_VALUE * values)
