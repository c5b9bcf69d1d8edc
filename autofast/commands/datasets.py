"""``python -m autofast datasets``: list the bundled data sets."""
from __future__ import annotations

import json

from .progress import make_console


def add_parser(sub) -> None:
    """Register ``datasets`` on an argparse subparsers object."""
    d = sub.add_parser("datasets", help="list the bundled data sets")
    d.add_argument("--json", action="store_true", help="print the list as JSON on stdout")
    d.set_defaults(func=run)


def run(args) -> int:
    """``python -m autofast datasets``: the bundled data sets as a table or JSON."""
    from rich.table import Table

    from autofast.data.registry import list_datasets

    ds = list_datasets()
    if args.json:
        print(json.dumps([{"name": d.name, "kind": d.kind, "path": str(d.path) if d.path else None, "description": d.description,
                           "source": d.source, "split": d.split} for d in ds], indent=2))
        return 0
    table = Table(title="Bundled data sets")
    for col in ["name", "kind", "description", "default split", "source / licence"]:
        table.add_column(col)
    for d in ds:
        table.add_row(d.name, d.kind, d.description, d.split, d.source)
    make_console().print(table)
    return 0
