"""Run folders and atomic file output: write to a temporary file in the same folder, then rename;
create run folders with one-line errors; lock a run folder for the life of a run.

Every run folder autofast makes holds the marker file ``.autofast-run`` (:func:`mark_run_dir`): ``--overwrite``
deletes only folders that have it (or empty ones), never another folder a mistyped ``--out`` names."""
from __future__ import annotations

import errno
import fcntl
import json
import math
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from .errors import AutofastError

RUN_MARKER = ".autofast-run"
#: a run's scored result, written before its final model is saved and removed once ``result.json`` is written: a run
#: stopped between them is completed from it by ``--resume`` (:func:`autofast.commands.options.finished_result`)
PENDING_RESULT = ".result.pending.json"


class RunFolderInUse(AutofastError):
    """Another process holds the run folder's lock: the folder is that process's, left as it is."""


def mark_run_dir(run_dir: str | os.PathLike, command: str = "") -> None:
    """Write the marker that makes ``run_dir`` an autofast run folder (what ``--overwrite`` may replace)."""
    path = Path(run_dir) / RUN_MARKER
    if not path.exists():
        write_json_atomic(path, {"format": "autofast-run/1", "command": command})


def is_run_folder(path: str | os.PathLike) -> bool:
    """True when ``path`` is a folder autofast made (it holds :data:`RUN_MARKER`)."""
    return (Path(path) / RUN_MARKER).is_file()


def lock_holder(run_dir: Path) -> str | None:
    """The pid another process holding ``run_dir``'s lock (:func:`run_lock`) wrote, or None when none holds it."""
    path = run_dir / ".lock"
    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return None
    except BlockingIOError:
        return os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
    finally:
        os.close(fd)


def check_replaceable(path: Path, flag: str = "--out", command: str = "") -> None:
    """One line refusing to replace ``path`` (``--overwrite``) when it is a non-empty folder without the
    marker (a folder autofast did not make, or made before the marker existed), a run folder a running
    process holds (a search in progress), or another command's run folder (``command`` given: a forecast's
    ``--overwrite`` never deletes a finished search)."""
    if not (path.exists() and any(path.iterdir())):
        return
    if not is_run_folder(path):
        raise AutofastError(f"--overwrite: {flag} {str(path)!r} is not an autofast run folder (no {RUN_MARKER} "
                            f"file), so it was left alone; delete it yourself or choose another {flag}")
    holder = lock_holder(path)
    if holder is not None:
        raise RunFolderInUse(f"--overwrite: {flag} {str(path)!r} is in use by a running autofast process (pid "
                             f"{holder}), so it was left alone; wait for it to finish or choose another {flag}")
    try:
        made_by = str(json.loads((path / RUN_MARKER).read_text()).get("command") or "")
    except (OSError, ValueError, AttributeError):
        made_by = ""
    if command and made_by and made_by != command:
        raise AutofastError(f"--overwrite: {flag} {str(path)!r} is a {made_by} run folder, which {command} does not "
                            f"replace; delete it yourself or choose another {flag}")


def remove_run_dir(path: Path, flag: str = "--out", command: str = "") -> None:
    """Delete the run folder ``path`` (for ``--overwrite``), after :func:`check_replaceable`."""
    check_replaceable(path, flag, command)
    shutil.rmtree(path)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``, on error it is removed."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix, dir=path.parent)
        os.close(fd)
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the result is an ordinary file
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        name = Path(str(exc.filename))
        if exc.filename is None or name == path.parent or name.parent == path.parent and name.name.startswith(
                f".{path.name}."):  # name the file the caller asked for, not its temporary
            raise OSError(exc.errno, exc.strerror, str(path)) from None
        raise
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _strict(obj: Any) -> Any:
    """``obj`` with every float NaN or infinity as None (JSON's null): Python's ``json`` writes them as ``NaN``,
    which is not JSON (``jq``, ``JSON.parse`` refuse the file); numpy arrays and scalars as lists and numbers."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if hasattr(obj, "tolist") and type(obj).__module__ == "numpy":
        return _strict(obj.tolist())
    return obj


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    """``obj`` as strict JSON (NaN and infinities as null: :func:`_strict`), atomically."""
    write_text_atomic(path, json.dumps(_strict(obj), indent=2, default=str, allow_nan=False) + "\n")


def make_run_dir(path: str | os.PathLike, flag: str = "--out", named: str | os.PathLike | None = None) -> Path:
    """Create the folder ``path`` (and its parents) and check it is writable; an OS refusal becomes one
    :class:`AutofastError` line naming ``flag`` and ``named`` (default ``path``)."""
    path = Path(path)
    named = str(named if named is not None else path)
    if path.exists() and not path.is_dir():
        raise AutofastError(f"{flag} {named!r}: {str(path)!r} is a file, not a folder; choose another {flag}")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-")  # writable, not only creatable
        probe.close()
    except OSError as exc:
        raise AutofastError(f"{flag} {named!r}: cannot create or write the folder ({_reason(exc)}); "
                            f"choose another {flag}") from None
    return path


def _reason(exc: OSError) -> str:
    where = f" at {exc.filename!r}" if exc.filename and exc.errno != errno.ENOSPC else ""
    return f"{exc.strerror or exc}{where}"


@contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold an exclusive OS lock (``flock``) on ``run_dir/.lock`` for the ``with`` block.

    A second process on the same folder is refused with one line. The kernel drops the lock when its
    holder dies (also on kill -9), so a stale lock file never blocks a later resume.
    """
    path = Path(run_dir) / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise RunFolderInUse(f"run folder {str(run_dir)!r} is in use by another autofast process (pid {holder}); "
                                "wait for it to finish, or stop it first") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def locked_run_dir(run_dir: Path, fresh: bool, keep: Callable[[], bool], command: str = "") -> Iterator[None]:
    """Hold ``run_dir``'s lock (:func:`run_lock`) and mark it a run folder for the ``with`` block. If the block
    fails, a ``fresh`` folder (this call's, just created) with nothing worth keeping (``keep()`` False) is
    deleted while the lock is still held. A process that does not get the lock (:class:`RunFolderInUse`)
    deletes nothing: the folder is the holder's."""
    with run_lock(run_dir):
        try:
            mark_run_dir(run_dir, command)
            yield
        except BaseException:
            if fresh and not keep():
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


@contextmanager
def staged_run_dir(out: Path, overwrite: bool = False, command: str = "") -> Iterator[Path]:
    """Yield a temp folder beside ``out`` (marked as a run folder); it becomes ``out`` on success and is
    deleted on failure (any exception, Ctrl-C, or SIGTERM turned into ``KeyboardInterrupt`` by the CLI).

    ``overwrite`` replaces an existing ``out`` only when it is an autofast run folder (or empty). Without it,
    a folder another run wrote to ``out`` meanwhile is left alone (this run's results are not kept)."""
    out = Path(out)
    where = out.resolve()  # '--out .': its temporary folder beside it, not inside it
    if out.exists() and not out.is_dir():
        raise AutofastError(f"--out {str(out)!r} is a file, not a folder; choose another --out")
    if out.exists() and Path.cwd().resolve().is_relative_to(where):  # the folder is replaced: a shell in it
        raise AutofastError(f"--out {str(out)!r} is or holds the current folder, which the run folder would replace "
                            "(the shell would be left in a deleted folder); give a new folder name")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise AutofastError(f"output folder {str(out)!r} exists and is not empty; choose another --out or pass "
                                "--overwrite")
        check_replaceable(out, command=command)  # before any work
    make_run_dir(where.parent, named=out)
    for old in where.parent.glob(f".{where.name}.tmp-*"):  # a killed run's (kill -9 skips the cleanup below)
        if old.is_dir() and is_run_folder(old) and (old / ".lock").is_file() and lock_holder(old) is None:
            shutil.rmtree(old, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{where.name}.tmp-", dir=where.parent))
    try:
        mark_run_dir(tmp, command)
        with run_lock(tmp):  # held while it runs: a later run sweeps it only once its owner is gone
            yield tmp
            os.chmod(tmp, 0o755)  # mkdtemp makes it private; a run folder is an ordinary folder
            if out.exists() and any(out.iterdir()):
                if not overwrite:  # another run wrote it while this one ran: it is that run's
                    raise AutofastError(f"output folder {str(out)!r} was written by another run while this one ran; "
                                        "it was left alone and this run's results were not kept; rerun with another "
                                        "--out")
                remove_run_dir(out, command=command)
            (tmp / ".lock").unlink(missing_ok=True)  # (the held descriptor stays valid) not left in the run folder
            os.replace(tmp, where)  # onto an empty folder too
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def read_yaml(path: str | os.PathLike, what: str = "file") -> Any:
    """The plain data in the YAML file at ``path`` (``yaml.safe_load``: tags that build objects are refused).

    Every problem is one :class:`AutofastError` line naming the file; the file's contents are never echoed.
    """
    import yaml

    p = Path(path)
    if not p.exists():
        raise AutofastError(f"{what} {str(path)!r} does not exist; check the path")
    if not p.is_file():
        raise AutofastError(f"{what} {str(path)!r} is not a file (a folder?); give a .yaml file")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise AutofastError(f"{what} {str(path)!r} is not a UTF-8 text file; give a YAML file") from None
    except OSError as exc:
        raise AutofastError(f"{what} {str(path)!r} cannot be read ({_reason(exc)})") from None
    if "\x00" in text:
        raise AutofastError(f"{what} {str(path)!r} is a binary file, not YAML; give a YAML file")
    try:
        return yaml.safe_load(text)  # data only: safe_load never builds objects
    except yaml.constructor.ConstructorError as exc:
        found = re.search(r"'([^']*)'", exc.problem or "")
        tag = f" ({found.group(1).replace('tag:yaml.org,2002:', '!!')[:60]})" if found else ""
        raise AutofastError(f"{path}: YAML tags{tag} are not allowed; a {what} holds plain data "
                            "(mappings, lists, strings, numbers)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise AutofastError(f"{path}: invalid YAML{where}; fix the syntax") from None
