"""Image classification data with any number of bands: ``.npz``/``.npy`` arrays, a folder of class
sub-folders, and scikit-learn's digits.

Everything comes out channels-first float32 ``(N, C, H, W)`` for any C (1 grey, 3 RGB, 13 Sentinel-2,
100+ hyperspectral); uint8 pixels are scaled to [0, 1], other numeric dtypes are kept as they are
(the task standardises every band with its training statistics afterwards).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import AutofastError
from .arrays import ARRAY_SUFFIXES, read_arrays, to_float
from .text import data_suffix
from .types import SupervisedData, Target, check_finite, labels_to_indices, targets_from

ImageLayout = Literal["auto", "NCHW", "NHWC"]
IMAGE_FILE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
_COMMON_CHANNELS = {1, 3, 4}
_GREY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "F"}
#: grey modes of more than 8 bits: scaled by their own range (16-bit PNG/TIFF: / 65535), not clipped to 8 bits
_WIDE_MODES = {"I": 65535.0, "I;16": 65535.0, "I;16B": 65535.0, "I;16L": 65535.0, "F": 1.0}


def image_pixels(f: Path, grey: bool) -> np.ndarray:
    """One image file's pixels as float32 in [0, 1], turned as its EXIF orientation says (a phone's portrait
    photo is stored sideways): ``(H, W)`` grey (8-bit / 255; 16-bit / 65535 -- they were clipped to 255 by an
    8-bit conversion, a 16-bit satellite or microscope image turned white) or ``(H, W, 3)`` RGB (a 16-bit grey
    image's value in all three); a file that does not decode is one error line naming it."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(f) as raw:
            im = ImageOps.exif_transpose(raw)
            if im.mode in _WIDE_MODES:
                g = np.asarray(im, dtype=np.float32) / _WIDE_MODES[im.mode]
                return g if grey else np.repeat(g[..., None], 3, axis=2)
            return np.asarray(im.convert("L" if grey else "RGB"), dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError) as exc:
        raise AutofastError(f"{f}: cannot be read as an image ({str(exc) or type(exc).__name__}); remove or replace "
                            "it") from None


def channels_first(x: np.ndarray, source: str, layout: ImageLayout = "auto") -> np.ndarray:
    """``(N, H, W)`` -> ``(N, 1, H, W)``; 4-D arrays by ``layout`` (``NCHW`` or ``NHWC``), or with ``auto``:

    1. the axis (1 or 3) that differs while the other two are equal is the band axis (``(N, 13, 64, 64)``,
       ``(N, 64, 64, 13)``);
    2. else a last axis of 1, 3 or 4 means channels-last (the numpy/PIL convention), an axis 1 of 1, 3 or 4
       channels-first;
    3. else the shape cannot be decided: a one-line error asks for ``layout:``.
    """
    if layout not in ("auto", "NCHW", "NHWC"):
        raise AutofastError(f"{source}: unknown image layout {layout!r}; use NCHW or NHWC")
    if x.ndim == 3:
        if x.shape[1] <= 3 and x.shape[2] >= 16 * x.shape[1]:  # (N, 1, 40), (N, 3, 200): channels x steps
            raise AutofastError(f"{source}: arrays of shape {x.shape} look like {x.shape[0]} series of {x.shape[1]} "
                                f"channel(s) x {x.shape[2]} steps, not images {x.shape[1]} pixel(s) high (an "
                                ".npz/.npy is read as images unless a task file says otherwise): write a task file "
                                "with 'kind: series', or give images as (N, 1, H, W)")
        return x[:, None]
    if x.ndim != 4:
        raise AutofastError(f"{source}: images have shape {x.shape}; expected (N, H, W), (N, H, W, C) or (N, C, H, W) "
                            "(an .npz/.npy is read as images unless a task file says 'kind: series' or 'kind: dense'); "
                            "reshape the array or write a task file")
    if layout == "auto":
        _, a, b, c = x.shape
        if b == c and a != b:
            layout = "NCHW"
        elif a == b and c != a:
            layout = "NHWC"
        elif c in _COMMON_CHANNELS:
            layout = "NHWC"
        elif a in _COMMON_CHANNELS:
            layout = "NCHW"
        else:
            raise AutofastError(f"{source}: cannot tell the band axis of images of shape {x.shape}; add "
                                f"'layout: NCHW' or 'layout: NHWC' to the task file")
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2)) if layout == "NHWC" else x


def _load_arrays(path: Path, layout: ImageLayout, labels: Path | None, target: Target = "auto",
                 min_classes: int = 2) -> SupervisedData:
    x, y = read_arrays(path, labels, "image")
    source = str(path)
    if len(x) == 0:
        raise AutofastError(f"{path}: holds no images; save at least one image per class")
    eight_bit = x.dtype == np.uint8
    x = channels_first(to_float(x, source, "image"), source, layout)
    check_finite(x, source, "pixel value", "image")
    y_idx, classes = targets_from(y, len(x), source, target, "image", min_classes)
    return SupervisedData(np.ascontiguousarray(x, dtype=np.float32), y_idx, classes, source, "image",
                          uint8_input=eight_bit)


def _load_folder(root: Path, min_classes: int = 2, bands: int | None = None) -> SupervisedData:
    from PIL import Image, UnidentifiedImageError

    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not is_debris(p))
    if not class_dirs:
        raise AutofastError(f"{root}: has no class folders; arrange images as {root}/<class_name>/*.png")
    files: list[tuple[Path, str]] = []
    skipped = []  # files of a class folder that are not images (notes.txt): left out, said
    for d in class_dirs:
        found = image_files(d)
        skipped += [p for p in d.iterdir() if p.is_file() and not is_debris(p) and p not in found]
        if not found:
            raise AutofastError(f"{d}: class folder {d.name!r} has no images ({', '.join(sorted(IMAGE_FILE_SUFFIXES))});"
                                " add images or remove the folder")
        files += [(f, class_name(d)) for f in found]
    sizes, modes = [], []
    for f, _ in files:  # headers only: sizes and modes before decoding any pixels
        try:
            with Image.open(f) as im:
                w, h = im.size
                turned = im.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientation: stored sideways
                sizes.append((h, w) if turned else (w, h))
                modes.append(im.mode)
        except (UnidentifiedImageError, OSError) as exc:
            why = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__  # "image file is truncated"
            raise AutofastError(f"{f}: cannot be read as an image ({why}); remove or replace it") from None
    common = Counter(sizes).most_common(1)[0][0]  # the odd one out is named, not the first file's size
    for (f, _), (w, h) in zip(files, sizes):
        if (w, h) != common:
            many = sum(s == common for s in sizes)
            raise AutofastError(f"{root}: image {f} is {w}x{h} but {many} of the {len(files)} images are "
                                f"{common[0]}x{common[1]} (width x height); resize them to one size")
    grey = bands == 1 if bands in (1, 3) else all(m in _GREY_MODES for m in modes)  # bands: the training folder's
    x = np.stack([image_pixels(f, grey) for f, _ in files])
    x = channels_first(x, str(root), "auto" if grey else "NHWC")
    y, classes = labels_to_indices(np.asarray([c for _, c in files]), str(root), min_classes)
    notes = []
    if skipped:
        kinds = ", ".join(sorted(IMAGE_FILE_SUFFIXES))
        notes.append(f"{len(skipped)} file(s) in the class folders are not images ({kinds}) and were left out (e.g. "
                     f"{skipped[0].name!r})")
    as_rgb = sum(m in _GREY_MODES for m in modes) if not grey else 0
    if as_rgb:
        notes.append(f"{as_rgb} grey image file(s) read as RGB (the same grey in all three bands): the others are "
                     "colour")
    return SupervisedData(np.ascontiguousarray(x), y, classes, str(root), "image", uint8_input=True,  # files: / 255
                          load_notes=tuple(notes))


def class_name(folder: Path) -> str:
    """A class folder's name as its class (Unicode NFC: macOS writes 'ü' decomposed, Linux composed; the two
    named one class 'not among the model's classes')."""
    import unicodedata

    return unicodedata.normalize("NFC", folder.name)


def is_debris(p: Path) -> bool:
    """Hidden files and what other systems leave in a folder: macOS's ``._name`` (AppleDouble) files and
    ``__MACOSX`` folders (from unpacked zips), ``.DS_Store``, Windows' ``Thumbs.db``/``desktop.ini``."""
    return p.name.startswith(".") or p.name == "__MACOSX" or p.name.lower() in ("thumbs.db", "desktop.ini")


def image_files(d: Path) -> list[Path]:
    """The image files of folder ``d`` (by suffix, :data:`IMAGE_FILE_SUFFIXES`), in name order, debris left out."""
    return sorted(p for p in d.iterdir() if p.is_file() and not is_debris(p) and p.suffix.lower() in IMAGE_FILE_SUFFIXES)


def load_images(path: str | Path, layout: ImageLayout = "auto", labels: str | Path | None = None,
                target: Target = "auto", min_classes: int = 2, bands: int | None = None) -> SupervisedData:
    """Load an image set into ``SupervisedData`` (kind "image", x ``(N, C, H, W)``; arrays' targets: class
    labels or values, ``target``: :func:`autofast.data.types.targets_from`).

    ``.npz``: arrays ``x``/``y`` (or ``images``/``labels``); ``.npy``: the images, with ``labels`` a ``.npy``
    of labels. Images ``(N,H,W)``, ``(N,H,W,C)`` or ``(N,C,H,W)`` for any C (see :func:`channels_first`
    for ``layout``). A folder: ``root/<class_name>/*.png|jpg|jpeg``, all one size, read as greyscale
    (1 channel) when every file is greyscale, else RGB (3 channels), scaled to [0, 1]; ``bands`` (1 or 3: a val or
    test folder of an official split, the training images' bands) reads it that way instead.
    """
    path = Path(path)
    if not path.exists():
        raise AutofastError(f"data path {str(path)!r} does not exist; check the path")
    if path.is_dir():
        return _load_folder(path, min_classes, bands)
    if data_suffix(path) in ARRAY_SUFFIXES:
        return _load_arrays(path, layout, None if labels is None else Path(labels), target, min_classes)
    raise AutofastError(f"{path}: unsupported image data {data_suffix(path) or '(no extension)'!r}; give a .npz file "
                        f"(x, y), a .npy file with a labels .npy, or a folder of class sub-folders of .png/.jpg images")


def digits() -> SupervisedData:
    """scikit-learn's bundled 8x8 handwritten digits: x ``(1797, 1, 8, 8)`` float32 in [0, 1], 10 classes."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise AutofastError("the digits task needs scikit-learn; install it with `pip install scikit-learn`") from None
    d = load_digits()
    x = (np.asarray(d.images, dtype=np.float32) / 16.0)[:, None]
    y = np.asarray(d.target, dtype=np.int64)
    return SupervisedData(np.ascontiguousarray(x), y, [str(c) for c in range(10)], "sklearn.datasets.load_digits",
                              "image")
