"""What an evaluation leaves in a run directory, beside ``evaluation-SPLIT.json``:

* ``forecasts-SPLIT.csv``: one row per observed target of the split: ``task``, ``anchor``, ``step`` (0-based
  position in the span), ``target_date``, ``feature`` (and ``region`` for spatial targets), the task kind's prediction columns (``prediction``,
  intervals, class probabilities) in the source's units, its per-element scores (``crps``, ``pit``) and
  ``actual``;
* ``plots/pit-SPLIT.png``, ``plots/reliability-SPLIT.png``, ``plots/forecasts-SPLIT.png``
  (:mod:`mrframe.engine.evalplots`), for the tasks they apply to.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mrframe.data.dataset import WindowDataset
from mrframe.engine.baselines import target_offsets
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
        if o.region is not None:  # a spatial target: the region's id (its position without a region table)
            regions = getattr(info, "regions", None)
            frame["region"] = np.asarray(regions.ids, dtype=object)[o.region] if regions is not None else o.region
        frames.append(frame.assign(**o.columns, actual=o.target))
    if not frames:
        return pd.DataFrame(columns=[*KEYS, "prediction", "actual"])
    table = pd.concat(frames, ignore_index=True)
    keys = KEYS + (["region"] if "region" in table else [])
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
