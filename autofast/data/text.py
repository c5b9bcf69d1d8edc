"""Text data files as editors and spreadsheets save them: the CSV separator and decimal mark of a file, and its
first rows (a leaf module, imported by the loaders). Byte-order marks are handled where files are opened
(``utf-8-sig``)."""
from __future__ import annotations

import csv
from pathlib import Path


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
