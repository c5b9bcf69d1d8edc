"""The tap convolution as registered PyTorch ops, and the dispatch over its backends.

``tap_conv(x, w, offsets, groups)`` computes ``y[b,o,p] = sum_u sum_i w[o,i,u] x[b, g(o) Cin_g + i, p + off_u]``
('same' zero padding, stride 1) for 1-D ``(B, C, L)`` and 2-D ``(B, C, H, W)`` inputs, dense
(``groups=1``) or depthwise (``groups = Cin = Cout``). Both public conv ops reduce to it.

Registered ops (``torch.ops.autofast``; each with a fake implementation, an autograd formula and
autocast rules, :mod:`.op_rules`; so they compose with ``torch.compile(fullgraph=True)``,
``torch.export`` and ``FakeTensorMode``):

* ``tap_conv(Tensor x, Tensor w, int[] offsets, int groups, str backend) -> Tensor`` -- the host
  backends below; ``offsets`` flattened row-major (``ndim = x.dim() - 2``).
* ``tap_conv_wgrad(Tensor x, Tensor g, int[] offsets, int groups, str backend) -> Tensor`` -- the
  weight gradient ``(Cout, Cin_g, U)``, exact zeros at taps that cannot touch the input.
* ``tap_conv_triton`` / ``tap_conv_wgrad_triton`` -- the Triton kernels (``torch.library.triton_op``,
  :mod:`.tap_conv_triton`).

Backends (``backend=`` or the ``AUTOFAST_CONV_BACKEND`` environment variable):

* ``triton`` -- CUDA tensors (or the CPU under ``TRITON_INTERPRET=1``); the 'auto' choice on CUDA.
* ``cpu`` -- the C++/OpenMP extension ``autofast._C`` for depthwise; dense CPU convs use ``shift``/``fft``.
* ``shift`` -- pure torch: one shifted slice per tap (a per-tap GEMM when dense). Exact, no build.
* ``fft`` -- dense convs only: FFT convolution with the scattered kernel; 'auto' picks it on the
  CPU for dense convs whose live tap count makes the FFT cheaper (:func:`.tap_conv_fft.fft_is_cheaper`).
* ``reference`` -- F.conv with the dense scattered kernel (the test reference; does the most work).

Taps that can only read padding (|offset| >= size in some dim) are dropped before any kernel runs;
which ones is decided from the shapes alone (:func:`.taps.live_slots`). Precision: fp16/bf16 inputs
run the host backends in float32 (fp32 accumulation, output in the input dtype); the Triton kernels
accumulate in fp32. ``w`` is cast to ``x.dtype`` by :func:`tap_conv` (under autocast both go to the
autocast dtype first, as for ``F.conv``).
"""
from __future__ import annotations

import importlib.util
import os
import warnings
from typing import Sequence

import torch
import torch.nn.functional as F

from .op_rules import register_rules
from .reference import tap_conv_ref, tap_conv_wgrad_ref
from .taps import Taps, as_taps, device_index, flat_taps, live_slots, radius, taps_tensor, unflat_taps

BACKENDS = ("auto", "triton", "cpu", "shift", "fft", "reference")
_HALF = (torch.float16, torch.bfloat16)
_HAS_TRITON = importlib.util.find_spec("triton") is not None
_warned: set[str] = set()


def _warn_once(key: str, msg: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(msg, stacklevel=3)


def _cpu_ext():
    """The C++ extension wrapper, or None when ``autofast._C`` is not built."""
    try:
        from . import tap_conv_cpu

        return tap_conv_cpu if tap_conv_cpu.available() else None
    except (ImportError, AttributeError):
        return None


def _triton_ok(x: torch.Tensor) -> bool:
    return _HAS_TRITON and (x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1")


def resolve_backend(x: torch.Tensor, groups: int, backend: str = "auto") -> str:
    """The backend that will run for this input (after fallbacks); 'dense-cpu' means shift or fft,
    chosen from the live taps by :func:`host_backend`."""
    if backend == "auto":
        backend = os.environ.get("AUTOFAST_CONV_BACKEND", "auto") or "auto"
    if backend not in BACKENDS:
        raise ValueError(f"unknown conv backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    depthwise = groups > 1 and groups == x.shape[1]
    if backend == "auto":
        if x.is_cuda:
            return "triton" if _triton_ok(x) else "shift"
        return "cpu" if depthwise else "dense-cpu"
    if backend == "triton" and not _triton_ok(x):
        raise ValueError("the triton conv backend needs CUDA tensors (or TRITON_INTERPRET=1 for CPU tensors)")
    if backend == "cpu":
        if x.is_cuda:
            raise ValueError("the cpu conv backend needs CPU tensors; move them or use backend='triton'")
        if not depthwise:
            return "dense-cpu"
    if backend == "fft" and groups != 1:
        raise ValueError("the fft conv backend handles dense convs (groups=1) only")
    return backend


def host_backend(x: torch.Tensor, taps: Taps, groups: int, backend: str) -> tuple[str, tuple[int, ...]]:
    """What a host-op call runs: ``(backend, live tap slots)``; from shapes and the tap set alone."""
    resolved = resolve_backend(x, groups, backend)
    if resolved == "triton":
        raise ValueError("the triton backend runs as torch.ops.autofast.tap_conv_triton; call tap_conv()")
    live = live_slots(taps, x.shape[2:])
    if resolved == "dense-cpu":
        from .tap_conv_fft import fft_is_cheaper

        live_taps = tuple(taps[u] for u in live)
        resolved = "fft" if fft_is_cheaper(x, len(live), radius(live_taps)) else "shift"
    return resolved, live


def direct_backend(x: torch.Tensor, groups: int, backend: str = "auto") -> str:
    """The tap path's backend without the FFT (the conv path dispatcher measures 'fft' on its own):
    'shift' (per-tap GEMMs) for dense CPU convs; otherwise ``backend`` unchanged."""
    if backend == "auto" and groups == 1 and not x.is_cuda and os.environ.get("AUTOFAST_CONV_BACKEND", "auto") == "auto":
        return "shift"
    return backend


# ------------------------------------------------------------------------------------- shift backend


def _shifted(xp: torch.Tensor, off: tuple[int, ...], r: int, spatial: tuple[int, ...]) -> torch.Tensor:
    if len(spatial) == 1:
        return xp[:, :, r + off[0] : r + off[0] + spatial[0]]
    return xp[:, :, r + off[0] : r + off[0] + spatial[0], r + off[1] : r + off[1] + spatial[1]]


def _shift_fwd(x: torch.Tensor, w: torch.Tensor, taps: Taps, groups: int) -> torch.Tensor:
    ndim = x.dim() - 2
    spatial = tuple(x.shape[2:])
    B, Cin = x.shape[:2]
    Cout = w.shape[0]
    r = radius(taps)
    xp = F.pad(x, [r, r] * ndim)
    y = x.new_zeros(B, Cout, *spatial)
    if groups == 1:
        yv = y.view(B, Cout, -1)
        for u, off in enumerate(taps):
            yv.add_(torch.matmul(w[:, :, u], _shifted(xp, off, r, spatial).reshape(B, Cin, -1)))
    elif groups == Cin == Cout and w.shape[1] == 1:
        view = (1, Cout) + (1,) * ndim
        for u, off in enumerate(taps):
            y.add_(w[:, 0, u].view(view) * _shifted(xp, off, r, spatial))
    else:
        return tap_conv_ref(x, w, taps, groups)
    return y


def _shift_wgrad(x: torch.Tensor, g: torch.Tensor, taps: Taps, groups: int) -> torch.Tensor:
    ndim = x.dim() - 2
    spatial = tuple(x.shape[2:])
    B, Cin = x.shape[:2]
    Cout = g.shape[1]
    if groups not in (1, Cin):
        return tap_conv_wgrad_ref(x, g, taps, groups)
    r = radius(taps)
    xp = F.pad(x, [r, r] * ndim)
    out = x.new_empty(Cout, Cin // groups, len(taps))
    gv = g.reshape(B, Cout, -1)
    for u, off in enumerate(taps):
        xs = _shifted(xp, off, r, spatial).reshape(B, Cin, -1)
        if groups == 1:
            out[:, :, u] = torch.einsum("bop,bip->oi", gv, xs)
        else:
            out[:, 0, u] = (gv * xs).sum(dim=(0, 2))
    return out


# ------------------------------------------------------------------------------------- host backends


def _fwd(backend: str, x: torch.Tensor, w: torch.Tensor, taps: Taps, groups: int) -> torch.Tensor:
    if backend == "cpu":
        ext = _cpu_ext()
        if ext is not None:
            return ext.depthwise_fwd(x, w[:, 0].contiguous(), taps_tensor(taps, x.dim() - 2))
        _warn_once("cpu", "autofast._C (C++ conv kernels) is not built; using the torch shift backend")
        backend = "shift"
    if backend == "shift":
        return _shift_fwd(x, w, taps, groups)
    if backend == "fft":
        from .tap_conv_fft import tap_conv_fwd

        return tap_conv_fwd(x, w, taps, groups)
    return tap_conv_ref(x, w, taps, groups)


def _wgrad(backend: str, x: torch.Tensor, g: torch.Tensor, taps: Taps, groups: int) -> torch.Tensor:
    if backend == "cpu":
        ext = _cpu_ext()
        if ext is not None:
            return ext.depthwise_wgrad(x, g, taps_tensor(taps, x.dim() - 2))[:, None, :]
        backend = "shift"
    if backend == "shift":
        return _shift_wgrad(x, g, taps, groups)
    if backend == "fft":
        from .tap_conv_fft import tap_conv_wgrad

        return tap_conv_wgrad(x, g, taps, groups)
    return tap_conv_wgrad_ref(x, g, taps, groups)


def _compute_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype in _HALF else dtype


def check_tap_args(x: torch.Tensor, w: torch.Tensor, n_taps: int, ndim: int, groups: int) -> None:
    """Shape/dtype/device checks shared by the ops' real and fake implementations."""
    if x.dim() - 2 not in (1, 2) or ndim != x.dim() - 2:
        raise ValueError(f"x must be (B, C, L) or (B, C, H, W) with {max(ndim, 1)}-D offsets; got x {tuple(x.shape)}")
    if w.dim() != 3 or w.shape[2] != n_taps or w.shape[1] * groups != x.shape[1] or w.shape[0] % groups:
        raise ValueError(f"w must be (Cout, Cin/groups, U) = (*, {x.shape[1] // groups}, {n_taps}); "
                         f"got {tuple(w.shape)} with groups={groups}")
    if groups != 1 and not (groups == x.shape[1] == w.shape[0]):
        raise ValueError(f"groups must be 1 (dense) or equal to the channels (depthwise); got groups={groups} "
                         f"for {x.shape[1]} -> {w.shape[0]} channels")
    if x.dtype != w.dtype or x.device != w.device:
        raise ValueError(f"x and weights must share dtype and device; got {x.dtype}/{x.device} and {w.dtype}/{w.device}")
    if not x.is_floating_point():
        raise TypeError(f"tap_conv needs floating-point tensors, got {x.dtype}")


def check_wgrad_args(x: torch.Tensor, g: torch.Tensor, groups: int) -> None:
    if g.dim() != x.dim() or g.shape[0] != x.shape[0] or g.shape[2:] != x.shape[2:] or g.shape[1] % groups:
        raise ValueError(f"grad_out {tuple(g.shape)} does not match x {tuple(x.shape)} with groups={groups}")
    if x.dtype != g.dtype or x.device != g.device:
        raise ValueError(f"x and grad_out must share dtype and device; got {x.dtype}/{x.device}, {g.dtype}/{g.device}")


@torch.library.custom_op("autofast::tap_conv", mutates_args=())
def tap_conv_op(x: torch.Tensor, w: torch.Tensor, offsets: list[int], groups: int, backend: str) -> torch.Tensor:
    """Host-backend tap convolution ``(B, Cin, *S), (Cout, Cin_g, U) -> (B, Cout, *S)`` in ``x.dtype``."""
    taps = unflat_taps(offsets, x.dim() - 2)
    check_tap_args(x, w, len(taps), x.dim() - 2, groups)
    name, live = host_backend(x, taps, groups, backend)
    if not live:
        return x.new_zeros(x.shape[0], w.shape[0], *x.shape[2:])
    ct = _compute_dtype(x.dtype)
    xc, wc = x.to(ct).contiguous(), w.to(ct)
    if len(live) < len(taps):
        wc = wc.index_select(2, device_index(live, w.device))
    y = _fwd(name, xc, wc, tuple(taps[u] for u in live), groups)
    return y.to(x.dtype)


@tap_conv_op.register_fake
def _(x, w, offsets, groups, backend):
    check_tap_args(x, w, len(offsets) // max(x.dim() - 2, 1), x.dim() - 2, groups)
    return x.new_empty(x.shape[0], w.shape[0], *x.shape[2:])


@torch.library.custom_op("autofast::tap_conv_wgrad", mutates_args=())
def tap_conv_wgrad_op(x: torch.Tensor, g: torch.Tensor, offsets: list[int], groups: int, backend: str) -> torch.Tensor:
    """``gw[o, i, u] = sum_{b,p} g[b, o, p] x[b, g(o) Cin_g + i, p + off_u]`` -> ``(Cout, Cin_g, U)`` in ``x.dtype``."""
    taps = unflat_taps(offsets, x.dim() - 2)
    check_wgrad_args(x, g, groups)
    name, live = host_backend(x, taps, groups, backend)
    Cout, cin_g = g.shape[1], x.shape[1] // groups
    if not live:
        return x.new_zeros(Cout, cin_g, len(taps))
    ct = _compute_dtype(x.dtype)
    gw = _wgrad(name, x.to(ct).contiguous(), g.to(ct).contiguous(), tuple(taps[u] for u in live), groups)
    if len(live) < len(taps):
        gw = gw.new_zeros(Cout, cin_g, len(taps)).index_copy(2, device_index(live, x.device), gw)
    return gw.to(x.dtype)


@tap_conv_wgrad_op.register_fake
def _(x, g, offsets, groups, backend):
    check_wgrad_args(x, g, groups)
    return x.new_empty(g.shape[1], x.shape[1] // groups, len(offsets) // max(x.dim() - 2, 1))


register_rules(tap_conv_op, tap_conv_wgrad_op, n_extra=1)


def match_dtype(x: torch.Tensor, *ts: torch.Tensor | None) -> tuple:
    """Outside autocast, parameters in another float dtype than ``x`` are cast to ``x.dtype`` (the
    cast is differentiable); under autocast the op's autocast rule casts both, as for ``F.conv``."""
    if x.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(x.device.type):
        return ts
    return tuple(t if t is None or t.dtype == x.dtype else t.to(x.dtype) for t in ts)


def tap_conv(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor | Sequence[Sequence[int]], groups: int = 1,
             backend: str = "auto") -> torch.Tensor:
    """Convolution over an explicit tap set; see the module docstring.

    Args:
        x: ``(B, Cin, L)`` or ``(B, Cin, H, W)``; float64/float32/bfloat16/float16 on any backend.
        w: ``(Cout, Cin // groups, U)`` tap weights on ``x``'s device (cast to ``x.dtype`` outside autocast).
        offsets: ``(U, ndim)`` integer offsets, ``ndim = x.dim() - 2``: a :data:`.taps.Taps` tuple
            (nothing read from tensor data) or an int64 tensor (read on the host once per call).
        groups: 1 (dense) or ``Cin`` (depthwise, ``Cout = Cin``).
        backend: 'auto', 'triton', 'cpu', 'shift', 'fft' or 'reference'.
    Returns:
        ``(B, Cout, *x.shape[2:])`` in ``x.dtype`` (the autocast dtype under autocast).
    """
    flat = flat_taps(as_taps(offsets, x.dim() - 2))
    groups = int(groups)
    (w,) = match_dtype(x, w)
    if resolve_backend(x, groups, backend) == "triton":
        from . import tap_conv_triton

        return tap_conv_triton.tap_conv_triton_op(x, w, flat, groups)
    return tap_conv_op(x, w, flat, groups, backend)
