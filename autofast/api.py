"""autofast from Python: ``autofast.search(task, **options)`` runs the same search as ``python -m autofast
search`` (same run folder, same errors: :class:`~autofast.errors.AutofastError`), ``autofast.load(run_dir)``
opens a finished run; both give a :class:`Result`::

    import autofast
    res = autofast.search("splice", time_budget="2m", out="runs/splice")   # prints nothing unless verbose=True
    res.plan, res.report, res.result["test_score"]
    res.predict(["ACGT..."]), res.predict_proba("new.csv"), res.score("splice")   # "splice": its test split
    res = autofast.load("runs/splice")                                            # later, or elsewhere

``x`` is a path (a data file of the model's kind, an image folder, a YAML task file or a bundled task name:
the last two stand for their test split), or arrays in the training layout as loaded, NOT standardised
(``(N, C, L)`` series, ``(N, C, H, W)`` images, one-hot ``(N, 4, L)`` or a list of sequence strings for
DNA): the model's preprocessing (length rule, training statistics) is applied as at training. Outputs follow the
input order, the order of ``python -m autofast predict``'s CSV row for row: a data file's rows as they stand in
it; a task name or YAML task gives its test split in the order of those rows in the task's data file (the test
file, for an official split) -- ascending, the CSV's ``index`` column -- not in the order the split drew them;
``res.predictor.prepare("splice")`` gives that ``index`` and the ``labels`` (class indices into
:attr:`Result.classes`) in the same order. A long CSV table of series (one row per step) gives its series in the
order of their first row (``pandas.unique(table["id"])``; ``predict``'s CSV names each by its id). What
``predict`` prints as a note about inputs that changed or look wrong (arrays brought to the training length,
an input channel many training standard deviations from the training mean: other units) is a ``UserWarning``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from .errors import AutofastError

__all__ = ["Result", "load", "search"]


class Result:
    """A finished search, dash or finetune run: ``result`` (result.json as a dict), ``plan`` (the search's plan, a
    dash run's budget plan; None for a finetune run), ``report`` (path of report.md; None for a dash run, which
    writes none), ``run_dir``, ``classes``, ``test_score``, ``final_model`` (what the saved model is, in words);
    ``predict``/``predict_proba``/``score`` apply its final model."""

    def __init__(self, run_dir: str | Path) -> None:
        from .predictor import load_final

        self.run_dir = Path(run_dir).expanduser().resolve()  # report and files stay found after a chdir
        path = self.run_dir / "result.json"
        if not path.is_file():
            raise AutofastError(f"{self.run_dir}: no result.json; give the folder of a finished search, dash or "
                                "finetune run")
        try:
            self.result: dict = json.loads(path.read_bytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise AutofastError(f"{path}: corrupt (not JSON); restore the run folder from a copy") from None
        if not isinstance(self.result, dict):
            raise AutofastError(f"{path}: corrupt (not a JSON mapping of results); restore the run folder from a copy")
        import torch

        with torch.random.fork_rng(devices=[]):  # building a network draws from torch's global RNG: the caller's
            self.predictor = load_final(self.run_dir)

    def __repr__(self) -> str:
        r, m = self.result, self.predictor.manifest
        test = ("ID test" if self.command == "finetune" else  # finetune: the saved model's in-distribution
                "training-set" if (r.get("final") or {}).get("test_all_copies") else "test")
        score = self.test_score
        shown = f"{score:.4g}" if isinstance(score, float) else score  # 0.9664804469273743 -> 0.9665
        return (f"Result({str(self.run_dir)!r}: {r.get('task', m.get('task'))} {r.get('kind', m.get('kind'))}, "
                f"final model {self.final_model}, {test} {r.get('metric') or m.get('metric')} {shown})")

    @property
    def command(self) -> str:
        """The command that made the run: ``search``, ``dash`` or ``finetune`` (the saved model's manifest)."""
        return str(self.predictor.manifest.get("command") or self.result.get("command") or "search")

    @property
    def final_model(self) -> str:
        """The saved final model in words: a search's winner (``cnn``, ``rocket``, a blend, ...), a dash run's
        retrained network, a finetune run's AutoFT model (its backbone, seed and objective)."""
        r, rec = self.result, self.predictor.manifest.get("model") or {}
        if self.command == "dash":
            return f"{r.get('backbone') or rec.get('backbone')} retrained on the DASH pattern"
        if self.command == "finetune":
            saved, objective = r.get("saved_model") or {}, (r.get("autoft_objective") or {}).get("source")
            return (f"{rec.get('backbone')} fine-tuned ({saved.get('arm', 'autoft')} arm, seed {saved.get('seed')}, "
                    f"objective {'searched' if objective == 'search' else 'CE-only' if objective else 'unknown'})")
        winner = (r.get("selection") or {}).get("winner")
        return str(winner or (r.get("final") or {}).get("family") or rec.get("family"))

    @property
    def plan(self) -> dict | None:
        """The search's plan (``result["plan"]``); a dash run's budget plan (``result["budget_plan"]``: batch,
        search and retrain epochs its ``--time-budget`` bought), or without a time budget the epochs it was
        given (``budget`` None); None for a finetune run (nothing planned from a budget)."""
        r = self.result
        if r.get("plan") is not None:
            return r["plan"]
        if self.command != "dash":
            return None
        if r.get("budget_plan") is not None:
            return r["budget_plan"]
        cfg = r.get("config") or {}
        return {"budget": None, "batch_size": cfg.get("batch_size"),
                "search_epochs": (r.get("search") or {}).get("planned_epochs", cfg.get("search_epochs")),
                "retrain_epochs": cfg.get("retrain_epochs")}

    @property
    def report(self) -> Path | None:
        """The path of the run's report.md (``res.report.read_text()`` for its text), or None where the run wrote
        none (a dash run: its result.json says it all)."""
        path = self.run_dir / "report.md"
        return path if path.exists() else None

    @property
    def classes(self) -> list[str]:
        return list(self.predictor.classes)

    @property
    def test_score(self) -> float | None:
        """The run's test score (a finetune run: the saved model's ID test score, from its manifest)."""
        score = self.result.get("test_score")  # present but None (or absent): the saved model's
        return score if score is not None else self.predictor.manifest.get("test_score")

    @property
    def regression(self) -> bool:
        """Whether the model predicts values (then :attr:`classes` names its targets)."""
        return bool(self.predictor.manifest.get("regression"))

    def _prepared(self, x, labels=None):
        """The predictor's inputs of ``x``; arrays brought to the training length (a label column left among the
        steps was read as a 41st step, silently) and inputs far from the training statistics (other units: pixels
        0-16 for a model of 0-1, which ``predict`` prints as a note) are a ``UserWarning``."""
        import warnings

        from .predictor.inputs import UNITS_NOTE

        inputs = self.predictor.prepare(x, labels=labels)
        arrays = not isinstance(x, (str, Path))
        for note in inputs.notes:  # the inputs changed or look wrong, not a note on where they came from
            # (a file's variable lengths are its rule, as predict prints it: only arrays brought to the length warn)
            if UNITS_NOTE in note or arrays and "brought to" in note:
                warnings.warn(f"{inputs.source}: {note}", UserWarning, stacklevel=3)
        return inputs

    def predict_proba(self, x) -> Any:
        """``(N, K)`` numpy float32 class probabilities (columns in :attr:`classes` order); a dense model's per
        position, ``(N, K, *S)``."""
        return self.predictor.predict_proba(self._prepared(x).x).numpy()

    def predict(self, x) -> Any:
        """``(N,)`` numpy array of predicted class labels from :attr:`classes` -- int64 where every class is a
        whole number written as one (``"0"``, ``"7"``, ``"-1"``: labels trained from integers, as ``predict``'s CSV
        writes them), strings otherwise; a dense model's masks ``(N, *S)`` alike -- or a regression model's float32
        values in the targets' units, ``(N,)`` for one target, ``(N, T)`` for several (a dense model's fields:
        ``(N, *S)`` for one target, ``(N, T, *S)`` for several). A search on forecasting windows (``--task ETTh1``):
        ``x`` is a newer stretch of the series (a CSV path, a DataFrame, an array ``(T, C)``), the result the next
        ``horizon`` rows ``(H, C)`` float64 in its units, from its last ``lookback`` rows."""
        if self.predictor.kind == "timeseries":  # a search on forecasting windows: the rows after a newer series
            from .predictor.windows import forecast_after, newer_rows

            return forecast_after(self.predictor, newer_rows(self.predictor, x))
        out = self.predictor.predict(self._prepared(x).x).numpy()
        if self.regression:
            return out[:, 0] if out.shape[1] == 1 else out
        return self.predictor.class_values()[out]

    def score(self, x, y=None) -> float:
        """Accuracy on ``x`` (a regression model: RMSE in the targets' units, lower is better, the run's
        metric; a dense model: per-position accuracy, or the fields' relative L2); ``y``: class labels (names as
        in :attr:`classes`, not indices; dense: masks of class values) or target values, or None for a path
        whose data carry labels (a task name or YAML: its test split, so the run's test score)."""
        inputs = self._prepared(x) if y is None or isinstance(x, (str, Path)) else self._prepared(x, labels=y)
        labels = inputs.labels
        if y is not None and isinstance(x, (str, Path)):
            labels = self.predictor.label_indices(y, "y")
        if labels is None:
            raise AutofastError(f"{inputs.source}: no labels to score against; pass y (class labels)")
        if len(labels) != len(inputs.x):
            raise AutofastError(f"y: {len(labels)} labels for {len(inputs.x)} examples; give one per example")
        if not len(labels):
            raise AutofastError(f"{inputs.source}: no examples to score")
        pred = self.predictor.predict(inputs.x).numpy()
        if self.predictor.kind == "dense":  # the run's metric: relative L2, or per-position accuracy
            scores = self.predictor.dense_scores(pred, labels)
            return scores["relative_l2"] if self.regression else scores["accuracy"]
        if self.regression:
            import numpy as np

            return float(np.sqrt(np.mean((pred.astype(np.float64) - labels) ** 2)))
        return int((pred == labels).sum()) / len(labels)


def load(run_dir: str | Path):
    """The finished search, dash or finetune run in ``run_dir`` as a :class:`Result` (its result.json and saved final
    model; the folder may have been moved or copied); a forecast run as its
    :class:`~autofast.forecast.model.ForecastModel` (``predict(history, horizon)``, from ``model.json``), a panel
    forecast run as its :class:`~autofast.forecast.panel.PanelModel`."""
    import os

    from .forecast.model import FILE, load_model

    if not isinstance(run_dir, (str, os.PathLike)) or not str(run_dir).strip():
        raise AutofastError(f"run_dir: got {run_dir!r}; give the path of a run folder (str or pathlib.Path)")
    if (Path(run_dir) / FILE).is_file() and not (Path(run_dir) / "model").exists():
        return load_model(run_dir)
    return Result(run_dir)


def search(task: str, *, out: str | Path | None = None, verbose: bool = False, resume: bool = False,
           **options) -> Result:
    """Run ``python -m autofast search`` from Python: ``task`` (a bundled name, a data file or a YAML task
    file) and ``options`` with the names of :class:`autofast.search.config.SearchConfig` (``time_budget``,
    ``arch``, ``folds``, ``threads``, ...); ``out``: the run folder (default ``runs/search-<task>-<time>``, which
    must not hold anything yet); ``verbose``: print the stage messages; ``resume``: continue the interrupted run
    folder ``out`` with the options it started with (``--resume``; a finished one is returned as it is). Bad
    options and inputs raise :class:`~autofast.errors.AutofastError` with the CLI's one-line message."""
    from .runtime import callers_settings_kept

    started = time.time()
    threads = options.get("threads")
    threads = threads if isinstance(threads, int) and not isinstance(threads, bool) and threads > 0 else None
    with callers_settings_kept(threads):  # the caller's threads, environment and torch RNG given back after
        return _search(task, out, verbose, started, options, resume)


def _search(task, out, verbose: bool, started: float, options: dict, resume: bool = False) -> Result:
    from .commands.options import default_out, validated
    from .io import locked_run_dir, make_run_dir, write_json_atomic
    from .search.config import SearchConfig
    from .search.pipeline import check_options, holds_finished_work, run_search

    unknown = sorted(set(options) - set(SearchConfig.model_fields))
    if not isinstance(task, (str, Path)) or not str(task).strip():
        raise AutofastError(f"autofast.search: task must be a bundled name, a data file or a YAML task file, got "
                            f"{'an empty name' if isinstance(task, (str, Path)) else type(task).__name__}; for "
                            "arrays in memory use autofast.AutofastClassifier(...).fit(X, y) (or AutofastRegressor)")
    if "task" in options or unknown:
        bad = unknown or ["task"]
        raise AutofastError(f"autofast.search: unknown option(s) {', '.join(bad)}; give the task first, then any of "
                            f"{', '.join(k for k in SearchConfig.model_fields if k != 'task')}")
    if resume:  # an interrupted run folder, continued with the options it started with
        from types import SimpleNamespace

        from .commands.options import finished_result, resumed_options
        from .commands.search import saved_config

        if out is None:
            raise AutofastError("autofast.search(resume=True) continues a run folder: give it as out=")
        run_dir = Path(out)
        raw = resumed_options(saved_config(run_dir), SimpleNamespace(task=str(task), **options), run_dir,
                              SearchConfig)
        if finished_result(run_dir, "search") is not None:
            return Result(run_dir)
        cfg = validated(SearchConfig, raw)
    else:
        cfg = validated(SearchConfig, {"task": str(task), **{k: v for k, v in options.items() if v is not None}})
        run_dir = Path(out) if out is not None else default_out("search", str(task), "splice")
        if run_dir.exists() and not run_dir.is_dir():
            raise AutofastError(f"out {str(run_dir)!r} is a file, not a folder; choose another out")
        if run_dir.exists() and any(run_dir.iterdir()):
            resumable = (run_dir / "search_config.json").is_file() and not (run_dir / "result.json").is_file()
            raise AutofastError(f"output folder {str(run_dir)!r} exists and is not empty; choose another out "
                                + ("(or continue the interrupted run: autofast.search(task, out=..., resume=True))"
                                   if resumable else "(or open the finished run with autofast.load)"))
    check_options(cfg)
    fresh = not run_dir.exists()
    make_run_dir(run_dir, "out")
    say = (lambda m: print(m, flush=True)) if verbose else (lambda m: None)
    # a fresh folder that fails before any work is removed; a lock loser leaves the holder's folder alone
    with locked_run_dir(run_dir, fresh, keep=lambda: holds_finished_work(run_dir), command="search"):
        write_json_atomic(run_dir / "search_config.json", cfg.model_dump(mode="json"))
        run_search(cfg, run_dir, say=say, started=started, resume=resume)
    return Result(run_dir)
