"""Windows as strided views over the aligned arrays: memory does not grow with the number of samples.

``WindowView(values, length)`` pads ``values [N, F]`` (or ``[N, R, F]``: any trailing axes) once with ``length`` NaN
rows in front and exposes every window of ``length`` rows through ``numpy.lib.stride_tricks.sliding_window_view``;
nothing is copied until a batch is gathered.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class WindowView:
    """All windows of ``length`` consecutive rows of ``values``, addressed by the row they end at."""

    def __init__(self, values: np.ndarray, length: int):
        if values.ndim < 2:
            raise ValueError(f"WindowView needs [rows, features] or [rows, regions, features], got shape {values.shape}")
        self.length = length
        self.rows = values.shape[0]
        padded = np.concatenate([np.full((length, *values.shape[1:]), np.nan, dtype=values.dtype), values])
        self._windows = sliding_window_view(padded, length, axis=0)  # [rows + 1, ..., F, length], a view
        self._order = (0, values.ndim, *range(1, values.ndim))  # the window axis right after the samples
        self.nbytes = padded.nbytes

    def ending_at(self, rows: np.ndarray) -> np.ndarray:
        """``[len(rows), length, ..., F]`` copy of the windows ending at ``rows`` (inclusive; -1 = all padding)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < -1 or rows.max() >= self.rows):
            raise IndexError(f"window end out of range [-1, {self.rows - 1}]")
        return self._windows[rows + 1].transpose(self._order)

    def view(self, row: int) -> np.ndarray:
        """The single window ending at ``row``, without copying (``[length, ..., F]``)."""
        return np.moveaxis(self._windows[row + 1], -1, 0)
