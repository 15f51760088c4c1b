"""The ``firms`` source: NASA FIRMS fire detections aggregated per day.

Reads one FIRMS CSV file or every ``*.csv`` / ``*.csv.gz`` file of a folder (archive and NRT downloads side by
side; see :mod:`mrframe_osint.firms_files` for the formats). Steps:

1. keep the files of one instrument (``instrument``; VIIRS and MODIS detect differently, so mixing them needs
   one source per instrument);
2. *coverage*: the days the files cover, by default each file from its first to its last detection day
   (``coverage`` lists them explicitly instead; detections outside it are dropped and counted);
3. de-duplicate: an NRT detection on a day an archive file covers is dropped (the archive is the reprocessed
   record of the same fires), and a detection repeated in overlapping downloads (same latitude, longitude,
   date, time and satellite) is kept once; both are counted;
4. optional ``bbox`` (west, south, east, north in degrees); detections outside it are dropped and counted;
5. daily aggregates over day ``d``'s detections ``i`` (per region with ``regions``, see below)::

       detections = n_d                     high_confidence, day_detections, night_detections: counts
       frp_sum = sum_i frp_i                frp_mean = frp_sum / n_d        frp_max = max_i frp_i
       brightness_mean / _max over the I-4 (VIIRS) or 21/22 (MODIS) brightness temperature [K]
       brightness2_mean over I-5 (VIIRS) or band 31 (MODIS)

A covered day without detections is an **observed zero** (counts and ``frp_sum`` are 0; means and maxima are
missing, being undefined); a day outside the coverage is missing.

With ``regions`` (a grid or GeoJSON polygons, see :mod:`mrframe.geo`) the source is spatial: the same features
per day and region, over the detections each region holds (a covered day is an observed zero in every region);
detections outside every region are dropped and counted.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections import Counter
from typing import Literal

import attrs
import numpy as np
import pandas as pd

from mrframe.config import field
from mrframe.errors import DataError
from mrframe.geo import RegionsConfig, build_regions
from mrframe.geo.config import check_bbox
from mrframe.interfaces import Source, SourceFrame
from mrframe_osint.examples import SyntheticExample
from mrframe_osint.firms_files import FirmsFile, instrument_of, list_files, read_file
from mrframe_osint.tables import BAD_VALUES_DOC, BadValues

COUNTS = ("detections", "high_confidence", "day_detections", "night_detections")
FEATURES = (*COUNTS, "frp_sum", "frp_mean", "frp_max", "brightness_mean", "brightness_max", "brightness2_mean")


def _check_coverage(ranges: tuple[tuple[dt.date, dt.date], ...]) -> str | None:
    for first, last in ranges:
        if last < first:
            return f"a coverage range ends before it starts: [{first}, {last}]"
    return None


@attrs.frozen
class FirmsConfig:
    path: pathlib.Path = field(doc="a FIRMS CSV file (.csv or .csv.gz) or a folder of them (archive and NRT together)",
                               exists=True)
    instrument: Literal["auto", "VIIRS", "MODIS"] = field(
        "auto", "files to read: 'auto' needs every file to be of one instrument; VIIRS or MODIS skip the others"
    )
    bbox: tuple[float, float, float, float] | None = field(
        None, "keep detections inside [west, south, east, north] (degrees)", check=check_bbox
    )
    coverage: tuple[tuple[dt.date, dt.date], ...] | None = field(
        None, "[[first, last], ...] days the files cover (default: each file from its first to its last detection)",
        check=_check_coverage,
    )
    high_confidence: float = field(80.0, "MODIS confidence counted as high (VIIRS: the 'h' class)", min=0.0, max=100.0)
    bad_values: BadValues = field("error", BAD_VALUES_DOC)
    regions: RegionsConfig | None = field(
        None, "spatial mode: the features per region, e.g. { grid = 0.5, bbox = [22, 44, 41, 53] } (see `regions` of "
              "a spatial source); unset: national")


def daily_aggregates(day: np.ndarray, rows: pd.DataFrame, n_days: int) -> np.ndarray:
    """``[n_days, len(FEATURES)]``: the features of the detections in each bin ``day`` (``0 <= day < n_days``:
    days, or (day, region) pairs), NaN-free counts."""
    count = np.bincount(day, minlength=n_days).astype(np.float64)
    out = np.empty((n_days, len(FEATURES)))
    with np.errstate(invalid="ignore", divide="ignore"):
        empty = np.where(count > 0, 1.0, np.nan)

        def total(column: str) -> np.ndarray:
            return np.bincount(day, weights=rows[column].to_numpy(np.float64), minlength=n_days)

        def largest(column: str) -> np.ndarray:
            most = np.full(n_days, -np.inf)
            np.maximum.at(most, day, rows[column].to_numpy(np.float64))
            return most * empty

        frp_sum, daytime = total("frp"), total("daytime")
        features = {
            "detections": count,
            "high_confidence": total("high"),
            "day_detections": daytime,
            "night_detections": count - daytime,
            "frp_sum": frp_sum,
            "frp_mean": frp_sum / count * empty,
            "frp_max": largest("frp"),
            "brightness_mean": total("b1") / count * empty,
            "brightness_max": largest("b1"),
            "brightness2_mean": total("b2") / count * empty,
        }
    for i, name in enumerate(FEATURES):
        out[:, i] = features[name]
    return out


class FirmsSource(SyntheticExample, Source):
    """Daily aggregates of NASA FIRMS fire detections (VIIRS or MODIS; archive and NRT de-duplicated).

    A covered day without any detection is observed as zero detections; a day outside the files' coverage
    is missing.
    """

    Config = FirmsConfig
    example_format = "firms"


    @classmethod
    def declared_features(cls, config: object) -> tuple[str, ...]:
        return FEATURES

    def load(self) -> SourceFrame:
        config: FirmsConfig = self.config
        rejected: Counter = Counter()
        files = self._read_files(rejected)
        covered = self._coverage(files)
        rows = pd.concat([f.rows for f in files], ignore_index=True)
        if covered.size == 0:
            raise DataError(f"{config.path}: no FIRMS detection in any file, so no day is known to be covered; "
                            "set coverage = [[first, last]] if the files cover days without fires")
        first, last = int(covered.min()), int(covered.max())
        n_days = last - first + 1
        is_covered = np.zeros(n_days, dtype=bool)
        is_covered[covered - first] = True
        rows = self._select(rows, files, first, is_covered, rejected)
        days = pd.date_range(np.datetime64(first, "D"), periods=n_days, freq="D", name="date")
        day = (rows["day"].to_numpy() - first).astype(np.int64)
        if config.regions is None:
            values = daily_aggregates(day, rows, n_days)
            values[~is_covered] = np.nan
            return SourceFrame(pd.DataFrame(values, index=days, columns=list(FEATURES)), "daily", counts=COUNTS,
                               rejected=dict(rejected))
        shapes = build_regions(config.regions)
        region = shapes.locate(rows["longitude"].to_numpy(), rows["latitude"].to_numpy())
        outside = region < 0
        if outside.any():
            rows, day, region = _drop(rows, outside, "outside every region", rejected), day[~outside], region[~outside]
        n = len(shapes)
        values = daily_aggregates(day * n + region, rows, n_days * n).reshape(n_days, -1)
        values[~is_covered] = np.nan
        columns = pd.MultiIndex.from_product([shapes.regions.ids, FEATURES], names=["region", "feature"])
        return SourceFrame(pd.DataFrame(values, index=days, columns=columns), "daily", counts=COUNTS,
                           rejected=dict(rejected), regions=shapes.regions)

    def _read_files(self, rejected: Counter) -> list[FirmsFile]:
        config: FirmsConfig = self.config
        paths = list_files(config.path)
        kinds = {path: instrument_of(path) for path in paths}
        wanted = config.instrument
        if wanted == "auto":
            found = sorted(set(kinds.values()))
            if len(found) > 1:
                raise DataError(f"{config.path}: holds both VIIRS and MODIS files; set instrument = \"VIIRS\" or "
                                "\"MODIS\" (one source per instrument)")
            wanted = found[0]
        files = []
        for path, kind in kinds.items():
            if kind != wanted:
                rejected[f"{kind} file skipped (instrument = {wanted})"] += 1
                continue
            file = read_file(path, kind, config.high_confidence, config.bad_values)
            if file.dropped:
                rejected["unreadable row"] += file.dropped
            if file.coverage is None and config.coverage is None:
                if config.bad_values == "error":
                    raise DataError(f"{path}: a FIRMS file without any detection, so the days it covers are unknown; "
                                    "remove it, set coverage = [[first, last]], or set bad_values = \"missing\" to "
                                    "skip such files")
                rejected["file without detections (coverage unknown; set coverage)"] += 1
            files.append(file)
        if not files:
            raise DataError(f"{config.path}: no {wanted} file")
        return files

    def _coverage(self, files: list[FirmsFile]) -> np.ndarray:
        """Sorted unique day numbers the files cover."""
        config: FirmsConfig = self.config
        if config.coverage is not None:
            ranges = [(np.datetime64(a, "D").astype(np.int64), np.datetime64(b, "D").astype(np.int64))
                      for a, b in config.coverage]
        else:
            ranges = [f.coverage for f in files if f.coverage is not None]
        days = [np.arange(a, b + 1, dtype=np.int64) for a, b in ranges]
        return np.unique(np.concatenate(days)) if days else np.zeros(0, dtype=np.int64)

    def _select(self, rows: pd.DataFrame, files: list[FirmsFile], first: int, is_covered: np.ndarray,
                rejected: Counter) -> pd.DataFrame:
        """Drop (and count), in turn: detections outside the coverage, NRT ones on days an archive file
        covers, repeats, and those outside the bounding box."""
        config: FirmsConfig = self.config
        index = rows["day"].to_numpy() - first
        inside = (index >= 0) & (index < is_covered.size)
        inside[inside] = is_covered[index[inside]]
        rows = _drop(rows, ~inside, "detection outside coverage", rejected)
        spans = [(int(f.rows["day"][~f.rows["nrt"]].min()), int(f.rows["day"][~f.rows["nrt"]].max()))
                 for f in files if (~f.rows["nrt"]).any()]
        archive_days = np.unique(np.concatenate([np.arange(a, b + 1) for a, b in spans] or [np.zeros(0, np.int64)]))
        nrt_overlap = rows["nrt"].to_numpy() & np.isin(rows["day"].to_numpy(), archive_days)
        rows = _drop(rows, nrt_overlap, "NRT detection on a day an archive file covers", rejected)
        rows = _drop(rows, _repeated(rows, files), "repeated detection (overlapping files)", rejected)
        if config.bbox is not None:
            west, south, east, north = config.bbox
            lat, lon = rows["latitude"].to_numpy(), rows["longitude"].to_numpy()
            outside = ~((lon >= west) & (lon <= east) & (lat >= south) & (lat <= north))
            rows = _drop(rows, outside, "outside bbox", rejected)
        return rows


def _repeated(rows: pd.DataFrame, files: list[FirmsFile]) -> np.ndarray:
    """Bool per row: a later copy of a detection (same position, day, time and satellite). Only days that
    several files cover can hold copies, so only their rows are compared."""
    spans = [f.coverage for f in files if f.coverage is not None]
    days = np.concatenate([np.arange(a, b + 1) for a, b in spans] or [np.zeros(0, np.int64)])
    covered, times = np.unique(days, return_counts=True)
    shared = np.isin(rows["day"].to_numpy(), covered[times > 1])
    repeated = np.zeros(len(rows), dtype=bool)
    if shared.any():
        candidates = rows.loc[shared, ["latitude", "longitude", "day", "time"]].assign(
            satellite=rows.loc[shared, "satellite"].astype(str))
        repeated[shared] = candidates.duplicated().to_numpy()
    return repeated


def _drop(rows: pd.DataFrame, drop: np.ndarray, reason: str, rejected: Counter) -> pd.DataFrame:
    """``rows`` without those marked in ``drop``, counted under ``reason``."""
    if not drop.any():
        return rows
    rejected[reason] += int(drop.sum())
    return rows.loc[~drop].reset_index(drop=True)
