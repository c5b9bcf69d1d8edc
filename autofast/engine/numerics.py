"""A run's numerics as run options: its training precision and its conv path.

Every training command's config (``dash``, ``search``, ``pretrain``, ``finetune``, ``compare``) takes these
two fields from :class:`NumericsOptions`, so a YAML config, the Python API (``autofast.search(..., precision=
"bf16")``) and the run folder's saved config carry them like any other option; a resumed run trains as it
started. Left out, each is filled when the config is made from ``$AUTOFAST_PRECISION`` /
``$AUTOFAST_CONV_PATH``, else ``auto``, so the saved config says what the run used.

:func:`in_force` puts a config's choice in force for every run and conv of the stage it wraps (all threads;
the Ray executor hands it on to its workers).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Literal

from pydantic import BaseModel, Field, field_validator

from autofast.kernels.conv.conv_path import forced_path, requested_path

from .precision import ENV, PRECISIONS, asked, requested

Precision = Literal["auto", "fp32", "bf16", "fp16"]
ConvPath = Literal["auto", "native", "tap", "fft"]


class NumericsOptions(BaseModel):
    """The ``precision`` and ``conv_path`` fields of a training command's config."""

    precision: Precision | None = Field(
        None, validate_default=True,
        description="training precision: auto = fp32; fp32; bf16 (autocast); fp16 (autocast + loss scaling, CUDA "
                    "only); default: $AUTOFAST_PRECISION, else auto")
    conv_path: ConvPath | None = Field(
        None, validate_default=True,
        description="how convolutions run: auto = the fastest exact path per shape, measured once and cached; "
                    "native = torch's conv; tap = autofast's tap kernels; fft; default: $AUTOFAST_CONV_PATH, else "
                    "auto")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_default(cls, v):
        if v is not None:
            return v
        name = requested() or "auto"
        if name not in PRECISIONS:
            raise ValueError(f"${ENV}={name!r} is not a precision; set it to one of {', '.join(PRECISIONS)} or "
                             "unset it")
        return name

    @field_validator("conv_path", mode="before")
    @classmethod
    def _conv_path_default(cls, v):
        return v if v is not None else requested_path()  # a bad $AUTOFAST_CONV_PATH: its ValueError


@contextmanager
def in_force(cfg: NumericsOptions) -> Iterator[None]:
    """Within: runs that name no precision train in ``cfg.precision`` and convs that name no path take
    ``cfg.conv_path`` ('auto': measured per shape)."""
    with forced_path(cfg.conv_path), asked(cfg.precision):
        yield
