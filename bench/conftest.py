"""Shared fixtures of the benchmarks in bench/ (run: ``python -m pytest bench/ --benchmark-only``)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from autofast.runtime import configure

configure()  # as every command does: threads from the usable CPUs, passive OpenMP waiting, before torch loads

LOADAVG_AT_START = os.getloadavg()  # other jobs on a 2-core machine distort every number: record it
BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:  # `import anchors` whatever pytest's import mode
    sys.path.insert(0, str(BENCH_DIR))


@pytest.fixture(scope="session")
def etth1():
    """ETTh1 prepared as the pipeline does it (ETT split, z-scored with training statistics)."""
    from autofast.data.registry import resolve_timeseries
    from autofast.data.timeseries import PreparedSeries, load_series

    name, path = resolve_timeseries("ETTh1")
    return PreparedSeries.build(name, load_series(path))


@pytest.fixture(scope="session")
def numba_backend():
    """The numba backend, its kernels compiled (or loaded from numba's cache) before any timing."""
    import numpy as np

    from autofast.kernels.ar_grid import get_backend

    be = get_backend("numba", "cpu")  # numpy arrays in and out
    if be.name != "numba":
        pytest.skip("numba backend unavailable")
    z = np.random.default_rng(0).standard_normal((2, 64))
    be.window_moments(z, 8, 0, 16)
    psi = np.array([[0.5, 0.1]])
    be.ar_forecast_weights(psi, np.zeros(1), 4)
    mom = be.window_moments(z, 3, 0, 16)[0]
    be.ar_grid_scores(psi, np.zeros(1), mom[:3, :3], mom[:3, 1:2], mom[1, 1:2], 16)
    be.forecast_error_sums(z, np.tile(psi, (2, 1)), np.zeros(2), 0, 8, 4, 3)
    return be


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record what the numbers depend on: CPU model, cores, load, library versions."""
    import platform

    import numba
    import numpy
    import torch

    model = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    machine_info.update({
        "cpu_model": model, "logical_cpus": os.cpu_count(), "loadavg_at_start": LOADAVG_AT_START,
        "loadavg_at_end": os.getloadavg(),
        "torch": torch.__version__, "torch_threads": torch.get_num_threads(), "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS, "numpy": numpy.__version__,
    })
    try:
        import statsforecast

        machine_info["statsforecast"] = statsforecast.__version__
    except ImportError:
        pass


@pytest.fixture(scope="module")
def splice():
    """The bundled splice task (stratified split, seed 0), as the commands load it."""
    from autofast.data.supervised import load_task

    return load_task("splice", seed=0)


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits (stratified split, seed 0), as the commands load it."""
    from autofast.data.supervised import load_task

    return load_task("digits", seed=0)
