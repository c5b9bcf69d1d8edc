"""One DASH search epoch on splice (ResNet1D supernet, genomics space K{3..11} x D{1,3,5,7}): the
mixed layers computed by autofast's union-of-taps kernels vs DASH's FFT mixture, same network,
same data, same batches.

Run: ``python -m pytest bench/test_bench_dash.py --benchmark-only``.
"""
from __future__ import annotations

import pytest
import torch

from conv_anchors import fft_mixture

from autofast.dash.supernet import MixedFactory
from autofast.dash.train import TrainSettings, train
from autofast.data.classification import load_task
from autofast.kernels.conv import MixedDilatedConv
from autofast.models import build_backbone


def _fft_forward(self, x, a=None):
    if a is None:
        a = x.new_full((len(self.candidates),), 1.0 / len(self.candidates))
    y = fft_mixture(x, list(self.weights), a, self.candidates, self.groups)
    return y if self.bias is None else y + self.bias.view((1, -1) + (1,) * self.ndim)


@pytest.fixture(scope="module")
def splice():
    return load_task("splice", seed=0)


@pytest.mark.parametrize("width", [16, 64])
@pytest.mark.parametrize("impl", ["autofast", "fft_mixture"])
def test_one_search_epoch(benchmark, splice, monkeypatch, impl, width):
    if impl == "fft_mixture":
        monkeypatch.setattr(MixedDilatedConv, "forward", _fft_forward)
    t = splice

    def epoch():
        torch.manual_seed(0)
        net = build_backbone("resnet1d", 1, 4, 3, width, MixedFactory((3, 5, 7, 9, 11), (1, 3, 5, 7)))
        train(net, t.x_train, t.y_train, t.x_val, t.y_val, TrainSettings(epochs=1, batch_size=64), search=True)

    benchmark.group = f"dash search epoch, splice, resnet1d width {width}"
    benchmark.extra_info.update(impl=impl, width=width, train_rows=len(t.y_train))
    benchmark.pedantic(epoch, rounds=2, iterations=1, warmup_rounds=1)
