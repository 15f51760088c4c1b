"""Conformance of sources: a valid SourceFrame at its native resolution, NaN as the only missing marker,
deterministic loading."""

from __future__ import annotations

import pathlib
import tempfile
from typing import Any

import numpy as np
import pandas as pd

from mrframe.data.timeline import check_frame
from mrframe.errors import DataError
from mrframe.interfaces import SourceFrame
from mrframe.testing.common import check_config, fail, resolve
from mrframe.testing.spatial import check_spatial_source


def check_source(plugin: type | str, config: Any = None, directory: pathlib.Path | None = None) -> SourceFrame:
    """Load with ``config`` (default: the plugin's ``example_config`` written into ``directory``) and check the
    frame; returns it for further checks."""
    cls, label = resolve("source", plugin)
    check_config(label, cls)
    with tempfile.TemporaryDirectory() as scratch:
        folder = directory or pathlib.Path(scratch)
        config = config if config is not None else cls.example_config(folder)
        loaded = cls(config).load()
        again = cls(config).load()
    if not isinstance(loaded, SourceFrame):
        fail(label, f"load() must return a mrframe.interfaces.SourceFrame, got {type(loaded).__name__}")
    try:
        check_frame("conformance", loaded)
    except DataError as error:
        fail(label, str(error).removeprefix("source 'conformance': "))
    values = loaded.frame.to_numpy(dtype=float, na_value=np.nan)
    if np.isinf(values).any():
        fail(label, "frame holds +-inf: missing values must be NaN")
    if loaded.observed is not None and (loaded.observed.shape != loaded.frame.shape
                                        or not all(pd.api.types.is_bool_dtype(t) for t in loaded.observed.dtypes)):
        fail(label, "the explicit observed mask must be a bool frame shaped like the frame")
    if not (loaded.frame.equals(again.frame) and loaded.frame.columns.equals(again.frame.columns)):
        fail(label, "loading the same config twice gives different frames")
    if loaded.regions is not None:
        check_spatial_source(label, loaded, again)
    return loaded
