"""Spatial sources on the data side: checking a spatial frame and laying its values out per region.

A spatial :class:`~mrframe.interfaces.SourceFrame` has ``(region id, feature)`` MultiIndex columns, region-major:
every region of its :class:`~mrframe.regions.Regions`, in the table's order, each with the same features in the
same order. On the timeline its values are an array ``[periods, R, F]``. Everything fitted on the training
period treats each (period, region) pair as one row of the feature matrix (:func:`feature_rows`), so scaling,
the correlation filter and PCA are per feature, pooled over regions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mrframe.errors import DataError
from mrframe.interfaces import SourceFrame
from mrframe.regions import Regions


def spatial_features(columns: pd.MultiIndex) -> tuple[str, ...]:
    """The feature names of region-major ``(region id, feature)`` columns, in order."""
    return tuple(dict.fromkeys(str(f) for f in columns.get_level_values(1)))


def check_spatial_frame(where: str, source: SourceFrame) -> None:
    """Reject a spatial frame whose columns do not match its region table, saying what differs."""
    regions, columns = source.regions, source.frame.columns
    if not isinstance(regions, Regions):
        raise DataError(f"{where}: SourceFrame.regions must be a mrframe.regions.Regions, got {type(regions).__name__}")
    if not isinstance(columns, pd.MultiIndex) or columns.nlevels != 2:
        raise DataError(f"{where}: a spatial frame needs (region id, feature) MultiIndex columns")
    ids = tuple(dict.fromkeys(str(r) for r in columns.get_level_values(0)))
    unknown = [r for r in ids if r not in set(regions.ids)]
    if unknown:
        raise DataError(f"{where}: region '{unknown[0]}' of the frame is not in its region table "
                        f"({len(unknown)} such region{'s' * (len(unknown) > 1)})")
    absent = [r for r in regions.ids if r not in set(ids)]
    if absent:
        raise DataError(f"{where}: region '{absent[0]}' of the region table has no column "
                        f"({len(absent)} such region{'s' * (len(absent) > 1)}); a region without data keeps NaN columns")
    features = spatial_features(columns)
    expected = pd.MultiIndex.from_product([list(regions.ids), list(features)])
    actual = pd.MultiIndex.from_arrays([columns.get_level_values(0).map(str), columns.get_level_values(1).map(str)])
    if not actual.equals(expected):
        if len(actual) != len(expected) or not actual.is_unique:
            raise DataError(f"{where}: every region needs each of the features {list(features)} exactly once")
        raise DataError(f"{where}: columns must be region-major in the region table's order (all features of "
                        f"'{regions.ids[0]}', then of '{regions.ids[min(1, len(regions) - 1)]}', ...)")


def spatial_values(frame: pd.DataFrame, regions: Regions) -> np.ndarray:
    """``[periods, R, F]`` float32 values of a checked spatial frame (NaN = missing)."""
    values = frame.to_numpy(dtype=np.float32, na_value=np.nan)
    return values.reshape(len(frame), len(regions), -1)


def feature_rows(values: np.ndarray) -> np.ndarray:
    """``[..., F] -> [rows, F]``: every (period, region) pair of a spatial array as one row (a view when it can be)."""
    return values.reshape(-1, values.shape[-1])
