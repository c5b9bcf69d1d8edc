"""Text files as spreadsheets and editors save them. A UTF-8 byte-order mark (Excel's "CSV UTF-8", Notepad,
PowerShell) reads as without one: the mark was a '.ts' / FASTA error, a class of its own in a UCR file ('\ufeff1'
beside '1') and part of the first column's name in a CSV of series. CSVs of series separated by semicolons (with
decimal commas: a spreadsheet in a locale that writes "0,5") or tabs read as the comma-separated file: they were
"no numeric channel columns", or, one column of decimal commas, the digits before each comma."""
from pathlib import Path

import numpy as np

from autofast.data.dna import load_dna
from autofast.data.panel import load_panel
from autofast.data.series import load_series as load_series_file
from autofast.data.timeseries import load_series as load_value_csv

BOM = b"\xef\xbb\xbf"


def _both(tmp_path: Path, name: str, body: bytes) -> tuple[Path, Path]:
    plain, marked = tmp_path / f"plain_{name}", tmp_path / f"bom_{name}"
    plain.write_bytes(body)
    marked.write_bytes(BOM + body)
    return plain, marked


def test_ts_and_ucr_files(tmp_path):
    ts = b"@problemName x\n@univariate true\n@classLabel true a b\n@data\n1,2,3:a\n4,5,6:b\n1,2,2:a\n"
    for body, name in ((ts, "s.ts"), (b"1\t1.0\t2.0\t3.0\n2\t4.0\t5.0\t6.0\n1\t1.0\t2.0\t2.0\n", "u.tsv")):
        plain, marked = _both(tmp_path, name, body)
        a, b = load_series_file(plain), load_series_file(marked)
        assert b.classes == a.classes and len(b.classes) == 2
        np.testing.assert_array_equal(b.x, a.x)
        np.testing.assert_array_equal(b.y, a.y)


def test_fasta_and_dna_csv(tmp_path):
    fasta = b">s1 label=a\nACGTACGT\n>s2 label=b\nACGTTTTT\n>s3 label=a\nACGGACGT\n>s4 label=b\nACCTTTTT\n"
    csv = b"sequence,label\nACGTACGT,a\nACGTTTTT,b\nACGGACGT,a\nACCTTTTT,b\n"
    for body, name in ((fasta, "s.fa"), (csv, "s.csv")):
        plain, marked = _both(tmp_path, name, body)
        a, b = load_dna(plain), load_dna(marked)
        assert b.classes == a.classes == ["a", "b"]
        np.testing.assert_array_equal(b.x, a.x)


def test_value_csv_and_panel_column_names(tmp_path):
    rows = "".join(f"{i % 7}.5,{i % 5}.25\n" for i in range(40))
    plain, marked = _both(tmp_path, "v.csv", ("a,b\n" + rows).encode())
    assert load_value_csv(marked).columns == load_value_csv(plain).columns == ["a", "b"]
    assert load_value_csv(marked, columns=["a"]).columns == ["a"]
    body = "unique_id,ds,y\n" + "".join(f"{s},{i},{(i * 3) % 7}\n" for s in ("07", "08") for i in range(30))
    plain, marked = _both(tmp_path, "p.csv", body.encode())
    a, b = load_panel(plain), load_panel(marked)
    assert b.ids == a.ids == ["07", "08"] and b.id_column == "unique_id"  # ids kept as text: '07', not 7


def _value_rows(sep: str, decimal: str) -> bytes:
    rows = [f"2020-01-{1 + i // 24:02d} {i % 24:02d}:00{sep}{(i * 37 % 101) / 7:.4f}{sep}{(i * 11 % 13) / 3:.4f}"
            for i in range(60)]
    text = f"date{sep}a{sep}b\n" + "\n".join(r.replace(".", decimal) if decimal != "." else r for r in rows) + "\n"
    return text.encode()


def test_semicolons_decimal_commas_and_tabs(tmp_path):
    (tmp_path / "c.csv").write_bytes(_value_rows(",", "."))
    want = load_value_csv(tmp_path / "c.csv")
    for name, sep, decimal in (("s.csv", ";", "."), ("d.csv", ";", ","), ("t.tsv", "\t", ".")):
        (tmp_path / name).write_bytes(_value_rows(sep, decimal))
        got = load_value_csv(tmp_path / name)
        assert got.columns == ["a", "b"], name
        np.testing.assert_array_equal(got.values, want.values)
        np.testing.assert_array_equal(got.dates, want.dates)
    (tmp_path / "one.csv").write_bytes(b"x\n" + b"".join(f"{i},5\n".encode() for i in range(30)))  # one column
    np.testing.assert_allclose(load_value_csv(tmp_path / "one.csv").values[:3, 0], [0.5, 1.5, 2.5])


def test_panel_with_semicolons(tmp_path):
    body = "unique_id;ds;y\n" + "".join(f"{s};{i};{(i * 3) % 7},5\n" for s in ("07", "08") for i in range(30))
    (tmp_path / "p.csv").write_bytes(body.encode())
    p = load_panel(tmp_path / "p.csv")
    assert p.ids == ["07", "08"] and p.value_column == "y"
    np.testing.assert_allclose(p.values[0][:3], [0.5, 3.5, 6.5])


def test_dna_table_with_semicolons(tmp_path):
    (tmp_path / "c.csv").write_text("sequence,label\nACGTACGT,a\nACGTTTTT,b\n")
    (tmp_path / "s.csv").write_text("sequence;label\nACGTACGT;a\nACGTTTTT;b\n")
    a, b = load_dna(tmp_path / "c.csv"), load_dna(tmp_path / "s.csv")
    assert b.classes == a.classes == ["a", "b"]
    np.testing.assert_array_equal(b.x, a.x)


def test_spreadsheet_workbooks_are_one_line_saying_save_as_csv(tmp_path, capsys):
    """An .xlsx (a zip) given for a CSV failed to decode ("cannot be read as CSV ('utf-8' codec ...)") or was an
    'unsupported file type'; every reader now says to save the sheet as CSV."""
    import zipfile

    import pytest

    from autofast.cli import main
    from autofast.data.files import load_file
    from autofast.errors import AutofastError
    from autofast.predictor.inputs import InputReader

    book = tmp_path / "sales.xlsx"
    with zipfile.ZipFile(book, "w") as z:
        z.writestr("xl/workbook.xml", "<workbook/>")
    want = r"sales.xlsx: is a spreadsheet workbook, not a text file; save the sheet as CSV"
    reader = InputReader({"classes": ["a", "b"], "kind": "series", "input": {"shape": [1, 8]}})
    for read in (load_file, load_value_csv, load_panel, reader.prepare):
        with pytest.raises(AutofastError, match=want):
            read(book)
    for argv in (["search", "--task", str(book)], ["forecast", "--data", str(book)]):
        assert main(argv) == 2
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert len(err) == 1 and "save the sheet as CSV" in err[0], err
