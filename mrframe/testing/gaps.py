"""Gaps the kit constructs in a source's example inputs, to check that the source leaves them missing.

:func:`drop_dates` finds, among the files the example config names (inside the example's folder only), the
first input it knows how to thin out, removes a stretch of dates from it (the second third of its dates) and
returns the first and last removed date:

* a CSV table with one row per date (a ``YYYY-MM-DD`` column);
* a JSON list of records with one record per date (a ``YYYY-MM-DD`` field), plain or ``.gz``;
* a folder with one file per date (``YYYYMMDD`` or ``YYYY-MM-DD`` in the file name), at least five of them.

Inputs with several rows per date (event lists) are left alone: there a date without rows may well mean zero
events, which the source may rightly report as an observed zero.
"""

from __future__ import annotations

import gzip
import json
import pathlib
import re
from typing import Any

import attrs
import numpy as np
import pandas as pd

DATE_IN_NAME = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def _inputs(config: Any, folder: pathlib.Path) -> list[pathlib.Path]:
    """The existing files and folders the config's path keys name, inside ``folder``."""
    if not attrs.has(type(config)):
        return []
    found = []
    for attribute in attrs.fields(type(config)):
        value = getattr(config, attribute.name)
        if isinstance(value, pathlib.Path) and value.exists() and value.resolve().is_relative_to(folder.resolve()):
            found.append(value)
    return found


def _stretch(dates: pd.Series) -> np.ndarray | None:
    """The second third of the distinct dates, when each date occurs once and there are at least three."""
    unique = np.sort(dates.unique())
    if len(unique) < 3 or not dates.is_unique:
        return None
    start = len(unique) // 3
    return unique[start : start + max(1, len(unique) // 3)]


def _parse(values: Any) -> pd.Series | None:
    dates = pd.to_datetime(pd.Series(values, dtype=object), format="%Y-%m-%d", errors="coerce")
    return dates if len(dates) and dates.notna().all() else None


def _csv(path: pathlib.Path) -> np.ndarray | None:
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in table.columns:
        dates = _parse(table[column])
        if dates is not None:
            removed = _stretch(dates)
            if removed is None:
                return None
            table[~dates.isin(removed).to_numpy()].to_csv(path, index=False)
            return removed
    return None


def _json(path: pathlib.Path) -> np.ndarray | None:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        records = json.load(handle)
    if not (isinstance(records, list) and records and all(isinstance(r, dict) for r in records)):
        return None
    for key in records[0]:
        dates = _parse([r.get(key) for r in records])
        if dates is not None:
            removed = _stretch(dates)
            if removed is None:
                return None
            kept = [r for r, drop in zip(records, dates.isin(removed), strict=True) if not drop]
            with opener(path, "wt", encoding="utf-8") as handle:
                json.dump(kept, handle)
            return removed
    return None


def _folder(path: pathlib.Path) -> np.ndarray | None:
    files = {}
    for file in sorted(p for p in path.iterdir() if p.is_file()):
        match = DATE_IN_NAME.search(file.name)
        if match is not None:
            files.setdefault(pd.Timestamp("-".join(match.groups())), []).append(file)
    if len(files) < 5 or any(len(v) > 1 for v in files.values()):
        return None
    removed = _stretch(pd.Series(list(files)))
    for date in removed:
        files[pd.Timestamp(date)][0].unlink()
    return removed


def drop_dates(config: Any, folder: pathlib.Path) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """Remove a stretch of dates from the first input of the example (see the module docstring); the first and
    last removed date, or None when the kit cannot construct a gap in these inputs."""
    for path in _inputs(config, folder):
        if path.is_dir():
            removed = _folder(path)
        elif path.name.endswith(".csv"):
            removed = _csv(path)
        elif path.name.endswith((".json", ".json.gz")):
            removed = _json(path)
        else:
            removed = None
        if removed is not None:
            return pd.Timestamp(removed[0]), pd.Timestamp(removed[-1])
    return None
