"""Publication lag: which trailing steps of a sample's window were not yet published at its anchor.

A source with publication lag ``L`` (``sources.NAME.lag_days``) publishes a day ``d`` on day ``d + L`` and a
month on its last day ``+ L``. A sample anchored on day ``a`` sees (:mod:`mrframe.data.dataset`):

* daily: the window's days ``d <= a - L``: its last ``min(L, T)`` steps are unpublished;
* monthly: the window's months (those that ended before ``a``'s month) with ``last day + L < a``: its last
  ``h(a)`` steps are unpublished, ``h(a) = #{window months m : last_day(m) + L >= a}``, at most
  :func:`most_unpublished` ``= ceil(L / 28)``.

The baselines (:mod:`mrframe.data.baselines`) and anchors read the last *published* step: the model never
sees what is unpublished, and a baseline that reads it would either use what nobody knew yet or be undefined.
"""

from __future__ import annotations

import numpy as np

from mrframe.data.timeline import Timeline


def unpublished_mask(timeline: Timeline, resolution: str, lag_days: int, anchors: np.ndarray,
                     length: int) -> np.ndarray:
    """Bool ``[B, length]``: True at the steps of the windows (of ``length`` steps) a sample anchored on each of
    ``anchors`` (day indices) does not see yet."""
    anchors = np.asarray(anchors, dtype=np.int64)
    if resolution == "daily":
        hidden = np.arange(length) >= length - lag_days
        return np.broadcast_to(hidden, (len(anchors), length))
    last_month = timeline.month_of_day_index(anchors) - 1
    months = last_month[:, None] - np.arange(length - 1, -1, -1)
    return timeline.month_end_day_index(months) + lag_days >= anchors[:, None]


def most_unpublished(resolution: str, lag_days: int) -> int:
    """The most trailing window steps any anchor finds unpublished: ``L`` days, or ``ceil(L / 28)`` months (a
    month ``j`` months back ended at least ``1 + 28 (j - 1)`` days before the anchor)."""
    if resolution == "daily":
        return int(lag_days)
    return -(-int(lag_days) // 28)
