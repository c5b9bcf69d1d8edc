"""One data file (or folder) -> ``SupervisedData``, by kind: the loaders' dispatcher for a path.

Kinds and what ``auto`` picks by the path: ``.csv/.tsv/.tab/.fa/.fasta/.fna`` DNA, except a ``.csv`` table of
series (a label column and numeric step or channel columns, no sequence column:
:func:`~.series_table.is_series_table`), ``.ts`` series, a folder of FASTA files (one per class) DNA, another
folder or ``.npz``/``.npy`` images; a compression suffix (``.gz``, ...) is looked past (:mod:`.text`). UCR tab-separated
series (``.tsv``/``.txt``) and every ``dense`` set need an explicit kind (``kind: series`` / ``kind: dense`` in a
task file).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import AutofastError
from .dense import load_dense
from .dna import FASTA_SUFFIXES, fasta_files, load_dna, refuse_fastq
from .images import load_images
from .series import TS_SUFFIXES, load_series
from .series_table import TableColumns, is_series_table
from .text import data_suffix, refuse_spreadsheet
from .types import SupervisedData

FileKind = Literal["auto", "dna", "image", "series", "dense"]
DNA_SUFFIXES = {".csv", ".tsv", ".tab"} | FASTA_SUFFIXES
IMAGE_SUFFIXES = {".npz", ".npy"}
DATA_SUFFIXES = DNA_SUFFIXES | IMAGE_SUFFIXES | TS_SUFFIXES | {".txt"}  # what a path to a data file ends in
KNOWN_SUFFIXES = "a .csv/.tsv/.fa/.fasta/.fna/.fas DNA file, a .ts series file or .csv table of series, a .npz/.npy " \
                 "image array (each also as .gz/.bz2/.xz/.zip), a folder of one FASTA file per class, or a folder " \
                 "of image class sub-folders"


@dataclass(frozen=True)
class FileOptions:
    """How to read one file (the task file's keys; defaults = no task file)."""

    sequence_column: str = "sequence"
    label_column: str = "label"
    id_column: str = "id"  # a table of series: the series a row belongs to (one row per step)
    time_column: str = "time"  # ... and the order of its rows
    length: int | None = None  # DNA: pad/trim; series: the common length
    layout: str = "auto"  # images NCHW/NHWC, series NCL/NLC
    variable_length: str = "resample"  # series: resample | pad
    labels: str | None = None  # a .npy of labels beside a .npy of inputs
    target: str = "auto"  # classification | regression | auto (autofast.data.types.targets_from)
    channels: tuple[str, ...] | None = None  # a long table's channel columns (val/test: the training file's)
    steps: tuple[str, ...] | None = None  # a wide table's step columns (val/test: the training file's)
    min_classes: int = 2  # classes a file must hold (a val/test file of an official split: 1)
    bands: int | None = None  # an image folder read as grey (1) or RGB (3) (val/test: as the training images)
    ignore_columns: tuple[str, ...] = ()  # a table of series: columns not read (numeric metadata)
    ignore_label: int | None = None  # dense masks: the value of positions to ignore (255: no data)

    @property
    def table_columns(self) -> TableColumns:
        return TableColumns(self.label_column, self.id_column, self.time_column, self.channels, self.steps,
                            self.ignore_columns)


def guess_kind(path: Path, opts: FileOptions = FileOptions()) -> str:
    """The kind ``auto`` picks for ``path`` (``opts``: the label and sequence columns a table is read by);
    one-line error for an unknown suffix."""
    refuse_spreadsheet(path)
    if path.is_dir():
        return "dna" if fasta_files(path) else "image"  # one FASTA file per class, or image class folders
    suffix = data_suffix(path)
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix == ".csv" and is_series_table(path, opts.table_columns, opts.sequence_column):
        return "series"
    if suffix in DNA_SUFFIXES:
        return "dna"
    if suffix in TS_SUFFIXES:
        return "series"
    refuse_fastq(path)
    raise AutofastError(f"{path}: unsupported file type {suffix or '(none)'!r}; give {KNOWN_SUFFIXES} (or set "
                        f"'kind:' in a task file)")


def load_file(path: str | Path, kind: FileKind = "auto", opts: FileOptions = FileOptions()) -> SupervisedData:
    """Load ``path`` as ``kind`` (``auto``: :func:`guess_kind`)."""
    path = Path(path)
    if not path.exists():
        raise AutofastError(f"data path {str(path)!r} does not exist; check the path")
    if kind == "auto":
        kind = guess_kind(path, opts)  # refuses a spreadsheet too
    else:
        refuse_spreadsheet(path)
    if opts.ignore_label is not None and kind != "dense":
        raise AutofastError(f"{path}: 'ignore_label' is for dense masks (segmentation); this is {kind} data -- "
                            "drop the key")
    if kind == "dense" and opts.target != "auto":  # 'classification' was ignored: float 0/1 masks read as fields
        raise AutofastError(f"{path}: 'target: {opts.target}' is for series, image arrays and DNA tables; dense "
                            "tasks read integer targets as masks and float targets as fields (cast the masks to "
                            "integers for segmentation)")
    if kind == "dna":
        return load_dna(path, opts.sequence_column, opts.label_column, opts.length,
                        opts.target, opts.min_classes)  # type: ignore[arg-type]
    if kind == "image":
        return load_images(path, opts.layout, opts.labels, opts.target, opts.min_classes,  # type: ignore[arg-type]
                           opts.bands)
    if kind == "series":
        return load_series(path, opts.length, opts.variable_length, opts.layout, opts.labels,  # type: ignore[arg-type]
                           opts.target, opts.table_columns, opts.min_classes)  # type: ignore[arg-type]
    if kind == "dense":
        return load_dense(path, opts.layout, opts.labels, opts.min_classes, opts.ignore_label)
    raise AutofastError(f"{path}: unknown data kind {kind!r}; use dna, image, series or dense")
