"""Anchors: the trivial forecast a head's prediction is a correction to.

``heads.NAME.target.anchor`` (default ``"none"``) names a baseline computed from the sample's own observed window
of the target's source (at the target's features, with the source's publication lag, exactly what the model
could see: a value is used only once it is published, :mod:`mrframe.data.publication`):

====================  ===========================================================================================
anchor                baseline of each target step
====================  ===========================================================================================
``persistence``       the last observed value of each feature in the window
``seasonal_naive``    the value one season (7 days, 12 months) before the step, as many seasons back as needed
                      to land on a step published by the anchor
``moving_average:K``  the mean of the last ``K`` observed values (fewer when the window holds fewer)
====================  ===========================================================================================

These are the rules of the evaluation's baselines (:mod:`mrframe.data.baselines`), applied in the source's
units (the 7-day moving average of daily counts is their mean count, not the exponential of the mean of their
logs), so an anchored head that predicts a zero correction forecasts the baseline the evaluation compares it
with. A baseline is NaN where it is undefined (nothing observed where it reads); :mod:`mrframe.data.frames` then
masks the target.

Windows are ``[samples, steps, features]`` float arrays (``[samples, steps, regions, features]`` for a spatial
target: each region's own baseline), NaN = missing.
"""

from __future__ import annotations

import re

import attrs
import numpy as np
import torch

from mrframe.data.baselines import (
    last_observed,
    over_span,
    persistence,
    seasonal_lookback,
    seasonal_naive,
    target_offsets,
)
from mrframe.data.publication import most_unpublished
from mrframe.interfaces import TargetInfo
from mrframe.observed import Observed
from mrframe.scores import ensemble_columns

ANCHORS = ("persistence", "seasonal_naive", "moving_average:K")
_MOVING = re.compile(r"^moving_average:([1-9][0-9]*)$")


@attrs.frozen
class Anchor:
    """A parsed ``target.anchor``: the baseline's ``name`` and, for a moving average, its ``steps``."""

    name: str
    steps: int = 0

    def reach(self, target: TargetInfo, lag_days: int = 0) -> int:
        """How many of the window's last steps the baseline needs (the window must be at least this long) when
        the target's source is published ``lag_days`` after each period: the steps it reads plus the most
        trailing steps the lag can hide (:func:`~mrframe.data.publication.most_unpublished`)."""
        hidden = most_unpublished(target.resolution, lag_days)
        if self.name == "moving_average":
            return self.steps + hidden
        if self.name == "seasonal_naive":
            return int(max(seasonal_lookback(target.resolution, int(k), hidden) for k in target_offsets(target)))
        return 1 + hidden

    def baseline(self, window: np.ndarray, target: TargetInfo, unpublished: np.ndarray | None = None) -> np.ndarray:
        """``[B, span, (R,) F]`` from a window ``[B, T, (R,) F]`` (NaN = missing) whose last ``unpublished [B]``
        steps were not yet published (default none): the evaluation's own baseline rules
        (:mod:`mrframe.data.baselines`; a moving average's point is its members' mean, as the evaluation takes
        it)."""
        observed = Observed.build(torch.from_numpy(window))
        columns = np.arange(window.shape[-1])
        if self.name == "persistence":
            out = persistence(observed, columns, target)
        elif self.name == "seasonal_naive":
            hidden = None if unpublished is None else torch.as_tensor(np.asarray(unpublished), dtype=torch.long)
            out = seasonal_naive(observed, columns, target, hidden)
        else:
            mean = ensemble_columns(last_observed(observed, columns, self.steps))["prediction"]  # [B, (R,) F]
            out = over_span(mean, target.span)
        return out.numpy()


def parse_anchor(text: str) -> Anchor | None:
    """The anchor ``target.anchor`` names (None for ``"none"``); ValueError when it names none."""
    match = _MOVING.match(text)
    if match:
        return Anchor("moving_average", int(match.group(1)))
    if text in ("persistence", "seasonal_naive"):
        return Anchor(text)
    if text == "none":
        return None
    raise ValueError(problem(text))


def problem(text: str) -> str | None:
    """Why ``text`` is not an anchor (None if it is one)."""
    if text in ANCHORS[:2] or text == "none" or _MOVING.match(text):
        return None
    return (f"unknown anchor {text!r}; expected one of {', '.join(ANCHORS)} (K: a number of steps, e.g. "
            "moving_average:7) or none")
