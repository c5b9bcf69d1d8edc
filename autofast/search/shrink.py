"""A regressor's predictions shrunk toward the training mean, by as much as its own held-out errors ask.

On small value sets a model's predictions are often mostly noise around the mean (CardanoSentiment: 74
training series; every candidate's out-of-fold error is at the level of predicting the training mean, and the
search's final model scored 0.3045 RMSE on test where the training mean scores 0.3003). The final model's
standardised outputs ``p`` (the training mean is 0 on that scale) are multiplied per target by

    lambda = clamp(sum(p * y) / sum(p * p), 0, 1)

fitted on the same held-out predictions the model was selected on (the validation split, or out of fold over
train+val): the least-squares factor through the training mean. Its held-out MSE is never above the model's
(lambda = 1) nor the mean's (lambda = 0), and a model whose predictions carry the signal keeps lambda near 1.
The classifier's counterpart is the temperature of :func:`autofast.models.temperature.fit_temperature`.
"""
from __future__ import annotations

import torch
from torch import nn


def shrink_factors(held_out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``(T,)`` float64 factors in [0, 1]: per target, the least-squares multiplier of the held-out predictions
    ``held_out`` ``(N, T)`` toward targets ``y`` ``(N, T)`` (both standardised: 0 is the training mean).
    A target whose predictions are all 0 keeps factor 1."""
    p, t = held_out.double().reshape(len(held_out), -1), y.double().reshape(len(y), -1)
    pp = p.square().sum(0)
    factor = torch.where(pp > 0, (p * t).sum(0) / pp.clamp_min(torch.finfo(torch.float64).tiny),
                         torch.ones_like(pp))
    return factor.clamp(0.0, 1.0)


def shrunk_mse(held_out: torch.Tensor, y: torch.Tensor, factors: torch.Tensor) -> float:
    """The mean squared error (over examples and targets) of ``held_out`` ``(N, T)`` times ``factors`` ``(T,)``."""
    p, t = held_out.double().reshape(len(held_out), -1), y.double().reshape(len(y), -1)
    return float((p * factors.to(p) - t).square().mean())


class Shrunk(nn.Module):
    """``model``'s standardised value predictions ``(N, T)`` times ``factors`` ``(T,)`` (a buffer; float32
    outputs stay float32): toward the training mean, which is 0 on that scale."""

    def __init__(self, model: nn.Module, factors) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("factors", torch.as_tensor(factors, dtype=torch.float64).flatten())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out * self.factors.to(device=out.device, dtype=out.dtype)
