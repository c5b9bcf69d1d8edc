"""One training epoch of the retrain network (the network ASHA trials and the final retrain train): the
backbone with autofast's convs (each on the path the dispatcher measured fastest) vs the SAME backbone
built from plain ``nn.Conv1d`` / ``nn.Conv2d`` with the same (kernel, dilation, stride) pattern, through
the same training loop (``autofast.engine``), same data, same batches.

Target (issue 10): autofast no slower than 1.1x the plain model. The dispatcher's one-time measurement
happens in the warm-up round (and is cached on disk), not in the timed rounds.

Run: ``python -m pytest bench/test_bench_epoch.py --benchmark-only``.
"""
from __future__ import annotations

import pytest
import torch
from torch import nn

from autofast.engine import Run, train_epoch
from autofast.models import build_backbone, fixed_factory

# representative DASH patterns (the genomics and 2-D spaces), cycled over the searchable layers
SPLICE_PATTERN = [(7, 3), (5, 1), (9, 5), (3, 7), (11, 1), (5, 3), (7, 1), (3, 5), (9, 3), (5, 7)]
DIGITS_PATTERN = [(3, 1), (5, 1), (3, 3), (7, 1), (5, 3), (9, 1), (3, 7), (5, 1), (7, 3), (3, 1), (9, 3), (5, 7),
                  (3, 15)]


def plain_factory(pattern):
    """A conv factory of plain torch convs: ``nn.ConvNd(k, stride, padding=d(k-1)/2, dilation=d)``."""

    def make(index, cin, cout, stride, ndim):
        k, d = pattern[index]
        conv = nn.Conv1d if ndim == 1 else nn.Conv2d
        return conv(cin, cout, k, stride, d * (k - 1) // 2, d, bias=False)

    return make


def _epoch_fn(task, backbone, ndim, width, factory):
    torch.manual_seed(0)
    model = build_backbone(backbone, ndim, int(task.x_train.shape[1]), task.data.num_classes, width, factory)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    run = Run.create(model, opt, seed=0)
    return lambda: train_epoch(run, task.x_train, task.y_train, 64)


@pytest.mark.parametrize("width", [32, 64])
@pytest.mark.parametrize("impl", ["autofast", "plain_torch"])
def test_retrain_epoch_resnet1d_splice(benchmark, splice, impl, width):
    factory = fixed_factory(SPLICE_PATTERN) if impl == "autofast" else plain_factory(SPLICE_PATTERN)
    benchmark.group = f"retrain epoch, splice, resnet1d width {width}"
    benchmark.extra_info.update(impl=impl, width=width, train_rows=len(splice.y_train), threads=torch.get_num_threads())
    benchmark.pedantic(_epoch_fn(splice, "resnet1d", 1, width, factory), rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["autofast", "plain_torch"])
def test_retrain_epoch_wrn16_digits(benchmark, digits, impl):
    factory = fixed_factory(DIGITS_PATTERN) if impl == "autofast" else plain_factory(DIGITS_PATTERN)
    benchmark.group = "retrain epoch, digits, wrn16 width 32"
    benchmark.extra_info.update(impl=impl, width=32, train_rows=len(digits.y_train), threads=torch.get_num_threads())
    benchmark.pedantic(_epoch_fn(digits, "wrn16", 2, 32, factory), rounds=3, iterations=1, warmup_rounds=1)
