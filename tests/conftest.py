"""Shared test set-up. Triton runs in its CPU interpreter when there is no CUDA device; the variable
must be set before anything imports triton, hence here."""
import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from autofast.runtime import configure

# the conv-path dispatcher's measurements go to a per-session cache, never the user's ~/.cache
if "AUTOFAST_CACHE_DIR" not in os.environ:
    os.environ["AUTOFAST_CACHE_DIR"] = tempfile.mkdtemp(prefix="autofast-test-cache-")
    atexit.register(shutil.rmtree, os.environ["AUTOFAST_CACHE_DIR"], ignore_errors=True)

configure()  # threads from the usable CPUs, passive OpenMP waiting: before torch starts its pool
import torch  # noqa: E402

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def seed() -> int:
    """A fresh random seed per test, printed so a failure can be replayed (AUTOFAST_TEST_SEED=...)."""
    import random

    s = int(os.environ.get("AUTOFAST_TEST_SEED", random.SystemRandom().randrange(2**31)))
    print(f"test seed = {s}")
    return s


def _hypothesis_profiles() -> None:
    """The fuzz suite's budgets: ``default`` (small, derandomised: the normal test run) and ``nightly``
    (``HYPOTHESIS_PROFILE=nightly``: many random examples)."""
    from hypothesis import settings

    settings.register_profile("default", max_examples=25, deadline=None, derandomize=True, print_blob=True)
    settings.register_profile("nightly", max_examples=1000, deadline=None, print_blob=True)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


_hypothesis_profiles()
