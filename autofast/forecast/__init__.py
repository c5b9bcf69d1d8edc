"""Auto-AR forecasting: the whole lag grid fitted, scored and selected in closed form."""
from .config import AutoARConfig
from .autoar import HorizonResult, run_autoar

__all__ = ["AutoARConfig", "HorizonResult", "run_autoar"]
