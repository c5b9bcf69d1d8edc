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
  the common length and resample/pad; images: bands and size).
* ``model/weights.pt``: one ``{name: tensor}`` state dict written by ``torch.save``, read with
  ``torch.load(weights_only=True)``; its SHA-256 is in the manifest.

:func:`save_model` writes it after a run's test evaluation (``search`` through :func:`save_final`; ``dash`` and
``finetune`` directly); :func:`load_final` gives a :class:`Predictor`, whose :meth:`~Predictor.prepare` reads a
new data file (or arrays in the training layout) exactly as the training data were read. Paths inside are
relative to ``model/``, so a run folder can be moved or copied.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import AutofastError

FORMAT = "autofast-model/1"
MODEL_DIR = "model"
MANIFEST = "manifest.json"
WEIGHTS = "weights.pt"
CLASSIFICATION_KINDS = ("dna", "series", "image")
FEATURE_FAMILIES = ("rocket", "kmer", "wd", "linear")  # final models that are not networks
PREDICT_BATCH = 512  # the batch of the test evaluation (autofast.engine.evaluate), so predictions match it


# ------------------------------------------------------------------------------------------------- save
def _plain(a) -> list | None:
    return None if a is None else [float(v) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


def _source_options(task_arg: str | None) -> dict:
    """How the training data were read: the task file's options (or the defaults for a data file / bundled
    set) and whether the split came from official files."""
    from .data.registry import DATASETS
    from .data.task_file import TASK_FILE_SUFFIXES, read_task_file

    out = {"official": False, "length": None, "variable_length": "resample", "layout": "auto",
           "sequence_column": "sequence", "label_column": "label"}
    path = None
    if task_arg:
        bundled = next((d for d in DATASETS.values() if d.name.lower() == str(task_arg).lower()), None)
        path = bundled.path if bundled is not None else Path(task_arg)
    if path is not None and path.suffix.lower() in TASK_FILE_SUFFIXES and path.is_file():
        spec = read_task_file(path)
        out.update(official=spec.official, length=spec.length, variable_length=spec.variable_length,
                   layout=spec.layout, sequence_column=spec.sequence_column, label_column=spec.label_column)
    return out


def input_record(task, task_arg: str | None) -> dict:
    """The manifest's ``input``: shape, standardisation and the kind's rule for new files."""
    data = task.data
    shape = [int(s) for s in task.x_train.shape[1:]]
    kind = data.kind
    mean, std = getattr(task, "mean", None), getattr(task, "std", None)
    rec: dict[str, Any] = {"kind": kind, "shape": shape,
                           "layout": {1: "(C, L) channels first", 2: "(C, H, W) channels first"}.get(len(shape) - 1),
                           "standardise": None if mean is None else {"mean": _plain(mean), "std": _plain(std),
                                                                     "rule": "(x - mean) / std per channel"}}
    if kind == "timeseries":
        rec["windows"] = {"lookback": int(data.lookback), "horizon": int(data.horizon), "columns": list(data.columns)}
        return rec
    opts = _source_options(task_arg)
    if kind == "dna":
        truncates = opts["length"] is not None or opts["official"]
        rec["dna"] = {"alphabet": "ACGT", "encoding": "one-hot over A, C, G, T; U = T; IUPAC codes spread "
                                                      "over their bases; gaps - . and padding are zero columns",
                      "length": shape[-1],
                      "length_rule": "pad-or-truncate" if truncates else "pad",
                      "crop": "end",
                      "why": ("the task file's length" if opts["length"] is not None else
                              "the longest training sequence; the test file was padded or truncated to it"
                              if opts["official"] else "the longest sequence of the data file; none was truncated"),
                      "sequence_column": opts["sequence_column"], "label_column": opts["label_column"]}
    elif kind == "series":
        rec["series"] = {"channels": shape[0], "length": shape[-1], "length_rule": opts["variable_length"],
                         "layout": opts["layout"] if opts["layout"] in ("NCL", "NLC") else "auto"}
    elif kind in ("image", "dense"):
        rec[kind] = {"channels": shape[0], "spatial": shape[1:],
                     "pixels": "uint8 scaled to [0, 1] (/ 255), other numeric dtypes as they are",
                     "layout": opts["layout"] if opts["layout"] in ("NCHW", "NHWC", "NLC") else "auto"}
    return rec


def _state(model) -> tuple[dict, dict]:
    """(model record, tensors) of a final model: a :class:`RocketModel`, a :class:`KmerModel`, an
    :class:`Ensemble` (or :class:`FoldEnsemble`), one network, or a :class:`Blend` of a network and one of the
    feature models."""
    import torch

    from .models.ensemble import Ensemble, FoldEnsemble
    from .search.blend import Blend
    from .search.kmer_family import KmerModel
    from .search.linear_family import LinearModel
    from .search.rocket_family import RocketModel
    from .search.wd_family import WDModel

    if isinstance(model, LinearModel):
        return {"family": "linear", "alpha": model.alpha, "combine": "x.flatten(1) @ coef + intercept (float64)"}, \
            {"linear.coef": model.coef, "linear.intercept": model.intercept}
    if isinstance(model, Blend):  # the network's record, the features' record under "blend" (tensors "blend.*")
        rec, tensors = _state(model.cnn)
        part, part_tensors = _state(model.features)
        rec["blend"] = part
        rec["combine"] = (f"mean class probability of the network(s) and of the {part['family']} model "
                          "(softmax of temperature x its scores)")
        return rec, {**tensors, **{f"blend.{k}": v for k, v in part_tensors.items()}}
    if isinstance(model, WDModel):
        state = model.clf.state_dict()
        return {"family": "wd", "length": int(state["support_codes"].shape[1]), "degree": state["degree"],
                "shift": state["shift"], "c": state["c"], "temperature": model.temperature,
                "combine": "softmax of temperature x the one-vs-rest SVM margins on the weighted-degree kernel"}, \
            {"wd.support_codes": state["support_codes"], "wd.coef": state["coef"], "wd.intercept": state["intercept"]}
    if isinstance(model, KmerModel):
        state = model.clf.state_dict()
        return {"family": "kmer", "length": state["length"], "c": state["c"], "order": state["order"],
                "temperature": model.temperature,
                "combine": "softmax of temperature x the logistic-regression logits"}, \
            {"kmer.coef": state["coef"], "kmer.intercept": state["intercept"]}
    if isinstance(model, RocketModel):  # draw 0's tensors "rocket.*", draw i's "rocket{i}.*"
        tensors, numbers = {}, []
        for i, clf in enumerate(model.clfs):
            state = clf.state_dict()
            tensors.update({f"rocket{i or ''}.{k}": v for k, v in state.items() if isinstance(v, torch.Tensor)})
            numbers.append({k: v for k, v in state.items() if not isinstance(v, torch.Tensor)})
        numbers = numbers[0] if len(numbers) == 1 else numbers
        if model.scaling is not None:
            tensors["scaling.scale"], tensors["scaling.shift"] = model.scaling
        return {"family": "rocket", "numbers": numbers, "scaling": model.scaling is not None,
                "tail_as_zeros": model.tail_as_zeros, "temperature": model.temperature, "draws": len(model.clfs),
                "combine": "softmax of temperature x the ridge scores (their mean over the draws)"}, tensors
    if isinstance(model, Ensemble):
        container = "fold_ensemble" if isinstance(model, FoldEnsemble) else "ensemble"
        return {"family": "cnn", "container": container, "members_count": len(model.members),
                "combine": "mean class probability of the members"}, dict(model.state_dict())
    return {"family": "cnn", "container": "single", "members_count": 1, "combine": "softmax of the logits"}, \
        dict(model.state_dict())


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_model(run_dir: str | Path, model, task, command: str, arch: dict | None, info: dict) -> dict:
    """Write ``run_dir/model/`` (manifest and weights, each atomically; the weights first) for the final model
    of any command; returns the ``saved_model`` record for the run's result.

    ``arch`` (networks; None for random-convolution features): ``backbone`` (an autofast backbone or
    ``timm:NAME``), ``positional``, ``members`` (``[{"pattern": [[k, d], ...], "width", "dropout"}]``, one
    entry repeated for every member of an ensemble), optionally ``arch``/``config`` (search). ``info``:
    ``task_source`` (what ``--task`` was), ``metric``, ``lower_is_better``, ``test_score``, ``split_seed``,
    ``trained_on``, optionally ``class_subset`` (the classes a task was cut down to before its split)."""
    from . import __version__
    from .io import write_json_atomic
    from .models.checkpoint import save_checkpoint

    folder = Path(run_dir) / MODEL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rec, tensors = _state(model)
    tensors = {k: v.detach().cpu() for k, v in tensors.items()}  # a model trained on a GPU loads anywhere
    data = task.data
    if rec["family"] == "cnn":
        count = rec.pop("members_count")
        members = arch["members"] * (count if len(arch["members"]) == 1 else 1)
        rec.update(backbone=arch["backbone"], ndim=int(data.ndim), in_channels=int(task.x_train.shape[1]),
                   out_size=int(data.num_classes), positional=bool(arch.get("positional", False)),
                   **{k: arch[k] for k in ("arch", "config") if k in arch},
                   members=[{"pattern": [[int(k), int(d)] for k, d in m["pattern"]], "width": int(m["width"]),
                             "dropout": float(m.get("dropout", 0.0))} for m in members])
        if str(arch["backbone"]).startswith("timm:"):
            rec["family"] = "timm"
    rec["trained_on"] = info.get("trained_on")
    task_source = info.get("task_source")
    manifest = {
        "format": FORMAT, "autofast_version": __version__, "command": command,
        "task": task.name, "task_source": task_source, "kind": data.kind,
        "classes": [str(c) for c in data.classes], "regression": bool(task.y_train.is_floating_point()),
        "metric": info.get("metric"), "lower_is_better": info.get("lower_is_better"),
        "test_score": info.get("test_score"), "split_seed": info.get("split_seed"),
        "model": rec, "input": input_record(task, task_source),
    }
    if info.get("class_subset"):
        manifest["class_subset"] = [str(c) for c in info["class_subset"]]
    weights = folder / WEIGHTS
    save_checkpoint(weights, tensors, meta={"format": FORMAT})
    manifest["weights"] = {"file": WEIGHTS, "sha256": _digest(weights), "tensors": len(tensors),
                           "load": "torch.load(path, weights_only=True)['state_dict']"}
    write_json_atomic(folder / MANIFEST, manifest)
    return {"folder": MODEL_DIR, "format": FORMAT, "manifest": f"{MODEL_DIR}/{MANIFEST}",
            "predict": "python -m autofast predict RUN_DIR --data FILE"}


def save_final(run_dir: str | Path, model, task, result: dict) -> Path:
    """:func:`save_model` for a ``search`` run; ``result`` is its result dict (read: backbone, positional
    input, architectures, final, config, metric, test score). Records ``result["saved_model"]``. Returns the
    folder."""
    final, cfg = result.get("final", {}), result.get("config", {})
    arch = None
    if "backbone" in result and final.get("family", "cnn") not in FEATURE_FAMILIES:
        name = final.get("arch")
        archs = result.get("architectures") or {}
        conf = final.get("config") or {}

        def member(c: dict) -> dict:  # a configuration's own architecture (the pair's members differ)
            a = c.get("arch", name)
            pattern = archs.get(a) if a in archs else next(iter(archs.values()), [])
            return {"pattern": pattern, "width": int(cfg.get("retrain_width", 0)), "dropout": float(c.get("dropout", 0.0))}

        arch = {"backbone": result["backbone"], "positional": bool(result.get("positional_input", False)),
                "arch": name, "config": conf,
                "members": [member(c) for c in final.get("member_configs") or [conf]]}
    result["saved_model"] = save_model(run_dir, model, task, "search", arch, {
        "task_source": cfg.get("task"), "metric": result.get("metric"), "lower_is_better": result.get("lower_is_better"),
        "test_score": result.get("test_score"), "split_seed": (result.get("split") or {}).get("seed"),
        "trained_on": final.get("trained_on")})
    return Path(run_dir) / MODEL_DIR


# ------------------------------------------------------------------------------------------------- load
def _read_manifest(run_dir: Path) -> tuple[Path, dict]:
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise AutofastError(f"run folder {str(run_dir)!r} does not exist; give the folder of a finished search, "
                            "dash or finetune run")
    folder = run_dir if (run_dir / MANIFEST).is_file() and not (run_dir / MODEL_DIR).is_dir() else run_dir / MODEL_DIR
    path = folder / MANIFEST
    if not path.is_file():
        done = (run_dir / "result.json").is_file()
        raise AutofastError(f"{run_dir}: no {MODEL_DIR}/{MANIFEST}; " + (
            "the run finished before autofast saved final models (rerun it with this version)" if done else
            "the run has not finished (continue a search or finetune with --resume) or this is not the folder of a "
            "search, dash or finetune run"))
    try:
        manifest = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        manifest = None
    if not isinstance(manifest, dict):
        raise AutofastError(f"{path}: corrupt (not a JSON object); restore the run folder from a copy")
    fmt = str(manifest.get("format", ""))
    if not fmt.startswith("autofast-model/"):
        raise AutofastError(f"{path}: not an autofast model manifest (format {fmt!r})")
    if fmt != FORMAT:
        raise AutofastError(f"{path}: model format {fmt!r} is newer than this autofast reads ({FORMAT}); "
                            "upgrade autofast")
    return folder, manifest


def _build(manifest: dict, state: dict, where: Path):
    """The final model (eval mode, CPU) from the manifest's ``model`` record and the weights."""
    import torch

    from .models import build_backbone, fixed_factory
    from .models.checkpoint import load_into
    from .models.ensemble import Ensemble

    rec = manifest["model"]
    if rec.get("blend"):
        from .search.blend import Blend

        parts = {k: v for k, v in state.items() if not k.startswith("blend.")}
        features = {k[len("blend."):]: v for k, v in state.items() if k.startswith("blend.")}
        return Blend(_build({**manifest, "model": {k: v for k, v in rec.items() if k != "blend"}}, parts, where),
                     _build({**manifest, "model": rec["blend"]}, features, where)).eval()
    if rec["family"] == "rocket":
        from .models.rocket import RocketClassifier
        from .search.rocket_family import RocketModel

        numbers = rec.get("numbers", {})
        numbers = numbers if isinstance(numbers, list) else [numbers]  # one draw (files before draws)
        try:
            clf = []
            for i, nums in enumerate(numbers):
                prefix = f"rocket{i or ''}."
                clf_state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
                clf.append(RocketClassifier.from_state_dict({**clf_state, **nums}))
        except (KeyError, TypeError, ValueError) as exc:
            raise AutofastError(f"{where}: the random-convolution model's weights are incomplete ({exc}); restore "
                                "the run folder from a copy") from None
        scaling = (state["scaling.scale"], state["scaling.shift"]) if rec.get("scaling") else None
        return RocketModel(clf, scaling, float(rec.get("temperature", 1.0)), bool(rec.get("tail_as_zeros"))).eval()
    if rec["family"] == "linear":
        from .search.linear_family import LinearModel

        try:
            return LinearModel(state["linear.coef"], state["linear.intercept"], float(rec.get("alpha", "nan"))).eval()
        except (KeyError, ValueError) as exc:
            raise AutofastError(f"{where}: the linear model's weights are incomplete ({exc}); restore the run "
                                "folder from a copy") from None
    if rec["family"] == "kmer":
        from .models.kmer import KmerClassifier
        from .search.kmer_family import KmerModel

        try:
            clf = KmerClassifier.from_state_dict({"coef": state["kmer.coef"], "intercept": state["kmer.intercept"],
                                                  "length": rec["length"], "c": rec.get("c", float("nan")),
                                                  "order": rec.get("order", 2)})
        except (KeyError, TypeError, ValueError) as exc:
            raise AutofastError(f"{where}: the k-mer model's weights are incomplete ({exc}); restore the run "
                                "folder from a copy") from None
        return KmerModel(clf, float(rec.get("temperature", 1.0))).eval()
    if rec["family"] == "wd":
        from .models.wdkernel import WDKernelSVM
        from .search.wd_family import WDModel

        try:
            clf = WDKernelSVM.from_state_dict({"support_codes": state["wd.support_codes"], "coef": state["wd.coef"],
                                               "intercept": state["wd.intercept"], "degree": rec["degree"],
                                               "shift": rec.get("shift", 0), "c": rec.get("c", float("nan"))})
        except (KeyError, TypeError, ValueError) as exc:
            raise AutofastError(f"{where}: the kernel SVM's weights are incomplete ({exc}); restore the run "
                                "folder from a copy") from None
        if clf.support_codes_.shape[1] != int(rec.get("length", -1)):
            raise AutofastError(f"{where}: the kernel SVM's support vectors do not have the recorded length; "
                                "restore the run folder from a copy")
        return WDModel(clf, float(rec.get("temperature", 1.0))).eval()
    if rec["family"] == "timm":
        from .autoft.model import ArchSpec, build_model

        model = build_model(ArchSpec(rec["backbone"], int(rec["ndim"]), int(rec["in_channels"]), int(rec["out_size"])))
        with torch.no_grad():
            load_into(model, state, where)
        return model.eval()
    if rec["family"] != "cnn":
        raise AutofastError(f"{where}: unknown model family {rec['family']!r}; upgrade autofast")
    nets = [build_backbone(rec["backbone"], int(rec["ndim"]), int(rec["in_channels"]), int(rec["out_size"]),
                           int(m["width"]), fixed_factory([tuple(p) for p in m["pattern"]]),
                           dropout=float(m["dropout"]), positional=bool(rec["positional"]))
            for m in rec["members"]]
    model = nets[0] if rec["container"] == "single" else Ensemble(nets, classify=not manifest.get("regression"))
    with torch.no_grad():
        load_into(model, state, where)
    return model.eval()


def load_final(run_dir: str | Path) -> "Predictor":
    """The final model saved in ``run_dir`` (a run folder, or its ``model/`` folder) as a :class:`Predictor`.
    The weights are checked against the manifest's SHA-256 and read with ``torch.load(weights_only=True)``."""
    from .models.checkpoint import load_checkpoint

    folder, manifest = _read_manifest(Path(run_dir))
    w = manifest.get("weights") or {}
    path = folder / str(w.get("file", WEIGHTS))
    if not path.is_file():
        raise AutofastError(f"{path}: the model's weights are missing; restore the run folder from a copy")
    if w.get("sha256") and _digest(path) != w["sha256"]:
        raise AutofastError(f"{path}: the weights do not match the manifest's checksum (damaged or replaced); "
                            "restore the run folder from a copy")
    state, _ = load_checkpoint(path)
    return Predictor(manifest, _build(manifest, state, path), folder)


# ---------------------------------------------------------------------------------------------- inputs
@dataclass
class Inputs:
    """Examples ready for the model: ``x`` float32 ``(N, *shape)`` (standardised as at training), ``labels``
    (class indices, or None when the source has none), ``index`` (each example's row in the source: the
    data file, or the task's test file) and notes on what was done to them."""

    x: "Any"  # torch.Tensor
    labels: np.ndarray | None
    index: np.ndarray
    source: str
    notes: list[str] = field(default_factory=list)


def _label_strings(y: np.ndarray, source: str) -> list[str]:
    """Labels of an array file as the training loader names classes (integral floats as integers)."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise AutofastError(f"{source}: labels have shape {y.shape}; give one label per example")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            raise AutofastError(f"{source}: labels are non-integer floats; give integer or string class labels")
        y = y.astype(np.int64)
    return [str(v) for v in y.tolist()]


class Predictor:
    """A saved final model (:func:`load_final`): ``prepare``/``preprocess`` read new data as the training data
    were read, ``predict_proba``/``predict`` apply the model to prepared inputs (``(N, *shape)``, already
    standardised: the output of :meth:`preprocess`)."""

    def __init__(self, manifest: dict, model, folder: Path) -> None:
        self.manifest, self.model, self.folder = manifest, model, Path(folder)
        self.classes: list[str] = list(manifest["classes"])
        self.kind: str = manifest["kind"]
        self.input: dict = manifest["input"]
        self.shape: tuple = tuple(self.input["shape"])

    def __repr__(self) -> str:
        m = self.manifest["model"]
        what = m["family"] if m["family"] in FEATURE_FAMILIES else f"{m['backbone']} x{len(m['members'])}"
        return f"Predictor({self.manifest['task']!r}, {self.kind}, {what}, {len(self.classes)} classes)"

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
        """``(N, K)`` class probabilities (float32 tensor) of prepared inputs ``(N, *shape)``."""
        import torch

        if self.manifest.get("regression"):
            raise AutofastError("this model predicts values, not classes; use Predictor.predict")
        return torch.softmax(self._outputs(x).float(), dim=1)

    def predict(self, x) -> "Any":
        """``(N,)`` int64 class indices into :attr:`classes` (argmax of the model's output, as the test
        evaluation took it); for a regression model its outputs."""
        out = self._outputs(x)
        return out if self.manifest.get("regression") else out.argmax(1)

    # ------------------------------------------------------------------------------------- inputs
    def preprocess(self, source) -> "Any":
        """A data file (path), or arrays in the training layout as loaded (not standardised; DNA also as a
        list of sequence strings) -> the model's input tensor, standardised with the training statistics."""
        return self.prepare(source).x

    def prepare(self, source, labels=None) -> Inputs:
        """:class:`Inputs` of ``source`` (see :meth:`preprocess`); ``labels`` (class names, optional) go
        with arrays."""
        if isinstance(source, (str, Path)):
            if labels is not None:
                raise AutofastError("labels go with arrays; a data file brings its own")
            return self._read_path(str(source))
        raw, notes = self._arrays(source, "<arrays>")
        lab = None if labels is None else self._label_indices(_label_strings(np.asarray(labels), "labels"), "labels")
        if lab is not None and len(lab) != len(raw):
            raise AutofastError(f"labels: {len(lab)} labels for {len(raw)} examples; give one per example")
        return self._finish(raw, lab, np.arange(len(raw)), "<arrays>", notes)

    def _finish(self, raw: np.ndarray, labels, index, source: str, notes: list[str]) -> Inputs:
        import torch

        from .data.types import check_finite, standardise

        raw = np.ascontiguousarray(raw, dtype=np.float32)
        if tuple(raw.shape[1:]) != self.shape:
            raise AutofastError(f"{source}: examples have shape {tuple(raw.shape[1:])} but the model was trained "
                                f"on {self.shape}; give data of the training layout")
        check_finite(raw, source, "input value")
        st = self.input.get("standardise")
        if st is not None:
            raw = standardise(raw, np.asarray(st["mean"], dtype=np.float32), np.asarray(st["std"], dtype=np.float32))
        return Inputs(torch.from_numpy(np.ascontiguousarray(raw, dtype=np.float32)), labels,
                      np.asarray(index, dtype=np.int64), source, notes)

    def _label_indices(self, labels: list[str] | None, source: str) -> np.ndarray | None:
        if labels is None:
            return None
        index = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted({lab for lab in labels if lab not in index})
        if unknown:
            more = f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else ""
            shown = ", ".join(repr(u) for u in unknown[:5]) + more
            raise AutofastError(f"{source}: class label(s) {shown} are not among the model's classes "
                                f"({', '.join(self.classes[:12])}{', ...' if len(self.classes) > 12 else ''}); "
                                "fix the labels or leave them out")
        return np.array([index[lab] for lab in labels], dtype=np.int64)

    def _check_kind(self) -> None:
        if self.kind not in CLASSIFICATION_KINDS:
            raise AutofastError(f"reading new {self.kind} data is not supported yet (predict reads DNA, series and "
                                "image classification data); pass prepared tensors to Predictor.predict")

    # ---- arrays in the training layout
    def _arrays(self, x, source: str) -> tuple[np.ndarray, list[str]]:
        self._check_kind()
        if self.kind == "dna" and isinstance(x, (list, tuple)) and (not x or isinstance(x[0], str)):
            return self._encode(list(x), source), []
        try:
            arr = np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x)
        except Exception:
            raise AutofastError(f"{source}: cannot read the inputs as an array; give a tensor or an ndarray "
                                f"(N, {', '.join(map(str, self.shape))})") from None
        from .data.arrays import to_float

        arr = to_float(arr, source)
        return self._shape_arrays(arr, source, self.input.get(self.kind, {}).get("layout", "auto"))

    def _shape_arrays(self, arr: np.ndarray, source: str, layout: str) -> tuple[np.ndarray, list[str]]:
        """Arrays of the model's kind -> ``(N, *shape)`` (channels placed, series brought to the length)."""
        c = self.shape[0]
        ndim = len(self.shape) - 1
        if arr.ndim == ndim + 1 and c == 1:  # one channel given without its axis
            arr = arr[:, None]
        if arr.ndim != ndim + 2:
            raise AutofastError(f"{source}: inputs have shape {arr.shape}; the model takes (N, "
                                f"{', '.join(map(str, self.shape))}) ({self.input['layout']})")
        notes: list[str] = []
        if self.kind == "image":
            from .data.images import channels_first

            if layout == "auto" and arr.shape[1] != c and arr.shape[-1] == c:
                layout = "NHWC"
            elif layout == "auto" and arr.shape[1] == c:
                layout = "NCHW"
            arr = channels_first(arr, source, layout if layout in ("NCHW", "NHWC") else "auto")
            if arr.shape[1] != c:
                raise AutofastError(f"{source}: images have {arr.shape[1]} band(s) but the model was trained on "
                                    f"{c}; give images with the training bands")
            if tuple(arr.shape[2:]) != self.shape[1:]:
                raise AutofastError(f"{source}: images are {arr.shape[2]}x{arr.shape[3]} but the model was trained "
                                    f"on {self.shape[1]}x{self.shape[2]} (height x width); resize them")
            return arr, notes
        if self.kind == "series" and layout != "NCL" and arr.shape[1] != c and (layout == "NLC" or arr.shape[2] == c):
            arr = np.ascontiguousarray(arr.transpose(0, 2, 1))
        if arr.shape[1] != c:
            what = "series" if self.kind == "series" else "one-hot sequences"
            raise AutofastError(f"{source}: {what} have {arr.shape[1]} channel(s) (shape {arr.shape}) but the model "
                                f"was trained on {c}; give data with the training channels")
        if self.kind == "series" and arr.shape[2] != self.shape[1]:
            from .data.series import equal_length

            rule = self.input["series"]["length_rule"]
            notes.append(f"series of length {arr.shape[2]} brought to {self.shape[1]} ({rule}, as at training)")
            arr = equal_length(list(arr), self.shape[1], rule, source)
        elif self.kind == "dna" and arr.shape[2] != self.shape[1]:
            raise AutofastError(f"{source}: one-hot sequences have length {arr.shape[2]} but the model was trained "
                                f"on length {self.shape[1]}; give sequences as strings to apply the length rule")
        return arr, notes

    def _encode(self, seqs: list[str], source: str, unit: str = "data row") -> np.ndarray:
        from .data.dna import _encode

        rule = self.input["dna"]
        L = int(rule["length"])
        if rule["length_rule"] == "pad":
            for i, s in enumerate(seqs, start=1):
                n = len(str(s).strip())
                if n > L:
                    raise AutofastError(f"{source}: {unit} {i} has {n} bases but the model reads at most {L} "
                                        f"(its length rule: pad to {L}, {rule['why']}); trim the sequences to "
                                        f"{L} bases")
        return _encode(seqs, L, source, rule.get("crop", "end"), unit)

    # ---- files
    def _read_path(self, text: str) -> Inputs:
        from .data.registry import DATASETS
        from .data.task_file import TASK_FILE_SUFFIXES

        self._check_kind()
        bundled = any(d.name.lower() == text.lower() for d in DATASETS.values())
        p = Path(text)
        if bundled or p.suffix.lower() in TASK_FILE_SUFFIXES:
            return self._read_task(text)
        if not p.exists():
            raise AutofastError(f"data path {text!r} does not exist; check the path (or give a bundled task name "
                                "or a YAML task file for its test split)")
        return getattr(self, f"_read_{self.kind}")(p)

    def _read_task(self, text: str) -> Inputs:
        """The test split of a bundled task or a YAML task file, rebuilt as at training (its files and split
        seed), read with the training loaders."""
        from .data.supervised import DEFAULT_RATIOS, DEFAULT_VAL_FRACTION, resolve_data
        from .data.types import ORIGIN_CODES, split_for

        _, data, plan = resolve_data(text)
        if data.kind != self.kind:
            raise AutofastError(f"{text}: holds {data.kind} data but the model was trained on {self.kind} data")
        subset = self.manifest.get("class_subset")
        if subset and list(data.classes) != subset and set(subset) <= set(data.classes):
            from .autoft.tasks import subset_data  # the run cut the task to these classes before its split

            data = subset_data(data, [list(data.classes).index(c) for c in subset])
        seed = self.manifest.get("split_seed")
        seed = 0 if seed is None else int(seed)
        split = split_for(data, plan.seed if plan is not None and plan.seed is not None else seed,
                          plan.ratios if plan is not None else DEFAULT_RATIOS,
                          plan.val_fraction if plan is not None else DEFAULT_VAL_FRACTION)
        rows = split.test
        first_test = int(np.flatnonzero(data.origin == ORIGIN_CODES["test"])[0]) if data.origin is not None else 0
        where = f"{text} (test split)"
        if tuple(data.x.shape[1:]) != self.shape:
            raise AutofastError(f"{where}: examples have shape {tuple(data.x.shape[1:])} but the model was trained "
                                f"on {self.shape}; give the run's task, or one whose inputs have the run's layout "
                                "and length")
        labels = self._label_indices([data.classes[i] for i in data.y[rows]], where)
        return self._finish(data.x[rows], labels, rows - first_test, where,
                            [f"the test split of {text} (split seed {split.seed})"])

    def _read_dna(self, p: Path) -> Inputs:
        from .data.dna import FASTA_SUFFIXES, _read_fasta, _read_table

        rule = self.input["dna"]
        suffix = p.suffix.lower()
        if p.is_dir() or p.stat().st_size == 0:
            raise AutofastError(f"{p}: give a non-empty .csv/.tsv or .fa/.fasta/.fna file of DNA sequences")
        if suffix in FASTA_SUFFIXES:
            seqs, labels = _read_fasta(p, labels_required=False)
            if not any(labels):
                labels = None
            elif not all(labels):
                i = labels.index("") + 1
                raise AutofastError(f"{p}: record {i} has no label while others have one; label every record or none")
            x, unit = self._encode(seqs, str(p), "record"), "record"
        elif suffix in (".csv", ".tsv", ".tab", ".txt"):
            seqs, labels = _read_table(p, rule["sequence_column"], rule["label_column"], labels_required=False)
            x = self._encode(seqs, f"{p} (column {rule['sequence_column']!r})")
        elif suffix in (".npz", ".npy"):
            return self._read_array_file(p)
        else:
            raise AutofastError(f"{p}: unsupported file type {suffix or '(none)'!r} for a DNA model; give a "
                                f".csv/.tsv (column {rule['sequence_column']!r}) or .fa/.fasta/.fna file")
        return self._finish(x, self._label_indices(labels, str(p)), np.arange(len(x)), str(p), [])

    def _read_series(self, p: Path) -> Inputs:
        from .data.series import equal_length, read_ts, read_ucr

        suffix = p.suffix.lower()
        if p.is_dir():
            raise AutofastError(f"{p}: is a folder; give a .ts, .tsv/.txt/.csv (UCR: label first) or .npz/.npy file")
        if suffix in (".npz", ".npy"):
            return self._read_array_file(p)
        if suffix == ".ts":
            series, labels = read_ts(p, labels_required=False)
        elif suffix in (".tsv", ".txt", ".csv"):
            series, labels = read_ucr(p)
        else:
            raise AutofastError(f"{p}: unsupported series file {suffix or '(none)'!r}; give a .ts, .tsv/.txt/.csv "
                                "(UCR: label first) or .npz/.npy file")
        rule = self.input["series"]
        c, L = self.shape
        chans = sorted({s.shape[0] for s in series})
        if chans != [c]:
            raise AutofastError(f"{p}: series have {', '.join(map(str, chans))} channel(s) but the model was trained "
                                f"on {c}; give series with the training channels")
        lengths = {s.shape[1] for s in series}
        notes = [] if lengths == {L} else [
            f"series of lengths {min(lengths)}..{max(lengths)} brought to {L} ({rule['length_rule']}, as at training)"]
        x = equal_length(series, L, rule["length_rule"], str(p))
        return self._finish(x, self._label_indices(labels, str(p)), np.arange(len(x)), str(p), notes)

    def _read_image(self, p: Path) -> Inputs:
        if p.is_dir():
            return self._read_image_folder(p)
        if p.suffix.lower() in (".npz", ".npy"):
            return self._read_array_file(p)
        raise AutofastError(f"{p}: unsupported image data {p.suffix or '(none)'!r}; give a .npz/.npy array file or "
                            "a folder of images (or of class sub-folders)")

    def _read_image_folder(self, root: Path) -> Inputs:
        from PIL import Image, UnidentifiedImageError

        from .data.images import IMAGE_FILE_SUFFIXES

        def images(d: Path) -> list[Path]:
            return sorted(f for f in d.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_FILE_SUFFIXES)

        direct = images(root)
        if direct:
            files, labels = direct, None
        else:
            dirs = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
            pairs = [(f, d.name) for d in dirs for f in images(d)]
            if not pairs:
                raise AutofastError(f"{root}: holds no .png/.jpg/.jpeg images (directly or in class sub-folders)")
            files, labels = [f for f, _ in pairs], [lab for _, lab in pairs]
        c = self.shape[0]
        if c not in (1, 3):
            raise AutofastError(f"{root}: the model takes {c} bands; image files give 1 (grey) or 3 (RGB); give a "
                                ".npz array file")
        arrays = []
        for f in files:
            try:
                with Image.open(f) as im:
                    arrays.append(np.asarray(im.convert("L" if c == 1 else "RGB"), dtype=np.uint8))
            except (UnidentifiedImageError, OSError) as exc:
                raise AutofastError(f"{f}: cannot be read as an image ({type(exc).__name__}); remove or replace it") \
                    from None
        sizes = {a.shape[:2] for a in arrays}
        if sizes != {tuple(self.shape[1:])}:
            got = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
            raise AutofastError(f"{root}: images are {got} but the model was trained on {self.shape[1]}x"
                                f"{self.shape[2]} (height x width); resize them")
        x = np.stack(arrays).astype(np.float32) / 255.0
        x = x[:, None] if c == 1 else np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return self._finish(x, self._label_indices(labels, str(root)), np.arange(len(x)), str(root),
                            [f"{len(files)} image files in name order"])

    def _read_array_file(self, p: Path) -> Inputs:
        """A ``.npz`` (``x``/``images``, labels ``y``/``labels`` optional) or a ``.npy`` of inputs."""
        from .data.arrays import _load_npy, to_float

        source = str(p)
        y = None
        if p.suffix.lower() == ".npy":
            x = _load_npy(p, "input")
        else:
            try:
                with np.load(p, allow_pickle=False) as z:
                    keys = list(z.keys())
                    kx = next((k for k in ("x", "images") if k in keys), None)
                    if kx is None:
                        raise AutofastError(f"{p}: needs an array 'x' (or 'images'), found "
                                            f"{', '.join(map(repr, keys)) or 'none'}; save with np.savez(path, x=...)")
                    x = z[kx]
                    ky = {"x": "y", "images": "labels"}[kx]
                    y = z[ky] if ky in keys else None
            except AutofastError:
                raise
            except Exception as exc:
                raise AutofastError(f"{p}: cannot be read as .npz ({type(exc).__name__}); save it with np.savez") \
                    from None
        layout = self.input.get(self.kind, {}).get("layout", "auto")
        raw, notes = self._shape_arrays(to_float(np.asarray(x), source), source, layout)
        labels = None if y is None else _label_strings(y, source)
        if labels is not None and len(labels) != len(raw):
            raise AutofastError(f"{p}: {len(labels)} labels for {len(raw)} examples; give one per example")
        return self._finish(raw, self._label_indices(labels, source), np.arange(len(raw)), source, notes)
