"""Compressed data files as archives and pipelines hand them over (``reads.fa.gz``, ``train.csv.bz2``,
``series.ts.xz``, a download's ``.zip`` of one CSV): every loader reads them as the file inside, bit for bit,
and decides the kind by the inner suffix. Before, ``.gz`` was an 'unsupported file type' for ``search`` and a
decoding error for ``forecast``. A damaged or truncated archive, or a zip of several files, is one error line."""
from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from pathlib import Path

import numpy as np
import pytest

from autofast.data.files import load_file
from autofast.data.panel import load_panel
from autofast.data.timeseries import load_series as load_value_csv
from autofast.errors import AutofastError

CODECS = {".gz": gzip.compress, ".bz2": bz2.compress, ".xz": lzma.compress}


def _compressed(path: Path, suffix: str) -> Path:
    """A compressed copy of ``path`` (``.zip``: an archive holding it under its own name)."""
    out = path.with_name(path.name + suffix)
    if suffix == ".zip":
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(path, path.name)
    else:
        out.write_bytes(CODECS[suffix](path.read_bytes()))
    return out


def _files(tmp_path: Path) -> dict[str, Path]:
    """One small file of every text kind a loader dispatches on its suffix."""
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 24)) for _ in range(12)]
    labels = ["a", "b"] * 6
    f = {"dna.csv": "sequence,label\n" + "".join(f"{s},{lab}\n" for s, lab in zip(seqs, labels)),
         "dna.fa": "".join(f">r{i} label={lab}\n{s[:12]}\n{s[12:]}\n" for i, (s, lab) in enumerate(zip(seqs, labels))),
         "wide.csv": "label," + ",".join(f"t{j}" for j in range(8)) + "\n"
         + "".join(f"{lab}," + ",".join(f"{v:.6f}" for v in rng.normal(size=8)) + "\n" for lab in labels),
         "long.csv": "id,time,label,x,y\n" + "".join(f"s{i},{t},{labels[i]},{rng.normal():.6f},{rng.normal():.6f}\n"
                                                    for i in range(12) for t in range(6)),
         "s.ts": "@problemName x\n@univariate true\n@classLabel true a b\n@data\n"
         + "".join(",".join(f"{v:.5f}" for v in rng.normal(size=7)) + f":{lab}\n" for lab in labels)}
    out = {}
    for name, text in f.items():
        out[name] = tmp_path / name
        out[name].write_text(text)
    return out


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz", ".zip"])
def test_every_supervised_kind_reads_as_the_file_inside(tmp_path, suffix):
    for name, plain in _files(tmp_path).items():
        a, b = load_file(plain), load_file(_compressed(plain, suffix))
        assert (b.kind, b.classes) == (a.kind, a.classes), name
        np.testing.assert_array_equal(b.x, a.x)
        np.testing.assert_array_equal(b.y, a.y)
    x = np.random.default_rng(1).normal(size=(6, 3, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "img.npz", x=x, y=np.array([0, 1] * 3))
    np.testing.assert_array_equal(load_file(_compressed(tmp_path / "img.npz", suffix)).x, load_file(tmp_path / "img.npz").x)


@pytest.mark.parametrize("suffix", [".gz", ".zip"])
def test_forecast_series_and_panels(tmp_path, suffix):
    """The value CSV's fast numpy path and its pandas path (semicolons), a ``.npy`` of series, and a panel."""
    rng = np.random.default_rng(2)
    fast = tmp_path / "v.csv"
    fast.write_text("date,a,b\n" + "".join(f"2020-01-{1 + i:02d},{rng.normal():.6f},{rng.normal():.6f}\n"
                                           for i in range(28)))
    semi = tmp_path / "w.csv"
    semi.write_text(fast.read_text().replace(",", ";"))
    np.save(tmp_path / "v.npy", rng.normal(size=(30, 2)))
    for plain in (fast, semi, tmp_path / "v.npy"):
        a, b = load_value_csv(plain), load_value_csv(_compressed(plain, suffix))
        np.testing.assert_array_equal(b.values, a.values)
        assert b.columns == a.columns
        assert (b.dates is None and a.dates is None) or list(b.dates) == list(a.dates)
    panel = tmp_path / "p.csv"
    panel.write_text("unique_id,ds,y\n" + "".join(f"{s},{i},{rng.normal():.5f}\n" for s in ("07", "08")
                                                  for i in range(30)))
    a, b = load_panel(panel), load_panel(_compressed(panel, suffix))
    assert b.ids == a.ids == ["07", "08"]
    np.testing.assert_array_equal(b.values, a.values)


def test_damaged_archives_and_zips_of_several_files_are_one_line(tmp_path):
    plain = _files(tmp_path)["dna.csv"]
    body = gzip.compress(plain.read_bytes() * 50)
    cases = {"cut.csv.gz": (body[: len(body) // 2], "is not a readable gzip file"),
             "plain.csv.gz": (plain.read_bytes(), "is not a readable gzip file"),
             "cut.ts.xz": (lzma.compress(b"@data\n" * 500)[:40], "is not a readable xz file"),
             "junk.zip": (b"PK not a zip", "is not a readable zip archive")}
    for name, (data, want) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(AutofastError, match=f"{name}: {want}"):
            load_file(tmp_path / name)
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as z:
        z.writestr("a.csv", plain.read_text())
        z.writestr("b.csv", plain.read_text())
        z.writestr("__MACOSX/._a.csv", "resource fork")  # macOS's Finder adds these: not counted
    with pytest.raises(AutofastError, match=r"two.zip: a zip archive must hold exactly one data file, this one holds "
                                            r"2 \(a.csv, b.csv\); unzip it"):
        load_file(tmp_path / "two.zip")
    with zipfile.ZipFile(tmp_path / "one.zip", "w") as z:
        z.writestr("data/reads.csv", plain.read_text())
        z.writestr("__MACOSX/data/._reads.csv", "resource fork")
    assert load_file(tmp_path / "one.zip").x.shape == load_file(plain).x.shape


def test_names_come_from_the_file_inside(tmp_path, capsys):
    """The task's name, the default run folder and ``predict``'s output file drop the compression suffix."""
    from autofast.commands.options import default_out
    from autofast.data.supervised import resolve_data
    from autofast.data.text import data_stem, data_suffix

    plain = _files(tmp_path)["dna.fa"]
    gz = _compressed(plain, ".gz")
    assert (data_suffix(gz), data_stem(gz)) == (".fa", "dna")
    assert resolve_data(str(gz))[0] == "dna"
    assert default_out("search", str(gz), "x").name.startswith("search-dna-")
    assert data_suffix(_compressed(_files(tmp_path)["wide.csv"], ".zip")) == ".csv"
