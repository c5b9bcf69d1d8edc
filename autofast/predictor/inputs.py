"""New data read as a saved model's training data were read (:class:`InputReader`, from the manifest's
``input`` record): data files of every kind the loaders read, a task's test split, or arrays in the training
layout; the training statistics applied."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data.text import data_suffix, is_number, path_exists, refuse_spreadsheet
from ..data.types import IGNORE_INDEX, integral_text
from ..errors import AutofastError
from .manifest import READ_KINDS


#: an input channel whose mean lies this many training standard deviations from the training mean gets a note
FAR_FROM_TRAINING = 4.0
#: ... as does one whose standard deviation is under 1/SPREAD_FACTOR or over SPREAD_FACTOR times the training one
#: (digits 0-1 for a model of 0-16: 1/16), given SPREAD_EXAMPLES examples or more (fewer, e.g. one series of one
#: level beside others, can honestly spread less than the training set)
SPREAD_FACTOR = 5.0
SPREAD_EXAMPLES = 8
#: the words of those notes (``Result`` passes notes holding them on as a ``UserWarning``)
UNITS_NOTE = "check the units"


@dataclass
class Inputs:
    """Examples ready for the model: ``x`` float32 ``(N, *shape)`` (standardised as at training), ``labels``
    (class indices, or None when the source has none), ``index`` (each example's row in the source: the
    data file, or the task's test file; ascending for a file or a task, whose test rows come in the data file's
    order) and notes on what was done to them."""

    x: "Any"  # torch.Tensor
    labels: np.ndarray | None  # class indices (N,) int64, or a regression model's target values (N, T) float64;
    # a dense model's per position: (N, *S) int64 class indices, or fields (N, T, *S) float64
    index: np.ndarray
    source: str
    notes: list[str] = field(default_factory=list)
    ids: list[str] | None = None  # each example's name where the source names them (a table's id column)


def units_note(z: np.ndarray) -> str | None:
    """A note on standardised inputs ``z`` ``(N, C, ...)`` in other units than the training ones: a channel's mean
    over :data:`FAR_FROM_TRAINING` (reflectance 0-1 for a model of 0-10000), else its spread off by over
    :data:`SPREAD_FACTOR` (pixels 0-1 for a model of 0-16: the mean moved less than one standard deviation)."""
    if not z.size:
        return None
    axes = tuple(i for i in range(z.ndim) if i != 1)
    shift = np.abs(z.mean(axis=axes, dtype=np.float64))
    if (shift > FAR_FROM_TRAINING).any():
        c = int(np.argmax(shift))
        return (f"input channel {c} lies {shift[c]:.0f} training standard deviations from the training mean on "
                f"average: {UNITS_NOTE} (the predictions are of little use if they differ)")
    if len(z) < SPREAD_EXAMPLES:
        return None
    spread = z.std(axis=axes, dtype=np.float64)  # in training standard deviations
    off = np.abs(np.log(np.where(spread > 0, spread, 1.0)))  # (a constant channel: nothing to compare)
    if not (off > np.log(SPREAD_FACTOR)).any():
        return None
    c = int(np.argmax(off))
    return (f"input channel {c} spreads {spread[c]:.2g} times the training standard deviation: {UNITS_NOTE} (the "
            "predictions are of little use if they differ)")


def label_strings(y: np.ndarray, source: str) -> list[str]:
    """Labels of an array file as the training loader names classes (integral floats as integers)."""
    from ..data.types import is_one_hot

    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if is_one_hot(y):  # one-hot rows, as the training loader reads them
        y = y.argmax(1)
    if y.ndim != 1:
        raise AutofastError(f"{source}: labels have shape {y.shape}; give one label per example")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise AutofastError(f"{source}: labels are non-integer floats; give integer or string class labels")
        y = y.astype(np.int64)
    return [str(v) for v in y.tolist()]


def _first_text(labels) -> tuple[int, str] | None:
    """The first example whose target is not a number, with that text (None: all numbers)."""
    arr = np.asarray(labels)
    if arr.dtype.kind in "biuf" or not len(arr):
        return None
    rows = arr.reshape(len(arr), -1)
    return next(((i, str(v)) for i, row in enumerate(rows) for v in row if not is_number(str(v))), None)


class InputReader:
    """Reads new inputs for the model of ``manifest`` (its classes, kind, input shape and rules)."""

    def __init__(self, manifest: dict) -> None:
        self.manifest = manifest
        self.classes: list[str] = list(manifest["classes"])
        self.regression = bool(manifest.get("regression"))
        self.kind: str = manifest["kind"]
        self.input: dict = manifest["input"]
        self.shape: tuple = tuple(self.input["shape"])

    def prepare(self, source, labels=None) -> Inputs:
        """:class:`Inputs` of ``source``: a data file (path; a bundled task name or YAML task file: its test
        split), or arrays in the training layout as loaded (not standardised; DNA also as a list of sequence
        strings); ``labels`` (class names, optional) go with arrays."""
        if isinstance(source, (str, Path)):
            if labels is not None:
                raise AutofastError("labels go with arrays; a data file brings its own")
            return self._read_path(str(source))
        if self.kind == "image" and isinstance(source, (list, tuple)) and source and \
                all(isinstance(s, (str, Path)) for s in source):  # image files by path (a numpy error before)
            files = [Path(s) for s in source]
            missing = next((f for f in files if not f.is_file()), None)
            if missing is not None:
                raise AutofastError(f"{missing}: no such image file; check the path")
            got = self._image_batch(files, None, "<image files>")
            if labels is not None:
                got.labels = self.label_indices(labels, "labels")
            return got
        raw, notes = self._arrays(source, "<arrays>")
        lab = None if labels is None else self.targets(labels, "labels")
        if lab is not None and len(lab) != len(raw):
            raise AutofastError(f"labels: {len(lab)} labels for {len(raw)} examples; give one per example")
        return self._finish(raw, lab, np.arange(len(raw)), "<arrays>", notes)

    def _finish(self, raw: np.ndarray, labels, index, source: str, notes: list[str], ids=None) -> Inputs:
        import torch

        from ..data.types import check_finite, standardise

        raw = np.ascontiguousarray(raw, dtype=np.float32)
        if tuple(raw.shape[1:]) != self.shape:
            raise AutofastError(f"{source}: examples have shape {tuple(raw.shape[1:])} but the model was trained "
                                f"on {self.shape}; give data of the training layout")
        check_finite(raw, source, "input value")
        st = self.input.get("standardise")
        if st is not None:
            raw = standardise(raw, np.asarray(st["mean"], dtype=np.float32), np.asarray(st["std"], dtype=np.float32))
            note = units_note(raw)
            notes = notes if note is None else [*notes, note]
        return Inputs(torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32)), labels,
                      np.asarray(index, dtype=np.int64), source, notes, ids)

    def targets(self, y, source: str) -> np.ndarray | None:
        """Labels as an array file or a caller gives them (None: None) -> :meth:`label_indices`."""
        if y is None:
            return None
        if self.kind == "dense":
            return self.dense_labels(y, source)
        return self.label_indices(y if self.regression else label_strings(np.asarray(y), source), source)

    def label_indices(self, labels, source: str) -> np.ndarray | None:
        """``(N,)`` int64 indices into :attr:`classes` of class names (None: None); an unknown name is one
        error line naming ``source``. A regression model's targets: ``(N, T)`` float64 values (numbers or
        strings of numbers; T = the model's target count)."""
        if labels is None:
            return None
        if self.kind == "dense":
            return self.dense_labels(labels, source)
        if self.regression:
            from ..data.types import target_values

            text = _first_text(labels)
            if text is not None:  # (the training loader's fix, a task file's 'target:', is not predict's)
                raise AutofastError(f"{source}: label {text[1]!r} (example {text[0] + 1}) is not a number; this model "
                                    "predicts values, so the labels must be numbers (to get predictions without a "
                                    "score, drop or rename the label column)")
            values = target_values(labels, len(labels), source)
            if values.shape[1] != len(self.classes):
                raise AutofastError(f"{source}: {values.shape[1]} target value(s) per example but the model "
                                    f"predicts {len(self.classes)}; fix them or leave them out")
            return values
        index = {c: i for i, c in enumerate(self.classes)}
        index = {**{integral_text(c): i for c, i in index.items()}, **index}  # a class "3.0" of an older run: "3"
        labels = [lab if lab in index else integral_text(str(lab)) for lab in labels]  # "3.0" for class "3"
        unknown = sorted({lab for lab in labels if lab not in index})
        if unknown:
            more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
            shown = ", ".join(repr(u) for u in unknown[:5]) + more
            raise AutofastError(f"{source}: class label(s) {shown} are not among the model's classes "
                                f"({', '.join(self.classes[:12])}{', ...' if len(self.classes) > 12 else ''}); "
                                "fix the labels or leave them out")
        return np.array([index[lab] for lab in labels], dtype=np.int64)

    def dense_labels(self, y, source: str) -> np.ndarray:
        """A dense model's targets as the training loader read them: masks ``(N, *S)`` (class values) -> int64
        indices into :attr:`classes`; fields ``(N, *S)`` (one target) or ``(N, T, *S)`` -> float64 ``(N, T, *S)``.
        A shape or a class the model does not know is one error line naming ``source``."""
        y = np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y)
        spatial = tuple(self.shape[1:])
        if self.regression:
            if y.dtype.kind not in "biuf":
                raise AutofastError(f"{source}: targets have dtype {y.dtype}; give float fields")
            if tuple(y.shape[1:]) == spatial and len(self.classes) == 1:
                y = y[:, None]
            if tuple(y.shape[1:]) != (len(self.classes), *spatial):
                raise AutofastError(f"{source}: targets have shape {y.shape} but the model predicts (N, "
                                    f"{', '.join(map(str, (len(self.classes), *spatial)))}) fields; fix them or "
                                    "leave them out")
            from ..data.types import check_finite

            check_finite(y, source, "target value")
            return y.astype(np.float64)
        if tuple(y.shape[1:]) != spatial:
            raise AutofastError(f"{source}: masks have shape {y.shape} but the model predicts (N, "
                                f"{', '.join(map(str, spatial))}) labels; fix them or leave them out")
        if y.dtype.kind == "f":
            if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
                raise AutofastError(f"{source}: masks hold non-integer values; give integer class labels")
            y = y.astype(np.int64)
        uniq, inv = np.unique(y, return_inverse=True)
        index = {c: i for i, c in enumerate(self.classes)}
        ignored = self.input.get("dense", {}).get("ignore_label")  # the training's positions to ignore: -1 again
        if ignored is not None:
            index[str(ignored)] = IGNORE_INDEX
        unknown = [str(u) for u in uniq if str(u) not in index]
        if unknown:
            raise AutofastError(f"{source}: mask value(s) {', '.join(map(repr, unknown[:5]))} are not among the "
                                f"model's classes ({', '.join(self.classes[:12])}); fix the masks or leave them out")
        return np.array([index[str(u)] for u in uniq], dtype=np.int64)[inv.reshape(-1)].reshape(y.shape)

    def _check_kind(self) -> None:
        if self.kind not in READ_KINDS:
            raise AutofastError(f"reading new {self.kind} data is not supported yet (predict reads DNA, series, "
                                "image and dense data); pass prepared tensors to Predictor.predict")

    # ---- arrays in the training layout
    def _arrays(self, x, source: str) -> tuple[np.ndarray, list[str]]:
        self._check_kind()
        if self.kind == "dna" and not isinstance(x, str) and hasattr(x, "__len__") and (
                np.asarray(x).dtype.kind in "UO" and (len(x) == 0 or isinstance(np.asarray(x).reshape(-1)[0], str))):
            return self._encode(list(np.asarray(x, dtype=object).reshape(-1)), source), []  # lists, arrays, Series
        try:
            arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
        except Exception:
            raise AutofastError(f"{source}: cannot read the inputs as an array; give a tensor or an ndarray "
                                f"(N, {', '.join(map(str, self.shape))})") from None
        from ..data.arrays import to_float

        self._check_scale(arr, source)
        arr = to_float(arr, source)
        return self._shape_arrays(arr, source, self.input.get(self.kind, {}).get("layout", "auto"))

    def _check_scale(self, arr: np.ndarray, source: str) -> None:
        """8-bit inputs are read as value / 255, others as they are: new inputs must come as the training ones
        did (the same pixels as int64 beside a uint8 training set gave 0.19 accuracy for 0.67, silently)."""
        trained = self.input.get("uint8_input")  # None: a run saved before it was recorded
        if trained is None or self.kind not in ("image", "series", "dense"):
            return
        eight = arr.dtype == np.uint8
        if eight and not trained:
            raise AutofastError(f"{source}: inputs are uint8 (read as value / 255) but the model was trained on "
                                "values as they are (not uint8); give them in the training dtype")
        top = float(np.nanmax(np.abs(arr))) if trained and not eight and arr.size else 0.0
        if top > 1.5:
            raise AutofastError(f"{source}: inputs are {arr.dtype} up to {top:.4g} but the model was trained on 8-bit "
                                "pixels read as value / 255; give uint8 (or values / 255)")

    def _shape_arrays(self, arr: np.ndarray, source: str, layout: str) -> tuple[np.ndarray, list[str]]:
        """Arrays of the model's kind -> ``(N, *shape)`` (channels placed, series brought to the length)."""
        c = self.shape[0]
        ndim = len(self.shape) - 1
        if self.kind == "image" and arr.ndim == ndim + 1 and c > 1 and (  # one image, channels first or last
                tuple(arr.shape) == tuple(self.shape)
                or (arr.shape[-1] == c and tuple(arr.shape[:-1]) == tuple(self.shape[1:]))):
            arr = arr[None]
        if arr.ndim == ndim + 1 and c == 1:  # one channel given without its axis
            arr = arr[:, None]
        if arr.ndim != ndim + 2:
            raise AutofastError(f"{source}: inputs have shape {arr.shape}; the model takes (N, "
                                f"{', '.join(map(str, self.shape))}) ({self.input.get('layout', 'channels first')})")
        notes: list[str] = []
        if self.kind == "image":
            from ..data.images import channels_first

            if layout == "auto" and arr.shape[1] != c and arr.shape[-1] == c:
                layout = "NHWC"
            elif layout == "auto" and arr.shape[1] == c:
                layout = "NCHW"
            arr = channels_first(arr, source, layout if layout in ("NCHW", "NHWC") else "auto")
            if arr.shape[1] != c:
                raise AutofastError(f"{source}: images have {arr.shape[1]} band(s) but the model was trained on "
                                    f"{c}; give images with the training bands")
            if tuple(arr.shape[2:]) != self.shape[1:]:
                raise AutofastError(f"{source}: images are {arr.shape[2]}x{arr.shape[3]} but the model was trained "
                                    f"on {self.shape[1]}x{self.shape[2]} (height x width); resize them")
            return arr, notes
        if self.kind == "dense":  # the training layout where both readings fit, else the one that does
            first = tuple(arr.shape[1:]) == self.shape
            last = arr.shape[-1] == c and tuple(arr.shape[1:-1]) == self.shape[1:]
            if last and (layout in ("NHWC", "NLC") or not first):
                return np.ascontiguousarray(np.moveaxis(arr, -1, 1)), notes
            if not first:  # (the file's own shape: it named the array as forced to channels last)
                spatial = ", ".join(map(str, self.shape[1:]))
                raise AutofastError(f"{source}: inputs have shape {arr.shape} but the model takes (N, {c}, {spatial}) "
                                    f"channels first or (N, {spatial}, {c}) channels last; give inputs of that shape")
            return arr, notes
        if self.kind == "series" and layout != "NCL" and arr.shape[1] != c and (layout == "NLC" or arr.shape[2] == c):
            arr = np.ascontiguousarray(arr.transpose(0, 2, 1))
        if arr.shape[1] != c:
            what = "series" if self.kind == "series" else "one-hot sequences"
            raise AutofastError(f"{source}: {what} have {arr.shape[1]} channel(s) (shape {arr.shape}) but the model "
                                f"was trained on {c}; give data with the training channels")
        if self.kind == "series" and arr.shape[2] != self.shape[1]:
            from ..data.series import equal_length

            rule = self.input["series"]["length_rule"]
            notes.append(f"series of length {arr.shape[2]} brought to {self.shape[1]} ({rule}, as at training)")
            arr = equal_length(list(arr), self.shape[1], rule, source)
        elif self.kind == "dna" and arr.shape[2] != self.shape[1]:
            raise AutofastError(f"{source}: one-hot sequences have length {arr.shape[2]} but the model was trained "
                                f"on length {self.shape[1]}; give sequences as strings to apply the length rule")
        return arr, notes

    def _encode(self, seqs: list[str], source: str, unit: str = "data row") -> np.ndarray:
        from ..data.dna import encode_dna

        rule = self.input["dna"]
        L = int(rule["length"])
        if rule["length_rule"] == "pad":
            for i, s in enumerate(seqs, start=1):
                s = str(s).strip()
                n = len(s)
                if n > L and not any(ch.isspace() for ch in s):  # a space inside is refused as a symbol below
                    raise AutofastError(f"{source}: {unit} {i} has {n} bases but the model reads at most {L} "
                                        f"(its length rule: pad to {L}, {rule['why']}); trim the sequences to "
                                        f"{L} bases")
        return encode_dna(seqs, L, source, rule.get("crop", "end"), unit)

    # ---- files
    def _read_path(self, text: str) -> Inputs:
        from ..data.registry import DATASETS
        from ..data.task_file import TASK_FILE_SUFFIXES

        self._check_kind()
        bundled = any(d.name.lower() == text.lower() for d in DATASETS.values())
        p = Path(text)
        if bundled or p.suffix.lower() in TASK_FILE_SUFFIXES:
            return self._read_task(text)
        if not path_exists(p):  # also a bare string too long for a path, e.g. one DNA sequence
            shown = text if len(text) <= 80 else text[:77] + "..."
            raise AutofastError(f"data path {shown!r} does not exist; check the path (or give a bundled task name "
                                "or a YAML task file for its test split; sequences as a list of strings)")
        refuse_spreadsheet(p)
        return getattr(self, f"_read_{self.kind}")(p)

    def _read_task(self, text: str) -> Inputs:
        """The test split of a bundled task or a YAML task file, rebuilt as at training (its files and split
        seed), read with the training loaders."""
        from ..data.supervised import DEFAULT_RATIOS, DEFAULT_VAL_FRACTION, resolve_data
        from ..data.types import ORIGIN_CODES, split_for

        _, data, plan = resolve_data(text)
        if data.kind != self.kind:
            raise AutofastError(f"{text}: holds {data.kind} data but the model was trained on {self.kind} data")
        subset = self.manifest.get("class_subset")
        if subset and list(data.classes) != subset and set(subset) <= set(data.classes):
            from ..autoft.tasks import subset_data  # the run cut the task to these classes before its split

            data = subset_data(data, [list(data.classes).index(c) for c in subset])
        seed = self.manifest.get("split_seed")
        seed = 0 if seed is None else int(seed)
        split = split_for(data, plan.seed if plan is not None and plan.seed is not None else seed,
                          plan.ratios if plan is not None else DEFAULT_RATIOS,
                          plan.val_fraction if plan is not None else DEFAULT_VAL_FRACTION)
        # the rows in the data file's order (the test file's, for an official split), not the split's draw: the
        # order of predict's CSV (its index column, ascending) and of Result.predict, so that both line up with
        # the file's rows (a ratio split's test rows come shuffled: Python gave another order than the CLI)
        rows = np.sort(np.asarray(split.test, dtype=np.int64))
        first_test = int(np.flatnonzero(data.origin == ORIGIN_CODES["test"])[0]) if data.origin is not None else 0
        where = f"{text} (test split)"
        if tuple(data.x.shape[1:]) != self.shape:
            raise AutofastError(f"{where}: examples have shape {tuple(data.x.shape[1:])} but the model was trained "
                                f"on {self.shape}; give the run's task, or one whose inputs have the run's layout "
                                "and length")
        ignored = str(self.input.get("dense", {}).get("ignore_label"))  # index -1 (IGNORE_INDEX): its value again
        labels = self.label_indices(data.y[rows] if self.regression else
                                    np.asarray([*data.classes, ignored])[data.y[rows]] if self.kind == "dense" else
                                    [data.classes[i] for i in data.y[rows]], where)
        return self._finish(data.x[rows], labels, rows - first_test, where,
                            [f"the test split of {text} (split seed {split.seed})"])

    def _read_dna(self, p: Path) -> Inputs:
        from ..data.dna import is_fasta, read_fasta, read_fasta_folder, read_table, refuse_fastq

        rule = self.input["dna"]
        if p.is_dir():  # one FASTA file per class, the class its name
            seqs, labels = read_fasta_folder(p)
            return self._finish(self._encode(seqs, str(p), "record"), self.label_indices(labels, str(p)),
                                np.arange(len(seqs)), str(p), [])
        if p.stat().st_size == 0:
            raise AutofastError(f"{p}: give a non-empty .csv/.tsv or .fa/.fasta/.fna file of DNA sequences")
        suffix = data_suffix(p)
        names = None
        refuse_fastq(p)
        if is_fasta(p):
            names = []  # the records' names go beside their predictions (the CSV's id column)
            seqs, labels = read_fasta(p, labels_required=False, names=names)
            known = {integral_text(c) for c in self.classes}
            if not any(labels) or not self.regression and not any(integral_text(lab) in known for lab in labels):
                labels = None  # none a class: a header's last field is a name (GENCODE's >ENST...|GENE), not a label
            elif not all(labels):
                i = labels.index("") + 1
                raise AutofastError(f"{p}: record {i} has no label while others have one; label every record or none")
            x = self._encode(seqs, str(p), "record")
        elif suffix in (".csv", ".tsv", ".tab", ".txt"):
            names = []  # an id column's values go beside their predictions
            seqs, labels = read_table(p, rule["sequence_column"], rule["label_column"], labels_required=False,
                                      names=names)
            names = names or None
            x = self._encode(seqs, f"{p} (column {rule['sequence_column']!r})")
        elif suffix in (".npz", ".npy"):
            return self._read_array_file(p)
        else:
            raise AutofastError(f"{p}: unsupported file type {suffix or '(none)'!r} for a DNA model; give a "
                                f".csv/.tsv (column {rule['sequence_column']!r}) or .fa/.fasta/.fna file")
        return self._finish(x, self.label_indices(labels, str(p)), np.arange(len(x)), str(p), [], names)

    def _read_series(self, p: Path) -> Inputs:
        from ..data.series import equal_length, read_ts, read_ucr
        from ..data.series_table import TableColumns, has_header_row, read_series_table, table_notes

        rule = self.input["series"]
        if p.is_dir():
            raise AutofastError(f"{p}: is a folder; give a .ts, .tsv/.txt/.csv (UCR: label first), a .csv table "
                                "(a header row) or .npz/.npy file")
        suffix = data_suffix(p)
        if suffix in (".npz", ".npy"):
            return self._read_array_file(p)
        ids, notes = None, []
        if suffix == ".ts":
            series, labels, _ = read_ts(p, labels_required=False)
        elif suffix == ".csv" and has_header_row(p, rule.get("label_column", "label")):  # a table of series
            channels, steps = rule.get("channel_columns"), rule.get("step_columns")
            cols = TableColumns(rule.get("label_column", "label"), rule.get("id_column", "id"),
                                rule.get("time_column", "time"), tuple(channels) if channels else None,
                                tuple(steps) if steps else None, tuple(rule.get("ignore_columns") or ()),
                                bool(rule.get("timed")))
            table = read_series_table(p, cols, labels_required=False)
            series, labels, ids = table.series, table.labels, table.ids
            notes = table_notes(table)
        elif suffix in (".tsv", ".txt", ".csv"):  # UCR rows, or (one-channel models) rows of the model's steps alone
            series, labels = read_ucr(p, unlabelled_steps=self.shape[1] if self.shape[0] == 1 else None)
        else:
            raise AutofastError(f"{p}: unsupported series file {suffix or '(none)'!r}; give a .ts, .tsv/.txt/.csv "
                                "(UCR: label first), a .csv table (a header row) or .npz/.npy file")
        c, L = self.shape
        chans = sorted({s.shape[0] for s in series})
        if chans != [c]:
            raise AutofastError(f"{p}: series have {', '.join(map(str, chans))} channel(s) but the model was trained "
                                f"on {c}; give series with the training channels")
        lengths = {s.shape[1] for s in series}
        if lengths != {L}:
            notes.append(f"series of lengths {min(lengths)}..{max(lengths)} brought to {L} ({rule['length_rule']}, "
                         "as at training)")
        x = equal_length(series, L, rule["length_rule"], str(p))
        return self._finish(x, self.label_indices(labels, str(p)), np.arange(len(x)), str(p), notes, ids)

    def _read_dense(self, p: Path) -> Inputs:
        if not p.is_dir() and data_suffix(p) in (".npz", ".npy"):
            return self._read_array_file(p)
        raise AutofastError(f"{p}: unsupported dense data {data_suffix(p) or '(none)'!r}; give a .npz (inputs 'x', "
                            "targets 'y' optional) or a .npy of inputs")

    def _read_image(self, p: Path) -> Inputs:
        from ..data.images import IMAGE_FILE_SUFFIXES

        if p.is_dir():
            return self._read_image_folder(p)
        if data_suffix(p) in (".npz", ".npy"):
            return self._read_array_file(p)
        if p.suffix.lower() in IMAGE_FILE_SUFFIXES:  # one image: a batch of one
            return self._image_batch([p], None, str(p))
        raise AutofastError(f"{p}: unsupported image data {data_suffix(p) or '(none)'!r}; give an image file, a "
                            ".npz/.npy array file or a folder of images (or of class sub-folders)")

    def _read_image_folder(self, root: Path) -> Inputs:
        from ..data.images import IMAGE_FILE_SUFFIXES, class_name, is_debris, image_files

        direct = image_files(root)
        dirs = sorted(d for d in root.iterdir() if d.is_dir() and not is_debris(d))
        pairs = [(f, class_name(d)) for d in dirs for f in image_files(d)]
        if direct and pairs:  # the sub-folders' images were left out without a word
            raise AutofastError(f"{root}: holds images both directly ({len(direct)}) and in sub-folders ({len(pairs)}); "
                                "give a folder of images, or one of class sub-folders")
        if direct:
            files, labels = direct, None
        else:
            if not pairs:
                raise AutofastError(f"{root}: holds no images ({', '.join(sorted(IMAGE_FILE_SUFFIXES))}) directly or "
                                    "in class sub-folders")
            files, labels = [f for f, _ in pairs], [lab for _, lab in pairs]
        return self._image_batch(files, labels, str(root), root)

    def _image_batch(self, files: list[Path], labels, where: str, root: Path | None = None) -> Inputs:
        """Image files read as the training loader reads them (their class names ``labels``, or None), checked
        against the model's bands and size; ``root``: the folder their ids are relative to."""
        from ..data.images import image_pixels

        c = self.shape[0]
        if c not in (1, 3):
            raise AutofastError(f"{where}: the model takes {c} bands; image files give 1 (grey) or 3 (RGB); give a "
                                ".npz array file")
        if self.input.get("uint8_input") is False:
            raise AutofastError(f"{where}: image files are read as pixels / 255, but the model was trained on arrays "
                                "of values as they are (not uint8); give a .npz of the training dtype")
        arrays = [image_pixels(f, grey=c == 1) for f in files]  # as the training loader reads them
        sizes = {a.shape[:2] for a in arrays}
        if sizes != {tuple(self.shape[1:])}:
            got = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
            raise AutofastError(f"{where}: images are {got} but the model was trained on {self.shape[1]}x"
                                f"{self.shape[2]} (height x width); resize them")
        x = np.stack(arrays)
        x = x[:, None] if c == 1 else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        ids = [f.relative_to(root).as_posix() if root is not None else str(f) for f in files]
        return self._finish(x, self.label_indices(labels, where), np.arange(len(x)), where,
                            [f"{len(files)} image files in name order"] if root is not None else [],
                            ids)  # each file beside its prediction

    def _read_array_file(self, p: Path) -> Inputs:
        """A ``.npz`` (``x``/``images``, labels ``y``/``labels`` optional) or a ``.npy`` of inputs."""
        from ..data.arrays import load_npy, np_load, to_float

        source = str(p)
        y = None
        if data_suffix(p) == ".npy":
            x = load_npy(p, "input")
        else:
            try:
                with np_load(p) as z:
                    keys = list(z.keys())
                    kx = next((k for k in ("x", "images") if k in keys), None)
                    if kx is None:
                        raise AutofastError(f"{p}: needs an array 'x' (or 'images'), found "
                                            f"{', '.join(map(repr, keys)) or 'none'}; save with np.savez(path, x=...)")
                    x = z[kx]
                    ky = {"x": "y", "images": "labels"}[kx]
                    y = z[ky] if ky in keys else None
            except AutofastError:
                raise
            except Exception as exc:
                raise AutofastError(f"{p}: cannot be read as .npz ({type(exc).__name__}); save it with np.savez") \
                    from None
        layout = self.input.get(self.kind, {}).get("layout", "auto")
        self._check_scale(np.asarray(x), source)
        raw, notes = self._shape_arrays(to_float(np.asarray(x), source), source, layout)
        labels = None if y is None else (y if self.regression or self.kind == "dense" else label_strings(y, source))
        if labels is not None and len(labels) != len(raw):
            raise AutofastError(f"{p}: {len(labels)} labels for {len(raw)} examples; give one per example")
        return self._finish(raw, self.label_indices(labels, source), np.arange(len(raw)), source, notes)
