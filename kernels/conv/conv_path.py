"""Which exact implementation runs a convolution: chosen by measurement, cached on disk.

The idea of ``torch.backends.cudnn.benchmark``, across implementations: the first time a conv sees a
(kind, shape, dtype, autocast dtype, device, threads) key, every applicable path runs a few forward (+ backward when
gradients are needed) passes on synthetic data of that shape and the fastest is kept: in memory for
the process and in a JSON file for later runs. Every path computes the same convolution exactly (to
float rounding; each is tested against the float64 reference).

Paths:

* ``native`` -- torch's own convolution (oneDNN on the CPU, cuDNN on the GPU) with native stride and
  dilation; for a DASH mixed layer, the dense aggregated kernel (largest receptive field) through it.
* ``tap`` -- autofast's tap convolution over the live (union of) taps: the C++/OpenMP depthwise kernel
  or per-tap GEMMs on the CPU, Triton on the GPU (:mod:`.tap_conv`).
* ``fft`` -- the tap convolution's FFT backend (dense convs, ``groups == 1`` only).

Override with the commands' ``--conv-path`` (their config's ``conv_path``, put in force by
:func:`forced_path`) or ``AUTOFAST_CONV_PATH`` (``auto``, ``native``, ``tap``, ``fft``; a path that does not
apply to a conv falls back to ``tap``). ``AUTOFAST_CACHE_DIR`` moves the cache file (default
``~/.cache/autofast``). :func:`path_choices` lists what this process chose. A run (``search``, ``dash``)
records the path of every shape in its folder and reuses that record on ``--resume`` (:mod:`.run_record`):
the measured choice is per machine, a run's numerics are fixed once chosen.
"""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import torch

PATHS = ("auto", "native", "tap", "fft")
ENV = "AUTOFAST_CONV_PATH"
_FORMAT = "autofast-conv-paths/1"
PREFERRED_MARGIN = 0.1  # another path must beat the preferred (first-listed) one by 10% to be chosen


_FORCED: dict[str, str | None] = {"path": None}  # set by forced_path() for the calls inside it


@contextmanager
def forced_path(path: str | None) -> Iterator[None]:
    """Within: every conv of this process (all threads) that does not name its path takes ``path`` (a command's
    config's ``conv_path``, through :func:`autofast.engine.numerics.in_force`; None or 'auto': no change); it
    wins over ``$AUTOFAST_CONV_PATH``."""
    if path is not None and path not in PATHS:
        raise ValueError(f"unknown conv path {path!r}; choose one of {', '.join(PATHS)}")
    previous = _FORCED["path"]
    if path not in (None, "auto"):
        _FORCED["path"] = path  # the memo needs no clearing: its key holds the requested path
    try:
        yield
    finally:
        _FORCED["path"] = previous


def requested_path(path: str = "auto") -> str:
    """The path asked for: ``path`` unless it is 'auto', then :func:`forced_path`'s, then
    ``$AUTOFAST_CONV_PATH`` (default 'auto')."""
    source = "the path argument"
    if path == "auto":
        path = _FORCED["path"] or os.environ.get(ENV, "auto") or "auto"
        source = "$" + ENV  # (forced_path checks its own)
    if path not in PATHS:
        raise ValueError(f"unknown conv path {path!r} (from {source}); choose one of {', '.join(PATHS)}")
    return path


def tap_backend_forced(backend: str) -> bool:
    """True when a tap-kernel backend was asked for (``backend=`` or ``$AUTOFAST_CONV_BACKEND``): that
    request forces the tap path."""
    return backend != "auto" or os.environ.get("AUTOFAST_CONV_BACKEND", "auto") not in ("", "auto")


def cache_file() -> Path:
    """The on-disk cache, one file per torch version (timings do not transfer across versions)."""
    root = os.environ.get("AUTOFAST_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "autofast")
    return Path(root) / f"conv_paths-torch{torch.__version__.split('+')[0]}.json"


@lru_cache(maxsize=None)
def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return _cuda_name(device.index if device.index is not None else torch.cuda.current_device())
    return _cpu_name()


@lru_cache(maxsize=None)
def _cuda_name(index: int) -> str:
    return torch.cuda.get_device_name(index)


class PathCache:
    """Thread-safe key -> chosen path store, backed by a JSON file (read once, merged on write)."""

    def __init__(self, file: Path | None = None):
        self._file = file
        self._lock = threading.RLock()
        self._entries: dict[str, dict] | None = None
        self._used: dict[str, dict] = {}
        self.memo: dict[tuple, str] = {}  # call signature -> path: repeat calls skip key building and the lock
        self.run = None  # the RunRecord of the run in progress (:func:`.run_record.recorded_run`), if any

    @property
    def file(self) -> Path:
        return self._file or cache_file()

    def _load(self) -> dict[str, dict]:
        if self._entries is None:
            self._entries = self._read()
        return self._entries

    def _read(self) -> dict[str, dict]:
        try:
            obj = json.loads(self.file.read_text())
            if obj.get("format") == _FORMAT and isinstance(obj.get("entries"), dict):
                return {k: v for k, v in obj["entries"].items() if isinstance(v, dict) and v.get("path") in PATHS}
        except (OSError, ValueError, AttributeError):
            pass  # missing or unreadable: measure again (the cache is only an accelerator)
        return {}

    def _write(self, key: str, entry: dict) -> None:
        try:
            merged = self._read()
            merged[key] = entry
            self.file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.file.with_name(f".{self.file.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps({"format": _FORMAT, "entries": merged}, indent=0, sort_keys=True))
            os.replace(tmp, self.file)
        except OSError:
            pass  # a read-only home is no reason to fail a run

    def select(self, key: str, runners: Callable[[], dict[str, Callable[[], None]]], describe: dict) -> str:
        """The cached path for ``key``, or measure ``runners()`` (path -> one synthetic pass, the preferred
        path first) and keep the fastest, unless it beats the preferred one by less than
        ``PREFERRED_MARGIN``. ``describe`` is stored beside the choice (shapes, for reports)."""
        with self._lock:
            entry = self._load().get(key)
            if entry is None:
                times: dict[str, float] = {}
                for p, fn in runners().items():  # a path 3x slower than the best after its first call stops there
                    times[p] = _time(fn, give_up=3 * min(times.values(), default=float("inf")))
                best = min(times, key=times.get)
                first = next(iter(times))  # the preferred path keeps near-ties (timing noise on a shared machine)
                if times[best] > (1 - PREFERRED_MARGIN) * times[first]:
                    best = first
                entry = {"path": best, "ms": {p: round(t * 1e3, 4) for p, t in times.items()}, **describe}
                self._entries[key] = entry
                self._write(key, entry)
                entry = {**entry, "measured": True}
            self._used.setdefault(key, entry)
            return entry["path"]

    def record_forced(self, key: str, path: str, describe: dict, how: str = "forced") -> None:
        with self._lock:
            self._used.setdefault(key, {"path": path, how: True, **describe})

    def used(self) -> list[dict]:
        with self._lock:
            return [{"key": k, **v} for k, v in self._used.items()]

    def clear_used(self) -> None:
        with self._lock:
            self._used.clear()


def _time(fn: Callable[[], None], min_seconds: float = 0.03, max_reps: int = 8, give_up: float = float("inf")) -> float:
    """Best-of wall time of ``fn`` after one warm-up call (inf if it raises). A path whose warm-up is
    slower than ``give_up`` seconds gets one more call, since one-time costs land in the first (Triton
    compiles a kernel there: ~1 s on an H200 for a call that then takes ~1 ms); if that is slower too,
    it is returned as it is (that path has lost already)."""
    try:
        t0 = time.perf_counter()
        fn()
        first = time.perf_counter() - t0
        if first > give_up:
            t0 = time.perf_counter()
            fn()
            first = time.perf_counter() - t0
            if first > give_up:
                return first
        best, spent, reps = float("inf"), 0.0, 0
        while reps < 3 or (spent < min_seconds and reps < max_reps):
            t0 = time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            best, spent, reps = min(best, dt), spent + dt, reps + 1
        return best
    except (RuntimeError, ValueError, NotImplementedError):
        return float("inf")


CACHE = PathCache()
"""The process's path cache (like cuDNN's benchmark cache: a cache, not configuration)."""


def path_choices() -> list[dict]:
    """Every conv key this process ran, with the path chosen (and its measured ms per path)."""
    return CACHE.used()


def path_summary() -> list[dict]:
    """:func:`path_choices` as JSON-ready report rows: kind, input shape (batch rounded up to a power of
    two), weight shape, taps, groups, stride, gradients, path, how it was chosen and the ms per path."""
    rows = []
    for c in path_choices():
        how = ("forced" if c.get("forced") else "the run's record" if c.get("recorded")
               else "measured now" if c.get("measured") else "cached")
        rows.append({k: c.get(k) for k in ("kind", "x", "weight", "taps", "groups", "stride", "grad", "path")}
                    | {"how": how, "ms": c.get("ms", {})})
    return rows


def autocast_state(device: torch.device) -> str:
    """'off', or the dtype autocast runs convs in on ``device``'s type ('bfloat16', 'float16'): a conv called
    with fp32 tensors under autocast computes in that dtype, so its timings are not the fp32 ones."""
    if device.type not in ("cpu", "cuda") or not torch.is_autocast_enabled(device.type):
        return "off"
    return str(torch.get_autocast_dtype(device.type)).replace("torch.", "")


def make_key(kind: str, x: torch.Tensor, w: torch.Tensor, taps: str, groups: int, stride: int) -> tuple[str, dict]:
    """A cache key (and a readable description) for one conv call: which gradients are needed is part
    of it (forward-only evaluation and training passes may prefer different paths), and so is the
    autocast dtype (:func:`autocast_state`); the batch size is rounded up to a power of two (a last,
    smaller batch reuses the full batches' choice)."""
    grad = "none"
    if torch.is_grad_enabled() and (x.requires_grad or w.requires_grad):
        grad = "x,w" if x.requires_grad and w.requires_grad else ("x" if x.requires_grad else "w")
    batch = 1 << max(0, int(x.shape[0]) - 1).bit_length()  # batch sizes share a key per power of two
    desc = {"kind": kind, "x": [batch, *x.shape[1:]], "weight": list(w.shape), "taps": taps, "groups": groups,
            "stride": stride, "dtype": str(x.dtype).replace("torch.", ""), "autocast": autocast_state(x.device),
            "device": x.device.type,
            "grad": grad, "threads": torch.get_num_threads()}
    key = "|".join(str(v) for v in desc.values()) + "|" + device_name(x.device)
    return key, desc


def choose(kind: str, x: torch.Tensor, w: torch.Tensor, taps: str, groups: int, stride: int,
           candidates: tuple[str, ...], runner: Callable[[str], Callable[[], None]], path: str = "auto") -> str:
    """The path to run: forced by ``path``/``$AUTOFAST_CONV_PATH`` (falling back to 'tap' where the forced
    one is not among ``candidates``), else measured once per key. ``runner(p)`` returns a closure doing
    one synthetic pass with path ``p``."""
    want = requested_path(path)
    if x.shape[0] == 0:  # an empty batch: the tap kernels cannot reshape it (a reshape or MKL error)
        return "native"
    if _cannot_measure(x):  # fake/meta tensors, tracing (torch.compile): no data to time; the forced or first path
        return want if want in candidates else candidates[0]
    if native_only(x, w):
        return "native"
    grad = torch.is_grad_enabled()
    sig = (kind, x.shape, w.shape, taps, groups, stride, x.dtype, x.device, grad and x.requires_grad,
           grad and w.requires_grad, want, torch.get_num_threads(), autocast_state(x.device))
    cache = CACHE
    hit = cache.memo.get(sig)
    if hit is not None:
        return hit
    cache.memo[sig] = chosen = _choose(kind, x, w, taps, groups, stride, candidates, runner, want, cache)
    return chosen


def _choose(kind, x, w, taps, groups, stride, candidates, runner, want: str, cache: PathCache) -> str:
    key, desc = make_key(kind, x, w, taps, groups, stride)
    run = cache.run
    pinned = run.pinned(desc) if want == "auto" and run is not None else None
    if pinned in candidates:  # a resumed or replayed run
        cache.record_forced(key, pinned, desc, how="recorded")
        return pinned
    if want != "auto" or len(candidates) == 1:
        chosen = want if want in candidates else ("tap" if "tap" in candidates else candidates[0])
        cache.record_forced(key, chosen, desc)
    else:
        chosen = cache.select(key, lambda: {p: runner(p) for p in candidates}, desc)
    if run is not None:
        run.add(desc, chosen)  # what ran, whatever chose it: a resume without the override runs the same
    return chosen


def synthetic_pass(x: torch.Tensor, w: torch.Tensor, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                   ) -> Callable[[], None]:
    """A closure running ``fn`` on random tensors shaped like ``x`` and ``w`` (drawn from a private
    generator: measuring never moves the global RNG), with the backward pass when ``x``/``w`` need
    gradients under grad mode."""
    g = torch.Generator(device=x.device).manual_seed(0)
    grad = torch.is_grad_enabled()
    xs = torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype).requires_grad_(grad and x.requires_grad)
    ws = torch.randn(w.shape, generator=g, device=w.device, dtype=w.dtype).requires_grad_(grad and w.requires_grad)
    need = grad and (xs.requires_grad or ws.requires_grad)

    def run() -> None:
        with torch.set_grad_enabled(need):
            y = fn(xs, ws)
            if need:
                y.backward(torch.ones_like(y))
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)

    return run


def native_only(*tensors: torch.Tensor) -> bool:
    """Inputs only the native path (torch's own conv) differentiates: tensors of a ``torch.func`` transform
    (``jvp``, ``grad``, ``jacrev``, ``vmap``) or with forward-mode tangents (``torch.autograd.forward_ad``) -- the
    tap ops have backward formulas only, and ``jvp`` through them gave zero tangents without a word."""
    if any(torch._C._functorch.is_functorch_wrapped_tensor(t) for t in tensors):
        return True
    from torch.autograd import forward_ad

    return forward_ad._current_level >= 0 and any(forward_ad.unpack_dual(t).tangent is not None for t in tensors)


def _cannot_measure(x: torch.Tensor) -> bool:
    if x.device.type == "meta":
        return True
    try:
        if torch.compiler.is_compiling():
            return True
    except AttributeError:  # pragma: no cover
        pass
    return type(x).__name__ == "FakeTensor"
