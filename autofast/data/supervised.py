"""The data layer's dispatcher: a bundled name, a data file or a YAML task file -> a split, standardised
:class:`SupervisedTask` of torch tensors (the loaders and shared types live below it: :mod:`.types`,
:mod:`.files`, :mod:`.task_file`).

Shapes: inputs are channels-first ``(N, C, *spatial)`` float32 -- DNA ``(N, 4, L)`` one-hot, series
``(N, C, L)``, images ``(N, C, H, W)`` with any number of bands; labels are ``(N,)`` int64 indices into
``classes`` (dense tasks: per-position int64 masks or float32 fields).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import AutofastError
from .files import DATA_SUFFIXES, KNOWN_SUFFIXES, guess_kind, load_file
from .text import data_stem, data_suffix, path_exists
from .types import SupervisedData, SplitIndices, channel_standardizer, check_ratios, split_for, standardise

DEFAULT_RATIOS = (0.7, 0.1, 0.2)
DEFAULT_VAL_FRACTION = 0.1
#: kinds whose inputs are standardised per channel (band) with training statistics; DNA one-hot is not
STANDARDISED_KINDS = ("image", "series", "dense")


@dataclass(frozen=True)
class SplitPlan:
    """How a data set is split when the caller's defaults do not apply (a task file's ``split:``)."""

    seed: int | None = None
    ratios: tuple[float, float, float] = DEFAULT_RATIOS
    val_fraction: float = DEFAULT_VAL_FRACTION


@dataclass
class SupervisedTask:
    """A loaded data set, its split, and torch tensors ready for training.

    ``x_*`` are float32 ``(n, C, *spatial)``, ``y_*`` int64 ``(n,)`` or float32 ``(n, T)`` values (dense:
    int64 ``(n, *spatial)`` or float32 ``(n, T, *spatial)``). Images, series and dense inputs are standardised
    per channel with ``mean``/``std`` computed on the TRAIN rows only; DNA one-hot is left as is
    (``mean``/``std`` None). Values are standardised per target, ``(y - target_mean) / target_scale`` with the
    TRAIN rows' mean and standard deviation (:meth:`values` maps outputs back). Dense fields are divided by
    ``target_scale`` (per target channel, the TRAIN rows' root mean square; no shift, ``target_mean`` None),
    which leaves their relative L2 error unchanged and puts the network's outputs near unit scale.
    """

    name: str
    data: SupervisedData
    split: SplitIndices
    x_train: "torch.Tensor" = field(repr=False)  # noqa: F821
    y_train: "torch.Tensor" = field(repr=False)  # noqa: F821
    x_val: "torch.Tensor" = field(repr=False)  # noqa: F821
    y_val: "torch.Tensor" = field(repr=False)  # noqa: F821
    x_test: "torch.Tensor" = field(repr=False)  # noqa: F821
    y_test: "torch.Tensor" = field(repr=False)  # noqa: F821
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    target_scale: np.ndarray | None = None
    target_mean: np.ndarray | None = None

    def values(self, out: "torch.Tensor") -> "torch.Tensor":  # noqa: F821
        """Model outputs ``(n, T)`` on the standardised target scale -> values in the targets' own units."""
        if self.target_mean is None:
            return out
        import torch

        mean, scale = (torch.as_tensor(a, dtype=out.dtype, device=out.device) for a in (self.target_mean,
                                                                                        self.target_scale))
        return out * scale + mean

    @classmethod
    def build(cls, name: str, data: SupervisedData, seed: int = 0,
              ratios: tuple[float, float, float] = DEFAULT_RATIOS,
              val_fraction: float = DEFAULT_VAL_FRACTION) -> "SupervisedTask":
        """Split ``data`` (:func:`autofast.data.types.split_for`: its official files, else stratified
        ``ratios``), standardise, and convert to tensors."""
        import torch

        split = split_for(data, seed, ratios, val_fraction)
        for part, idx in (("train", split.train), ("val", split.val), ("test", split.test)):
            if len(idx) == 0:
                raise AutofastError(f"{data.source}: {len(data)} examples leave the {part} split empty; "
                                    f"add examples (at least 3 per class) or change the split ratios")
        mean = std = None
        xs = {k: data.x[getattr(split, k)] for k in ("train", "val", "test")}
        if data.kind in STANDARDISED_KINDS:
            mean, std = channel_standardizer(xs["train"])
            xs = {k: standardise(v, mean, std) for k, v in xs.items()}

        ys = {k: data.y[getattr(split, k)] for k in ("train", "val", "test")}
        scale = shift = None
        if data.kind == "dense" and data.regression:
            axes = tuple(a for a in range(data.y.ndim) if a != 1)
            rms = np.sqrt((ys["train"].astype(np.float64) ** 2).mean(axis=axes))
            scale = np.where(rms > 0, rms, 1.0).astype(np.float32)
            ys = {k: standardise(v, np.zeros_like(scale), scale) for k, v in ys.items()}
        elif data.regression:
            shift, scale = channel_standardizer(ys["train"])
            ys = {k: standardise(v, shift, scale) for k, v in ys.items()}

        def tx(k):
            return torch.from_numpy(np.ascontiguousarray(xs[k], dtype=np.float32))

        def ty(k):
            return torch.from_numpy(np.ascontiguousarray(ys[k]))

        return cls(name, data, split, tx("train"), ty("train"), tx("val"), ty("val"), tx("test"), ty("test"),
                   mean, std, scale, shift)


def known_tasks() -> list[str]:
    """Bundled classification data sets (names accepted by :func:`load_task`)."""
    from .registry import DATASETS

    return [d.name for d in DATASETS.values() if d.kind != "timeseries"]


def resolve_data(name_or_path: str | Path) -> tuple[str, SupervisedData, SplitPlan | None]:
    """A bundled name (case-insensitive), a YAML task file or a data path -> ``(task name, data, plan)``;
    ``plan`` is the task file's split settings (None: the caller's defaults).

    Paths go by type (:func:`autofast.data.files.guess_kind`): ``.csv/.tsv/.tab/.fa/.fasta/.fna`` DNA,
    ``.ts`` series, ``.npz``/``.npy`` or a directory of class folders images.
    """
    from .images import digits
    from .registry import DATASETS
    from .task_file import TASK_FILE_SUFFIXES, load_task_file

    text = str(name_or_path)
    for d in DATASETS.values():
        if d.name.lower() == text.lower():
            if d.name == "digits":
                return d.name, digits(), None
            if d.name == "darcy":
                from .darcy import darcy_data

                return d.name, darcy_data(), None
            if d.kind == "timeseries":
                raise AutofastError(f"data set {d.name!r} is a forecasting data set, not a classification task; "
                                    f"choose one of: {', '.join(known_tasks())}")
            name, data, plan = resolve_data(d.path)
            return d.name, data, plan
    p = Path(text)
    if p.suffix.lower() in TASK_FILE_SUFFIXES:
        name, data, spec = load_task_file(p)
        s = spec.split
        return name, data, SplitPlan(s.seed, check_ratios(s.ratios), s.val_fraction)
    if path_exists(p):
        return (p.name if p.is_dir() else data_stem(p)), load_file(p, guess_kind(p)), None
    if data_suffix(p) in DATA_SUFFIXES or p.parent != Path("."):  # a data path, not a task name: say it is missing
        raise AutofastError(f"data path {text!r} does not exist; check the path (or give a bundled task name: "
                            f"{', '.join(known_tasks())})")
    import difflib

    close = difflib.get_close_matches(text.lower(), [t.lower() for t in known_tasks()], n=1, cutoff=0.75)
    if close:
        meant = next(t for t in known_tasks() if t.lower() == close[0])
        raise AutofastError(f"unknown task {text!r}: did you mean {meant!r}? (bundled: {', '.join(known_tasks())})")
    raise AutofastError(f"unknown task {text!r}: give a bundled name ({', '.join(known_tasks())}, or ETTh1 as "
                        "forecasting windows; see "
                        f"`python -m autofast datasets`), a YAML task file, or a path to {KNOWN_SUFFIXES}")


def load_data(name_or_path: str | Path) -> tuple[str, SupervisedData]:
    """``(task name, data)`` of :func:`resolve_data`."""
    name, data, _ = resolve_data(name_or_path)
    return name, data


def load_task(name_or_path: str | Path, seed: int = 0,
              ratios: tuple[float, float, float] = DEFAULT_RATIOS) -> SupervisedTask:
    """Load a classification task and split it; see :func:`resolve_data` for names. A task file's own
    ``split:`` (seed when given, ratios, val_fraction) wins over ``seed``/``ratios``."""
    name, data, plan = resolve_data(name_or_path)
    return build_task(name, data, plan, seed, ratios)


def build_task(name: str, data: SupervisedData, plan: SplitPlan | None, seed: int = 0,
               ratios: tuple[float, float, float] = DEFAULT_RATIOS) -> SupervisedTask:
    """:meth:`SupervisedTask.build` with a task file's ``plan`` (its seed, when given, ratios and
    val_fraction) winning over ``seed``/``ratios``."""
    if plan is None:
        return SupervisedTask.build(name, data, seed, check_ratios(ratios))
    return SupervisedTask.build(name, data, plan.seed if plan.seed is not None else seed, plan.ratios,
                                    plan.val_fraction)
