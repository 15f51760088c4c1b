"""Predictions for chosen anchor days, in the sources' units, as a table.

A prediction anchored on day ``a`` uses exactly the inputs a training sample anchored on ``a`` would see
(:mod:`mrframe.data.dataset`), so ``a`` may be any day of the data's timeline, including its last day, whose
targets lie beyond the data. Where the targets of ``a`` are known (``a`` is a sample of some split), the table
also holds the actual values.

Columns: ``anchor``, ``task``, ``target_date`` (the day, or the first day of the month, predicted),
``region`` (a spatial task's region id; empty for national tasks), ``feature``, ``prediction`` (point tasks: the point forecast; binary: P(class 1); multi-class: the most likely
class), ``probability`` (multi-class: of that class) and ``actual``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from mrframe.data.dataset import WindowDataset
from mrframe.data.pipeline import PreparedData
from mrframe.engine.baselines import target_offsets
from mrframe.engine.device import to_float32
from mrframe.engine.evaluate import as_scores, task_kind
from mrframe.engine.network import Network
from mrframe.errors import MrframeError
from mrframe.interfaces import TargetInfo

COLUMNS = ["anchor", "task", "target_date", "region", "feature", "prediction", "probability", "actual"]


def anchor_indices(data: PreparedData, dates: Sequence[dt.date]) -> np.ndarray:
    """Day indices of ``dates`` on the data's timeline; a date outside it is a user error."""
    timeline = data.timeline
    out = []
    for date in dates:
        index = timeline.day_index(np.datetime64(date, "D"))
        if not 0 <= index < timeline.n_days:
            raise MrframeError(f"--at {date}: outside the data ({timeline.first_day} .. {timeline.last_day})")
        out.append(index)
    return np.asarray(out, dtype=np.int64)


def target_dates(anchor: np.datetime64, info: TargetInfo) -> list[str]:
    """The day (daily targets) or month start (monthly targets) of each target step."""
    offsets = target_offsets(info)
    if info.resolution == "daily":
        return [str(anchor + int(k)) for k in offsets]
    month = anchor.astype("datetime64[M]")
    return [str((month + int(k)).astype("datetime64[D]")) for k in offsets]


def known_targets(data: PreparedData, day: int) -> dict[str, np.ndarray] | None:
    """Each task's target ``[span, F]`` (NaN where unobserved, target units) if ``day`` anchors a sample."""
    for dataset in data.datasets.values():
        where = np.flatnonzero(dataset.anchors == day)
        if len(where):
            batch = dataset.batch(where[:1])
            return {t: torch.where(o.mask, o.values, torch.nan)[0].double().numpy() for t, o in batch.targets.items()}
    return None


@torch.no_grad()
def predict(network: Network, data: PreparedData, dates: Sequence[dt.date], device: torch.device) -> pd.DataFrame:
    """The prediction table for the anchor ``dates`` (one row per anchor, task, target step and feature)."""
    days = anchor_indices(data, dates)
    like = data.datasets["train"]  # the same input sources and windows, no targets (they may lie beyond the data)
    inputs_only = WindowDataset(like.timeline, like.sources, like.inputs, {}, days, like.daily_window,
                                like.monthly_window)
    batch = inputs_only.batch(np.arange(len(days))).to(device)
    network.eval()
    predictions = to_float32(network(batch.inputs, batch.calendar))
    anchors = [np.datetime64(int(day) + data.timeline.day0, "D") for day in days]
    known = [known_targets(data, int(day)) for day in days]
    rows = []
    for task, head in network.model.heads.items():
        info: TargetInfo = head.target
        prediction = predictions[task]
        regions = info.regions.ids if info.regions is not None else ("",)
        shape = (len(days), info.span, *((len(regions),) if info.regions is not None else ()), info.n_features)
        kind = task_kind(prediction, torch.Size(shape))
        probability = np.full(shape, np.nan)
        scores = as_scores(kind, head, prediction)
        if kind == "point":
            values = data.to_source_units(task, scores.double().cpu().numpy())
        elif kind == "binary":
            values = scores.double().cpu().numpy()
        else:
            probability, values = (t.double().cpu().numpy() for t in scores.max(dim=-1))
        per_region = (len(days), info.span, len(regions), info.n_features)  # national tasks: one unnamed region
        values, probability = values.reshape(per_region), probability.reshape(per_region)
        for i, anchor in enumerate(anchors):
            actual = np.full(shape[1:], np.nan)
            if known[i] is not None:
                actual = known[i][task] if kind != "point" else data.to_source_units(task, known[i][task])
            actual = actual.reshape(per_region[1:])
            for s, date in enumerate(target_dates(anchor, info)):
                for r, region in enumerate(regions):
                    for f, feature in enumerate(info.features):
                        rows.append([str(anchor), task, date, region, feature, values[i, s, r, f],
                                     probability[i, s, r, f], actual[s, r, f]])
    return pd.DataFrame(rows, columns=COLUMNS)
