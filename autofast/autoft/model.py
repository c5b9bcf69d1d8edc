"""Pretrained models: the architecture of a checkpoint (from its autofast meta, or given by the user), building
it, loading the weights and re-initialising the classification head for a task with other classes.

Architectures: any autofast classification backbone (``resnet1d``, ``wrn16``, ``wrn22``) with a width and a
DASH (kernel size, dilation) pattern, or ``timm:NAME`` when timm is installed.
"""
from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from autofast.data.types import row_digests
from autofast.errors import AutofastError
from autofast.models import build_backbone, fixed_factory
from autofast.models.checkpoint import load_checkpoint, load_into

CLASSIFIER_BACKBONES = ("resnet1d", "wrn16", "wrn22")
CHECKPOINT_FORMAT = "autofast-pretrained/1"


@dataclass(frozen=True)
class ArchSpec:
    """What is needed to rebuild a model: backbone name (or ``timm:NAME``), input shape, head size, width,
    DASH pattern (``[]`` = plain 3x1), whether the input gets a position channel (resnet1d)."""

    backbone: str
    ndim: int
    in_channels: int
    num_classes: int
    width: int = 16
    pattern: list = field(default_factory=list)
    positional: bool = False

    def meta(self) -> dict:
        d = asdict(self)
        d["pattern"] = [list(p) for p in self.pattern]
        return d


def load_pattern_file(path: str | None) -> list:
    if not path:
        return []
    from autofast.dash.supernet import load_pattern

    return [list(p) for p in load_pattern(path)]


def _pattern_meta(path: str | None, key: str):
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None


def pattern_backbone(path: str | None) -> str | None:
    """The backbone recorded in a pattern.json from a DASH/search run, if any."""
    return _pattern_meta(path, "backbone")


def pattern_positional(path: str | None) -> bool:
    """Whether the DASH/search run of a pattern.json gave its backbone a position channel."""
    return _pattern_meta(path, "positional") is True


def build_model(arch: ArchSpec, num_classes: int | None = None, dropout: float = 0.0) -> nn.Module:
    n = int(num_classes if num_classes is not None else arch.num_classes)
    if arch.backbone.startswith("timm:"):
        try:
            import timm
        except ImportError:
            raise AutofastError(f"architecture {arch.backbone!r} needs timm, which is not installed; "
                                f"`pip install timm` or use an autofast backbone ({', '.join(CLASSIFIER_BACKBONES)})") from None
        name = arch.backbone[5:]
        try:
            return timm.create_model(name, pretrained=False, num_classes=n, in_chans=arch.in_channels)
        except Exception as e:  # timm raises RuntimeError for unknown names
            raise AutofastError(f"timm cannot build {name!r} ({str(e).splitlines()[0] if str(e) else type(e).__name__}); "
                                f"check the model name (timm.list_models())") from None
    if arch.backbone not in CLASSIFIER_BACKBONES:
        raise AutofastError(f"architecture {arch.backbone!r} is not a classification backbone; use one of "
                            f"{', '.join(CLASSIFIER_BACKBONES)} or timm:NAME")
    try:
        return build_backbone(arch.backbone, arch.ndim, arch.in_channels, n, arch.width,
                              fixed_factory([tuple(p) for p in arch.pattern]), dropout=dropout,
                              positional=arch.positional)
    except ValueError as e:
        raise AutofastError(f"cannot build {arch.backbone}: {e}") from None


def _head(model: nn.Module) -> tuple[str, nn.Linear] | None:
    if hasattr(model, "get_classifier"):  # timm
        head = model.get_classifier()
        for name, m in model.named_modules():
            if m is head:
                return name, head
    head = getattr(model, "head", None)
    return ("head", head) if isinstance(head, nn.Linear) else None


def reset_head(model: nn.Module, num_classes: int, seed: int) -> nn.Module:
    """Replace the classification head by a freshly initialised one with ``num_classes`` outputs (seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if hasattr(model, "reset_classifier"):
            model.reset_classifier(num_classes)
            return model
        name, head = _head(model) or (None, None)
        if head is None:
            raise AutofastError(f"{type(model).__name__} has no linear classification head to re-initialise")
        model.head = nn.Linear(head.in_features, num_classes, bias=head.bias is not None)
        if hasattr(model, "out_dim"):
            model.out_dim = num_classes
    return model


@dataclass
class Pretrained:
    """A loaded checkpoint: its weights, meta and the architecture they fit."""

    path: str
    state_dict: dict
    meta: dict
    arch: ArchSpec

    @property
    def classes(self) -> list[str] | None:
        c = self.meta.get("classes")
        return [str(x) for x in c] if isinstance(c, list) else None

    def model(self) -> nn.Module:
        """The pretrained network, weights loaded (strictly: a wrong architecture is an error)."""
        m = build_model(self.arch)
        load_into(m, self.state_dict, self.path)
        return m


def _infer_classes(state: dict, backbone: str) -> int | None:
    for key in ("head.weight", "fc.weight", "classifier.weight", "head.fc.weight"):
        if key in state and state[key].ndim == 2:
            return int(state[key].shape[0])
    return None


def _check_meta(path: str, meta: dict, state: dict) -> None:
    """Malformed meta (an internal error or a vague one) and non-finite weights (every fine-tuning then diverged and
    was still scored) are one error line naming the file and field."""
    for key in ("ndim", "in_channels", "num_classes", "width"):
        v = meta.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            raise AutofastError(f"{path}: checkpoint meta field {key!r} is {v!r}, not a whole number; fix the meta or "
                                "save the checkpoint again")
    pat = meta.get("pattern")
    if pat is not None and not (isinstance(pat, list) and all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(v, int) for v in p) for p in pat)):
        raise AutofastError(f"{path}: checkpoint meta field 'pattern' is not a list of [kernel, dilation] pairs; fix "
                            "the meta or give --pattern")
    bad = next((k for k, t in state.items() if isinstance(t, torch.Tensor) and t.is_floating_point()
                and not bool(torch.isfinite(t).all())), None)
    if bad is not None:
        raise AutofastError(f"{path}: weight {bad!r} holds NaN or infinite values; the checkpoint is damaged (or its "
                            "pretraining diverged): pretrain again")


def _check_rows(path: str, meta: dict, task) -> None:
    """A test split that overlaps the rows the checkpoint trained on (pretrained on digits 0-4 with split seed 0,
    compared on digits 0-4 with seed 1: 137 of 180 test images seen, the pretrained arm 1.0 at 1 shot). A test row
    with an exact copy among the task's own train+val rows is not counted: a data set's duplicates (UCI splice:
    54 of 638 test sequences at seed 0) are in any checkpoint of that split, and the run reports them itself."""
    seen = meta.get("train_rows")
    if not seen or task is None:
        return
    seen = set(seen)
    split = task.split
    own = set(row_digests(task.data.x[np.concatenate([split.train, split.val])]))
    test = row_digests(task.data.x[split.test])
    overlap = sum(d in seen and d not in own for d in test)
    if overlap:
        raise AutofastError(f"{path}: {overlap} of the {len(test)} test examples of {task.name!r} are among the rows "
                            f"the checkpoint trained on (task {meta.get('task')!r}, split seed "
                            f"{meta.get('split_seed')}) and not in this split's own training rows: its test score "
                            "would be memory, not transfer; give the same --seed (and classes) it was pretrained "
                            "with, or pretrain without those rows")


def load_pretrained(path: str, task=None, arch: str | None = None, width: int | None = None,
                    pattern: str | None = None) -> Pretrained:
    """Load ``path`` (weights only) and work out its architecture: the checkpoint's autofast meta, with
    ``arch``/``width``/``pattern`` overriding it (needed for a bare state dict). The input shape comes from
    the meta or, failing that, from ``task``. The weights are loaded once here so that a checkpoint that does
    not fit the architecture fails before any work."""
    state, meta = load_checkpoint(path)
    _check_meta(str(path), meta, state)
    if task is not None and meta.get("kind") and meta["kind"] != task.data.kind:
        raise AutofastError(f"{path}: the checkpoint was trained on {meta['kind']} data ({meta.get('task')!r}) but the "
                            f"task {task.name!r} is {task.data.kind} data; give a checkpoint of the task's kind")
    _check_rows(str(path), meta, task)
    backbone = arch or meta.get("backbone")
    if not backbone:
        raise AutofastError(f"{path}: the checkpoint names no architecture (no autofast meta); give --arch "
                            f"({', '.join(CLASSIFIER_BACKBONES)} or timm:NAME) and --width")
    if task is not None:
        ndim, in_ch = task.data.ndim, int(task.x_train.shape[1])
        m_ndim, m_in = meta.get("ndim"), meta.get("in_channels")
        if (m_ndim is not None and int(m_ndim) != ndim) or (m_in is not None and int(m_in) != in_ch):
            raise AutofastError(f"{path}: the checkpoint takes {m_ndim}-D inputs with {m_in} channels but the task "
                                f"{task.name!r} has {ndim}-D inputs with {in_ch} channels; pretrain on data of the "
                                f"same shape")
    else:
        ndim, in_ch = meta.get("ndim"), meta.get("in_channels")
        if ndim is None or in_ch is None:
            raise AutofastError(f"{path}: the checkpoint meta lacks ndim/in_channels; give a task")
    num_classes = meta.get("num_classes") or _infer_classes(state, backbone)
    if not num_classes:
        raise AutofastError(f"{path}: cannot tell the number of classes of the checkpoint's head; save it with "
                            f"autofast meta (num_classes)")
    pat = load_pattern_file(pattern) if pattern else list(meta.get("pattern") or [])
    w = width if width is not None else meta.get("width")
    if w is None and not str(backbone).startswith("timm:"):
        raise AutofastError(f"{path}: the checkpoint meta gives no width for {backbone}; pass --width")
    positional = pattern_positional(pattern) if pattern else meta.get("positional") is True
    spec = ArchSpec(str(backbone), int(ndim), int(in_ch), int(num_classes), int(w or 0), pat, positional)
    pre = Pretrained(str(path), state, meta, spec)
    pre.model()  # fail now if the weights do not fit
    return pre


def prepare(pre: Pretrained, task, head: str = "auto") -> tuple[Callable[[int], nn.Module], dict]:
    """A factory ``make(seed) -> model`` of the pretrained network adapted to ``task`` and a description.

    ``head``: ``auto`` re-initialises the classification head when the task's classes differ from the
    checkpoint's (in number, or by name when the checkpoint records its class names); ``reinit`` always;
    ``keep`` never (an error if the class count differs).
    """
    base = pre.model()
    n_task = task.data.num_classes
    ck_classes = pre.classes
    differs_n = n_task != pre.arch.num_classes
    differs_names = ck_classes is not None and list(ck_classes) != list(task.data.classes)
    if head == "keep" and differs_n:
        raise AutofastError(f"--head keep: the checkpoint's head has {pre.arch.num_classes} classes but the task has "
                            f"{n_task}; use --head auto or reinit")
    reinit = head == "reinit" or (head == "auto" and (differs_n or differs_names))
    if reinit:
        reason = ("requested (--head reinit)" if head == "reinit" else
                  f"the checkpoint has {pre.arch.num_classes} classes, the task {n_task}" if differs_n else
                  f"the checkpoint's classes ({', '.join(ck_classes)}) differ from the task's "
                  f"({', '.join(task.data.classes)})")
    elif differs_names:  # --head keep over other class names: say so (it said they were the checkpoint's)
        reason = (f"kept as requested (--head keep), though the checkpoint's classes ({', '.join(ck_classes)}) differ "
                  f"from the task's ({', '.join(task.data.classes)})")
    else:
        reason = "kept: the task's classes are the checkpoint's"

    def make(seed: int) -> nn.Module:
        m = copy.deepcopy(base)
        if reinit:
            reset_head(m, n_task, seed)
        return m

    info = {"checkpoint": pre.path, "arch": pre.arch.meta(), "head_reinitialised": reinit, "head_reason": reason,
            "checkpoint_classes": ck_classes, "checkpoint_task": pre.meta.get("task"),
            "parameters": sum(p.numel() for p in base.parameters())}
    return make, info


def finetuned_meta(pre: Pretrained, task, extra: dict | None = None) -> dict:
    """Meta for a fine-tuned model: the architecture with the task's head, so it can be fine-tuned again."""
    arch = pre.arch.meta()
    arch["num_classes"] = task.data.num_classes
    return {"format": CHECKPOINT_FORMAT, **arch, "task": task.name, "classes": list(task.data.classes),
            "mean": None if task.mean is None else [float(v) for v in task.mean],
            "std": None if task.std is None else [float(v) for v in task.std],
            "parent_checkpoint": pre.path, **(extra or {})}
