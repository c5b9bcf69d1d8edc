"""Time-series windows as a supervised 1-D regression task (for DASH on series).

Inputs ``(N, C, L)`` are the ``lookback`` rows before each origin, targets ``(N, C * H)`` the next
``horizon`` rows (channel-major), both standardised with training statistics. Windows come from the
same split protocol as Auto-AR (ETT 12/4/4 months, else 60/20/20), so DASH and Auto-AR are scored
on the same test windows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .timeseries import PreparedSeries, load_series, window_range


@dataclass(frozen=True)
class WindowData:
    """Duck-types the fields the DASH pipeline reads from ``SupervisedData``."""

    columns: list[str]
    source: str
    lookback: int
    horizon: int
    kind: str = "timeseries"
    ndim: int = 1
    date_column: str | None = None  # the series' date column (None: none), for newer rows at predict
    classes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:  # the regression output size
        return len(self.columns) * self.horizon


@dataclass(frozen=True)
class WindowSplit:
    seed: int
    ratios: tuple
    protocol: str


@dataclass
class WindowTask:
    name: str
    data: WindowData
    split: WindowSplit
    x_train: torch.Tensor = field(repr=False)
    y_train: torch.Tensor = field(repr=False)
    x_val: torch.Tensor = field(repr=False)
    y_val: torch.Tensor = field(repr=False)
    x_test: torch.Tensor = field(repr=False)
    y_test: torch.Tensor = field(repr=False)
    series: np.ndarray | None = field(default=None, repr=False)  # (C, T) float32 standardised, for all_train_windows
    train_range: tuple[int, int] = (0, 0)  # (first window start, window count) of the training split
    scale: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # per channel (mean, std) (C,)

    def all_train_windows(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every training window (stride 1, whatever ``train_stride`` thinned ``x_train`` to): ``(x, y)`` as
        ``x_train``/``y_train``. For models cheap enough to use them all (the window ridge)."""
        if self.series is None:
            return self.x_train, self.y_train
        return _windows(self.series, *self.train_range, self.data.lookback, self.data.horizon, 1)


def _windows(z: np.ndarray, start: int, count: int, L: int, H: int, stride: int) -> tuple[torch.Tensor, torch.Tensor]:
    starts = np.arange(start, start + count, stride)
    idx = starts[:, None] + np.arange(L + H)[None, :]
    w = z[:, idx].transpose(1, 0, 2)  # (N, C, L + H)
    x = torch.from_numpy(np.ascontiguousarray(w[:, :, :L], dtype=np.float32))
    y = torch.from_numpy(np.ascontiguousarray(w[:, :, L:].reshape(len(starts), -1), dtype=np.float32))
    return x, y


def load_window_task(name: str, path, lookback: int = 96, horizon: int = 24, train_stride: int = 1,
                     seed: int = 0) -> WindowTask:
    """Windows of a bundled or user series; training windows may be thinned by ``train_stride``."""
    data = load_series(path)
    ps = PreparedSeries.build(name, data)
    parts, ranges = {}, {}
    for split in ("train", "val", "test"):
        wr = window_range(ps.bounds, split, lookback, horizon, name)
        ranges[split] = (int(wr.start), int(wr.count))
        parts[split] = _windows(ps.z, wr.start, wr.count, lookback, horizon, train_stride if split == "train" else 1)
    b = ps.bounds
    return WindowTask(
        name, WindowData(data.columns, str(path), lookback, horizon, date_column=data.date_column),
        WindowSplit(seed, (b.train_end, b.val_end - b.train_end, b.test_end - b.val_end), b.protocol),
        *parts["train"], *parts["val"], *parts["test"], series=ps.z, train_range=ranges["train"],
        scale=(ps.scaler.mean, ps.scaler.std))
