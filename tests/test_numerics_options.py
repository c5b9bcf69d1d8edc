"""Precision and conv path are options of every training command's config (YAML, Python API, the saved run
config): in force for the whole stage, filled from the environment when left out, kept on --resume."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from autofast.cli import main
from autofast.commands.options import resumed_options
from autofast.engine.precision import requested
from autofast.errors import AutofastError
from autofast.kernels.conv.conv_path import requested_path


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    monkeypatch.delenv("AUTOFAST_PRECISION", raising=False)
    monkeypatch.delenv("AUTOFAST_CONV_PATH", raising=False)


def _configs():
    from autofast.autoft.compare import CompareConfig
    from autofast.autoft.finetune import FinetuneConfig
    from autofast.autoft.pretrain import PretrainConfig
    from autofast.dash.pipeline import DashConfig
    from autofast.search.config import SearchConfig

    return {"dash": (DashConfig, {}), "search": (SearchConfig, {}), "pretrain": (PretrainConfig, {}),
            "finetune": (FinetuneConfig, {"checkpoint": "m.pt"}), "compare": (CompareConfig, {"checkpoint": "m.pt"})}


@pytest.mark.parametrize("command", ["dash", "search", "pretrain", "finetune", "compare"])
def test_every_training_config_fills_its_numerics_from_the_environment(command, monkeypatch):
    cls, required = _configs()[command]
    cfg = cls(**required)
    assert (cfg.precision, cfg.conv_path) == ("auto", "auto")
    monkeypatch.setenv("AUTOFAST_PRECISION", "bf16")
    monkeypatch.setenv("AUTOFAST_CONV_PATH", "tap")
    cfg = cls(**required)
    assert (cfg.precision, cfg.conv_path) == ("bf16", "tap")  # what the saved config will say
    assert cls(**required, precision="fp32", conv_path="native").precision == "fp32"  # an option wins
    dumped = cfg.model_dump(mode="json")
    monkeypatch.delenv("AUTOFAST_PRECISION")
    assert cls(**dumped).precision == "bf16"  # a resumed run reads it back, whatever the environment says now


def test_a_bad_environment_value_is_one_line_naming_the_variable(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("AUTOFAST_PRECISION", "fp8")
    code = main(["search", "--task", "splice", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "$AUTOFAST_PRECISION='fp8'" in err[0] and "bf16" in err[0]
    assert not (tmp_path / "run").exists()


def _entry_points(monkeypatch, seen: dict):
    """Each command's stage function with its body replaced by a probe of what is in force inside it."""
    import autofast.autoft.compare as compare
    import autofast.autoft.finetune as finetune
    import autofast.autoft.pretrain as pretrain
    import autofast.dash.pipeline as dash
    import autofast.search.pipeline as search

    def probe(*args, **kwargs):
        seen["inside"] = (requested(), requested_path())
        return {}

    for module, inner in [(dash, "_run_dash"), (search, "_run_search"), (pretrain, "_run_pretrain"),
                          (finetune, "_run_finetune"), (compare, "_run_compare")]:
        monkeypatch.setattr(module, inner, probe)
    ctx = SimpleNamespace()
    return {"dash": lambda cfg, tmp: dash.run_dash(cfg),
            "search": lambda cfg, tmp: search.run_search(cfg, tmp),
            "pretrain": lambda cfg, tmp: pretrain.run_pretrain(cfg, tmp),
            "finetune": lambda cfg, tmp: finetune.run_finetune(cfg, tmp, ctx=ctx),
            "compare": lambda cfg, tmp: compare.run_compare(cfg, tmp, ctx=ctx)}


@pytest.mark.parametrize("command", ["dash", "search", "pretrain", "finetune", "compare"])
def test_each_stage_trains_in_its_configs_numerics(command, monkeypatch, tmp_path):
    seen: dict = {}
    run = _entry_points(monkeypatch, seen)[command]
    cls, required = _configs()[command]
    run(cls(**required, precision="bf16", conv_path="fft"), tmp_path)
    assert seen["inside"] == ("bf16", "fft")
    assert (requested(), requested_path()) == (None, "auto")  # nothing left in force after the stage


def test_the_python_api_takes_the_numerics_and_refuses_fp16_on_the_cpu(tmp_path):
    import autofast

    with pytest.raises(AutofastError, match="fp16 needs a CUDA device"):
        autofast.search("splice", out=tmp_path / "run", precision="fp16")
    assert not (tmp_path / "run").exists()
    with pytest.raises(AutofastError, match="precision"):
        autofast.search("splice", out=tmp_path / "run", precision="fp8")


def test_search_yaml_config_takes_the_numerics(tmp_path, monkeypatch, capsys):
    import autofast.search.pipeline as search

    seen = {}

    def probe(cfg, run_dir, *args, **kwargs):
        seen["cfg"], seen["saved"] = cfg, json.loads((run_dir / "search_config.json").read_text())
        raise AutofastError("probe")

    monkeypatch.setattr(search, "run_search", probe)
    cfg_file = tmp_path / "opts.yaml"
    cfg_file.write_text("precision: bf16\nconv_path: tap\n")
    assert main(["search", "--task", "splice", "--config", str(cfg_file), "--out", str(tmp_path / "run")]) == 2
    assert (seen["cfg"].precision, seen["cfg"].conv_path) == ("bf16", "tap")
    assert (seen["saved"]["precision"], seen["saved"]["conv_path"]) == ("bf16", "tap")  # what --resume reads


def test_resume_keeps_the_saved_numerics(tmp_path):
    flags = SimpleNamespace(precision=None, conv_path=None)
    saved = {"task": "splice", "precision": "bf16", "conv_path": "auto"}
    assert resumed_options(saved, flags, tmp_path) == saved
    assert resumed_options(saved, SimpleNamespace(precision="bf16", conv_path="auto"), tmp_path) == saved
    with pytest.raises(AutofastError, match="started with --precision bf16; resume it without --precision"):
        resumed_options(saved, SimpleNamespace(precision="fp32", conv_path=None), tmp_path)
    with pytest.raises(AutofastError, match="--conv-path auto"):
        resumed_options(saved, SimpleNamespace(precision=None, conv_path="tap"), tmp_path)
    old = {"task": "splice"}  # saved before the numerics were options: the flags decide, as they did then
    assert resumed_options(old, SimpleNamespace(precision="bf16", conv_path="tap"), tmp_path) == {
        "task": "splice", "precision": "bf16", "conv_path": "tap"}


def test_search_resume_with_another_precision_is_one_line(tmp_path, capsys):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "search_config.json").write_text(json.dumps({"task": "splice", "precision": "bf16"}))
    code = main(["search", "--resume", str(run_dir), "--precision", "fp32"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--precision bf16" in err[0]


def test_search_report_says_what_auto_trained_in():
    from autofast.search.report import report_options

    r = {"config": {"task": "splice", "precision": "auto", "conv_path": "auto"}, "precision": "fp32", "kind": "dna"}
    assert report_options(r) == {"task": "splice", "precision": "auto (trained in fp32)", "conv_path": "auto"}
    r["config"]["precision"] = "fp32"
    assert report_options(r)["precision"] == "fp32"
