"""Dropout that draws its mask from a bound ``torch.Generator`` instead of torch's global RNG.

The training engine binds each run's noise generator (``autofast.engine.bind_noise``), so two runs in
threads of one process draw independent, reproducible masks and a resumed run draws the masks it would
have drawn. Unbound (``generator = None``) it uses the global RNG, like ``nn.Dropout``.
"""
from __future__ import annotations

import torch
from torch import nn


class Dropout(nn.Module):
    """Inverted dropout: in training, ``x * mask / (1 - p)`` with ``mask ~ Bernoulli(1 - p)`` of ``x``'s shape
    and dtype; identity in eval or for ``p == 0``."""

    draws_noise = True

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = 1.0 - self.p
        mask = torch.empty_like(x).bernoulli_(keep, generator=self.generator)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"
