"""A task's values in the source's units, and its history window: what evaluation reads besides the
predictions.

* :func:`task_units`: the map from the task's target units to its source's (:class:`~mrframe.units.Units`);
* :class:`TaskWindow`: the task's history window (its source's window at its features, ``Batch.history``), from
  which the forecast baselines (:mod:`mrframe.data.baselines`) and the scale of normalised conformal scores are
  read, so both use exactly what the model could see when the forecast was issued, whatever the model's inputs
  (window-scaled, reduced, or no input at all).
"""

from __future__ import annotations

import attrs
import numpy as np
import torch

from mrframe.data.baselines import forecast_baselines, last_observed, over_span
from mrframe.data.dataset import Batch
from mrframe.data.pipeline import PreparedData
from mrframe.engine.baselines import SPREAD, spread
from mrframe.interfaces import TargetInfo, Units


def task_units(data: PreparedData, task: str) -> Units:
    """How the task's target values map to its source's units (identity for ``units = "raw"``)."""
    plan = data.targets[task]
    if plan.info.units == "raw":
        return Units.identity(plan.info.n_features)
    return scaling_units(data, plan.info.source, plan.columns)


def scaling_units(data: PreparedData, source: str, columns: np.ndarray) -> Units:
    """The inverse of ``source``'s fitted scaling for the features at ``columns``, as :class:`Units`."""
    scaling = data.normaliser.scalings[source]
    return Units(torch.from_numpy(scaling.center[columns].astype(np.float64)),
                 torch.from_numpy(scaling.scale[columns].astype(np.float64)),
                 torch.from_numpy(scaling.log1p[columns].astype(bool)))


SCALE_FLOOR = 1e-3
"""The smallest window spread (target units) a normalised conformal score divides by."""


@attrs.frozen(eq=False)
class TaskWindow:
    """A task's history window (``Batch.history``: the window of its source at its features, in the target's
    units, as the sample sees it) and how its values map to the source's units."""

    info: TargetInfo
    to_source: Units

    @property
    def columns(self) -> np.ndarray:
        return np.arange(self.info.n_features)

    @classmethod
    def of(cls, data: PreparedData, info: TargetInfo) -> TaskWindow:
        return cls(info, task_units(data, info.task))

    def baselines(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Every forecast baseline (:mod:`mrframe.data.baselines`) as an ensemble in the source's units."""
        to_source = self.to_source.to(batch.index.device)
        history = batch.history[self.info.task]
        return {name: to_source(members, feature_dim=-2)
                for name, members in forecast_baselines(history, self.columns, self.info,
                                                         batch.unpublished.get(self.info.task)).items()}

    def scale(self, batch: Batch) -> torch.Tensor:
        """``[B, span, F]``: the spread of each feature's last observed values in the window (target units, at
        least :data:`SCALE_FLOOR`; NaN with fewer than two), the scale of normalised conformal scores."""
        members = last_observed(batch.history[self.info.task], self.columns, SPREAD[self.info.resolution])
        return over_span(spread(members).clamp(min=SCALE_FLOOR), self.info.span)
