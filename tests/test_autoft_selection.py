"""AutoFT's noise-aware objective selection: the one-SE rule on paired per-unit OOD validation scores, CE-only
always a candidate, and the pipeline recording which objective won, by how much, with its SE and why."""
import numpy as np
import pytest
import torch

from autofast.autoft.selection import one_se_select, paired_diff, unit_scores


def _correct(n, acc, rng):
    return (rng.random(n) < acc).astype(float)


def test_one_se_keeps_ce_only_within_noise():
    rng = np.random.default_rng(0)
    ce = _correct(178, 0.85, rng)
    other = ce.copy()
    other[np.flatnonzero(ce == 0)[:4]] = 1.0  # 4 more right, 2 more wrong: +2/178, well inside one SE
    other[np.flatnonzero(ce == 1)[:2]] = 0.0
    sel = one_se_select({"ce_only": ce, "search": other}, ["ce_only", "search"])
    c = sel["candidates"]["search"]
    assert c["mean"] >= sel["candidates"]["ce_only"]["mean"] - 1e-12
    assert 0 <= c["diff_vs_simplest"] <= c["se_vs_simplest"]
    assert sel["winner"] == "ce_only" and sel["units"] == 178


def test_one_se_takes_the_other_objective_when_clearly_better():
    rng = np.random.default_rng(1)
    ce = _correct(178, 0.6, rng)
    other = np.maximum(ce, _correct(178, 0.5, rng))  # never worse, right on ~half of CE's mistakes
    sel = one_se_select({"ce_only": ce, "search": other}, ["ce_only", "search"])
    d, se = paired_diff(other, ce)
    assert d > se > 0
    assert sel["winner"] == "search" and sel["best"] == "search"
    assert sel["candidates"]["search"]["diff_vs_simplest"] == pytest.approx(d)
    assert sel["candidates"]["search"]["se_vs_simplest"] == pytest.approx(se)


def test_one_se_rule_details():
    ce = np.array([1.0, 0.0, 1.0, 0.0])
    assert one_se_select({"ce_only": ce, "search": ce.copy()}, ["ce_only", "search"])["winner"] == "ce_only"  # tie
    worse = np.array([0.0, 0.0, 1.0, 0.0])
    sel = one_se_select({"ce_only": ce, "search": worse}, ["ce_only", "search"])
    assert sel["best"] == "ce_only" and sel["winner"] == "ce_only"
    # three candidates: the simplest within one SE of the best is kept, not the best itself
    a = np.array([1.0] * 50 + [0.0] * 50)
    b = a.copy()
    b[50:52], b[0] = 1.0, 0.0  # 2 won, 1 lost: +0.01 < paired SE 0.017
    c = a.copy()
    c[50:90] = 1.0  # +0.40, far outside
    assert one_se_select({"a": a, "b": b, "c": c}, ["a", "b", "c"])["winner"] == "c"
    assert one_se_select({"a": a, "b": b}, ["a", "b"])["winner"] == "a"
    b[0] = 1.0  # 2 won, 0 lost: paired, +0.02 > SE 0.014 (the rule is one SE, a lenient test)
    assert one_se_select({"a": a, "b": b}, ["a", "b"])["winner"] == "b"
    assert paired_diff(np.ones(1), np.zeros(1)) == (1.0, 0.0)
    with pytest.raises(ValueError, match="paired"):
        one_se_select({"a": a, "b": b[:10]}, ["a", "b"])
    with pytest.raises(ValueError, match="every candidate"):
        one_se_select({"a": a, "b": b}, ["a"])


def test_unit_scores_per_example_and_stratified_folds():
    y = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    pred = y.clone()
    pred[[0, 5]] = 2
    acc = unit_scores(pred, y, 3, "accuracy")
    assert acc.shape == (12,) and acc.mean() == pytest.approx(10 / 12)
    f = unit_scores(pred, y, 3, "worst_group", folds=4, seed=3)
    assert f.shape == (4,) and set(np.round(f, 6)) <= {0.0, 1.0}
    assert np.array_equal(f, unit_scores(pred, y, 3, "worst_group", folds=4, seed=3))  # same folds every call
    assert unit_scores(y, y, 3, "macro_f1", folds=4).tolist() == [1.0] * 4  # every fold holds every class
    assert unit_scores(pred[:2], y[:2], 3, "macro_f1", folds=5).shape == (2,)


def test_paired_diff_over_training_seeds_adds_their_spread():
    rng = np.random.default_rng(3)
    a, b = _correct((3, 67), 0.9, rng), _correct((3, 67), 0.88, rng)
    d = a - b
    mean, se = paired_diff(a, b)
    want = np.sqrt(d.mean(0).var(ddof=1) / 67 + d.mean(1).var(ddof=1) / 3)
    assert mean == pytest.approx(d.mean()) and se == pytest.approx(want)
    assert paired_diff(a[:1], b[:1]) == pytest.approx(paired_diff(a[0], b[0]))  # one seed: the units' SE alone


def test_one_lucky_seed_does_not_pick_the_searched_objective():
    """The splice species case: the searched objective beats CE-only with one training seed by more than the
    units' SE and loses with two others; over the three seeds CE-only is kept."""
    rng = np.random.default_rng(4)
    ce = np.stack([_correct(67, 0.9, rng) for _ in range(3)])
    search = ce.copy()
    search[0, np.flatnonzero(ce[0] == 0)[:4]] = 1.0  # seed 0: +4 of 67 (> one SE of that seed alone)
    search[1, np.flatnonzero(ce[1] == 1)[:3]] = 0.0  # seeds 1, 2: worse
    search[2, np.flatnonzero(ce[2] == 1)[:7]] = 0.0
    alone = one_se_select({"ce_only": ce[0], "search": search[0]}, ["ce_only", "search"])
    assert alone["winner"] == "search"
    sel = one_se_select({"ce_only": ce, "search": search}, ["ce_only", "search"])
    assert sel["winner"] == "ce_only" and sel["seeds"] == 3 and sel["units"] == 67


TINY = dict(width=4, epochs=1, patience=1, batch_size=128, threads=1)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    from autofast.autoft.pretrain import PretrainConfig, run_pretrain

    out = tmp_path_factory.mktemp("pre_sel")
    return out / run_pretrain(PretrainConfig(task="digits", classes="0-4", **TINY), out)["checkpoint"]


def _tiny_finetune(ckpt, out, **kw):
    from autofast.autoft.finetune import FinetuneConfig, run_finetune

    cfg = FinetuneConfig(checkpoint=str(ckpt), task="digits", classes="5-9", ood_val="noise:3", ood_test=["blur:2"],
                         n_configs=2, max_epochs=1, final_epochs=1, final_seeds=[0], control_lr_mults=[1.0],
                         batch_size=128, threads=1, **kw)
    return run_finetune(cfg, out)


def test_pipeline_records_the_selection(ckpt, tmp_path):
    r = _tiny_finetune(ckpt, tmp_path / "ft")
    sel = r["selection"]
    assert set(sel["candidates"]) == {"ce_only", "search"}  # CE-only always a candidate
    assert sel["units"] == 89 and "per-example" in sel["unit_name"]  # accuracy: one unit per OOD val example
    assert sel["seeds"] == 3 and "x 3 training seeds" in sel["unit_name"] and len(set(sel["selection_seeds"])) == 3
    s = sel["candidates"]["search"]
    assert sel["difference"] == s["diff_vs_simplest"] and sel["se"] == s["se_vs_simplest"] >= 0
    assert ("CE-only kept" in sel["reason"]) == (sel["winner"] == "ce_only")
    assert (sel["winner"] == "search") == (sel["difference"] > sel["se"])
    if sel["winner"] == "ce_only":  # the reason says which way the difference went
        assert ("below it" in sel["reason"]) == (sel["difference"] < 0)
        assert ("ties it" in sel["reason"]) == (sel["difference"] == 0)
        assert ("lead" in sel["reason"]) == (sel["difference"] > 0)
    ob, ctl = r["autoft_objective"], r["control"]
    assert ob["source"] == sel["winner"] and r["headline"]["selected_objective"] == sel["winner"]
    if sel["winner"] == "ce_only":  # the AutoFT arm is the control: same objective, lr, runs
        assert ob["weights"] == {"ce": 1.0} and ob["lr"] == ctl["lr"] and ob["weight_decay"] == 0.0
        a, c = (next(x for x in r["runs"] if x["arm"] == arm) for arm in ("autoft", "ce_only"))
        assert a["scores"] == c["scores"]
    else:
        assert ob["weights"] == r["search_objective"]["weights"]
    md = (tmp_path / "ft" / "report.md").read_text()
    assert "Objective selection" in md and sel["reason"] in md and "difference vs CE-only" in md


def test_pipeline_folds_for_worst_group_and_forced_winner(ckpt, tmp_path, monkeypatch):
    """worst_group is scored on stratified folds; when the rule says 'search', the AutoFT arm trains the searched
    objective (the selection function is replaced to force each outcome)."""
    from autofast.autoft import selection

    real = selection.one_se_select

    def force(winner):
        def pick(scores, order):
            return {**real(scores, order), "winner": winner}
        return pick

    monkeypatch.setattr(selection, "one_se_select", force("search"))
    r = _tiny_finetune(ckpt, tmp_path / "wg", metric="worst_group", selection_folds=3)
    assert r["selection"]["units"] == 3 and "folds" in r["selection"]["unit_name"]
    assert r["autoft_objective"]["weights"] == r["search_objective"]["weights"]
    assert r["autoft_objective"]["lr"] == pytest.approx(r["search_objective"]["lr"])
    autoft_run = next(x for x in r["runs"] if x["arm"] == "autoft")
    assert autoft_run["lr_used"] == [pytest.approx(r["search_objective"]["lr"])]
