"""Reading dated tables (a JSON list of records or a CSV with a header) with errors that name the place.

Every reader of this package goes through these steps, so bad input is handled the same way everywhere:

* the file must exist, be of a known format (``.json``, ``.json.gz``, ``.csv``, ``.csv.gz``) and hold at least
  one row;
* dates must parse (ISO 8601, e.g. ``2022-02-25``); numbers must be numbers;
* rows must be in date order; a date may appear only once (an *identical* repeated row is dropped and
  counted, a conflicting one is an error).

With ``bad_values = "error"`` (the default) the first unparsable date or non-numeric cell raises a
:class:`~mrframe.errors.DataError` naming the file, the record or line, the column and what to do. With
``bad_values = "missing"`` such a cell becomes missing and a row whose date cannot be read is dropped; each
is counted in the source's ``rejected`` table (shown by ``mrframe data``). Nothing is dropped silently.
"""

from __future__ import annotations

import gzip
import json
import pathlib
from collections import Counter
from collections.abc import Sequence
from typing import Literal

import attrs
import numpy as np
import pandas as pd

from mrframe.errors import DataError, did_you_mean

BadValues = Literal["error", "missing"]
BAD_VALUES_DOC = (
    "unparsable dates or non-numeric cells: 'error' stops with the file, row and column; 'missing' marks the "
    "cell missing (a row without a readable date is dropped) and counts it in the data report"
)
MISSING_TEXT = ("", "NA", "N/A", "NaN", "nan", "null", "None")


@attrs.define
class Table:
    """A file's rows as text/JSON cells (``cells``), with each row's place in the file for messages.

    ``places[i]`` is how row ``i`` is named in messages ("record 17" for JSON, "line 18" for CSV);
    ``rejected`` counts what was dropped or masked so far, by reason.
    """

    path: pathlib.Path
    cells: pd.DataFrame
    places: np.ndarray
    rejected: Counter = attrs.field(factory=Counter)

    def where(self, row: int, column: str | None = None) -> str:
        """``"FILE, line 18, column 'tank'"`` for row position ``row``."""
        text = f"{self.path}, {self.places[row]}"
        return f"{text}, column {column!r}" if column is not None else text

    def keep(self, rows: np.ndarray) -> None:
        """Keep only the rows where ``rows`` (bool) is True."""
        self.cells = self.cells.loc[rows].reset_index(drop=True)
        self.places = self.places[rows]

    def column(self, name: str, what: str = "column") -> pd.Series:
        """The cells of column ``name``; a missing column is an error with a did-you-mean."""
        if name not in self.cells.columns:
            found = ", ".join(map(repr, self.cells.columns[:12]))
            raise DataError(f"{self.path}: no {what} {name!r}{did_you_mean(name, map(str, self.cells.columns))}; "
                            f"the file has {found}")
        return self.cells[name]


def read_table(path: pathlib.Path, formats: Sequence[str] = (".json", ".json.gz", ".csv", ".csv.gz")) -> Table:
    """Read ``path`` into a :class:`Table` of raw cells; the format comes from the file name."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found; check the source's `path` (relative to the spec file)")
    name = path.name.lower()
    suffix = next((s for s in formats if name.endswith(s)), None)
    if suffix is None:
        raise DataError(f"{path}: unknown file format; expected a file ending in {', '.join(formats)}")
    if suffix.startswith(".json"):
        table = _read_json(path)
    else:
        table = _read_csv(path)
    if table.cells.empty:
        raise DataError(f"{path}: the file holds no rows")
    return table


def _read_json(path: pathlib.Path) -> Table:
    try:
        raw = gzip.decompress(path.read_bytes()) if path.name.lower().endswith(".gz") else path.read_bytes()
        records = json.loads(raw.decode("utf-8"))
    except (gzip.BadGzipFile, EOFError) as error:
        raise DataError(f"{path}: not a readable gzip file ({type(error).__name__}: {one_line(error)})") from None
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file; expected a JSON list of records") from None
    except json.JSONDecodeError as error:
        if not error.doc.strip():
            raise DataError(f"{path}: the file is empty; expected a JSON list of daily records") from None
        raise DataError(f"{path}: not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
                        "expected a list of records like [{\"date\": \"2022-02-25\", ...}]") from None
    if not isinstance(records, list):
        raise DataError(f"{path}: expected a JSON list of records, got a JSON {type(records).__name__}")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise DataError(f"{path}, record {i + 1}: expected a JSON object like {{\"date\": ...}}, got {record!r:.60}")
    cells = pd.DataFrame.from_records(records) if records else pd.DataFrame()
    cells = cells.astype(object).where(cells.notna(), None) if records else cells
    return Table(path, cells, np.array([f"record {i + 1}" for i in range(len(records))], dtype=object))


def _read_csv(path: pathlib.Path) -> Table:
    try:
        cells = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=list(MISSING_TEXT),
                            skipinitialspace=True, skip_blank_lines=False, compression="infer")
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a CSV with a header line") from None
    except (pd.errors.ParserError, UnicodeDecodeError, gzip.BadGzipFile, EOFError, OSError) as error:
        raise DataError(f"{path}: not a readable CSV file ({type(error).__name__}: {one_line(error)})") from None
    unnamed = [c for c in cells.columns if str(c).startswith("Unnamed:")]
    if unnamed and len(unnamed) == len(cells.columns):
        raise DataError(f"{path}: the first line is not a header; expected column names such as 'date'")
    cells = cells.astype(object).where(cells.notna(), None)
    table = Table(path, cells, np.array([f"line {i + 2}" for i in range(len(cells))], dtype=object))
    blank = cells.isna().all(axis=1).to_numpy()
    if blank.any():
        table.rejected["empty line"] += int(blank.sum())
        table.keep(~blank)
    return table


def parse_dates(table: Table, column: str, bad_values: BadValues) -> np.ndarray:
    """Parse ``column`` into ``datetime64[D]``; unreadable dates raise or (``missing``) drop their row."""
    raw = table.column(column, "date column")
    text = raw.map(lambda v: None if v is None else str(v).strip())
    dates = pd.to_datetime(text, format="ISO8601", errors="coerce")
    bad = dates.isna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        if bad_values == "error":
            shown = "an empty cell" if text.iloc[first] is None else f"{text.iloc[first]!r}"
            raise DataError(f"{table.where(first, column)}: {shown} is not a date (expected YYYY-MM-DD); fix or "
                            "remove the row, or set bad_values = \"missing\" to drop rows without a readable date")
        table.rejected["row without a readable date"] += int(bad.sum())
        table.keep(~bad)
        dates = dates[~bad]
    return dates.dt.tz_localize(None).dt.normalize().to_numpy().astype("datetime64[D]")


def parse_numbers(table: Table, columns: Sequence[str], bad_values: BadValues) -> pd.DataFrame:
    """The named columns as float64 (missing cells NaN); non-numeric cells raise or become missing."""
    out = {}
    for name in columns:
        raw = table.column(name)
        values = pd.to_numeric(raw.map(_number_or_text), errors="coerce").astype(np.float64)
        bad = values.isna().to_numpy() & raw.notna().to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            if bad_values == "error":
                raise DataError(f"{table.where(first, name)}: {raw.iloc[first]!r} is not a number; fix the cell, "
                                "list only numeric columns, or set bad_values = \"missing\"")
            table.rejected["non-numeric cell (set missing)"] += int(bad.sum())
        values[~np.isfinite(values.to_numpy())] = np.nan
        out[name] = values.to_numpy()
    return pd.DataFrame(out, columns=list(columns))


def _number_or_text(value: object) -> object:
    if value is None or isinstance(value, bool):
        return None if value is None else "true/false"
    if isinstance(value, int | float):
        return value
    return str(value).strip()


def dated_frame(table: Table, dates: np.ndarray, values: pd.DataFrame, bad_values: BadValues) -> pd.DataFrame:
    """``values`` indexed by ``dates`` after the order and duplicate checks (see the module docstring)."""
    order = dates.astype(np.int64)
    back = np.flatnonzero(order[1:] < order[:-1])
    if back.size:
        i = int(back[0]) + 1
        raise DataError(f"{table.where(i)}: date {dates[i]} comes after {dates[i - 1]} ({table.places[i - 1]}); "
                        "rows must be in date order: sort the file by date")
    repeated = np.flatnonzero(order[1:] == order[:-1]) + 1
    keep = np.ones(len(dates), dtype=bool)
    for i in repeated:
        first = i - 1
        while first > 0 and order[first - 1] == order[i]:
            first -= 1
        same = values.iloc[i].equals(values.iloc[first])
        if same:
            table.rejected["repeated row (identical, dropped)"] += 1
            keep[i] = False
        elif bad_values == "error":
            raise DataError(f"{table.where(i)}: date {dates[i]} appears again ({table.places[first]}) with different "
                            "values; keep one of the rows, or set bad_values = \"missing\" to drop both")
        else:
            group = order == order[i]
            table.rejected["conflicting repeated date (all its rows dropped)"] += int(keep[group].sum())
            keep[group] = False
    frame = values.loc[keep]
    frame.index = pd.DatetimeIndex(dates[keep], name="date")
    return frame


def complete_periods(frame: pd.DataFrame, path: pathlib.Path, resolution: str) -> pd.DataFrame:
    """``frame`` on every period from its first to its last row; periods without a row are missing (NaN).

    Monthly: a date anywhere in a month stands for that month (indexed by its first day); two rows in one
    month are an error.
    """
    if resolution == "monthly":
        months = frame.index.to_period("M").to_timestamp()
        if months.has_duplicates:
            raise DataError(f"{path}: two rows fall in month {months[months.duplicated()][0]:%Y-%m}; "
                            "keep one row per month")
        frame = frame.set_axis(pd.DatetimeIndex(months, name="date"))
        periods = pd.date_range(months[0], months[-1], freq="MS", name="date")
    else:
        periods = pd.date_range(frame.index[0], frame.index[-1], freq="D", name="date")
    return frame.reindex(periods).astype(np.float64)


def one_line(error: BaseException) -> str:
    """An exception's message on one line."""
    return " ".join(str(error).split())
