"""Auto-AR forecasting: the whole lag grid fitted, scored and selected in closed form.

The package is also callable: ``autofast.forecast(data, horizon=None, **options)`` is
:func:`autofast.forecast.api.forecast` (the name ``autofast.forecast`` is both this package and the Python API's
entry point, as ``autofast.search`` is)."""
import sys as _sys
import types as _types

from .config import AutoARConfig
from .autoar import HorizonResult, run_autoar

__all__ = ["AutoARConfig", "HorizonResult", "run_autoar", "Forecast"]


class _CallablePackage(_types.ModuleType):
    def __call__(self, data, horizon=None, **options):
        """Run Auto-AR on ``data``: :func:`autofast.forecast.api.forecast` (returns a ``Forecast``)."""
        from .api import forecast

        return forecast(data, horizon, **options)

    def __getattr__(self, name: str):
        if name == "Forecast":
            from .api import Forecast

            return Forecast
        raise AttributeError(f"module 'autofast.forecast' has no attribute {name!r}")


_sys.modules[__name__].__class__ = _CallablePackage
