"""``njit``: numba's ``njit(cache=True)`` for every numba kernel in :mod:`autofast.kernels`, with one fallback.

Kernels are cached on disk (``__pycache__`` beside their file, else ``NUMBA_CACHE_DIR`` or the user cache), so
only the first run after an install pays the compile (``make setup`` pays it: :mod:`autofast.forecast.warmup`).
Where numba has no writable cache directory (read-only package dir, home and ``NUMBA_CACHE_DIR``: it raises at
decoration) the kernels compile in memory on first use, after one warning for the whole process.
"""
from __future__ import annotations

import warnings

import numba as nb

__all__ = ["njit", "cache_ok"]

_STATE = {"cache_ok": True}


def cache_ok() -> bool:
    """False once numba found no writable cache directory (kernels then compile in memory on each run)."""
    return _STATE["cache_ok"]


def njit(**opts):
    """``numba.njit(cache=True, **opts)``, or ``numba.njit(**opts)`` where nothing can be cached."""
    def deco(fn):
        if _STATE["cache_ok"]:
            try:
                return nb.njit(cache=True, **opts)(fn)
            except RuntimeError as exc:  # "cannot cache function ...: no locator available for file ..."
                _STATE["cache_ok"] = False
                warnings.warn(f"numba cannot write a kernel cache ({exc}); the numba kernels compile in memory on "
                              "each run (seconds): set NUMBA_CACHE_DIR to a writable directory to keep them",
                              RuntimeWarning, stacklevel=2)
        return nb.njit(**opts)(fn)
    return deco
