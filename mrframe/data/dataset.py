"""Samples of one split, gathered into :class:`Batch` objects of ``Observed`` tensors.

A sample anchored on day ``a`` sees:

* every input daily source for days ``a - daily_window + 1 .. a`` (a day ``d`` of a source with publication
  lag ``L`` only if ``d + L <= a``);
* every input monthly source for the ``monthly_window`` months that ended before ``a`` (a month only if its
  last day ``+ L < a``);
* for each head, its target steps (see :mod:`mrframe.data.split`), with their own feature-level mask, and its
  *history*: the window of the target's source at the target's features, by the same rules as an input.

NaN in the aligned arrays becomes ``mask = False`` and a value of exactly 0 through :meth:`Observed.build`.
With a :class:`~mrframe.data.frames.Framing`, inputs are window-scaled and framed tasks' targets are in their
frame's units (:mod:`mrframe.data.frames`); ``Batch.frames`` takes forecasts back.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs
import numpy as np
import torch
from torch import Tensor

from mrframe.data.frames import Frame, Framing, encode
from mrframe.data.publication import unpublished_mask
from mrframe.data.split import target_steps
from mrframe.data.timeline import AlignedSource, Timeline, month_number
from mrframe.data.windows import WindowView
from mrframe.interfaces import TargetInfo
from mrframe.observed import Calendar, Observed


@attrs.frozen(eq=False)
class Batch:
    """Model inputs by source, targets by task (in their frame's units for framed tasks), the calendar, each
    sample's index in its split, each task's history window (target units), the frames of framed tasks and, per
    task, how many trailing steps of each history window its source had not yet published (``[B]``, long;
    :mod:`mrframe.data.publication`; absent: none)."""

    inputs: dict[str, Observed]
    targets: dict[str, Observed]
    calendar: Calendar
    index: Tensor
    history: dict[str, Observed] = attrs.field(factory=dict)
    frames: dict[str, Frame] = attrs.field(factory=dict)
    unpublished: dict[str, Tensor] = attrs.field(factory=dict)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def to(self, device: torch.device | str) -> Batch:
        return Batch(
            inputs={k: v.to(device) for k, v in self.inputs.items()},
            targets={k: v.to(device) for k, v in self.targets.items()},
            calendar=self.calendar.to(device),
            index=self.index.to(device),
            history={k: v.to(device) for k, v in self.history.items()},
            frames={k: v.to(device) for k, v in self.frames.items()},
            unpublished={k: v.to(device) for k, v in self.unpublished.items()},
        )


@attrs.frozen(eq=False)
class TargetPlan:
    """Where a task's target comes from: its info, the source columns it predicts, the array
    ``values [rows, len(columns)]`` (on the target source's axis, in the target's units) targets and history
    windows are cut from, and the source's publication lag."""

    info: TargetInfo
    columns: np.ndarray
    values: np.ndarray | None = None
    lag_days: int = 0


@attrs.frozen(eq=False)
class WindowViews:
    """The strided window views of every input source, target and history, built once and shared by all
    splits."""

    inputs: dict[str, WindowView]
    targets: dict[str, WindowView]
    history: dict[str, WindowView]

    @classmethod
    def build(cls, sources: Mapping[str, AlignedSource], targets: Mapping[str, TargetPlan], daily_window: int,
              monthly_window: int, inputs: tuple[str, ...] | None = None) -> WindowViews:
        names = tuple(sources) if inputs is None else inputs
        return cls(
            inputs={
                name: WindowView(sources[name].values,
                                 daily_window if sources[name].info.resolution == "daily" else monthly_window)
                for name in names
            },
            targets={task: WindowView(_target_values(task, plan), plan.info.span) for task, plan in targets.items()},
            history={
                task: WindowView(_target_values(task, plan),
                                 daily_window if plan.info.resolution == "daily" else monthly_window)
                for task, plan in targets.items()
            },
        )

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in (*self.inputs.values(), *self.targets.values(), *self.history.values()))


def _target_values(task: str, plan: TargetPlan) -> np.ndarray:
    if plan.values is None:
        raise ValueError(f"the target plan of task '{task}' has no values (plans with values come from "
                         "mrframe.data.pipeline.prepare)")
    return plan.values


class WindowDataset:
    """The samples of one split (``anchors`` are day indices on ``timeline``); ``views`` shares the window
    views of another dataset over the same data (built from ``sources`` and ``targets`` when None);
    ``framing`` window-scales inputs and frames targets (none: inputs and targets as scaled by the pipeline)."""

    def __init__(
        self,
        timeline: Timeline,
        sources: Mapping[str, AlignedSource],
        inputs: tuple[str, ...],
        targets: Mapping[str, TargetPlan],
        anchors: np.ndarray,
        daily_window: int,
        monthly_window: int,
        views: WindowViews | None = None,
        framing: Framing | None = None,
    ):
        self.timeline = timeline
        self.inputs = inputs
        self.targets = dict(targets)
        self.anchors = np.asarray(anchors, dtype=np.int64)
        self.daily_window = daily_window
        self.monthly_window = monthly_window
        self.sources = {name: sources[name] for name in inputs}
        if views is None:
            views = WindowViews.build(sources, self.targets, daily_window, monthly_window, inputs)
        self.views = views
        self.framing = framing if framing is not None else Framing({}, {})

    def at(self, anchors: np.ndarray) -> WindowDataset:
        """The samples anchored on ``anchors`` over the same data (views and framing shared)."""
        return WindowDataset(self.timeline, self.sources, self.inputs, self.targets, anchors, self.daily_window,
                             self.monthly_window, views=self.views, framing=self.framing)

    def __len__(self) -> int:
        return int(self.anchors.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes held by the dataset's arrays: the window views (shared between splits, constant in the number
        of samples) and the anchors (8 bytes per sample)."""
        return self.views.nbytes + self.anchors.nbytes

    def anchor_dates(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Anchor days as ``datetime64[D]``."""
        anchors = self.anchors if indices is None else self.anchors[indices]
        return (anchors + self.timeline.day0).astype("datetime64[D]")

    def batch(self, indices: np.ndarray, targets: bool = True) -> Batch:
        """Gather the samples at ``indices`` (positions in this split); ``targets = False`` leaves targets out
        (for anchors whose targets lie beyond the data) but keeps histories and frames."""
        indices = np.asarray(indices, dtype=np.int64)
        anchors = self.anchors[indices]
        inputs = {}
        for name, source in self.sources.items():
            values = self._window(self.views.inputs[name], source.info.resolution, source.lag_days, anchors)
            inputs[name] = Observed.build(torch.from_numpy(self.framing.scale_input(name, values)))
        history, unpublished, frames, cut = {}, {}, {}, {}
        for task, plan in self.targets.items():
            window, hidden = self._published(self.views.history[task], plan.info.resolution, plan.lag_days, anchors)
            history[task] = Observed.build(torch.from_numpy(window))
            unpublished[task] = torch.from_numpy(hidden)
            frame = self.framing.frame(task, window, hidden)
            if frame is not None:
                frames[task] = frame
            if targets:
                last = target_steps(self.timeline, plan.info, anchors)  # the rule the embargo uses
                values = encode(self.views.targets[task].ending_at(last), frame)
                cut[task] = Observed.build(torch.from_numpy(values))
        return Batch(inputs, cut, self.calendar(anchors), torch.from_numpy(indices), history, frames, unpublished)

    def _window(self, view: WindowView, resolution: str, lag_days: int, anchors: np.ndarray) -> np.ndarray:
        """The windows of a source's ``view`` a sample anchored on each of ``anchors`` sees (NaN where the
        publication lag hides a step, :mod:`mrframe.data.publication`)."""
        return self._published(view, resolution, lag_days, anchors)[0]

    def _published(self, view: WindowView, resolution: str, lag_days: int,
                   anchors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_window` and the number of trailing steps the lag hides in each (``[B]``)."""
        if resolution == "daily":
            values = view.ending_at(anchors)
        else:
            values = view.ending_at(self.timeline.month_of_day_index(anchors) - 1)
        if not lag_days:
            return values, np.zeros(len(anchors), dtype=np.int64)
        hidden = unpublished_mask(self.timeline, resolution, lag_days, anchors, values.shape[1])
        values[hidden] = np.nan
        return values, hidden.sum(axis=1).astype(np.int64)

    def calendar(self, anchors: np.ndarray) -> Calendar:
        """The calendar of the windows ending at ``anchors`` (day indices on the timeline)."""
        return calendar_for(anchors + self.timeline.day0, self.daily_window, self.monthly_window)


def calendar_for(anchor_days: np.ndarray, daily_window: int, monthly_window: int) -> Calendar:
    """Weekday, month and month-slot tensors for windows ending on ``anchor_days`` (days since 1970-01-01)."""
    anchor_days = np.asarray(anchor_days, dtype=np.int64)
    days = anchor_days[:, None] - np.arange(daily_window - 1, -1, -1)
    months = month_number(days)
    anchor_month = month_number(anchor_days)
    first_slot_month = anchor_month - monthly_window
    monthly = first_slot_month[:, None] + np.arange(monthly_window)
    return Calendar(
        weekday=torch.from_numpy((days + 3) % 7),  # 1970-01-01 was a Thursday; Monday = 0
        month_of_year=torch.from_numpy(months % 12),
        month_slot=torch.from_numpy(months - first_slot_month[:, None]),
        monthly_month_of_year=torch.from_numpy(monthly % 12),
        anchor_day=torch.from_numpy(anchor_days),
    )


class BatchLoader:
    """Batches of a :class:`WindowDataset`, reshuffled per epoch from ``(seed, epoch)``.

    With ``world_size > 1`` each rank takes every ``world_size``-th sample of the shuffled order (the order
    is padded by wrapping so every rank sees the same number of batches, as ``DistributedSampler`` does).
    """

    def __init__(
        self,
        dataset: WindowDataset,
        batch_size: int,
        shuffle: bool = False,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def order(self) -> np.ndarray:
        n = len(self.dataset)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else np.arange(n)
        if self.world_size > 1 and n:
            total = -(-n // self.world_size) * self.world_size
            order = np.resize(order, total)[self.rank :: self.world_size]
        return order

    def __len__(self) -> int:
        return -(-len(self.order()) // self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        order = self.order()
        for start in range(0, len(order), self.batch_size):
            yield self.dataset.batch(order[start : start + self.batch_size])
