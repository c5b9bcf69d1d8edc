"""The final model of a run, saved so that it can be applied to new data: ``RUN_DIR/model/``.

Format ``autofast-model/1`` (data only, nothing in it is executed when loaded):

* ``model/manifest.json``: what to build and how to feed it -- the family (``cnn``: a backbone with a fixed
  ``(kernel, dilation)`` pattern per member, the members' mean class probability; ``rocket``: random
  convolution features with a ridge head; ``kmer``: positional k-mer logistic regression (DNA); ``wd``: one-vs-rest SVMs on the weighted-degree
  string kernel (DNA: support vectors as base codes, their dual coefficients); ``linear``: ridge regression on the flattened
  forecasting window; ``timm``: a timm network fine-tuned by ``finetune``), the command
  that trained it (``search``, ``dash``, ``finetune``), the backbone, width, dropout and pattern of every
  member, the position channel, the classes (and ``class_subset`` when the run cut its task to some classes
  before the split), the metric and the run's test score, and the preprocessing: the input
  shape, the per-channel standardisation (training statistics), and the rule that turns a new file into that
  layout (DNA: alphabet, one-hot encoding, length and what happens to shorter / longer sequences; series:
  the common length and resample/pad; images: bands and size; forecasting windows: lookback, horizon, columns
  and the series' training statistics, read by :mod:`.windows`).
* ``model/weights.pt``: ``{"state_dict": {name: tensor}, "autofast": {"format": FORMAT}}`` written by
  ``torch.save``, read with ``torch.load(weights_only=True)``; its SHA-256 is in the manifest.

:func:`save_model` writes it after a run's test evaluation (``search`` through :func:`save_final`; ``dash`` and
``finetune`` directly); :func:`load_final` gives a :class:`Predictor`, whose :meth:`~Predictor.prepare` reads a
new data file (or arrays in the training layout) exactly as the training data were read. Paths inside are
relative to ``model/``, so a run folder can be moved or copied.
"""
from .inputs import Inputs
from .manifest import FORMAT, MANIFEST, MODEL_DIR, WEIGHTS
from .model import Predictor
from .store import load_final, save_final, save_model

__all__ = ["FORMAT", "MANIFEST", "MODEL_DIR", "WEIGHTS", "Inputs", "Predictor", "load_final", "save_final",
           "save_model"]
