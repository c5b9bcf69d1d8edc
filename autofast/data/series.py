"""1-D series data (``kind: series``): UEA/UCR ``.ts`` files, tab-separated UCR files, CSV tables (a header
row; one series per row, or one step per row: :mod:`.series_table`) and ``.npz``/``.npy`` arrays, into
``SupervisedData`` with x float32 ``(N, C, L)``, class labels or values to regress (``.ts`` files with
``@targetLabel true``, the Monash extrinsic-regression archive's format; arrays of numbers not all whole; any
numeric labels with ``target: regression``).

Variable length (``variable_length``): every series is brought to ONE length ``L`` -- ``length`` when
given, else the longest series of the file (for official splits: of the TRAINING file; the val and test
files are then brought to that length too):

* ``resample`` (default): linear interpolation of each channel onto ``L`` evenly spaced points over the
  series' own time span (as Ismail Fawaz et al. 2019 did for the variable-length UEA sets);
* ``pad``: a shorter series is padded at the end by repeating its last value (no artificial zeros enter the
  training statistics), a longer one is truncated to its first ``L`` steps.

Equal-length data pass through unchanged unless ``length`` differs. Missing values (``?`` in ``.ts``,
``NaN`` inside a UCR row, NaN/inf in arrays) are refused with a one-line error naming the file and series;
trailing NaNs of a UCR row are the UCR archive's padding of a shorter series, i.e. variable length.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import AutofastError
from .arrays import ARRAY_SUFFIXES, read_arrays, to_float
from .series_table import TableColumns, read_series_table, table_notes
from .text import data_suffix, is_number, read_text
from .types import SupervisedData, Target, check_finite, targets_from

VariableLength = Literal["resample", "pad"]
SeriesLayout = Literal["auto", "NCL", "NLC"]
TS_SUFFIXES = {".ts"}
UCR_SUFFIXES = {".tsv", ".txt"}
TABLE_SUFFIXES = {".csv"}
SERIES_SUFFIXES = TS_SUFFIXES | UCR_SUFFIXES | TABLE_SUFFIXES | ARRAY_SUFFIXES


# ------------------------------------------------------------------------------------- equal length
def _resample(s: np.ndarray, length: int) -> np.ndarray:
    c, n = s.shape
    if n == length:
        return s
    if n == 1:
        return np.repeat(s, length, axis=1)
    src = np.linspace(0.0, 1.0, n)
    dst = np.linspace(0.0, 1.0, length)
    return np.stack([np.interp(dst, src, s[i]) for i in range(c)])


def _pad(s: np.ndarray, length: int) -> np.ndarray:
    n = s.shape[1]
    if n >= length:
        return s[:, :length]
    return np.concatenate([s, np.repeat(s[:, -1:], length - n, axis=1)], axis=1)


def equal_length(series: list[np.ndarray], length: int | None, mode: VariableLength, source: str) -> np.ndarray:
    """Stack ``(C, L_i)`` series into float32 ``(N, C, L)`` (see the module docstring for ``mode``)."""
    if mode not in ("resample", "pad"):
        raise AutofastError(f"{source}: unknown variable_length {mode!r}; use 'resample' or 'pad'")
    if length is not None and length < 1:
        raise AutofastError(f"{source}: series length must be >= 1, got {length}")
    channels = {s.shape[0] for s in series}
    if len(channels) > 1:
        raise AutofastError(f"{source}: series have {sorted(channels)} channels; every series needs the same "
                            f"number of channels")
    L = length or max(s.shape[1] for s in series)
    fn = _resample if mode == "resample" else _pad
    return np.ascontiguousarray(np.stack([fn(s.astype(np.float64), L) for s in series]), dtype=np.float32)


# ------------------------------------------------------------------------------------------ parsers
def _read_text(path: Path, what: str) -> str:
    try:
        return read_text(path)  # a byte-order mark (Windows editors) is not data; .gz etc. decompressed
    except UnicodeDecodeError:
        raise AutofastError(f"{path}: is not a text {what} file; give the archive's text file") from None


def _floats(text: str, path: Path, where: str) -> np.ndarray:
    parts = [t for t in text.replace(",", " ").split()]
    if not parts:
        raise AutofastError(f"{path}: {where} is empty; every series needs at least one value")
    if any(t == "?" for t in parts):
        raise AutofastError(f"{path}: {where} has missing values ('?'); fill them in (e.g. interpolate) or drop "
                            f"the series")
    try:
        vals = np.array([float(t) for t in parts])
    except ValueError:
        bad = next(t for t in parts if not is_number(t))
        raise AutofastError(f"{path}: {where}: {bad!r} is not a number; fix or drop the series") from None
    if not np.all(np.isfinite(vals)):
        raise AutofastError(f"{path}: {where} has NaN/inf values; fill them in or drop the series")
    return vals


def read_ts(path: Path, labels_required: bool = True) -> tuple[list[np.ndarray], list[str] | None, bool]:
    """The sktime/aeon ``.ts`` format (UEA/UCR archives): ``@`` header lines, then after ``@data`` one line
    per series, channels separated by ``:``, values by ``,``, the class label (or target value) last. Returns
    ``([(C, L_i) float64], labels, values)``; ``values``: the header says ``@targetLabel true`` (regression
    targets). Time-stamped data and missing values are refused. A file with ``@classLabel false`` (and no
    target) is refused, or with ``labels_required=False`` read with labels None."""
    text = _read_text(path, ".ts")
    series, labels = [], []
    in_data, has_labels, values = False, True, False
    declared: list[str] | None = None  # '@classLabel true a b c': the classes the header names
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "%")):  # comments ('%': ARFF's, in some archive files' headers)
            continue
        if not in_data:
            low = line.lower()
            if low.startswith("@timestamps") and low.split()[-1] == "true":
                raise AutofastError(f"{path}: line {lineno}: time-stamped series are not supported; export the "
                                    f"values without time stamps")
            if low.startswith("@classlabel") and len(low.split()) > 1 and low.split()[1] == "false":
                has_labels = values
            elif low.startswith("@classlabel") and len(line.split()) > 2 and low.split()[1] == "true":
                declared = line.split()[2:]
            if low.startswith("@targetlabel") and len(low.split()) > 1 and low.split()[1] == "true":
                has_labels = values = True
            if low.startswith("@data"):
                in_data = True
            elif not low.startswith("@"):
                raise AutofastError(f"{path}: line {lineno} comes before '@data'; a .ts file needs its @ header "
                                    f"lines, then '@data', then one series per line")
            continue
        if not has_labels and labels_required:
            raise AutofastError(f"{path}: '@classLabel false': the file has no class labels; a classification "
                                f"task needs them")
        fields = line.split(":") + ([] if has_labels else ["-"])  # unlabelled: every field is a channel
        if len(fields) < 2:
            raise AutofastError(f"{path}: line {lineno}: expected channel values and a class label separated by "
                                f"':'; fix the line")
        label = fields[-1].strip()
        if not label:
            raise AutofastError(f"{path}: line {lineno} (series {len(series) + 1}) has an empty class label")
        chans = [_floats(f, path, f"line {lineno} (series {len(series) + 1}), channel {i + 1}")
                 for i, f in enumerate(fields[:-1])]
        lengths = {len(c) for c in chans}
        if len(lengths) > 1:
            raise AutofastError(f"{path}: line {lineno} (series {len(series) + 1}): channels have lengths "
                                f"{sorted(lengths)}; the channels of one series must have one length")
        if declared is not None and not values and label not in declared:  # a typo, or another file's class
            raise AutofastError(f"{path}: line {lineno} (series {len(series) + 1}) has class {label!r}, which the "
                                f"header's '@classLabel true {' '.join(declared)}' does not name; fix the label or the "
                                "header")
        series.append(np.stack(chans))
        labels.append(label)
    if not in_data:
        raise AutofastError(f"{path}: no '@data' line; this is not a .ts file (see the UEA/UCR archive format)")
    if not series:
        raise AutofastError(f"{path}: has no series after '@data'; add one series per line")
    return series, (labels if has_labels else None), values


def read_ucr(path: Path, unlabelled_steps: int | None = None) -> tuple[list[np.ndarray], list[str] | None]:
    """A UCR archive file: one series per line, the class label first, then the values separated by tabs
    (UCR 2018 ``.tsv``), commas or spaces; trailing NaNs are the padding of a shorter series.
    ``unlabelled_steps`` (a model's series length, at predict): a file whose every line has exactly that many
    fields is new data without labels (labels None) -- a headerless CSV of steps, not a label and one step less."""
    text = _read_text(path, "UCR")
    lines = [(lineno, raw.strip().replace(",", " ").replace("\t", " ").split())
             for lineno, raw in enumerate(text.splitlines(), start=1) if raw.strip()]
    unlabelled = bool(lines) and unlabelled_steps is not None and all(len(p) == unlabelled_steps for _, p in lines)
    series, labels = [], []
    for lineno, parts in lines:
        label, values = ("", parts) if unlabelled else (parts[0], parts[1:])
        while values and values[-1].lower() == "nan":
            values = values[:-1]
        if not values:
            raise AutofastError(f"{path}: line {lineno} has a label but no values; each line is 'label value1 "
                                f"value2 ...'")
        where = f"line {lineno} (series {len(series) + 1})"
        if not series and sum(not is_number(v) for v in values) > len(values) // 2:
            raise AutofastError(f"{path}: line {lineno} is a header row ({' '.join(parts[:3])} ...), which UCR "
                                "files do not have; remove it, or give the file as a .csv table of series "
                                "(a 'label' column and one column per step)")
        if any(v.lower() == "nan" for v in values):
            raise AutofastError(f"{path}: {where} has missing values (NaN inside the series); fill them in or "
                                f"drop the series")
        series.append(_floats(" ".join(values), path, where)[None])
        labels.append(label[:-2] if label.endswith(".0") and is_number(label) else label)
    if not series:
        raise AutofastError(f"{path}: is empty; give one series per line, the class label first")
    return series, None if unlabelled else labels


def _arrays(path: Path, layout: SeriesLayout, labels: Path | None) -> tuple[np.ndarray, np.ndarray, bool]:
    x, y = read_arrays(path, labels, "series")
    source = str(path)
    eight_bit = x.dtype == np.uint8
    x = to_float(x, source, "series")
    if x.ndim == 2:
        x = x[:, None]
    elif x.ndim != 3:
        raise AutofastError(f"{path}: series have shape {x.shape}; expected (N, L) or (N, C, L) (or (N, L, C) "
                            f"with 'layout: NLC')")
    if layout == "auto":
        if x.shape[1] == x.shape[2] and x.shape[1] > 1:
            raise AutofastError(f"{path}: cannot tell channels from length in shape {x.shape}; add "
                                f"'layout: NCL' or 'layout: NLC' to the task file")
        layout = "NCL" if x.shape[1] < x.shape[2] else "NLC"
    elif layout not in ("NCL", "NLC"):
        raise AutofastError(f"{path}: unknown series layout {layout!r}; use NCL or NLC")
    if layout == "NLC":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    check_finite(x, source, "value", "series")
    return x, y, eight_bit


def load_series(path: str | Path, length: int | None = None, variable_length: VariableLength = "resample",
                layout: SeriesLayout = "auto", labels: str | Path | None = None, target: Target = "auto",
                columns: TableColumns = TableColumns(), min_classes: int = 2) -> SupervisedData:
    """Load labelled series into ``SupervisedData`` (kind "series", x float32 ``(N, C, L)``; ``y`` class
    indices, or float32 ``(N, T)`` values: ``target``, :func:`autofast.data.types.targets_from`).

    ``.ts`` (UEA/UCR), ``.tsv``/``.txt`` (UCR: label first), ``.csv`` (a wide or long table:
    :func:`~.series_table.read_series_table`, by ``columns``), ``.npz`` (``x``/``y``) or ``.npy`` (with
    ``labels``, a ``.npy`` of labels). Arrays ``(N, L)`` are univariate; 3-D arrays follow ``layout``
    (``auto``: the shorter axis is the channels). ``length``/``variable_length``: the module docstring.
    """
    path = Path(path)
    if not path.exists():
        raise AutofastError(f"data file {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise AutofastError(f"{path}: is a folder; give a .ts, .tsv/.txt (UCR), .csv (a table) or .npz/.npy series "
                            "file")
    suffix = data_suffix(path)
    if suffix in ARRAY_SUFFIXES:
        x, y, eight_bit = _arrays(path, layout, None if labels is None else Path(labels))
        if len(x) == 0:
            raise AutofastError(f"{path}: holds no series; save at least one series per class")
        if length is not None and length != x.shape[2]:
            x = equal_length(list(x), length, variable_length, str(path))
        y_idx, classes = targets_from(y, len(x), str(path), target, "series", min_classes)
        return SupervisedData(np.ascontiguousarray(x, dtype=np.float32), y_idx, classes, str(path), "series",
                              uint8_input=eight_bit)
    names = steps = None
    text: list[str] = []
    timed = False
    notes: list[str] = []
    if suffix in TS_SUFFIXES:
        series, raw_labels, values = read_ts(path)
        if values and target == "auto":
            target = "regression"
    elif suffix in UCR_SUFFIXES:
        series, raw_labels = read_ucr(path)
    elif suffix in TABLE_SUFFIXES:
        table = read_series_table(path, columns)
        series, raw_labels, names, steps, text = table.series, table.labels, table.channels, table.steps, table.text
        timed = table.timed
        notes += table_notes(table)
    else:
        raise AutofastError(f"{path}: unsupported series file {suffix or '(no extension)'!r}; give a .ts, "
                            f".tsv/.txt (UCR), .csv (a table) or .npz/.npy file")
    x = equal_length(series, length, variable_length, str(path))
    lengths = sorted({s.shape[1] for s in series})
    if lengths != [x.shape[2]]:  # said in the run, as predict says it of new files
        notes.append(f"series of lengths {lengths[0]}..{lengths[-1]} brought to {x.shape[2]} ({variable_length})")
    y, classes = targets_from(np.asarray(raw_labels), len(series), str(path), target, "series", min_classes)
    return SupervisedData(x, y, classes, str(path), "series", channel_names=tuple(names) if names else None,
                          step_names=tuple(steps) if steps else None, text_columns=tuple(text), timed=timed,
                          load_notes=tuple(notes))
