"""The CLI's subcommands, one module each: ``add_parser(subparsers)`` registers the command's flags and its
``run(args) -> int``. :mod:`autofast.cli` only assembles them and maps expected failures to one line.
Shared option handling (YAML ``--config`` files merged with flags, validated configs) is in :mod:`.options`.
"""
