"""autofast: compiled-kernel accelerated AutoML baselines (Auto-AR forecasting, DASH, ASHA, AutoFT).

From Python: ``autofast.search(task, **options)`` runs a search and ``autofast.load(run_dir)`` opens a finished
one; both return a :class:`autofast.api.Result` (``predict``, ``predict_proba``, ``score``, ``plan``, ``report``).
``autofast.forecast(data, horizon=None, **options)`` runs Auto-AR in memory on a CSV, a DataFrame or an array and
returns a :class:`autofast.forecast.api.Forecast` (``test_mse``, ``next()``, ``predict(history)``); no torch.
``autofast.AutofastClassifier`` / ``autofast.AutofastRegressor`` are the same search as scikit-learn estimators on
arrays (:mod:`autofast.estimator`).

Kept import-light: ``import autofast`` imports no torch; ``import autofast.kernels`` must need only torch (and
triton/numba where used). The Python API is loaded on first use.
"""
__version__ = "0.1.0"
__all__ = ["__version__", "search", "forecast", "load", "Result", "AutofastClassifier", "AutofastRegressor"]


def __getattr__(name: str):
    if name in ("load", "Result"):
        from . import api

        return getattr(api, name)
    if name in ("AutofastClassifier", "AutofastRegressor"):  # scikit-learn and numpy, no torch until fitted
        from . import estimator

        return getattr(estimator, name)
    if name in ("search", "forecast"):  # the subpackages, callable: autofast.api.search, autofast.forecast.api.forecast
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'autofast' has no attribute {name!r}")
