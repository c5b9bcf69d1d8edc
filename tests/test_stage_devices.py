"""Issue 21, part 1 (what it must show, on the CPU): the device of every stage of ``search --devices cuda:0``
and ``dash --devices cuda:0``, recorded by a device-recording fake.

The fake: ``--devices cuda:0`` is let through the device check; ``Module.to(<a cuda device>)`` keeps the module
on the CPU but tags it (and its submodules) with that device; a global forward pre-hook records, per stage,
the device of every module called (its tag, else its parameters' or its input's device; a shape probe on the
``meta`` device computes nothing and is not recorded). The plan's step-cost measurement records the device it
was asked for and measures on the CPU. One tiny run of each command serves every stage's test.
"""
import pytest
import torch
from torch import nn

from autofast.cli import main

REQUESTED = "cuda:0"
TINY = ["--task", "splice", "--arch", "dash", "--folds", "0", "--search-epochs", "1", "--search-width", "4",
        "--search-batch-fraction", "0.2", "--retrain-width", "4", "--n-configs", "2", "--max-epochs", "1",
        "--ensemble", "1", "--fuse-trials", "off", "--threads", "1", "--json"]
TINY_DASH = ["--task", "splice", "--search-epochs", "1", "--retrain-epochs", "1", "--search-width", "4",
             "--retrain-width", "4", "--search-batch-fraction", "0.2", "--threads", "1", "--json"]


def record_stages(argv: list[str], stages: list[tuple], cache) -> dict:
    """Run ``main(argv)`` under the fake; ``stages``: ``(module, function name, stage name)`` wrapped so the
    modules they call are recorded under the stage name. Returns stage name -> the set of devices."""
    import autofast.dash.cost as cost
    import autofast.search.trial as trial

    seen: dict[str, set] = {}
    current = ["before the stages (data load, plan)"]
    names = {stage for _, _, stage in stages}

    def staged(name, fn):  # a stage called inside another stage belongs to the outer one
        def run(*a, **k):
            outer = current[0]
            if outer in names:
                return fn(*a, **k)
            current[0] = name
            try:
                return fn(*a, **k)
            finally:
                current[0] = "between stages"
        return run

    real_to = nn.Module.to

    def recording_to(self, *args, **kwargs):
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None:
            for m in self.modules():
                m._recorded_device = str(device) if device.type == "cuda" else None
            if device.type == "cuda":  # the fake: stays on the CPU, tagged
                dtype = torch._C._nn._parse_to(*args, **kwargs)[1]
                return real_to(self, "cpu", dtype) if dtype is not None else real_to(self, "cpu")
        return real_to(self, *args, **kwargs)

    def record(module, args):
        dev = getattr(module, "_recorded_device", None)
        if dev is None:
            p = next(module.parameters(), None)
            t = p if p is not None else next((a for a in args if isinstance(a, torch.Tensor)), None)
            dev = None if t is None else str(t.device)
        if dev is not None and dev != "meta":  # a shape probe on the meta device computes nothing
            seen.setdefault(current[0], set()).add(dev)

    real_measure = cost.measure

    def measure(*a, device="cpu", **k):
        seen.setdefault("plan (step-cost measurement)", set()).add(str(device))
        return real_measure(*a, device="cpu", **k)

    with pytest.MonkeyPatch.context() as m:
        m.setenv("AUTOFAST_CACHE_DIR", str(cache))  # no cached step cost or conv path
        m.setattr(trial, "check_devices", lambda devices: None)
        m.setattr(nn.Module, "to", recording_to)
        m.setattr(cost, "measure", measure)
        for module, name, stage in stages:
            m.setattr(module, name, staged(stage, getattr(module, name)))
        handle = torch.nn.modules.module.register_module_forward_pre_hook(record)
        try:
            code = main(argv)
        finally:
            handle.remove()
    assert code == 0
    return seen


@pytest.fixture(scope="module")
def stage_devices(tmp_path_factory):
    """``search``: stage name -> the set of devices its modules ran on (``'cuda:0'`` where the fake placed them)."""
    import autofast.search.pipeline as pipeline

    stages = [(pipeline, name, stage) for name, stage in [
        ("search_architecture", "DASH supernet"), ("tune", "ASHA trials"), ("retrain_best", "retrain"),
        ("test_scores", "test evaluation")]]
    return record_stages(["search", *TINY, "--devices", REQUESTED, "--out", str(tmp_path_factory.mktemp("s") / "run")],
                         stages, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def dash_stage_devices(tmp_path_factory):
    """``dash``: stage name -> the set of devices its modules ran on."""
    import autofast.dash.pipeline as pipeline

    stages = [(pipeline, "search_architecture", "DASH supernet"), (pipeline, "train", "retrain and baseline"),
              (pipeline, "test_scores", "test evaluation")]
    return record_stages(["dash", *TINY_DASH, "--devices", REQUESTED, "--out",
                          str(tmp_path_factory.mktemp("d") / "run")], stages, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def autoft_stage_devices(tmp_path_factory):
    """``pretrain``, ``finetune`` (AutoFT) and ``compare``: stage name -> the set of devices its modules ran on."""
    import autofast.autoft.compare as compare
    import autofast.autoft.finetune as finetune
    import autofast.autoft.pretrain as pretrain

    tmp = tmp_path_factory.mktemp("autoft")
    small = ["--task", "digits", "--threads", "1", "--devices", REQUESTED, "--json"]
    seen = record_stages(["pretrain", *small, "--classes", "0-4", "--width", "4", "--epochs", "1", "--batch-size",
                          "128", "--out", str(tmp / "pre")],
                         [(pretrain, "fit", "pretrain: training"), (pretrain, "evaluate", "pretrain: test")],
                         tmp / "cache")
    ckpt = ["--checkpoint", str(tmp / "pre" / "model.pt"), "--classes", "5-9", "--batch-size", "128"]
    seen.update(record_stages(
        ["finetune", *small, *ckpt, "--ood-val", "noise:3", "--ood-test", "blur:2", "--n-configs", "2",
         "--max-epochs", "1", "--final-epochs", "1", "--final-seeds", "0", "--control-lr-mults", "1",
         "--selection-seeds", "1", "--out", str(tmp / "ft")],
        [(finetune, "run_local", "finetune: AutoFT trials"), (finetune, "lr_grid_finetune", "finetune: CE-only lr grid"),
         (finetune, "finetune_full", "finetune: retrains and finals"), (finetune, "_eval_all", "finetune: evaluation")],
        tmp / "cache"))
    seen.update(record_stages(
        ["compare", *small, *ckpt, "--shots", "2", "--seeds", "0", "--ft-epochs", "1", "--ft-lr-mults", "1",
         "--baseline-configs", "2", "--baseline-max-epochs", "1", "--baseline-epochs", "1", "--min-steps-per-epoch",
         "2", "--out", str(tmp / "cmp")],
        [(compare, "_run_pretrained", "compare: pretrained arm"), (compare, "_run_baseline", "compare: baseline arm"),
         (compare, "evaluate_scores", "compare: test evaluation")], tmp / "cache"))
    return seen


@pytest.mark.parametrize("stage", ["pretrain: training", "pretrain: test", "finetune: AutoFT trials",
                                   "finetune: CE-only lr grid", "finetune: retrains and finals",
                                   "finetune: evaluation", "compare: pretrained arm", "compare: baseline arm",
                                   "compare: test evaluation"])
def test_every_autoft_stage_runs_on_the_requested_device(autoft_stage_devices, stage):
    assert stage in autoft_stage_devices, f"stage {stage!r} ran no module: {sorted(autoft_stage_devices)}"
    assert autoft_stage_devices[stage] == {REQUESTED}, f"{stage}: ran on {sorted(autoft_stage_devices[stage])}"


@pytest.mark.parametrize("stage", [
    "plan (step-cost measurement)",
    "DASH supernet",
    "ASHA trials",
    "retrain",
    "test evaluation",
])
def test_every_stage_runs_on_the_requested_device(stage_devices, stage):
    assert stage in stage_devices, f"stage {stage!r} ran no module: {sorted(stage_devices)}"
    assert stage_devices[stage] == {REQUESTED}, f"{stage}: ran on {sorted(stage_devices[stage])}"


@pytest.mark.parametrize("stage", ["DASH supernet", "retrain and baseline", "test evaluation"])
def test_every_dash_stage_runs_on_the_requested_device(dash_stage_devices, stage):
    assert stage in dash_stage_devices, f"stage {stage!r} ran no module: {sorted(dash_stage_devices)}"
    assert dash_stage_devices[stage] == {REQUESTED}, f"{stage}: ran on {sorted(dash_stage_devices[stage])}"


def test_search_on_a_gpu_fuses_eight_trials_and_the_retrain_members_by_default(tmp_path):
    """``--devices cuda:0`` with no --trials-per-device / --fuse-trials (the fake device): ASHA runs 8 fused trials
    per device told in arrival order, the retrain's members train as one fused model, the run finishes; the
    plan's step cost includes a fused group's step."""
    import json

    argv = [a for a in TINY if a not in ("--fuse-trials", "off")]
    argv[argv.index("--n-configs") + 1] = "4"
    argv[argv.index("--ensemble") + 1] = "2"
    out = tmp_path / "run"
    record_stages(["search", *argv, "--devices", REQUESTED, "--out", str(out)], [], tmp_path / "cache")
    result = json.loads((out / "result.json").read_text())
    assert {k: result["asha"][k] for k in ("trials_per_device", "fused", "order")} == \
        {"trials_per_device": 8, "fused": True, "order": "arrival"}
    assert result["asha"]["finished"] and 0 < result["test_score"] <= 1
    assert result["final"]["members"] == 2 and result["final"]["fused"]  # --arch dash: the CNN is final
    assert result["step_cost"]["fused_trials"] == 3  # the plan timed a fused group's step


def test_search_on_a_gpu_fits_the_host_families_beside_the_device_stages(tmp_path, monkeypatch):
    """``--devices cuda:0`` (the fake device) on DNA with ``--arch auto``: the kernel SVM is planned on the host
    CPU beside the device stages, fitted in the worker process and scored with the other candidates. (The
    random-convolution family is taken out of the plan: it moves tensors, which the fake cannot.)"""
    import json
    from dataclasses import replace

    import autofast.search.pipeline as pipeline
    from motif_data import motif_task

    real_plan = pipeline.make_plan
    monkeypatch.setattr(pipeline, "make_plan", lambda *a, **k: replace(real_plan(*a, **k), rocket=False))

    task = motif_task(tmp_path, n_train=160, length=30, val_fraction=0.25)
    argv = ["--task", str(task), "--folds", "0", "--search-epochs", "1", "--search-width", "4", "--retrain-width", "4",
            "--n-configs", "2", "--max-epochs", "1", "--ensemble", "1", "--time-budget", "120", "--threads", "1",
            "--json", "--devices", REQUESTED, "--out", str(tmp_path / "run")]
    record_stages(["search", *argv], [], tmp_path / "cache")
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["plan"]["beside"] and result["plan"]["wd"]
    assert "wd" in result["selection"]["features"] and "host_wait" in result["timings"]
