"""Class labels as the fitted classifiers of this package take them (:mod:`.kmer`, :mod:`.wdkernel`)."""
from __future__ import annotations

import numpy as np
import torch

from autofast.errors import AutofastError


def class_labels(y: torch.Tensor, who: str) -> tuple[np.ndarray, int, np.ndarray]:
    """``y`` ``(N,)`` labels ``0..K-1`` -> (int64 numpy labels, ``K``, per-class counts ``(K,)``); a one-line
    :class:`AutofastError` naming ``who`` unless ``K >= 2`` and every class has an example."""
    labels = y.detach().cpu().long().numpy()
    k = int(labels.max()) + 1 if len(labels) else 0
    counts = np.bincount(labels, minlength=k)
    if k < 2 or (counts == 0).any():
        raise AutofastError(f"{who}: every class 0..K-1 (K >= 2) needs a training example; got counts "
                            f"{counts.tolist()}")
    return labels, k, counts
