"""The random-convolution family's input variants (autofast.search.rocket_family): the padded-tail variant is
offered only where the training series look padded, chosen on out-of-fold accuracy only, and a saved model
built on it reproduces its test score from the raw file (the tail is found again in new series); the final
model averages its draws' ridge scores, and its saved form (one draw or several) loads back exactly."""
from __future__ import annotations

import json

import pytest
import torch

from autofast.cli import main
from autofast.data.supervised import load_task
from autofast.search.folds import fold_ids
from autofast.models.rocket import RocketClassifier
from autofast.search.rocket_family import (ZERO_TAIL, RocketModel, candidate, draw_seeds, final, looks_padded,
                                           tail_lengths, variants, zero_tail)


def test_zero_tail_keeps_the_last_step_and_zeroes_its_repeats():
    x = torch.tensor([[[1.0, 2.0, 3.0, 3.0, 3.0], [5.0, 6.0, 7.0, 7.0, 7.0]],   # both channels repeat: 2 zeroed
                      [[1.0, 2.0, 3.0, 3.0, 3.0], [5.0, 6.0, 7.0, 8.0, 8.0]],   # only the last step repeats in both
                      [[4.0, 4.0, 4.0, 4.0, 4.0], [0.5, 0.5, 0.5, 0.5, 0.5]],   # constant: all but the first
                      [[1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 1.0, 1.0, 2.0]]])  # no repeat at the end
    assert tail_lengths(x).tolist() == [3, 2, 5, 1]
    want = x.clone()
    want[0, :, 3:] = 0
    want[1, :, 4:] = 0
    want[2, :, 1:] = 0
    assert torch.equal(zero_tail(x), want)
    assert torch.equal(x[3], zero_tail(x)[3])


def test_only_padded_series_get_the_variant():
    pickup = load_task("PickupGestureWiimoteZ", seed=0)  # variable length, padded by repeating the last value
    assert looks_padded(pickup.x_train) and variants(pickup) == ["as loaded" + ZERO_TAIL, "as loaded", "standardised"]
    for name in ("ACSF1", "JapaneseVowels"):  # equal length / resampled
        task = load_task(name, seed=0)
        assert not looks_padded(task.x_train) and variants(task) == ["as loaded", "standardised"]
    g = torch.Generator().manual_seed(0)  # random DNA one-hot: a run of 3 equal bases ends ~1/16 of the rows
    dna = torch.nn.functional.one_hot(torch.randint(4, (400, 60), generator=g), 4).permute(0, 2, 1).float()
    assert not looks_padded(dna)


def test_padded_tail_variant_is_chosen_on_folds_not_test():
    pickup = load_task("PickupGestureWiimoteZ", seed=0)
    y = torch.cat([pickup.y_train, pickup.y_val])
    cand = candidate(pickup, fold_ids(y, 5, 0), seed=0)
    v = cand["variants"]
    # measured: 5-fold accuracy 0.80 with the padding as zeros (the default where series look padded), 0.78 as
    # loaded, 0.76 standardised: neither beats the default by one standard error of 50 examples (0.057)
    assert list(v) == ["as loaded" + ZERO_TAIL, "as loaded", "standardised"]
    assert cand["input"] == "as loaded" + ZERO_TAIL and max(v.values()) - v[cand["input"]] < 0.057
    assert cand["held_out"].shape == (len(y), pickup.data.num_classes)


def test_padded_tail_model_predicts_its_test_score_from_the_raw_file(tmp_path):
    import autofast

    run = tmp_path / "run"
    assert main(["search", "--task", "PickupGestureWiimoteZ", "--arch", "rocket", "--out", str(run),
                 "--threads", "1", "--json"]) == 0
    res = json.loads((run / "result.json").read_text())
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["model"]["family"] == "rocket" and manifest["model"]["tail_as_zeros"] is True
    # Hydra was scored too; one random-convolution candidate went on to the choice (the contest's)
    contest, scored = res["selection"]["random_convolution_contest"], res["selection"]["features"]
    assert set(scored) == {contest["kept"]} and res["timings"]["hydra"] > 0
    assert "Hydra replaces MiniRocket only when ahead" in (run / "report.md").read_text()
    test_file = "autofast/data/bundled/PickupGestureWiimoteZ/PickupGestureWiimoteZ_TEST.ts"
    assert autofast.load(run).score(test_file) == res["test_score"]


def test_final_model_averages_its_draws_and_round_trips(tmp_path):
    from autofast.predictor.families import build_model, model_record

    task = load_task("JapaneseVowels", seed=0)
    cand = {"input": "standardised"}
    model, _, record = final(task, cand, seed=3)
    assert record["draws"] == 3 and len(model.clfs) == 3 and draw_seeds(3)[0] == 3
    x, y = torch.cat([task.x_train, task.x_val]), torch.cat([task.y_train, task.y_val])
    want = torch.stack([RocketClassifier(seed=s).fit(x, y).decision_function(task.x_test) for s in draw_seeds(3)])
    torch.testing.assert_close(model(task.x_test), torch.log_softmax(want.mean(0), dim=1), rtol=1e-5, atol=1e-5)
    # draws differ (otherwise averaging buys nothing)
    assert not torch.allclose(want[0], want[1])
    manifest = {"model": None}
    for m in (model, RocketModel(model.clfs[0], None, 2.0)):  # several draws; one draw (the format before draws)
        rec, tensors = model_record(m)
        if len(m.clfs) == 1:
            assert isinstance(rec["numbers"], dict) and not any(k.startswith("rocket1.") for k in tensors)
        back = build_model({**manifest, "model": rec}, tensors, tmp_path)
        torch.testing.assert_close(back(task.x_test), m(task.x_test), rtol=0, atol=0)


def test_final_fits_fewer_draws_rather_than_overrun_the_budget():
    """With no time left after its first draw the final model is that draw alone, saying so; with ample time, or
    none given, every draw (splice at --time-budget 20: three ~8-s draws took the run to 63 s)."""
    task = load_task("JapaneseVowels", seed=0)
    cand = {"input": "standardised"}
    one, _, record = final(task, cand, seed=3, time_left=0.0)
    assert len(one.clfs) == 1 and record["draws"] == 1 and "1 of 3 draws" in record["draws_cut"]
    full, _, record = final(task, cand, seed=3, time_left=1e6)
    assert len(full.clfs) == 3 and "draws_cut" not in record
    torch.testing.assert_close(one.clfs[0].decision_function(task.x_test), full.clfs[0].decision_function(task.x_test))


def test_hydra_family_scores_one_input_variant_and_refits_one_draw(tmp_path):
    """The hydra family: the default input only (the MiniRocket family also scores the standardised one), the
    feature set recorded, one draw refit on train+val, saved as family "hydra" and rebuilt exactly."""
    from autofast.models.hydra import HydraClassifier
    from autofast.predictor.families import build_model, model_record
    from autofast.search import hydra_family

    task = load_task("JapaneseVowels", seed=0)
    y = torch.cat([task.y_train, task.y_val])
    cand = hydra_family.candidate(task, fold_ids(y, 3, 0), seed=0)
    assert cand["features"] == "hydra" and list(cand["variants"]) == ["as loaded"] and cand["val_acc"] > 0.9
    assert cand["held_out"].shape == (len(y), task.data.num_classes)
    model, _, record = hydra_family.final(task, cand, seed=0)
    assert record == {"input": "as loaded", "features": "hydra", "draws": 1}
    assert len(model.clfs) == 1 and type(model.clfs[0]) is HydraClassifier
    assert (model(task.x_test).argmax(1) == task.y_test).double().mean() > 0.9
    rec, tensors = model_record(model)
    assert rec["family"] == "hydra" and all(k.startswith(("hydra.", "scaling.")) for k in tensors)
    back = build_model({"model": rec}, tensors, tmp_path)
    torch.testing.assert_close(back(task.x_test), model(task.x_test), rtol=0, atol=0)
    # a MiniRocket record is still read as one
    mini, _, _ = final(task, {"input": "standardised"}, seed=0, draws=1)
    rec, tensors = model_record(mini)
    assert rec["family"] == "rocket"
    assert type(build_model({"model": rec}, tensors, tmp_path).clfs[0]) is RocketClassifier


def test_hydra_replaces_minirocket_only_when_ahead_by_more_than_one_paired_standard_error():
    from autofast.search.hydra_family import contest

    y = torch.zeros(100, dtype=torch.int64)

    def cand(right: int) -> dict:  # held-out scores right on the first `right` examples
        scores = torch.zeros(100, 2, dtype=torch.float64)
        scores[right:, 1] = 1.0
        return {"held_out": scores}

    # 90 vs 89 right: one example apart, se 0.01: MiniRocket stays
    assert contest(cand(89), cand(90), y) == {"gap": pytest.approx(0.01), "se": pytest.approx(0.01), "kept": "rocket"}
    assert contest(cand(85), cand(90), y)["kept"] == "hydra"  # 5 examples, se ~0.022
    assert contest(cand(90), cand(85), y)["kept"] == "rocket" and contest(cand(90), cand(90), y)["kept"] == "rocket"
