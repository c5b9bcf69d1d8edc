"""The live progress table of `search` renders running jobs, results, failures and the best so far."""
import io
from pathlib import Path

from rich.console import Console

from autofast.asha.executor import Outcome
from autofast.asha.scheduler import Job
from autofast.search.progress import SearchProgress


def test_progress_table_renders_jobs_results_and_best():
    p = SearchProgress(n_configs=4)
    jobs = [Job(i, {"lr": 0.1}, 0, 0, 1) for i in range(3)]
    for j in jobs:
        p.on_start(j)
    p.stage("ASHA: 4 configurations")
    p.on_result(Outcome(jobs[0], Path("x"), 0.71, None, 1.5, "cpu#0"))
    p.on_result(Outcome(jobs[1], Path("y"), None, "RuntimeError: CUDA out of memory", 0.2, "cpu#0"))
    p.on_result(Outcome(Job(0, {"lr": 0.1}, 1, 1, 2), Path("z"), 0.65, None, 1.1, "cpu#0"))
    buf = io.StringIO()
    Console(file=buf, force_terminal=True, width=120).print(p)
    text = buf.getvalue()
    assert "ASHA: 4 configurations" in text and "running" in text and "failed" in text
    assert "jobs done 2, failed 1" in text
    assert "best 0.6500 (trial 0, rung 1)" in text  # the highest rung wins over a better lower-rung score
