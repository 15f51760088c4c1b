"""Reading NASA FIRMS fire-detection CSV files (archive or NRT, VIIRS or MODIS, ``.csv`` or ``.csv.gz``).

The instrument is detected from the header:

=========  ====================================  ==========================================
instrument brightness columns                     confidence
=========  ====================================  ==========================================
VIIRS      ``bright_ti4`` (I-4), ``bright_ti5``  ``l/n/h`` or ``low/nominal/high``
MODIS      ``brightness`` (21/22), ``bright_t31``  0-100 (high: >= ``high_confidence``)
=========  ====================================  ==========================================

A row is near-real-time (NRT) when its ``version`` ends in ``NRT`` (``2.0NRT``, ``6.1NRT``); files without a
``version`` column count as archive. Every file also reports its *coverage*, the days from its first to its last
detection. A row that cannot be read (a date, a number, a confidence or day/night flag that does not parse, more
fields than the header) raises an error naming file, line and column, or (``bad_values = "missing"``) is
dropped and counted. A file that cannot be read at all (permission, not UTF-8, a damaged gzip stream) is an
error naming it (:func:`mrframe_osint.tables.read_error`).
"""

from __future__ import annotations

import pathlib
import re
import warnings
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pandas as pd

from mrframe.errors import DataError
from mrframe_osint.tables import READ_ERRORS, read_error

REQUIRED = ("latitude", "longitude", "acq_date", "acq_time", "confidence", "frp", "daynight")
OPTIONAL = ("satellite", "version")
BRIGHTNESS = {"VIIRS": ("bright_ti4", "bright_ti5"), "MODIS": ("brightness", "bright_t31")}
VIIRS_CONFIDENCE = {"l": 0, "low": 0, "n": 1, "nominal": 1, "h": 2, "high": 2}
NUMERIC = ("latitude", "longitude", "frp", "acq_time")
PLAUSIBLE = {"latitude": (-90.0, 90.0), "longitude": (-180.0, 180.0), "frp": (0.0, np.inf), "acq_time": (0.0, 2359.0),
             "b1": (0.0, np.inf), "b2": (0.0, np.inf)}
"""The physically possible range of each numeric column (brightness temperatures in kelvin); a value outside is
an unreadable cell."""
PLAUSIBLE_TEXT = {"latitude": "-90 .. 90", "longitude": "-180 .. 180", "frp": ">= 0", "acq_time": "0 .. 2359 (HHMM)",
                  **{c: "> 0 K" for c in ("bright_ti4", "bright_ti5", "brightness", "bright_t31")}}


@attrs.frozen(eq=False)
class FirmsFile:
    """One file's readable detections (``rows``: one row per detection) and what was dropped reading it."""

    path: pathlib.Path
    instrument: str
    rows: pd.DataFrame  # day (days since 1970-01-01), time, latitude, longitude, satellite, frp, b1, b2, high, daytime, nrt
    dropped: int = 0

    @property
    def coverage(self) -> tuple[int, int] | None:
        """First and last day (days since 1970-01-01) with a detection, None for a file without any."""
        if self.rows.empty:
            return None
        return int(self.rows["day"].min()), int(self.rows["day"].max())


def list_files(path: pathlib.Path) -> list[pathlib.Path]:
    """``path`` itself, or the ``*.csv`` / ``*.csv.gz`` files of a folder, sorted by name."""
    path = pathlib.Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith((".csv", ".csv.gz")))
        if not files:
            raise DataError(f"{path}: the folder holds no FIRMS file (*.csv or *.csv.gz)")
        return files
    if not path.is_file():
        raise DataError(f"{path}: file or folder not found; check the source's `path` (relative to the spec file)")
    if not path.name.lower().endswith((".csv", ".csv.gz")):
        raise DataError(f"{path}: unknown file format; FIRMS files are .csv or .csv.gz (as downloaded from FIRMS)")
    return [path]


def instrument_of(path: pathlib.Path) -> str:
    """``"VIIRS"`` or ``"MODIS"`` from the header of ``path``; any other header is an error."""
    try:
        header = [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty; expected a FIRMS CSV with a header line") from None
    except READ_ERRORS as error:
        raise read_error(path, error) from None
    found = [name for name, columns in BRIGHTNESS.items() if set(columns) <= set(header)]
    if len(found) != 1:
        raise DataError(f"{path}: not a FIRMS file: the header needs bright_ti4 and bright_ti5 (VIIRS) or "
                        f"brightness and bright_t31 (MODIS); it has {', '.join(header[:16])}")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise DataError(f"{path}: FIRMS {found[0]} file without column(s) {', '.join(missing)}; "
                        "download the file again with all attributes")
    return found[0]


def read_file(path: pathlib.Path, instrument: str, high_confidence: float, bad_values: str) -> FirmsFile:
    """Read one FIRMS file of ``instrument`` into per-detection columns (see :class:`FirmsFile`)."""
    b1, b2 = BRIGHTNESS[instrument]
    numbers = {c: np.float64 for c in (*NUMERIC, b1, b2)}
    text = {c: "category" for c in ("acq_date", "daynight", *OPTIONAL)}
    if instrument == "MODIS":
        numbers["confidence"] = np.float64  # 0-100
    else:
        text["confidence"] = "category"  # l/n/h or low/nominal/high
    wanted = {*REQUIRED, b1, b2, *OPTIONAL}  # the optional columns are read when the file has them
    try:
        raw, ragged = _read_rows(path, {**numbers, **text}, wanted, bad_values)
    except ValueError:  # a cell of a numeric column is not a number: find it slowly, then name it
        raw, ragged = _read_rows(path, {**dict.fromkeys(numbers, str), **text}, wanted, bad_values)
        raw = _coerce_numbers(path, raw, list(numbers), bad_values)
    day = per_category(raw["acq_date"], day_numbers, missing=NO_DAY)
    if instrument == "VIIRS":
        level = per_category(raw["confidence"], each(lambda c: VIIRS_CONFIDENCE.get(c.strip().lower(), -1)), -1)
        high, bad_confidence = level == 2, level < 0
    else:
        confidence = raw["confidence"].to_numpy()
        high = confidence >= high_confidence
        bad_confidence = ~((confidence >= 0) & (confidence <= 100))
    flag = per_category(raw["daynight"], each(lambda c: {"D": 1, "N": 0}.get(c.strip().upper(), -1)), -1)
    checks = {
        "acq_date": (day < FIRST_DAY) | (day > LAST_DAY),  # NO_DAY (unreadable) is below FIRST_DAY
        "confidence": bad_confidence,
        "daynight": flag < 0,
        **{c: ~np.isfinite(raw[c].to_numpy(dtype=np.float64)) for c in numbers},
    }
    for column, (smallest, largest) in PLAUSIBLE.items():  # outside: a sentinel such as -999, a shifted column
        name = {"b1": b1, "b2": b2}.get(column, column)
        values = raw[name].to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            checks[name] = checks[name] | (values < smallest) | (values > largest)
    bad = np.zeros(len(raw), dtype=bool)
    for column, wrong in checks.items():
        if wrong.any() and bad_values == "error":
            line = int(np.flatnonzero(wrong)[0]) + 2
            value = raw[column].iloc[line - 2]
            value = value.item() if isinstance(value, np.generic) else value
            shown = "an empty cell" if pd.isna(value) else repr(value)
            plausible = f" (possible: {PLAUSIBLE_TEXT[column]})" if column in PLAUSIBLE_TEXT else ""
            raise DataError(f"{path}, line {line}, column {column!r}: cannot read {shown}{plausible}; fix or remove "
                            "the row, or set bad_values = \"missing\" to drop unreadable rows")
        bad |= wrong
    nrt = np.zeros(len(raw), dtype=bool)
    if "version" in raw:
        nrt = per_category(raw["version"], each(lambda c: c.strip().upper().endswith("NRT")), False)
    satellite = raw["satellite"] if "satellite" in raw else pd.Categorical([""] * len(raw))
    rows = pd.DataFrame({
        "day": day, "time": raw["acq_time"].to_numpy(dtype=np.float64),
        "latitude": raw["latitude"].to_numpy(dtype=np.float64), "longitude": raw["longitude"].to_numpy(dtype=np.float64),
        "satellite": satellite, "frp": raw["frp"].to_numpy(dtype=np.float64),
        "b1": raw[b1].to_numpy(dtype=np.float64), "b2": raw[b2].to_numpy(dtype=np.float64),
        "high": high, "daytime": flag == 1, "nrt": nrt,
    })
    if bad.any():
        rows = rows.loc[~bad].reset_index(drop=True)
    return FirmsFile(path, instrument, rows, int(bad.sum()) + ragged)


_FIELDS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")


def _read_rows(path: pathlib.Path, dtype: dict[str, Any], wanted: set[str], bad_values: str) -> tuple[pd.DataFrame, int]:
    """The ``wanted`` columns of a FIRMS file and how many rows with more fields than the header were skipped
    (``bad_values = "missing"``; otherwise such a row is an error naming its line). Every column is parsed, so
    that such a row is found wherever it is (pandas ignores the extra fields of rows when given ``usecols``)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            raw = pd.read_csv(path, dtype=dtype, engine="c", index_col=False,
                              on_bad_lines="warn" if bad_values == "missing" else "error")
        except pd.errors.ParserError as error:
            found = _FIELDS.search(str(error))
            if found is None:
                raise read_error(path, error) from None
            expected, line, saw = found.groups()
            raise DataError(f"{path}, line {line}: {saw} fields where the header has {expected}; fix or remove the "
                            "row, or set bad_values = \"missing\" to drop such rows") from None
        except READ_ERRORS as error:
            raise read_error(path, error) from None
    messages = [str(w.message) for w in caught if issubclass(w.category, pd.errors.ParserWarning)]
    skipped = sum(m.count("Skipping line") for m in messages)
    if any("Length of header" in m for m in messages):  # the first data row has more fields than the header
        if bad_values != "missing":
            raise DataError(f"{path}, line 2: more fields than the header; fix or remove the row, or set "
                            "bad_values = \"missing\" to drop such rows")
        raw, skipped = raw.iloc[1:].reset_index(drop=True), skipped + 1
    return raw[[c for c in raw.columns if c in wanted]], skipped


NO_DAY = np.iinfo(np.int64).min
FIRST_DAY, LAST_DAY = (int(np.datetime64(d, "D").astype(np.int64)) for d in ("1970-01-01", "2199-12-31"))
"""Detection days outside these (e.g. a date read from -999) are unreadable."""


def day_numbers(texts: list[str]) -> np.ndarray:
    """``YYYY-MM-DD`` texts -> days since 1970-01-01 (:data:`NO_DAY` where a text is not a date)."""
    parsed = pd.to_datetime(pd.Series([t.strip() for t in texts], dtype=object), format="ISO8601", errors="coerce")
    days = parsed.to_numpy().astype("datetime64[D]").astype(np.int64)
    return np.where(parsed.isna().to_numpy(), NO_DAY, days)


def per_category(column: pd.Series, convert: Callable[[list[str]], Any], missing: Any) -> np.ndarray:
    """``convert`` applied to the distinct values of a categorical column (a list of texts -> one value each),
    spread to its rows; an empty cell gets ``missing``. Costs one pass over the rows."""
    values = list(convert([str(c) for c in column.cat.categories])) + [missing]
    return np.asarray(values)[column.cat.codes.to_numpy()]  # code -1 (empty cell) picks ``missing``


def each(convert: Callable[[str], Any]) -> Callable[[list[str]], list[Any]]:
    """A per-text conversion as a converter of lists (for :func:`per_category`)."""
    return lambda texts: [convert(text) for text in texts]


def _coerce_numbers(path: pathlib.Path, raw: pd.DataFrame, columns: list[str], bad_values: str) -> pd.DataFrame:
    """Numeric columns read as text -> float64; the first unreadable cell is an error unless ``missing``."""
    for column in columns:
        numbers = pd.to_numeric(raw[column].str.strip(), errors="coerce")
        wrong = numbers.isna().to_numpy() & raw[column].notna().to_numpy()
        if wrong.any() and bad_values == "error":
            line = int(np.flatnonzero(wrong)[0]) + 2
            raise DataError(f"{path}, line {line}, column {column!r}: {raw[column].iloc[line - 2]!r} is not a "
                            "number; fix or remove the row, or set bad_values = \"missing\" to drop unreadable rows")
        raw[column] = numbers.astype(np.float64)
    return raw
