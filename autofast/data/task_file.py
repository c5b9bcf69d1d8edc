"""YAML task files: how a user points ``search``/``dash``/``finetune``/``compare`` at their own data
without code.

A task file is data, never code (read with ``yaml.safe_load``, validated, unknown keys refused)::

    # promoters.yaml: one file, split by ratios
    name: promoters                 # optional; default: the file's stem
    data: promoters.csv             # relative paths are relative to this YAML file
    kind: dna                       # dna | image | series | dense | auto (by the data path's type)
    sequence_column: sequence       # DNA tables
    label_column: label             # DNA tables and tables of series
    length: 200                     # DNA: pad/trim to this length; series: the common length
    split: {ratios: [0.7, 0.1, 0.2], seed: 0}

    # vowels.yaml: an official split (the test split is exactly the test file)
    train: JapaneseVowels_TRAIN.ts
    test: JapaneseVowels_TEST.ts
    val: null                       # optional; without it validation is carved from train
    kind: series
    variable_length: resample       # series of unequal length: resample (default) | pad
    split: {val_fraction: 0.1, seed: 0}

    # gestures.yaml: a long CSV table, one row per time step (id, time, x, y, z, label)
    data: gestures.csv
    id_column: id                   # the series each row belongs to (default: id)
    time_column: time               # orders a series' rows (default: time, else timestamp/date; without it, file order)
    ignore_columns: [age, subject]  # numeric metadata columns not to read as steps or channels (text ones never are)

    # fields.yaml: segmentation masks whose 255 marks no-data pixels
    data: tiles.npz
    kind: dense
    ignore_label: 255               # no class, no loss, not scored

Series, image arrays and DNA tables may set ``target: regression`` (values to predict, e.g. a count),
``classification`` or ``auto`` (default: ``.ts`` files with ``@targetLabel true`` and numbers that are not all whole are values,
anything else class labels). Images and series arrays may also name a ``layout:`` (``NCHW``/``NHWC``; ``NCL``/``NLC``) where the shape
cannot tell, and ``labels:`` (a ``.npy`` of labels beside a ``.npy`` of inputs given as ``data:``).
Then ``python -m autofast search --task promoters.yaml``.
"""
from __future__ import annotations

import difflib
from dataclasses import replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from autofast.errors import AutofastError
from autofast.io import read_yaml

from .files import FileOptions, load_file
from .types import SupervisedData, merge_parts

TASK_FILE_SUFFIXES = (".yaml", ".yml")
SPLIT_FILES = ("train", "val", "test")


class SplitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)  # one data file: train/val/test fractions
    seed: int | None = None  # None: the run's --seed
    val_fraction: float = Field(0.1, gt=0, lt=1)  # official train/test files without val: carved from train


class TaskFile(BaseModel):
    """A validated task file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    data: str | None = None
    train: str | None = None
    val: str | None = None
    test: str | None = None
    labels: str | None = None
    kind: Literal["auto", "dna", "image", "series", "dense"] = "auto"
    sequence_column: str = "sequence"
    label_column: str = "label"
    id_column: str = "id"
    time_column: str = "time"
    ignore_columns: list[str] = []
    length: int | None = Field(None, ge=1)
    layout: Literal["auto", "NCHW", "NHWC", "NCL", "NLC"] = "auto"
    variable_length: Literal["resample", "pad"] = "resample"
    target: Literal["auto", "classification", "regression"] = "auto"
    ignore_label: int | None = None  # dense masks: the value of positions to ignore (no data, borders: 255)
    split: SplitSpec = SplitSpec()

    @field_validator("data", "train", "val", "test", "labels")
    @classmethod
    def _non_empty(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must name a data file or folder")
        return v

    @model_validator(mode="after")
    def _files(self) -> "TaskFile":
        official = [k for k in SPLIT_FILES if getattr(self, k) is not None]
        if self.data is not None and official:
            raise ValueError(f"give either 'data' (one file, split by ratios) or 'train' and 'test' (an official "
                             f"split), not both ('data' and {', '.join(map(repr, official))})")
        if self.data is None and not official:
            raise ValueError("give 'data: <file>', or 'train: <file>' and 'test: <file>'")
        if official and (self.train is None or self.test is None):
            raise ValueError("an official split needs both 'train' and 'test' files ('val' is optional)")
        if self.labels is not None and self.data is None:
            raise ValueError("'labels' goes with 'data' (a .npy of inputs); save official split files as .npz")
        return self

    @property
    def official(self) -> bool:
        return self.data is None

    def options(self) -> FileOptions:
        return FileOptions(sequence_column=self.sequence_column, label_column=self.label_column,
                           id_column=self.id_column, time_column=self.time_column, length=self.length,
                           layout=self.layout, variable_length=self.variable_length, labels=self.labels,
                           target=self.target, ignore_columns=tuple(self.ignore_columns),
                           ignore_label=self.ignore_label)


def read_task_file(path: str | Path) -> TaskFile:
    """Parse and validate a task file; one-line :class:`AutofastError` naming the file and field."""
    path = Path(path)
    raw = read_yaml(path, "task file")
    if not isinstance(raw, dict):
        raise AutofastError(f"{path}: a task file is a mapping with at least 'data: <file>'; see `search --help`")
    try:
        return TaskFile(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        if err["type"] == "extra_forbidden":  # the keys of the mapping the unknown one sits in
            within = SplitSpec if len(err["loc"]) > 1 and err["loc"][0] == "split" else TaskFile
            near = difflib.get_close_matches(str(err["loc"][-1]), list(within.model_fields), n=1)
            hint = (f"unknown key{f' (did you mean {near[0]!r}?)' if near else ''}; valid keys: "
                    + ", ".join(within.model_fields))
        else:
            hint = err["msg"]
        raise AutofastError(f"{path}: field {field!r}: {hint.removeprefix('Value error, ')}") from None


def _resolve(path: Path, field: str, value: str) -> Path:
    p = Path(value)
    if not p.is_absolute():
        p = path.parent / p
    if not p.exists():
        raise AutofastError(f"{path}: field {field!r}: {str(p)!r} does not exist; fix the path "
                            "(relative paths are relative to the task file)")
    return p


def load_task_file(path: str | Path) -> tuple[str, SupervisedData, TaskFile]:
    """``(name, data, spec)`` for the task file at ``path``. With official ``train``/``test`` (and ``val``)
    files, ``data.origin`` records each row's file (series lengths follow the training file)."""
    path = Path(path)
    spec = read_task_file(path)
    opts = spec.options()
    if spec.labels is not None:
        opts = replace(opts, labels=str(_resolve(path, "labels", spec.labels)))
    if not spec.official:
        return spec.name or path.stem, load_file(_resolve(path, "data", spec.data), spec.kind, opts), spec
    parts = {"train": load_file(_resolve(path, "train", spec.train), spec.kind, opts)}
    if parts["train"].kind == "dna" and opts.length is None:  # the longest sequence of any file sets the length
        held = replace(opts, min_classes=1)  # (their lengths only are used here)
        longest = max((int(load_file(_resolve(path, split, getattr(spec, split)), "dna", held).x.shape[-1])
                       for split in ("val", "test") if getattr(spec, split) is not None), default=0)
        if longest > parts["train"].x.shape[-1]:  # a test file longer than training was cut to it, silently
            opts = replace(opts, length=longest)  # (a motif past the cut: test accuracy 0.5 beside val 1.0)
            parts["train"] = load_file(_resolve(path, "train", spec.train), spec.kind, opts)
    if parts["train"].regression and parts["train"].kind != "dense" and opts.target == "auto":  # val/test: values
        opts = replace(opts, target="regression")  # too (a test file of whole numbers was read as classes)
    if parts["train"].kind in ("series", "dna") and opts.length is None:  # val/test follow the training length
        opts = replace(opts, length=int(parts["train"].x.shape[-1]))
    if parts["train"].channel_names:  # ... and its channel columns, by name
        opts = replace(opts, channels=parts["train"].channel_names)
    if parts["train"].step_names:  # ... and a wide table's step columns where their names are the same
        opts = replace(opts, steps=parts["train"].step_names)
    opts = replace(opts, min_classes=1)  # a val or test file may hold one class (all water, all background)
    if parts["train"].kind == "image":  # ... and an image folder is read in the training images' bands
        opts = replace(opts, bands=int(parts["train"].x.shape[1]))
    for split in ("val", "test"):
        value = getattr(spec, split)
        if value is not None:
            parts[split] = load_file(_resolve(path, split, value), parts["train"].kind if spec.kind == "auto"
                                     else spec.kind, opts)
    return spec.name or path.stem, merge_parts(parts, str(path)), spec
