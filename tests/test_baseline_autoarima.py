"""statsforecast AutoARIMA baseline on the Auto-AR splits, and its clear error without the extra."""
import sys

import numpy as np
import pandas as pd
import pytest

from autofast.cli import main
from autofast.data.registry import DATASETS
from autofast.data.timeseries import PreparedSeries, load_series
from autofast.errors import AutofastError
from autofast.forecast.baseline import autoarima_baseline, origin_index, subset_errors


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    p = tmp_path_factory.mktemp("d") / "etth1_small.csv"
    pd.read_csv(DATASETS["ETTh1"].path, nrows=1200).to_csv(p, index=False)
    return p


def test_autoarima_on_one_channel_scores_the_same_windows(small):
    pytest.importorskip("statsforecast")
    ps = PreparedSeries.build("etth1_small", load_series(small), "ratio")
    bl = autoarima_baseline(ps, horizon=8, lookback=48, max_origins=4, channels=[6])
    assert bl["windows"] == 4 and bl["channels"] == [6] and 0 < bl["mse"] < 5
    assert bl["window_index"][0] == 0 and len(set(bl["origins"])) == 4
    fc = np.zeros((bl["test_windows_total"], 8, 7))
    same = subset_errors(fc, fc + 1.0, bl["window_index"])
    assert same == {"mse": 1.0, "mae": 1.0, "windows": 4}


def test_origin_index_is_even_and_bounded():
    assert origin_index(10, 3).tolist() == [0, 4, 9] or origin_index(10, 3).tolist() == [0, 5, 9]
    assert origin_index(3, 10).tolist() == [0, 1, 2]


def test_missing_extra_gives_a_one_line_error(small, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast.models", None)  # import now raises ImportError
    code = main(["forecast", "--data", str(small), "--split", "ratio", "--horizon", "8", "--lookback", "48",
                 "--max-order", "20", "--no-plot", "--baseline", "autoarima", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "pip install 'autofast[baselines]'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()
    with pytest.raises(AutofastError):
        autoarima_baseline(PreparedSeries.build("x", load_series(small), "ratio"), 8, 48)


def test_fits_are_shared_between_horizons_and_progress_is_reported(small):
    """One AutoARIMA fit per channel serves every horizon (the fit uses only the training rows), with the same
    scores as a fresh fit; each channel reports as it starts."""
    pytest.importorskip("statsforecast")
    ps = PreparedSeries.build("etth1_small", load_series(small), "ratio")
    fitted, said = {}, []
    first = autoarima_baseline(ps, 8, 48, max_origins=3, channels=[5, 6], fitted=fitted, progress=said.append)
    second = autoarima_baseline(ps, 12, 48, max_origins=3, channels=[5, 6], fitted=fitted, progress=said.append)
    assert len(fitted) == 2 and first["fits_reused"] == 0 and second["fits_reused"] == 2
    assert second["fit_seconds"] == 0 and second["orders"] == first["orders"]
    assert said[0] == "channel LULL: fitting AutoARIMA on 720 rows"  # 60% of 1200 and said[2].startswith("channel LULL: fitted model reused")
    fresh = autoarima_baseline(ps, 12, 48, max_origins=3, channels=[5, 6])
    assert fresh["mse"] == second["mse"] and fresh["mae"] == second["mae"]
