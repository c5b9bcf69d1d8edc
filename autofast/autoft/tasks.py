"""Data for pretraining, fine-tuning and the transfer study: class subsets, shifted copies of a task, the
out-of-distribution (OOD) evaluation sets, and class-stratified few-shot subsamples.

All sets are built from the task's fixed, seeded split (:func:`autofast.data.supervised.load_task`):

* a built-in OOD *validation* set is the ID validation split shifted (``"noise:3"``), an OOD *test* set is the
  ID test split shifted, so OOD validation and OOD test never share an example;
* a user OOD set is a file (same formats as ``--task``) whose class names must be among the task's classes;
  images are standardised with the task's TRAIN statistics, like the ID splits.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from autofast.data.supervised import SupervisedTask, build_task, load_data, resolve_data
from autofast.data.types import SupervisedData, row_digests
from autofast.data.shifts import SHIFT_FAMILIES, apply_shift, modality_of, parse_shift
from autofast.errors import AutofastError

# default OOD sets per modality when the user gives none
DEFAULT_OOD = {
    "image": ("noise:3", ["blur:3", "contrast:3", "rotation:3"]),
    "dna": ("mutation:2", ["mutation:4", "shift:3"]),
    "series": ("noise:3", ["scale:3", "level:3"]),
}
# seeds of the built-in shifts: fixed offsets of the split seed, so val and test shifts differ
_VAL_SHIFT_SEED, _TEST_SHIFT_SEED, _TASK_SHIFT_SEED = 101, 202, 303


# ------------------------------------------------------------------------------------------- classes
def parse_classes(spec, classes: list[str], where: str = "--classes") -> list[int]:
    """Class indices from ``"0-4"``, ``"0,2,5"``, ``"EI IE"`` or a list of names. A range ``a-b`` needs
    integer class names and is inclusive."""
    if spec is None:
        return list(range(len(classes)))
    items = spec if isinstance(spec, (list, tuple)) else [spec]
    names: list[str] = []
    for item in items:
        for tok in re.split(r"[,\s]+", str(item).strip()):
            if not tok:
                continue
            m = re.fullmatch(r"(-?\d+)-(-?\d+)", tok)
            if m and tok not in classes:
                lo, hi = int(m.group(1)), int(m.group(2))
                if lo > hi:
                    raise AutofastError(f"{where}: range {tok!r} is empty; write low-high, e.g. 0-4")
                names += [str(i) for i in range(lo, hi + 1)]
            else:
                names.append(tok)
    index = {c: i for i, c in enumerate(classes)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise AutofastError(f"{where}: unknown class(es) {', '.join(map(repr, unknown[:5]))}; the task's classes "
                            f"are {', '.join(classes)}")
    out = sorted(set(index[n] for n in names))
    if len(out) < 2:
        raise AutofastError(f"{where}: {spec!r} selects {len(out)} class; a classification task needs at least two")
    return out


def subset_data(data: SupervisedData, keep: list[int]) -> SupervisedData:
    """The examples of the classes ``keep`` (re-indexed in that order); official split origins kept."""
    mask = np.isin(data.y, keep)
    remap = np.full(len(data.classes), -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    return data.subset(mask, remap[data.y[mask]], [data.classes[i] for i in keep])


def load_classification(task: str, classes=None, seed: int = 0) -> SupervisedTask:
    """Load a task (bundled name, file, or YAML task file) and split it; ``classes`` keeps a subset (labels are
    re-indexed in the order of the task's class list)."""
    name, data, plan = resolve_data(task)
    if data.kind == "dense":
        raise AutofastError(f"task {name!r} is a dense prediction task; pretrain, finetune and compare take "
                            f"classification tasks (run dense tasks with `search` or `dash`)")
    if classes is None or classes == [] or classes == "":
        return build_task(name, data, plan, seed)
    keep = parse_classes(classes, data.classes)
    sub = subset_data(data, keep)
    label = ",".join(sub.classes) if len(sub.classes) > 3 else " ".join(sub.classes)
    return build_task(f"{name}[{label}]", sub, plan, seed)


def task_modality(task: SupervisedTask) -> str:
    return modality_of(task.x_train, kind=task.data.kind)


def shift_task(task: SupervisedTask, spec: str, seed: int = 0) -> SupervisedTask:
    """A copy of ``task`` whose train/val/test inputs are all shifted by ``spec`` (``"noise:2"``)."""
    modality = task_modality(task)
    family, severity = parse_shift(spec, modality)
    xs = {k: apply_shift(getattr(task, f"x_{k}"), modality, family, severity, seed + _TASK_SHIFT_SEED + i)
          for i, k in enumerate(("train", "val", "test"))}
    return dataclasses.replace(task, name=f"{task.name}+{family}:{severity}", x_train=xs["train"], x_val=xs["val"],
                               x_test=xs["test"])


# ------------------------------------------------------------------------------------------- OOD sets
@dataclass
class EvalSet:
    """A labelled evaluation set: ``x`` like the task's inputs, ``y`` indices into the task's classes."""

    name: str
    x: torch.Tensor
    y: torch.Tensor
    source: str  # how it was made, for the report
    path: str | None = None  # the user file it was read from, if any

    def __len__(self) -> int:
        return len(self.y)


def is_shift_spec(spec: str) -> bool:
    return bool(re.fullmatch(r"\s*[A-Za-z_]+\s*:\s*[+-]?\d+\s*", str(spec))) and not Path(str(spec)).exists()


def shifted_set(task: SupervisedTask, split: str, spec: str, seed: int) -> EvalSet:
    modality = task_modality(task)
    family, severity = parse_shift(spec, modality)
    x = apply_shift(getattr(task, f"x_{split}"), modality, family, severity, seed)
    return EvalSet(f"{family}:{severity}", x, getattr(task, f"y_{split}").clone(),
                   f"ID {split} split ({len(x)} examples) shifted by {family} at severity {severity} (seed {seed})")


def file_set(task: SupervisedTask, path: str) -> EvalSet:
    """A user OOD set from a file; its class names are mapped onto the task's classes."""
    if not Path(path).exists():
        raise AutofastError(f"OOD set {path!r}: no such file, and not a shift spec family:severity "
                            f"(families: {'; '.join(f'{m}: ' + ', '.join(f) for m, f in SHIFT_FAMILIES.items())})")
    _, data = load_data(path)
    if data.kind != task.data.kind:
        raise AutofastError(f"OOD set {path}: holds {data.kind} data but the task is {task.data.kind}")
    want = tuple(task.x_train.shape[1:])
    if tuple(data.x.shape[1:]) != want:
        raise AutofastError(f"OOD set {path}: inputs have shape {tuple(data.x.shape[1:])} per example but the task's "
                            f"are {want}; resize/pad them to match")
    index = {c: i for i, c in enumerate(task.data.classes)}
    unknown = [c for c in data.classes if c not in index]
    if unknown:
        raise AutofastError(f"OOD set {path}: class(es) {', '.join(map(repr, unknown[:5]))} are not among the task's "
                            f"classes ({', '.join(task.data.classes)}); relabel them or drop those examples")
    x = data.x
    if task.mean is not None:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        x = ((x - task.mean.reshape(shape)) / task.std.reshape(shape)).astype(np.float32)
    y = np.array([index[data.classes[i]] for i in data.y], dtype=np.int64)
    return EvalSet(Path(path).stem, torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y),
                   f"user file {path} ({len(y)} examples)", path=str(path))


def concat_sets(sets: list[EvalSet]) -> EvalSet:
    if len(sets) == 1:
        return sets[0]
    return EvalSet("+".join(s.name for s in sets), torch.cat([s.x for s in sets]), torch.cat([s.y for s in sets]),
                   "; ".join(s.source for s in sets))


def ood_sets(task: SupervisedTask, ood_val: str | list[str] | None, ood_test: list[str] | None,
             seed: int = 0) -> tuple[EvalSet, list[EvalSet], dict]:
    """The OOD validation set and the OOD test sets (built-in defaults per modality when not given).

    ``ood_val`` may list several specs/files: they are concatenated into one OOD validation set (e.g.
    ``["blur:3", "rotation:3"]``: two shifted copies of the ID val split)."""
    modality = task_modality(task)
    dval, dtest = DEFAULT_OOD[modality]
    vals = [ood_val] if isinstance(ood_val, str) else list(ood_val or [dval])
    ood_test = list(ood_test) if ood_test else list(dtest)
    # parse every spec first: a typo fails before any work
    for s in [*vals, *ood_test]:
        if is_shift_spec(s):
            parse_shift(s, modality)
    val_parts = [shifted_set(task, "val", v, seed + _VAL_SHIFT_SEED + 17 * i) if is_shift_spec(v)
                 else file_set(task, v) for i, v in enumerate(vals)]
    val = concat_sets(val_parts)
    tests = []
    for i, s in enumerate(ood_test):
        tests.append(shifted_set(task, "test", s, seed + _TEST_SHIFT_SEED + i) if is_shift_spec(s) else file_set(task, s))
    names = [t.name for t in tests]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AutofastError(f"--ood-test lists {', '.join(dup)} more than once; give each OOD test set once")
    seen = set(row_digests(val.x.cpu()))
    for t in tests:  # the objective and lr chosen on the rows then scored as "OOD test" (the report said "other")
        shared = sum(d in seen for d in row_digests(t.x.cpu()))
        if shared:
            raise AutofastError(f"--ood-test {t.name}: {shared} of its {len(t.x)} examples are in the OOD validation "
                                f"set ({val.name}), where the objective is selected; give a test set held out from it")
    val_families = {v.split(":")[0] for v in val.name.split("+")}
    info = {"modality": modality, "ood_val": val.name, "ood_test": names,
            "same_family_in_val_and_test": [t.name for t in tests if t.name.split(":")[0] in val_families],
            "notes": ood_notes(task, [*val_parts, *tests])}
    return val, tests, info


def ood_notes(task: SupervisedTask, sets: list[EvalSet]) -> list[str]:
    """Notes on OOD sets that are partly training data (exact copies of ID train rows, the rows every final
    model trains on) and on user files whose per-channel statistics are far from the ID training ones
    (:func:`autofast.predictor.inputs.units_note` on the standardised inputs)."""
    from autofast.predictor.inputs import units_note

    trained = set(row_digests(task.x_train.cpu()))
    notes = []
    for s in sets:
        label = s.path or s.name
        copies = sum(d in trained for d in row_digests(s.x.cpu()))
        if copies:
            notes.append(f"{copies} of {len(s)} rows of {label} are copies of training rows: that OOD score is "
                         "partly a training score")
        if s.path and task.mean is not None:  # DNA one-hot is not standardised: no training units to compare
            note = units_note(s.x.cpu().numpy())
            if note:
                notes.append(f"OOD set {label}: {note}")
    return notes


# ------------------------------------------------------------------------------------------ few-shot
def parse_shots(values) -> list[int | str]:
    """``[1, 5, "full"]`` from ints and the word ``full``; sorted, ``full`` last."""
    out: list = []
    for v in values:
        if str(v).lower() == "full":
            out.append("full")
            continue
        try:
            k = int(v)
        except (TypeError, ValueError):
            raise AutofastError(f"--shots: {v!r} is neither a positive integer nor 'full'") from None
        if k < 1:
            raise AutofastError(f"--shots: {k} must be >= 1 labelled example per class (or 'full')")
        out.append(k)
    if not out:
        raise AutofastError("--shots: give at least one size, e.g. 1 5 10 full")
    ints = sorted(set(x for x in out if x != "full"))
    return ints + (["full"] if "full" in out else [])


def check_shots(y: torch.Tensor, shots: list, classes: list[str], keep_val: bool = False) -> None:
    """Every size fits the smallest class; with ``keep_val`` at least one more example per class stays for the
    validation shots (:func:`few_shot_split`)."""
    counts = torch.bincount(y, minlength=len(classes))
    smallest = int(counts.min())
    most = smallest - 1 if keep_val else smallest
    for k in shots:
        if k != "full" and k > most:
            c = classes[int(counts.argmin())]
            why = " (at least one is kept for the validation shots)" if keep_val else ""
            raise AutofastError(f"--shots {k}: class {c!r} has only {smallest} training examples; use at most "
                                f"{most} shots per class{why}, or 'full'")


def _class_permutations(y: torch.Tensor, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng([int(seed), 7919])
    yn = y.numpy()
    return [rng.permutation(np.flatnonzero(yn == c)) for c in np.unique(yn)]


def _take(perms: list[np.ndarray], lo: int, hi: int) -> torch.Tensor:
    return torch.from_numpy(np.sort(np.concatenate([p[lo:hi] for p in perms])).astype(np.int64))


def few_shot_indices(y: torch.Tensor, shots, seed: int) -> torch.Tensor:
    """Indices of a class-stratified subsample: ``shots`` examples per class (all for ``"full"``), drawn with
    ``seed``. For one seed the subsets are nested (the 5-shot set is inside the 10-shot set)."""
    if shots == "full":
        return torch.arange(len(y))
    perms = _class_permutations(y, seed)
    for c, idx in enumerate(perms):
        if shots > len(idx):
            raise AutofastError(f"shots {shots} per class but class index {c} has only {len(idx)} training examples")
    return _take(perms, 0, shots)


def val_shots_for(y: torch.Tensor, shots: int) -> int:
    """Validation examples per class at ``shots`` training shots: as many as the training shots, fewer only when
    the smallest class of ``y`` has not ``2 * shots`` examples (then all it has left)."""
    return min(int(shots), int(torch.bincount(y).min()) - int(shots))


def few_shot_split(y: torch.Tensor, shots: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A k-shot training set and a validation set of the same budget, both from the pool ``y`` (N,): per class
    the first ``shots`` of the seeded permutation train (exactly :func:`few_shot_indices`), the next
    :func:`val_shots_for` validate. Returns ``(train (shots * C,), val (v * C,))`` sorted indices, disjoint."""
    v = val_shots_for(y, shots)
    if v < 1:
        raise AutofastError(f"shots {shots} per class leave no validation example in the smallest class "
                            f"({int(torch.bincount(y).min())} examples); use fewer shots or 'full'")
    perms = _class_permutations(y, seed)
    return _take(perms, 0, shots), _take(perms, shots, shots + v)
