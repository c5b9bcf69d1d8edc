"""Launch helpers shared by the Triton kernels: interpreter mode, the device a launch runs on."""
from __future__ import annotations

import contextlib
import os

import torch
import triton


def _interpret() -> bool:
    knobs = getattr(triton, "knobs", None)
    if knobs is not None:
        return bool(knobs.runtime.interpret)
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


# Decided once, like triton.jit decides at decoration time whether kernels are interpreted.
INTERPRET = _interpret()


def device_for(t: torch.Tensor, what: str) -> torch.device:
    """Where the kernels run: the CPU under the interpreter, else the input's CUDA device."""
    if INTERPRET:
        return torch.device("cpu")
    if t.is_cuda:
        return t.device
    if not torch.cuda.is_available():
        raise RuntimeError(f"the triton {what} backend needs a CUDA device or TRITON_INTERPRET=1")
    return torch.device("cuda", torch.cuda.current_device())


def checked_device(t: torch.Tensor, what: str) -> torch.device:
    """:func:`device_for` for a registered op, whose inputs must already be there (ops never move data)."""
    dev = device_for(t, what)
    if dev != t.device:
        raise ValueError(f"the triton {what} kernels run on {dev}; got tensors on {t.device}")
    return dev


def pow2(n: int, lo: int, hi: int) -> int:
    """The power of two >= ``n``, clamped to ``[lo, hi]``: a block size."""
    return max(lo, min(hi, triton.next_power_of_2(max(int(n), 1))))


def on_device(dev: torch.device):
    """Make ``dev`` current for the launch (Triton launches on the current CUDA device)."""
    return torch.cuda.device(dev) if dev.type == "cuda" else contextlib.nullcontext()


def opaque_under_interpreter(*ops) -> None:
    """Under ``TRITON_INTERPRET=1`` keep ``torch.library.triton_op`` ops opaque to AOT tracing (as
    ``torch.export`` does): the interpreter runs kernels on real data only, so the kernels cannot be
    traced into a graph there. On a GPU ``torch.compile`` traces into the kernels as PyTorch documents."""
    if not INTERPRET:
        return
    from torch._subclasses.functional_tensor import FunctionalTensorMode

    def opaque(mode, op, types, args, kwargs):
        return mode.__torch_dispatch__(op, types, args, kwargs)

    for op in ops:
        op.register_torch_dispatch(FunctionalTensorMode, opaque)
