"""The data layer's shared types (a leaf module: it imports no loader and no dispatcher).

* :class:`SupervisedData` -- labelled examples of one kind, channels first, with the official split
  each row came from (``origin``) when the task gave ``train:``/``val:``/``test:`` files;
* :func:`labels_to_indices` / :func:`merge_parts` -- class labels to indices, one class list over files;
* :class:`SplitIndices`, :func:`stratified_split`, :func:`stratified_holdout`, :func:`split_for` -- seeded,
  stratified splits, and where each split came from (``provenance``);
* :func:`channel_standardizer` / :func:`standardise` -- per-channel (per-band) statistics of the training rows.

Loaders (:mod:`.dna`, :mod:`.images`, :mod:`.series`, :mod:`.dense`, :mod:`.task_file`) import from here;
the dispatcher :mod:`.supervised` imports them.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from ..errors import AutofastError

Kind = Literal["dna", "image", "series", "dense"]
KINDS = ("dna", "image", "series", "dense")
#: what a task's targets are: ``auto`` (numbers that are not all whole are values, :func:`targets_from`),
#: class labels, or values to regress
Target = Literal["auto", "classification", "regression"]
#: the row's official split, in ``SupervisedData.origin``
ORIGIN_CODES = {"train": 0, "val": 1, "test": 2}


#: a dense mask's label index at positions to ignore (a task file's ``ignore_label``: no data, borders): no loss
#: there (:func:`autofast.engine.task_loss`), not counted in accuracy or IoU
IGNORE_INDEX = -1


@dataclass(frozen=True)
class SupervisedData:
    """Examples with their targets (class labels, per-position masks or fields): ``x`` float32 ``(N, C, *spatial)``.

    ``y``: int64 ``(N,)`` class indices into ``classes`` (kinds dna, image, series), or float64 ``(N, T)``
    values of T targets (regression; ``classes`` then names the targets); for ``dense`` int64
    ``(N, *spatial)`` per-position class indices (segmentation) or float32 ``(N, T, *spatial)`` fields
    (regression; ``classes`` then names the T target channels). ``origin``: None, or int8 ``(N,)`` with the
    official split of each row (:data:`ORIGIN_CODES`); ``origin_files``: split name -> the file it came from;
    ``channel_names``: the input channels' names where the file names them (a long table's channel columns);
    ``step_names``: a wide table's step columns (val/test files and new data with these names in another order
    are read by name); ``text_columns``: a table's columns of text, not read (names, dates, notes);
    ``uint8_input``: the inputs were 8-bit (pixels, read as value / 255), not values as they are;
    ``timed``: a long table of series whose rows were ordered by its time column; ``load_notes``: what reading
    the file(s) did to the rows that a run should say (series brought to one length, a time step skipped).
    """

    x: np.ndarray
    y: np.ndarray
    classes: list[str]
    source: str
    kind: Kind
    origin: np.ndarray | None = None
    origin_files: dict = field(default_factory=dict)
    channel_names: tuple[str, ...] | None = None
    step_names: tuple[str, ...] | None = None
    text_columns: tuple[str, ...] = ()
    uint8_input: bool = False
    timed: bool = False
    load_notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise AutofastError(f"{self.source}: unknown data kind {self.kind!r}; use one of {', '.join(KINDS)}")
        if self.x.dtype != np.float32 or self.x.ndim < 3:
            raise AutofastError(f"{self.source}: inputs must be float32 (N, C, *spatial), got {self.x.dtype} "
                                f"{self.x.shape}")
        if 0 in self.x.shape[1:]:
            raise AutofastError(f"{self.source}: every example has shape {self.x.shape[1:]}, i.e. no values; give "
                                "non-empty images or sequences")
        if len(self.y) != len(self.x):
            raise AutofastError(f"{self.source}: {len(self.y)} targets for {len(self.x)} inputs; give one per example")
        if self.kind == "dense":
            self._check_dense()
        elif self.y.dtype.kind == "f":
            if self.y.dtype not in (np.float32, np.float64) or self.y.ndim != 2 or self.y.shape[1] != len(self.classes):
                raise AutofastError(f"{self.source}: target values must be float (N, T) with T = "
                                    f"{len(self.classes)} target names, got {self.y.dtype} {self.y.shape}")
            check_finite(self.y, self.source, "target value")
        else:
            if self.y.dtype != np.int64 or self.y.ndim != 1:
                raise AutofastError(f"{self.source}: labels must be int64 (N,), got {self.y.dtype} {self.y.shape}")
            self._check_indices()
        if self.origin is not None and (self.origin.shape != (len(self.x),) or self.origin.dtype != np.int8):
            raise AutofastError(f"{self.source}: origin must be int8 (N,), got {self.origin.dtype} {self.origin.shape}")

    def _check_indices(self, lowest: int = 0) -> None:
        if self.y.size and (self.y.min() < lowest or self.y.max() >= len(self.classes)):
            raise AutofastError(f"{self.source}: label indices must lie in [{lowest}, {len(self.classes)}); "
                                f"got {self.y.min()}..{self.y.max()}")

    def _check_dense(self) -> None:
        spatial = self.x.shape[2:]
        if self.y.dtype == np.int64:
            if self.y.shape[1:] != spatial:
                raise AutofastError(f"{self.source}: masks have shape {self.y.shape[1:]} per example but inputs "
                                    f"{spatial}; give one label per position")
            self._check_indices(IGNORE_INDEX)  # a position to ignore
        elif self.y.dtype == np.float32:
            if self.y.ndim != self.x.ndim or self.y.shape[2:] != spatial:
                raise AutofastError(f"{self.source}: target fields have shape {self.y.shape[1:]} per example but "
                                    f"inputs {self.x.shape[1:]}; give (T, *spatial) per example")
        else:
            raise AutofastError(f"{self.source}: dense targets must be int64 masks or float32 fields, got {self.y.dtype}")

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions: 1 for DNA and series, 2 for images."""
        return self.x.ndim - 2

    @property
    def regression(self) -> bool:
        """True for float targets (values to regress, dense fields)."""
        return self.y.dtype.kind == "f"

    @property
    def num_classes(self) -> int:
        """Classes, or for values and dense fields the targets (the network's output size)."""
        return len(self.classes)

    @property
    def channels(self) -> int:
        return int(self.x.shape[1])

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, mask: np.ndarray, y: np.ndarray | None = None, classes: list[str] | None = None
               ) -> "SupervisedData":
        """The rows where ``mask`` holds (optionally with re-indexed ``y`` and ``classes``), origins kept."""
        return replace(self, x=np.ascontiguousarray(self.x[mask]), y=self.y[mask] if y is None else y,
                       classes=list(self.classes if classes is None else classes),
                       origin=None if self.origin is None else self.origin[mask], origin_files=dict(self.origin_files))


def labels_to_indices(labels: np.ndarray | list, source: str, min_classes: int = 2) -> tuple[np.ndarray, list[str]]:
    """Map arbitrary labels to int64 indices into the sorted class list (numbers sort numerically).
    Fewer than ``min_classes`` classes is an error: a task's one class leaves nothing to classify (a val or test
    file of an official split may hold one: ``min_classes=1``)."""
    arr = np.asarray(labels)
    if arr.size == 0:
        raise AutofastError(f"{source}: has no labelled examples")
    uniq, y = np.unique(arr, return_inverse=True)
    if len(uniq) < min_classes:
        raise AutofastError(f"{source}: every example has the label {str(uniq[0])!r}; a classification task "
                            f"needs at least two classes")
    return y.astype(np.int64).reshape(-1), [str(u) for u in uniq]


_INTEGRAL_TEXT = re.compile(r"^\s*[-+]?\d+\.0*\s*$")


def integral_text(label: str) -> str:
    """A class label as text, a whole number written as a float (``"3.0"``: a spreadsheet's or pandas' float
    column) as the integer (``"3"``), so that "3.0" in one file and "3" in another are one class."""
    return str(int(float(label))) if _INTEGRAL_TEXT.match(label) else label


def is_one_hot(arr: np.ndarray) -> bool:
    """Whether ``arr`` ``(N, K)``, K >= 2, holds one-hot rows (0/1 numbers, each row one 1)."""
    if arr.ndim != 2 or arr.shape[1] < 2 or arr.dtype.kind not in "biuf" or arr.size == 0:
        return False
    return bool(np.isin(arr, (0, 1)).all() and (arr.sum(1) == 1).all())


def _as_numbers(arr: np.ndarray) -> np.ndarray | None:
    """float64 copy of numeric labels (or of strings that all read as numbers); None otherwise."""
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float64)
    if arr.dtype.kind in "USO":
        try:
            return np.asarray([float(str(v)) for v in arr.reshape(-1)], dtype=np.float64).reshape(arr.shape)
        except ValueError:
            return None
    return None


def targets_from(labels, n: int, source: str, target: Target = "auto", unit: str = "example", min_classes: int = 2
                 ) -> tuple[np.ndarray, list[str]]:
    """Per-example targets ``(n,)`` or ``(n, T)`` -> ``(y, names)``: int64 class indices ``(n,)`` and the class
    names (:func:`labels_to_indices`), or for values float64 ``(n, T)`` and T target names (``target`` or
    ``target1..T``). ``target`` "auto": values where the labels are numbers not all whole (a whole number, e.g.
    a count, is a class unless the task file says ``target: regression``), classes otherwise."""
    arr = np.asarray(labels)
    if arr.ndim == 2 and arr.shape[1] == 1 and target != "regression":
        arr = arr[:, 0]
    if target != "regression" and is_one_hot(arr):  # Keras-style one-hot rows: the class of each (were values)
        arr = arr.argmax(1)
    if len(arr) != n or arr.ndim not in (1, 2) or (arr.ndim == 2 and target == "classification"):
        dense = arr.ndim >= 3 and len(arr) == n  # a field per example: a dense task, which a task file names
        raise AutofastError(f"{source}: targets have shape {arr.shape} but there are {n} {unit}s; give one "
                            f"target per {unit} ((N,), or (N, T) values)"
                            + ("; a target field per input (a mask, a PDE solution) is a dense task: write a task "
                               "file with 'kind: dense'" if dense else ""))
    numbers = _as_numbers(arr)
    if target == "auto" and numbers is None and arr.ndim == 1 and arr.dtype.kind in "USO" and len(arr) >= 10:
        parsed = [_as_numbers(np.asarray([v])) for v in arr.tolist()]
        ok = [p[0] for p in parsed if p is not None]
        if len(ok) >= 0.9 * len(arr) and np.mean([v != round(v) for v in ok]) > 0.5:  # values, and a stray cell
            bad = next(i for i, p in enumerate(parsed) if p is None)  # (800 'classes' of one example each)
            raise AutofastError(f"{source}: target {bad + 1} is {str(arr[bad])!r}, not a number, where the others are "
                                "values; fill it in or drop the row (or 'target: classification' in a task file)")
    values = target == "regression" or (target == "auto" and numbers is not None
                                        and (arr.ndim == 2 or not np.all(numbers == np.round(numbers))))
    if not values:
        if numbers is not None and arr.dtype.kind == "f":
            if not np.all(np.isfinite(numbers)) or not np.all(numbers == np.round(numbers)):
                raise AutofastError(f"{source}: labels are non-integer floats; give integer or string class labels "
                                    "(or 'target: regression' in a task file to regress them)")
            arr = numbers.astype(np.int64)
        elif arr.dtype.kind == "U":
            arr = np.asarray([integral_text(v) for v in arr.tolist()])
        return labels_to_indices(arr, source, min_classes)
    y = target_values(arr, n, source, unit, numbers)
    names = ["target"] if y.shape[1] == 1 else [f"target{i + 1}" for i in range(y.shape[1])]
    return np.ascontiguousarray(y, dtype=np.float64), names  # float64: 5e7 + a value of std 1 kept its signal


def target_values(labels, n: int, source: str, unit: str = "example", numbers: np.ndarray | None = None
                  ) -> np.ndarray:
    """Values ``(n,)`` or ``(n, T)`` (numbers, or strings of numbers) -> float64 ``(n, T)``; one error line when
    they are not numbers or not finite. ``numbers``: :func:`_as_numbers` of them where the caller has it."""
    arr = np.asarray(labels)
    numbers = _as_numbers(arr) if numbers is None else numbers
    if numbers is None:
        flat = arr.reshape(-1)
        bad = next((i for i, v in enumerate(flat) if _as_numbers(np.asarray([v])) is None), 0)  # the culprit, not [0]
        raise AutofastError(f"{source}: target {bad + 1} ({unit} {bad // max(1, flat.size // max(n, 1)) + 1}) is "
                            f"{str(flat[bad])!r}, not a number; regression needs numeric targets (or set 'target: "
                            "classification' in the task file)")
    y = numbers.reshape(n, -1)
    check_finite(y, source, "target value", unit)
    return y


def row_digests(x) -> list[str]:
    """One 16-hex-digit BLAKE2b digest per example of ``x`` ``(N, ...)`` (an array or a CPU tensor; its float32
    values): rows with equal digests hold the same values. What a checkpoint records of the rows it trained on,
    and how a test row is found among the training rows."""
    rows = np.ascontiguousarray(np.asarray(x, dtype=np.float32)).reshape(len(x), -1)
    return [hashlib.blake2b(r.tobytes(), digest_size=8).hexdigest() for r in rows]


def merge_parts(parts: dict[str, SupervisedData], where: str) -> SupervisedData:
    """One data set from official split files (keys ``train``, ``test`` and optionally ``val``).

    Classes are the training file's; a class in the val/test file that the training file lacks is an
    error. Every file must give the same per-example input shape. ``origin`` records each row's file.
    """
    train = parts["train"]
    index = {c: i for i, c in enumerate(train.classes)}
    xs, ys, origin, files = [], [], [], {}
    for split in ("train", "val", "test"):
        d = parts.get(split)
        if d is None:
            continue
        if d.kind != train.kind:
            raise AutofastError(f"{where}: field {split!r} holds {d.kind} data but 'train' holds {train.kind}; "
                                f"give files of one kind")
        if d.uint8_input != train.uint8_input:  # the same pixels read two ways: 0.19 accuracy for 0.67
            what = {True: "8-bit (uint8: read as value / 255)", False: "not 8-bit (read as they are)"}
            raise AutofastError(f"{where}: field {split!r}: inputs are {what[d.uint8_input]} but 'train''s are "
                                f"{what[train.uint8_input]}; save the files in one dtype")
        if d.x.shape[1:] != train.x.shape[1:]:
            raise AutofastError(f"{where}: field {split!r}: inputs have shape {d.x.shape[1:]} per example but "
                                f"'train' has {train.x.shape[1:]}; give files of one shape")
        y = d.y
        if d.regression != train.regression:
            what = {True: "values (regression)", False: "class labels"}
            raise AutofastError(f"{where}: field {split!r} holds {what[d.regression]} but 'train' holds "
                                f"{what[train.regression]}; give one kind of target (task file key 'target:')")
        if train.regression and d.y.shape[1] != train.y.shape[1]:
            raise AutofastError(f"{where}: field {split!r} has {d.y.shape[1]} target(s) per example but 'train' "
                                f"has {train.y.shape[1]}; give files with the same targets")
        if not train.regression:
            unknown = [c for c in d.classes if c not in index]
            if unknown:
                raise AutofastError(f"{where}: field {split!r}: class(es) {', '.join(map(repr, unknown[:5]))} do not "
                                    f"occur in the training file; relabel them or add training examples")
            y = np.array([index[c] for c in d.classes] + [IGNORE_INDEX], dtype=np.int64)[d.y]  # -1 stays -1
        xs.append(d.x)
        ys.append(y)
        origin.append(np.full(len(d), ORIGIN_CODES[split], dtype=np.int8))
        files[split] = d.source
    notes = tuple(f"{split} file: {note}" for split, d in parts.items() if d is not None for note in d.load_notes)
    return SupervisedData(np.ascontiguousarray(np.concatenate(xs)), np.concatenate(ys), list(train.classes),
                          where, train.kind, np.concatenate(origin), files, train.channel_names, train.step_names,
                          train.text_columns, train.uint8_input, train.timed, notes)


@dataclass(frozen=True)
class SplitIndices:
    """Disjoint row indices (int64, each shuffled) that together cover every row once.

    ``ratios``: the fractions asked for (ratio splits) or the realised fractions (official splits);
    ``provenance``: split name -> where its rows came from, in words (for result.json and reports).
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    seed: int
    ratios: tuple[float, float, float]
    provenance: dict = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def describe(self) -> dict:
        """JSON-ready: sizes, seed, ratios and provenance."""
        return {**self.sizes(), "seed": self.seed, "ratios": [round(r, 4) for r in self.ratios],
                "provenance": dict(self.provenance)}


def check_ratios(ratios) -> tuple[float, float, float]:
    ratios = tuple(float(r) for r in ratios)
    if len(ratios) != 3 or min(ratios) <= 0 or abs(sum(ratios) - 1) > 1e-6:
        raise AutofastError(f"split ratios {ratios} must be three positive numbers summing to 1")
    return ratios  # type: ignore[return-value]


def _strata(y: np.ndarray) -> np.ndarray:
    """One stratum per example: its class, or for dense targets one stratum for all."""
    y = np.asarray(y)
    return y if y.ndim == 1 and y.dtype.kind in "iu" else np.zeros(len(y), dtype=np.int64)


def stratified_split(y: np.ndarray, ratios: tuple[float, float, float] = (0.7, 0.1, 0.2),
                     seed: int = 0) -> SplitIndices:
    """Per-class seeded shuffle into train/val/test with ``ratios``.

    Each class's split sizes are its count times the ratios rounded to the nearest row (so within one
    row of exact proportions); a class with >= 3 members gets at least one row in every split. The
    same ``(y, ratios, seed)`` always gives the same split. Dense targets form one stratum.
    """
    ratios = check_ratios(ratios)
    if len(y) == 0:
        raise AutofastError("stratified_split needs a non-empty label array")
    y = _strata(y)
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
    how = "stratified" if len(np.unique(y)) > 1 else "random"
    return SplitIndices(train, val, test, seed, ratios,
                        {k: f"{how} {ratios[i]:g} of {len(y)} rows (seed {seed})"
                         for i, k in enumerate(("train", "val", "test"))})


def stratified_holdout(y: np.ndarray, rows: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``rows`` (indices into ``y``) into ``(kept, held)``: per class ``round(n * fraction)`` rows held
    out (at least one for a class with >= 2 rows), seeded; both shuffled, int64."""
    y = _strata(y)
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for c in np.unique(y[rows]):
        idx = rng.permutation(rows[y[rows] == c])
        k = int(np.floor(len(idx) * fraction + 0.5))
        if len(idx) >= 2:
            k = min(max(k, 1), len(idx) - 1)
        held.append(idx[:k])
        kept.append(idx[k:])
    return (rng.permutation(np.concatenate(kept)).astype(np.int64),
            rng.permutation(np.concatenate(held)).astype(np.int64))


def split_for(data: SupervisedData, seed: int, ratios=(0.7, 0.1, 0.2), val_fraction: float = 0.1) -> SplitIndices:
    """The task's split: official files when ``data.origin`` is set (test = exactly the test file; val = the
    val file, else ``val_fraction`` of the training file, stratified and seeded), else :func:`stratified_split`."""
    if data.origin is None:
        return stratified_split(data.y, ratios, seed)
    if not 0 < val_fraction < 1:
        raise AutofastError(f"{data.source}: val_fraction {val_fraction} must lie strictly between 0 and 1")
    rows = {k: np.flatnonzero(data.origin == c).astype(np.int64) for k, c in ORIGIN_CODES.items()}
    files = data.origin_files
    prov = {"test": f"official test file {files['test']} (all {len(rows['test'])} rows)"}
    if len(rows["val"]):
        train, val = np.random.default_rng(seed).permutation(rows["train"]), rows["val"]
        prov["train"] = f"official training file {files['train']} (all {len(train)} rows)"
        prov["val"] = f"official validation file {files['val']} (all {len(val)} rows)"
    else:
        train, val = stratified_holdout(data.y, rows["train"], val_fraction, seed)
        prov["train"] = (f"official training file {files['train']} minus the validation rows "
                         f"({len(train)} of {len(rows['train'])})")
        how = "stratified" if data.y.ndim == 1 else "random"
        prov["val"] = (f"carved from the official training file {files['train']}: {how} {val_fraction:g}, "
                       f"seed {seed} ({len(val)} rows)")
    n = len(data)
    ratios = (len(train) / n, len(val) / n, len(rows["test"]) / n)
    return SplitIndices(train, val, rows["test"], seed, ratios, {k: prov[k] for k in ("train", "val", "test")})


def channel_standardizer(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (float32, shape ``(C,)``) over every axis but axis 1 of
    ``(N, C, *spatial)``; a constant channel gets std 1 so that it maps to zero, not NaN."""
    x = np.asarray(x_train, dtype=np.float64)
    axes = tuple(a for a in range(x.ndim) if a != 1)
    mean = x.mean(axis=axes)
    std = x.std(axis=axes)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def standardise(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``(x - mean) / std`` per channel (axis 1) of ``(N, C, *spatial)``, float32."""
    shape = (1, -1) + (1,) * (x.ndim - 2)
    return ((x - mean.reshape(shape)) / std.reshape(shape)).astype(np.float32)


def check_finite(x: np.ndarray, source: str, what: str = "value", unit: str = "example") -> None:
    """One-line error naming the first non-finite entry's example."""
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.argwhere(bad)[0]
        kind = "NaN" if np.isnan(x[tuple(first)]) else "inf"
        raise AutofastError(f"{source}: {int(bad.sum())} non-finite {what}(s) (first: {kind} in {unit} "
                            f"{int(first[0])}); replace them or drop those rows")
