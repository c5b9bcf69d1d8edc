"""The peers of the quality panel (``bench/quality_panel.py``): what a user would run instead of
``autofast search``, on exactly the split autofast's search uses.

* series (UCR/UEA ``kind: series``): aeon's ``MiniRocketClassifier`` (10 000 kernels, standard scaling, ridge
  with alpha by leave-one-out CV), on the series as autofast brings them to one length (the task file's
  ``pad``/``resample``), unstandardised (MiniRocket's biases come from the training data); series regression
  (Monash TSER ``.ts`` files, the ETTh1 day task): aeon's ``MiniRocketRegressor``, RMSE in the targets' units;
* DNA: scikit-learn ``LogisticRegression`` on k-mer counts (k = 1..6 concatenated, per-sequence frequencies,
  standardised) or on the positional one-hot sequence, the representation and C chosen by the peer's own
  3-fold CV on its training rows (k-mer counts alone ignore positions: 0.70 on splice, one-hot 0.96);
* images (``digits``): scikit-learn ``SVC`` (RBF kernel, gamma "scale") on the raw pixels, C by 5-fold CV;
* dense fields (``darcy``) and forecasting windows (``ETTh1``): scikit-learn ``RidgeCV`` on the flattened input
  (alpha by efficient leave-one-out CV), every output at once.

Training rows: the official training file where the task has one (UCR/UEA sets, darcy, the synthetic motif
task: "train on the whole official train file, as the peer would"), else train+val of the seeded split (what
autofast's final retrain trains on); test rows: exactly autofast's test split for the same seed. Scores are
autofast's test metrics: accuracy; relative L2 (mean over test fields; lower is better); standardised MSE per
target (lower is better).

Run alone: ``python bench/panel_peers.py --task JapaneseVowels --seed 0 [--threads N] [--out peer.json]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

DNA_K = (1, 2, 3, 4, 5, 6)


# ------------------------------------------------------------------------------------------------ data
def classification_split(task: str, seed: int):
    """``(name, data, train_rows, test_rows)`` with autofast's split for ``seed`` (no torch needed)."""
    from autofast.data.supervised import DEFAULT_RATIOS, DEFAULT_VAL_FRACTION, resolve_data
    from autofast.data.types import split_for

    name, data, plan = resolve_data(task)
    if plan is None:
        split = split_for(data, seed, DEFAULT_RATIOS, DEFAULT_VAL_FRACTION)
    else:
        split = split_for(data, plan.seed if plan.seed is not None else seed, plan.ratios, plan.val_fraction)
    train = np.sort(np.concatenate([split.train, split.val]))  # official train file, or train+val
    return name, data, train, np.sort(split.test)


def _is_timeseries(task: str) -> bool:
    from autofast.data.registry import DATASETS

    d = {k.lower(): v for k, v in DATASETS.items()}.get(task.lower())
    return d is not None and d.kind == "timeseries"


# ------------------------------------------------------------------------------------------------ peers
def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def minirocket(x_tr, y_tr, x_te, y_te, seed: int, threads: int) -> dict:
    from aeon.classification.convolution_based import MiniRocketClassifier
    import aeon

    x_tr = np.ascontiguousarray(x_tr, dtype=np.float64)
    x_te = np.ascontiguousarray(x_te, dtype=np.float64)
    # numba compiles MiniRocket's kernels on first use (cached on disk by aeon afterwards): a small untimed
    # warm-up on the same shapes keeps that one-off cost out of fit+predict (reported as warmup_s)
    warm = MiniRocketClassifier(n_kernels=84, n_jobs=threads, random_state=seed)
    _, warm_s = _timed(lambda: warm.fit(x_tr, y_tr).predict(x_te[:2]))
    clf = MiniRocketClassifier(n_jobs=threads, random_state=seed)
    _, fit_s = _timed(lambda: clf.fit(x_tr, y_tr))
    pred, pred_s = _timed(lambda: clf.predict(x_te))
    return {"peer": f"MiniRocket (aeon {aeon.__version__}, 10 000 kernels, ridge CV)", "short": "MiniRocket",
            "score": float(np.mean(pred == y_te)), "fit_s": fit_s, "predict_s": pred_s, "warmup_s": warm_s,
            "shape": list(x_tr.shape[1:])}


def minirocket_regressor(x_tr, y_tr, x_te, y_te, seed: int, threads: int) -> dict:
    """aeon's ``MiniRocketRegressor`` on values ``y`` ``(N, 1)`` in their own units; RMSE (and the RMSE of
    predicting the training mean, ``mean_rmse``, the floor any model should beat)."""
    from aeon.regression.convolution_based import MiniRocketRegressor
    import aeon

    x_tr = np.ascontiguousarray(x_tr, dtype=np.float64)
    x_te = np.ascontiguousarray(x_te, dtype=np.float64)
    if y_tr.shape[1] != 1:
        raise SystemExit("the MiniRocket regressor peer takes one target")
    y_tr, y_te = y_tr[:, 0].astype(np.float64), y_te[:, 0].astype(np.float64)
    warm = MiniRocketRegressor(n_kernels=84, n_jobs=threads, random_state=seed)
    _, warm_s = _timed(lambda: warm.fit(x_tr, y_tr).predict(x_te[:2]))
    reg = MiniRocketRegressor(n_jobs=threads, random_state=seed)
    _, fit_s = _timed(lambda: reg.fit(x_tr, y_tr))
    pred, pred_s = _timed(lambda: reg.predict(x_te))
    return {"peer": f"MiniRocket regressor (aeon {aeon.__version__}, 10 000 kernels, ridge CV)",
            "short": "MiniRocket", "score": float(np.sqrt(np.mean((pred - y_te) ** 2))),
            "mean_rmse": float(np.sqrt(np.mean((y_tr.mean() - y_te) ** 2))), "fit_s": fit_s, "predict_s": pred_s,
            "warmup_s": warm_s, "shape": list(x_tr.shape[1:])}


def kmer_counts(onehot: np.ndarray, ks=DNA_K) -> np.ndarray:
    """Per-sequence k-mer frequencies (k in ``ks``, concatenated) of one-hot DNA ``(N, 4, L)``; positions
    that are not exactly one base (IUPAC ambiguity, gap, padding) break every k-mer that covers them."""
    n, _, L = onehot.shape
    hard = (onehot.max(axis=1) == 1) & (np.isclose(onehot.sum(axis=1), 1))
    code = np.where(hard, onehot.argmax(axis=1), -1).astype(np.int64)  # (N, L), -1 = not a base
    feats = []
    for k in ks:
        if k > L:
            feats.append(np.zeros((n, 4 ** k)))
            continue
        w = L - k + 1
        idx = np.zeros((n, w), dtype=np.int64)
        ok = np.ones((n, w), dtype=bool)
        for j in range(k):
            c = code[:, j: j + w]
            idx = idx * 4 + np.maximum(c, 0)
            ok &= c >= 0
        rows = np.broadcast_to(np.arange(n)[:, None], (n, w))
        counts = np.bincount((rows[ok] * 4 ** k + idx[ok]), minlength=n * 4 ** k).reshape(n, 4 ** k)
        feats.append(counts / np.maximum(ok.sum(axis=1, keepdims=True), 1))
    return np.concatenate(feats, axis=1)


def dna_logreg(x_tr, y_tr, x_te, y_te, seed: int, threads: int) -> dict:
    """LogisticRegression on k-mer counts (k = 1..6) or on the positional one-hot (the sequence flattened):
    the representation and C chosen together by the peer's own 3-fold CV on its training rows (k-mer counts
    alone ignore where a motif sits, which is what a site-aligned task like splice is about)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    reps = {"kmer": lambda x: kmer_counts(x), "onehot": lambda x: x.reshape(len(x), -1).astype(np.float64)}

    def fit():
        best = None
        for rep, feat in reps.items():
            grid = GridSearchCV(make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)),
                                {"logisticregression__C": [1e-4, 1e-3, 1e-2, 1e-1, 1.0]},
                                cv=StratifiedKFold(3, shuffle=True, random_state=seed), n_jobs=threads)
            grid.fit(feat(x_tr), y_tr)
            cv[rep] = round(float(grid.best_score_), 4)
            if best is None or grid.best_score_ > best[1].best_score_:
                best = (rep, grid)
        return best

    cv: dict = {}
    (rep, grid), fit_s = _timed(fit)
    pred, pred_s = _timed(lambda: grid.predict(reps[rep](x_te)))
    return {"peer": f"LogisticRegression on k-mer counts (k={DNA_K[0]}..{DNA_K[-1]}) or positional one-hot "
                    "(representation and C by 3-fold CV)",
            "short": f"LogReg on {'k-mers' if rep == 'kmer' else 'one-hot'}",
            "score": float(np.mean(pred == y_te)), "fit_s": fit_s, "predict_s": pred_s,
            "chosen": {"representation": rep, "C": grid.best_params_["logisticregression__C"]}, "cv_accuracy": cv}


def svc_pixels(x_tr, y_tr, x_te, y_te, seed: int, threads: int) -> dict:
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.svm import SVC

    f_tr, f_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    grid, fit_s = _timed(lambda: GridSearchCV(SVC(kernel="rbf", gamma="scale"), {"C": [1.0, 10.0, 100.0]},
                                              cv=StratifiedKFold(5, shuffle=True, random_state=seed),
                                              n_jobs=threads).fit(f_tr, y_tr))
    pred, pred_s = _timed(lambda: grid.predict(f_te))
    return {"peer": "SVC (RBF, gamma scale) on pixels (C by 5-fold CV)", "short": "SVC",
            "score": float(np.mean(pred == y_te)), "fit_s": fit_s, "predict_s": pred_s, "chosen": grid.best_params_}


RIDGE_ALPHAS = np.logspace(-4, 6, 21)


def ridge(f_tr, t_tr, f_te) -> tuple[np.ndarray, float, float, float]:
    """RidgeCV on flattened inputs and outputs: ``(prediction, fit_s, predict_s, alpha)``."""
    from sklearn.linear_model import RidgeCV

    model, fit_s = _timed(lambda: RidgeCV(alphas=RIDGE_ALPHAS).fit(f_tr, t_tr))
    pred, pred_s = _timed(lambda: model.predict(f_te))
    return pred, fit_s, pred_s, float(model.alpha_)


def ridge_fields(x_tr, y_tr, x_te, y_te) -> dict:
    n_tr, n_te = len(x_tr), len(x_te)
    pred, fit_s, pred_s, alpha = ridge(x_tr.reshape(n_tr, -1).astype(np.float64),
                                       y_tr.reshape(n_tr, -1).astype(np.float64), x_te.reshape(n_te, -1))
    truth = y_te.reshape(n_te, -1).astype(np.float64)
    rel = np.linalg.norm(pred - truth, axis=1) / np.maximum(np.linalg.norm(truth, axis=1), 1e-12)
    return {"peer": "RidgeCV on the flattened field (alpha by LOO CV)", "short": "RidgeCV", "score": float(rel.mean()),
            "fit_s": fit_s, "predict_s": pred_s, "chosen": {"alpha": alpha}}


def ridge_windows(task: str, seed: int, lookback: int, horizon: int) -> dict:
    from autofast.data.registry import resolve_timeseries
    from autofast.data.window_task import load_window_task

    name, path = resolve_timeseries(task)
    t = load_window_task(name, path, lookback, horizon, train_stride=1, seed=seed)  # every window, as a user would
    x_tr = np.concatenate([t.x_train.numpy(), t.x_val.numpy()]).astype(np.float64)
    y_tr = np.concatenate([t.y_train.numpy(), t.y_val.numpy()]).astype(np.float64)
    x_te, y_te = t.x_test.numpy().astype(np.float64), t.y_test.numpy().astype(np.float64)
    pred, fit_s, pred_s, alpha = ridge(x_tr.reshape(len(x_tr), -1), y_tr, x_te.reshape(len(x_te), -1))
    return {"peer": f"RidgeCV on the flattened window (lookback {lookback} x {x_tr.shape[1]} channels, "
                    "alpha by LOO CV)",
            "short": "RidgeCV",
            "score": float(np.mean((pred - y_te) ** 2)), "fit_s": fit_s, "predict_s": pred_s,
            "chosen": {"alpha": alpha}, "metric": "MSE (standardised, per target)", "lower_is_better": True,
            "n_train": len(x_tr), "n_test": len(x_te), "lookback": lookback, "horizon": horizon}


def window_defaults() -> tuple[int, int]:
    """``search``'s default lookback and horizon for forecasting windows."""
    from autofast.dash.pipeline import DashConfig

    f = DashConfig.model_fields
    return int(f["lookback"].default), int(f["horizon"].default)


def run_peer(task: str, seed: int, threads: int = 1, lookback: int | None = None,
             horizon: int | None = None, split_seed: int | None = None) -> dict:
    """The peer for ``task`` on autofast's split for ``split_seed`` (default ``seed``): a JSON-ready dict with
    ``score``, ``metric``, ``lower_is_better``, ``fit_s``, ``predict_s`` and ``seconds`` (= fit + predict)."""
    split_seed = seed if split_seed is None else split_seed
    if _is_timeseries(task):
        lb, h = window_defaults()
        out = ridge_windows(task, split_seed, lookback or lb, horizon or h)
    else:
        name, data, tr, te = classification_split(task, split_seed)
        x_tr, y_tr, x_te, y_te = data.x[tr], data.y[tr], data.x[te], data.y[te]
        if data.kind == "series" and data.regression:
            out = minirocket_regressor(x_tr, y_tr, x_te, y_te, seed, threads)
            out["metric"], out["lower_is_better"] = "RMSE", True
        elif data.kind == "series":
            out = minirocket(x_tr, y_tr, x_te, y_te, seed, threads)
            out["metric"], out["lower_is_better"] = "accuracy", False
        elif data.kind == "dna":
            out = dna_logreg(x_tr, y_tr, x_te, y_te, seed, threads)
            out["metric"], out["lower_is_better"] = "accuracy", False
        elif data.kind == "image":
            out = svc_pixels(x_tr, y_tr, x_te, y_te, seed, threads)
            out["metric"], out["lower_is_better"] = "accuracy", False
        elif data.kind == "dense" and data.regression:
            out = ridge_fields(x_tr, y_tr, x_te, y_te)
            out["metric"], out["lower_is_better"] = "relative L2", True
        else:
            raise SystemExit(f"no peer for task {task!r} (kind {data.kind})")
        out.update(n_train=int(len(tr)), n_test=int(len(te)))
    out["seconds"] = out["fit_s"] + out["predict_s"]
    out.update(task=task, seed=seed, split_seed=split_seed, threads=threads)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Run one quality-panel peer; prints (or writes) its JSON result.")
    p.add_argument("--task", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--split-seed", type=int, help="the split's seed (default: --seed)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lookback", type=int)
    p.add_argument("--horizon", type=int)
    p.add_argument("--out", help="write the JSON here (atomically) instead of stdout")
    a = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(a.threads):  # BLAS/OpenMP pools; MiniRocket's numba threads follow n_jobs
        res = run_peer(a.task, a.seed, a.threads, a.lookback, a.horizon, a.split_seed)
    text = json.dumps(res, indent=2, default=str)
    if a.out:
        tmp = Path(a.out).with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, a.out)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # autofast from this checkout
    sys.exit(main())
