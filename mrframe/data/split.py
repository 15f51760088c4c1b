"""Anchor days and the temporal split, with an embargo so no target crosses into a later split.

A sample anchored on day ``a`` predicts, for each head, the target steps described by its
:class:`~mrframe.interfaces.TargetInfo`. Its *reach* is the last day any of its targets covers (for a monthly
target: the last day of the target month). A training anchor needs ``reach < val_from``, a validation anchor
``reach < test_from``: the embargo is exactly as long as the longest horizon, anchor by anchor.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import numpy as np

from mrframe.data.config import SplitConfig
from mrframe.data.timeline import Timeline
from mrframe.interfaces import TargetInfo

SPLITS = ("train", "val", "test")


def target_steps(timeline: Timeline, target: TargetInfo, anchors: np.ndarray) -> np.ndarray:
    """Index (on the target's axis) of the last target step of each anchor."""
    if target.resolution == "daily":
        return anchors + target.horizon
    return timeline.month_of_day_index(anchors) + target.horizon


def reach(timeline: Timeline, targets: Sequence[TargetInfo], anchors: np.ndarray) -> np.ndarray:
    """Day index of the last day any target of each anchor covers; ``-1`` for no targets."""
    out = np.full(anchors.shape, -1, dtype=np.int64)
    for target in targets:
        last = target_steps(timeline, target, anchors)
        day = last if target.resolution == "daily" else timeline.month_end_day_index(last)
        out = np.maximum(out, day)
    return out


@attrs.frozen(eq=False)
class SplitAnchors:
    """Anchor day indices per split and how many candidates each lost to the embargo."""

    anchors: dict[str, np.ndarray]
    embargoed: dict[str, int]


def split_anchors(
    timeline: Timeline, config: SplitConfig, targets: Sequence[TargetInfo], stride: int = 1
) -> SplitAnchors:
    """Assign every candidate anchor day (every ``stride`` days) to train, val or test, or drop it."""
    start = 0 if config.train_from is None else max(0, timeline.day_index(config.train_from))
    candidates = np.arange(start, timeline.n_days, stride, dtype=np.int64)
    reached = reach(timeline, targets, candidates)
    within = reached < timeline.n_days  # targets beyond the data are not known at all

    val_from = timeline.day_index(config.val_from)
    test_from = timeline.day_index(config.test_from) if config.test_from is not None else None
    until = timeline.day_index(config.until) if config.until is not None else timeline.n_days - 1
    bounds = {
        "train": (start, val_from),
        "val": (val_from, test_from if test_from is not None else until + 1),
        "test": (test_from, until + 1) if test_from is not None else (0, 0),
    }
    limits = {"train": val_from, "val": test_from if test_from is not None else timeline.n_days, "test": timeline.n_days}
    anchors, embargoed = {}, {}
    for split in SPLITS:
        low, high = bounds[split]
        inside = (candidates >= low) & (candidates < min(high, until + 1)) & within
        keep = inside & (reached < limits[split])
        anchors[split] = candidates[keep]
        embargoed[split] = int(inside.sum() - keep.sum())
    return SplitAnchors(anchors, embargoed)
