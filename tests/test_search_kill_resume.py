"""`python -m autofast search` killed with SIGKILL mid-ASHA, then `--resume RUN_DIR`: the search ends with
the same finished trials as an uninterrupted run (no finished rung lost, nothing trained twice)."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from autofast.cli import main

ARGS = ["--task", "splice", "--search-epochs", "1", "--search-width", "4", "--retrain-width", "8",
        "--n-configs", "6", "--max-epochs", "4", "--threads", "1", "--json"]


def _results(journal):
    try:
        with sqlite3.connect(journal) as con:
            return con.execute("SELECT COUNT(*) FROM events WHERE kind = 'result'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _finished(res):
    return [(t["trial_id"], t["config"], t["status"], t["rung"], {k: round(v, 6) for k, v in t["scores"].items()})
            for t in res["asha"]["trials"]]


def test_sigkill_mid_search_then_resume_matches_uninterrupted_run(tmp_path, capsys):
    killed = tmp_path / "killed"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "autofast", "search", "--out", str(killed), *ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    journal = killed / "asha" / "asha.sqlite"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and _results(journal) < 3:
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"the search ended (rc {proc.returncode}) before it could be killed mid-ASHA")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_before = _results(journal)
    assert 3 <= n_before and not (killed / "result.json").exists()

    assert main(["search", "--resume", str(killed), "--json"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert main(["search", "--out", str(tmp_path / "straight"), *ARGS]) == 0
    straight = json.loads(capsys.readouterr().out)

    assert _finished(resumed) == _finished(straight)
    assert resumed["asha"]["best_trial"] == straight["asha"]["best_trial"]
    with sqlite3.connect(journal) as con:  # every rung result is recorded once: nothing was redone
        rows = con.execute("SELECT trial_id, rung, COUNT(*) FROM events WHERE kind = 'result' GROUP BY 1, 2").fetchall()
    assert rows and all(n == 1 for _, _, n in rows)
