"""numba CPU kernel of the MiniRocket transform: the 84 fixed kernels' dilated convolutions fused with their
PPV features, one series at a time, so each combination's output (L float32 values) stays in cache while its
biases are counted against it.

Each kernel is -1 at its 9 taps and 2 at three of them and sums to zero, so its output is
``alpha + G_a + G_b + G_c`` with ``D_j[t] = x[t + (j - 4) d] - x[t]`` (zero padding outside the series),
``alpha = -sum_j D_j`` (shared by all 84 kernels) and ``G_j = 3 D_j``: 3 additions per output and channel
instead of 9 multiply-adds, as in the paper, and exactly 0 wherever the 9 taps read equal values. Every sum runs in a fixed order (no fast-math), so the same series gives bit-identical outputs in
:func:`combination_outputs` (the fit) and :func:`transform` (the biases fitted on a training series are
compared against exactly the values they were fitted on).

Threads: rows are dealt to Python threads running the nogil kernel (they sleep while they wait; numba's
``prange`` workers spin, which measured 4x slower beside a busy core in :mod:`..ar_grid.numba_cpu`).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..numba_jit import njit

__all__ = ["combination_outputs", "transform"]

KERNEL_LENGTH = 9
NUM_KERNELS = 84


@njit(nogil=True)
def _prepare(x, d, use, raw, g, alpha):
    """For the channels ``use`` ``(C,)`` picks of series ``x`` ``(C, L)`` at dilation d, with ``D_j[t] = x[t + (j - 4) d] - x[t]`` (0 outside):
    ``g[c, j] = 3 D_j`` ``(C, 9, L)`` and ``alpha[c] = -sum_j D_j`` ``(C, L)`` (added left to right).
    ``raw`` is scratch of at least L + 8 d values. Differences to the centre tap make a flat stretch
    exactly 0 (the kernels sum to zero), not rounding noise around a bias of 0."""
    c_count, length = x.shape
    pad = 4 * d
    for c in range(c_count):
        if not use[c]:
            continue
        xc, a = x[c], alpha[c]
        raw[:] = 0.0
        for t in range(length):
            raw[pad + t] = xc[t]
        a[:] = 0.0
        for j in range(KERNEL_LENGTH):
            rj, gj = raw[j * d:j * d + length], g[c, j]
            for t in range(length):
                diff = rj[t] - xc[t]
                a[t] -= diff
                gj[t] = 3.0 * diff


@njit(nogil=True)
def _combination(mask_row, taps_row, g, alpha, y):
    """``y`` ``(L,)``: the kernel with 2-weights at ``taps_row`` (3,) summed over the channels ``mask_row``
    (C,) picks (at least one). Slices, not 2-D indexing, in the inner loops: LLVM vectorises them (7x)."""
    length = y.shape[0]
    a, b, c3 = taps_row[0], taps_row[1], taps_row[2]
    first = True
    for c in range(mask_row.shape[0]):
        if mask_row[c]:
            al, ga, gb, gc = alpha[c], g[c, a], g[c, b], g[c, c3]
            if first:
                for t in range(length):
                    y[t] = ((al[t] + ga[t]) + gb[t]) + gc[t]
                first = False
            else:
                for t in range(length):
                    y[t] += ((al[t] + ga[t]) + gb[t]) + gc[t]


@njit(nogil=True)
def _count_above(values, bias):
    count = 0
    for t in range(values.shape[0]):
        if values[t] > bias:
            count += 1
    return count


@njit(nogil=True)
def _outputs(x, d, mask, taps, examples, out):
    """``out[k]`` ``(84, L)``: combination k's output on series ``examples[k]`` of ``x`` ``(N, C, L)``."""
    _, c_count, length = x.shape
    raw = np.empty(length + 8 * d, np.float32)
    g = np.empty((c_count, KERNEL_LENGTH, length), np.float32)
    alpha = np.empty((c_count, length), np.float32)
    for k in range(NUM_KERNELS):
        _prepare(x[examples[k]], d, mask[k], raw, g, alpha)
        _combination(mask[k], taps[k], g, alpha, out[k])


@njit(nogil=True)
def _transform_rows(x, dilations, per_dilation, mask, used, taps, biases, out, start, stop):
    """PPV features of rows ``start:stop`` of ``x`` ``(N, C, L)`` into ``out`` ``(N, F)``, F ordered
    (dilation, kernel, feature); combination (i, k) pools over all L outputs when ``(i + k)`` is even, else
    over ``[4 d, L - 4 d)``. ``used`` ``(D, C)``: the channels any combination at a dilation reads."""
    _, c_count, length = x.shape
    widest = 8 * dilations.max()
    raw = np.empty(length + widest, np.float32)
    g = np.empty((c_count, KERNEL_LENGTH, length), np.float32)
    alpha = np.empty((c_count, length), np.float32)
    y = np.empty(length, np.float32)
    for n in range(start, stop):
        offset = 0
        for i in range(dilations.shape[0]):
            d = dilations[i]
            nf = per_dilation[i]
            _prepare(x[n], d, used[i], raw[:length + 8 * d], g, alpha)
            for k in range(NUM_KERNELS):
                _combination(mask[i, k], taps[k], g, alpha, y)
                pooled = y if (i + k) % 2 == 0 else y[4 * d:length - 4 * d]
                for f in range(nf):
                    out[n, offset + k * nf + f] = _count_above(pooled, biases[offset + k * nf + f]) / pooled.shape[0]
            offset += NUM_KERNELS * nf


def _f32(a) -> np.ndarray:
    out = np.ascontiguousarray(np.asarray(a, dtype=np.float32))
    return out if out.flags.writeable else out.copy()


def _i64(a) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(a, dtype=np.int64))


def combination_outputs(x, dilation: int, mask, taps, examples) -> np.ndarray:
    """The 84 combinations' 'same'-padded outputs at one dilation, each on its own series.

    Args:
        x: ``(N, C, L)`` series (float32; L >= 9).
        dilation: the dilation d >= 1.
        mask: ``(84, C)`` bool, the channels each combination sums.
        taps: ``(84, 3)`` int64, the positions of each kernel's 2-weights.
        examples: ``(84,)`` int64, the series each combination runs on.

    Returns:
        ``(84, L)`` float32, bit-identical to what :func:`transform` compares for those series.
    """
    x = _f32(x)
    out = np.empty((NUM_KERNELS, x.shape[2]), np.float32)
    _outputs(x, int(dilation), np.ascontiguousarray(mask, dtype=np.uint8), _i64(taps), _i64(examples), out)
    return out


def transform(x, dilations, per_dilation, mask, taps, biases, threads: int = 1, out=None) -> np.ndarray:
    """MiniRocket PPV features of every series.

    Args:
        x: ``(N, C, L)`` series (float32), L > 8 * max(dilations).
        dilations, per_dilation: ``(D,)`` int64, the dilations and the features per kernel at each.
        mask: ``(D, 84, C)`` bool, the channels each (dilation, kernel) combination sums.
        taps: ``(84, 3)`` int64, the positions of each kernel's 2-weights.
        biases: ``(F,)`` float32, F = 84 * sum(per_dilation), ordered (dilation, kernel, feature).
        threads: worker threads (rows are split among them).
        out: optional ``(N, F)`` float32 C-contiguous array to write into.

    Returns:
        ``(N, F)`` float32: the share of a combination's outputs above each bias.
    """
    x = _f32(x)
    dilations, per_dilation, taps = _i64(dilations), _i64(per_dilation), _i64(taps)
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    used = np.ascontiguousarray(mask.any(axis=1), dtype=np.uint8)
    biases = _f32(biases)
    n = x.shape[0]
    if out is None:
        out = np.empty((n, biases.shape[0]), np.float32)
    elif out.shape != (n, biases.shape[0]) or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous float32 array of shape {(n, biases.shape[0])}, got "
                         f"{out.dtype} {out.shape}")

    def rows(span):
        _transform_rows(x, dilations, per_dilation, mask, used, taps, biases, out, span[0], span[1])

    parts = max(1, min(n, 4 * int(threads)))  # a few spans per thread: a slowed thread holds up less
    edges = np.linspace(0, n, parts + 1).astype(np.int64)
    spans = [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]
    if threads <= 1 or len(spans) == 1:
        for s in spans:
            rows(s)
    else:
        with ThreadPoolExecutor(int(threads)) as pool:
            list(pool.map(rows, spans))
    return out
