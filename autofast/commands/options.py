"""Options shared by the subcommands: a ``--config`` YAML file merged with the flags given, validated into a
typed config whose first error becomes one :class:`~autofast.errors.AutofastError` line."""
from __future__ import annotations

import json
import os
import re
import sys
from datetime import datetime
from pathlib import Path

from autofast.errors import AutofastError
from autofast.io import PENDING_RESULT, read_yaml


def load_yaml_config(path: str | None) -> dict:
    """The option mapping in the YAML file ``path`` (``{}`` for no file or an empty one)."""
    if not path:
        return {}
    data = read_yaml(path, "config file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise AutofastError(f"{path}: expected a mapping of option: value at the top level")
    return data


def merge_options(config_path: str | None, keys: list[str], cli: dict, renamed: dict[str, str] | None = None) -> dict:
    """YAML options overridden by the command-line flags that were given. The YAML keys are the flag names
    with underscores (``--time-budget`` -> ``time_budget``); unknown keys are an error; an old key in
    ``renamed`` (old -> new) is read as the new one, with one ``note:`` line on stderr."""
    raw = load_yaml_config(config_path)
    for old, new in (renamed or {}).items():
        if old in raw:
            if new in raw:
                raise AutofastError(f"{config_path}: gives both {old!r} and {new!r}; keep {new!r} ({old!r} is its "
                                    "old name)")
            print(f"note: {config_path}: config key {old!r} is deprecated, use {new!r} (the flag's name)",
                  file=sys.stderr)
            raw[new] = raw.pop(old)
    unknown = sorted(map(str, set(raw) - set(keys)))
    flags_only = [k for k in unknown if k in cli]  # --out, --overwrite, --resume, --config: the command line's
    if flags_only:
        raise AutofastError(f"{config_path}: {', '.join(flags_only)} can only be given on the command line "
                            f"({', '.join('--' + k.replace('_', '-') for k in flags_only)}); remove it from the file")
    if unknown:
        raise AutofastError(f"{config_path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(keys)}")
    given = {k: v for k, v in cli.items() if k in keys and v is not None}
    return Options({**raw, **given}, {k: str(config_path) for k in raw if k not in given})


class Options(dict):
    """Merged options; ``source``: the config file each option the file gave (and no flag overrode) came from,
    so that :func:`validated` names the file in its error."""

    def __init__(self, values: dict, source: dict[str, str]) -> None:
        super().__init__(values)
        self.source = source


def require_task(raw: dict, command: str) -> None:
    """A run needs a task: none (no ``--task``, no ``task:`` in the config) is an error listing the bundled ones."""
    if raw.get("task") in (None, ""):
        from autofast.data.registry import list_datasets

        names = ", ".join(d.name for d in list_datasets())
        raise AutofastError(f"{command} needs --task: a bundled task ({names}; see `python -m autofast datasets`), "
                            "a data file or a YAML task file")


NUMERICS_FLAGS = ("precision", "conv_path")  # the options a resumed run takes from its folder, never anew


#: options a resumed run takes from its flags: how it runs on this machine, not what it computes
RUNTIME_FLAGS = ("threads",)


def resumed_options(saved: dict, args, run_dir: Path, model_cls=None) -> dict:
    """The options ``run_dir`` was started with, for ``--resume``: a run trains on in the numerics it started
    with, so a ``--precision`` / ``--conv-path`` that differs from the saved one is refused; a folder saved
    before these were options takes them from the flags. Any other option given that differs from the saved one
    (read as ``model_cls`` reads it), ``--out`` or ``--config`` is refused too: a resumed run keeps its options
    (they were ignored without a word: ``--resume RUN --task splice`` went on with the run's own task)."""
    for flag, value in (("--out", getattr(args, "out", None)), ("--config", getattr(args, "config", None))):
        if value:
            raise AutofastError(f"--resume continues {run_dir} in place with the options it started with; drop "
                                f"{flag} {value}")
    if model_cls is not None:
        now = validated(model_cls, saved)
        for key in model_cls.model_fields:
            flag = getattr(args, key, None)
            if flag is None or key in NUMERICS_FLAGS or key in RUNTIME_FLAGS:
                continue
            if getattr(validated(model_cls, {**saved, key: flag}), key) != getattr(now, key):
                name = "--" + key.replace("_", "-")
                raise AutofastError(f"{run_dir}: the run started with {name} {saved.get(key, getattr(now, key))}; a "
                                    f"resumed run keeps its options: resume without {name}, or start a new run with "
                                    f"--out and {name} {flag}")
    out = dict(saved)
    out.update({k: getattr(args, k) for k in RUNTIME_FLAGS if getattr(args, k, None) is not None})
    for key in NUMERICS_FLAGS:
        flag = getattr(args, key, None)
        if flag is None:
            continue
        if out.get(key) is None:
            out[key] = flag
        elif out[key] != flag:
            name = "--" + key.replace("_", "-")
            raise AutofastError(f"{run_dir}: the run started with {name} {out[key]}; resume it without {name} "
                                f"(a run keeps its numerics) or start a new run with {name} {flag}")
    return out


def finished_result(run_dir: Path, command: str) -> dict | None:
    """A finished run's saved result (``result.json``, written last) for ``--resume``, with a note on stderr: its
    test split was scored once, so resuming returns that result instead of training on (the ASHA budget is
    given afresh) and scoring a new model on the same test split; None for a run that did not finish."""
    path = run_dir / "result.json"
    pending = run_dir / PENDING_RESULT
    if not path.is_file() and pending.is_file() and (run_dir / "model" / "manifest.json").is_file():
        os.replace(pending, path)
        print(f"{run_dir}: the run was stopped after its test score and final model were saved; completing it from "
              "them", file=sys.stderr)
    if not path.is_file():
        return None
    try:
        result = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise AutofastError(f"{path}: corrupt; restore it from a copy, or delete it to finish the run again (its "
                            "test split is then scored a second time)") from None
    print(f"{run_dir}: finished earlier; its result stands (a run scores its test split once); start a new "
          f"{command} with --out to run again", file=sys.stderr)
    return result


def validated(model_cls, raw: dict, names: dict[str, str] | None = None):
    """Build a pydantic config; the first validation error becomes one ``error:`` line, naming the option as
    ``names`` (field -> option name, for fields named otherwise) says."""
    from pydantic import ValidationError

    source = getattr(raw, "source", {})
    try:
        return model_cls(**_one_as_list(model_cls, raw))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str((names or {}).get(x, x)) for x in err["loc"]) or "config"
        where = f"{source[err['loc'][0]]}: " if err["loc"] and err["loc"][0] in source else ""
        raise AutofastError(f"{where}invalid option {field}: {err['msg'].removeprefix('Value error, ')}") from None
    except AutofastError as exc:  # a validator's own line names the flag ("--time-budget 'fast': ...")
        flag = re.match(r"--([\w-]+)", str(exc))
        key = flag.group(1).replace("-", "_") if flag else None
        if key in source:
            raise AutofastError(f"{source[key]}: {key}: {str(exc).removeprefix(flag.group(0)).lstrip()}") from None
        raise


def _one_as_list(model_cls, raw: dict) -> dict:
    """``raw`` with a single value of a list option as a one-item list: a config file's ``devices: cpu`` or
    ``kernel_sizes: 3``, as the command line takes ``--devices cpu`` (was 'Input should be a valid list')."""
    import typing

    def is_list(annotation) -> bool:
        return typing.get_origin(annotation) is list or any(
            typing.get_origin(a) is list for a in typing.get_args(annotation))

    fields = getattr(model_cls, "model_fields", {})
    out = dict(raw)
    for k, v in raw.items():
        if k in fields and v is not None and not isinstance(v, (list, tuple)) and is_list(fields[k].annotation):
            out[k] = [v]
    return out


def default_out(command: str, task: str | None, fallback: str) -> Path:
    """``runs/<command>-<task stem>-<time>``: where a run goes without ``--out``."""
    from autofast.data.text import data_stem

    stem = data_stem(task or fallback)  # reads.fa.gz: reads
    return Path(f"runs/{command}-{stem[:60]}-{datetime.now():%Y%m%d-%H%M%S}")  # a file name's length limit
