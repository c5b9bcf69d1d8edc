"""autofast.runtime: threads from the CPUs the process may use (affinity, cgroup quota), passive OpenMP
waiting set before torch loads, one place for every command."""
import os
import subprocess
import sys

import pytest

from autofast import runtime


def cgroup(tmp_path, text):
    (tmp_path / "cpu.max").write_text(text)
    return tmp_path


def test_cgroup_quota_caps_the_affinity(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert runtime.usable_cpus(cgroup(tmp_path, "max 100000\n")) == 4
    assert runtime.usable_cpus(cgroup(tmp_path, "150000 100000\n")) == 2  # 1.5 CPUs -> 2 threads
    assert runtime.usable_cpus(cgroup(tmp_path, "50000 100000\n")) == 1
    assert runtime.usable_cpus(tmp_path / "missing") == 4
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    assert runtime.usable_cpus(cgroup(tmp_path, "800000 100000\n")) == 1  # affinity is the smaller


def test_cgroup_v1_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)))
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert runtime.usable_cpus(tmp_path) == 3
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert runtime.usable_cpus(tmp_path) == 8


def _fresh_python(code, extra_env=None, prefix=()):
    drop = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra_env or {})
    out = subprocess.run([*prefix, sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


CHECK = ("from autofast.runtime import configure; n = configure({arg}); import os, torch; "
         "print(n, torch.get_num_threads(), os.environ['OMP_WAIT_POLICY'], os.environ['NUMBA_NUM_THREADS'])")


def test_configure_before_torch_sets_threads_and_passive_waiting():
    n, torch_threads, policy, numba_threads = _fresh_python(CHECK.format(arg="1"))
    assert (n, torch_threads, policy, numba_threads) == ("1", "1", "PASSIVE", "1")


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or not os.path.exists("/usr/bin/taskset"),
                    reason="needs Linux affinity and taskset")
def test_default_threads_follow_the_affinity_mask_not_the_host():
    n, torch_threads, policy, _ = _fresh_python(CHECK.format(arg=""), prefix=("taskset", "-c", "0"))
    assert (n, torch_threads, policy) == ("1", "1", "PASSIVE")


def test_an_explicit_wait_policy_is_kept_and_bad_counts_are_refused():
    _, _, policy, _ = _fresh_python(CHECK.format(arg="1"), {"OMP_WAIT_POLICY": "ACTIVE"})
    assert policy == "ACTIVE"
    with pytest.raises(ValueError, match="threads must be >= 1"):
        runtime.configure(0)


def test_cli_refuses_a_negative_thread_count(capsys):
    from autofast.cli import main

    assert main(["dash", "--task", "splice", "--threads", "-1"]) == 2
    assert "--threads -1" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ thread governor


@pytest.fixture
def governed(monkeypatch):
    """A governor of 2 threads over CPUs {0, 1}, fed fake busy seconds; torch's count and the state restored."""
    import torch

    before, state = torch.get_num_threads(), dict(runtime._STATE)
    clock = {"busy": 100.0, "own": 10.0}
    monkeypatch.setattr(runtime, "_busy_seconds", lambda cpus: clock["busy"])
    monkeypatch.setattr(runtime, "_own_seconds", lambda: clock["own"])
    g = runtime.ThreadGovernor(2, frozenset({0, 1}), 2, 0.0, 100.0, 10.0)
    runtime._STATE["governor"] = g
    yield g, clock
    torch.set_num_threads(before)
    runtime._STATE.update(state)


def test_governor_follows_what_other_processes_leave(governed):
    import torch

    g, clock = governed
    clock["busy"] += 5.0  # over 3 s: 5 CPU-s busy, 2 of them ours: others kept 1.0 CPU busy on average
    clock["own"] += 2.0
    assert g.look(now=3.0) == 1 and torch.get_num_threads() == 1 and g.history[-1][1:] == (1, 1.0)
    clock["busy"] += 1.0  # 0.5 s later: too soon to look again
    assert g.look(now=3.5) == 1
    clock["own"] += 2.0  # by 6 s: all the busy time was ours, the neighbour left
    clock["busy"] += 1.0
    assert g.look(now=6.0) == 2 and torch.get_num_threads() == 2 and g.history[-1][1:] == (2, 0.0)
    clock["busy"] += 3.0 * 0.3  # a light neighbour (0.3 CPU) is no reason to drop a thread
    assert g.look(now=9.0) == 2 and len(g.history) == 2
    assert runtime.adapt_threads() == 2 and [h[1] for h in runtime.thread_history()] == [1, 2]


def test_governor_only_where_the_count_was_not_chosen(monkeypatch):
    import torch

    state, threads = dict(runtime._STATE), torch.get_num_threads()
    for var in runtime._THREAD_VARS:  # configure() writes them: monkeypatch puts them back
        monkeypatch.setenv(var, os.environ.get(var, ""))
    try:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
        monkeypatch.setattr(runtime, "usable_cpus", lambda: 2)
        monkeypatch.setattr(runtime, "_busy_seconds", lambda cpus: 5.0)
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        runtime._STATE["auto_count"] = None
        assert runtime.configure() == 2 and runtime._STATE["governor"] is not None
        assert runtime.configure() == 2 and runtime._STATE["governor"] is not None  # our own OMP_NUM_THREADS
        assert runtime.configure(2) == 2 and runtime.adapt_threads() is None  # --threads
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's
        assert runtime.configure() == 2 and runtime.adapt_threads() is None
        monkeypatch.delenv("OMP_NUM_THREADS")
        monkeypatch.setattr(runtime, "_busy_seconds", lambda cpus: None)  # no /proc/stat: nothing to measure
        assert runtime.configure() == 2 and runtime.adapt_threads() is None
        assert runtime.ThreadGovernor.start(1) is None and runtime.ThreadGovernor.start(4) is None  # 1; a quota
    finally:
        runtime._STATE.update(state)
        torch.set_num_threads(threads)


def test_busy_seconds_reads_the_cpus_of_the_mask(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 100 1 20 500 7 2 3 4 0 0\ncpu1 50 0 10 900 1 0 0 0 0 0\n"
                    "cpu2 1000 0 0 0 0 0 0 0 0 0\nintr 1 2 3\n")
    hz = os.sysconf("SC_CLK_TCK")
    assert runtime._busy_seconds(frozenset({0, 1}), stat) == pytest.approx((130 + 60) / hz)  # idle, iowait out
    assert runtime._busy_seconds(frozenset({0, 5}), stat) is None


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity") or len(os.sched_getaffinity(0)) < 2
                    or not os.path.exists("/usr/bin/taskset"), reason="needs 2 CPUs, Linux affinity and taskset")
def test_governor_sees_a_process_spinning_on_one_of_its_cpus(monkeypatch):
    import time

    import torch

    before = torch.get_num_threads()
    cpus = sorted(os.sched_getaffinity(0))
    g = runtime.ThreadGovernor.start(len(cpus))
    spinner = subprocess.Popen(["taskset", "-c", str(cpus[-1]), sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(runtime.ADAPT_INTERVAL + 0.5)
        assert g.look() == len(cpus) - 1, g
    finally:
        spinner.kill()
        spinner.wait()
        torch.set_num_threads(before)
