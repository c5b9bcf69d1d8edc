"""Series regression (extrinsic regression, the Monash TSER archive's ``.ts`` files with ``@targetLabel true``):
values as targets through the data layer, the ridge-feature regressors, the search's families and blends,
the saved model, ``predict`` and the Python API."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from autofast.data.series import load_series
from autofast.data.supervised import load_task
from autofast.data.types import SupervisedData, merge_parts, targets_from
from autofast.errors import AutofastError


def _series(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2, 40) series whose target is a sinusoid's amplitude plus the second channel's level."""
    rng = np.random.default_rng(seed)
    amp, level = rng.uniform(0.5, 3.0, n), rng.normal(0, 1, n)
    t = np.linspace(0, 4 * np.pi, 40)
    x = np.stack([amp[:, None] * np.sin(t + rng.uniform(0, 6, (n, 1))),
                  level[:, None] + 0.1 * rng.normal(size=(n, 40))], axis=1)
    return x + 0.05 * rng.normal(size=x.shape), 10.0 * amp + 3.0 * level + 50.0


def write_ts(path, x: np.ndarray, y: np.ndarray | None) -> None:
    head = "@problemName toy\n@univariate false\n@equalLength true\n@targetLabel true\n@data\n"
    rows = [":".join(",".join(f"{v:.5f}" for v in ch) for ch in xi) + ("" if y is None else f":{yi:.5f}")
            for xi, yi in zip(x, y if y is not None else [None] * len(x))]
    path.write_text(head + "\n".join(rows) + "\n")


@pytest.fixture
def toy_task(tmp_path):
    x_tr, y_tr = _series(90, 0)
    x_te, y_te = _series(40, 1)
    write_ts(tmp_path / "toy_TRAIN.ts", x_tr, y_tr)
    write_ts(tmp_path / "toy_TEST.ts", x_te, y_te)
    (tmp_path / "toy.yaml").write_text("name: toy\nkind: series\ntrain: toy_TRAIN.ts\ntest: toy_TEST.ts\n"
                                       "split: {val_fraction: 0.2}\n")
    return tmp_path / "toy.yaml", (x_te, y_te)


# ------------------------------------------------------------------------------------------------ data
def test_targets_from_tells_values_from_classes():
    y, names = targets_from(np.array([0.5, 1.25, 3.0]), 3, "f")
    assert y.dtype == np.float64 and y.shape == (3, 1) and names == ["target"]  # (float32 lost 5e7 + 1)
    idx, classes = targets_from(np.array([1.0, 2.0, 1.0]), 3, "f")  # whole numbers: classes unless told
    assert idx.dtype == np.int64 and classes == ["1", "2"]
    y, _ = targets_from(np.array([1.0, 2.0, 1.0]), 3, "f", "regression")
    assert y.dtype == np.float64 and y[:, 0].tolist() == [1.0, 2.0, 1.0]
    y, names = targets_from(np.array(["0.5", "2"]), 2, "f")  # numbers as strings (.ts labels)
    assert y[:, 0].tolist() == [0.5, 2.0]
    y, names = targets_from(np.ones((4, 2)) * 0.5, 4, "f")
    assert y.shape == (4, 2) and names == ["target1", "target2"]
    with pytest.raises(AutofastError, match="not a number"):
        targets_from(np.array(["a", "b"]), 2, "f", "regression")
    with pytest.raises(AutofastError, match="non-integer floats"):
        targets_from(np.array([0.5, 1.5]), 2, "f", "classification")
    with pytest.raises(AutofastError, match="non-finite"):
        targets_from(np.array([0.5, np.nan]), 2, "f")


def test_ts_target_label_loads_values_and_splits_them(toy_task):
    yaml, (_, y_te) = toy_task
    data = load_series(yaml.parent / "toy_TRAIN.ts")
    assert data.regression and data.y.shape == (90, 1) and data.classes == ["target"]
    task = load_task(yaml, seed=3)
    assert task.y_train.dtype == torch.float32 and task.y_train.shape[1] == 1
    raw_train = task.data.y[task.split.train].astype(np.float64)
    # standardised with the TRAIN rows' mean and standard deviation; values() maps back exactly
    assert np.allclose(task.target_mean, raw_train.mean(0), rtol=1e-5)
    assert np.allclose(task.target_scale, raw_train.std(0), rtol=1e-5)
    assert abs(float(task.y_train.mean())) < 1e-5 and abs(float(task.y_train.std(correction=0)) - 1) < 1e-4
    assert np.allclose(task.values(task.y_test.double()).numpy()[:, 0], y_te, atol=1e-3)
    assert "random 0.2" in task.split.provenance["val"]


def test_mixing_values_and_classes_or_target_counts_is_one_error(tmp_path):
    x = np.zeros((4, 1, 5), np.float32)
    values = SupervisedData(x, np.zeros((4, 1), np.float32), ["target"], "a", "series")
    classes = SupervisedData(x, np.array([0, 1, 0, 1]), ["a", "b"], "b", "series")
    two = SupervisedData(x, np.zeros((4, 2), np.float32), ["target1", "target2"], "c", "series")
    with pytest.raises(AutofastError, match="holds class labels but 'train' holds values"):
        merge_parts({"train": values, "test": classes}, "t.yaml")
    with pytest.raises(AutofastError, match="2 target"):
        merge_parts({"train": values, "test": two}, "t.yaml")
    with pytest.raises(AutofastError, match="target values must be float"):
        SupervisedData(x, np.zeros((4, 3), np.float32), ["target"], "d", "series")


def test_task_file_target_forces_regression_of_whole_numbers(tmp_path):
    x, _ = _series(30, 0)
    np.savez(tmp_path / "counts.npz", x=x.astype(np.float32), y=np.arange(30) % 7)
    (tmp_path / "t.yaml").write_text("data: counts.npz\nkind: series\ntarget: regression\n")
    assert load_task(tmp_path / "t.yaml").data.regression
    (tmp_path / "d.yaml").write_text("data: counts.npz\nkind: dense\ntarget: regression\n")
    with pytest.raises(AutofastError, match="'target: regression' is for series, image arrays and DNA tables"):
        load_task(tmp_path / "d.yaml")


# ------------------------------------------------------------------------------------------------ models
@pytest.mark.parametrize("name", ["minirocket", "hydra"])
def test_ridge_feature_regressor_matches_a_float64_ridge_on_its_features(name):
    from autofast.models.ridge import REGRESSION_ALPHAS
    from autofast.search.rocket_family import FEATURES

    x, y = _series(80, 2)
    x, xt = torch.tensor(x[:60], dtype=torch.float32), torch.tensor(x[60:], dtype=torch.float32)
    yt = torch.tensor(y[:60], dtype=torch.float32)
    reg = FEATURES[name](seed=1).fit(x, yt)
    assert reg.regression_ and reg.num_classes == 1 and len(reg.alphas) == len(REGRESSION_ALPHAS)
    pred = reg.predict(xt)
    assert pred.shape == (20, 1) and pred.dtype == torch.float32
    # reference: the same fitted transform, StandardScaler-like scaling, closed-form ridge at the chosen alpha
    f = reg.transform.transform(x).double()
    mean, std = reg._mean, reg._std
    g = (f - mean) / std if name == "minirocket" else None
    if g is None:  # Hydra's own scaling: read it back through the fitted pipeline
        g = reg._scaled(f.clone())
    gm, ym = g.mean(0), yt.double().mean()
    a = g - gm
    coef = torch.linalg.solve(a.T @ a + reg.alpha_ * torch.eye(a.shape[1], dtype=torch.float64),
                              a.T @ (yt.double() - ym))
    ft = reg._scaled(reg.transform.transform(xt).double())
    ref = (ft - gm) @ coef + ym
    assert torch.allclose(pred[:, 0].double(), ref, rtol=1e-3, atol=1e-3 * float(yt.std()))
    assert reg.score(xt, torch.tensor(y[60:])) > 0.5  # the amplitude is learnable from the features


def test_regressor_round_trips_and_refuses_probabilities():
    from autofast.models.rocket import RocketClassifier

    x, y = _series(40, 3)
    x = torch.tensor(x, dtype=torch.float32)
    reg = RocketClassifier(seed=0).fit(x, torch.tensor(y, dtype=torch.float32))
    back = RocketClassifier.from_state_dict(reg.state_dict())
    assert back.regression_ and torch.equal(back.predict(x), reg.predict(x))
    with pytest.raises(Exception, match="regresses values"):
        reg.predict_proba(x)


def test_paired_gap_on_values_counts_squared_errors():
    from autofast.search.blend import paired_gap, score_blend

    y = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    a = torch.tensor([[0.0], [1.0], [2.0], [3.5]])  # squared errors 0, 0, 0, .25
    b = torch.tensor([[1.0], [1.0], [2.0], [3.0]])  # 1, 0, 0, 0
    gap, se = paired_gap(a, b, y)
    d = torch.tensor([1.0, 0, 0, -0.25], dtype=torch.float64)
    assert gap == pytest.approx(float(d.mean())) and se == pytest.approx(float(d.std() / 2))
    rec = score_blend(a.double(), b.double(), y)
    assert rec["val_acc"] is None and rec["val_loss"] == pytest.approx(float(((a + b) / 2 - y).square().mean()))


def test_a_winner_without_signal_beyond_the_mean_gives_way_to_the_feature_family():
    from autofast.search.blend import beats_mean
    from autofast.search.pipeline import _no_signal_fallback

    g = torch.Generator().manual_seed(0)
    y = torch.randn(200, 1, generator=g, dtype=torch.float64)
    noise = torch.randn(200, 1, generator=g, dtype=torch.float64)
    signal = 0.8 * y + 0.3 * noise  # predicts y
    junk = 0.5 * noise  # predicts nothing
    # beats_mean: the paired squared-error advantage over predicting 0, by hand
    d = (y.square() - (signal - y).square()).flatten()
    rec = beats_mean(signal, y)
    assert rec["gap"] == pytest.approx(float(d.mean())) and rec["se"] == pytest.approx(float(d.std() / 200 ** 0.5))
    assert rec["ahead"] and not beats_mean(junk, y)["ahead"]
    features = {"rocket": {"score": -1.0, "held_out": junk}, "hydra": {"score": -0.9, "held_out": junk}}
    say = []
    # a CNN winner with signal stays; without, the best-scored family goes on instead
    assert _no_signal_fallback("plain", features, {}, signal, y, say.append)[0] == "plain"
    winner, rec = _no_signal_fallback("plain", features, {}, junk, y, say.append)
    assert winner == "hydra" and rec["instead"] == "hydra" and rec["candidate"] == "plain" and not rec["ahead"]
    assert len(say) == 1 and "no better than the training mean" in say[0]
    # a blend is judged on the mean of its parts' predictions
    both = {"rocket": {"score": -1.0, "held_out": signal}}
    assert _no_signal_fallback("cnn+rocket", both, {"cnn+rocket": {}}, signal, y, say.append)[0] == "cnn+rocket"
    assert _no_signal_fallback("cnn+rocket", both, {"cnn+rocket": {}}, -signal, y, say.append)[0] == "rocket"
    # nothing to fall back to (no family with held-out predictions): unchanged, not tested
    assert _no_signal_fallback("plain", {"linear": {"score": 0.0}}, {}, junk, y, say.append) == ("plain", None)


def test_plan_fits_random_convolution_families_on_series_values_only():
    from autofast.budget import StepCost
    from autofast.search.plan import DataSize, make_plan

    cost = StepCost(overhead=0.005, per_example=0.0004, supernet_overhead=0.01, supernet_per_example=0.0006,
                    rocket_per_example=1e-4, hydra_per_example=1e-4)
    size = DataSize(n_train=100, n_val=20, example_shape=(2, 40), num_classes=0, kind="series", min_class_count=0,
                    padded=False)
    plan = make_plan(size, cost, 60.0, "given", {}, "auto", 2.0, 0.0)
    assert plan.rocket and plan.hydra
    image = DataSize(n_train=100, n_val=20, example_shape=(1, 8, 8), num_classes=0, kind="image", min_class_count=0,
                     padded=False)
    assert not make_plan(image, cost, 60.0, "given", {}, "auto", 2.0, 0.0).rocket
    with pytest.raises(AutofastError, match="--arch rocket is for 1-D tasks"):
        make_plan(image, cost, 60.0, "given", {}, "rocket", 2.0, 0.0)


# ------------------------------------------------------------------------------------------------ end to end
def test_search_predict_and_api_on_series_values(toy_task, tmp_path, capsys):
    import autofast
    from autofast.cli import main

    yaml, (x_te, y_te) = toy_task
    run = tmp_path / "run"
    assert main(["search", "--task", str(yaml), "--out", str(run), "--time-budget", "40", "--threads", "1",
                 "--retrain-width", "8", "--search-width", "4", "--folds", "3"]) == 0
    res = json.loads((run / "result.json").read_text())
    assert res["metric"] == "RMSE" and res["lower_is_better"]
    assert res["final"]["test_rmse"] == res["test_score"] and res["test_score"] < float(np.std(y_te))
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["regression"] and manifest["target"]["names"] == ["target"]
    report = (run / "report.md").read_text()
    assert "class probabilities" not in report and "accuracies" not in report and "minus MSE" in report, report
    # the scores selected on are minus the MSE on standardised targets: said so (it read "out-of-fold RMSE")
    assert "3-fold out-of-fold MSE on standardised targets" in res["selected_on"], res["selected_on"]
    assert "candidates (validation, minus MSE on standardised targets)" in capsys.readouterr().out
    # predict on the raw test file: values in the targets' units, the run's RMSE again
    out = tmp_path / "pred.csv"
    assert main(["predict", str(run), "--data", str(yaml.parent / "toy_TEST.ts"), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rmse"] == pytest.approx(res["test_score"], rel=1e-4)
    rows = out.read_text().splitlines()
    assert rows[0] == "index,predicted_target" and len(rows) == 41
    pred = np.array([float(r.split(",")[1]) for r in rows[1:]])
    assert np.sqrt(np.mean((pred - y_te) ** 2)) == pytest.approx(res["test_score"], rel=1e-3)
    loaded = autofast.load(run)
    assert loaded.regression and loaded.predict(x_te).shape == (40,)
    assert loaded.score(str(yaml)) == pytest.approx(res["test_score"], rel=1e-4)
    # the arrays as the .ts file holds them (5 decimals): the unrounded ones score up to ~1e-4 apart by model
    assert loaded.score(np.round(x_te, 5), np.round(y_te, 5)) == pytest.approx(res["test_score"], rel=1e-5)
    with pytest.raises(AutofastError, match="predicts values"):
        loaded.predict_proba(x_te)


def test_regressor_estimator_fits_predicts_and_pickles():
    import pickle

    from sklearn.base import clone

    from autofast import AutofastRegressor
    from autofast.estimator import EstimatorInputError

    x, y = _series(80, 4)
    xt, yt = _series(30, 5)
    reg = AutofastRegressor(time_budget=30, arch="rocket", folds=0, threads=1).fit(x, y)
    pred = reg.predict(xt)
    assert pred.shape == (30,) and pred.dtype == np.float64 and reg.n_targets_ == 1
    assert reg.score(xt, yt) > 0.5  # R^2 on held-out series
    assert np.allclose(pickle.loads(pickle.dumps(reg)).predict(xt), pred)
    assert clone(reg).get_params()["arch"] == "rocket"
    two = AutofastRegressor(time_budget=30, arch="rocket", folds=0, threads=1).fit(x, np.stack([y, -y], 1))
    assert two.predict(xt).shape == (30, 2)
    with pytest.raises(EstimatorInputError, match="numeric targets"):
        AutofastRegressor(time_budget=30).fit(x, np.array(["a"] * 80))


def test_a_tasks_own_validation_file_is_where_candidates_are_selected():
    from autofast.budget import StepCost
    from autofast.search.plan import DataSize, make_plan

    cost = StepCost(overhead=0.005, per_example=0.0004, rocket_per_example=1e-5, hydra_per_example=1e-5)
    common = dict(n_train=360, example_shape=(6, 24), num_classes=0, kind="series")
    own = make_plan(DataSize(n_val=120, val_file=True, **common), cost, 120.0, "given", {}, "auto", 2.0, 0.0)
    assert own.folds == 0 and "own validation file" in own.why["folds"]
    carved = make_plan(DataSize(n_val=120, **common), cost, 120.0, "given", {}, "auto", 2.0, 0.0)
    assert carved.folds == 5  # a carved split of 120 < 250: folds over train+val
    tiny = make_plan(DataSize(n_val=20, val_file=True, **common), cost, 120.0, "given", {}, "auto", 2.0, 0.0)
    assert tiny.folds == 5  # 20 values are noise whoever chose them


def test_search_records_the_own_validation_file(tmp_path):
    from autofast.search.pipeline import data_size

    x, y = _series(100, 6)
    for part, sl in (("TRAIN", slice(0, 40)), ("VAL", slice(40, 100)), ("TEST", slice(40, 60))):
        write_ts(tmp_path / f"t_{part}.ts", x[sl], y[sl])
    (tmp_path / "t.yaml").write_text("kind: series\ntrain: t_TRAIN.ts\nval: t_VAL.ts\ntest: t_TEST.ts\n")
    size = data_size(load_task(tmp_path / "t.yaml"))
    assert size.val_file and size.n_val == 60 and size.num_classes == 0


def test_dna_table_with_a_numeric_column_is_a_regression_task(tmp_path, capsys):
    """Sequences -> a measured value (e.g. a promoter's strength): the GC content here; a search with the
    random-convolution regressor only, then ``predict`` on the table gives the run's RMSE."""
    from autofast.cli import main

    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), 30, p=[0.5 - g / 2, g / 2, g / 2, 0.5 - g / 2]))
            for g in rng.uniform(0.2, 0.8, 120)]
    gc = [round((s.count("G") + s.count("C")) / 30 + 0.01 * rng.normal(), 4) for s in seqs]
    (tmp_path / "gc.csv").write_text("sequence,label\n" + "\n".join(f"{s},{v}" for s, v in zip(seqs, gc)) + "\n")
    task = load_task(tmp_path / "gc.csv")
    assert task.data.kind == "dna" and task.data.regression and task.y_train.shape[1] == 1
    run = tmp_path / "run"
    assert main(["search", "--task", str(tmp_path / "gc.csv"), "--arch", "rocket", "--folds", "0", "--out", str(run),
                 "--time-budget", "30", "--threads", "1"]) == 0
    res = json.loads((run / "result.json").read_text())
    assert res["metric"] == "RMSE" and res["test_score"] < float(np.std(gc))
    assert f"{res['final']['draws']} draw(s) of the random features" in (run / "report.md").read_text()
    capsys.readouterr()
    assert main(["predict", str(run), "--data", str(tmp_path / "gc.csv"), "--out", str(tmp_path / "p.csv"),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 120 and summary["rmse"] is not None and summary["targets"] == ["target"]


def test_values_with_a_large_offset_keep_their_signal():
    """Targets 5e7 + v (std 1) were cast to float32 (resolution 4 at 5e7): two distinct training values, test RMSE
    worse than the mean's, and predict's RMSE beside result.json's another number. Values are float64 now, and
    a model's outputs go back to units in float64."""
    from autofast.data.supervised import SupervisedTask
    from autofast.data.types import SupervisedData, targets_from
    from autofast.predictor.model import Predictor

    g = np.random.default_rng(0)
    v = g.normal(size=60)
    y, names = targets_from(5e7 + v, 60, "x", "regression", "series")
    assert y.dtype == np.float64 and np.allclose(y[:, 0] - 5e7, v, atol=1e-6)
    data = SupervisedData(g.normal(size=(60, 1, 8)).astype(np.float32), y, names, "x", "series")
    task = SupervisedTask.build("x", data, seed=0)
    assert len(torch.unique(task.y_train)) == len(task.y_train) and abs(float(task.y_train.std()) - 1) < 0.3
    model = Predictor.__new__(Predictor)
    model.manifest = {"target": {"scale": [float(task.target_scale[0])], "mean": [float(task.target_mean[0])]}}
    model.kind = "series"
    back = model.to_units(task.y_train)
    want = torch.from_numpy(y[task.split.train])
    assert back.dtype == torch.float64 and float((back - want).abs().max()) < 1e-3


def test_a_stray_cell_among_values_and_whole_numbers_in_an_official_test_file(tmp_path):
    """A float label column with one 'n/a' was read as 800 classes ('leave the val split empty'); under 'target:
    regression' the error quoted a valid number. A test file whose values happen to be whole numbers was read as
    classes beside a training file of values ('holds class labels but train holds values')."""
    from autofast.data.task_file import load_task_file
    from autofast.data.types import target_values, targets_from

    labels = np.asarray([f"{v:.3f}" for v in np.random.default_rng(0).normal(size=40)])
    labels[7] = "n/a"
    with pytest.raises(AutofastError, match=r"target 8 is 'n/a', not a number, where the others are values"):
        targets_from(labels, 40, "f.csv")
    with pytest.raises(AutofastError, match=r"target 8 \(example 8\) is 'n/a'"):
        target_values(labels, 40, "f.csv")
    g = np.random.default_rng(1)
    np.savez(tmp_path / "train.npz", x=g.normal(size=(20, 1, 8)), y=g.normal(size=20) * 3)
    np.savez(tmp_path / "test.npz", x=g.normal(size=(6, 1, 8)), y=np.arange(6.0))
    (tmp_path / "t.yaml").write_text("train: train.npz\ntest: test.npz\nkind: series\n")
    _, data, _ = load_task_file(tmp_path / "t.yaml")
    assert data.regression and data.y[-6:, 0].tolist() == [0, 1, 2, 3, 4, 5]


def test_outlying_training_targets_are_said():
    """8 of 400 training targets at 1000 beside values near 20 pulled the model off (test RMSE 24.2 where the
    training mean gave 20.0) without a word."""
    from types import SimpleNamespace

    from autofast.search.pipeline import outlier_note

    g = np.random.default_rng(0)
    y = 20 + g.normal(size=(400, 1)) * 5
    y[:8] = 1000.5
    mean, scale = y.mean(0), y.std(0)
    task = SimpleNamespace(y_train=torch.from_numpy((y - mean) / scale).float(), target_mean=mean,
                           values=lambda out: out * torch.from_numpy(scale) + torch.from_numpy(mean))
    assert outlier_note(task).startswith("8 of the 400 training targets lie over 8 robust standard deviations")
    clean = y.copy()
    clean[:8] = 20.0
    task.y_train = torch.from_numpy((clean - mean) / scale).float()
    assert outlier_note(task) is None
