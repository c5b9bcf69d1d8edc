"""The conv paths one run used, kept in its run folder so that the run can be resumed or replayed with the
same numerics.

Each path computes the same convolution to float rounding, but not with the same rounding, and a small
search can turn a last-bit difference into another DASH pattern. Which path is fastest is measured, so two
processes (a run and its ``--resume`` after a kill, or two runs started together on a cold cache) may choose
differently under different load. Within :func:`recorded_run`, every conv takes the path recorded for its
shape in the run's ``conv_paths.json`` when there is one (an explicit ``AUTOFAST_CONV_PATH`` still wins), and
the path of every new shape is added to that file the moment it is chosen (so a run killed at any point
leaves the record of what it ran).

A shape's entry ignores the thread count and the machine (they change the timings, not the arithmetic), so
a record also replays on another machine or with ``--threads`` changed.
"""
from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

FORMAT = "autofast-run-conv-paths/1"
FILE = "conv_paths.json"
_SHAPE_FIELDS = ("kind", "x", "weight", "taps", "groups", "stride", "dtype", "autocast", "device", "grad")
_PATHS = ("native", "tap", "fft")


def shape_key(desc: dict) -> str:
    """A conv's numeric identity: its description (:func:`.conv_path.make_key`) less threads and machine."""
    return "|".join(str(desc.get(f)) for f in _SHAPE_FIELDS)


def read_record(where: str | os.PathLike) -> dict[str, dict]:
    """shape key -> entry (``path`` plus the conv's description) from a run's ``conv_paths.json``, or from the
    run folder holding one. Raises ``ValueError`` with a one-line reason when it is missing or not a record."""
    file = Path(where)
    if file.is_dir():
        file = file / FILE
    try:
        obj = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{file}: no such file; give a run folder of search or dash, or its {FILE}") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{file}: unreadable ({type(exc).__name__}); give the {FILE} a run wrote") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT or not isinstance(obj.get("paths"), dict):
        raise ValueError(f"{file}: not a conv-path record (format {FORMAT!r} expected); give the {FILE} a run wrote")
    bad = [k for k, v in obj["paths"].items() if not isinstance(v, dict) or v.get("path") not in _PATHS]
    if bad:
        raise ValueError(f"{file}: entry {bad[0]!r} names no conv path ({', '.join(_PATHS)}); restore the file "
                         "from the run folder it came from")
    return dict(obj["paths"])


class RunRecord:
    """The paths of one run: ``pinned(desc)`` answers from the record, ``add(desc, path)`` extends it on disk."""

    def __init__(self, file: Path | None, entries: dict[str, dict]):
        self.file = None if file is None else Path(file)
        self.entries = dict(entries)
        self._lock = threading.Lock()

    def pinned(self, desc: dict) -> str | None:
        entry = self.entries.get(shape_key(desc))
        return None if entry is None else entry["path"]

    def add(self, desc: dict, path: str) -> None:
        key = shape_key(desc)
        with self._lock:
            if key in self.entries:
                return
            self.entries[key] = {"path": path, **{f: desc.get(f) for f in _SHAPE_FIELDS}}
            self.write()

    def snapshot(self) -> dict[str, dict]:
        """A copy of the entries (to hand to another process)."""
        with self._lock:
            return {k: dict(v) for k, v in self.entries.items()}

    def merge(self, entries: dict[str, dict]) -> None:
        """Add what another process recorded (shapes already here keep their path: the first choice stands)."""
        for entry in entries.values():
            if isinstance(entry, dict) and entry.get("path") in _PATHS:
                self.add(entry, entry["path"])

    def write(self) -> None:
        """The record, atomically (a kill leaves the old or the new file, never half of one); no file: kept in
        memory only."""
        if self.file is None:
            return
        tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(json.dumps({"format": FORMAT, "paths": self.entries}, indent=1, sort_keys=True))
        os.replace(tmp, self.file)


def active_record() -> RunRecord | None:
    """The record of the run in progress in this process (inside :func:`recorded_run`), else None."""
    from . import conv_path

    return conv_path.CACHE.run


@contextmanager
def recorded_run(file: str | os.PathLike | None, replay: str | os.PathLike | None = None,
                 entries: dict[str, dict] | None = None) -> Iterator[RunRecord]:
    """Within: this process's convs take the paths recorded in ``file`` (a run folder's ``conv_paths.json``;
    read if it exists, as on ``--resume``), and each new shape's path is added to it (None: a record kept in
    memory). ``replay``: a record of another run (its file or run folder) whose entries are copied in first,
    for the shapes ``file`` lacks. ``entries``: a record's entries handed over in memory (a worker process
    of a distributed executor runs the driver's record: :class:`autofast.asha.ray_executor.RayExecutor`)."""
    from . import conv_path

    file = None if file is None else Path(file)
    entries = {**(entries or {}), **(read_record(file) if file is not None and file.exists() else {})}
    if replay is not None:
        entries = {**read_record(replay), **entries}
    record = RunRecord(file, entries)
    if replay is not None:
        record.write()
    cache = conv_path.CACHE
    previous, cache.run = cache.run, record
    cache.memo.clear()  # choices memoised before (or for another run) must be looked up again
    cache.clear_used()  # path_summary() inside lists this run's shapes, not an earlier run's in this process
    try:
        yield record
    finally:
        cache.run = previous
        cache.memo.clear()
