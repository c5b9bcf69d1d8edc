"""Hydra's competing random kernels as a search candidate (series classification): the random-convolution
family's scoring and final model (:mod:`.rocket_family`) on Hydra's features
(:class:`autofast.models.hydra.HydraClassifier`), on the default input variant (and the padding as zeros
where the series look padded), one draw in the final model (:data:`~.plan.HYDRA_FINAL_DRAWS`). Its own
candidate on the same validation predictions, but it goes on to the family choice in MiniRocket's place only
where it beats MiniRocket clearly (:func:`contest`): it wins where MiniRocket's features are weak and loses
elsewhere (:mod:`autofast.models.hydra`)."""
from __future__ import annotations

from functools import partial

import torch

from . import rocket_family
from .blend import paired_gap
from .plan import HYDRA_FINAL_DRAWS

candidate = partial(rocket_family.candidate, features="hydra", first_only=True)
final = partial(rocket_family.final, draws=HYDRA_FINAL_DRAWS)  # reads the candidate's feature set


def contest(minirocket: dict, hydra: dict, y: torch.Tensor) -> dict:
    """Which random-convolution candidate goes on to the family choice: Hydra's replaces MiniRocket's only when
    its accuracy on the same held-out predictions (``held_out``, against labels ``y``) is higher by more than
    one standard error of the paired difference (``d_i`` = Hydra right on i - MiniRocket right on i). On
    small sets the two often differ by an example or two, and a Hydra chosen on that lost on the test split
    (ACSF1: 0.73 vs 0.72 out-of-fold, test 0.88 vs 0.92); where it wins clearly it kept its lead (OSULeaf:
    +1.5 points out-of-fold at 1.1-1.3 standard errors, test 0.988-0.992 vs 0.950-0.955). Returns ``gap``,
    ``se``, ``kept`` ("hydra" or "rocket"). Values (regression): the same rule on their squared errors
    (:func:`~.blend.paired_gap`)."""
    gap, se = paired_gap(hydra["held_out"], minirocket["held_out"], y)
    return {"gap": gap, "se": se, "kept": "hydra" if gap > 0 and gap > se + 1e-12 else "rocket"}
