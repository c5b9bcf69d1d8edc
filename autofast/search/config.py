"""The validated options of ``python -m autofast search`` (DASH settings plus the ASHA stage)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from autofast.dash.pipeline import DashConfig


class SearchConfig(DashConfig):
    """DASH settings plus the ASHA stage (defaults sized for 2 CPU cores; DASHA's own: 120 configs).

    Every ASHA trial and the final retrain follow ONE lr schedule: per-step cosine decay to a fixed
    horizon of ``retrain_epochs`` (default: ``max_epochs``, the ASHA maximum resource R) after an optional
    ``warmup_epochs`` linear warm-up.
    """

    retrain_width: int = Field(32, ge=1)
    retrain_epochs: int | None = Field(None, ge=1, description="final retrain on train+val; default max_epochs "
                                                               "(the schedule's horizon for trials and retrain)")
    ensemble: int = Field(3, ge=1, description="final model: mean prediction of this many retrains of the best "
                                               "configuration (different init/batch-order seeds); 1 = one model")
    warmup_epochs: float = Field(0.0, ge=0, description="linear lr warm-up (epochs) of trials and retrain")
    n_configs: int = Field(32, ge=1)
    eta: float = Field(2, gt=1)
    min_epochs: int = Field(1, ge=1)
    max_epochs: int = Field(16, ge=1)
    sampler: Literal["random", "grid", "tpe"] = "random"
    executor: Literal["local", "ray"] = "local"
    address: str | None = Field(None, description="ray: address of an existing cluster; none starts a local Ray")
    devices: list[str] = Field(default_factory=lambda: ["cpu"], min_length=1)
    trials_per_device: int = Field(1, ge=1, description="local executor: concurrent trials per device")
    fuse_trials: Literal["auto", "on", "off"] = Field(
        "auto", description="local executor: train a device's waiting trials as one fused model (auto: GPUs only)")

    @model_validator(mode="after")
    def _check(self) -> "SearchConfig":
        if self.min_epochs > self.max_epochs:
            raise ValueError(f"min_epochs ({self.min_epochs}) must be <= max_epochs ({self.max_epochs})")
        if self.warmup_epochs >= self.horizon_epochs:
            raise ValueError(f"warmup_epochs ({self.warmup_epochs}) must be < the schedule's horizon "
                             f"({self.horizon_epochs} epochs)")
        return self

    @property
    def horizon_epochs(self) -> int:
        """Where the cosine of every trial and of the retrain ends: the retrain length (default R)."""
        return self.retrain_epochs or self.max_epochs
