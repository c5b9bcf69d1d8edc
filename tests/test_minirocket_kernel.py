"""The fused MiniRocket conv + PPV kernel (autofast.kernels.minirocket.numba_cpu) against a float64
F.conv1d reference on fresh random inputs, outputs poisoned with NaN first so an unwritten element fails."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

numba_cpu = pytest.importorskip("autofast.kernels.minirocket.numba_cpu")

TAPS = np.array(list(combinations(range(9), 3)), dtype=np.int64)  # (84, 3)


def _reference_outputs(x: np.ndarray, d: int, mask: np.ndarray) -> torch.Tensor:
    """``(N, 84, L)`` float64: each kernel ('same' zero padding, dilation d) over the channels ``mask`` picks."""
    w = torch.full((84, 9), -1.0, dtype=torch.float64)
    w.scatter_(1, torch.from_numpy(TAPS), 2.0)
    xs = torch.from_numpy(x).double()
    per_channel = torch.stack([F.conv1d(xs[:, c:c + 1], w.unsqueeze(1), padding=4 * d, dilation=d)
                               for c in range(x.shape[1])], dim=2)  # (N, 84, C, L)
    return (per_channel * torch.from_numpy(mask).double()[None, :, :, None]).sum(2)


def _draw(seed: int, n: int, c: int, length: int, num_dilations: int):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c, length)) * rng.uniform(0.1, 10)).astype(np.float32)
    mask = rng.random((num_dilations, 84, c)) < 0.5
    mask[:, :, 0] |= ~mask.any(-1)  # every combination reads at least one channel
    return rng, x, mask


@pytest.mark.parametrize("c,length,d", [(1, 50, 1), (3, 64, 3), (5, 9, 1), (2, 120, 14)])
def test_combination_outputs_match_float64(seed, c, length, d):
    rng, x, mask = _draw(seed, 6, c, length, 1)
    examples = rng.integers(0, 6, 84)
    ours = torch.from_numpy(numba_cpu.combination_outputs(x, d, mask[0], TAPS, examples)).double()
    ref = _reference_outputs(x, d, mask[0])[torch.from_numpy(examples), torch.arange(84)]  # (84, L)
    scale = float(np.abs(x).max()) * 9 * c
    assert ours.shape == ref.shape and torch.isfinite(ours).all()
    assert (ours - ref).abs().max() <= 4e-7 * scale  # float32 sums of <= 9 C terms of size |x|


@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("c,length,dilations", [(1, 80, [1, 2, 5]), (4, 41, [1, 4]), (2, 300, [1, 7, 30])])
def test_transform_matches_float64_counts(seed, threads, c, length, dilations):
    rng, x, mask = _draw(seed, 7, c, length, len(dilations))
    per_dilation = rng.integers(1, 4, len(dilations))
    total = 84 * int(per_dilation.sum())
    biases = (rng.standard_normal(total) * np.abs(x).max() * 2).astype(np.float32)
    out = np.full((7, total), np.nan, np.float32)  # poison: an unwritten feature stays NaN
    got = numba_cpu.transform(x, np.array(dilations), per_dilation, mask, TAPS, biases, threads=threads, out=out)
    assert got is out and np.isfinite(out).all()
    ours = torch.from_numpy(out).double()
    # float64 PPV, with the bias moved by +-eps to bracket what float32 rounding can flip
    eps = 4e-7 * float(np.abs(x).max()) * 9 * c
    lo, hi, exact = [], [], []
    offset = 0
    for i, (d, nf) in enumerate(zip(dilations, per_dilation.tolist())):
        y = _reference_outputs(x, d, mask[i])  # (N, 84, L)
        b = torch.from_numpy(biases[offset:offset + 84 * nf]).double().view(84, nf)
        for k in range(84):
            yk = y[:, k] if (i + k) % 2 == 0 else y[:, k, 4 * d:length - 4 * d]
            for margin, acc in ((eps, lo), (-eps, hi), (0.0, exact)):
                acc.append((yk.unsqueeze(1) > (b[k] + margin).view(1, -1, 1)).double().mean(-1))
        offset += 84 * nf
    lo, hi, exact = (torch.cat(a, dim=1) for a in (lo, hi, exact))
    assert torch.all(ours >= lo - 1e-6) and torch.all(ours <= hi + 1e-6)
    assert (ours - exact).abs().gt(1e-6).float().mean() <= 1e-3


def test_transform_refuses_a_wrong_out_array():
    _, x, mask = _draw(0, 3, 1, 30, 1)
    biases = np.zeros(84, np.float32)
    for out in (np.empty((3, 83), np.float32), np.empty((3, 84), np.float64), np.empty((84, 3), np.float32).T):
        with pytest.raises(ValueError, match="out must be"):
            numba_cpu.transform(x, np.array([1]), np.array([1]), mask, TAPS, biases, out=out)
