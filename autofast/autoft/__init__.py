"""AutoFT: robust fine-tuning by searching the weights of a fine-tuning objective (Choi et al. 2024).

:mod:`autofast.autoft.losses` holds the loss terms, :class:`AutoFTObjective` (their weighted sum) and
:data:`AUTOFT_SPACE` (the searched weights, lr multiplier, weight decay and seed, as ASHA space data).
"""
__all__ = [
    "AUTOFT_SPACE", "LOSS_TERMS", "AutoFTObjective", "autoft_space", "contrastive", "cross_entropy", "dcm",
    "entropy", "hinge", "objective_from_config", "snapshot_params", "weight_distance", "weight_norm",
]


def __getattr__(name):  # lazy: `python -m autofast --help` must not import torch
    if name in __all__:
        from . import losses

        return getattr(losses, name)
    raise AttributeError(f"module 'autofast.autoft' has no attribute {name!r}")
