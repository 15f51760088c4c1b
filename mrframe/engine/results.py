"""What an evaluation leaves in a run directory, beside ``evaluation-SPLIT.json``:

* ``forecasts-SPLIT.csv``: one row per observed target of the split: ``task``, ``anchor``, ``step`` (0-based
  position in the span), ``target_date``, ``feature`` (and ``region`` where a task is spatial: the region's id,
  empty in national tasks' rows), the task kind's prediction columns (``prediction``, intervals, class
  probabilities) in the source's units, its per-element scores (``crps``, ``pit``) and ``actual``;
* ``plots/pit-SPLIT.png``, ``plots/reliability-SPLIT.png``, ``plots/forecasts-SPLIT.png``
  (:mod:`mrframe.engine.evalplots`), for the tasks they apply to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mrframe.data.baselines import target_offsets
from mrframe.data.dataset import WindowDataset
from mrframe.engine.evalplots import plot_forecasts, plot_pit, plot_reliability
from mrframe.engine.files import atomic_write
from mrframe.engine.rundir import RunDirectory
from mrframe.interfaces import TargetInfo

KEYS = ["task", "anchor", "step", "target_date", "feature"]


def target_date_strings(anchors: np.ndarray, steps: np.ndarray, info: TargetInfo) -> np.ndarray:
    """The date (``datetime64[D]``) each ``step`` of the span predicts from ``anchors`` (``datetime64[D]``):
    the day, or the first day of the month."""
    offsets = target_offsets(info)[steps]
    if info.resolution == "daily":
        return anchors + offsets.astype("timedelta64[D]")
    return (anchors.astype("datetime64[M]") + offsets.astype("timedelta64[M]")).astype("datetime64[D]")


def forecast_table(outputs: Mapping[str, Any], dataset: WindowDataset, infos: Mapping[str, TargetInfo]) -> pd.DataFrame:
    """Every observed target of a split with its forecast columns (module docstring)."""
    frames = []
    for task, o in outputs.items():
        if not o.columns or not len(o.target):
            continue
        info = infos[task]
        anchors = dataset.anchor_dates(o.sample)
        frame = pd.DataFrame({
            "task": task,
            "anchor": anchors.astype(str),
            "step": o.step,
            "target_date": target_date_strings(anchors, o.step, info).astype(str),
            "feature": np.asarray(info.features, dtype=object)[o.feature],
        })
        if o.region is not None:
            frame["region"] = region_ids(info, o.region)
        frames.append(frame.assign(**o.columns, actual=o.target))
    return ordered_table(frames, KEYS)


def region_ids(info: TargetInfo, region: np.ndarray) -> np.ndarray:
    """The ids of the regions at positions ``region`` of a spatial target (the positions without a region table)."""
    return np.asarray(info.regions.ids, dtype=object)[region] if info.regions is not None else region


def ordered_table(frames: list[pd.DataFrame], keys: list[str]) -> pd.DataFrame:
    """``frames`` joined with the ``keys`` first, then ``region`` when a spatial task has one (empty in national
    tasks' rows), the prediction columns as they come, ``actual`` last."""
    if not frames:
        return pd.DataFrame(columns=[*keys, "prediction", "actual"])
    table = pd.concat(frames, ignore_index=True)
    keys = keys + (["region"] if "region" in table else [])
    return table[keys + [c for c in table.columns if c not in keys and c != "actual"] + ["actual"]]


def write_results(directory: RunDirectory, split: str, outputs: Mapping[str, Any], dataset: WindowDataset,
                  infos: Mapping[str, TargetInfo], title: str) -> None:
    """``forecasts-SPLIT.csv`` and the split's plots (module docstring)."""
    table = forecast_table(outputs, dataset, infos)
    atomic_write(directory.path / f"forecasts-{split}.csv", lambda h: table.to_csv(h, index=False), binary=False)
    plots = directory.plots
    plot_pit(outputs, plots / f"pit-{split}.png", f"{title}: PIT histogram ({split})")
    plot_reliability(outputs, plots / f"reliability-{split}.png", f"{title}: reliability ({split})")
    plot_forecasts(table, plots / f"forecasts-{split}.png", f"{title}: forecasts against actuals ({split})")
