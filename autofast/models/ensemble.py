"""Ensembles of networks: :class:`Ensemble` (mean prediction of independently trained members) and
:class:`FoldEnsemble` (the k models of a k-fold cross-validation, trained side by side as one module)."""
from __future__ import annotations

import math

import torch
from torch import nn


class Ensemble(nn.Module):
    """The mean prediction of ``members``: for labels (``classify``) the log of the mean class probability
    (class dim 1, so ``(N, C)`` and dense ``(N, C, *spatial)`` outputs alike; argmax and cross-entropy of
    it are the ensemble's), for float targets the mean output."""

    def __init__(self, members: list, classify: bool) -> None:
        super().__init__()
        self.members, self.classify = nn.ModuleList(members), classify

    def mean_prediction(self, x: torch.Tensor) -> torch.Tensor:
        outs = torch.stack([m(x) for m in self.members])
        if not self.classify:
            return outs.mean(0)
        return torch.logsumexp(torch.log_softmax(outs, dim=2), dim=0) - math.log(len(self.members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean_prediction(x)


class FoldEnsemble(Ensemble):
    """k fold models as one module, so one optimiser, one checkpoint and the one training loop serve a
    whole cross-validation.

    In training mode ``forward(x)`` reads ``x`` as k equal chunks along the batch axis (``(k * b, ...)``:
    chunk i is fold model i's batch, drawn from the examples outside fold i) and returns the k outputs
    concatenated in the same order; each member's batch-norm statistics see only its own chunk. Train it
    with the loss scaled by k (:func:`autofast.search.folds.fold_loss`), so each member follows the
    gradient of its own mean loss. In eval mode it is the :class:`Ensemble` of the k members (the final
    model of a cross-validated configuration), and ``member(i)`` is fold i's model for out-of-fold scores.
    """

    def grad_groups(self) -> list[list[torch.Tensor]]:
        """Each fold model's parameters: the training loop clips gradients model by model."""
        return [list(m.parameters()) for m in self.members]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self.mean_prediction(x)
        k = len(self.members)
        if x.shape[0] % k:
            raise ValueError(f"a training batch of a {k}-fold ensemble holds k equal chunks; got {x.shape[0]} rows")
        return torch.cat([m(c) for m, c in zip(self.members, x.chunk(k))])

    def member(self, i: int) -> nn.Module:
        return self.members[i]
