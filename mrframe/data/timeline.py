"""One calendar for every source: daily frames on one day axis, monthly frames on one month axis, no filling.

Day ``i`` of the timeline is ``day0 + i``; month ``j`` is absolute month ``month0 + j`` (months since
1970-01). A date absent from a source's frame is NaN in its array: alignment never invents a value.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np
import pandas as pd

from mrframe.data.spatial import check_spatial_frame, spatial_features, spatial_values
from mrframe.errors import DataError
from mrframe.interfaces import SourceFrame, SourceInfo

_DAY = np.timedelta64(1, "D")


def month_number(days: np.ndarray) -> np.ndarray:
    """Absolute month (months since 1970-01) of day numbers (days since 1970-01-01)."""
    return np.asarray(days, dtype="datetime64[D]").astype("datetime64[M]").astype(np.int64)


def month_start_day(months: np.ndarray) -> np.ndarray:
    """Day number of the first day of absolute months."""
    return np.asarray(months, dtype=np.int64).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


@attrs.frozen(eq=False)
class AlignedSource:
    """A source on the timeline: ``values [N, F]`` (a spatial source: ``[N, R, F]``) float32 (NaN = missing) at
    its resolution's axis."""

    info: SourceInfo
    values: np.ndarray
    lag_days: int = 0


@attrs.frozen(eq=False)
class Timeline:
    """The shared day and month axes."""

    day0: int  # day number (since 1970-01-01) of day index 0
    n_days: int
    month0: int  # absolute month of month index 0
    n_months: int

    @property
    def first_day(self) -> np.datetime64:
        return np.datetime64(self.day0, "D")

    @property
    def last_day(self) -> np.datetime64:
        return np.datetime64(self.day0 + self.n_days - 1, "D")

    def day_index(self, date: object) -> int:
        """Index of a date (anything ``np.datetime64`` accepts) on the day axis (may be out of range)."""
        return int(np.datetime64(date, "D").astype(np.int64)) - self.day0

    def month_of_day_index(self, index: np.ndarray) -> np.ndarray:
        """Month index (on this timeline's month axis) of day indices."""
        return month_number(np.asarray(index) + self.day0) - self.month0

    def month_end_day_index(self, month_index: np.ndarray) -> np.ndarray:
        """Day index of the last day of month indices."""
        return month_start_day(np.asarray(month_index) + self.month0 + 1) - 1 - self.day0


def align(frames: Mapping[str, SourceFrame], lags: Mapping[str, int] | None = None) -> tuple[Timeline, dict[str, AlignedSource]]:
    """Put every source frame on one timeline spanning all of them; nothing is filled."""
    lags = lags or {}
    starts, ends = [], []
    for name, source in frames.items():
        check_frame(name, source)
        if len(source.frame.index):
            starts.append(source.frame.index[0])
            end = source.frame.index[-1]
            ends.append(end + pd.offsets.MonthEnd(0) if source.resolution == "monthly" else end)
    if not starts:
        raise DataError("every source is empty: there is no data to train on")
    first = np.datetime64(min(starts).date(), "D").astype(np.int64)
    last = np.datetime64(max(ends).date(), "D").astype(np.int64)
    month0 = int(month_number(np.array([first]))[0])
    n_months = int(month_number(np.array([last]))[0]) - month0 + 1
    timeline = Timeline(day0=int(first), n_days=int(last - first + 1), month0=month0, n_months=n_months)

    aligned = {}
    for name, source in frames.items():
        with np.errstate(over="ignore"):  # beyond float32: inf, not observed (observed_cells)
            frame = source.frame.astype(np.float32).where(observed_cells(source))
        if source.regions is not None:
            loaded = spatial_values(frame, source.regions)
            features = spatial_features(frame.columns)
        else:
            loaded = frame.to_numpy(dtype=np.float32, na_value=np.nan)
            features = tuple(map(str, frame.columns))
        if source.resolution == "daily":
            positions = (frame.index.values.astype("datetime64[D]").astype(np.int64) - timeline.day0)
            values = np.full((timeline.n_days, *loaded.shape[1:]), np.nan, dtype=np.float32)
        else:
            positions = month_number(frame.index.values.astype("datetime64[D]")) - timeline.month0
            values = np.full((timeline.n_months, *loaded.shape[1:]), np.nan, dtype=np.float32)
        values[positions] = loaded
        values[~np.isfinite(values)] = np.nan
        info = SourceInfo(name, source.resolution, features, tuple(source.counts), source.regions)
        aligned[name] = AlignedSource(info, values, int(lags.get(name, 0)))
    return timeline, aligned


def observed_cells(source: SourceFrame) -> pd.DataFrame:
    """Bool frame like ``source.frame``: True where the model sees a value (finite as float32, and marked
    observed when the source gives an explicit mask). The data report counts with this same rule."""
    frame = source.frame
    with np.errstate(invalid="ignore"):
        fits = np.abs(frame.to_numpy(dtype=np.float64, na_value=np.nan)) <= np.finfo(np.float32).max
    observed = pd.DataFrame(fits, index=frame.index, columns=frame.columns)
    if source.observed is not None:
        observed &= source.observed.reindex_like(frame).fillna(False).astype(bool)
    return observed


def check_frame(name: str, source: SourceFrame) -> None:
    """Reject frames that break the SourceFrame contract, naming the source and what to fix."""
    frame = source.frame
    where = f"source '{name}'"
    if source.resolution not in ("daily", "monthly"):
        raise DataError(f"{where}: resolution must be 'daily' or 'monthly', got {source.resolution!r}")
    if not isinstance(frame, pd.DataFrame) or not isinstance(frame.index, pd.DatetimeIndex):
        raise DataError(f"{where}: the loader must return a DataFrame indexed by a DatetimeIndex")
    if frame.shape[1] == 0:
        raise DataError(f"{where}: no feature columns were loaded")
    if source.regions is not None:
        check_spatial_frame(where, source)
    if not frame.index.is_unique:
        dup = frame.index[frame.index.duplicated()][0].date()
        raise DataError(f"{where}: duplicate period {dup} in the loaded frame")
    if not frame.index.is_monotonic_increasing:
        raise DataError(f"{where}: the loaded frame's dates are not sorted")
    if source.resolution == "monthly" and (frame.index.day != 1).any():
        bad = frame.index[frame.index.day != 1][0].date()
        raise DataError(f"{where}: monthly rows must be indexed by the first of the month, got {bad}")
    if (frame.index != frame.index.normalize()).any():
        raise DataError(f"{where}: dates must not carry a time of day")
    if len(frame.index) and not (1000 <= frame.index[0].year and frame.index[-1].year <= 2999):
        bad = frame.index[0] if frame.index[0].year < 1000 else frame.index[-1]
        raise DataError(f"{where}: date {bad.isoformat()[:10]} lies outside the years 1000-2999 (a misread or "
                        "sentinel date?); fix the file")
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise DataError(f"{where}: non-numeric feature column {non_numeric[0]!r}; loaders must drop or encode it")
    features = spatial_features(frame.columns) if source.regions is not None else frame.columns
    unknown = set(source.counts) - set(features)
    if unknown:
        raise DataError(f"{where}: counts names columns that are not in the frame: {sorted(unknown)}")
