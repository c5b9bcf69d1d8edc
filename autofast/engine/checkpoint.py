"""One checkpoint format for every training run, resuming EXACTLY where the run stopped.

A run checkpoint is ``torch.save`` of plain data (loaded with ``torch.load(weights_only=True)``)::

    {"format": "autofast-run/1",
     "model": state_dict, "optimizers": {"main": state_dict, "arch": ...},  # base lrs in param groups
     "epoch": int, "step": int,                                             # the schedule's position
     "schedule": {"kind", "horizon_epochs", "warmup_epochs", "final_fraction"},
     "rng": {"batch": uint8 tensor, "noise": uint8 tensor},                 # generator states
     "history": [{"epoch": 1, "train_loss": ..., ...}, ...],
     "precision": "fp32" | "bf16" | "fp16", "scaler": state_dict or None,   # (absent in older files: fp32)
     "meta": {...}}                                                         # caller's plain data

Resuming with another schedule or precision is refused (the curve would not be the one the run was
judged on).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from autofast.errors import AutofastError
from autofast.io import atomic_path

from .loop import Run

FORMAT = "autofast-run/1"


def run_state(run: Run, meta: dict | None = None) -> dict:
    """The checkpoint dict of ``run`` (tensors stay where they are; ``torch.save`` copies them)."""
    return {"format": FORMAT, "model": run.model.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in run.optimizers.items()},
            "epoch": int(run.epoch), "step": int(run.step), "schedule": run.schedule.to_dict(),
            "rng": run.rng.state(), "history": [dict(r) for r in run.history], "precision": run.precision,
            "scaler": run.scaler.state_dict() if run.scaler is not None else None, "meta": dict(meta or {})}


def save_run(path: str | os.PathLike, run: Run, meta: dict | None = None) -> None:
    """Write ``run``'s checkpoint to ``path`` atomically (temp file + rename)."""
    with atomic_path(path) as tmp:
        torch.save(run_state(run, meta), tmp)


def read_run(path: str | os.PathLike) -> dict:
    """A run checkpoint as data (CPU tensors, ``weights_only=True``); one-line errors for other files."""
    p = Path(path)
    try:
        state = torch.load(p, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise AutofastError(f"run checkpoint {str(p)!r} does not exist") from None
    except Exception as e:  # unpickling refused or a torn file
        raise AutofastError(f"{p}: not a loadable run checkpoint ({type(e).__name__}); start the run afresh") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise AutofastError(f"{p}: not an autofast run checkpoint (format {FORMAT} expected)")
    return state


def load_run(path: str | os.PathLike, run: Run) -> dict:
    """Restore ``run`` (built exactly as the saved one was) from ``path`` in place; return the meta."""
    state = read_run(path)
    if state["schedule"] != run.schedule.to_dict():
        raise AutofastError(f"{path}: saved with lr schedule {state['schedule']} but resumed with "
                            f"{run.schedule.to_dict()}; resume with the same schedule")
    if state.get("precision", "fp32") != run.precision:
        raise AutofastError(f"{path}: saved with precision {state.get('precision', 'fp32')} but resumed with "
                            f"{run.precision}; resume with the same --precision")
    if set(state["optimizers"]) != set(run.optimizers):
        raise AutofastError(f"{path}: optimisers {sorted(state['optimizers'])} saved, {sorted(run.optimizers)} given")
    run.model.load_state_dict(state["model"])
    for k, opt in run.optimizers.items():
        opt.load_state_dict(state["optimizers"][k])
    run.rng.load_state(state["rng"])
    if run.scaler is not None and state.get("scaler"):
        run.scaler.load_state_dict(state["scaler"])
    run.epoch, run.step = int(state["epoch"]), int(state["step"])
    run.history = [dict(r) for r in state["history"]]
    return dict(state.get("meta") or {})
