"""The architecture pair (autofast/search/arch_pair.py): the mean prediction of the best DASH and the best plain
configuration as a CNN candidate, its final model (the two scored checkpoints, each on its own pattern) and its
saved model predicting exactly the run's reported test score."""
from __future__ import annotations

import json
import math

import pytest
import torch

from autofast.cli import main
from autofast.search import arch_pair
from autofast.search.arch_pair import PAIR, candidate, mean_log_probs


def _log_probs(g, n, k, right, y):
    """(n, k) log-probabilities whose argmax is y where ``right`` and another class elsewhere."""
    logits = torch.randn(n, k, generator=g, dtype=torch.float64)
    wrong = (y + 1) % k
    target = torch.where(right, y, wrong)
    logits[torch.arange(n), target] += 12.0  # far above the noise: the argmax is the target
    return torch.log_softmax(logits, 1)


def test_pair_is_the_log_of_the_mean_probability_of_its_parts(seed):
    g = torch.Generator().manual_seed(seed)
    n, k = 200, 3
    y = torch.randint(0, k, (n,), generator=g)
    dash_right = torch.rand(n, generator=g) > 0.1
    plain_right = dash_right.clone()
    plain_right[torch.nonzero(~dash_right).flatten()[:4]] = True  # plain fixes 4 of DASH's errors ...
    plain_right[torch.nonzero(dash_right).flatten()[:3]] = False  # ... and makes 3 of its own
    dash, plain = _log_probs(g, n, k, dash_right, y), _log_probs(g, n, k, plain_right, y)
    mean = mean_log_probs(dash, plain)
    assert torch.allclose(mean.exp(), (dash.exp() + plain.exp()) / 2, rtol=1e-12, atol=0)
    per_arch = {"dash": {"score": 0.90, "trial": 3, "rung": 2}, "plain": {"score": 0.91, "trial": 5, "rung": 2}}
    configs = {"dash": {"arch": "dash", "seed": 3}, "plain": {"arch": "plain", "seed": 5}}
    rec = candidate({"dash": dash, "plain": plain}, per_arch, configs, y)
    assert rec["configs"] == [configs["plain"], configs["dash"]]  # the better architecture first
    assert rec["val_acc"] == pytest.approx(float((mean.argmax(1) == y).double().mean()))
    assert rec["val_loss"] == pytest.approx(float(torch.nn.functional.nll_loss(mean, y)), rel=1e-6)
    assert rec["parts"]["dash"]["val_acc"] == pytest.approx(float(dash_right.double().mean()))
    assert rec["eligible"] and rec["part_gap"] == pytest.approx(-1 / n)
    assert candidate({"dash": dash}, per_arch, configs, y) is None  # one architecture: no pair


def test_pair_of_parts_far_apart_is_not_eligible(seed):
    g = torch.Generator().manual_seed(seed)
    n, k = 300, 4
    y = torch.randint(0, k, (n,), generator=g)
    good, bad = torch.rand(n, generator=g) > 0.05, torch.rand(n, generator=g) > 0.5
    rec = candidate({"dash": _log_probs(g, n, k, good, y), "plain": _log_probs(g, n, k, bad, y)},
                    {"dash": {"score": 0.95, "trial": 0, "rung": 1}, "plain": {"score": 0.5, "trial": 1, "rung": 1}},
                    {"dash": {"arch": "dash", "seed": 0}, "plain": {"arch": "plain", "seed": 1}}, y)
    assert not rec["eligible"] and rec["part_gap"] > 0


@pytest.fixture(scope="module")
def pair_run(tmp_path_factory):
    """A JapaneseVowels search with DASH and plain whose pair is scored above everything (the scoring patched: a
    tiny search cannot be relied on to make it win), so the pair's final model is built, tested and saved."""
    mp = pytest.MonkeyPatch()
    real = arch_pair.candidate

    def winning(*args, **kwargs):
        out = real(*args, **kwargs)
        return None if out is None else {**out, "score": 10.0, "eligible": True}

    mp.setattr(arch_pair, "candidate", winning)
    run = tmp_path_factory.mktemp("pair") / "run"
    try:
        code = main(["search", "--task", "JapaneseVowels", "--out", str(run), "--search-epochs", "1",
                     "--search-width", "4", "--folds", "0", "--retrain-width", "8", "--n-configs", "4",
                     "--max-epochs", "2", "--ensemble", "1", "--threads", "1", "--json"])
    finally:
        mp.undo()
    assert code == 0
    return {"run": run, "result": json.loads((run / "result.json").read_text())}


def test_pair_selected_built_from_its_checkpoints_and_predicts_its_test_score(pair_run):
    import autofast

    run, res = pair_run["run"], pair_run["result"]
    sel = res["selection"]
    assert sel["winner"] == PAIR and res["final"]["arch"] == PAIR and PAIR in sel["val_scores"]
    assert "held_out" not in sel["pair"] and set(sel["pair"]["parts"]) == {"dash", "plain"}
    final = res["final"]
    assert final["members"] == 2 and final["member_configs"] == sel["pair"]["configs"]
    assert {c["arch"] for c in final["member_configs"]} == {"dash", "plain"}
    assert final["member_trials"] == [sel["pair"]["parts"][c["arch"]]["trial"] for c in final["member_configs"]]
    assert final["trained_on"].startswith("train (")  # the scored checkpoints, no retrain
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    saved = [m["pattern"] for m in manifest["model"]["members"]]
    assert saved == [res["architectures"][c["arch"]] for c in final["member_configs"]]  # each on its own pattern
    assert "DASH and the best plain" in res["selected_on"]
    assert "dash+plain: the best DASH and the best plain trial averaged" in (run / "report.md").read_text()
    api = autofast.load(run)
    assert api.score("JapaneseVowels") == res["test_score"]
    assert math.isfinite(final["test_loss"])
