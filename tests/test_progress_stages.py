"""Stage messages of the long-running commands (autofast.commands.progress): in a log, one line per stage."""
import io
import time

from rich.console import Console

from autofast.commands.progress import stage, steps


def _log_console():
    buf = io.StringIO()
    return Console(file=buf, force_terminal=False, width=200), buf


def test_stage_in_a_log_says_a_slow_stage_once_and_every_update():
    con, buf = _log_console()
    with stage(con, "quick…", delay=0.5):
        pass  # finished (or refused) before the delay: nothing printed
    assert buf.getvalue() == ""
    with stage(con, "slow…", delay=0.05):
        time.sleep(0.3)
    with stage(con, "updated…", delay=0.05) as say:
        say("step one")
        time.sleep(0.2)
    assert buf.getvalue().splitlines() == ["slow…", "step one"]


def test_steps_in_a_log_and_in_a_terminal():
    con, buf = _log_console()
    with steps(con, "fits", 2) as step:
        step("a")
        step("b")
    assert buf.getvalue().splitlines() == ["fits", "  [1/2] a", "  [2/2] b"]
    term = Console(file=io.StringIO(), force_terminal=True, width=100)
    with steps(term, "fits", 2) as step:
        step("a")
        step("b")
    quiet = Console(file=io.StringIO(), quiet=True)
    with steps(quiet, "fits", 1) as step, stage(quiet, "x", delay=0) as say:
        step("a")
        say("b")
    assert quiet.file.getvalue() == ""
