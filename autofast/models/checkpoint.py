"""Pretrained checkpoints, saved atomically and loaded without executing code.

Two formats, chosen by the file suffix:

* ``.safetensors``: the tensors, with the meta data stored as a JSON string under the key ``"autofast"`` of
  the safetensors header metadata.
* anything else (``.pt``, ``.pth``, ``.bin``, ...): ``torch.save({"state_dict": ..., "autofast": meta})``.

Loading a torch file always goes through ``torch.load(..., weights_only=True)``: a file whose unpickling
would run code (a pickled module, a class with ``__reduce__``, ...) is refused, never executed. Besides our
own layout a bare state dict (``{name: tensor}``), ``{"state_dict": ...}`` and ``{"model": ...}`` are
accepted. ``meta`` is plain JSON data: backbone name, ndim, in_channels, num_classes, width, pattern
``[[k, d], ...]``, dropout, task name, class names, ...
"""
from __future__ import annotations

import json
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..errors import AutofastError
from ..io import atomic_path

__all__ = ["META_KEY", "save_checkpoint", "load_checkpoint", "load_into"]

META_KEY = "autofast"
SAFETENSORS_SUFFIX = ".safetensors"


def _plain_meta(meta: Mapping[str, Any] | None, where: str) -> dict:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise AutofastError(f"{where}: checkpoint meta must be a dict of plain data, got {type(meta).__name__}")
    try:
        return json.loads(json.dumps(dict(meta), allow_nan=False))
    except (TypeError, ValueError) as e:
        raise AutofastError(f"{where}: checkpoint meta must be plain JSON data (str, numbers, lists, dicts): {e}; "
                            f"convert tensors/arrays with .tolist() and objects to their names") from None


def save_checkpoint(path: str | os.PathLike, model: nn.Module | Mapping[str, Tensor],
                    meta: Mapping[str, Any] | None = None) -> None:
    """Write ``model``'s state dict (or a state dict) and ``meta`` to ``path`` atomically (temp file + rename).

    ``.safetensors`` -> safetensors with ``meta`` as JSON under the header metadata key ``"autofast"``;
    any other suffix -> ``torch.save({"state_dict": ..., "autofast": meta})``.
    """
    path = Path(path)
    meta = _plain_meta(meta, str(path))
    state = model.state_dict() if isinstance(model, nn.Module) else model
    if not isinstance(state, Mapping):
        raise AutofastError(f"{path}: save_checkpoint takes an nn.Module or a state dict, got {type(model).__name__}")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        raise AutofastError(f"{path}: the state dict has non-tensor entries {bad[:3]}; save plain tensors only")
    if path.suffix == SAFETENSORS_SUFFIX:
        from safetensors.torch import save_file

        # clone: safetensors refuses tensors that share storage (tied weights) and non-contiguous views
        tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(meta)})
    else:
        tensors = {k: v.detach().to("cpu") for k, v in state.items()}
        with atomic_path(path) as tmp:
            torch.save({"state_dict": tensors, META_KEY: meta}, tmp)


def _one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load_safetensors(path: Path) -> tuple[dict[str, Tensor], dict]:
    from safetensors import safe_open
    from safetensors.torch import load_file

    try:
        state = load_file(str(path), device="cpu")
        with safe_open(str(path), framework="pt", device="cpu") as f:
            header = f.metadata() or {}
    except Exception as e:  # safetensors raises its own SafetensorError / OSError for bad headers
        raise AutofastError(f"{path}: not a readable safetensors file ({_one_line(e)}); re-export it with "
                            f"safetensors.torch.save_file") from None
    meta: dict = {}
    if META_KEY in header:
        try:
            meta = json.loads(header[META_KEY])
        except ValueError:
            raise AutofastError(f"{path}: the safetensors metadata {META_KEY!r} is not valid JSON; re-save the "
                                f"checkpoint with autofast or drop that metadata key") from None
        if not isinstance(meta, dict):
            raise AutofastError(f"{path}: the safetensors metadata {META_KEY!r} must be a JSON object, got "
                                f"{type(meta).__name__}")
    return dict(state), meta


# What the weights-only unpickler says when a file wants to import or build arbitrary objects (code), as
# opposed to a file that is merely corrupt or not a pickle at all ("Unsupported operand <garbage byte>").
_CODE_PATTERNS = (
    r"Trying to load unsupported GLOBAL [\w.]+",
    r"Unsupported global: GLOBAL [\w.]+",
    r"Can only (?:create new object|build)[^\n]*",
    r"Unsupported operand (?:105|111)\b",  # INST / OBJ: build an instance of an imported class
)


def _torch_detail(e: BaseException) -> str:
    """The informative part of a torch.load error (without the weights_only boilerplate), on one line."""
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    boiler = ("Weights only load failed", "Please file an issue", "Check the documentation", "WeightsUnpickler error")
    keep = [ln for ln in lines if not ln.startswith(boiler)]
    return _one_line(" ".join(keep or lines) or type(e).__name__, 120)


def _code_needed(e: BaseException) -> str | None:
    """The offending line if ``torch.load(weights_only=True)`` refused ``e`` because of code, else None."""
    text = str(e)
    if "eights only load failed" not in text and "weights_only" not in text:
        return None
    for pattern in _CODE_PATTERNS:
        m = re.search(pattern, text)
        if m:
            return _one_line(m.group(0).replace("`", ""), 120)
    return None


def _load_torch(path: Path) -> tuple[dict[str, Tensor], dict]:
    try:
        with warnings.catch_warnings():  # torch's own warning about the file would print beside our one line
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(path, weights_only=True, map_location="cpu")
    except EOFError:
        raise AutofastError(f"{path}: the checkpoint file is empty or truncated; save it again") from None
    except (pickle.UnpicklingError, RuntimeError, AttributeError, TypeError, ValueError, UnicodeDecodeError,
            KeyError, IndexError, OSError) as e:
        detail = _code_needed(e)
        if detail is not None:
            raise AutofastError(f"{path}: refusing to load: the checkpoint needs code execution to unpickle "
                                f"({detail}); save a plain state_dict or use .safetensors") from None
        raw = "Unsupported operand 149" in str(e)  # FRAME: a raw pickle (protocol 4+), not torch.save's format
        raise AutofastError(f"{path}: cannot read the checkpoint ({_torch_detail(e)}"
                            + ("; a raw pickle, not torch.save's format: not unpickled, it may hold code" if raw else "")
                            + "); expected a file written by torch.save (a state dict) or a .safetensors file") from None
    if not isinstance(obj, Mapping):
        raise AutofastError(f"{path}: the checkpoint holds a {type(obj).__name__}, not a dict; save "
                            f"model.state_dict() (or {{'state_dict': model.state_dict()}})")
    meta: Any = {}
    if isinstance(obj.get("state_dict"), Mapping):
        state, meta = obj["state_dict"], obj.get(META_KEY, {})
    elif isinstance(obj.get("model"), Mapping):
        state, meta = obj["model"], obj.get(META_KEY, {})
    else:
        state = obj
    if meta is None:
        meta = {}
    if not isinstance(meta, Mapping):
        raise AutofastError(f"{path}: the checkpoint's {META_KEY!r} entry must be a dict, got {type(meta).__name__}")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, Tensor)]
    if bad:
        shown = ", ".join(repr(k) for k in bad[:3]) + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
        raise AutofastError(f"{path}: the checkpoint has non-tensor entries {shown}; expected a state dict "
                            f"{{name: tensor}}, or {{'state_dict': ...}} / {{'model': ...}} holding one")
    return dict(state), dict(meta)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, Tensor], dict]:
    """Return ``(state_dict, meta)`` from ``path`` (meta is ``{}`` when the file has none), on the CPU.

    Never executes code from the file: torch files go through ``torch.load(weights_only=True)``.
    """
    path = Path(path)
    if not path.exists():
        raise AutofastError(f"{path}: checkpoint file not found; check the path")
    if not path.is_file():
        raise AutofastError(f"{path}: is not a file; give the checkpoint file (.pt, .pth, .bin or .safetensors)")
    if path.suffix == SAFETENSORS_SUFFIX:
        state, meta = _load_safetensors(path)
    else:
        state, meta = _load_torch(path)
    if not state:
        raise AutofastError(f"{path}: the checkpoint holds no tensors; save model.state_dict()")
    return state, meta


def _list(keys: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_into(model: nn.Module, state_dict: Mapping[str, Tensor], path: str | os.PathLike = "checkpoint",
              exclude: Sequence[str] = ()) -> nn.Module:
    """``model.load_state_dict(state_dict, strict=True)``, with a mismatch turned into one clear line.

    ``exclude``: key prefixes NOT taken from the checkpoint (the model keeps its own values), e.g. the
    classification head when fine-tuning on a task with other classes. Returns ``model``.
    """
    exclude = tuple(exclude)
    own = model.state_dict()
    wanted = {k: v for k, v in state_dict.items() if not k.startswith(exclude)} if exclude else dict(state_dict)
    expected = [k for k in own if not (exclude and k.startswith(exclude))]
    missing = [k for k in expected if k not in wanted]
    unexpected = [k for k in wanted if k not in own]
    fix = ("build the model from the checkpoint's meta (backbone, width, pattern, num_classes) or give the "
           "matching checkpoint")
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing keys {_list(missing)}")
        if unexpected:
            parts.append(f"unexpected keys {_list(unexpected)}")
        raise AutofastError(f"{path}: checkpoint does not fit {type(model).__name__}: {'; '.join(parts)}; {fix}")
    for k, v in wanted.items():
        if tuple(v.shape) != tuple(own[k].shape):
            raise AutofastError(f"{path}: {k!r} has shape {tuple(v.shape)} in the checkpoint but "
                                f"{tuple(own[k].shape)} in {type(model).__name__}; {fix}")
    full = dict(own)
    full.update(wanted)
    try:
        model.load_state_dict(full, strict=True)
    except RuntimeError as e:  # e.g. dtype conversion problems the checks above do not see
        raise AutofastError(f"{path}: cannot load into {type(model).__name__} ({_one_line(e)}); {fix}") from None
    return model
