"""Bundled data sets shipped inside the package (attribution in ``bundled/ATTRIBUTION.md``)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import AutofastError

BUNDLED_DIR = Path(__file__).with_name("bundled")


@dataclass(frozen=True)
class BundledDataset:
    name: str
    kind: str  # "timeseries" (forecasting) | "dna" | "image" | "series" (classification) | "dense"
    filename: str  # "" when the data come from a library rather than a bundled file; may be a task file
    description: str
    source: str
    split: str  # the default split protocol

    @property
    def path(self) -> Path | None:
        """The bundled file, or None for a data set loaded from a library (``digits``)."""
        return BUNDLED_DIR / self.filename if self.filename else None


DATASETS: dict[str, BundledDataset] = {
    d.name: d
    for d in [
        BundledDataset(
            "ETTh1", "timeseries", "ETTh1.csv",
            "Electricity Transformer Temperature, hourly, 17 420 rows x 7 channels (target OT)",
            "Zhou et al., Informer (AAAI 2021), CC BY-ND 4.0",
            "ett-hourly: 12/4/4 months (8640/2880/2880 rows)",
        ),
        BundledDataset(
            "splice", "dna", "splice.csv",
            "UCI primate splice junctions: 3 190 sequences of 60 nt, labels EI/IE/N",
            "UCI ML Repository (Towell, Noordewier, Shavlik), CC BY 4.0",
            "stratified 70/10/20, seeded",
        ),
        BundledDataset(
            "digits", "image", "",
            "8x8 handwritten digits: 1 797 greyscale images, 10 classes (loaded from scikit-learn)",
            "UCI ML Repository optical digits (Alpaydin, Kaynak) via scikit-learn, CC BY 4.0",
            "stratified 70/10/20, seeded",
        ),
        BundledDataset(
            "JapaneseVowels", "series", "JapaneseVowels/JapaneseVowels.yaml",
            "UEA JapaneseVowels: 640 utterances x 12 LPC channels, lengths 7-29 (resampled to 26, the longest training series), 9 speakers",
            "Kudo, Toyama, Shimbo (1999) via UCI (CC BY 4.0) and the UEA archive; files from aeon (BSD-3)",
            "official: 270 train (10% carved for validation, stratified, seeded) / 370 test",
        ),
    ]
}


def list_datasets() -> list[BundledDataset]:
    return list(DATASETS.values())


def resolve_timeseries(name_or_path: str) -> tuple[str, Path]:
    """Map a bundled name (case-insensitive) or a CSV path to ``(display name, path)``."""
    for d in DATASETS.values():
        if d.name.lower() == name_or_path.lower():
            if d.kind != "timeseries":
                raise AutofastError(f"data set {d.name!r} is a {d.kind} data set, not a time series; "
                                    f"choose one of: {', '.join(x.name for x in DATASETS.values() if x.kind == 'timeseries')}")
            return d.name, d.path
    p = Path(name_or_path)
    if p.suffix.lower() in {".csv", ".npy"} or p.exists():
        if not p.exists():
            raise AutofastError(f"data file {str(p)!r} does not exist; check the path")
        return p.stem, p
    names = ", ".join(d.name for d in DATASETS.values() if d.kind == "timeseries")
    raise AutofastError(f"unknown data set {name_or_path!r}: give a bundled name ({names}; see "
                        f"`python -m autofast datasets`) or a path to a .csv/.npy file")
