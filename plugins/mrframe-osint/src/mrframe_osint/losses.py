"""The public cumulative loss files: ``equipment`` and ``personnel`` sources.

Both files are a JSON list of daily records (or the CSV form of the same table) with ``date``, ``day`` and one
*cumulative* count per column, e.g. ``{"date": "2022-02-25", "day": 2, "tank": 80, "field artillery": 49}``.
The loader turns them into daily losses::

    loss[d, c] = cumulative[d, c] - cumulative[d - 1, c]      (calendar days, not consecutive records)

and never fills anything in:

* a column outside its life (``military auto`` only in the first weeks, ``submarines`` from 2023, ...) or a
  cell absent from a record is missing, so the losses of that day and of the next are missing;
* so is a cell holding one of the source's ``missing_values`` (e.g. ``-999``): it is masked *before* the
  difference, so a masked day never turns into a day's loss of thousands; a negative cumulative count, which
  no count can be, is an error that suggests declaring it (or, with ``bad_values = "missing"``, missing and
  counted);
* a day without a record is missing; the first day has no previous day, so its losses are missing;
* official corrections make some cumulative counts fall: the negative loss is kept as observed
  (``negative = "keep"``) or marked missing (``negative = "mask"``, counted in the data report);
* ``date`` is trusted, ``day`` is not read (two dates can carry the same ``day``);
* text columns (``greatest losses direction``, the ``personnel*`` qualifier) are listed in ``ignore``; any
  other non-numeric cell is bad input (see :mod:`mrframe_osint.tables`).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import Literal

import attrs
import numpy as np
import pandas as pd

from mrframe.config import field
from mrframe.errors import DataError, did_you_mean
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

NOT_FEATURES = ("date", "day")


@attrs.frozen
class EquipmentConfig:
    path: pathlib.Path = field(doc="the cumulative loss file (russia_losses_*.json: a JSON list of daily records) or its CSV form",
                               exists=True)
    features: tuple[str, ...] | None = field(None, "columns to use (default: every column but date, day and ignore)",
                                             min=1)
    ignore: tuple[str, ...] = field(("greatest losses direction",), "text columns of the file that are not features")
    values: Literal["daily", "cumulative"] = field(
        "daily", "daily losses (difference to the previous calendar day) or the cumulative totals as published"
    )
    negative: Literal["keep", "mask"] = field(
        "keep", "daily losses below zero (official corrections): keep them as observed, or mark them missing"
    )
    bad_values: BadValues = field("error", BAD_VALUES_DOC)


@attrs.frozen
class PersonnelConfig(EquipmentConfig):
    ignore: tuple[str, ...] = field(("personnel*",), "text columns of the file that are not features")


def load_cumulative(config: EquipmentConfig, missing_values: Sequence[float] = ()) -> SourceFrame:
    """Read a cumulative loss file as :class:`SourceFrame` (see the module docstring)."""
    table = read_table(config.path)
    columns = _feature_columns(table.cells.columns, config)
    dates = parse_dates(table, "date", config.bad_values)
    numbers = _no_negative_totals(table, parse_numbers(table, columns, config.bad_values, missing_values),
                                  config.bad_values)
    totals = dated_frame(table, dates, numbers, config.bad_values)
    totals = complete_periods(totals, config.path, "daily")
    if config.values == "cumulative":
        frame = totals
    else:
        frame = totals.diff()
        falls = (frame < 0).to_numpy()
        if config.negative == "mask" and falls.any():
            table.rejected["negative daily loss (cell set missing)"] += int(falls.sum())
            frame = frame.mask(falls)
    return SourceFrame(frame.astype(np.float64), "daily", counts=tuple(columns), rejected=dict(table.rejected))


def declared_columns(config: EquipmentConfig) -> tuple[str, ...] | None:
    """The feature columns :func:`load_cumulative` will return: ``features``, or the file's count columns
    (read without parsing the values); None when the file cannot be read (loading reports why)."""
    if config.features is not None:
        return tuple(config.features)
    try:
        return tuple(_feature_columns(read_table(config.path).cells.columns, config))
    except DataError:
        return None


def _no_negative_totals(table: Table, numbers: pd.DataFrame, bad_values: BadValues) -> pd.DataFrame:
    """A cumulative count below zero is no count (typically an undeclared sentinel such as -999)."""
    negative = (numbers < 0).to_numpy()
    if not negative.any():
        return numbers
    if bad_values == "error":
        row, col = (int(i[0]) for i in np.nonzero(negative))
        value = numbers.iat[row, col]
        raise DataError(f"{table.where(row, numbers.columns[col])}: {value:g} is a negative cumulative count; if it "
                        f"marks a missing value, declare missing_values = [{value:g}] in the source's table, or set "
                        "bad_values = \"missing\"")
    table.rejected["negative cumulative count (set missing)"] += int(negative.sum())
    return numbers.mask(negative)


def _feature_columns(available: pd.Index, config: EquipmentConfig) -> list[str]:
    names = [str(c) for c in available]
    if "date" not in names:
        raise DataError(f"{config.path}: no 'date' column{did_you_mean('date', names)}; "
                        "expected daily records with a 'date' (YYYY-MM-DD) and one cumulative count per column")
    if config.features is None:
        columns = [c for c in names if c not in NOT_FEATURES and c not in config.ignore]
        if not columns:
            raise DataError(f"{config.path}: no count column besides {', '.join(NOT_FEATURES)} and ignore")
        return columns
    for name in config.features:
        if name not in names:
            raise DataError(f"{config.path}: features names {name!r}, which is not a column of the file"
                            f"{did_you_mean(name, names)}")
        if name in NOT_FEATURES or name in config.ignore:
            raise DataError(f"{config.path}: features names {name!r}, which is not a count column")
    return list(config.features)


class CumulativeLossSource(SyntheticExample, Source):
    """A daily loss source read from a public cumulative loss file (see the module docstring)."""

    @classmethod
    def declared_resolution(cls, config: object) -> str:
        return "daily"

    @classmethod
    def declared_extent(cls, config: object) -> str:
        return "national"

    @classmethod
    def declared_features(cls, config: EquipmentConfig) -> tuple[str, ...] | None:
        return declared_columns(config)

    def load(self) -> SourceFrame:
        return load_cumulative(self.config, self.missing_values)


class EquipmentSource(CumulativeLossSource):
    """Daily equipment losses from the public cumulative equipment-loss file (JSON or CSV).

    Columns that appear or disappear over time are missing outside their life, never zero; falls of the
    cumulative counts (official corrections) are kept as negative losses or masked (``negative``).
    """

    Config = EquipmentConfig
    example_format = "equipment"


class PersonnelSource(CumulativeLossSource):
    """Daily personnel losses (``personnel``, and ``POW`` while it was published) from the cumulative file."""

    Config = PersonnelConfig
    example_format = "personnel"
