"""The ``labels`` source: integer class ids per day or per month (e.g. intensity regimes) from a CSV.

::

    date,regime
    2022-02-25,2
    2022-02-26,3

Each value must be a non-negative integer (``classes``, when given, bounds it: ``0 .. classes-1``); an empty
cell or a day without a row is missing. A head uses such a source as its target with ``units = "raw"``, so
the loss sees the class ids, not a normalised version of them.
"""

from __future__ import annotations

import pathlib
from typing import Literal

import attrs
import numpy as np

from mrframe.config import field
from mrframe.errors import DataError
from mrframe.interfaces import Source, SourceFrame
from mrframe_osint.examples import SyntheticExample
from mrframe_osint.sentinel import read_dated_csv
from mrframe_osint.tables import BAD_VALUES_DOC, BadValues, complete_periods


@attrs.frozen
class LabelsConfig:
    path: pathlib.Path = field(doc="CSV (.csv or .csv.gz) with a date column and one integer class-id column per label",
                               exists=True)
    resolution: Literal["daily", "monthly"] = field("daily", "one row per day, or one per month (YYYY-MM)")
    columns: tuple[str, ...] | None = field(None, "label columns (default: every column but the date)", min=1)
    classes: int | None = field(None, "number of classes: every id must lie in 0 .. classes-1 (default: unchecked)", min=2)
    date_column: str = field("date", "name of the date column")
    bad_values: BadValues = field("error", BAD_VALUES_DOC)


class LabelsSource(SyntheticExample, Source):
    """Integer class ids per day or month (a target for classification heads, with ``units = "raw"``)."""

    Config = LabelsConfig
    example_format = "labels"

    @classmethod
    def declared_extent(cls, config: object) -> str:
        return "national"

    def load(self) -> SourceFrame:
        config: LabelsConfig = self.config
        frame, table = read_dated_csv(config.path, config.date_column, config.columns, config.bad_values,
                                      self.missing_values)
        for column in frame.columns:
            values = frame[column].to_numpy()
            observed = np.isfinite(values)
            wrong = observed & ((values != np.round(values)) | (values < 0))
            if config.classes is not None:
                wrong |= observed & (values >= config.classes)
            if wrong.any():
                row = int(np.flatnonzero(wrong)[0])
                allowed = f"0 .. {config.classes - 1}" if config.classes is not None else "a non-negative integer"
                raise DataError(f"{config.path}, date {frame.index[row]:%Y-%m-%d}, column {column!r}: class id "
                                f"{values[row]:g} is not {allowed}; fix the file or the classes setting")
        frame = complete_periods(frame, config.path, config.resolution)
        return SourceFrame(frame, config.resolution, rejected=dict(table.rejected))
