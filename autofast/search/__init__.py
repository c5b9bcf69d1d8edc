"""DASHA's search pipeline (``python -m autofast search``): DASH finds the kernel pattern
(:mod:`autofast.dash`), ASHA tunes the training hyperparameters (:mod:`.tune` on :mod:`autofast.asha` and the
training engine :mod:`autofast.engine`), the best configuration is retrained on train+val and tested once
(:mod:`.pipeline`); :mod:`.report` writes the report, :mod:`.progress` draws the live table."""
