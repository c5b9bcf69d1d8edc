"""Per-run random number generators: no training run touches torch's global RNG.

A run owns two ``torch.Generator`` s, both derived from its seed:

* ``batch`` (always on the CPU): the order of the training examples (``torch.randperm``);
* ``noise`` (on the model's device): dropout masks and DASH's Gumbel noise. Modules that draw noise
  read it from their ``generator`` attribute, which :func:`bind_noise` sets.

Model initialisation draws from torch's global CPU generator (``nn.Linear`` etc. know no other), so
:func:`seeded_init` builds a model under a process-wide lock with that generator forked and seeded:
two trials built at once in threads get exactly the weights each gets alone, and the caller's global
RNG state is left as it was.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
from torch import nn

_INIT_LOCK = threading.Lock()
STREAMS = {"batch": 1, "noise": 2}


def derive_seed(seed: int, stream: str) -> int:
    """A 63-bit seed for ``stream`` of run ``seed`` (numpy's SeedSequence: independent streams)."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, STREAMS[stream]]).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


@contextmanager
def seeded_init(seed: int) -> Iterator[None]:
    """Build a model inside this block: global CPU RNG forked and seeded with ``seed``, under a lock."""
    with _INIT_LOCK, torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


@contextmanager
def global_rng_lock() -> Iterator[None]:
    """Hold the lock :func:`seeded_init` holds. Other code that draws from torch's global RNG while runs may
    be built in other threads (a plain ``nn.Dropout``, a data augmentation) must hold it, or its draws can
    land inside another thread's seeded initialisation."""
    with _INIT_LOCK:
        yield


@dataclass
class RunRNG:
    """The generators of one run: ``batch`` (CPU) and ``noise`` (on ``device``)."""

    batch: torch.Generator
    noise: torch.Generator

    @classmethod
    def from_seed(cls, seed: int, device: str | torch.device = "cpu") -> "RunRNG":
        batch = torch.Generator().manual_seed(derive_seed(seed, "batch"))
        noise = torch.Generator(device=torch.device(device)).manual_seed(derive_seed(seed, "noise"))
        return cls(batch, noise)

    def state(self) -> dict:
        """CPU uint8 tensors (checkpoint data)."""
        return {"batch": self.batch.get_state(), "noise": self.noise.get_state()}

    def load_state(self, state: dict) -> None:
        self.batch.set_state(state["batch"].cpu())
        self.noise.set_state(state["noise"].cpu())


def bind_noise(model: nn.Module, generator: torch.Generator, extra: Iterable[nn.Module] = ()) -> int:
    """Point every noise-drawing module of ``model`` at ``generator``; return how many were bound.

    Noise-drawing modules declare ``draws_noise = True`` (``autofast.models.dropout.Dropout``); others
    (e.g. DASH's ``SearchableConv``) are passed in ``extra``. A plain ``nn.Dropout`` still uses the
    global RNG: runs with such modules (timm models) are seeded but not thread-isolated.
    """
    mods = [m for m in model.modules() if getattr(type(m), "draws_noise", False)] + list(extra)
    for m in mods:
        m.generator = generator
    return len(mods)
