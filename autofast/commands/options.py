"""Options shared by the subcommands: a ``--config`` YAML file merged with the flags given, validated into a
typed config whose first error becomes one :class:`~autofast.errors.AutofastError` line."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path

from autofast.errors import AutofastError
from autofast.io import read_yaml


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


def merge_options(config_path: str | None, keys: list[str], cli: dict) -> dict:
    """YAML options (unknown keys rejected) overridden by the command-line flags that were given."""
    raw = load_yaml_config(config_path)
    unknown = sorted(map(str, set(raw) - set(keys)))
    if unknown:
        raise AutofastError(f"{config_path}: unknown option(s) {', '.join(unknown)}; known: {', '.join(keys)}")
    raw.update({k: v for k, v in cli.items() if k in keys and v is not None})
    return raw


def validated(model_cls, raw: dict):
    """Build a pydantic config; the first validation error becomes one ``error:`` line."""
    from pydantic import ValidationError

    try:
        return model_cls(**raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"]) or "config"
        raise AutofastError(f"invalid option {field}: {err['msg']}") from None


def default_out(command: str, task: str | None, fallback: str) -> Path:
    """``runs/<command>-<task stem>-<time>``: where a run goes without ``--out``."""
    return Path(f"runs/{command}-{Path(task or fallback).stem}-{datetime.now():%Y%m%d-%H%M%S}")
