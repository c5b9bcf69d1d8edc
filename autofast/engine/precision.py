"""Training precision: ``fp32``, or mixed precision under ``torch.autocast`` (``bf16``; ``fp16`` on CUDA
with loss scaling).

Under autocast the convolutions (torch's and autofast's registered tap-conv ops alike) take the
autocast dtype, everything numerically sensitive (losses, norms, the optimiser) stays in fp32, and the
parameters remain fp32. ``auto`` is fp32: on the 2-core CPU here a bf16 DASH search epoch measured
slower than fp32 (``bench/README.md``, "Mixed precision"), and no GPU figure exists yet.

A run that does not name its precision takes the one in force (:func:`asked`; the commands put their
config's ``precision`` in force with :func:`autofast.engine.numerics.in_force`), else ``$AUTOFAST_PRECISION``,
else 'auto'.
"""
from __future__ import annotations

import contextlib
import os

import torch

from autofast.errors import AutofastError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
ENV = "AUTOFAST_PRECISION"
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class PrecisionError(AutofastError, ValueError):
    """A precision unknown or not available on the device (the CLI's one ``error:`` line, exit 2); a
    ``ValueError`` as well, for library callers that catch that."""


_ASKED: dict[str, str | None] = {"precision": None}  # set by asked() for the runs inside it


@contextlib.contextmanager
def asked(precision: str | None):
    """Within: runs of this process (all threads) that do not name their precision use ``precision`` (a
    command's config's, through :func:`autofast.engine.numerics.in_force`; None: no change); it wins over
    ``$AUTOFAST_PRECISION``."""
    previous = _ASKED["precision"]
    if precision is not None:
        _ASKED["precision"] = precision
    try:
        yield
    finally:
        _ASKED["precision"] = previous


def requested() -> str | None:
    """The precision asked for when a run names none: :func:`asked`'s, else ``$AUTOFAST_PRECISION``, else None."""
    return _ASKED["precision"] or os.environ.get(ENV) or None


def resolve(precision: str | None, device: torch.device) -> str:
    """The precision a run on ``device`` uses: ``precision`` (or :func:`requested`, default 'auto'); 'auto'
    is 'fp32'. fp16 needs a CUDA device (:class:`PrecisionError` otherwise)."""
    name = precision or requested() or "auto"
    if name not in PRECISIONS:
        raise PrecisionError(f"unknown precision {name!r} (--precision or ${ENV}); choose one of "
                             f"{', '.join(PRECISIONS)}")
    if name == "auto":
        return "fp32"
    if name == "fp16" and torch.device(device).type != "cuda":
        raise PrecisionError(f"--precision fp16 needs a CUDA device and this run trains on {torch.device(device)}; "
                             "use --precision bf16 or fp32 on the CPU")
    return name


def check(devices, precision: str | None = None) -> None:
    """Refuse, before any data is loaded, a precision that one of ``devices`` (e.g. ``["cpu"]``,
    ``["cuda:0"]``) cannot train in: :class:`PrecisionError`."""
    for device in devices:
        resolve(precision, torch.device(device))


def autocast(precision: str, device: torch.device):
    """The context a forward pass + loss runs in: nothing for fp32, else ``torch.autocast``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=_DTYPES[precision])


def grad_scaler(precision: str, device: torch.device) -> torch.amp.GradScaler | None:
    """A loss scaler for fp16 (its gradients underflow without one); None otherwise."""
    return torch.amp.GradScaler(torch.device(device).type) if precision == "fp16" else None
