"""A saved final model, loaded (:func:`~.store.load_final`): new data read as the training data were
(:class:`~.inputs.InputReader`), the model applied as the test evaluation applied it."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AutofastError
from .inputs import InputReader, Inputs
from .manifest import FEATURE_FAMILIES, PREDICT_BATCH


class Predictor:
    """A saved final model: ``prepare``/``preprocess`` read new data as the training data were read,
    ``predict_proba``/``predict`` apply the model to prepared inputs (``(N, *shape)``, already standardised:
    the output of :meth:`preprocess`)."""

    def __init__(self, manifest: dict, model, folder: Path) -> None:
        self.manifest, self.model, self.folder = manifest, model, Path(folder)
        self.reader = InputReader(manifest)
        self.classes: list[str] = self.reader.classes
        self.kind: str = self.reader.kind
        self.input: dict = self.reader.input
        self.shape: tuple = self.reader.shape

    def __repr__(self) -> str:
        m = self.manifest["model"]
        what = m["family"] if m["family"] in FEATURE_FAMILIES else f"{m['backbone']} x{len(m['members'])}"
        if m.get("blend"):  # the network blended with a feature family
            what += f" + {m['blend'].get('family')}"
        unit = "target(s)" if self.manifest.get("regression") else "classes"
        return f"Predictor({self.manifest['task']!r}, {self.kind}, {what}, {len(self.classes)} {unit})"

    # -------------------------------------------------------------------------------------- model
    def _outputs(self, x) -> "Any":
        import torch

        x = torch.as_tensor(x, dtype=torch.float32)
        if tuple(x.shape[1:]) != self.shape:
            raise AutofastError(f"inputs have shape {tuple(x.shape[1:])} per example but the model takes "
                                f"{self.shape}; prepare them with Predictor.preprocess")
        self.model.eval()
        with torch.no_grad():
            outs = [self.model(x[i: i + PREDICT_BATCH]) for i in range(0, len(x), PREDICT_BATCH)]
        return torch.cat(outs) if outs else torch.empty((0, len(self.classes)))

    def predict_proba(self, x) -> "Any":
        """``(N, K)`` class probabilities (float32 tensor) of prepared inputs ``(N, *shape)``; a dense model's
        per position, ``(N, K, *S)``."""
        import torch

        if self.manifest.get("regression"):
            raise AutofastError("this model predicts values, not classes; use predict (Result.predict or "
                                "Predictor.predict)")
        return torch.softmax(self._outputs(x).float(), dim=1)

    def class_values(self) -> np.ndarray:
        """:attr:`classes` as the values a caller compares with the labels it trained on: int64 where each is an
        integer's own text (``"3"``, ``"-1"``; not ``"03"`` or ``"3.5"``), else str -- what ``predict`` writes."""
        def whole(c: str) -> bool:
            try:
                return str(int(c)) == c
            except ValueError:
                return False

        if self.classes and all(whole(c) for c in self.classes):
            return np.asarray([int(c) for c in self.classes], dtype=np.int64)
        return np.asarray(self.classes, dtype=str)

    def classify(self, x) -> tuple:
        """``(predict(x), predict_proba(x))`` of a classifier from one pass of the model."""
        import torch

        if self.manifest.get("regression"):
            raise AutofastError("this model predicts values, not classes; use predict (Result.predict or "
                                "Predictor.predict)")
        out = self._outputs(x)
        return out.argmax(1), torch.softmax(out.float(), dim=1)

    def predict(self, x) -> "Any":
        """``(N,)`` int64 class indices into :attr:`classes` (argmax of the model's output, as the test
        evaluation took it; a dense model's per position, ``(N, *S)``); for a regression model its outputs
        ``(N, T)`` float32 (dense: fields ``(N, T, *S)``), in the targets' own units (the manifest's ``target``
        record undoes the scaling of training)."""
        out = self._outputs(x)
        if not self.manifest.get("regression"):
            return out.argmax(1)
        return self.to_units(out)

    def dense_scores(self, pred, labels) -> dict:
        """The run's test metric on a dense model's predictions (as :func:`autofast.tasks.test_scores` computes
        it): fields ``pred`` / ``labels`` ``(N, T, *S)`` in units -> ``relative_l2`` (per example
        ``||p - y|| / ||y||`` on the training scale, mean over the examples whose target is not zero everywhere:
        their count ``zero_targets``, where there are any); masks ``(N, *S)`` class indices -> ``accuracy`` (per
        position) and ``mean_iou`` (over the classes present in either)."""
        import numpy as np

        if self.manifest.get("regression"):
            scale = np.asarray(self.manifest["target"]["scale"], np.float64)
            scale = scale.reshape((1, -1) + (1,) * (pred.ndim - 2))
            d = ((pred.astype(np.float64) - labels) / scale).reshape(len(pred), -1)
            norm = np.linalg.norm((labels / scale).reshape(len(pred), -1), axis=1)
            defined = norm > 0  # a zero field has no relative error (it was 3e11 over a 1e-12 floor)
            out = {"relative_l2": float(np.mean(np.linalg.norm(d[defined], axis=1) / norm[defined]))
                   if defined.any() else float("nan")}
            return out if defined.all() else {**out, "zero_targets": int((~defined).sum())}
        k = len(self.classes)
        p, t = pred.reshape(-1), labels.reshape(-1)
        p, t = p[t >= 0], t[t >= 0]  # positions the training ignored (IGNORE_INDEX) are not scored
        inter = np.bincount(t[p == t], minlength=k)[:k].astype(np.float64)
        union = np.bincount(p, minlength=k)[:k] + np.bincount(t, minlength=k)[:k] - inter
        seen = union > 0
        return {"accuracy": float(np.mean(p == t)),
                "mean_iou": float(np.mean(inter[seen] / union[seen])) if seen.any() else float("nan")}

    def to_units(self, out) -> "Any":
        """A regression model's outputs ``(N, T, ...)`` on the training scale -> the targets' own units
        (``output * scale + mean`` per target, axis 1)."""
        import torch

        target = self.manifest.get("target")
        if target is None:
            if self.kind == "dense":
                raise AutofastError(f"{self.folder}: this dense model was saved before autofast recorded its fields' "
                                    "scale; rerun the search (or dash) with this version to predict in units")
            return out
        shape = (1, -1) + (1,) * (out.dim() - 2)  # float64: an offset of 5e7 left float32 a resolution of 4
        scale = torch.tensor(target["scale"], dtype=torch.float64).view(shape)
        mean = torch.tensor(target["mean"], dtype=torch.float64).view(shape)
        return out.double() * scale + mean

    # ------------------------------------------------------------------------------------- inputs
    def preprocess(self, source) -> "Any":
        """A data file (path), or arrays in the training layout as loaded (not standardised; DNA also as a
        list of sequence strings) -> the model's input tensor, standardised with the training statistics."""
        return self.prepare(source).x

    def prepare(self, source, labels=None) -> Inputs:
        """:class:`~.inputs.Inputs` of ``source`` (see :meth:`preprocess`); ``labels`` (class names,
        optional) go with arrays."""
        return self.reader.prepare(source, labels)

    def label_indices(self, labels, source: str = "labels") -> np.ndarray:
        """``(N,)`` int64 indices into :attr:`classes` of class-name ``labels`` (one-line error for a name the
        model does not know); a regression model's ``(N, T)`` float64 target values."""
        return self.reader.targets(labels, source)
