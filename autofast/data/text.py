"""Text data files as editors and spreadsheets save them: the CSV separator and decimal mark of a file (a leaf
module, imported by the loaders). Byte-order marks are handled where files are opened (``utf-8-sig``)."""
from __future__ import annotations

from pathlib import Path


def csv_dialect(path: Path) -> tuple[str, str]:
    """``(separator, decimal mark)`` of a CSV from its first two lines: ``,`` and ``.``, or, where the header holds
    no comma but a semicolon (a spreadsheet's CSV in locales that write decimal commas) or a tab, that separator,
    with ``,`` as the decimal mark where a semicolon-separated data row holds a comma ("0,5"), as in a one-column
    file whose data rows hold commas."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            header, row = f.readline(), f.readline()
    except (OSError, UnicodeDecodeError):
        return ",", "."
    if "," in header:
        return ",", "."
    if ";" in header:
        return ";", "," if "," in row else "."
    if "\t" in header:
        return "\t", "."
    return (";", ",") if "," in row else (",", ".")  # one column: "0,5" is a decimal comma, not two fields
