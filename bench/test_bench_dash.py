"""One DASH search epoch (the supernet trained by the engine: weights and alpha jointly, Gumbel
mixtures, arch-gradient normalisation, rf penalty): the mixed layers computed by autofast (each on
its measured-fastest exact path) vs DASH's FFT mixture, same network, same data, same batches.

* splice: ResNet1D supernet, genomics space K{3..11} x D{1,3,5,7} (35-tap union);
* digits: WRN-16 supernet, 2-D space K{3,5,7,9} x D{1,3,7,15} (313-tap union, 8x8 images).

Target (issue 10): autofast at least 2x faster than the FFT mixture for the whole epoch.

Run: ``python -m pytest bench/test_bench_dash.py --benchmark-only``.
"""
from __future__ import annotations

import pytest

from conv_anchors import fft_mixture

from autofast.dash.supernet import MixedFactory
from autofast.dash.train import TrainSettings, train
from autofast.engine import seeded_init
from autofast.kernels.conv import MixedDilatedConv
from autofast.models import build_backbone


def _fft_forward(self, x, a=None):
    if a is None:
        a = x.new_full((len(self.candidates),), 1.0 / len(self.candidates))
    y = fft_mixture(x, list(self.weights), a, self.candidates, self.groups)
    if self.stride > 1:  # DASH computes strided layers at full resolution, then subsamples
        y = y[(Ellipsis,) + (slice(None, None, self.stride),) * self.ndim]
    return y if self.bias is None else y + self.bias.view((1, -1) + (1,) * self.ndim)


def _search_epoch(t, backbone, ndim, width, space, fraction=1.0):
    def epoch():
        with seeded_init(0):
            net = build_backbone(backbone, ndim, int(t.x_train.shape[1]), t.data.num_classes, width, MixedFactory(*space))
        train(net, t.x_train, t.y_train, t.x_val, t.y_val,
              TrainSettings(epochs=1, batch_size=64, rf_penalty=0.01, batch_fraction=fraction), search=True)

    return epoch


@pytest.mark.parametrize("width", [16, 64])
@pytest.mark.parametrize("impl", ["autofast", "fft_mixture"])
def test_one_search_epoch(benchmark, splice, monkeypatch, impl, width):
    if impl == "fft_mixture":
        monkeypatch.setattr(MixedDilatedConv, "forward", _fft_forward)
    benchmark.group = f"dash search epoch, splice, resnet1d width {width}"
    benchmark.extra_info.update(impl=impl, width=width, train_rows=len(splice.y_train))
    benchmark.pedantic(_search_epoch(splice, "resnet1d", 1, width, ((3, 5, 7, 9, 11), (1, 3, 5, 7))),
                       rounds=2, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("impl", ["autofast", "fft_mixture"])
def test_one_search_epoch_digits(benchmark, digits, monkeypatch, impl):
    if impl == "fft_mixture":
        monkeypatch.setattr(MixedDilatedConv, "forward", _fft_forward)
    # DASH's reference budget: 20% of the batches per search epoch (the FFT anchor needs minutes per
    # full epoch here: every candidate becomes a 121x121 dense kernel on 8x8 images). The autofast
    # warm-up round holds the one-time path measurements; the anchor has nothing to warm up.
    benchmark.group = "dash search epoch (20% of batches), digits, wrn16 width 16"
    benchmark.extra_info.update(impl=impl, width=16, train_rows=len(digits.y_train), batch_fraction=0.2)
    benchmark.pedantic(_search_epoch(digits, "wrn16", 2, 16, ((3, 5, 7, 9), (1, 3, 7, 15)), fraction=0.2),
                       rounds=2, iterations=1, warmup_rounds=1 if impl == "autofast" else 0)
