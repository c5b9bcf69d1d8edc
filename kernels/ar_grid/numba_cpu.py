"""numba CPU backend of the lag-grid AR solver (the CPU default): numpy float64 in, numpy out.

torch is never imported here, so ``python -m autofast forecast`` on a CPU does not pay for it.
Inputs may be any array-like (numpy arrays, CPU torch tensors); outputs are numpy arrays.

* ``window_moments``: the lagged sums over the windows for every lag at once (FFT cross-correlation,
  O(N log N) per channel), then an O(W) sliding update along the window positions per lag: O(N log N
  + W^2) work, O(W^2) memory per channel (or in all, ``pooled``) beside one channel group's spectra.
* ``ar_forecast_weights``: the companion recursion ``r_h = r_{h-1} C`` in O(q) per step.
* ``ar_grid_scores``: per candidate the weights ``M`` (q + 1, H), then the per-step squared error
  ``M_h' S M_h - 2 M_h' Sxy_h + syy_h`` either with one GEMM ``S_q @ M`` (O(q^2 H), any ``S``) or,
  when ``edges`` says ``S`` holds the moments of stride-1 windows, by the *shift recursion*
  (O(q^2 + K q H), K = channels pooled into ``S``): moving every window one step back changes ``S``
  only by the first and last windows' outer products, ``S[i+1, j+1] = S[i, j] + a_i a_j - b_i b_j``,
  and the companion step is such a shift, so ``r_{h+1}' S r_{h+1}`` follows from ``r_h' S r_h`` and
  2K + 3 dot products with r_h (one GEMM over all steps): O(q^2 + K q H) instead of O(q^2 H).
  Candidates are dealt to one thread per usable core, GIL released, single-threaded BLAS.
  (No numba ``prange``: its OpenMP workers spin while they wait, which beside a busy core measured
  4x slower than one thread; Python threads running nogil kernels sleep instead.)
* ``forecast_error_sums``: test errors of one model per channel, streamed in chunks of windows:
  one-step residuals ``e_t = y_t - c - sum_j psi_j y_{t-j}`` (O(q) per row), then every h-step
  error from the impulse response ``pi`` of the AR filter (``y_{T+h} - yhat_{T+h|T} =
  sum_{k<h} pi_k e_{T+h-k}``) in O(1) per (window, step). O(N (q + H)) per channel, memory
  O(chunk + H) per task; never windows x horizon x channels.
* ``nested_ols``: LAPACK Cholesky (scipy) of each Gram matrix; every nested order from one factor.

Compilation: every kernel has ONE signature (the wrappers hand it C-contiguous, writeable float64 /
int64 arrays and Python scalars, whatever the caller passed) and is cached on disk (``cache=True``:
``__pycache__`` beside this file, else ``NUMBA_CACHE_DIR`` or the user cache). ``make setup`` fills
the cache once (:mod:`autofast.forecast.warmup`), so no run pays the ~8 s compile. Where no cache
directory can be written, the kernels compile in memory on each run, with one warning.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numba as nb
import numpy as np
import scipy.linalg  # noqa: F401  loads the BLAS numba's np.dot calls, so threadpool_limits sees it
from scipy.linalg import lapack
from threadpoolctl import threadpool_limits

from ..numba_jit import njit

__all__ = ["window_moments", "ar_forecast_weights", "ar_grid_scores", "forecast_error_sums", "nested_ols"]

# Reductions may be reordered (vectorised); no other fast-math assumption (NaN/inf stay meaningful).
_FM = {"reassoc", "contract"}
# Default windows per forecast_error_sums task: buffers of ~2 x 64 KiB per task.
ERROR_CHUNK = 8192
# The shift recursion runs for orders q > SHIFT_FACTOR * (K + 2) (K: channels pooled into S), where
# its O(K q H) GEMM and O(q H) loops cost less than the direct path's O(q^2 H) GEMM.
SHIFT_FACTOR = 2
_W_BLOCK = 32  # shift candidates per S_q psi GEMM
_FFT_BYTES = 32 * 1024 * 1024  # spectra per channel group of the lagged sums


# --------------------------------------------------------------------------------------------- helpers

@njit(fastmath=_FM)
def _dot(x, y, n):
    acc = 0.0
    for t in range(n):
        acc += x[t] * y[t]
    return acc


# --------------------------------------------------------------------------------------------- kernels


def _lagged_sums(z: np.ndarray, W: int, start: int, count: int) -> np.ndarray:
    """``D[c, k] = sum_{t < count} x[start + t] x[start + t + k]`` (k < W), ``D[c, W] = sum_t x[start + t]``.

    All lags at once by FFT cross-correlation (O(T log T) per channel instead of O(T W)), channels in
    groups so the spectra stay within _FFT_BYTES. The error is ~1e-16 log2(T) of the channel's energy
    ``sum x^2`` (the diagonal of its moments): the size of plain float64 summation's rounding.
    """
    import scipy.fft as sf

    C = z.shape[0]
    D = np.zeros((C, W + 1))
    if count == 0:
        return D
    n = sf.next_fast_len(count + W - 1, real=True)
    group = max(1, _FFT_BYTES // (16 * n))
    workers = _n_threads()
    for c0 in range(0, C, group):
        a = z[c0 : c0 + group, start : start + count]
        fa = sf.rfft(a, n, axis=1, workers=workers)
        fb = sf.rfft(z[c0 : c0 + group, start : start + count + W - 1], n, axis=1, workers=workers)
        fb *= fa.conj()
        del fa
        D[c0 : c0 + group, :W] = sf.irfft(fb, n, axis=1, workers=workers)[:, :W]
        D[c0 : c0 + group, W] = a.sum(axis=1)
    return D


@njit(nogil=True)
def _window_moments(z, width, start, count, pooled, D):
    """Moments of every window from the lagged sums ``D`` (see _lagged_sums): O(C W^2), one thread."""
    C = z.shape[0]
    W = width
    out = np.zeros((1 if pooled else C, W + 1, W + 1))
    for k in range(W):  # diagonal k: the lag between two window positions
        for c in range(C):
            g = 0 if pooled else c
            x = z[c]
            # S[1 + i, 1 + i + k] = sum_{n < count} x[start + n + i] x[start + n + i + k], slid along i:
            # going from i - 1 to i adds window count - 1's product at i and drops window 0's at i - 1.
            v = D[c, k]
            for i in range(W - k):
                if i > 0:
                    a = start + i - 1
                    v += x[a + count] * x[a + count + k] - x[a] * x[a + k]
                out[g, 1 + i, 1 + i + k] += v
                if k > 0:
                    out[g, 1 + i + k, 1 + i] += v
            if k == 0:  # the constant row: sum_n x[start + n + i]
                v = D[c, W]
                for i in range(W):
                    if i > 0:
                        a = start + i - 1
                        v += x[a + count] - x[a]
                    out[g, 0, 1 + i] += v
                    out[g, 1 + i, 0] += v
                out[g, 0, 0] += count
    return out


@njit()
def _forecast_weights_one(psi_row, q, c, H, M):
    """Fill M[: q + 1, :H] for one candidate; r_h = e_1' C^h and b_h = c * sum_{k<h} r_k[0]."""
    if q == 0:
        for h in range(H):
            M[0, h] = c
        return
    r = np.zeros(q)
    r[0] = 1.0  # r_0 = e_1
    bsum = 0.0
    for h in range(H):
        bsum += r[0]
        r0 = r[0]
        for j in range(q - 1):
            r[j] = r0 * psi_row[j] + r[j + 1]
        r[q - 1] = r0 * psi_row[q - 1]
        M[0, h] = c * bsum
        for j in range(q):
            M[1 + j, h] = r[j]


@njit()
def _forecast_weights(psi, intercept, order, H):
    B, Q = psi.shape
    out = np.zeros((B, Q + 1, H))
    for b in range(B):
        _forecast_weights_one(psi[b], order[b], intercept[b], H, out[b])
    return out


@njit(fastmath=_FM)
def _sq_error_direct(S, Sxy, syy, M, q, acc):
    """acc[h] = M_h' S_q M_h - 2 M_h' Sxy_h + syy_h with one GEMM S_q @ M."""
    H = M.shape[1]
    T = np.dot(np.ascontiguousarray(S[: q + 1, : q + 1]), M)
    acc[:] = syy
    for i in range(q + 1):  # row-wise: contiguous in M and T
        for h in range(H):
            acc[h] += M[i, h] * (T[i, h] - 2.0 * Sxy[i, h])


@njit(fastmath=_FM)
def _sq_error_shift(S, SxyT, syy, psi_row, q, c, w, edgeT, acc):
    """The same as _sq_error_direct for stride-1 window moments S, in O(q H K) (w = S_q psi given).

    ``edgeT`` ``(>= q - 1, 2K)``: row l - 1 holds lag l of the window before the first (K columns) and
    of the last window (K columns), per channel pooled into S, so that for lags i, j >= 1
    ``S[i+1, j+1] = S[i, j] + sum_K (alpha_i alpha_j - beta_i beta_j)``. With the companion step
    ``r_{h+1} = rho psi + U r_h`` (rho = r_h[lag 1], U shifts lags up by one) the quadratic form
    ``P_h = r_h' S_q r_h`` then follows from the previous one:
    ``P_{h+1} = rho^2 (P_0 + S[1,1]) + 2 rho (w . U r_h - (S_q r_h)[lag 1]) + P_h - sum_K (A^2 - B^2)``,
    ``A = alpha . U r_h``, ``B = beta . U r_h``; every dot with r_h is one GEMM ``RT @ V`` over all steps.
    """
    H = SxyT.shape[0]
    K2 = edgeT.shape[1]
    RT = np.empty((H, q))  # r_h as rows
    for j in range(q):
        RT[0, j] = psi_row[j]
    for h in range(1, H):
        rho = RT[h - 1, 0]
        for j in range(q - 1):
            RT[h, j] = rho * psi_row[j] + RT[h - 1, j + 1]
        RT[h, q - 1] = rho * psi_row[q - 1]
    V = np.empty((q, K2 + 3))  # columns: alpha.., beta.. (shifted), w (shifted), S[lag 1, :], S[const, :]
    for k in range(K2 + 1):
        V[0, k] = 0.0
    for j in range(1, q):
        for k in range(K2):
            V[j, k] = edgeT[j - 1, k]
        V[j, K2] = w[j - 1]
    for j in range(q):
        V[j, K2 + 1] = S[1, 1 + j]
        V[j, K2 + 2] = S[0, 1 + j]
    G = np.dot(RT, V)  # (H, K2 + 3)
    K = K2 // 2
    P0 = _dot(psi_row, w, q)
    P = P0
    S00 = S[0, 0]
    S11 = S[1, 1]
    bsum = 1.0
    for h in range(H):
        if h > 0:
            rho = RT[h - 1, 0]
            ab = 0.0
            for k in range(K):
                ab += G[h - 1, k] * G[h - 1, k] - G[h - 1, K + k] * G[h - 1, K + k]
            P = rho * rho * (P0 + S11) + 2.0 * rho * (G[h - 1, K2] - G[h - 1, K2 + 1]) + P - ab
            bsum += rho
        b = c * bsum
        quad = b * b * S00 + 2.0 * b * G[h, K2 + 2] + P
        cross = b * SxyT[h, 0] + _dot(RT[h], SxyT[h, 1:], q)
        acc[h] = quad - 2.0 * cross + syy[h]


@njit(nogil=True)
def _ar_grid_scores(psi, intercept, order, S, S1, Sxy, SxyT, syy, count, edgeT, shift_min_q, perm, out):
    # One worker thread's share of the candidates (perm: descending order q), single-threaded BLAS.
    # Shift-recursion candidates first: w = S_q psi for a block of them in one GEMM with S1's leading rows.
    # (Stacking equal-order candidates into one wider GEMM for the direct path measured 1.5-2x slower.)
    H = Sxy.shape[1]
    acc = np.empty(H)
    n_shift = 0
    while n_shift < perm.shape[0] and order[perm[n_shift]] > shift_min_q:
        n_shift += 1
    for b0 in range(0, n_shift, _W_BLOCK):
        b1 = min(n_shift, b0 + _W_BLOCK)
        qmax = order[perm[b0]]
        Pb = np.empty((b1 - b0, qmax))
        for t in range(b0, b1):
            Pb[t - b0] = psi[perm[t], :qmax]
        Wb = np.dot(Pb, S1[:qmax])  # (n, Q); row t: S_Q psi, whose leading q entries are S_q psi
        for t in range(b0, b1):
            b = perm[t]
            _sq_error_shift(S, SxyT, syy, psi[b], order[b], intercept[b], Wb[t - b0], edgeT, acc)
            for h in range(H):
                out[b, h] = acc[h] / count
    for t in range(n_shift, perm.shape[0]):
        b = perm[t]
        q = order[b]
        M = np.zeros((q + 1, H))
        _forecast_weights_one(psi[b], q, intercept[b], H, M)
        _sq_error_direct(S, Sxy, syy, M, q, acc)
        for h in range(H):
            out[b, h] = acc[h] / count


@njit(nogil=True, fastmath=_FM)
def _forecast_error_sums(z, psi, intercept, order, start, count, lookback, H, chunk, tasks, parts):
    # One worker thread's share: task = channel * n_chunks + chunk of windows; parts[task] = its sums.
    n_chunks = (count + chunk - 1) // chunk
    for task in tasks:
        c = task // n_chunks
        n0 = start + (task % n_chunks) * chunk
        nw = min(start + count, n0 + chunk) - n0  # windows n0 .. n0 + nw - 1
        q = order[c]
        pi = np.zeros(H)  # impulse response of 1 / (1 - sum_j psi_j B^j)
        pi[0] = 1.0
        for k in range(1, H):
            acc = 0.0
            for j in range(1, min(k, q) + 1):
                acc += psi[c, j - 1] * pi[k - j]
            pi[k] = acc
        m = nw + H - 1
        coef = np.empty(q)  # psi in forward time order: multiplies z[row - q : row]
        for j in range(q):
            coef[j] = psi[c, q - 1 - j]
        x = z[c]
        eps = np.empty(m)  # eps[t]: one-step residual at row n0 + lookback + t
        for t in range(m):
            row = n0 + lookback + t
            eps[t] = x[row] - intercept[c] - _dot(coef, x[row - q : row], q)
        a = eps.copy()  # a[n]: the (h+1)-step error of window n0 + n, sum_{k<=h} pi_k eps[n + h - k]
        for h in range(H):
            s2 = 0.0
            s1 = 0.0
            if h + 1 < H:  # the update reads a[n + 1], n + 1 < nw + H - 1 - h: inside the buffer
                p = pi[h + 1]
                for n in range(nw):  # sums of step h, then a[n] moves on to step h + 1 (a[n + 1]: still h's)
                    e = a[n]
                    s2 += e * e
                    s1 += abs(e)
                    a[n] = a[n + 1] + p * eps[n]
                for n in range(nw, m - h - 1):
                    a[n] = a[n + 1] + p * eps[n]
            else:
                for n in range(nw):
                    e = a[n]
                    s2 += e * e
                    s1 += abs(e)
            parts[task, 0, h] = s2
            parts[task, 1, h] = s1


# --------------------------------------------------------------------------------------------- Python side


def _n_threads() -> int:
    """Worker threads (candidate pool, error-sum tasks, FFT workers): ``AUTOFAST_NUM_THREADS``, else numba's
    thread count (what :func:`autofast.runtime.configure` set: ``--threads``, else the CPUs this process may use),
    at most the CPUs this process may use."""
    env = os.environ.get("AUTOFAST_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    from autofast.runtime import usable_cpus

    return max(1, min(nb.get_num_threads(), usable_cpus()))


def _pool_map(fn, items: list) -> None:
    """Run ``fn`` (a nogil numba kernel) on each item, one Python thread per item (threads sleep while
    they wait: no OpenMP spinning against a busy neighbour), single-threaded BLAS inside."""
    with threadpool_limits(1):
        if len(items) == 1:
            fn(items[0])
        else:
            with ThreadPoolExecutor(len(items)) as pool:
                list(pool.map(fn, items))


def _f64(a) -> np.ndarray:
    """C-contiguous writeable float64 (a read-only or strided input would be another numba signature)."""
    out = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
    return out if out.flags.writeable else out.copy()


def _orders(psi: np.ndarray, order) -> np.ndarray:
    if order is not None:
        q = np.ascontiguousarray(np.asarray(order).reshape(-1).astype(np.int64))
        if q.shape[0] != psi.shape[0] or (q.size and (q.min() < 0 or q.max() > psi.shape[1])):
            raise ValueError(f"order must hold {psi.shape[0]} values in 0..{psi.shape[1]}")
        return q
    nz = psi != 0
    last = psi.shape[1] - np.argmax(nz[:, ::-1], axis=1)
    return np.where(nz.any(axis=1), last, 1).astype(np.int64)


def window_moments(z, width: int, start: int, count: int, pooled: bool = False) -> np.ndarray:
    """Second moments of stride-1 windows; same contract as :func:`reference.window_moments_ref`.

    Args:
        z: ``(C, T)`` series (converted to float64).
        width: window length W; windows start at ``n = start .. start + count - 1`` and cover
            ``z[:, n : n + W]`` (requires ``start + count - 1 + W <= T``).
        pooled: sum over the channels in the kernel (output ``(1, W + 1, W + 1)``).
    Returns:
        ``(C, W + 1, W + 1)`` float64 numpy array ``sum_n v_n v_n'``, ``v_n = [1, z[n], ..., z[n+W-1]]``.
    """
    zz = _f64(z)
    width, start, count = int(width), int(start), int(count)
    if zz.ndim != 2:
        raise ValueError(f"z must be (C, T), got shape {zz.shape}")
    if width < 1 or start < 0 or count < 0 or (count > 0 and start + count - 1 + width > zz.shape[1]):
        raise ValueError(f"windows [{start}, {start + count - 1} + {width}) do not fit a series of length {zz.shape[1]}")
    return _window_moments(zz, width, start, count, bool(pooled), _lagged_sums(zz, width, start, count))


def ar_forecast_weights(psi, intercept, horizon: int, order=None) -> np.ndarray:
    """Recursive H-step forecast weights; same contract as :func:`reference.ar_forecast_weights_ref`.

    Args:
        psi: ``(B, Q)`` level AR coefficients, lag order; intercept: ``(B,)``; horizon: H >= 1.
        order: optional ``(B,)`` orders q (only ``psi[b, :q]`` is used); default: the last non-zero.
    Returns:
        ``(B, Q + 1, H)`` float64 numpy array (rows beyond ``q + 1`` are zero).
    """
    p = _f64(psi)
    return _forecast_weights(p, _f64(intercept).reshape(-1), _orders(p, order), int(horizon))


def ar_grid_scores(psi, intercept, S, Sxy, syy, count: int, order=None, edges=None) -> np.ndarray:
    """Per-step validation MSE of every candidate; same contract as :func:`reference.ar_grid_scores_ref`.

    Args:
        psi: ``(B, Q)`` level AR coefficients (lag order), Q <= L; intercept: ``(B,)``.
        S: ``(L + 1, L + 1)`` lag-ordered window moments; Sxy: ``(L + 1, H)``; syy: ``(H,)``; count: N.
        order: optional ``(B,)`` orders q (skips zero tails); default: the last non-zero of each row.
        edges: optional ``(alpha, beta)``, each ``(K, >= Q - 1)``: lags 1.. of the window before the
            first one and of the last window, for each of the K channels whose stride-1 window moments
            were summed into ``S`` (see :func:`autofast.forecast.grid.window_lag_moments`). Given, large
            orders use the O(K q H) shift recursion; the result is the same to rounding.
    Returns:
        ``(B, H)`` float64 numpy array.
    """
    p = _f64(psi)
    q = _orders(p, order)
    S_, Sxy_, syy_ = _f64(S), _f64(Sxy), _f64(syy).reshape(-1)
    B, Q = p.shape
    H = Sxy_.shape[1]
    if Q + 1 > S_.shape[0] or Q + 1 > Sxy_.shape[0]:
        raise ValueError(f"psi has Q={Q} lags but S/Sxy only cover L={min(S_.shape[0], Sxy_.shape[0]) - 1}")
    if edges is None:
        edgeT = np.zeros((max(Q - 1, 1), 2))
        shift_min_q = np.iinfo(np.int64).max
    else:
        alpha, beta = _f64(edges[0]), _f64(edges[1])
        if alpha.ndim != 2 or alpha.shape != beta.shape or alpha.shape[1] < Q - 1:
            raise ValueError(f"edges must be two (K, >= {Q - 1}) arrays, got {alpha.shape} and {beta.shape}")
        edgeT = np.ascontiguousarray(np.concatenate([alpha, beta]).T)  # (lags, 2K)
        shift_min_q = SHIFT_FACTOR * (alpha.shape[0] + 2)
    out = np.full((B, H), np.nan)
    S1 = np.ascontiguousarray(S_[1 : Q + 1, 1 : Q + 1])
    args = (p, _f64(intercept).reshape(-1), q, S_, S1, Sxy_, np.ascontiguousarray(Sxy_.T), syy_, float(count), edgeT,
            int(shift_min_q))
    # Largest orders first, dealt round-robin to one thread per core; each thread runs its GEMMs on a
    # single-threaded BLAS. (Multithreaded BLAS per small GEMM measured 1.5-6x slower and erratic on a
    # shared 2-core machine; BLAS inside numba prange oversubscribes.)
    n = max(1, min(_n_threads(), len(q) // 32))  # small grids: no pool (its start-up costs ~1 ms)
    order_desc = np.argsort(-q, kind="stable").astype(np.int64)
    _pool_map(lambda share: _ar_grid_scores(*args, share, out), [np.ascontiguousarray(order_desc[i::n]) for i in range(n)])
    return out


def forecast_error_sums(z, psi, intercept, start: int, count: int, lookback: int, horizon: int,
                        order=None, chunk: int = ERROR_CHUNK) -> np.ndarray:
    """Squared and absolute recursive-forecast errors of one model per channel, summed over windows.

    Args:
        z: ``(C, T)`` series. Window n (``start <= n < start + count``) has inputs
            ``z[:, n : n + lookback]`` and targets ``z[:, n + lookback : n + lookback + horizon]``.
        psi: ``(C, Q)`` level AR coefficients of channel c's model (lag order), Q <= lookback;
            intercept: ``(C,)``; order: optional ``(C,)`` orders (default: the last non-zero).
        chunk: windows per task; memory is O(chunk + H) per task, never O(count x H).
    Returns:
        ``(C, 2, H)`` float64: ``[:, 0, h]`` the sum over windows of the squared (h+1)-step error,
        ``[:, 1, h]`` of its absolute value.
    """
    zz, p = _f64(z), _f64(psi)
    c = _f64(intercept).reshape(-1)
    q = _orders(p, order)
    start, count, lookback, horizon, chunk = int(start), int(count), int(lookback), int(horizon), int(chunk)
    if zz.ndim != 2 or p.shape[0] != zz.shape[0] or c.shape[0] != zz.shape[0]:
        raise ValueError(f"psi {p.shape} and intercept {c.shape} need one row per channel of z {zz.shape}")
    if p.shape[1] > lookback or horizon < 1 or chunk < 1 or count < 1 or start < 0:
        raise ValueError(f"need Q={p.shape[1]} <= lookback={lookback}, horizon, chunk, count >= 1, start >= 0")
    if start + count - 1 + lookback + horizon > zz.shape[1]:
        raise ValueError(f"windows {start}..{start + count - 1} (+{lookback + horizon}) exceed the series ({zz.shape[1]})")
    n_chunks = -(-count // chunk)
    parts = np.zeros((zz.shape[0] * n_chunks, 2, horizon))
    tasks = np.arange(parts.shape[0], dtype=np.int64)
    n = max(1, min(_n_threads(), tasks.size))
    _pool_map(lambda share: _forecast_error_sums(zz, p, c, q, start, count, lookback, horizon, chunk, share, parts),
              [np.ascontiguousarray(tasks[i::n]) for i in range(n)])
    return parts.reshape(zz.shape[0], n_chunks, 2, horizon).sum(axis=1)  # fixed order: any thread count


def nested_ols(gram, rhs, jitter: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Every leading-block order's OLS solution from one LAPACK Cholesky per group.

    Same contract as :func:`reference.nested_ols` (``coefs[g, k - 1, :k]`` solves the order-k system):

    Args:
        gram: ``(G, K, K)`` symmetric positive (semi)definite; rhs: ``(G, K)``; jitter: ridge
            ``jitter * mean(diag)`` on the diagonal.
    Returns:
        coefs ``(G, K, K)`` float64 (lower triangular), ok ``(G,)`` bool (False: factorisation failed).
    """
    A, r = _f64(gram), _f64(rhs)
    G, K = A.shape[0], A.shape[-1]
    coefs = np.zeros((G, K, K))
    ok = np.ones(G, dtype=bool)
    with threadpool_limits(1):  # 2-thread OpenBLAS took 0.9 s instead of 0.05 s (K = 513) beside a busy core
        for g in range(G):
            _nested_one(A[g], r[g], jitter, coefs[g], ok, g)
    return coefs, ok


def _nested_one(Ag: np.ndarray, rg: np.ndarray, jitter: float, out: np.ndarray, ok: np.ndarray, g: int) -> None:
    """One group of :func:`nested_ols`: writes ``out`` (K, K), or sets ``ok[g] = False``."""
    K = Ag.shape[0]
    if jitter > 0:
        Ag = Ag + jitter * max(float(np.diag(Ag).mean()), 1e-300) * np.eye(K)
    L, info = lapack.dpotrf(Ag, lower=1, clean=1)
    if info == 0:
        Linv, info = lapack.dtrtri(L, lower=1)
    if info != 0:
        ok[g] = False
        return
    u = Linv @ rg
    out[:] = np.tril(np.cumsum(Linv * u[:, None], axis=0))  # [k-1, i] = sum_{j<=k-1} Linv[j,i] u[j]
