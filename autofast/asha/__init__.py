"""ASHA (asynchronous successive halving) scheduler: search spaces, ask/tell scheduler, SQLite journal.

Dependency-free (stdlib + numpy). Typical driver loop::

    from autofast.asha import ASHA, Journal
    sched = ASHA({"lr": {"loguniform": [1e-5, 0.5]}}, min_resource=1, max_resource=20, eta=2)
    sched.attach(Journal("search.sqlite"))          # or: sched = ASHA.resume("search.sqlite")
    while not sched.is_finished():
        job = sched.ask()
        if job is None:
            ...                                     # wait for a pending job to finish
            continue
        score = train(job.config, job.resource_from, job.resource_to)
        sched.tell(job.trial_id, job.rung, score)

A complete example around a plain PyTorch loop (checkpoint resume included): ``examples/asha_plain_loop.py``.
Several trials at once: ``autofast.asha.executor.drive(sched, LocalPool(trial_fn, devices, per_device), ckdir)``;
on a Ray cluster: ``drive(sched, autofast.asha.ray_executor.RayExecutor(trial_fn, address=...), ckdir)``.
New configurations come from ``ASHA(..., sampler="random" | "grid" | "tpe")`` (:mod:`autofast.asha.samplers`).
"""
from autofast.asha.journal import Journal
from autofast.asha.local import TorchTrial, run_local
from autofast.asha.scheduler import ASHA, Job, rung_resources
from autofast.asha.space import (
    choice,
    loguniform,
    parse_space,
    randint,
    sample_config,
    space_to_data,
    uniform,
)

__all__ = [
    "ASHA",
    "Job",
    "Journal",
    "TorchTrial",
    "run_local",
    "rung_resources",
    "choice",
    "loguniform",
    "parse_space",
    "randint",
    "sample_config",
    "space_to_data",
    "uniform",
]
