"""The CNN + random-convolution blend candidate (autofast/search/blend.py): its temperature, its log
probabilities, its selection only when it beats both parts on validation, and its saved final model
predicting exactly the run's reported test score."""
from __future__ import annotations

import json
import math

import pytest
import torch

from autofast.cli import main
from autofast.search import blend as blend_mod
from autofast.search.blend import blend_log_probs, fit_temperature, score_blend
from autofast.search.pipeline import choose_family


@pytest.mark.parametrize("t0", [0.5, 4.0, 30.0])
def test_temperature_recovers_the_generating_one(t0):
    g = torch.Generator().manual_seed(int(t0 * 10))
    scores = torch.randn(20000, 3, generator=g, dtype=torch.float64)
    y = torch.multinomial(torch.softmax(t0 * scores, dim=1), 1, generator=g).flatten()
    assert fit_temperature(scores, y) == pytest.approx(t0, rel=0.08)


def test_temperature_of_separable_scores_stays_off_its_bound():
    """Held-out scores that separate the classes: the plain fit ran to T = 1000 (probabilities of exactly 0 and
    1); the next example is wrong with probability ~1/(N + 2), so the most likely class gets about 1 - 1/(N + 2)."""
    import math

    g = torch.Generator().manual_seed(int(torch.randint(0, 2**31, (1,))))
    y = torch.arange(100) % 2
    scores = torch.randn(100, 2, generator=g, dtype=torch.float64) * 0.1
    scores[torch.arange(100), y] += 1.0  # every label ahead by about 1
    t = fit_temperature(scores, y)
    assert 1.0 < t < 100.0
    top = torch.softmax(t * scores, dim=1).max(1).values
    assert 0.9 < float(top.mean()) < 1.0 and float(top.max()) < 1.0 - 1e-6
    assert math.isclose(float(1 - top.mean()), 1 / 102, rel_tol=0.6)


def test_blend_is_the_log_of_the_mean_probability():
    g = torch.Generator().manual_seed(1)
    cnn = torch.log_softmax(torch.randn(50, 4, generator=g, dtype=torch.float64), dim=1)
    ridge = torch.randn(50, 4, generator=g, dtype=torch.float64)
    ref = torch.log(0.5 * cnn.exp() + 0.5 * torch.softmax(2.5 * ridge, dim=1))
    assert torch.allclose(blend_log_probs(cnn, ridge, 2.5), ref, rtol=1e-12, atol=1e-12)


def test_blend_fixes_errors_of_either_part():
    """The CNN wrong but unsure on one third of the examples, the ridge scores on another third: the blend
    is right on every example."""
    n = 90
    y = torch.arange(n) % 2
    p_right = torch.where(torch.arange(n) % 3 == 0, 0.4, 0.9).double()  # the CNN's probability of the label
    margin = torch.where(torch.arange(n) % 3 == 1, -0.1, 1.0).double()  # the ridge score of the label, minus it for the other
    cnn = torch.zeros(n, 2, dtype=torch.float64)
    ridge = torch.zeros(n, 2, dtype=torch.float64)
    rows = torch.arange(n)
    cnn[rows, y], cnn[rows, 1 - y] = p_right.log(), (1 - p_right).log()
    ridge[rows, y], ridge[rows, 1 - y] = margin, -margin
    out = score_blend(cnn, ridge, y)
    assert out["cnn_val_acc"] == pytest.approx(2 / 3) and out["val_acc"] == 1.0 and out["temperature"] > 0


def _parts(cnn_right: torch.Tensor, family_right: torch.Tensor):
    """Two-class held-out predictions right exactly where the masks say: (CNN log probs, family scores, y)."""
    n = len(cnn_right)
    y = torch.arange(n) % 2
    rows = torch.arange(n)
    cnn = torch.full((n, 2), math.log(0.2), dtype=torch.float64)
    cnn[rows, torch.where(cnn_right, y, 1 - y)] = math.log(0.8)
    feats = torch.zeros(n, 2, dtype=torch.float64)
    feats[rows, torch.where(family_right, y, 1 - y)] = 1.0
    return cnn, feats, y


def test_blend_of_parts_far_apart_is_not_a_candidate():
    """ACSF1-like: the CNN right on 60 of 100 held-out examples, the features on 75 (the 60 among them):
    the gap 0.15 is 4 standard errors of the paired difference -> not eligible; splice-like parts that differ
    on 2 + 3 of 100 examples are; the line is drawn at two standard errors."""
    idx = torch.arange(100)
    cnn, feats, y = _parts(idx < 60, idx < 75)
    out = blend_mod.parts_comparable(cnn, feats, y)
    d = (idx < 60).double() - (idx < 75).double()
    assert out["part_gap"] == pytest.approx(-0.15)
    assert out["part_gap_se"] == pytest.approx(float(d.std()) / 10.0)
    assert not out["eligible"] and not score_blend(cnn, feats, y)["eligible"]
    cnn, feats, y = _parts((idx < 95) & (idx != 3) & (idx != 4), (idx < 95) & (idx != 90) & (idx != 91) & (idx != 92) | (idx == 3))
    out = blend_mod.parts_comparable(cnn, feats, y)
    assert abs(out["part_gap"]) == pytest.approx(0.01) and out["eligible"]
    # the threshold, two standard errors: 8 vs 2 discordant examples (1.9 SE) in, 9 vs 1 (2.6 SE) out
    for cnn_only, family_only, eligible in ((8, 2, True), (9, 1, False)):
        cnn, feats, y = _parts((idx < 80) | ((idx >= 80) & (idx < 80 + cnn_only)),
                               (idx < 80) | ((idx >= 90) & (idx < 90 + family_only)))
        out = blend_mod.parts_comparable(cnn, feats, y)
        d = torch.zeros(100, dtype=torch.float64)
        d[80:80 + cnn_only], d[90:90 + family_only] = 1.0, -1.0
        assert out["part_gap_se"] == pytest.approx(float(d.std()) / 10.0)
        assert (abs(out["part_gap"]) / out["part_gap_se"] < 2.0) == eligible and out["eligible"] == eligible


def test_a_blend_behind_one_of_its_parts_is_not_a_candidate():
    """Parts within two standard errors (features right on 26 of 30, the CNN on 20, 17 of them shared) whose
    blend follows the over-confident CNN where they disagree: the features alone are ahead of the blend by 0.2
    (> one paired standard error), so it is no candidate (it was chosen: test 0.77 where the features gave 0.98)."""
    idx = torch.arange(30)
    cnn_right = idx < 20
    feats_right = (idx < 17) | ((idx >= 20) & (idx < 29))
    cnn, feats, y = _parts(cnn_right, feats_right)
    cnn = torch.where(cnn > math.log(0.5), math.log(0.99), math.log(0.01))  # sure of itself, right or wrong
    assert blend_mod.parts_comparable(cnn, feats, y)["eligible"]
    out = score_blend(cnn, feats, y)
    assert not out["eligible"] and out["behind"]["part"] == "features" and out["val_acc"] == pytest.approx(20 / 30)
    assert out["behind"]["gap"] == pytest.approx(6 / 30) and out["behind"]["gap"] > out["behind"]["se"]
    cnn, feats, y = _parts(cnn_right, feats_right)  # an unsure CNN: the blend follows the features, stays a candidate
    assert score_blend(cnn, feats, y)["eligible"]


def test_a_blend_behind_another_single_candidate_is_not_a_candidate():
    """40 splice rows (a user audit): the CNN and the random-convolution features 0.47 out of fold each, their blend
    0.44, the kernel SVM 0.84 -- the blend (parts comparable) was chosen over every single candidate, test 0.50 (the
    majority class). Another family ahead of the blend by more than one paired standard error now rules it out."""
    idx = torch.arange(30)
    cnn, feats, y = _parts(idx < 14, (idx >= 10) & (idx < 24))  # each right on 14 of 30
    other, _, _ = _parts(idx < 27, idx < 27)  # right on 27 of 30
    assert score_blend(cnn, feats, y)["eligible"]
    out = score_blend(cnn, feats, y, {"wd": other})
    assert not out["eligible"] and out["behind"]["part"] == "wd" and out["behind"]["gap"] > out["behind"]["se"]
    close, _, _ = _parts(idx < 15, idx < 15)  # a single candidate only as good as the blend: it stays one
    assert score_blend(cnn, feats, y, {"wd": close})["eligible"]


def test_family_scored_with_its_fitted_temperature():
    """Ridge-like scores of a 0.9-accurate family: the calibrated loss is the cross-entropy at the fitted
    temperature, below the raw one; accuracy and held-out scores unchanged."""
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 3, (300,), generator=g)
    scores = 0.2 * torch.randn(300, 3, generator=g, dtype=torch.float64)
    scores[torch.arange(300), y] += 0.5
    acc = float((scores.argmax(1) == y).double().mean())
    raw = float(torch.nn.functional.cross_entropy(scores, y))
    cand = blend_mod.calibrated({"held_out": scores, "val_acc": acc, "val_loss": raw, "score": 0.0}, y)
    t = cand["temperature"]
    assert t == pytest.approx(fit_temperature(scores, y))
    assert cand["val_loss"] == pytest.approx(float(torch.nn.functional.cross_entropy(t * scores, y)), rel=1e-5)
    assert cand["val_loss"] < raw and cand["raw_val_loss"] == raw and cand["val_acc"] == acc
    assert cand["score"] < acc and cand["score"] == pytest.approx(acc, abs=1e-5)


def test_family_choice():
    """An eligible blend (parts comparable) over every single candidate, the best of several; without one,
    ties go to the cheaper candidate: a feature family over the CNN, then the family listed first."""
    assert choose_family("dash", 0.9, {}, {}) == "dash"
    assert choose_family("plain", 0.9, {"rocket": 0.9}, {}) == "rocket"
    assert choose_family("plain", 0.91, {"rocket": 0.9}, {}) == "plain"
    # a blend wins even where a single candidate scored more on validation (the CNN's score is a max over trials)
    assert choose_family("plain", 0.93, {"rocket": 0.9}, {"cnn+rocket": 0.91}) == "cnn+rocket"
    assert choose_family("plain", 0.95, {"rocket": 0.8, "wd": 0.96}, {"cnn+rocket": 0.955}) == "cnn+rocket"
    assert choose_family("plain", 0.95, {"rocket": 0.8, "wd": 0.96}, {"cnn+rocket": 0.955, "cnn+wd": 0.97}) \
        == "cnn+wd"
    assert choose_family("plain", 0.95, {"rocket": 0.9, "wd": 0.9}, {"cnn+rocket": 0.97, "cnn+wd": 0.97}) \
        == "cnn+rocket"  # ties: the family listed first
    assert choose_family(None, None, {"rocket": 0.8}, {"cnn+rocket": 0.9}) == "rocket"  # no CNN: no blend
    assert choose_family("plain", 0.95, {"rocket": 0.95, "kmer": 0.95}, {}) == "rocket"  # ties: first family
    assert choose_family(None, None, {}, {}) is None


@pytest.fixture(scope="module")
def blended_run(tmp_path_factory):
    """A JapaneseVowels search whose blend candidate is scored above both parts (the scoring patched: a tiny
    search cannot be relied on to make the blend win), so the blended final model is built, tested, saved."""
    mp = pytest.MonkeyPatch()
    real = blend_mod.score_blend

    def winning(cnn_log_probs, feature_scores, y, others=None):
        out = real(cnn_log_probs, feature_scores, y, others)
        return {**out, "score": 10.0, "eligible": True}

    mp.setattr(blend_mod, "score_blend", winning)
    run = tmp_path_factory.mktemp("blend") / "run"
    try:
        code = main(["search", "--task", "JapaneseVowels", "--out", str(run), "--search-epochs", "1", "--search-width", "4", "--folds", "0",
                     "--retrain-width", "8", "--n-configs", "2", "--max-epochs", "2", "--ensemble", "1",
                     "--threads", "1", "--json"])
    finally:
        mp.undo()
    assert code == 0
    return {"run": run, "result": json.loads((run / "result.json").read_text())}


def test_blend_selected_built_and_predicts_its_test_score(blended_run, capsys):
    import autofast

    run, res = blended_run["run"], blended_run["result"]
    sel = res["selection"]
    assert sel["winner"] == "cnn+rocket" and res["final"]["family"] == "cnn+rocket"
    assert set(sel["val_scores"]) >= {"plain", "rocket", "cnn+rocket"}
    assert "held_out" not in sel["features"]["rocket"]  # the validation scores stay out of result.json
    t = sel["blends"]["cnn+rocket"]["temperature"]
    assert t > 0 and res["final"]["features"]["temperature"] == t and res["final"]["features"]["family"] == "rocket"
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["model"]["family"] == "cnn" and manifest["model"]["blend"]["family"] == "rocket"
    assert manifest["model"]["blend"]["temperature"] == t
    api = autofast.load(run)
    assert api.score("JapaneseVowels") == res["test_score"]
    assert repr(api.predictor).endswith("resnet1d x1 + rocket, 9 classes)")  # the features part named too
    proba = api.predict_proba("JapaneseVowels")
    assert proba.shape == (370, 9) and torch.allclose(torch.as_tensor(proba).sum(1).double(),
                                                      torch.ones(370, dtype=torch.float64), atol=1e-5)
    assert math.isfinite(res["final"]["test_loss"])


def test_report_says_why_a_blend_won_below_a_single_candidate():
    """The report's selection section: a blend chosen by the rule (its validation score under the best single's)
    is said to be the final model by rule, with its signed margin; a single winner keeps 'ahead of the runner-up'."""
    from autofast.search.report import selection_lines

    blend = {"score": 0.97, "eligible": True, "part_gap": 0.0, "part_gap_se": 0.01}
    sel = {"winner": "cnn+wd", "val_scores": {"dash": 0.975, "wd": 0.96, "cnn+wd": 0.97}, "margin": -0.005,
           "blends": {"cnn+wd": blend}}
    text = "\n".join(selection_lines({"selection": sel}))
    assert "**cnn+wd**: a blend whose parts are comparable is the final model" in text and "-0.0050" in text
    assert "such a blend is the final model" in text
    single = {**sel, "winner": "dash", "margin": 0.005, "blends": {"cnn+wd": {**blend, "eligible": False}}}
    text = "\n".join(selection_lines({"selection": single}))
    assert "ahead of the runner-up by 0.0050" in text and "cnn+wd not a candidate" in text


def test_a_regression_report_speaks_of_predictions_and_errors():
    """Values: the selection section names the score (minus MSE), blends of predictions (not class probabilities)
    and parts that differ in MSE (tests/test_series_regression.py: the whole report of a regression search)."""
    from autofast.search.report import selection_lines

    blend = {"score": -0.95, "eligible": False, "part_gap": 0.3, "part_gap_se": 0.1, "val_acc": None}
    pair = {"val_acc": None, "val_loss": 0.9, "eligible": False, "part_gap": 0.2, "part_gap_se": 0.05,
            "parts": {"dash": {"trial": 1, "rung": 2, "val_acc": None, "val_loss": 0.95},
                      "plain": {"trial": 3, "rung": 2, "val_acc": None, "val_loss": 0.97}}}
    sel = {"winner": "rocket", "val_scores": {"plain": -0.98, "rocket": -0.99, "cnn+rocket": -0.95}, "margin": 0.01,
           "blends": {"cnn+rocket": blend}, "pair": pair}
    text = "\n".join(selection_lines({"selection": sel, "metric": "RMSE"}))
    assert "minus MSE, standardised targets" in text and "X's predictions averaged" in text
    assert "class probabilities" not in text and "accuracy" not in text and "accuracies" not in text, text
    assert "parts differ by 0.3000 in MSE" in text and "validation MSE 0.9500" in text
    classify = "\n".join(selection_lines({"selection": {**sel, "pair": None, "blends": {}}, "metric": "accuracy"}))
    assert "class probabilities averaged" in classify and "accuracies differ" in classify
