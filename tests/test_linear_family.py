"""The linear family for forecasting windows and dense fields (autofast/search/linear_family.py): the ridge fit
against scikit-learn's RidgeCV on fresh random data, its validation and out-of-fold scoring, an ETTh1 search whose
final model is the ridge, saved and predicting exactly the run's test score, and a dense search that can end with
the field's ridge."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from autofast.cli import main
from autofast.errors import AutofastError
from autofast.engine import task_loss
from autofast.search import linear_family as lf


def _task(seed: int, n: int = 300, c: int = 3, length: int = 12, k: int = 4, noise: float = 0.3):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(c * length, k, generator=g, dtype=torch.float64)
    def split(m):
        x = torch.randn(m, c, length, generator=g)
        y = (x.flatten(1).double() @ w + noise * torch.randn(m, k, generator=g, dtype=torch.float64)).float()
        return x, y
    (xt, yt), (xv, yv) = split(n), split(n // 3)
    return SimpleNamespace(x_train=xt, y_train=yt, x_val=xv, y_val=yv), w


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_matches_sklearn_ridgecv(seed):
    from sklearn.linear_model import RidgeCV

    task, _ = _task(seed)
    model = lf.fit_linear(task.x_train, task.y_train)
    ref = RidgeCV(alphas=np.array(lf.ALPHAS)).fit(task.x_train.flatten(1).double().numpy(), task.y_train.double().numpy())
    assert model.alpha == pytest.approx(float(ref.alpha_))
    pred = model(task.x_val).double().numpy()
    want = ref.predict(task.x_val.flatten(1).double().numpy())
    assert np.abs(pred - want).max() <= 1e-5 * max(1.0, np.abs(want).max())
    assert model(task.x_val).dtype == torch.float32 and model(task.x_val).shape == task.y_val.shape


def test_candidate_scores_the_validation_loss_and_final_refits_on_train_and_val():
    task, w = _task(3)
    cand = lf.candidate(task, None, seed=0)
    model = lf.fit_linear(task.x_train, task.y_train)
    loss = float(task_loss(model(task.x_val), task.y_val))
    assert cand["val_loss"] == pytest.approx(loss) and cand["score"] == pytest.approx(-loss)
    assert cand["val_loss"] < 0.3 ** 2 * 1.5  # near the noise floor: the map is linear
    final, seconds, rec = lf.final(task, cand, seed=0)
    both = lf.fit_linear(torch.cat([task.x_train, task.x_val]), torch.cat([task.y_train, task.y_val]))
    assert torch.equal(final.coef, both.coef) and rec["alpha"] == both.alpha and seconds >= 0
    folds = torch.arange(len(task.y_train) + len(task.y_val)) % 3  # out of fold (dense fields' small sets)
    oof = lf.candidate(task, folds, seed=0)
    x, y = torch.cat([task.x_train, task.x_val]), torch.cat([task.y_train, task.y_val])
    want = sum(float(task_loss(lf.fit_linear(x[folds != i], y[folds != i])(x[folds == i]), y[folds == i],
                               reduction="sum")) for i in range(3)) / len(y)
    assert oof["val_loss"] == pytest.approx(want) and oof["selected_on"] == "3-fold out-of-fold predictions"
    windows = SimpleNamespace(**vars(task), all_train_windows=lambda: (task.x_train, task.y_train))
    with pytest.raises(ValueError, match="folds"):  # forecasting windows keep their time order
        lf.candidate(windows, folds, seed=0)
    with pytest.raises(ValueError, match="fitted on"):
        final(torch.zeros(2, 3, 5))


def test_window_search_can_end_with_the_ridge_and_predicts_its_test_score(tmp_path):
    """ETTh1 windows with a tiny CNN budget: the ridge wins validation (as in the quality panel) and is the
    saved final model; loading it reproduces the run's test MSE."""
    import autofast

    run = tmp_path / "run"
    code = main(["search", "--task", "ETTh1", "--lookback", "48", "--horizon", "8", "--train-stride", "16",
                 "--out", str(run), "--search-epochs", "1", "--search-width", "4", "--retrain-width", "4",
                 "--n-configs", "2", "--max-epochs", "2", "--ensemble", "1", "--threads", "1", "--json"])
    assert code == 0
    res = json.loads((run / "result.json").read_text())
    sel = res["selection"]
    assert res["plan"]["linear"] and "linear" in sel["features"] and "linear" in sel["val_scores"]
    assert sel["winner"] == "linear" and res["final"]["family"] == "linear"
    assert sel["features"]["linear"]["val_loss"] == pytest.approx(-sel["val_scores"]["linear"])
    manifest = json.loads((run / "model" / "manifest.json").read_text())
    assert manifest["model"]["family"] == "linear"
    from autofast.data.registry import resolve_timeseries
    from autofast.data.window_task import load_window_task

    name, path = resolve_timeseries("ETTh1")
    t = load_window_task(name, path, 48, 8, train_stride=16, seed=0)  # the run's windows (standardised)
    result = autofast.load(run)
    pred = result.predictor.predict(t.x_test)  # prepared windows
    assert float(((pred.double() - t.y_test.double()) ** 2).mean()) == pytest.approx(res["test_score"], rel=1e-5)
    assert 0 < res["test_score"] < 1.0
    # the raw series up to a test window's origin (predict and Result.predict: "not supported yet" before): the
    # next 8 rows in the series' units are that window's prediction, un-standardised
    import pandas as pd

    frame = pd.read_csv(path)
    end = sum(t.split.ratios)  # the ETT protocol's test split ends at month 20: the last test window's origin 8 before
    newer = frame.iloc[: end - 8]
    mean, std = t.scale
    want = pred[-1].double().numpy().reshape(len(t.data.columns), 8).T * std + mean
    fc = result.predict(newer)
    assert fc.shape == (8, len(t.data.columns)) and np.allclose(fc, want, rtol=1e-4, atol=1e-4)
    assert np.allclose(result.predict(newer.iloc[:, 1:].to_numpy()), want, rtol=1e-4, atol=1e-4)
    csv = tmp_path / "newer.csv"
    newer.to_csv(csv, index=False)
    assert main(["predict", str(run), "--data", str(csv)]) == 0
    out = pd.read_csv(run / "forecast-newer-H8.csv")
    assert list(out.columns) == ["date", *t.data.columns] and out["date"].iloc[0] == frame["date"].iloc[end - 8]
    assert np.allclose(out[t.data.columns].to_numpy(), want, rtol=1e-4, atol=1e-3)
    with pytest.raises(AutofastError, match="the last 48 rows"):
        result.predict(newer.iloc[-20:])


def test_the_ridge_fits_every_training_window():
    """``train_stride`` thins the CNN's training windows; the ridge gets them all (every 16th is x_train's)."""
    from autofast.data.registry import resolve_timeseries
    from autofast.data.window_task import load_window_task

    name, path = resolve_timeseries("ETTh1")
    t = load_window_task(name, path, 48, 8, train_stride=16, seed=0)
    x, y = t.all_train_windows()
    assert len(x) > 15 * len(t.x_train) and x.shape[1:] == t.x_train.shape[1:] and y.shape[1:] == t.y_train.shape[1:]
    assert torch.equal(x[::16], t.x_train) and torch.equal(y[::16], t.y_train)
    # consecutive windows overlap: window i+1 is window i shifted by one step
    assert torch.equal(x[1, :, :-1], x[0, :, 1:])
    model = lf.fit_linear(x, y)
    assert lf.candidate(t, None, 0)["val_loss"] == pytest.approx(
        float(task_loss(model(t.x_val), t.y_val)), rel=1e-6)


def test_dense_field_search_can_end_with_the_ridge_and_predicts_in_units(tmp_path):
    """A linear PDE-like map (each output pixel a fixed mix of the input's) with a network budget of one epoch:
    the field's ridge wins the out-of-fold relative L2 and is the final model; predict gives fields of the
    targets' shape and units, scoring the run's test relative L2."""
    import autofast

    g = np.random.default_rng(0)
    mix = g.normal(size=(2 * 6 * 8, 6 * 8)) / 8
    x = g.normal(size=(160, 2, 6, 8)).astype(np.float32)
    y = (x.reshape(160, -1) @ mix).reshape(160, 1, 6, 8) * 1000.0 + 5000.0
    np.savez(tmp_path / "f.npz", x=x, y=y.astype(np.float32))
    (tmp_path / "t.yaml").write_text("data: f.npz\nkind: dense\n")
    run = tmp_path / "run"
    assert main(["search", "--task", str(tmp_path / "t.yaml"), "--out", str(run), "--arch", "auto", "--n-configs",
                 "2", "--max-epochs", "1", "--min-epochs", "1", "--search-epochs", "1", "--search-width", "4",
                 "--retrain-width", "4", "--threads", "1"]) == 0
    res = json.loads((run / "result.json").read_text())
    assert res["plan"]["linear"] and res["selection"]["winner"] == "linear" and res["test_score"] < 0.01
    loaded = autofast.load(run)
    pred = loaded.predict(x[:5])
    assert pred.shape == (5, 6, 8) and np.abs(pred - y[:5, 0]).max() < 0.02 * np.abs(y[:5]).max()
