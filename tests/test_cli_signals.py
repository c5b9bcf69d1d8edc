"""Signals and concurrent runs (issue 11): SIGTERM cleans up like Ctrl-C (no hidden temporary folder left, one
``error:`` line naming how to resume), and the run-folder lock is released when its holder is killed -9."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

DASH = ["--task", "splice", "--search-epochs", "50", "--search-width", "4", "--retrain-width", "4",
        "--retrain-epochs", "1", "--no-baseline", "--threads", "1"]
SEARCH = ["--task", "splice", "--search-epochs", "50", "--search-width", "4", "--retrain-width", "4",
          "--n-configs", "2", "--max-epochs", "1", "--threads", "1"]


def _signal_when(cmd, ready, sig, timeout=120):
    # SIGINT at its default even when this test runs in a background job (where it is inherited as ignored)
    proc = subprocess.Popen([sys.executable, "-m", "autofast", *cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None and not ready():
        time.sleep(0.05)
    if proc.poll() is not None:
        pytest.fail(f"ended before the signal: {proc.communicate()[1]}")
    time.sleep(0.5)  # inside the work, not at its edge
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    # the shell's convention: ended by SIGINT itself after a Ctrl-C (a script's loop stops), 128 + 15 after SIGTERM
    assert proc.returncode == (-sig if sig == signal.SIGINT else 128 + sig) and "Traceback" not in err, err
    assert lines[-1].startswith("error: interrupted"), err
    return lines[-1]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_dash_interrupted_leaves_no_hidden_folder(sig, tmp_path):
    out = tmp_path / "run"
    _signal_when(["dash", *DASH, "--out", str(out)], lambda: any(tmp_path.glob(".run.tmp-*")), sig)
    assert list(tmp_path.iterdir()) == []


def test_search_sigterm_says_how_to_resume(tmp_path):
    out = tmp_path / "run"
    line = _signal_when(["search", *SEARCH, "--out", str(out)], lambda: (out / "search_config.json").exists(),
                        signal.SIGTERM)
    assert "nothing was kept" in line and not out.exists()  # interrupted inside DASH: no finished stage


def test_lock_of_a_killed_process_does_not_block(tmp_path):
    holder = textwrap.dedent(f"""
        import sys, time
        from autofast.io import run_lock
        with run_lock({str(tmp_path)!r}):
            print("locked", flush=True)
            time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", holder], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    from autofast.errors import AutofastError
    from autofast.io import run_lock

    with pytest.raises(AutofastError, match=f"pid {proc.pid}"):
        with run_lock(tmp_path):
            pass
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (tmp_path / ".lock").exists()  # the stale file is still there ...
    with run_lock(tmp_path):  # ... and does not block
        pass


@pytest.mark.parametrize("forget", [True, False])
def test_interrupt_seen_by_an_extension_still_exits_130(forget, tmp_path):
    """An interrupt that passed through ``PyRun_String`` (as inside pybind11's ``py::eval``) must not turn our exit
    status 130 into a SIGINT death of the interpreter (CPython keeps an 'unhandled interrupt' flag for it; it
    decides the exit of ``python -m``). ``forget=False`` shows the flag does bite without the reset."""
    (tmp_path / "entry.py").write_text(textwrap.dedent(f"""
        import ctypes, sys
        import autofast.cli as cli
        import autofast.commands.datasets as datasets

        def run(args):
            f = ctypes.pythonapi.PyRun_String
            f.restype, f.argtypes = ctypes.py_object, [ctypes.c_char_p, ctypes.c_int, ctypes.py_object, ctypes.py_object]
            f(b"raise KeyboardInterrupt", 257, {{}}, {{}})

        datasets.run = run
        if not {forget}:
            cli._forget_handled_interrupt = lambda: None
        sys.exit(cli.main(["datasets"]))
    """))
    r = subprocess.run([sys.executable, "-m", "entry"], capture_output=True, text=True, cwd=tmp_path)
    assert r.stderr.startswith("error: interrupted"), r.stderr
    assert r.returncode == (130 if forget else -signal.SIGINT), r.returncode


def test_a_sigterm_where_python_would_swallow_the_interrupt_is_delivered_again():
    """A SIGTERM landing in an import's lock callback (where a raised KeyboardInterrupt is printed and dropped)
    is not raised there but re-sent, and then interrupts the work."""
    from types import SimpleNamespace

    from autofast.cli import _sigterm_handler, sigterm_as_interrupt

    in_import = SimpleNamespace(f_code=SimpleNamespace(co_filename="<frozen importlib._bootstrap>", co_name="cb"))
    with pytest.raises(KeyboardInterrupt):
        with sigterm_as_interrupt():
            _sigterm_handler(signal.SIGTERM, in_import)  # returns: nothing raised inside the callback
            deadline = time.time() + 5
            while time.time() < deadline:  # the signal comes again and interrupts this loop
                time.sleep(0.01)
    elsewhere = SimpleNamespace(f_code=SimpleNamespace(co_filename=__file__, co_name="loop"), f_back=None)
    with pytest.raises(KeyboardInterrupt):
        _sigterm_handler(signal.SIGTERM, elsewhere)


def test_a_sigterm_in_code_an_extension_import_runs_is_not_raised_there():
    """Python code called by an extension module's initialisation (in the failure: an enum's ``__setattr__`` under
    triton's nanobind module, where the exception aborted the process) is deferred; the same code under a plain
    Python import, or outside any import, is not."""
    import sys
    from importlib.machinery import ExtensionFileLoader, SourceFileLoader
    from types import SimpleNamespace

    from autofast.cli import _unsafe_to_raise

    def under(loader):
        importing = SimpleNamespace(f_code=SimpleNamespace(co_filename="<frozen importlib._bootstrap_external>",
                                                           co_name="exec_module"), f_locals={"self": loader}, f_back=None)
        return SimpleNamespace(f_code=SimpleNamespace(co_filename="/usr/lib/python3.11/enum.py", co_name="__setattr__"),
                               f_locals={}, f_back=importing)

    assert _unsafe_to_raise(under(ExtensionFileLoader("libtriton", "/x/libtriton.so")))
    assert not _unsafe_to_raise(under(SourceFileLoader("mod", "/x/mod.py")))
    assert not _unsafe_to_raise(sys._getframe())
