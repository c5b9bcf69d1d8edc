"""AutoFT / transfer pipeline pieces at tiny scale: task subsets and OOD sets, few-shot subsamples, metrics,
pretrain -> checkpoint -> pretrained model round trip, head re-initialisation, and the searched learning rate
being the one the optimiser really uses."""
import math

import numpy as np
import pytest
import torch

from autofast.autoft.losses import AutoFTObjective
from autofast.autoft.metrics import scores_from_predictions
from autofast.autoft.model import load_pretrained, prepare
from autofast.autoft.pretrain import PretrainConfig, run_pretrain
from autofast.autoft.tasks import (check_shots, few_shot_indices, load_classification, ood_sets, parse_classes,
                                   parse_shots)
from autofast.autoft.training import autoft_trial, config_key, finetune_full
from autofast.engine import epoch_batches, steps_per_epoch
from autofast.errors import AutofastError
from autofast.models.checkpoint import save_checkpoint

TINY = dict(width=4, epochs=1, patience=1, batch_size=128, threads=1)


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny wrn16 pretrained on digits 0-4 (.pt) and the same as .safetensors."""
    out = tmp_path_factory.mktemp("pre")
    res = run_pretrain(PretrainConfig(task="digits", classes="0-4", **TINY), out)
    st = tmp_path_factory.mktemp("pre_st")
    run_pretrain(PretrainConfig(task="digits", classes="0-4", format="safetensors", **TINY), st)
    return out / res["checkpoint"], st / "model.safetensors", res


@pytest.fixture(scope="module")
def task59():
    return load_classification("digits", "5-9", seed=0)


def test_parse_classes_and_subset():
    names = [str(i) for i in range(10)]
    assert parse_classes("0-4", names) == [0, 1, 2, 3, 4]
    assert parse_classes(["7", "2,3"], names) == [2, 3, 7]
    with pytest.raises(AutofastError, match="unknown class"):
        parse_classes("11", names)
    with pytest.raises(AutofastError, match="at least two"):
        parse_classes("3", names)
    t = load_classification("digits", "5-9", seed=0)
    assert t.data.classes == ["5", "6", "7", "8", "9"] and int(t.y_train.max()) == 4
    assert t.name == "digits[5,6,7,8,9]"


def test_few_shot_subsample_is_stratified_seeded_and_nested(task59):
    y = task59.y_train
    a5 = few_shot_indices(y, 5, seed=3)
    assert torch.equal(torch.bincount(y[a5]), torch.full((5,), 5))
    assert torch.equal(a5, few_shot_indices(y, 5, seed=3))
    assert not torch.equal(a5, few_shot_indices(y, 5, seed=4))
    a10 = few_shot_indices(y, 10, seed=3)
    assert set(a5.tolist()) <= set(a10.tolist())
    assert len(few_shot_indices(y, "full", 0)) == len(y)
    assert parse_shots(["10", 1, "full", "5"]) == [1, 5, 10, "full"]
    with pytest.raises(AutofastError, match="at most"):
        check_shots(y, [1, 100000], task59.data.classes)
    with pytest.raises(AutofastError, match="positive integer"):
        parse_shots(["few"])


def test_ood_sets_builtin_and_bad_family(task59):
    val, tests, info = ood_sets(task59, "noise:3", ["blur:2", "contrast:4"], seed=0)
    assert val.x.shape == task59.x_val.shape and torch.equal(val.y, task59.y_val)
    assert not torch.allclose(val.x, task59.x_val)
    assert [t.name for t in tests] == ["blur:2", "contrast:4"]
    assert all(torch.equal(t.y, task59.y_test) for t in tests)
    assert info["modality"] == "image"
    val2, _, info2 = ood_sets(task59, ["blur:3", "rotation:3"], ["blur:4", "noise:5"], 0)  # concatenated val
    assert len(val2) == 2 * len(task59.y_val) and val2.name == "blur:3+rotation:3"
    assert info2["same_family_in_val_and_test"] == ["blur:4"]
    _, dtests, _ = ood_sets(task59, None, None, 0)  # modality defaults
    assert len(dtests) == 3
    with pytest.raises(AutofastError, match="unknown shift family"):
        ood_sets(task59, "mutation:2", None, 0)  # a DNA family on images
    with pytest.raises(AutofastError, match="severity"):
        ood_sets(task59, "noise:9", None, 0)


def test_ood_set_from_user_file(tmp_path, task59):
    from autofast.data.images import digits

    d = digits()
    keep = np.isin(d.y, [5, 6])
    path = tmp_path / "ood.npz"
    np.savez(path, x=d.x[keep][:, 0] * 0.5, y=np.array(d.classes)[d.y[keep]])
    val, _, _ = ood_sets(task59, str(path), ["blur:1"], 0)
    assert len(val) == int(keep.sum()) and set(val.y.tolist()) == {0, 1}  # '5','6' -> indices 0, 1
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=d.x[:20, 0], y=np.array(["5"] * 10 + ["x"] * 10))
    with pytest.raises(AutofastError, match="not among the task's classes"):
        ood_sets(task59, str(bad), None, 0)


def test_metrics_by_hand():
    y = torch.tensor([0, 0, 0, 1, 1, 2])
    pred = torch.tensor([0, 0, 1, 1, 1, 0])
    s = scores_from_predictions(pred, y, 3)
    assert s["accuracy"] == pytest.approx(4 / 6)
    assert s["worst_group"] == 0.0  # class 2 never right
    f1 = [2 * 2 / (3 + 3), 2 * 2 / (2 + 3), 0.0]
    assert s["macro_f1"] == pytest.approx(sum(f1) / 3)


def test_pretrain_checkpoint_round_trip_and_head_reinit(pretrained, task59):
    pt, st, res = pretrained
    assert res["arch"]["backbone"] == "wrn16" and res["classes"] == ["0", "1", "2", "3", "4"]
    for path in (pt, st):
        pre = load_pretrained(str(path), task59)
        assert pre.arch.width == 4 and pre.classes == ["0", "1", "2", "3", "4"]
        m = pre.model()
        sd = pre.state_dict
        assert all(torch.equal(m.state_dict()[k], v) for k, v in sd.items())
    pre = load_pretrained(str(pt), task59)
    make, info = prepare(pre, task59, "auto")
    # same count (5) but other classes: the head must be re-initialised, the body kept
    assert info["head_reinitialised"] and "differ" in info["head_reason"]
    a, b = make(1), make(1)
    assert torch.equal(a.head.weight, b.head.weight) and not torch.equal(a.head.weight, pre.state_dict["head.weight"])
    assert torch.equal(a.stem.weight, pre.state_dict["stem.weight"])
    _, kept = prepare(pre, load_classification("digits", "0-4", seed=0), "auto")
    assert not kept["head_reinitialised"]
    # a task with another class count: the head gets the task's size
    t3 = load_classification("digits", "5-7", seed=0)
    make3, info3 = prepare(pre, t3, "auto")
    assert info3["head_reinitialised"] and make3(0).head.out_features == 3
    with pytest.raises(AutofastError, match="--head keep"):
        prepare(pre, t3, "keep")


def test_wrong_architecture_is_refused(pretrained, task59, tmp_path):
    pt, _, _ = pretrained
    with pytest.raises(AutofastError, match="shape"):
        load_pretrained(str(pt), task59, width=8)  # weights do not fit a wider network
    with pytest.raises(AutofastError, match="1-D"):
        load_pretrained(str(pt), task59, arch="resnet1d")
    bare = tmp_path / "bare.pt"
    torch.save(load_pretrained(str(pt), task59).state_dict, bare)  # no autofast meta
    with pytest.raises(AutofastError, match="--arch"):
        load_pretrained(str(bare), task59)
    pre = load_pretrained(str(bare), task59, arch="wrn16", width=4)  # given by hand it loads
    assert pre.arch.num_classes == 5
    with pytest.raises(AutofastError, match="not found"):
        load_pretrained(str(tmp_path / "nope.pt"), task59)


def test_searched_lr_is_the_one_used(pretrained, task59):
    """The optimiser steps with exactly base_lr * lr_mult at every step: no scheduler, no warm-up."""
    pt, _, _ = pretrained
    pre = load_pretrained(str(pt), task59)
    make, _ = prepare(pre, task59)
    base = 1e-3
    cfg = {"w_ce": 1.0, "w_l2_init": 0.5, "w_entropy": 0.01, "lr_mult": 3.7, "weight_decay": 0.2, "seed": 5}
    for opt_name in ("adamw", "sgd"):
        log = {}
        x, y = task59.x_train[:40], task59.y_train[:40]
        trial = autoft_trial(make, x, y, task59.x_val, task59.y_val, 5, "accuracy", base, opt_name, 16, 3, log)
        run = trial.new_run(cfg)
        opt = run.optimizer
        assert opt.param_groups[0]["lr"] == pytest.approx(base * 3.7, rel=1e-12)
        assert opt.param_groups[0]["weight_decay"] == pytest.approx(0.2)
        for _ in range(2):
            trial.train_epoch(run, cfg)
        lrs = log[config_key(cfg)]
        assert len(lrs) == 2 * steps_per_epoch(40, 16, min_steps=3) and set(lrs) == {base * 3.7}
        assert opt.param_groups[0]["lr"] == base * 3.7
    # the final fine-tune likewise
    model, info = finetune_full(make, AutoFTObjective({"ce": 1.0}), 0.0123, 0.0, 0, task59.x_train[:32],
                                task59.y_train[:32], 2, "adamw", 16, 1)
    assert info["lr_used"] == [0.0123] and info["steps"] == 4


def test_epoch_batches_min_steps():
    def gen():
        return torch.Generator().manual_seed(0)

    steps = steps_per_epoch(10, 4, min_steps=5)
    b = epoch_batches(10, 4, gen(), steps)
    assert steps == 5 and len(b) == 5 and [len(i) for i in b] == [4, 4, 2, 4, 4]
    assert sorted(torch.cat(b[:3]).tolist()) == list(range(10))  # each pass sees every example once
    assert len(epoch_batches(100, 32, gen(), steps_per_epoch(100, 32))) == 4
    assert len(epoch_batches(3, 64, gen(), steps_per_epoch(3, 64, min_steps=5))) == 5  # 1-shot: batches of 3
    assert torch.equal(torch.cat(epoch_batches(10, 4, gen(), 5)), torch.cat(epoch_batches(10, 4, gen(), 5)))


def test_trial_resume_matches_continuous_training(pretrained, task59, tmp_path):
    """A promotion resumes from the checkpoint: 1 + 1 epochs via a checkpoint == 2 epochs straight, bit for bit."""
    from autofast.asha import Job

    pt, _, _ = pretrained
    make, _ = prepare(load_pretrained(str(pt), task59), task59)
    cfg = {"w_ce": 1.0, "w_l2_init": 1.0, "lr_mult": 1.0, "weight_decay": 0.1, "seed": 2}
    x, y = task59.x_train[:48], task59.y_train[:48]
    trial = autoft_trial(make, x, y, task59.x_val, task59.y_val, 5, "accuracy", 1e-3, "adamw", 16, 1)
    s_a = trial(Job(0, cfg, 0, 0, 1), None, tmp_path / "a.pt")
    s_b = trial(Job(0, cfg, 1, 1, 2), str(tmp_path / "a.pt"), tmp_path / "b.pt")
    s_c = trial(Job(1, cfg, 1, 0, 2), None, tmp_path / "c.pt")
    wb = torch.load(tmp_path / "b.pt", weights_only=True)["model"]
    wc = torch.load(tmp_path / "c.pt", weights_only=True)["model"]
    assert all(torch.equal(wb[k], wc[k]) for k in wb)
    assert s_b == s_c and math.isfinite(s_a)


def test_save_checkpoint_meta_for_finetuned(pretrained, task59, tmp_path):
    from autofast.autoft.model import finetuned_meta

    pt, _, _ = pretrained
    pre = load_pretrained(str(pt), task59)
    make, _ = prepare(pre, task59)
    path = tmp_path / "ft.pt"
    save_checkpoint(path, make(0), finetuned_meta(pre, task59))
    again = load_pretrained(str(path), task59)
    assert again.classes == task59.data.classes
    assert not prepare(again, task59)[1]["head_reinitialised"]


def test_a_search_pattern_with_a_position_channel_carries_it_into_autoft(tmp_path):
    """A pattern.json from a DNA search records its position channel; AutoFT's architecture takes it."""
    from autofast.autoft.model import ArchSpec, build_model, pattern_positional
    from autofast.dash.supernet import save_pattern

    path = tmp_path / "pattern.json"
    save_pattern(path, [(5, 3)] * 10, {"backbone": "resnet1d", "positional": True})
    assert pattern_positional(str(path)) is True and pattern_positional(None) is False
    spec = ArchSpec("resnet1d", 1, 4, 3, 8, [(5, 3)] * 10, pattern_positional(str(path)))
    assert spec.meta()["positional"] is True
    assert build_model(spec).stem[0].weight.shape[1] == 5


def test_few_shot_split_carves_a_validation_set_of_the_same_budget(task59):
    from autofast.autoft.tasks import few_shot_split, val_shots_for

    y = task59.y_train  # smallest class: 122 examples
    tr, va = few_shot_split(y, 5, seed=3)
    assert torch.equal(tr, few_shot_indices(y, 5, seed=3))  # the training shots are those of the old protocol
    assert torch.equal(torch.bincount(y[va]), torch.full((5,), 5)) and not set(tr.tolist()) & set(va.tolist())
    assert torch.equal(va, few_shot_split(y, 5, seed=3)[1]) and not torch.equal(va, few_shot_split(y, 5, seed=4)[1])
    smallest = int(torch.bincount(y).min())
    assert val_shots_for(y, 20) == 20 and val_shots_for(y, 100) == smallest - 100  # capped by what is left
    tr100, va100 = few_shot_split(y, 100, 0)
    assert len(va100) == 5 * (smallest - 100) and not set(tr100.tolist()) & set(va100.tolist())
    with pytest.raises(AutofastError, match="no validation example"):
        few_shot_split(y, smallest, 0)
    check_shots(y, [smallest], task59.data.classes)  # the full-val protocol keeps none back
    with pytest.raises(AutofastError, match="kept for the validation shots"):
        check_shots(y, [smallest], task59.data.classes, keep_val=True)


@pytest.mark.parametrize("selection", ["kshot", "full-val"])
def test_compare_both_arms_select_on_the_same_budget(pretrained, tmp_path, monkeypatch, selection):
    """Each arm is handed the cell's training shots and its selection set: k per class from the training pool
    (disjoint) under kshot, the task's validation split under full-val and at 'full'; rows say what was seen."""
    from autofast.autoft import compare

    pt, _, _ = pretrained
    seen = []

    def fake(arm):
        def run(ctx, x, y, x_val, y_val, seed, workdir):
            seen.append((arm, len(y), len(y_val)))
            m = ctx.make(0)
            return m, {"selection_score": 0.5, "lr": 1e-3, "config": {"lr": 1e-3, "weight_decay": 0.0},
                       "epochs": 1, "seconds": 0.0}
        return run

    monkeypatch.setattr(compare, "_run_pretrained", fake("pretrained"))
    monkeypatch.setattr(compare, "_run_baseline", fake("baseline"))
    cfg = compare.CompareConfig(checkpoint=str(pt), task="digits", classes="5-9", shots=[3, "full"], seeds=[0],
                                selection=selection, threads=1)
    r = compare.run_compare(cfg, tmp_path)
    n_val_split = len(load_classification("digits", "5-9", seed=0).y_val)
    (p3, b3), (pf, bf) = seen[:2], seen[2:]
    assert p3[1:] == b3[1:] and pf[1:] == bf[1:]  # the same data for both arms
    assert p3[1] == 15 and p3[2] == (15 if selection == "kshot" else n_val_split)
    assert pf[2] == n_val_split
    rows = {(x["shots"], x["arm"]): x for x in r["rows"]}
    assert rows[(3, "baseline")]["val_shots"] == (3 if selection == "kshot" else "full")
    assert rows[(3, "pretrained")]["n_val"] == p3[2] and rows[("full", "pretrained")]["val_shots"] == "full"
    assert r["selection"] == selection and ("flatters" in r["selected_on"]) == (selection == "full-val")
    md = (tmp_path / "report.md").read_text()
    assert "val shots / class" in md and ("| 3 | 3 | 15 + 15 |" in md) == (selection == "kshot")
