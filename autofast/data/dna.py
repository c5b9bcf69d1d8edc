"""DNA sequences: one-hot encoding with IUPAC ambiguity codes, and loading labelled sequences from
CSV/TSV or FASTA files, or a folder of one FASTA file per class (``enhancers.fa``, ``background.fa``: the layout
gkm-SVM's ``gkmtrain pos.fa neg.fa`` and most motif and enhancer sets come in).

Encoding: ``(N, 4, L)`` float32 over the channels A, C, G, T. An ambiguity code is the uniform
distribution over its bases (N -> 0.25 each, R -> A/G 0.5 each, ...); gaps ``-`` and ``.`` and the
padding after a short sequence are all-zero columns.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import AutofastError, column_list
from .text import (csv_dialect, data_stem, data_suffix, find_column, find_label, is_number, open_text, read_csv,
                   read_text)
from .types import SupervisedData, Target, targets_from

BASES = "ACGT"
IUPAC: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "T": "T", "U": "T",
    "N": "ACGT", "R": "AG", "Y": "CT", "S": "GC", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG",
    "-": "", ".": "",
}
ALLOWED = "allowed: A C G T U and IUPAC codes N R Y S W K M B D H V, gaps - ."
FASTA_SUFFIXES = {".fa", ".fasta", ".fna", ".fas", ".fsa", ".ffn", ".frn"}
FASTQ_SUFFIXES = {".fq", ".fastq"}


def is_fasta(path: Path) -> bool:
    """A FASTA file: by its suffix (:data:`FASTA_SUFFIXES`), or by a first line starting with ``>`` (``seqs.fa.txt``,
    which was read as a table)."""
    if data_suffix(path) in FASTA_SUFFIXES:
        return True
    try:
        with open_text(path) as f:
            return f.read(4096).lstrip("\ufeff \t\r\n").startswith(">")
    except (OSError, UnicodeDecodeError, AutofastError):
        return False


def refuse_fastq(path: Path) -> None:
    """FASTQ reads (``@`` headers, quality lines) are one error line with a conversion; they were read as a CSV table
    ("column(s) 'sequence', 'label' not found") or refused as an unknown type."""
    if data_suffix(path) in FASTQ_SUFFIXES:
        raise AutofastError(f"{path}: FASTQ reads are not read; convert them to FASTA with the class in each header "
                            "(e.g. `seqtk seq -a reads.fastq > reads.fa`, then '>name label=CLASS'), or give a "
                            "table of sequences")
_GAP = ord("-")


def _tables() -> tuple[np.ndarray, np.ndarray]:
    lut = np.zeros((256, 4), dtype=np.float32)
    valid = np.zeros(256, dtype=bool)
    for sym, bases in IUPAC.items():
        for case in (sym, sym.lower()):
            valid[ord(case)] = True
            for b in bases:
                lut[ord(case), BASES.index(b)] = 1.0 / len(bases)
    return lut, valid


_LUT, _VALID = _tables()


#: a longest sequence over this many nt and this many times the median is refused without ``length:``
OUTLIER_LENGTH, OUTLIER_RATIO = 2000, 20


def encode_dna(seqs: list[str], length: int | None = None, source: str = "<sequences>",
               crop: Literal["end", "center"] = "end", unit: str = "data row") -> np.ndarray:
    """One-hot encode ``seqs`` to float32 ``(N, 4, L)`` (channels A, C, G, T; case-insensitive, U = T).

    IUPAC ambiguity codes spread their mass uniformly over their bases; gaps ``-``/``.`` are zeros.
    Surrounding whitespace is stripped. ``length`` defaults to the longest sequence; shorter ones are
    zero-padded at the end, longer ones truncated: ``crop="end"`` keeps the first ``length`` bases,
    ``crop="center"`` the middle ones. Any other symbol raises :class:`AutofastError` naming
    ``source``, the 1-based ``unit`` (data row, record), the position and the symbol.
    """
    if crop not in ("end", "center"):
        raise AutofastError(f"unknown crop {crop!r}; use 'end' (keep the start) or 'center'")
    if length is not None and length < 1:
        raise AutofastError(f"sequence length must be a positive number of bases, got {length}")
    codes: list[np.ndarray] = []
    for i, s in enumerate(seqs, start=1):
        s = "" if s is None else str(s).strip()
        if not s:
            raise AutofastError(f"{source}: {unit} {i} has an empty sequence; remove the {unit.split()[-1]} or fill "
                                "it in")
        try:
            arr = np.frombuffer(s.encode("ascii"), dtype=np.uint8)
            bad = np.flatnonzero(~_VALID[arr])
        except UnicodeEncodeError:
            bad = np.array([next(k for k, ch in enumerate(s) if ord(ch) > 127 or not _VALID[ord(ch)])])
        if len(bad):
            pos = int(bad[0])
            raise AutofastError(f"{source}: {unit} {i}, position {pos + 1}: symbol {s[pos]!r} is not a nucleotide "
                                f"code; remove or replace it ({ALLOWED})")
        codes.append(arr)
    if not codes:
        raise AutofastError(f"{source}: no sequences to encode")
    if length is None:
        lengths = np.array([len(c) for c in codes])
        longest, median = int(lengths.max()), float(np.median(lengths))
        if longest > OUTLIER_LENGTH and longest > OUTLIER_RATIO * median:  # every sequence padded to the outlier:
            i = int(lengths.argmax()) + 1  # (the step-cost measurement ran minutes past a 30 s budget, silently)
            raise AutofastError(f"{source}: {unit} {i} is {longest} nt long, {longest / median:.0f}x the median "
                                f"{median:.0f} nt: every sequence would be padded to it; set 'length:' in a task file "
                                f"(e.g. length: {int(np.percentile(lengths, 99))}: longer ones cut) or remove it")
    L = length or max(len(c) for c in codes)
    out = np.full((len(codes), L), _GAP, dtype=np.uint8)
    for i, c in enumerate(codes):
        if len(c) > L:
            start = (len(c) - L) // 2 if crop == "center" else 0
            c = c[start: start + L]
        out[i, : len(c)] = c
    return np.ascontiguousarray(_LUT[out].transpose(0, 2, 1))


def fasta_name(header: str) -> str:
    """A FASTA record's name: its header's first word (``>chr1:100-300|enhancer label=x`` -> ``chr1:100-300``,
    the part before a ``|`` as well)."""
    words = header.split()
    return words[0].split("|")[0] if words else ""


def read_fasta(path: Path, labels_required: bool = True, names: list[str] | None = None
               ) -> tuple[list[str], list[str]]:
    """Return ``(sequences, labels)``. A record's label is the ``label=XXX`` token of its header, else the header's
    last ``|`` field unless that holds a space (NCBI and UniProt headers end in a description, ``>gi|1|ref|NC_1|
    Homo sapiens``, not a class); ``labels_required=False``: a record without one gets the label ``""``.
    ``names``: a list the records' names (:func:`fasta_name`) are appended to."""
    try:
        text = read_text(path)  # a byte-order mark is not part of the first header; .gz etc. decompressed
    except UnicodeDecodeError:
        raise AutofastError(f"{path}: is not a text FASTA file; give a FASTA file with '>' header lines") from None
    headers: list[str] = []
    chunks: list[list[str]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith(">"):
            headers.append(line[1:].strip())
            chunks.append([])
        elif not headers:
            raise AutofastError(f"{path}: line {lineno} holds sequence before any '>' header; start each record "
                                f"with a '>name|LABEL' line")
        else:
            chunks[-1].append(line)
    if not headers:
        raise AutofastError(f"{path}: has no FASTA records; start each record with a '>name|LABEL' line")
    if names is not None:
        names.extend(fasta_name(h) for h in headers)
    labels = []
    for i, h in enumerate(headers, start=1):
        m = re.search(r"(?:^|[\s|;,])label=([^\s|;,]+)", h)
        last = h.rsplit("|", 1)[1].strip() if "|" in h else ""
        label = m.group(1) if m else ("" if re.search(r"\s", last) else last)  # a description is not a class
        if not label and labels_required:
            raise AutofastError(f"{path}: record {i} has no label; add 'label=CLASS' to the header "
                                f"or end it with '|CLASS'")
        labels.append(label)
    return ["".join(c) for c in chunks], labels


def fasta_files(folder: Path) -> list[Path]:
    """The FASTA files directly in ``folder`` (compressed too), by name; hidden files skipped."""
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")
                  and data_suffix(p) in FASTA_SUFFIXES)


def read_fasta_folder(folder: Path) -> tuple[list[str], list[str]]:
    """``(sequences, labels)`` of a folder of one FASTA file per class: each record's label is its file's name
    less the suffixes (``enhancers.fa.gz`` -> ``enhancers``); labels in the headers are not read."""
    files = fasta_files(folder)
    if not files:
        raise AutofastError(f"{folder}: is a folder without FASTA files; give a .csv/.tsv or .fa/.fasta/.fna file, "
                            "or a folder of one FASTA file per class (its name the class)")
    seqs: list[str] = []
    labels: list[str] = []
    for f in files:
        s, _ = read_fasta(f, labels_required=False)
        seqs += s
        labels += [data_stem(f)] * len(s)
    return seqs, labels


def read_table(path: Path, seq_column: str, label_column: str,
                labels_required: bool = True, names: list | None = None) -> tuple[list[str], list[str] | None]:
    """``(sequences, labels)`` of a CSV/TSV table; ``labels_required=False``: labels None when the table has
    no ``label_column``; ``names``: a list to receive the rows' ids from an ``id`` (or ``name``) column, if any."""
    import pandas as pd

    sep = "\t" if data_suffix(path) in (".tsv", ".tab") else csv_dialect(path)[0]
    try:
        df = read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except AutofastError:  # a damaged compressed file
        raise
    except pd.errors.EmptyDataError:
        raise AutofastError(f"{path}: is empty; give a header row ({label_column}{sep}{seq_column}) "
                            f"and one row per sequence") from None
    except Exception as exc:  # parser errors, binary junk
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AutofastError(f"{path}: cannot be read as {'TSV' if sep == chr(9) else 'CSV'} ({first}); give a "
                            f"delimited file with a header row") from None
    df.columns = [str(c).strip() for c in df.columns]
    seq_column = find_column(df.columns, seq_column) or seq_column  # 'Sequence', 'Label' as spreadsheets write
    label_column = find_label(df.columns, label_column) or label_column  # also 'class', 'target'
    wanted = (seq_column, label_column) if labels_required or label_column in df.columns else (seq_column,)
    missing = [c for c in wanted if c not in df.columns]
    if missing and len(df.columns) >= 3 and sum(not is_number(str(c)) for c in df.columns) <= 1:  # a label, numbers
        raise AutofastError(f"{path}: has no header row (its first row is numbers); add one -- 'label' and a name "
                            "per step for a table of series, 'sequence' and 'label' for DNA -- or give UCR rows "
                            "(label first) as a .tsv/.txt with 'kind: series' in a task file")
    numeric = [c for c in df.columns if len(df) and all(is_number(str(v)) for v in df[c].head(20))] \
        if seq_column in missing else []
    if len(numeric) >= 2:  # numbers per step: a table of series, no label
        raise AutofastError(f"{path}: no {label_column!r} column (available: {column_list(df.columns)}); a table "
                            f"of series needs the class (or value) of each row in a {label_column!r} column and "
                            f"one numeric column per step: rename that column to {label_column!r} or set "
                            "label_column: in a task file")
    if missing:
        raise AutofastError(f"{path}: column(s) {', '.join(map(repr, missing))} not found (available: "
                            f"{column_list(df.columns)}); rename the column(s) or set sequence_column: / "
                            "label_column: in a task file (a table of series needs a 'label' column and one "
                            "numeric column per step, or 'id' and one numeric column per channel)")
    if df.empty:
        raise AutofastError(f"{path}: has a header but no data rows; add one row per sequence")
    id_column = find_column(df.columns, "id") or find_column(df.columns, "name")
    if names is not None and id_column is not None and id_column not in (seq_column, label_column):
        names.extend(str(v).strip() for v in df[id_column])
    if label_column not in df.columns:
        return list(df[seq_column]), None
    labels = [str(v).strip() for v in df[label_column]]
    for i, lab in enumerate(labels, start=1):
        if not lab:
            raise AutofastError(f"{path}: data row {i} has an empty {label_column!r}; fill in the class or drop the row")
    return list(df[seq_column]), labels


def load_dna(path: str | Path, seq_column: str = "sequence", label_column: str = "label",
             length: int | None = None, target: Target = "auto", min_classes: int = 2) -> SupervisedData:
    """Load labelled DNA sequences into ``SupervisedData`` (kind "dna", x ``(N, 4, L)``).

    CSV (``.csv``) or TSV (``.tsv``/``.tab``) with a header row: ``seq_column`` and ``label_column``.
    FASTA (``.fa``/``.fasta``/``.fna``): the label is a ``label=XXX`` token in the header, else its last
    ``|``-separated field. A folder of FASTA files: one class per file (:func:`read_fasta_folder`). Classes are
    the sorted distinct labels, or the labels are values (numbers not all
    whole, or ``target`` "regression": :func:`autofast.data.types.targets_from`, e.g. a promoter's measured
    strength); ``length`` as in :func:`encode_dna`.
    """
    path = Path(path)
    if not path.exists():
        raise AutofastError(f"data file {str(path)!r} does not exist; check the path")
    if path.is_dir():
        if target == "regression":
            raise AutofastError(f"{path}: a folder of FASTA files gives one class per file, not values; give a "
                                "table with a numeric label column for 'target: regression'")
        seqs, labels = read_fasta_folder(path)
        target = "classification"  # file names are classes, whatever they read as
        x = encode_dna(seqs, length, str(path), "end", "record")
    elif path.stat().st_size == 0:
        raise AutofastError(f"{path}: is empty; give a file with one labelled sequence per row or FASTA record")
    elif refuse_fastq(path) or is_fasta(path):
        seqs, labels = read_fasta(path)
        x = encode_dna(seqs, length, str(path), "end", "record")
    else:
        seqs, labels = read_table(path, seq_column, label_column)
        x = encode_dna(seqs, length, f"{path} (column {seq_column!r})")
    y, classes = targets_from(np.asarray(labels), len(labels), str(path), target, "sequence", min_classes)
    return SupervisedData(x, y, classes, str(path), "dna")
