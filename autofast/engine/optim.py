"""The optimiser every stage uses: SGD (Nesterov when momentum > 0) with the multi-tensor (``foreach``)
update, one fused pass over all parameters per step instead of a Python loop over them (the DASH
supernet has ~20 candidate kernels per layer: 5.2 -> 3.3 ms per step measured on the CPU)."""
from __future__ import annotations

import torch


def sgd(params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, nesterov: bool | None = None
        ) -> torch.optim.SGD:
    """``torch.optim.SGD`` with ``foreach=True``; ``nesterov`` defaults to ``momentum > 0``."""
    momentum = float(momentum)
    return torch.optim.SGD(params, lr=float(lr), momentum=momentum, weight_decay=float(weight_decay),
                           nesterov=momentum > 0 if nesterov is None else nesterov, foreach=True)
