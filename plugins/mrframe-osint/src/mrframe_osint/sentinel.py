"""The ``sentinel`` source: monthly Sentinel scene statistics from a CSV file.

The file has a date column (``date``; ``YYYY-MM`` or any day of the month, e.g. ``2023-01-01``) and numeric
columns such as scene counts and cloud cover, one row per month::

    date,s2_scenes,s1_scenes,cloud_cover_mean
    2023-01-01,112,64,71.5
    2023-02-01,98,,64.0

An empty cell is missing; a month without a row is missing. ``columns`` picks the features (default: every
column but the date); ``counts`` names the count-like ones (log-compressed by the normalisation).
Two rows of the same month are a repeated date (see :mod:`mrframe_osint.tables`).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence

import attrs
import pandas as pd

from mrframe.config import field
from mrframe.errors import DataError
from mrframe.interfaces import Source, SourceFrame
from mrframe_osint.examples import SyntheticExample
from mrframe_osint.tables import (
    BAD_VALUES_DOC,
    BadValues,
    Table,
    complete_periods,
    dated_frame,
    parse_dates,
    parse_numbers,
    read_table,
)


@attrs.frozen
class SentinelConfig:
    path: pathlib.Path = field(doc="monthly CSV (.csv or .csv.gz) with a date column and numeric columns",
                               exists=True)
    columns: tuple[str, ...] | None = field(None, "columns to use as features (default: every column but the date)",
                                            min=1)
    counts: tuple[str, ...] = field((), "feature columns that are counts (log-compressed by the normalisation)")
    date_column: str = field("date", "name of the date column (YYYY-MM or YYYY-MM-DD)")
    bad_values: BadValues = field("error", BAD_VALUES_DOC)


def read_dated_csv(path: pathlib.Path, date_column: str, columns: tuple[str, ...] | None,
                   bad_values: BadValues, missing_values: Sequence[float] = ()) -> tuple[pd.DataFrame, Table]:
    """A CSV of dated numeric columns as a frame indexed by date (checked as :mod:`mrframe_osint.tables` says)."""
    table = read_table(path, formats=(".csv", ".csv.gz"))
    table.column(date_column, "date column")
    names = columns if columns is not None else tuple(c for c in map(str, table.cells.columns) if c != date_column)
    if not names:
        raise DataError(f"{path}: no column besides the date column {date_column!r}")
    dates = parse_dates(table, date_column, bad_values)
    numbers = parse_numbers(table, names, bad_values, missing_values)
    return dated_frame(table, dates, numbers, bad_values), table


class SentinelSource(SyntheticExample, Source):
    """Monthly Sentinel scene statistics (scene counts, cloud cover, ...) from a CSV, one row per month."""

    Config = SentinelConfig
    example_format = "sentinel"

    @classmethod
    def declared_resolution(cls, config: object) -> str:
        return "monthly"

    @classmethod
    def declared_extent(cls, config: object) -> str:
        return "national"

    def load(self) -> SourceFrame:
        config: SentinelConfig = self.config
        unknown = [c for c in config.counts if config.columns is not None and c not in config.columns]
        if unknown:
            raise DataError(f"{config.path}: counts names {unknown[0]!r}, which is not in columns")
        frame, table = read_dated_csv(config.path, config.date_column, config.columns, config.bad_values,
                                      self.missing_values)
        frame = complete_periods(frame, config.path, "monthly")
        missing_counts = [c for c in config.counts if c not in frame.columns]
        if missing_counts:
            raise DataError(f"{config.path}: counts names {missing_counts[0]!r}, which is not a column of the file")
        return SourceFrame(frame, "monthly", counts=tuple(config.counts),
                           rejected=dict(table.rejected))
