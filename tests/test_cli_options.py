"""One command-line vocabulary: --version, plain top-level help, a default on every option's help line, a
missing --task listing the bundled tasks, YAML keys = flag names, run_dir in --json, and report tables that
say n = 1 and list only the options that apply."""
import argparse

import pytest

from autofast.cli import build_parser, main
from autofast.data.registry import DATASETS


def _subparsers(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def test_version_and_top_level_help(capsys):
    from autofast import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"autofast {__version__}"
    text = build_parser().format_help()
    assert "``" not in text and ":func:" not in text and "entry point" not in text
    assert all(name in text for name in ("search", "forecast", "predict", "dash", "finetune"))


def test_every_option_has_a_help_line_with_its_default():
    missing = []
    for name, sub in _subparsers(build_parser()).items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            line = formatter._get_help_string(action) if action.help else ""  # argparse shows no line for None
            if "default" not in line and "required" not in line:
                missing.append(f"{name} {action.option_strings[0]}")
        sub.format_help()  # every help string formats (no stray %)
    assert not missing, missing


@pytest.mark.parametrize("command", ["search", "dash"])
def test_a_missing_task_lists_the_bundled_tasks(command, tmp_path, capsys):
    out = tmp_path / "run"
    assert main([command, "--out", str(out)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {command} needs --task"), lines
    assert all(d.name in lines[0] for d in DATASETS.values())
    assert not out.exists()


def test_search_yaml_keys_are_its_flag_names(tmp_path, capsys):
    """search reads its flags' names from YAML (task included) and refuses dash-only keys."""
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dropout: 0.1\n")
    assert main(["search", "--task", "splice", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert "unknown option(s) dropout" in capsys.readouterr().err
    cfg.write_text("kernel_sizes: [4]\n")  # a bad value is reported before a missing task
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert "kernel_sizes" in capsys.readouterr().err
    flags = {a.dest for a in _subparsers(build_parser())["search"]._actions if a.option_strings}
    from autofast.commands.search import config_keys

    assert set(config_keys()) <= flags  # every YAML key is a flag of search


def _one_error(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def test_a_mistyped_task_is_a_missing_path_or_the_name_meant(tmp_path, capsys):
    """A data path that does not exist says so (it read "unknown task" and a list of formats); a misspelt bundled
    name names the one meant."""
    out = tmp_path / "run"
    assert main(["search", "--task", str(tmp_path / "nonexist.csv"), "--out", str(out)]) == 2
    assert "nonexist.csv' does not exist; check the path" in _one_error(capsys)
    assert main(["search", "--task", "splcie", "--out", str(out)]) == 2
    assert "did you mean 'splice'?" in _one_error(capsys)
    assert not out.exists()


def test_an_unknown_option_is_reported_by_its_command(capsys):
    """argparse's top-level parser reported a subcommand's unknown option as `python -m autofast`'s."""
    with pytest.raises(SystemExit) as exc:
        main(["pretrain", "--time-budget", "30s"])
    line = _one_error(capsys)
    assert exc.value.code == 2 and line.startswith("error: python -m autofast pretrain: unrecognized arguments: "
                                                   "--time-budget 30s (pretrain takes no such option)"), line
    with pytest.raises(SystemExit):
        main(["search", "--task", "splice", "--time-budgt", "30s"])
    assert "(did you mean --time-budget?)" in _one_error(capsys)


def test_config_file_errors_name_the_file(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("task: digits\nout: runs/x\n")
    assert main(["search", "--config", str(cfg)]) == 2
    assert _one_error(capsys) == (f"error: {cfg}: out can only be given on the command line (--out); remove it "
                                  "from the file")
    cfg.write_text("task: digits\ntime_budget: fast\n")
    for command in ("search", "dash"):
        assert main([command, "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
        assert _one_error(capsys).startswith(f"error: {cfg}: time_budget: 'fast': give seconds")
    cfg.write_text("task: digits\nseed: -3\n")
    assert main(["search", "--config", str(cfg), "--out", str(tmp_path / "r")]) == 2
    assert _one_error(capsys).startswith(f"error: {cfg}: invalid option seed:")
    assert not (tmp_path / "r").exists()


def test_a_series_table_without_its_label_column_says_so(tmp_path, capsys):
    """A numeric table whose class column has another name was told about DNA's 'sequence' column."""
    rows = ["t0,t1,t2,t3,Klasse"] + [f"{i},{i + 1},{i % 3},{i * 2},{i % 2}" for i in range(12)]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    assert main(["search", "--task", str(tmp_path / "s.csv"), "--out", str(tmp_path / "r")]) == 2
    line = _one_error(capsys)
    assert "no 'label' column" in line and "sequence" not in line and "label_column:" in line, line


def test_search_report_lists_only_the_options_that_apply():
    from autofast.search.report import applicable_options

    config = {"task": "splice", "lookback": 96, "horizon": 24, "train_stride": 4, "baseline": True, "dropout": 0.0,
              "eta": 2}
    assert applicable_options(config, "dna") == {"task": "splice", "eta": 2}
    assert set(applicable_options(config, "timeseries")) == {"task", "lookback", "horizon", "train_stride", "eta"}


def test_one_seed_tables_say_n_equals_1():
    from autofast.autoft.metrics import mean_std
    from autofast.reporting import fmt_mean_std

    assert fmt_mean_std(mean_std([0.9])) == "0.9000 (n = 1)"
    assert fmt_mean_std(mean_std([0.9, 0.8])) == "0.8500 ± 0.0707"
    assert fmt_mean_std(mean_std([])) == "-"


def test_a_single_value_of_a_list_option_in_a_config_file_is_a_list(tmp_path):
    """'kernel_sizes: 3' / 'devices: cpu' in a YAML were 'Input should be a valid list' (the flags take one)."""
    from autofast.commands.options import validated
    from autofast.search.config import SearchConfig

    cfg = validated(SearchConfig, {"task": "splice", "kernel_sizes": 3, "devices": "cpu"})
    assert cfg.kernel_sizes == [3] and cfg.devices == ["cpu"]


def test_a_search_on_a_folder_a_running_search_holds_says_so(tmp_path, capsys):
    """It said 'exists ... continue it with --resume', which the lock then refused."""
    import fcntl
    import os

    from autofast.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "search_config.json").write_text("{}")
    fd = os.open(run / ".lock", os.O_RDWR | os.O_CREAT)
    os.write(fd, b"4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        assert main(["search", "--task", "splice", "--out", str(run)]) == 2
    finally:
        os.close(fd)
    err = capsys.readouterr().err
    assert "in use by a running autofast process (pid 4242)" in err and "--resume" not in err
