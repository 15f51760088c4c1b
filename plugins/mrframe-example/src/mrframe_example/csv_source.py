"""A daily CSV source: one ``date`` column and numeric feature columns; empty cells are missing."""

from __future__ import annotations

import pathlib

import attrs
import pandas as pd

from mrframe.config import field
from mrframe.errors import DataError
from mrframe.interfaces import Source, SourceFrame


@attrs.frozen
class CsvConfig:
    path: pathlib.Path = field(doc="the CSV file (relative to the spec file)", exists=True)
    date_column: str = field("date", "column holding the day (YYYY-MM-DD)")
    columns: tuple[str, ...] | None = field(None, "feature columns to use (default: every other column)")
    counts: tuple[str, ...] = field((), "columns that are event counts (log-compressed by normalisation)")


class CsvSource(Source):
    """A daily CSV file: a date column plus numeric features; empty cells are missing, never filled."""

    Config = CsvConfig

    @classmethod
    def declared_resolution(cls, config: object) -> str:
        return "daily"

    @classmethod
    def declared_extent(cls, config: object) -> str:
        return "national"

    def load(self) -> SourceFrame:
        c = self.config
        if not c.path.is_file():
            raise DataError(f"{c.path}: file not found; check `path` (it is relative to the spec file)")
        try:
            frame = pd.read_csv(c.path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
            reason = " ".join(str(error).split())
            raise DataError(f"{c.path}: not a readable CSV file ({reason}); expected a date column and numbers") from None
        if c.date_column not in frame.columns:
            raise DataError(f"{c.path}: no column '{c.date_column}'; set `date_column` (columns: {', '.join(frame.columns)})")
        dates = pd.to_datetime(frame.pop(c.date_column), format="%Y-%m-%d", errors="coerce")
        if dates.isna().any():
            row = int(dates.isna().to_numpy().argmax()) + 2  # 1-based, after the header line
            raise DataError(f"{c.path}: row {row}: date is not YYYY-MM-DD; fix or remove the row")
        wanted = list(c.columns) if c.columns is not None else list(frame.columns)
        missing = [name for name in wanted + list(c.counts) if name not in frame.columns]
        if missing:
            raise DataError(f"{c.path}: no column '{missing[0]}'; columns are {', '.join(frame.columns)}")
        values = frame[wanted].apply(pd.to_numeric, errors="coerce")  # empty cells become NaN
        rows, cols = (values.isna() & frame[wanted].ne("")).to_numpy().nonzero()
        if len(rows):
            raise DataError(f"{c.path}: row {rows[0] + 2}, column '{wanted[cols[0]]}': not a number; "
                            "leave the cell empty if it is missing")
        values.index = pd.DatetimeIndex(dates, name="date")
        if not values.index.is_unique:
            raise DataError(f"{c.path}: date {values.index[values.index.duplicated()][0].date()} appears twice; keep one row per day")
        return SourceFrame(values.sort_index().astype(float), "daily", counts=tuple(c.counts))

    @classmethod
    def example_config(cls, directory: pathlib.Path) -> CsvConfig:
        path = directory / "example.csv"
        path.write_text("date,visits,alerts\n2024-01-01,3.5,1\n2024-01-02,,0\n2024-01-04,4.0,2\n2024-01-05,2.5,\n")
        return CsvConfig(path=path, counts=("alerts",))
