"""Dense prediction data (``kind: dense``): per-position targets for 1-D or 2-D inputs, from ``.npz``
(``x``/``y``) or ``.npy`` (inputs, with the targets in a second ``.npy``).

* integer targets are per-position class labels (segmentation masks), ``(N, *S)`` -> int64 indices into
  the sorted class list (at least two classes over the file);
* float targets are fields (regression), ``(N, *S)`` or ``(N, T, *S)`` -> float32 ``(N, T, *S)``.

Inputs are ``(N, *S)`` (one channel) or channels-first ``(N, C, *S)``; channels-last ``(N, *S, C)`` with
``layout: NHWC`` (2-D) or ``NLC`` (1-D), or where only that reading fits the targets. ``S`` (1 or 2 axes) is read
off the targets; inputs ``(N, C, L)`` beside float targets of the same shape are C fields of length L where
``layout: NCL`` says so or, under ``auto``, C is at most 16 and a quarter of L or less (else one C x L field).
A target field that is zero everywhere is refused (relative L2 divides by its norm).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AutofastError
from .arrays import read_arrays, to_float
from .types import IGNORE_INDEX, SupervisedData, check_finite, labels_to_indices


def _one_d(shape: tuple, layout: str) -> bool:
    """Whether 3-D inputs ``shape`` beside targets of the same shape are 1-D: ``layout: NCL``, or (``auto``) a few
    channels along a much longer axis -- (N, 2, 64) is two channels of 64 steps, (N, 32, 48) a 32 x 48 grid."""
    if layout in ("NCL", "NLC"):
        return True
    return layout == "auto" and shape[1] <= MAX_1D_CHANNELS and 4 * shape[1] <= shape[2]


#: the most channels 3-D inputs with targets of their shape may have to be read as 1-D fields under ``layout: auto``
MAX_1D_CHANNELS = 16


def _inputs(x: np.ndarray, spatial: tuple, layout: str, source: str) -> np.ndarray:
    given = x.shape
    if x.shape[1:] == spatial:
        return x[:, None]
    last = x.ndim == len(spatial) + 2 and x.shape[1:-1] == spatial and x.shape[2:] != spatial  # only channels-last fits
    if layout in ("NHWC", "NLC") or (layout == "auto" and last):
        x = np.moveaxis(x, -1, 1)
    if x.shape[2:] == spatial and x.ndim == len(spatial) + 2:
        return np.ascontiguousarray(x)
    raise AutofastError(f"{source}: inputs of shape {given} do not match targets of spatial shape {spatial}; give "
                        f"inputs (N, *S) or (N, C, *S) (channels last: 'layout: NHWC' / 'NLC')")


def load_dense(path: str | Path, layout: str = "auto", labels: str | Path | None = None,
               min_classes: int = 2, ignore_label: int | None = None) -> SupervisedData:
    """Load a dense prediction set into ``SupervisedData`` (kind "dense"; see the module docstring). Masks'
    positions holding ``ignore_label`` (no data, borders) get :data:`~.types.IGNORE_INDEX`, not a class."""
    path = Path(path)
    source = str(path)
    x, y = read_arrays(path, None if labels is None else Path(labels), "input")
    y = np.asarray(y)
    if len(x) == 0:
        raise AutofastError(f"{path}: holds no examples; save at least one input/target pair")
    if len(y) != len(x):
        raise AutofastError(f"{path}: {len(y)} targets for {len(x)} inputs; give one target per input")
    eight_bit = x.dtype == np.uint8
    x = to_float(x, source)
    if y.dtype.kind in "biu":
        spatial = tuple(y.shape[1:])
    elif y.dtype.kind == "f":  # one field (N, *S) where S is x's spatial shape, channels first, last or absent
        spatial_of_x = {tuple(x.shape[1:]), tuple(x.shape[2:])}
        if layout not in ("NCHW", "NCL"):
            spatial_of_x.add(tuple(x.shape[1:-1]))
        one = y.ndim in (2, 3) and tuple(y.shape[1:]) in spatial_of_x
        if one and y.ndim == 3 and x.ndim == 3 and y.shape[1:] == x.shape[1:] and _one_d(x.shape, layout):
            one = False  # (N, C, L) -> (N, C, L): C fields of length L, not one C x L field
        spatial = tuple(y.shape[1:]) if one else tuple(y.shape[2:])
    else:
        raise AutofastError(f"{path}: targets have dtype {y.dtype}; give integer masks or float fields")
    if len(spatial) not in (1, 2):
        raise AutofastError(f"{path}: targets of shape {y.shape} give {len(spatial)} spatial axes; dense tasks are "
                            f"1-D (N, L) or 2-D (N, H, W) per target channel")
    x = _inputs(x, spatial, layout, source)
    check_finite(x, source, "input value")
    if y.dtype.kind in "biu":
        return SupervisedData(x, *_mask_indices(y, source, min_classes, ignore_label), source, "dense",
                              uint8_input=eight_bit)
    if ignore_label is not None:
        raise AutofastError(f"{path}: 'ignore_label' is for integer masks; these targets are float fields -- drop "
                            "the key")
    field = np.ascontiguousarray(y if y.ndim == len(spatial) + 2 else y[:, None], dtype=np.float32)
    check_finite(field, source, "target value")
    zero = np.flatnonzero(~np.abs(field.reshape(len(field), -1)).any(1))
    if len(zero):  # relative L2 ||u' - u|| / ||u|| has no value there (it scored 3e11 and training diverged)
        raise AutofastError(f"{source}: the target field of example {int(zero[0])} is zero everywhere ({len(zero)} "
                            f"such example(s)); relative L2 is undefined for it: drop those examples (or add an "
                            f"offset to the targets)")
    return SupervisedData(x, field, [f"target{i}" for i in range(field.shape[1])], source, "dense",
                          uint8_input=eight_bit)


def _mask_indices(y: np.ndarray, source: str, min_classes: int, ignore: int | None) -> tuple[np.ndarray, list[str]]:
    """Integer masks ``y`` ``(N, *S)`` -> (int64 class indices of that shape, the sorted class names); positions
    holding ``ignore`` -> :data:`~.types.IGNORE_INDEX`, not a class."""
    flat = y.reshape(-1)
    kept = np.ones(flat.shape, bool) if ignore is None else flat != ignore
    if not kept.any():
        raise AutofastError(f"{source}: every position holds the ignore_label {ignore}; nothing to learn")
    idx, classes = labels_to_indices(flat[kept], source, min_classes)
    out = np.full(flat.shape, IGNORE_INDEX, dtype=np.int64)
    out[kept] = idx
    return out.reshape(y.shape), classes
