"""A run's conv-path record (autofast.kernels.conv.run_record): the path of every shape a run ran is kept in
its folder the moment it is chosen; a resumed run (a new process) and a replaying run take those paths even
where this machine's measurement would now choose another; an explicit override still wins; a bad record is
a one-line error."""
import json

import pytest
import torch

from autofast.cli import main
from autofast.kernels.conv import conv_path
from autofast.kernels.conv.conv_path import PathCache, choose
from autofast.kernels.conv.run_record import FILE, read_record, recorded_run


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOFAST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("AUTOFAST_CONV_PATH", raising=False)
    monkeypatch.setattr(conv_path, "CACHE", PathCache())


def measuring(monkeypatch, winner: str) -> list:
    """This process's measurement picks ``winner`` for every key; returns the list of keys it measured."""
    measured = []

    def select(key, runners, describe):
        measured.append(key)
        return winner

    monkeypatch.setattr(conv_path.CACHE, "select", select)
    return measured


def new_process(monkeypatch, winner: str) -> list:
    monkeypatch.setattr(conv_path, "CACHE", PathCache())
    return measuring(monkeypatch, winner)


def conv(x, w, grad=True):
    runner = lambda p: (lambda: None)  # noqa: E731 (never timed: selection is faked)
    with torch.set_grad_enabled(grad):
        return choose("fixed", x, w, "k5d1", 1, 1, ("native", "tap", "fft"), runner)


def test_the_record_is_written_at_once_and_a_resume_takes_it_over_a_new_measurement(tmp_path, monkeypatch):
    x, w = torch.randn(2, 3, 20), torch.randn(4, 3, 5, requires_grad=True)
    record = tmp_path / FILE
    measuring(monkeypatch, "fft")
    with recorded_run(record):
        assert conv(x, w) == "fft"
        assert len(read_record(record)) == 1  # on disk before the run ends: a SIGKILL keeps it
        assert conv(x, w, grad=False) == "fft"
    assert len(read_record(record)) == 2  # forward-only is another shape
    measured = new_process(monkeypatch, "native")  # the resumed run would measure another winner
    with recorded_run(record):
        assert conv(x, w) == "fft" and conv(x, w, grad=False) == "fft" and measured == []
        assert conv(x[:1], w) == "native" and len(measured) == 1  # a shape the record lacks: measured, added
        assert conv_path.path_summary()[0]["how"] == "the run's record"
    assert len(read_record(record)) == 3
    assert conv(x, w) == "native"  # outside the run: the process's own choice again


def test_a_replayed_record_is_copied_into_the_new_run_and_ignores_threads(tmp_path, monkeypatch):
    x, w = torch.randn(2, 3, 20), torch.randn(4, 3, 5, requires_grad=True)
    old = tmp_path / "old"
    old.mkdir()
    threads = torch.get_num_threads()
    measuring(monkeypatch, "tap")
    with recorded_run(old / FILE):
        conv(x, w)
    measured = new_process(monkeypatch, "native")
    (tmp_path / "new").mkdir()
    try:
        torch.set_num_threads(threads + 1)  # another thread count: other timings, the same arithmetic
        with recorded_run(tmp_path / "new" / FILE, replay=old):
            assert conv(x, w) == "tap" and measured == []
    finally:
        torch.set_num_threads(threads)
    assert read_record(tmp_path / "new" / FILE) == read_record(old)


def test_an_explicit_path_wins_over_the_record_and_is_recorded(tmp_path, monkeypatch):
    x, w = torch.randn(2, 3, 20), torch.randn(4, 3, 5, requires_grad=True)
    measuring(monkeypatch, "fft")
    with recorded_run(tmp_path / FILE):
        conv(x, w)
    monkeypatch.setenv("AUTOFAST_CONV_PATH", "native")
    with recorded_run(tmp_path / FILE):
        assert conv(x, w) == "native"
        assert conv(x, w, grad=False) == "native"
    monkeypatch.delenv("AUTOFAST_CONV_PATH")
    new_process(monkeypatch, "tap")
    with recorded_run(tmp_path / FILE):  # a resume without the override runs what ran
        assert conv(x, w) == "fft" and conv(x, w, grad=False) == "native"


@pytest.mark.parametrize("content,why", [(None, "no such file"), ("{not json", "unreadable"),
                                         ('{"format": "x", "paths": {}}', "not a conv-path record"),
                                         ('{"format": "autofast-run-conv-paths/1", "paths": {"k": {"path": "cudnn"}}}',
                                          "names no conv path")])
def test_a_bad_record_is_a_one_line_error(tmp_path, content, why):
    f = tmp_path / FILE
    if content is not None:
        f.write_text(content)
    with pytest.raises(ValueError, match=why) as info:
        read_record(tmp_path)  # the run folder or the file
    assert str(f) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("command", ["search", "dash"])
def test_conv_paths_from_a_bad_record_is_refused_before_anything_is_written(tmp_path, capsys, command):
    (tmp_path / "notarun").mkdir()
    out = tmp_path / "out"
    code = main([command, "--task", "splice", "--conv-paths-from", str(tmp_path / "notarun"), "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: --conv-paths-from: ") and FILE in err and len(err.splitlines()) == 1
    assert not out.exists()


def test_a_run_folder_keeps_the_record_of_every_conv_shape_it_ran(tmp_path):
    out = tmp_path / "run"
    assert main(["dash", "--task", "splice", "--search-epochs", "1", "--retrain-epochs", "1", "--search-width", "4",
                 "--retrain-width", "4", "--search-batch-fraction", "0.1", "--no-baseline", "--out", str(out),
                 "--json"]) == 0
    rec = read_record(out)
    kinds = {e["kind"] for e in rec.values()}
    assert kinds == {"mixed", "fixed"} and all(e["path"] in ("native", "tap", "fft") for e in rec.values())
    result = json.loads((out / "result.json").read_text())
    assert {r["kind"] for r in result["conv_paths"]} >= kinds
