"""Typed, validated configuration of an Auto-AR run."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from autofast.data.timeseries import FORECAST_RATIOS

from .intervals import Levels


class AutoARConfig(BaseModel):
    """What to search and how to select. Every field has the documented default.

    ``horizons``, ``lookback``, ``max_order`` and ``season`` left None are sized from the data by
    :func:`autofast.forecast.defaults.resolve_config` (the ETT protocol keeps the literature's
    96..720 / 512 / 512; other series get their frequency's M4 horizon and orders their training
    rows can estimate).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    horizons: list[int] | None = Field(default=None, min_length=1)
    lookback: int | None = Field(None, ge=2, description="rows of history one forecast sees (L)")
    max_order: int | None = Field(None, ge=1, description="largest AR order P; capped at lookback - d")
    min_order: int = Field(1, ge=1)
    diff_orders: list[int] = Field(default=[0, 1, 2], min_length=1)
    diff_rule: Literal["grid", "kpss"] = "grid"
    intercept: Literal["both", "yes", "no"] = "both"
    pooling: Literal["auto", "global", "per-channel"] = "auto"
    selection: Literal["val", "bic"] = "val"
    refit: Literal["train", "train+val"] = "train"
    next_fit: Literal["all", "tested"] = Field("all", description="rows the model that forecasts after the data "
                                             "(next(), forecast_next_H*.csv, model.json) is fitted on: all = the "
                                             "chosen (p, d, const) refitted on every row; tested = the tested model")
    backend: Literal["auto", "reference", "numba", "triton"] = "auto"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    season: int | None = Field(None, ge=1, description="season of the seasonal naive candidate (None: from the dates)")
    naive: bool = Field(True, description="with selection='val', also select among the naive and seasonal naive "
                                          "forecasts")
    shrink: bool = Field(True, description="with selection='val', also try the pick shrunk toward the naive "
                                           "forecast (weights 0.25, 0.5, 0.75) and keep the best on validation")
    theta: bool = Field(True, description="with selection='val', also try the Theta method and the damped trend "
                                          "(fitted on each window's rows) and their means with the AR pick, the "
                                          "family chosen on validation errors the AR pick was not chosen on "
                                          "(short series: autofast.forecast.family)")
    levels: Levels = Field(default=[80, 95], description="prediction interval levels in percent "
                                                           "(autofast.forecast.intervals)")
    split: Literal["auto", "ett-hourly", "ett-15min", "ratio"] = "auto"
    ratios: tuple[float, float, float] = FORECAST_RATIOS

    @property
    def resolved(self) -> bool:
        """Whether every data-sized field (horizons, lookback, max_order, season) is set."""
        return None not in (self.horizons, self.lookback, self.max_order, self.season)

    @model_validator(mode="after")
    def _check(self) -> "AutoARConfig":
        if self.horizons is not None and any(h <= 0 for h in self.horizons):
            raise ValueError(f"horizons (--horizon) must be positive step counts, got {self.horizons}")
        if any(d not in (0, 1, 2) for d in self.diff_orders):
            raise ValueError(f"diff_orders (--diff) must be drawn from 0, 1, 2, got {self.diff_orders}")
        if self.max_order is not None and self.min_order > self.max_order:
            raise ValueError(f"min_order {self.min_order} exceeds max_order {self.max_order}")
        if self.lookback is not None and self.min_order + max(self.diff_orders) > self.lookback:
            raise ValueError(f"lookback {self.lookback} leaves no room for order {self.min_order} "
                             f"with d={max(self.diff_orders)}")
        if self.lookback is not None and self.season is not None and self.season > self.lookback:
            raise ValueError(f"season {self.season} exceeds lookback {self.lookback}: a forecast must see a whole season")
        return self
