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
