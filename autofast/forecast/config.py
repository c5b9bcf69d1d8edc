"""Typed, validated configuration of an Auto-AR run."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AutoARConfig(BaseModel):
    """What to search and how to select. Every field has the documented default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizons: list[int] = Field(default=[96, 192, 336, 720], min_length=1)
    lookback: int = Field(512, ge=2, description="rows of history one forecast sees (L)")
    max_order: int = Field(512, ge=1, description="largest AR order P; capped at lookback - d")
    min_order: int = Field(1, ge=1)
    diff_orders: list[int] = Field(default=[0, 1, 2], min_length=1)
    diff_rule: Literal["grid", "kpss"] = "grid"
    intercept: Literal["both", "yes", "no"] = "both"
    pooling: Literal["global", "per-channel"] = "global"
    selection: Literal["val", "bic"] = "val"
    refit: Literal["train", "train+val"] = "train"
    backend: Literal["auto", "reference", "numba", "triton"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    split: Literal["auto", "ett-hourly", "ett-15min", "ratio"] = "auto"
    ratios: tuple[float, float, float] = (0.7, 0.1, 0.2)

    @model_validator(mode="after")
    def _check(self) -> "AutoARConfig":
        if any(h <= 0 for h in self.horizons):
            raise ValueError(f"horizons (--horizon) must be positive step counts, got {self.horizons}")
        if any(d not in (0, 1, 2) for d in self.diff_orders):
            raise ValueError(f"diff_orders (--diff) must be drawn from 0, 1, 2, got {self.diff_orders}")
        if self.min_order > self.max_order:
            raise ValueError(f"min_order {self.min_order} exceeds max_order {self.max_order}")
        if self.min_order + max(self.diff_orders) > self.lookback:
            raise ValueError(f"lookback {self.lookback} leaves no room for order {self.min_order} "
                             f"with d={max(self.diff_orders)}")
        return self
