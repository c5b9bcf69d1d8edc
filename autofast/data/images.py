"""Image classification data: ``.npz`` arrays, a folder of class sub-folders, and scikit-learn's digits.

Everything comes out channels-first float32 ``(N, C, H, W)``; uint8 pixels are scaled to [0, 1],
other numeric dtypes are kept as they are (``load_task`` standardises per channel afterwards).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import AutofastError
from .classification import ClassificationData, labels_to_indices

IMAGE_FILE_SUFFIXES = {".png", ".jpg", ".jpeg"}
KEY_PAIRS = [("x", "y"), ("images", "labels")]
_CHANNELS = {1, 3, 4}
_GREY_MODES = {"1", "L", "I", "I;16", "F"}


def _to_float(x: np.ndarray, source: str) -> np.ndarray:
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    if x.dtype == bool or np.issubdtype(x.dtype, np.number) and not np.issubdtype(x.dtype, np.complexfloating):
        return x.astype(np.float32)
    raise AutofastError(f"{source}: image array has dtype {x.dtype}, which is not numeric; store the pixels as "
                        f"numbers (uint8 or float)")


def _channels_first(x: np.ndarray, source: str) -> np.ndarray:
    """(N,H,W) -> (N,1,H,W); (N,H,W,C) with C in {1,3,4} -> (N,C,H,W); (N,C,H,W) kept. When both
    axis 1 and the last axis could be channels, channels-last (the numpy/PIL convention) wins."""
    if x.ndim == 3:
        return x[:, None]
    if x.ndim == 4:
        if x.shape[-1] in _CHANNELS:
            return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        if x.shape[1] in _CHANNELS:
            return x
    raise AutofastError(f"{source}: images have shape {x.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W) "
                        f"with C in 1, 3, 4; reshape the array")


def _check_finite(x: np.ndarray, source: str) -> None:
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(x[tuple(first)]) else "inf"
        raise AutofastError(f"{source}: {int(bad.sum())} non-finite pixel value(s) (first: {kind} in image "
                            f"{int(first[0])}); replace them or drop those images")


def _labels(y: np.ndarray, n: int, source: str) -> tuple[np.ndarray, list[str]]:
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) != n:
        raise AutofastError(f"{source}: labels have shape {y.shape} but there are {n} images; give one label per "
                            f"image as a 1-D array of length {n}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise AutofastError(f"{source}: labels are non-integer floats; give integer or string class labels")
        y = y.astype(np.int64)
    elif y.dtype.kind not in "biuUS":
        raise AutofastError(f"{source}: labels have dtype {y.dtype}; give integer or string class labels")
    return labels_to_indices(y, source)


def _load_npz(path: Path) -> ClassificationData:
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            pair = next(((kx, ky) for kx, ky in KEY_PAIRS if kx in keys and ky in keys), None)
            if pair is None:
                raise AutofastError(f"{path}: needs arrays 'x' and 'y' (or 'images' and 'labels'), found "
                                    f"{', '.join(map(repr, keys)) or 'none'}; save with np.savez(path, x=images, "
                                    f"y=labels)")
            x, y = z[pair[0]], z[pair[1]]
    except AutofastError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise AutofastError(f"{path}: holds object arrays (ragged or non-numeric data); save equal-sized numeric "
                                f"image arrays and integer or string labels") from None
        raise AutofastError(f"{path}: cannot be read as .npz ({exc}); save it with np.savez") from None
    except Exception as exc:  # not a zip, truncated file
        raise AutofastError(f"{path}: cannot be read as .npz ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
                            f"save it with np.savez") from None
    source = str(path)
    if len(x) == 0:
        raise AutofastError(f"{path}: holds no images; save at least one image per class")
    x = _channels_first(_to_float(x, source), source)
    _check_finite(x, source)
    y_idx, classes = _labels(y, len(x), source)
    return ClassificationData(np.ascontiguousarray(x, dtype=np.float32), y_idx, classes, source, "image")


def _load_folder(root: Path) -> ClassificationData:
    from PIL import Image, UnidentifiedImageError

    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise AutofastError(f"{root}: has no class folders; arrange images as {root}/<class_name>/*.png")
    files: list[tuple[Path, str]] = []
    for d in class_dirs:
        found = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_FILE_SUFFIXES)
        if not found:
            raise AutofastError(f"{d}: class folder {d.name!r} has no .png/.jpg/.jpeg images; add images or remove "
                                f"the folder")
        files += [(f, d.name) for f in found]
    sizes, modes = [], []
    for f, _ in files:  # headers only: sizes and modes before decoding any pixels
        try:
            with Image.open(f) as im:
                sizes.append(im.size)
                modes.append(im.mode)
        except (UnidentifiedImageError, OSError) as exc:
            raise AutofastError(f"{f}: cannot be read as an image ({type(exc).__name__}); remove or replace it") from None
    w0, h0 = sizes[0]
    for (f, _), (w, h) in zip(files, sizes):
        if (w, h) != (w0, h0):
            raise AutofastError(f"{root}: image {f} is {w}x{h} but {files[0][0]} is {w0}x{h0} (width x height); "
                                f"resize them to one size")
    mode = "L" if all(m in _GREY_MODES for m in modes) else "RGB"
    arrays = []
    for f, _ in files:
        with Image.open(f) as im:
            arrays.append(np.asarray(im.convert(mode), dtype=np.uint8))
    x = _channels_first(np.stack(arrays).astype(np.float32) / 255.0, str(root))
    y, classes = labels_to_indices(np.asarray([c for _, c in files]), str(root))
    return ClassificationData(np.ascontiguousarray(x), y, classes, str(root), "image")


def load_images(path: str | Path) -> ClassificationData:
    """Load an image classification set into ``ClassificationData`` (kind "image", x ``(N, C, H, W)``).

    ``.npz``: arrays ``x``/``y`` (or ``images``/``labels``), images ``(N,H,W)``, ``(N,H,W,C)`` or
    ``(N,C,H,W)`` with C in {1, 3, 4}. A folder: ``root/<class_name>/*.png|jpg|jpeg``, all one size,
    read as greyscale (1 channel) when every file is greyscale, else RGB (3 channels), scaled to [0, 1].
    """
    path = Path(path)
    if not path.exists():
        raise AutofastError(f"data path {str(path)!r} does not exist; check the path")
    if path.is_dir():
        return _load_folder(path)
    if path.suffix.lower() == ".npz":
        return _load_npz(path)
    raise AutofastError(f"{path}: unsupported image data {path.suffix or '(no extension)'!r}; give a .npz file "
                        f"(x, y) or a folder of class sub-folders of .png/.jpg images")


def digits() -> ClassificationData:
    """scikit-learn's bundled 8x8 handwritten digits: x ``(1797, 1, 8, 8)`` float32 in [0, 1], 10 classes."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise AutofastError("the digits task needs scikit-learn; install it with `pip install scikit-learn`") from None
    d = load_digits()
    x = (np.asarray(d.images, dtype=np.float32) / 16.0)[:, None]
    y = np.asarray(d.target, dtype=np.int64)
    return ClassificationData(np.ascontiguousarray(x), y, [str(c) for c in range(10)], "sklearn.datasets.load_digits",
                              "image")
