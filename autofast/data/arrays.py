"""Numeric arrays from ``.npz`` (inputs and labels together) or ``.npy`` (inputs; labels in a second
``.npy`` file), either also compressed (``x.npy.gz``: :mod:`.text`), shared by the image, series and dense
loaders. Pickled (object) arrays are refused."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ..errors import AutofastError
from .text import compression, data_suffix, read_bytes

ARRAY_SUFFIXES = {".npz", ".npy"}
KEY_PAIRS = [("x", "y"), ("images", "labels")]


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def np_load(path: Path):
    """``np.load(path, allow_pickle=False)``, a compressed file decompressed into memory first."""
    return np.load(io.BytesIO(read_bytes(path)) if compression(path) else path, allow_pickle=False)


def load_npy(path: Path, what: str) -> np.ndarray:
    try:
        return np_load(path)
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise AutofastError(f"{path}: holds an object array (ragged or non-numeric data); save an equal-sized "
                                f"numeric {what} array") from None
        raise AutofastError(f"{path}: cannot be read as .npy ({_first_line(exc)}); save it with np.save") from None
    except AutofastError:  # a damaged compressed file
        raise
    except Exception as exc:  # truncated file, not an array
        raise AutofastError(f"{path}: cannot be read as .npy ({_first_line(exc)}); save it with np.save") from None


def read_arrays(path: Path, labels: Path | None = None, what: str = "input") -> tuple[np.ndarray, np.ndarray]:
    """``(x, y)`` from ``path``: a ``.npz`` with arrays ``x``/``y`` (or ``images``/``labels``), or a ``.npy`` of
    inputs with ``labels`` a ``.npy`` of targets. One-line :class:`AutofastError` naming the file otherwise."""
    path = Path(path)
    if not path.exists():
        raise AutofastError(f"data path {str(path)!r} does not exist; check the path")
    suffix = data_suffix(path)
    if suffix == ".npy":
        if labels is None:
            raise AutofastError(f"{path}: a .npy file holds only the inputs; give the labels as a second .npy file "
                                f"(task file key 'labels:') or save both with np.savez(path, x=inputs, y=labels)")
        labels = Path(labels)
        if not labels.exists():
            raise AutofastError(f"labels file {str(labels)!r} does not exist; check the path")
        return load_npy(path, what), load_npy(labels, "label")
    if suffix != ".npz":
        raise AutofastError(f"{path}: not a .npz or .npy array file; save the data with np.savez(path, x=..., y=...)")
    try:
        with np_load(path) as z:
            keys = list(z.keys())
            pair = next(((kx, ky) for kx, ky in KEY_PAIRS if kx in keys and ky in keys), None)
            if pair is None:
                raise AutofastError(f"{path}: needs arrays 'x' and 'y' (or 'images' and 'labels'), found "
                                    f"{', '.join(map(repr, keys)) or 'none'}; save with np.savez(path, x={what}s, "
                                    f"y=labels)")
            return z[pair[0]], z[pair[1]]
    except AutofastError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise AutofastError(f"{path}: holds object arrays (ragged or non-numeric data); save equal-sized numeric "
                                f"{what} arrays and integer or string labels") from None
        raise AutofastError(f"{path}: cannot be read as .npz ({exc}); save it with np.savez") from None
    except Exception as exc:  # not a zip, truncated file
        raise AutofastError(f"{path}: cannot be read as .npz ({_first_line(exc)}); save it with np.savez") from None


def to_float(x: np.ndarray, source: str, what: str = "input") -> np.ndarray:
    """float32 copy; uint8 is scaled to [0, 1] (8-bit pixels), other numeric dtypes kept as they are."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if x.dtype == bool or np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating):
        with np.errstate(over="ignore"):
            out = x.astype(np.float32)
        if np.isinf(out).any() and not np.isinf(x).any():
            raise AutofastError(f"{source}: {what} values beyond float32's range (|x| > 3.4e38); rescale them")
        return out
    raise AutofastError(f"{source}: {what} array has dtype {x.dtype}, which is not numeric; store the values as "
                        f"numbers (uint8 or float)")
