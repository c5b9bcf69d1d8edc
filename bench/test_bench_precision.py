"""One DASH search epoch (splice, ResNet1D supernet, genomics space) in fp32 and under CPU autocast
(bf16): the engine's ``precision`` setting (``--precision``), same network, data and batches. The
numbers decide the CPU default (``autofast.engine.precision``: fp32 unless bf16 is faster).

Run: ``python -m pytest bench/test_bench_precision.py --benchmark-only``.
"""
from __future__ import annotations

import pytest

from test_bench_dash import _search_epoch


@pytest.mark.parametrize("width", [16, 64])
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_search_epoch_precision(benchmark, splice, monkeypatch, precision, width):
    monkeypatch.setenv("AUTOFAST_PRECISION", precision)  # read by every Run the epoch creates
    benchmark.group = f"dash search epoch by precision, splice, resnet1d width {width}"
    benchmark.extra_info.update(precision=precision, width=width, train_rows=len(splice.y_train))
    benchmark.pedantic(_search_epoch(splice, "resnet1d", 1, width, ((3, 5, 7, 9, 11), (1, 3, 5, 7))),
                       rounds=2, iterations=1, warmup_rounds=1)
