"""Text data files as editors and spreadsheets save them: the CSV separator and decimal mark of a file, its first
rows, and the one error line for a spreadsheet workbook (a leaf module, imported by the loaders). Byte-order marks
are handled where files are opened (``utf-8-sig``)."""
from __future__ import annotations

import csv
from pathlib import Path

from ..errors import AutofastError

#: workbooks a user may hand over for a CSV (Excel, LibreOffice, Apple Numbers)
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")


def refuse_spreadsheet(path: Path) -> None:
    """One error line for a spreadsheet workbook given where a text file is read (it is binary: read as CSV it
    fails with a decoding error, or reads as an empty file)."""
    if Path(path).suffix.lower() in SPREADSHEET_SUFFIXES:
        raise AutofastError(f"{path}: is a spreadsheet workbook, not a text file; save the sheet as CSV (Excel: "
                            "File > Save As > 'CSV UTF-8') and give that file")


def _head(path: Path) -> tuple[str, str]:
    """The first two lines ('' where there are none; both '' when the file cannot be read as text)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
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


def is_number(t: str) -> bool:
    """Whether a field reads as a float (``"1e-3"``, ``"nan"`` and ``"inf"`` do; ``""`` does not)."""
    try:
        float(t)
        return True
    except ValueError:
        return False
