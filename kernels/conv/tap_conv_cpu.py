"""C++ CPU backend of the depthwise tap convolution (the optional extension ``autofast._C``).

Thin wrappers taking and returning torch CPU tensors; the extension works on zero-copy ``.numpy()``
views of contiguous tensors and releases the GIL while it computes. If the extension was not built
(no compiler at install time), ``available()`` is False and nothing here raises on import.

Contract (see ``reference.py``), depthwise (groups == channels), 'same' padding, stride 1::

    depthwise_fwd:   y[b, c, p] = sum_u w[c, u] * x[b, c, p + offsets[u]]
    depthwise_wgrad: gw[c, u]   = sum_{b, p} g[b, c, p] * x[b, c, p + offsets[u]]
    input gradient:  depthwise_fwd(g, w, -offsets)
"""
from __future__ import annotations

import torch

try:  # the compiled extension is optional
    from autofast import _C  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - depends on the build
    _C = None

_DTYPES = (torch.float32, torch.float64)


def available() -> bool:
    """True when the compiled extension ``autofast._C`` is importable."""
    return _C is not None


def simd_level() -> str:
    """SIMD variant the kernels dispatch to ('avx2+fma' or 'baseline'), or 'unavailable'."""
    return _C.simd_level() if _C is not None else "unavailable"


def _require() -> None:
    if _C is None:
        raise RuntimeError("the autofast._C extension is not built; use the torch reference backend")


def _check_tensor(t: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"{name} must be on the CPU, got device {t.device}")
    if t.dtype not in _DTYPES:
        raise ValueError(f"{name} must be float32 or float64, got {t.dtype}")
    if t.requires_grad:
        t = t.detach()
    return t.contiguous()


def _offsets(offsets: torch.Tensor, ndim: int) -> torch.Tensor:
    offsets = torch.as_tensor(offsets)
    if offsets.device.type != "cpu":
        offsets = offsets.cpu()
    if offsets.dtype != torch.int64:
        if offsets.is_floating_point():
            raise ValueError(f"offsets must be integers, got {offsets.dtype}")
        offsets = offsets.to(torch.int64)
    if offsets.dim() != 2 or offsets.shape[1] != ndim:
        raise ValueError(f"offsets must be (U, {ndim}) for a {ndim}-D input, got {tuple(offsets.shape)}")
    return offsets.contiguous()


def _check_input(x: torch.Tensor, name: str = "x") -> torch.Tensor:
    x = _check_tensor(x, name)
    if x.dim() not in (3, 4):
        raise ValueError(f"{name} must be (B, C, L) or (B, C, H, W), got shape {tuple(x.shape)}")
    return x


def depthwise_fwd(x: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``y[b, c, p] = sum_u w[c, u] x[b, c, p + offsets[u]]`` for ``x (B, C, *S)``, ``w (C, U)``."""
    _require()
    x = _check_input(x)
    w = _check_tensor(w, "w")
    if w.dtype != x.dtype:
        raise ValueError(f"w dtype {w.dtype} does not match x dtype {x.dtype}")
    offs = _offsets(offsets, x.dim() - 2)
    if w.dim() != 2 or w.shape != (x.shape[1], offs.shape[0]):
        raise ValueError(f"w must be (C, U) = ({x.shape[1]}, {offs.shape[0]}), got {tuple(w.shape)}")
    out = torch.empty(x.shape, dtype=x.dtype)
    _C.depthwise_fwd(x.numpy(), w.numpy(), offs.numpy(), out.numpy())
    return out


def depthwise_wgrad(x: torch.Tensor, grad_out: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """``gw[c, u] = sum_{b, p} grad_out[b, c, p] x[b, c, p + offsets[u]]`` -> ``(C, U)``."""
    _require()
    x = _check_input(x)
    g = _check_tensor(grad_out, "grad_out")
    if g.dtype != x.dtype:
        raise ValueError(f"grad_out dtype {g.dtype} does not match x dtype {x.dtype}")
    if g.shape != x.shape:
        raise ValueError(f"grad_out shape {tuple(g.shape)} does not match x shape {tuple(x.shape)}")
    offs = _offsets(offsets, x.dim() - 2)
    out = torch.empty((x.shape[1], offs.shape[0]), dtype=x.dtype)
    _C.depthwise_wgrad(x.numpy(), g.numpy(), offs.numpy(), out.numpy())
    return out


def depthwise_dgrad(grad_out: torch.Tensor, w: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Input gradient: the forward of ``grad_out`` with negated offsets."""
    return depthwise_fwd(grad_out, w, -_offsets(offsets, _check_input(grad_out, "grad_out").dim() - 2))
