"""Hydra's competing random kernels as a search candidate (series classification): the random-convolution
family's scoring and final model (:mod:`.rocket_family`) on Hydra's features
(:class:`autofast.models.hydra.HydraClassifier`), on the default input variant (and the padding as zeros
where the series look padded), one draw in the final model (:data:`~.plan.HYDRA_FINAL_DRAWS`). Its own
candidate, chosen on the same validation predictions as every other (ties go to MiniRocket, listed first): it
wins where MiniRocket's features are weak and loses elsewhere (:mod:`autofast.models.hydra`)."""
from __future__ import annotations

from functools import partial

from . import rocket_family
from .plan import HYDRA_FINAL_DRAWS

candidate = partial(rocket_family.candidate, features="hydra", first_only=True)
final = partial(rocket_family.final, draws=HYDRA_FINAL_DRAWS)  # reads the candidate's feature set
