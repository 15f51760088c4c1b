"""Predictions for chosen anchor days, in the sources' units, as a table.

A prediction anchored on day ``a`` uses exactly the inputs a training sample anchored on ``a`` would see
(:mod:`mrframe.data.dataset`), so ``a`` may be any day of the data's timeline, including its last day, whose
targets lie beyond the data. Where the targets of ``a`` are known (``a`` is a sample of some split), the table
also holds the actual values.

Columns: ``anchor``, ``task``, ``target_date`` (the day, or the first day of the month, predicted), ``feature``,
``region`` where a task is spatial (one row per region; its id, empty in national tasks' rows), then the prediction
columns of each task's kind (:meth:`~mrframe.interfaces.PredictionKind.columns`): ``prediction`` (the point
forecast; classification: the most likely class) and, as the kinds give them,
``lower_50``/``upper_50``/``lower_90``/``upper_90`` (central intervals; conformal ones for point heads, calibrated
on the validation split), quantiles, ``probability`` and ``p0``.. (class probabilities); a column a task's kind
does not give is empty for its rows. Last: ``actual``.

A framed task (an anchored target, or a window-scaled source: :mod:`mrframe.data.frames`) has no forecast where
its frame is undefined: the sample's window holds no observed value of the target's source at that feature
(an anchor after the source's last data). Those rows are left out, not written as NaN;
:func:`undefined_frames` counts them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from mrframe.data.baselines import target_offsets
from mrframe.data.frames import Frame
from mrframe.data.pipeline import PreparedData
from mrframe.engine.device import to_float32
from mrframe.engine.evaluate import calibrate, in_float64, prediction_columns
from mrframe.engine.network import Network
from mrframe.engine.results import ordered_table, region_ids
from mrframe.engine.targets import TaskWindow, task_units
from mrframe.errors import MrframeError
from mrframe.interfaces import TargetInfo

KEYS = ["anchor", "task", "target_date", "feature"]


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


def known_targets(data: PreparedData, day: int) -> dict[str, torch.Tensor] | None:
    """Each task's target ``[span, (R,) F]`` (NaN where unobserved, target units) if ``day`` anchors a sample."""
    for dataset in data.datasets.values():
        where = np.flatnonzero(dataset.anchors == day)
        if len(where):
            batch = dataset.batch(where[:1])
            targets = {t: batch.frames[t].decode_target(o) if t in batch.frames else o for t, o in batch.targets.items()}
            return {t: torch.where(o.mask, o.values, torch.nan)[0].double() for t, o in targets.items()}
    return None


@torch.no_grad()
def predict(network: Network, data: PreparedData, dates: Sequence[dt.date], device: torch.device,
            batch_size: int = 64) -> pd.DataFrame:
    """The prediction table for the anchor ``dates`` (one row per anchor, task, target step, region of a spatial
    task, and feature)."""
    days = anchor_indices(data, dates)
    # the same inputs, windows and frames; no targets (they may lie beyond the data)
    batch = data.datasets["train"].at(days).batch(np.arange(len(days)), targets=False).to(device)
    calibration = calibrate(network, data, batch_size, device)
    network.eval()
    predictions = to_float32(network(batch.inputs, batch.calendar))
    anchors = [np.datetime64(int(day) + data.timeline.day0, "D") for day in days]
    known = [known_targets(data, int(day)) for day in days]
    frames = []
    for task, head in network.model.heads.items():
        info: TargetInfo = head.target
        units, kind = task_units(data, task), network.model.kinds[task]
        prediction = in_float64(predictions[task])
        if task in batch.frames:
            prediction = batch.frames[task].decode(kind, prediction)
        columns = prediction_columns(kind, prediction, units.to(device), calibration.get(task),
                                     TaskWindow.of(data, info), batch)
        if not columns:
            continue  # a kind without per-value columns (a covariance)
        shape = (len(days), info.span, *((len(info.regions),) if info.spatial else ()), info.n_features)
        actual = torch.stack([units(k[task]) if k is not None else torch.full(shape[1:], torch.nan, dtype=torch.float64)
                              for k in known])
        values = {name: value.double().cpu().numpy().reshape(-1) for name, value in columns.items()}
        values["actual"] = actual.numpy().reshape(-1)
        position = np.indices(shape).reshape(len(shape), -1)  # each value's (anchor, step, (region,) feature)
        defined = _defined(batch.frames.get(task), shape)
        frame = pd.DataFrame({
            "anchor": np.asarray([str(a) for a in anchors], dtype=object)[position[0]],
            "task": task,
            "target_date": np.asarray([target_dates(a, info) for a in anchors], dtype=object)[position[0], position[1]],
            "feature": np.asarray(info.features, dtype=object)[position[-1]],
        })
        if info.spatial:
            frame["region"] = region_ids(info, position[2])
        frames.append(frame.assign(**values)[defined])
    return ordered_table(frames, KEYS)


def _defined(frame: Frame | None, shape: tuple[int, ...]) -> np.ndarray:
    """Bool ``[prod(shape)]``: where a task's frame (None: not framed) is defined, in the table's row order."""
    if frame is None:
        return np.ones(int(np.prod(shape)), dtype=bool)
    return np.broadcast_to(np.isfinite(frame.shift.cpu().numpy()), shape).reshape(-1)


def undefined_frames(data: PreparedData, dates: Sequence[dt.date]) -> dict[str, int]:
    """Per framed task, how many values :func:`predict` leaves out for the anchor ``dates`` because the task's
    frame is undefined there (no observed value of its source in the sample's window)."""
    days = anchor_indices(data, dates)
    batch = data.datasets["train"].at(days).batch(np.arange(len(days)), targets=False)
    out = {}
    for task, frame in batch.frames.items():
        info = data.targets[task].info
        shape = (len(days), info.span, *((len(info.regions),) if info.spatial else ()), info.n_features)
        missing = int((~_defined(frame, shape)).sum())
        if missing:
            out[task] = missing
    return out
