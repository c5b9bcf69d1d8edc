"""Data files as editors, spreadsheets and archives save them: compressed files read as the file inside them
(``reads.fa.gz``, ``train.csv.bz2``, ``series.ts.xz``, a ``.zip`` of one file), the CSV separator and decimal mark
of a file, its first rows, and the one error line for a spreadsheet workbook (a leaf module, imported by the
loaders). Text is opened here (:func:`open_text`), as UTF-8 with an optional byte-order mark (``utf-8-sig``)."""
from __future__ import annotations

import csv
import io
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO

from ..errors import AutofastError

#: compression a data file may carry, by its last suffix: read as the file inside (stdlib codecs; a zip archive
#: must hold one file)
COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zip": "zip"}


def compression(path: str | Path) -> str | None:
    """The compression of ``path`` by its last suffix (``"gzip"``, ``"bzip2"``, ``"xz"``, ``"zip"``), or None."""
    return COMPRESSED_SUFFIXES.get(Path(path).suffix.lower())


def _zip_member(path: Path) -> str:
    """The one file inside a zip archive (macOS's ``__MACOSX/`` and ``._`` entries ignored)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            names = [i.filename for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")
                     and not Path(i.filename).name.startswith("._")]
    except (zipfile.BadZipFile, OSError) as exc:
        raise AutofastError(f"{path}: is not a readable zip archive ({exc}); give the file itself or a .zip of "
                            "it") from None
    if len(names) != 1:
        listed = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        raise AutofastError(f"{path}: a zip archive must hold exactly one data file, this one holds {len(names)}"
                            f"{' (' + listed + ')' if names else ''}; unzip it and give one file")
    return names[0]


def path_exists(path: str | Path) -> bool:
    """``Path(path).exists()``, False for a name the file system refuses (too long: a DNA sequence given where a
    path goes)."""
    try:
        return Path(path).exists()
    except OSError:
        return False


def data_name(path: str | Path) -> str:
    """The name of the data in ``path``: its file name, less a compression suffix (``reads.fa.gz`` ->
    ``reads.fa``); a zip archive's one file's name."""
    path = Path(path)
    kind = compression(path)
    try:
        if kind and path.is_dir():
            kind = None
        elif kind == "zip" and path.is_file():
            return Path(_zip_member(path)).name
    except OSError:  # a name the file system refuses (too long): no file to look into
        pass
    return path.stem if kind else path.name


def data_suffix(path: str | Path) -> str:
    """The suffix that says what ``path`` holds, lower case, past a compression suffix (``x.CSV.gz`` -> ``.csv``)."""
    return Path(data_name(path)).suffix.lower()


def data_stem(path: str | Path) -> str:
    """``path``'s name less its suffixes of kind and compression (``reads.fa.gz`` -> ``reads``)."""
    return Path(data_name(path)).stem


class _Decompressed(io.RawIOBase):
    """A decompressing reader whose damaged or truncated data is one :class:`AutofastError` naming the file
    (gzip, bz2, lzma and zipfile raise OSError, EOFError, LZMAError, zlib.error or BadZipFile, mid-read)."""

    def __init__(self, stream: BinaryIO, path: Path, kind: str):
        import lzma
        import zipfile
        import zlib

        self._stream, self._path, self._kind = stream, path, kind
        self._damaged = (OSError, EOFError, lzma.LZMAError, zlib.error, zipfile.BadZipFile)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            return self._stream.readinto(buffer)
        except self._damaged as exc:
            raise AutofastError(f"{self._path}: is not a readable {self._kind} file ({exc or type(exc).__name__}); "
                                "compress it again, or give the file uncompressed") from None

    def close(self) -> None:
        self._stream.close()
        super().close()


@contextmanager
def open_binary(path: str | Path) -> Iterator[BinaryIO]:
    """``path``'s bytes, decompressed where its suffix says it is compressed (:data:`COMPRESSED_SUFFIXES`)."""
    path = Path(path)
    kind = compression(path)
    if kind is None:
        with open(path, "rb") as f:
            yield f
        return
    if kind == "zip":
        import zipfile

        member = _zip_member(path)
        archive = zipfile.ZipFile(path)
        try:
            stream = archive.open(member)
        except RuntimeError as exc:  # "File ... is encrypted, password required"
            archive.close()
            raise AutofastError(f"{path}: {exc}; unzip it and give the file") from None
    else:
        import bz2
        import gzip
        import lzma

        archive = None
        stream = {"gzip": gzip.open, "bzip2": bz2.open, "xz": lzma.open}[kind](path, "rb")
    try:
        with io.BufferedReader(_Decompressed(stream, path, kind), 1 << 16) as f:
            yield f
    finally:
        if archive is not None:
            archive.close()


@contextmanager
def open_text(path: str | Path, newline: str | None = "") -> Iterator[TextIO]:
    """``path`` as UTF-8 text (a byte-order mark is not data), decompressed where it is compressed; ``newline``
    as :func:`open`'s (``""``: line ends as written, what :mod:`csv` wants; None: universal newlines)."""
    if compression(path) is None:
        with open(path, encoding="utf-8-sig", newline=newline) as f:
            yield f
        return
    with open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline=newline) as f:
        yield f


def read_text(path: str | Path) -> str:
    """The whole of ``path`` as text (:func:`open_text`, universal newlines)."""
    with open_text(path, newline=None) as f:
        return f.read()


def read_bytes(path: str | Path) -> bytes:
    """The whole of ``path``, decompressed (arrays: ``np.load(io.BytesIO(read_bytes(path)))``)."""
    with open_binary(path) as f:
        return f.read()


def read_csv(path: str | Path, **options):
    """``pandas.read_csv`` of ``path`` (:func:`open_text`; ``options`` as pandas'); a damaged compressed file raises
    :class:`AutofastError`, everything else as pandas raises it."""
    import pandas as pd

    with open_text(path) as f:
        return pd.read_csv(f, **options)

#: workbooks a user may hand over for a CSV (Excel, LibreOffice, Apple Numbers)
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")


def refuse_spreadsheet(path: Path) -> None:
    """One error line for a spreadsheet workbook given where a text file is read (it is binary: read as CSV it
    fails with a decoding error, or reads as an empty file)."""
    if data_suffix(path) in SPREADSHEET_SUFFIXES:
        raise AutofastError(f"{path}: is a spreadsheet workbook, not a text file; save the sheet as CSV (Excel: "
                            "File > Save As > 'CSV UTF-8') and give that file")


def _head(path: Path) -> tuple[str, str]:
    """The first two lines ('' where there are none; both '' when the file cannot be read as text)."""
    try:
        with open_text(path) as f:
            return f.readline(), f.readline()
    except (OSError, UnicodeDecodeError):
        return "", ""


def _dialect(header: str, row: str) -> tuple[str, str]:
    if "," in header:
        return ",", "."
    if ";" in header:
        return ";", "," if "," in row else "."
    if "\t" in header:
        return "\t", "."
    return (";", ",") if "," in row else (",", ".")  # one column: "0,5" is a decimal comma, not two fields


def csv_dialect(path: Path) -> tuple[str, str]:
    """``(separator, decimal mark)`` of a CSV from its first two lines: ``,`` and ``.``, or, where the header holds
    no comma but a semicolon (a spreadsheet's CSV in locales that write decimal commas) or a tab, that separator,
    with ``,`` as the decimal mark where a semicolon-separated data row holds a comma ("0,5"), as in a one-column
    file whose data rows hold commas."""
    return _dialect(*_head(path))


def csv_head(path: Path) -> tuple[str, list[str], list[str]]:
    """``(separator, header fields, first data row's fields)`` of a CSV (:func:`csv_dialect`), stripped, the file
    read once; empty lists where a line is missing or unparsable."""
    header, row = _head(path)
    sep = _dialect(header, row)[0]

    def fields(line: str) -> list[str]:
        try:
            return [t.strip() for t in next(csv.reader([line], delimiter=sep), [])] if line.strip() else []
        except csv.Error:
            return []

    return sep, fields(header), fields(row)


def find_column(names, wanted: str) -> str | None:
    """The column of ``names`` called ``wanted``: that name, else the one name equal to it in any case and
    surrounding spaces (``Label`` for ``label``, as spreadsheets capitalise headers); None."""
    names = [str(n) for n in names]
    if wanted in names:
        return wanted
    folded = [n for n in names if n.strip().lower() == wanted.strip().lower()]
    return folded[0] if len(folded) == 1 else None


#: what a label column is called where the task names none (``label``), in data users bring: scikit-learn's and
#: UCI's ``class``/``target``, pandas' ``labels``; used only where exactly one of them is a column
LABEL_ALIASES = ("class", "target", "labels")


def find_label(names, wanted: str = "label") -> str | None:
    """The label column of ``names``: :func:`find_column` of ``wanted``; for the default ``"label"`` where no
    column is called that, the one column named as in :data:`LABEL_ALIASES` (any case); None."""
    found = find_column(names, wanted)
    if found is not None or wanted != "label":
        return found
    hits = [h for h in (find_column(names, a) for a in LABEL_ALIASES) if h is not None]
    return hits[0] if len(hits) == 1 else None


#: what a long table's time column is called where the task names none (``time``), used only where exactly one
#: of them is a column: pandas' and spreadsheets' ``timestamp``/``date``/``datetime``, Prophet's ``ds``
TIME_ALIASES = ("timestamp", "date", "datetime", "ds", "t", "step", "timestep", "time_step", "time_idx")


def find_time(names, wanted: str = "time") -> str | None:
    """The time column of ``names``: :func:`find_column` of ``wanted``; for the default ``"time"`` where no column
    is called that, the one column named as in :data:`TIME_ALIASES` (any case); None."""
    found = find_column(names, wanted)
    if found is not None or wanted != "time":
        return found
    hits = [h for h in (find_column(names, a) for a in TIME_ALIASES) if h is not None]
    return hits[0] if len(hits) == 1 else None


def is_number(t: str) -> bool:
    """Whether a field reads as a float (``"1e-3"``, ``"nan"`` and ``"inf"`` do; ``""`` does not)."""
    try:
        float(t)
        return True
    except ValueError:
        return False
