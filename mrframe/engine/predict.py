"""Predictions for chosen anchor days, in the sources' units, as a table.

A prediction anchored on day ``a`` uses exactly the inputs a training sample anchored on ``a`` would see
(:mod:`mrframe.data.dataset`), so ``a`` may be any day of the data's timeline, including its last day, whose
targets lie beyond the data. Where the targets of ``a`` are known (``a`` is a sample of some split), the table
also holds the actual values.

Columns: ``anchor``, ``task``, ``target_date`` (the day, or the first day of the month, predicted),
``feature``, ``prediction`` (point tasks: the point forecast; binary: P(class 1); multi-class: the most likely
class), ``probability`` (multi-class: of that class) and ``actual``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from mrframe.data.pipeline import PreparedData
from mrframe.engine.baselines import target_offsets
from mrframe.engine.device import to_float32
from mrframe.engine.evaluate import as_scores, task_kind
from mrframe.engine.network import Network
from mrframe.errors import MrframeError
from mrframe.interfaces import TargetInfo

COLUMNS = ["anchor", "task", "target_date", "feature", "prediction", "probability", "actual"]


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
            return {
                t: (batch.frames[t].decode_values(o) if t in batch.frames else torch.where(o.mask, o.values, torch.nan))
                [0].double().numpy()
                for t, o in batch.targets.items()
            }
    return None


@torch.no_grad()
def predict(network: Network, data: PreparedData, dates: Sequence[dt.date], device: torch.device) -> pd.DataFrame:
    """The prediction table for the anchor ``dates`` (one row per anchor, task, target step and feature)."""
    days = anchor_indices(data, dates)
    # the same inputs, windows and frames; no targets (they may lie beyond the data)
    batch = data.datasets["train"].at(days).batch(np.arange(len(days)), targets=False).to(device)
    network.eval()
    predictions = to_float32(network(batch.inputs, batch.calendar))
    predictions = {t: batch.frames[t].decode(p) if t in batch.frames else p for t, p in predictions.items()}
    anchors = [np.datetime64(int(day) + data.timeline.day0, "D") for day in days]
    known = [known_targets(data, int(day)) for day in days]
    rows = []
    for task, head in network.model.heads.items():
        info: TargetInfo = head.target
        prediction = predictions[task]
        shape = (len(days), info.span, info.n_features)
        kind = task_kind(prediction, torch.Size(shape))
        probability = np.full(shape, np.nan)
        scores = as_scores(kind, head, prediction)
        if kind == "point":
            values = data.to_source_units(task, scores.double().cpu().numpy())
        elif kind == "binary":
            values = scores.double().cpu().numpy()
        else:
            probability, values = (t.double().cpu().numpy() for t in scores.max(dim=-1))
        for i, anchor in enumerate(anchors):
            actual = np.full(shape[1:], np.nan)
            if known[i] is not None:
                actual = known[i][task] if kind != "point" else data.to_source_units(task, known[i][task])
            for s, date in enumerate(target_dates(anchor, info)):
                for f, feature in enumerate(info.features):
                    rows.append([str(anchor), task, date, feature, values[i, s, f], probability[i, s, f],
                                 actual[s, f]])
    return pd.DataFrame(rows, columns=COLUMNS)
