"""The validated options of ``python -m autofast search`` (DASH settings plus the ASHA stage).

The budget-dependent options (batch size, epochs, configurations, folds, DASH epochs, ensemble) default to
None: :mod:`.plan` derives them from the data, the measured step cost and ``time_budget``. A value given
here (flag or YAML) is kept as given.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from autofast.dash.pipeline import DashConfig


class SearchConfig(DashConfig):
    """DASH settings plus the ASHA stage. Every ASHA trial and the final retrain follow ONE lr schedule:
    per-step cosine decay to a fixed horizon of ``retrain_epochs`` (default: ``max_epochs``, the ASHA maximum
    resource R) after an optional ``warmup_epochs`` linear warm-up."""

    arch: Literal["auto", "dash", "plain", "rocket"] = Field(
        "auto", description="auto: ASHA over the DASH pattern and the plain one, plus random-convolution features "
                            "for 1-D classification; dash/plain: that pattern only; rocket: the features only")
    folds: int | None = Field(None, ge=0, description="0: hold-out validation; k >= 2: k-fold cross-validation "
                                                      "over train+val; default: by the validation split's size")
    batch_size: int | None = Field(None, ge=1)
    search_epochs: int | None = Field(None, ge=1)
    search_batch_fraction: float | None = Field(None, gt=0, le=1)
    retrain_width: int = Field(32, ge=1)
    retrain_epochs: int | None = Field(None, ge=1, description="final retrain on train+val; default max_epochs "
                                                               "(the schedule's horizon for trials and retrain)")
    ensemble: int | None = Field(None, ge=1, description="final model: mean prediction of this many retrains of "
                                                         "the best configuration (different init/batch-order seeds)")
    warmup_epochs: float = Field(0.0, ge=0, description="linear lr warm-up (epochs) of trials and retrain")
    n_configs: int | None = Field(None, ge=1)
    eta: float = Field(2, gt=1)
    min_epochs: int | None = Field(None, ge=1)
    max_epochs: int | None = Field(None, ge=1)
    sampler: Literal["random", "grid", "tpe"] = "random"
    executor: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="ray: address of an existing cluster; none starts a local Ray")
    trials_per_device: int | None = Field(
        None, ge=1, description="local executor: concurrent trials per device (None: 8 fused ones on GPUs, else 1)")
    fuse_trials: Literal["auto", "on", "off"] = Field(
        "auto", description="local executor: train a device's waiting trials as one fused model (auto: GPUs only)")
    asha_order: Literal["auto", "submission", "arrival"] = Field(
        "auto", description="parallel trials: ASHA is told results in the order the jobs were handed out "
                            "(the same decisions whatever finishes first) or as they arrive (no worker waits); "
                            "auto: arrival for fused trials, else submission")

    @field_validator("folds")
    @classmethod
    def _folds(cls, v):
        if v == 1:
            raise ValueError("folds must be 0 (hold-out) or >= 2")
        return v

    @model_validator(mode="after")
    def _check(self) -> "SearchConfig":
        if self.min_epochs and self.max_epochs and self.min_epochs > self.max_epochs:
            raise ValueError(f"min_epochs ({self.min_epochs}) must be <= max_epochs ({self.max_epochs})")
        horizon = self.retrain_epochs or self.max_epochs
        if horizon is not None and self.warmup_epochs >= horizon:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be < the schedule's horizon "
                             f"({horizon} epochs)")
        return self

    def given(self) -> dict:
        """The planned options the user set (:data:`autofast.search.plan.PLANNED`)."""
        from .plan import PLANNED

        return {k: getattr(self, k) for k in PLANNED if getattr(self, k) is not None}
