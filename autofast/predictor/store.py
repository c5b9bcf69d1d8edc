"""A run's final model to ``RUN_DIR/model/`` and back: :func:`save_model` (any command), :func:`save_final`
(``search``), :func:`load_final` (a :class:`~.model.Predictor`)."""
from __future__ import annotations

from pathlib import Path

from ..errors import AutofastError
from .families import build_model, model_record
from .manifest import FEATURE_FAMILIES, FORMAT, MANIFEST, MODEL_DIR, WEIGHTS, digest, input_record, read_manifest
from .model import Predictor


def save_model(run_dir: str | Path, model, task, command: str, arch: dict | None, info: dict) -> dict:
    """Write ``run_dir/model/`` (manifest and weights, each atomically; the weights first) for the final model
    of any command; returns the ``saved_model`` record for the run's result.

    ``arch`` (networks; None for random-convolution features): ``backbone`` (an autofast backbone or
    ``timm:NAME``), ``positional``, ``members`` (``[{"pattern": [[k, d], ...], "width", "dropout"}]``, one
    entry repeated for every member of an ensemble), optionally ``arch``/``config`` (search). ``info``:
    ``task_source`` (what ``--task`` was), ``metric``, ``lower_is_better``, ``test_score``, ``split_seed``,
    ``trained_on``, optionally ``class_subset`` (the classes a task was cut down to before its split)."""
    from .. import __version__
    from ..io import write_json_atomic
    from ..models.checkpoint import save_checkpoint

    folder = Path(run_dir) / MODEL_DIR
    folder.mkdir(parents=True, exist_ok=True)
    rec, tensors = model_record(model)
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
        if data.kind == "timeseries" or data.regression:  # the networks' outputs are values, not logits
            rec["combine"] = "the output" if count == 1 else "mean output of the members"
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
    if getattr(task, "target_mean", None) is not None:  # values: the model's outputs are standardised targets
        manifest["target"] = {"names": [str(c) for c in data.classes], "mean": [float(v) for v in task.target_mean],
                              "scale": [float(v) for v in task.target_scale], "rule": "value = output * scale + mean"}
    elif data.kind == "dense" and data.regression and getattr(task, "target_scale", None) is not None:
        manifest["target"] = {"names": [str(c) for c in data.classes], "mean": [0.0] * len(task.target_scale),
                              "scale": [float(v) for v in task.target_scale],
                              "rule": "value = output * scale (per target channel, axis 1; fields are not shifted)"}
    if info.get("class_subset"):
        manifest["class_subset"] = [str(c) for c in info["class_subset"]]
    weights = folder / WEIGHTS
    save_checkpoint(weights, tensors, meta={"format": FORMAT})
    manifest["weights"] = {"file": WEIGHTS, "sha256": digest(weights), "tensors": len(tensors),
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
            return {"pattern": pattern, "width": int(cfg.get("retrain_width", 0)),
                    "dropout": float(c.get("dropout", 0.0))}

        arch = {"backbone": result["backbone"], "positional": bool(result.get("positional_input", False)),
                "arch": name, "config": conf,
                "members": [member(c) for c in final.get("member_configs") or [conf]]}
    result["saved_model"] = save_model(run_dir, model, task, "search", arch, {
        "task_source": cfg.get("task"), "metric": result.get("metric"),
        "lower_is_better": result.get("lower_is_better"),
        "test_score": result.get("test_score"), "split_seed": (result.get("split") or {}).get("seed"),
        "trained_on": final.get("trained_on")})
    return Path(run_dir) / MODEL_DIR


def load_final(run_dir: str | Path) -> Predictor:
    """The final model saved in ``run_dir`` (a run folder, or its ``model/`` folder) as a :class:`Predictor`.
    The weights are checked against the manifest's SHA-256 and read with ``torch.load(weights_only=True)``."""
    from ..models.checkpoint import load_checkpoint

    folder, manifest = read_manifest(Path(run_dir))
    w = manifest.get("weights") or {}
    path = folder / str(w.get("file", WEIGHTS))
    if not path.is_file():
        raise AutofastError(f"{path}: the model's weights are missing; restore the run folder from a copy")
    if w.get("sha256") and digest(path) != w["sha256"]:
        raise AutofastError(f"{path}: the weights do not match the manifest's checksum (damaged or replaced); "
                            "restore the run folder from a copy")
    state, _ = load_checkpoint(path)
    return Predictor(manifest, build_model(manifest, state, path), folder)
