"""Backend selection for the lag-grid AR solver."""
from __future__ import annotations

import importlib
import importlib.util
import os
import warnings
from dataclasses import dataclass
from typing import Callable

import torch

_MODULES = {"reference": ".reference_backend", "numba": ".numba_cpu", "triton": ".triton_gpu"}
_warned: set[str] = set()


@dataclass(frozen=True)
class ARBackend:
    """The three solver ops of one backend; all take and return float64 torch tensors."""

    name: str
    device: torch.device
    window_moments: Callable[..., torch.Tensor]
    ar_forecast_weights: Callable[..., torch.Tensor]
    ar_grid_scores: Callable[..., torch.Tensor]


def _importable(name: str) -> bool:
    if name == "numba":
        return importlib.util.find_spec("numba") is not None
    if name == "triton":
        if importlib.util.find_spec("triton") is None:
            return False
        return torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"
    return True


def available_backends() -> list[str]:
    """Backends usable in this process, fastest first."""
    order = ["triton", "numba", "reference"] if torch.cuda.is_available() else ["numba", "triton", "reference"]
    return [b for b in order if _importable(b)]


def get_backend(name: str = "auto", device: str = "auto") -> ARBackend:
    """Return a backend by name ('auto', 'reference', 'numba', 'triton').

    ``device`` is 'auto', 'cpu' or 'cuda'. 'auto' prefers triton on a CUDA device, else numba on the
    CPU. The environment variable ``AUTOFAST_AR_BACKEND`` overrides an 'auto' name. A backend that
    cannot load falls back to the reference with a one-time warning, never an import error.
    """
    name = os.environ.get("AUTOFAST_AR_BACKEND", name) if name == "auto" else name
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device; use --device cpu or auto")
    if name == "auto":
        name = "triton" if device == "cuda" and _importable("triton") else ("numba" if _importable("numba") else "reference")
    if name not in _MODULES:
        raise ValueError(f"unknown AR backend {name!r}; choose one of auto, {', '.join(_MODULES)}")
    if name == "numba" and device == "cuda":
        raise ValueError("the numba backend runs on the CPU; use --device cpu or the triton backend")
    if name == "triton" and device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        raise ValueError("the triton backend on the CPU needs TRITON_INTERPRET=1 set before start-up")
    try:
        mod = importlib.import_module(_MODULES[name], __package__)
    except Exception as exc:  # missing optional dependency or failed compile
        if name not in _warned:
            warnings.warn(f"AR backend {name!r} unavailable ({exc}); falling back to the torch reference", stacklevel=2)
            _warned.add(name)
        mod, name = importlib.import_module(_MODULES["reference"], __package__), "reference"
    return ARBackend(name, torch.device(device), mod.window_moments, mod.ar_forecast_weights, mod.ar_grid_scores)
