"""Compile the numba kernels into numba's on-disk cache once, so the first forecast or MiniRocket fit is as fast
as later ones.

``python -m autofast.forecast.warmup`` (``make setup`` runs it after ``pip install -e``): runs the whole
Auto-AR pipeline on a tiny synthetic series -- pooled and per channel, every differencing order, with and
without intercept, orders on both scoring paths (direct and shift recursion), the test stage and the
forecast weights -- and fits and applies a MiniRocket transform on a few tiny series, so every numba kernel
compiles with the one signature a real run uses (the kernel
wrappers normalise their inputs: C-contiguous writeable float64/int64 arrays, Python scalars) and numba
writes it to its cache (``__pycache__`` beside ``kernels/*/numba_cpu.py``, or ``NUMBA_CACHE_DIR``).
Later processes load the machine code instead of compiling it (~8 s for the AR kernels, ~3 s for MiniRocket). Where no cache directory is
writable the kernels still run, compiled in memory (one warning), and the warm-up says so.
"""
from __future__ import annotations

import sys
import time


def _dispatchers(module) -> dict:
    return {name: obj for name, obj in vars(module).items() if hasattr(obj, "signatures") and hasattr(obj, "py_func")}


def _kernel_modules() -> list:
    from autofast.kernels.ar_grid import numba_cpu as ar_grid
    from autofast.kernels.minirocket import numba_cpu as minirocket

    return [ar_grid, minirocket]


def kernel_signatures() -> dict[str, list[str]]:
    """The signatures each numba kernel (``module.name``) has compiled (or loaded from the cache) here."""
    return {f"{m.__name__.split('.')[-2]}.{name}": [str(s) for s in disp.signatures]
            for m in _kernel_modules() for name, disp in _dispatchers(m).items()}


def warm_up() -> dict:
    """Run every numba kernel once on tiny inputs; returns what was compiled and where it is cached.

    Returns:
        ``{"seconds", "kernels": {name: [signature, ...]}, "cached": bool, "cache_dirs": [...]}``.
    """
    import numpy as np

    from autofast.data.timeseries import PreparedSeries, SeriesData
    from autofast.forecast import AutoARConfig, run_autoar
    from autofast.forecast.autoar import window_forecasts
    from autofast.kernels.ar_grid import get_backend
    from autofast.kernels.numba_jit import cache_ok
    from autofast.models.rocket import RocketTransform

    t0 = time.perf_counter()
    backend = get_backend("numba", "cpu")
    rng = np.random.default_rng(0)
    y = np.zeros((400, 2))
    e = rng.standard_normal((400, 2))
    for t in range(2, 400):  # a stationary AR(2) per channel, plus a little drift
        y[t] = 0.5 * y[t - 1] - 0.2 * y[t - 2] + e[t]
    y += np.linspace(0.0, 1.0, 400)[:, None]
    ps = PreparedSeries.build("warmup", SeriesData.from_array(y), "ratio")
    # lookback 16 / max order 12: orders > SHIFT_FACTOR * (K + 2) take the shift recursion (K = 2 pooled,
    # 1 per channel), the smaller ones the direct GEMM path: both are compiled.
    cfg = dict(horizons=[1, 5], lookback=16, max_order=12, backend="numba", device="cpu")
    for pooling in ("global", "per-channel"):
        results, _ = run_autoar(ps, AutoARConfig(pooling=pooling, **cfg))
        r = results[-1]
        window_forecasts(ps.z, r.chosen, r.test_start + np.arange(3), r.lookback, r.horizon, backend)
    run_autoar(ps, AutoARConfig(selection="bic", refit="train+val", **cfg))
    RocketTransform(num_features=168, backend="numba").fit_transform(rng.standard_normal((4, 2, 20)))
    dirs = sorted({str(getattr(getattr(d, "_cache", None), "cache_path", "")) for m in _kernel_modules()
                   for d in _dispatchers(m).values()} - {""})
    return {"seconds": time.perf_counter() - t0, "kernels": kernel_signatures(), "cached": cache_ok(),
            "cache_dirs": dirs}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m autofast.forecast.warmup``."""
    try:
        import numba  # noqa: F401
    except ImportError:
        print("autofast warm-up: numba is not installed; nothing to compile", file=sys.stderr)
        return 0
    info = warm_up()
    ready = sum(1 for v in info["kernels"].values() if v)  # helpers count where compiled, not where loaded inlined
    where = ("cached in " + ", ".join(info["cache_dirs"])) if info["cached"] else "NOT cached (no writable cache directory)"
    print(f"autofast warm-up: {ready} numba kernels compiled or loaded in {info['seconds']:.1f} s; {where}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
