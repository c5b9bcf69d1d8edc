"""YAML task files: how a user points ``search``/``dash`` at their own data without code.

A task file is data, never code (read with ``yaml.safe_load``, validated, unknown keys refused)::

    # promoters.yaml
    name: promoters                 # optional; default: the file's stem
    data: promoters.csv             # relative paths are relative to this YAML file
    kind: dna                       # dna | image | auto (by the data path's type)
    sequence_column: sequence       # DNA tables
    label_column: label
    length: 200                     # DNA: pad/trim every sequence to this length (default: the longest)
    split: {ratios: [0.7, 0.1, 0.2], seed: 0}

Then ``python -m autofast search --task promoters.yaml``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from autofast.errors import AutofastError
from autofast.io import read_yaml

TASK_FILE_SUFFIXES = (".yaml", ".yml")


class SplitSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)
    seed: int | None = None  # None: the run's --seed


class TaskFile(BaseModel):
    """A validated task file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    data: str
    kind: Literal["auto", "dna", "image"] = "auto"
    sequence_column: str = "sequence"
    label_column: str = "label"
    length: int | None = Field(None, ge=1)
    split: SplitSpec = SplitSpec()

    @field_validator("data")
    @classmethod
    def _non_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must name a data file or folder")
        return v


def read_task_file(path: str | Path) -> TaskFile:
    """Parse and validate a task file; one-line :class:`AutofastError` naming the file and field."""
    path = Path(path)
    raw = read_yaml(path, "task file")
    if not isinstance(raw, dict):
        raise AutofastError(f"{path}: a task file is a mapping with at least 'data: <file>'; see `search --help`")
    try:
        return TaskFile(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(file)"
        hint = "unknown key; valid keys: " + ", ".join(TaskFile.model_fields) if err["type"] == "extra_forbidden" else err["msg"]
        raise AutofastError(f"{path}: field {field!r}: {hint}") from None


def load_task_file(path: str | Path):
    """``(name, ClassificationData, TaskFile)`` for the task file at ``path``."""
    from .dna import load_dna
    from .images import load_images

    path = Path(path)
    spec = read_task_file(path)
    data_path = Path(spec.data)
    if not data_path.is_absolute():
        data_path = path.parent / data_path
    if not data_path.exists():
        raise AutofastError(f"{path}: field 'data': {str(data_path)!r} does not exist; fix the path "
                            "(relative paths are relative to the task file)")
    kind = spec.kind
    if kind == "auto":
        from .classification import DNA_SUFFIXES

        kind = "dna" if data_path.suffix.lower() in DNA_SUFFIXES else "image"
    if kind == "dna":
        data = load_dna(data_path, spec.sequence_column, spec.label_column, spec.length)
    else:
        data = load_images(data_path)
    return spec.name or path.stem, data, spec
