"""Conformance of sources, one promise each: a valid SourceFrame at its native resolution, NaN as the only
missing marker (no ±inf, no sentinel such as -999), no gap filled (forward fill, zeros), deterministic loading.

The kit loads the plugin's ``example_config(directory)``. To construct a gap it removes a stretch of dates from
the example's input (:mod:`mrframe.testing.gaps`: a CSV table or JSON records with one row per date, a folder
with one file per date) and loads again; every value the source gives for those dates must be missing.
"""

from __future__ import annotations

import pathlib
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from mrframe.data.timeline import check_frame
from mrframe.errors import DataError
from mrframe.interfaces import SourceFrame
from mrframe.testing.common import fail, resolve
from mrframe.testing.configs import config_promises
from mrframe.testing.gaps import drop_dates
from mrframe.testing.promises import NotApplicable, promise, run_promises
from mrframe.testing.spatial import check_spatial_source

SENTINELS = (-99999.0, -9999.0, -999.0, 9999.0, 99999.0)
"""Numbers that mark missing values in many files; a source turns them into NaN, never passes them on."""


def check_source(plugin: type | str, config: Any = None, directory: pathlib.Path | None = None) -> SourceFrame:
    """Check every promise of a source, loading ``config`` (default: the plugin's ``example_config`` written
    into ``directory``); returns the loaded frame for further checks."""
    run_promises("source", plugin, config=config, directory=directory)
    cls, _ = resolve("source", plugin)
    return _loaded(cls, config, directory)[0]


def _loaded(cls: type, config: Any = None, directory: pathlib.Path | None = None,
            edit: Callable[[Any, pathlib.Path], Any] | None = None) -> tuple[SourceFrame, SourceFrame, Any]:
    """Two loads of the example (or ``config``), after ``edit(config, folder)`` changed the example's files;
    and ``edit``'s result."""
    with tempfile.TemporaryDirectory() as scratch:
        folder = directory or pathlib.Path(scratch)
        config = config if config is not None else cls.example_config(folder)
        edited = edit(config, folder) if edit is not None else None
        return cls(config).load(), cls(config).load(), edited


def each_load(check: Callable[[str, SourceFrame, SourceFrame], None]) -> Callable[..., None]:
    """A promise checked on two loads of the example."""

    def run(cls: type, label: str, config: Any = None, directory: pathlib.Path | None = None) -> None:
        loaded, again, _ = _loaded(cls, config, directory)
        if not isinstance(loaded, SourceFrame):
            fail(label, f"load() must return a mrframe.interfaces.SourceFrame, got {type(loaded).__name__}")
        check(label, loaded, again)

    run.__doc__ = check.__doc__
    return run


config_promises("source")


@promise("source", "frame")
@each_load
def _frame(label: str, loaded: SourceFrame, again: SourceFrame) -> None:
    """A valid SourceFrame at its native resolution; an explicit observed mask is a bool frame of its shape."""
    try:
        check_frame("conformance", loaded)
    except DataError as error:
        fail(label, str(error).removeprefix("source 'conformance': "))
    if loaded.observed is not None and (loaded.observed.shape != loaded.frame.shape
                                        or not all(pd.api.types.is_bool_dtype(t) for t in loaded.observed.dtypes)):
        fail(label, "the explicit observed mask must be a bool frame shaped like the frame")


def _observed_values(loaded: SourceFrame) -> np.ndarray:
    values = loaded.frame.to_numpy(dtype=float, na_value=np.nan)
    if loaded.observed is not None and loaded.observed.shape == loaded.frame.shape:
        values = np.where(loaded.observed.to_numpy(dtype=bool), values, np.nan)
    return values


@promise("source", "nan-missing")
@each_load
def _nan_missing(label: str, loaded: SourceFrame, again: SourceFrame) -> None:
    """Missing values are NaN: no ±inf and no sentinel (-999, 9999, ...) among the observed values."""
    values = _observed_values(loaded)
    if np.isinf(values).any():
        fail(label, "frame holds +-inf: missing values must be NaN")
    for sentinel in SENTINELS:
        if (values == sentinel).any():
            column = loaded.frame.columns[int(np.argwhere(values == sentinel)[0][1])]
            fail(label, f"column '{column}' holds {sentinel:g}, a missing-value sentinel: turn it into NaN")


@promise("source", "deterministic")
@each_load
def _deterministic(label: str, loaded: SourceFrame, again: SourceFrame) -> None:
    """Loading the same config twice gives the same frame (and region table)."""
    if not (loaded.frame.equals(again.frame) and loaded.frame.columns.equals(again.frame.columns)):
        fail(label, "loading the same config twice gives different frames")
    if loaded.regions is not None:
        check_spatial_source(label, loaded, again)


@promise("source", "no-filled-gaps")
def _no_filled_gaps(cls: type, label: str, config: Any = None, directory: pathlib.Path | None = None) -> None:
    """Dates missing from the input stay missing: no forward fill, no zeros, no interpolation."""
    if config is not None:
        raise NotApplicable("the kit constructs gaps only in its own example files, never in a given config's")
    loaded, _, gap = _loaded(cls, config, directory, edit=drop_dates)
    if gap is None:
        raise NotApplicable("the kit constructs gaps only in inputs with one row, record or file per date "
                            "(mrframe.testing.gaps)")
    inside = (loaded.frame.index >= gap[0]) & (loaded.frame.index <= gap[1])
    values = _observed_values(loaded)[inside]
    if not np.isnan(values).all():
        column = loaded.frame.columns[int(np.argwhere(~np.isnan(values))[0][1])]
        zeros = " with zeros" if (values[~np.isnan(values)] == 0).all() else ""
        fail(label, f"fills gaps{zeros}: dates {gap[0].date()}..{gap[1].date()} are not in the input, but column "
                    f"'{column}' has values there; leave them NaN (the core marks them missing)")


@promise("source", "declared")
def _declared(cls: type, label: str, config: Any = None, directory: pathlib.Path | None = None) -> None:
    """What ``declared_resolution``, ``declared_extent`` and ``declared_features`` say before loading is what
    ``load`` returns (``mrframe validate`` checks encoders, heads and target features against them)."""
    with tempfile.TemporaryDirectory() as scratch:
        config = config if config is not None else cls.example_config(directory or pathlib.Path(scratch))
        loaded = cls(config).load()
    extent = "spatial" if loaded.regions is not None else "national"
    for what, declared, actual in (("resolution", cls.declared_resolution(config), loaded.resolution),
                                   ("extent", cls.declared_extent(config), extent)):
        if declared is not None and declared != actual:
            fail(label, f"declared_{what}(config) says {declared!r}, but load() returns a {actual} frame")
    features = cls.declared_features(config)
    columns = loaded.frame.columns
    loaded_features = tuple(dict.fromkeys(columns.get_level_values(-1) if columns.nlevels > 1 else columns))
    if features is not None and tuple(features) != loaded_features:
        fail(label, f"declared_features(config) says {list(features)}, but load() returns features "
                    f"{list(loaded_features)}")
