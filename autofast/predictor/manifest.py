"""The saved model's manifest: the format's names, the ``input`` record (how new data are read), reading it back."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import AutofastError


FORMAT = "autofast-model/1"
MODEL_DIR = "model"
MANIFEST = "manifest.json"
WEIGHTS = "weights.pt"
READ_KINDS = ("dna", "series", "image", "dense")  # the kinds whose new data predict reads
FEATURE_FAMILIES = ("rocket", "hydra", "kmer", "wd", "linear", "kernel")  # final models that are not networks
PREDICT_BATCH = 512  # the batch of the test evaluation (autofast.engine.evaluate), so predictions match it


def _plain(a) -> list | None:
    return None if a is None else [float(v) for v in np.asarray(a, dtype=np.float32).reshape(-1)]


def source_options(task_arg: str | None) -> dict:
    """How the training data were read: the task file's options (or the defaults for a data file / bundled
    set) and whether the split came from official files."""
    from ..data.registry import DATASETS
    from ..data.task_file import TASK_FILE_SUFFIXES, read_task_file

    out = {"official": False, "length": None, "variable_length": "resample", "layout": "auto",
           "sequence_column": "sequence", "label_column": "label", "id_column": "id", "time_column": "time",
           "ignore_columns": [], "ignore_label": None}
    path = None
    if task_arg:
        bundled = next((d for d in DATASETS.values() if d.name.lower() == str(task_arg).lower()), None)
        path = bundled.path if bundled is not None else Path(task_arg)
    if path is not None and path.suffix.lower() in TASK_FILE_SUFFIXES and path.is_file():
        spec = read_task_file(path)
        out.update(official=spec.official, length=spec.length, variable_length=spec.variable_length,
                   layout=spec.layout, sequence_column=spec.sequence_column, label_column=spec.label_column,
                   id_column=spec.id_column, time_column=spec.time_column, ignore_columns=list(spec.ignore_columns),
                   ignore_label=spec.ignore_label)
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
    if kind in ("image", "series", "dense"):  # new arrays must come in the same dtype rule
        rec["uint8_input"] = bool(getattr(data, "uint8_input", False))
    if kind == "timeseries":
        scale = getattr(task, "scale", None)  # the series' training statistics: newer rows read as at training
        rec["windows"] = {"lookback": int(data.lookback), "horizon": int(data.horizon), "columns": list(data.columns),
                          "date_column": getattr(data, "date_column", None),
                          **({} if scale is None else {"mean": np.asarray(scale[0], np.float64).tolist(),
                                                       "std": np.asarray(scale[1], np.float64).tolist()})}
        return rec
    opts = source_options(task_arg)
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
                         "layout": opts["layout"] if opts["layout"] in ("NCL", "NLC") else "auto",
                         # of a .csv table of series; a long one's channel columns, by name
                         "label_column": opts["label_column"], "id_column": opts["id_column"],
                         "time_column": opts["time_column"], "ignore_columns": opts["ignore_columns"] or None,
                         # a long table put in order by its time column: new data must have it too
                         "timed": bool(getattr(data, "timed", False)),
                         "channel_columns": list(data.channel_names) if data.channel_names else None,
                         # a wide one's step columns: new data with these names in another order is read by name
                         "step_columns": list(data.step_names) if data.step_names else None}
    elif kind in ("image", "dense"):
        rec[kind] = {"channels": shape[0], "spatial": shape[1:],
                     **({"ignore_label": opts["ignore_label"]} if opts.get("ignore_label") is not None else {}),
                     "pixels": "uint8 scaled to [0, 1] (/ 255), other numeric dtypes as they are",
                     "layout": opts["layout"] if opts["layout"] in ("NCHW", "NHWC", "NLC") else "auto"}
    return rec


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_manifest(run_dir: Path) -> tuple[Path, dict]:
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise AutofastError(f"run folder {str(run_dir)!r} does not exist; give the folder of a finished search, "
                            "dash or finetune run")
    folder = run_dir if (run_dir / MANIFEST).is_file() and not (run_dir / MODEL_DIR).is_dir() else run_dir / MODEL_DIR
    path = folder / MANIFEST
    if not path.is_file():
        done = (run_dir / "result.json").is_file()
        if done and (run_dir / "model.pt").is_file():  # a pretrain run: a checkpoint, no final model
            raise AutofastError(f"{run_dir}: a pretrain run has no final model to predict with; fine-tune its "
                                f"checkpoint ({run_dir / 'model.pt'}) with finetune --checkpoint, and predict "
                                "with that run")
        raise AutofastError(f"{run_dir}: no {MODEL_DIR}/{MANIFEST}; " + (
            "the model folder is missing: deleted or not copied with the run (restore it from a copy), or the run "
            "finished before autofast saved final models (rerun it with this version)" if done else
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
    missing = [k for k in ("kind", "classes", "model", "input") if not isinstance(manifest.get(k), (dict, list, str))]
    if missing:
        raise AutofastError(f"{path}: damaged (no {', '.join(map(repr, missing))}); restore the run folder from a "
                            "copy")
    return folder, manifest
