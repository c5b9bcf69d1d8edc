"""The tap convolution: dispatch over backends and its autograd Function.

``tap_conv(x, w, offsets, groups)`` computes ``y[b,o,p] = sum_u sum_i w[o,i,u] x[b, g(o) Cin_g + i, p + off_u]``
('same' zero padding, stride 1) for 1-D ``(B, C, L)`` and 2-D ``(B, C, H, W)`` inputs, dense
(``groups=1``) or depthwise (``groups = Cin = Cout``). Both public conv ops reduce to it.

Backends (``backend=`` or the ``AUTOFAST_CONV_BACKEND`` environment variable):

* ``triton`` — CUDA tensors (or the CPU under ``TRITON_INTERPRET=1``).
* ``cpu`` — the C++/OpenMP extension ``autofast._C`` for depthwise; dense CPU convs use ``shift``.
* ``shift`` — pure torch: one shifted slice per tap (a per-tap GEMM when dense). Exact, no build.
* ``fft`` — dense convs only: FFT convolution with the scattered kernel; 'auto' picks it on the
  CPU for dense convs whose live tap count makes the FFT cheaper (the flop model in
  :func:`.tap_conv_fft.fft_is_cheaper`).
* ``reference`` — F.conv with the dense scattered kernel (the test reference; does the most work).

Taps that can only read padding (|offset| >= size in some dim) are dropped before any kernel runs.
"""
from __future__ import annotations

import importlib.util
import os
import warnings

import torch
import torch.nn.functional as F

from .reference import tap_conv_ref, tap_conv_wgrad_ref
from .taps import live_taps

BACKENDS = ("auto", "triton", "cpu", "shift", "fft", "reference")
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
    if importlib.util.find_spec("triton") is None:
        return False
    return x.is_cuda or os.environ.get("TRITON_INTERPRET") == "1"


def resolve_backend(x: torch.Tensor, groups: int, backend: str = "auto") -> str:
    """The backend that will run for this input (after fallbacks)."""
    if backend == "auto":
        backend = os.environ.get("AUTOFAST_CONV_BACKEND", "auto")
    if backend not in BACKENDS:
        raise ValueError(f"unknown conv backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    depthwise = groups > 1 and groups == x.shape[1]
    if backend == "auto":
        if x.is_cuda:
            return "triton" if _triton_ok(x) else "shift"
        return "cpu" if depthwise else "dense-cpu"  # TapPlan picks shift or fft from the live taps
    if backend == "triton" and not _triton_ok(x):
        raise ValueError("the triton conv backend needs CUDA tensors (or TRITON_INTERPRET=1 for CPU tensors)")
    if backend == "cpu":
        if x.is_cuda:
            raise ValueError("the cpu conv backend needs CPU tensors; move them or use backend='triton'")
        if not depthwise:
            return "dense-cpu"  # TapPlan picks shift or fft from the live taps
    if backend == "fft" and groups != 1:
        raise ValueError("the fft conv backend handles dense convs (groups=1) only")
    return backend


# ------------------------------------------------------------------------------------- shift backend


def _shifted(xp: torch.Tensor, off: list[int], r: int, spatial: tuple[int, ...]) -> torch.Tensor:
    if len(spatial) == 1:
        return xp[:, :, r + off[0] : r + off[0] + spatial[0]]
    return xp[:, :, r + off[0] : r + off[0] + spatial[0], r + off[1] : r + off[1] + spatial[1]]


def _shift_fwd(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor, groups: int) -> torch.Tensor:
    ndim = offsets.shape[1]
    spatial = tuple(x.shape[2:])
    B, Cin = x.shape[:2]
    Cout = w.shape[0]
    r = int(offsets.abs().max()) if offsets.numel() else 0
    xp = F.pad(x, [r, r] * ndim)
    y = x.new_zeros(B, Cout, *spatial)
    if groups == 1:
        yv = y.view(B, Cout, -1)
        for u, off in enumerate(offsets.tolist()):
            yv.add_(torch.matmul(w[:, :, u], _shifted(xp, off, r, spatial).reshape(B, Cin, -1)))
    elif groups == Cin == Cout and w.shape[1] == 1:
        view = (1, Cout) + (1,) * ndim
        for u, off in enumerate(offsets.tolist()):
            y.add_(w[:, 0, u].view(view) * _shifted(xp, off, r, spatial))
    else:
        return tap_conv_ref(x, w, offsets, groups)
    return y


def _shift_wgrad(x: torch.Tensor, g: torch.Tensor, offsets: torch.Tensor, groups: int) -> torch.Tensor:
    ndim = offsets.shape[1]
    spatial = tuple(x.shape[2:])
    B, Cin = x.shape[:2]
    Cout = g.shape[1]
    if groups not in (1, Cin):
        return tap_conv_wgrad_ref(x, g, offsets, groups)
    r = int(offsets.abs().max()) if offsets.numel() else 0
    xp = F.pad(x, [r, r] * ndim)
    out = x.new_empty(Cout, Cin // groups, offsets.shape[0])
    gv = g.reshape(B, Cout, -1)
    for u, off in enumerate(offsets.tolist()):
        xs = _shifted(xp, off, r, spatial).reshape(B, Cin, -1)
        if groups == 1:
            out[:, :, u] = torch.einsum("bop,bip->oi", gv, xs)
        else:
            out[:, 0, u] = (gv * xs).sum(dim=(0, 2))
    return out


def direct_backend(x: torch.Tensor, groups: int, backend: str = "auto") -> str:
    """The tap path's backend without the FFT (the conv path dispatcher measures 'fft' on its own):
    'shift' (per-tap GEMMs) for dense CPU convs; otherwise ``backend`` unchanged."""
    if backend == "auto" and groups == 1 and not x.is_cuda and os.environ.get("AUTOFAST_CONV_BACKEND", "auto") == "auto":
        return "shift"
    return backend


# ------------------------------------------------------------------------------------- dispatch


def _fwd(backend: str, x, w, offsets, groups):
    if backend == "triton":
        from .tap_conv_triton import tap_conv_fwd

        return tap_conv_fwd(x, w, offsets.to(x.device), groups)
    if backend == "cpu":
        ext = _cpu_ext()
        if ext is not None:
            return ext.depthwise_fwd(x.contiguous(), w[:, 0].contiguous(), offsets)
        _warn_once("cpu", "autofast._C (C++ conv kernels) is not built; using the torch shift backend")
        backend = "shift"
    if backend == "shift":
        return _shift_fwd(x, w, offsets, groups)
    if backend == "fft":
        from .tap_conv_fft import tap_conv_fwd

        return tap_conv_fwd(x, w, offsets, groups)
    return tap_conv_ref(x, w, offsets.to(x.device), groups)


def _wgrad(backend: str, x, g, offsets, groups):
    if backend == "triton":
        from .tap_conv_triton import tap_conv_wgrad

        return tap_conv_wgrad(x, g, offsets.to(x.device), groups)
    if backend == "cpu":
        ext = _cpu_ext()
        if ext is not None:
            return ext.depthwise_wgrad(x.contiguous(), g.contiguous(), offsets)[:, None, :]
        backend = "shift"
    if backend == "shift":
        return _shift_wgrad(x, g, offsets, groups)
    if backend == "fft":
        from .tap_conv_fft import tap_conv_wgrad

        return tap_conv_wgrad(x, g, offsets, groups)
    return tap_conv_wgrad_ref(x, g, offsets.to(x.device), groups)


def _transpose_groups(w: torch.Tensor, groups: int) -> torch.Tensor:
    """(Cout, Cin_g, U) -> (Cin, Cout_g, U): the weights of the input-gradient tap convolution."""
    Cout, cin_g, U = w.shape
    return w.reshape(groups, Cout // groups, cin_g, U).transpose(1, 2).reshape(groups * cin_g, Cout // groups, U)


class TapPlan:
    """What one call runs: the backend and the live taps (those that can touch the input)."""

    def __init__(self, x: torch.Tensor, offsets: torch.Tensor, groups: int, backend: str):
        self.groups = groups
        self.backend = resolve_backend(x, groups, backend)
        offsets = offsets.to("cpu", torch.int64)
        self.n_taps = offsets.shape[0]
        live = live_taps(offsets, tuple(x.shape[2:]))
        self.live = None if bool(live.all()) else live.nonzero().flatten()
        self.offsets = offsets if self.live is None else offsets[self.live]
        if self.backend == "dense-cpu":
            from .tap_conv_fft import fft_is_cheaper

            r = int(self.offsets.abs().max()) if self.offsets.numel() else 0
            self.backend = "fft" if fft_is_cheaper(x, self.offsets.shape[0], r) else "shift"

    def _w(self, w: torch.Tensor) -> torch.Tensor:
        return w if self.live is None else w.index_select(2, self.live.to(w.device))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.offsets.shape[0] == 0:
            return x.new_zeros(x.shape[0], w.shape[0], *x.shape[2:])
        return _fwd(self.backend, x, self._w(w), self.offsets, self.groups)

    def backward(self, x: torch.Tensor, w: torch.Tensor, g: torch.Tensor, need_x: bool, need_w: bool):
        """Gradients for x and for the full ``(Cout, Cin_g, U)`` tap weights (zero at dead taps)."""
        g = g.contiguous()
        gx = gw = None
        empty = self.offsets.shape[0] == 0
        if need_x:
            gx = torch.zeros_like(x) if empty else _fwd(
                self.backend, g, _transpose_groups(self._w(w), self.groups).contiguous(), -self.offsets, self.groups)
        if need_w:
            gw_live = None if empty else _wgrad(self.backend, x, g, self.offsets, self.groups)
            if self.live is None:
                gw = gw_live
            else:
                gw = w.new_zeros(w.shape[0], w.shape[1], self.n_taps)
                if gw_live is not None:
                    gw[:, :, self.live.to(w.device)] = gw_live
        return gx, gw


def check_tap_args(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor, groups: int) -> None:
    ndim = x.dim() - 2
    if ndim not in (1, 2) or offsets.dim() != 2 or offsets.shape[1] != ndim:
        raise ValueError(f"x must be (B, C, L) or (B, C, H, W) with offsets (U, {max(ndim, 1)}); "
                         f"got x {tuple(x.shape)}, offsets {tuple(offsets.shape)}")
    if w.dim() != 3 or w.shape[2] != offsets.shape[0] or w.shape[1] * groups != x.shape[1] or w.shape[0] % groups:
        raise ValueError(f"w must be (Cout, Cin/groups, U) = (*, {x.shape[1] // groups}, {offsets.shape[0]}); "
                         f"got {tuple(w.shape)} with groups={groups}")
    if groups != 1 and not (groups == x.shape[1] == w.shape[0]):
        raise ValueError(f"groups must be 1 (dense) or equal to the channels (depthwise); got groups={groups} "
                         f"for {x.shape[1]} -> {w.shape[0]} channels")
    if x.dtype != w.dtype or x.device != w.device:
        raise ValueError(f"x and weights must share dtype and device; got {x.dtype}/{x.device} and {w.dtype}/{w.device}")


class TapConvFunction(torch.autograd.Function):
    """Autograd for the tap convolution; gradients for ``x`` and ``w`` (offsets are constants)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor, groups: int, backend: str):
        plan = TapPlan(x, offsets, groups, backend)
        ctx.save_for_backward(x, w)
        ctx.plan = plan
        return plan.forward(x, w)

    @staticmethod
    def backward(ctx, g: torch.Tensor):
        x, w = ctx.saved_tensors
        gx, gw = ctx.plan.backward(x, w, g, ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        return gx, gw, None, None, None


def tap_conv(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor, groups: int = 1,
             backend: str = "auto") -> torch.Tensor:
    """Convolution over an explicit tap set; see the module docstring.

    Args:
        x: ``(B, Cin, L)`` or ``(B, Cin, H, W)``, float32/float64 (fp16/bf16 on the GPU).
        w: ``(Cout, Cin // groups, U)`` tap weights, same dtype and device as ``x``.
        offsets: ``(U, ndim)`` int64 offsets, ``ndim = x.dim() - 2``.
        groups: 1 (dense) or ``Cin`` (depthwise, ``Cout = Cin``).
        backend: 'auto', 'triton', 'cpu', 'shift' or 'reference'.
    Returns:
        ``(B, Cout, *x.shape[2:])``.
    """
    check_tap_args(x, w, offsets, groups)
    return TapConvFunction.apply(x, w, offsets, groups, backend)
