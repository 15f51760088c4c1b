"""A task's values in the source's units, and its source's input window: what evaluation reads besides the
predictions.

* :func:`task_units`: the map from the task's target units to its source's (:class:`~mrframe.units.Units`);
* :class:`TaskWindow`: where the target's features sit in its source's input window, from which the forecast
  baselines (:mod:`mrframe.engine.baselines`) and the scale of normalised conformal scores are read, so both use
  exactly what the model could see when the forecast was issued.
"""

from __future__ import annotations

import attrs
import numpy as np
import torch

from mrframe.data.dataset import Batch
from mrframe.data.pipeline import PreparedData
from mrframe.engine.baselines import SPREAD, forecast_baselines, last_observed, over_span, spread
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
    """Where a task's target features sit in its source's input window (``columns``), and how window values
    (normalised input units) map to the source's units and to the target's (None: they are the target's)."""

    info: TargetInfo
    columns: np.ndarray
    to_source: Units
    to_target: Units | None

    @classmethod
    def of(cls, data: PreparedData, info: TargetInfo) -> TaskWindow | None:
        """None when the target's source is no input or the model sees it reduced (filtered, PCA)."""
        features = data.inputs[info.source].features if info.source in data.inputs else ()
        if not set(info.features) <= set(features) or info.source not in data.normaliser.scalings:
            return None
        to_source = scaling_units(data, info.source, data.targets[info.task].columns)
        return cls(info, np.asarray([features.index(f) for f in info.features]), to_source,
                   to_source if info.units == "raw" else None)

    def baselines(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Every forecast baseline (:mod:`mrframe.engine.baselines`) as an ensemble in the source's units."""
        to_source = self.to_source.to(batch.index.device)
        return {name: to_source(members, feature_dim=-2)
                for name, members in forecast_baselines(batch.inputs[self.info.source], self.columns, self.info).items()}

    def scale(self, batch: Batch) -> torch.Tensor:
        """``[B, span, F]``: the spread of each feature's last observed values in the window (target units, at
        least :data:`SCALE_FLOOR`; NaN with fewer than two), the scale of normalised conformal scores."""
        members = last_observed(batch.inputs[self.info.source], self.columns, SPREAD[self.info.resolution])
        if self.to_target is not None:
            members = self.to_target.to(members.device)(members, feature_dim=-2)
        return over_span(spread(members).clamp(min=SCALE_FLOOR), self.info.span)
