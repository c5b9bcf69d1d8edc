"""Backend selection for the lag-grid AR solver.

Importing this module, and choosing the numba backend, never imports torch: whether a GPU might be
present is decided from the driver's device nodes first, and torch is asked only where one exists
(or where a torch backend, ``reference`` / ``triton``, is asked for).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

_MODULES = {"reference": ".reference_backend", "numba": ".numba_cpu", "triton": ".triton_gpu"}
_GPU_NODES = ("/dev/nvidiactl", "/dev/nvidia0", "/dev/kfd")  # NVIDIA driver; ROCm's kernel driver
_warned: set[str] = set()


@dataclass(frozen=True)
class ARBackend:
    """The solver ops of one backend and how to move arrays in and out of its native type.

    numba: numpy arrays in and out (``asarray``/``to_numpy`` are no-op conversions). reference and
    triton: float64 torch tensors on ``device``. Callers hold numpy arrays and convert at the boundary:
    ``backend.to_numpy(backend.window_moments(backend.asarray(z), ...))``.
    """

    name: str
    device: str  # "cpu" or "cuda"
    window_moments: Callable[..., Any]
    ar_forecast_weights: Callable[..., Any]
    ar_grid_scores: Callable[..., Any]
    forecast_error_sums: Callable[..., Any]
    nested_ols: Callable[..., Any]
    asarray: Callable[[np.ndarray], Any]
    to_numpy: Callable[[Any], np.ndarray]


def _gpu_nodes_present() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return any(os.path.exists(p) for p in _GPU_NODES)


def cuda_available() -> bool:
    """Whether torch sees a CUDA device; imports torch only where a GPU driver is present (or torch
    is already loaded), so a CPU-only machine answers False without paying for the import."""
    if "torch" not in sys.modules and not _gpu_nodes_present():
        return False
    import torch

    return torch.cuda.is_available()


def _importable(name: str) -> bool:
    if name == "numba":
        return importlib.util.find_spec("numba") is not None
    if name == "triton":
        if importlib.util.find_spec("triton") is None:
            return False
        return os.environ.get("TRITON_INTERPRET") == "1" or cuda_available()
    return True


def available_backends() -> list[str]:
    """Backends usable in this process, fastest first."""
    order = ["triton", "numba", "reference"] if cuda_available() else ["numba", "triton", "reference"]
    return [b for b in order if _importable(b)]


def _numpy_io() -> tuple[Callable, Callable]:
    return np.ascontiguousarray, np.asarray


def _torch_io(device: str) -> tuple[Callable, Callable]:
    import torch

    dev = torch.device(device)

    def asarray(a: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(a)).to(dev)

    def to_numpy(t) -> np.ndarray:
        return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)

    return asarray, to_numpy


def get_backend(name: str = "auto", device: str = "auto") -> ARBackend:
    """Return a backend by name ('auto', 'reference', 'numba', 'triton').

    ``device`` is 'auto', 'cpu' or 'cuda'. 'auto' prefers triton on a CUDA device, else numba on the
    CPU. The environment variable ``AUTOFAST_AR_BACKEND`` overrides an 'auto' name. A backend that
    cannot load falls back to the reference with a one-time warning, never an import error.
    """
    name = os.environ.get("AUTOFAST_AR_BACKEND", name) if name == "auto" else name
    if name not in ("auto", *_MODULES):
        raise ValueError(f"unknown AR backend {name!r}; choose one of auto, {', '.join(_MODULES)}")
    if device == "auto":
        device = "cuda" if name != "numba" and cuda_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; choose auto, cpu or cuda")
    if device == "cuda" and not cuda_available():
        raise ValueError("device 'cuda' requested but torch sees no CUDA device; use --device cpu or auto")
    if name == "auto":
        name = "triton" if device == "cuda" and _importable("triton") else ("numba" if _importable("numba") else "reference")
        if name == "numba" and device == "cuda":
            name = "reference"
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
    asarray, to_numpy = _numpy_io() if name == "numba" else _torch_io(device)
    return ARBackend(name, device, mod.window_moments, mod.ar_forecast_weights, mod.ar_grid_scores,
                     mod.forecast_error_sums, mod.nested_ols, asarray, to_numpy)
