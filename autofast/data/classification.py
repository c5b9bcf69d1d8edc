"""Classification data layer for DASH: the data container, a seeded stratified split, per-channel
standardisation with training statistics, and ``load_task`` which turns a name or a path into tensors.

Shapes: inputs are channels-first ``(N, C, *spatial)`` float32 — DNA ``(N, 4, L)`` one-hot, images
``(N, C, H, W)``; labels are ``(N,)`` int64 indices into ``classes``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import AutofastError

Kind = Literal["dna", "image"]
DNA_SUFFIXES = {".csv", ".tsv", ".tab", ".fa", ".fasta", ".fna"}
IMAGE_SUFFIXES = {".npz"}


@dataclass(frozen=True)
class ClassificationData:
    """Labelled examples: ``x`` float32 ``(N, C, *spatial)``, ``y`` int64 ``(N,)`` in ``[0, len(classes))``."""

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    source: str
    kind: Kind

    def __post_init__(self) -> None:
        if self.kind not in ("dna", "image"):
            raise AutofastError(f"{self.source}: unknown data kind {self.kind!r}; use 'dna' or 'image'")
        if self.x.dtype != np.float32 or self.x.ndim < 3:
            raise AutofastError(f"{self.source}: inputs must be float32 (N, C, *spatial), got {self.x.dtype} "
                                f"{self.x.shape}")
        if 0 in self.x.shape[1:]:
            raise AutofastError(f"{self.source}: every example has shape {self.x.shape[1:]}, i.e. no values; give "
                                "non-empty images or sequences")
        if self.y.dtype != np.int64 or self.y.ndim != 1 or len(self.y) != len(self.x):
            raise AutofastError(f"{self.source}: labels must be int64 (N,) with N={len(self.x)}, got {self.y.dtype} "
                                f"{self.y.shape}")
        if len(self.y) and (self.y.min() < 0 or self.y.max() >= len(self.classes)):
            raise AutofastError(f"{self.source}: label indices must lie in [0, {len(self.classes)}); "
                                f"got {self.y.min()}..{self.y.max()}")

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions: 1 for DNA, 2 for images."""
        return self.x.ndim - 2

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.x.shape[1])

    def __len__(self) -> int:
        return len(self.y)


def labels_to_indices(labels: np.ndarray | list, source: str) -> tuple[np.ndarray, list[str]]:
    """Map arbitrary labels to int64 indices into the sorted class list (numbers sort numerically).
    A single class is an error: there is nothing to classify."""
    arr = np.asarray(labels)
    if arr.size == 0:
        raise AutofastError(f"{source}: has no labelled examples")
    uniq, y = np.unique(arr, return_inverse=True)
    if len(uniq) < 2:
        raise AutofastError(f"{source}: every example has the label {str(uniq[0])!r}; a classification task "
                            f"needs at least two classes")
    return y.astype(np.int64).reshape(-1), [str(u) for u in uniq]


@dataclass(frozen=True)
class SplitIndices:
    """Disjoint row indices (int64, each shuffled) that together cover every row once."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    ratios: tuple[float, float, float]

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}


def _check_ratios(ratios) -> tuple[float, float, float]:
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or min(ratios) <= 0 or abs(sum(ratios) - 1) > 1e-6:
        raise AutofastError(f"split ratios {ratios} must be three positive numbers summing to 1")
    return ratios  # type: ignore[return-value]


def stratified_split(y: np.ndarray, ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
                     seed: int = 0) -> SplitIndices:
    """Per-class seeded shuffle into train/val/test with ``ratios``.

    Each class's split sizes are its count times the ratios rounded to the nearest row (so within one
    row of exact proportions); a class with >= 3 members gets at least one row in every split. The
    same ``(y, ratios, seed)`` always gives the same split.
    """
    ratios = _check_ratios(ratios)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) == 0:
        raise AutofastError(f"stratified_split needs a non-empty 1-D label array, got shape {y.shape}")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n = len(idx)
        n_val = int(np.floor(n * ratios[1] + 0.5))
        n_test = int(np.floor(n * ratios[2] + 0.5))
        counts = [n - n_val - n_test, n_val, n_test]
        if n >= 3:
            for k in range(3):
                if counts[k] == 0:
                    counts[int(np.argmax(counts))] -= 1
                    counts[k] = 1
        bounds = np.cumsum([0] + counts)
        for k in range(3):
            parts[k].append(idx[bounds[k]: bounds[k + 1]])
    train, val, test = (rng.permutation(np.concatenate(p)).astype(np.int64) for p in parts)
    return SplitIndices(train, val, test, seed, ratios)


def channel_standardizer(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (float32, shape ``(C,)``) over every axis but axis 1 of
    ``(N, C, *spatial)``; a constant channel gets std 1 so that it maps to zero, not NaN."""
    x = np.asarray(x_train, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != 1)
    mean = x.mean(axis=axes)
    std = x.std(axis=axes)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def _standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return ((x - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)


@dataclass
class ClassificationTask:
    """A loaded data set, its split, and torch tensors ready for training.

    ``x_*`` are float32 ``(n, C, *spatial)``, ``y_*`` int64 ``(n,)``. Images are standardised per
    channel with ``mean``/``std`` computed on the TRAIN rows only; DNA one-hot is left as is
    (``mean``/``std`` None).
    """

    name: str
    data: ClassificationData
    split: SplitIndices
    x_train: "torch.Tensor" = field(repr=False)  # noqa: F821
    y_train: "torch.Tensor" = field(repr=False)  # noqa: F821
    x_val: "torch.Tensor" = field(repr=False)  # noqa: F821
    y_val: "torch.Tensor" = field(repr=False)  # noqa: F821
    x_test: "torch.Tensor" = field(repr=False)  # noqa: F821
    y_test: "torch.Tensor" = field(repr=False)  # noqa: F821
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def build(cls, name: str, data: ClassificationData, seed: int = 0,
              ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> "ClassificationTask":
        import torch

        split = stratified_split(data.y, ratios, seed)
        for part, idx in (("train", split.train), ("val", split.val), ("test", split.test)):
            if len(idx) == 0:
                raise AutofastError(f"{data.source}: {len(data)} examples leave the {part} split empty; "
                                    f"add examples (at least 3 per class) or change the split ratios")
        mean = std = None
        xs = {k: data.x[getattr(split, k)] for k in ("train", "val", "test")}
        if data.kind == "image":
            mean, std = channel_standardizer(xs["train"])
            xs = {k: _standardise(v, mean, std) for k, v in xs.items()}

        def tx(k):
            return torch.from_numpy(np.ascontiguousarray(xs[k], dtype=np.float32))

        def ty(k):
            return torch.from_numpy(np.ascontiguousarray(data.y[getattr(split, k)], dtype=np.int64))

        return cls(name, data, split, tx("train"), ty("train"), tx("val"), ty("val"), tx("test"), ty("test"),
                   mean, std)


def known_tasks() -> list[str]:
    """Bundled classification data sets (names accepted by :func:`load_task`)."""
    from .registry import DATASETS

    return [d.name for d in DATASETS.values() if d.kind in ("dna", "image")]


def load_data(name_or_path: str | Path) -> tuple[str, ClassificationData]:
    """Resolve a bundled name (case-insensitive) or a path to ``(task name, data)``.

    Paths go by type: ``.csv/.tsv/.tab/.fa/.fasta/.fna`` -> DNA, ``.npz`` or a directory of class
    folders -> images.
    """
    from .dna import load_dna
    from .images import digits, load_images
    from .registry import DATASETS

    text = str(name_or_path)
    for d in DATASETS.values():
        if d.name.lower() == text.lower():
            if d.name == "digits":
                return d.name, digits()
            if d.kind == "dna":
                return d.name, load_dna(d.path)
            if d.kind == "image" and d.path is not None:
                return d.name, load_images(d.path)
            raise AutofastError(f"data set {d.name!r} is a {d.kind} data set, not a classification task; "
                                f"choose one of: {', '.join(known_tasks())}")
    p = Path(text)
    suffix = p.suffix.lower()
    if p.is_dir():
        return p.name, load_images(p)
    if suffix in DNA_SUFFIXES:
        return p.stem, load_dna(p)
    if suffix in IMAGE_SUFFIXES:
        return p.stem, load_images(p)
    if p.exists():
        raise AutofastError(f"{p}: unsupported file type {suffix or '(none)'!r}; give a .csv/.tsv/.fa/.fasta/.fna "
                            f"DNA file, a .npz image array or a folder of class sub-folders")
    raise AutofastError(f"unknown task {text!r}: give a bundled name ({', '.join(known_tasks())}; see "
                        f"`python -m autofast datasets`) or a path to a .csv/.tsv/.fa/.fasta/.fna DNA file, "
                        f"a .npz image array or a folder of class sub-folders")


def load_task(name_or_path: str | Path, seed: int = 0,
              ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)) -> ClassificationTask:
    """Load a classification task and split it (stratified, seeded); see :func:`load_data` for names.

    A ``.yaml``/``.yml`` path is a task file (:mod:`autofast.data.task_file`); its split wins.
    """
    if Path(str(name_or_path)).suffix.lower() in (".yaml", ".yml"):
        from .task_file import load_task_file

        name, data, spec = load_task_file(name_or_path)
        seed = spec.split.seed if spec.split.seed is not None else seed
        return ClassificationTask.build(name, data, seed, _check_ratios(spec.split.ratios))
    ratios = _check_ratios(ratios)
    name, data = load_data(name_or_path)
    return ClassificationTask.build(name, data, seed, ratios)
