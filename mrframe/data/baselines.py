"""The trivial forecast baselines' rules, built from exactly what the model could see: the evaluation's yardstick
(:mod:`mrframe.engine.baselines`) and the anchors of anchored targets (:mod:`mrframe.data.anchoring`).

Forecasts (read from the sample's own window of the target's source, ``Batch.history``, so the source's
publication lag is respected), each an ensemble ``[B, span, F, M]`` (NaN = no member):

* ``persistence`` (``M = 1``): every target step gets the last observed value of its feature in the window;
* ``seasonal_naive`` (``M = 1``): a target ``k`` steps after the anchor gets the value one season earlier, as
  many seasons back as needed to land on a step the anchor had already published (season: 7 days for daily
  sources, 12 months for monthly ones; publication: :mod:`mrframe.data.publication`); missing when that step is
  unobserved or outside the window;
* ``moving_average_K`` (``M = K``): the last ``K`` observed values of the feature in the window (fewer when the
  window holds fewer), ``K`` = 7 and 28 for daily targets, 3 and 12 for monthly ones. Its point forecast is their
  mean and its distribution their empirical distribution, so it is scored by CRPS and interval coverage too
  (:func:`mrframe.scores.ensemble_columns`); a one-member ensemble is a point forecast (its CRPS is its
  absolute error).

Daily targets are ``k = horizon - span + 1 .. horizon`` days after the anchor day; monthly targets ``k`` months
after the anchor's month (0 = the anchor's own month, which has not ended and is not in the window). Windows with
a region axis (``[B, T, R, F]``) give baselines per region (``[B, span, R, F, M]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from mrframe.interfaces import TargetInfo
from mrframe.observed import Observed

SEASON = {"daily": 7, "monthly": 12}
MOVING_AVERAGES = {"daily": (7, 28), "monthly": (3, 12)}
"""The moving-average lengths (observed steps) compared with each target resolution."""


def target_offsets(target: TargetInfo) -> np.ndarray:
    """Steps after the anchor (days) or after the anchor's month (months) of each target step."""
    return np.arange(target.horizon - target.span + 1, target.horizon + 1)


def _window(observed: Observed, columns: np.ndarray) -> tuple[Tensor, Tensor]:
    index = torch.as_tensor(columns, dtype=torch.long, device=observed.values.device)
    values = observed.values.detach().double().index_select(-1, index)
    return values, observed.mask.index_select(-1, index)


def last_observed(observed: Observed, columns: np.ndarray, k: int) -> Tensor:
    """``[B, (R,) F, k]``: the last ``k`` observed values of each feature in the window, the latest first (NaN
    where the window holds fewer)."""
    values, mask = _window(observed, columns)
    after = torch.flip(torch.cumsum(torch.flip(mask.long(), [1]), 1), [1])  # observed steps at or after t
    slot = torch.where(mask & (after <= k), after - 1, k)  # slot k collects everything not taken
    out = torch.full((values.shape[0], k + 1, *values.shape[2:]), torch.nan, dtype=values.dtype,
                     device=values.device)
    out.scatter_(1, slot, values)
    return out[:, :k].movedim(1, -1)


def over_span(value: Tensor, span: int) -> Tensor:
    """``value [B, ...]`` repeated along a new span axis: ``[B, span, ...]``."""
    return value.unsqueeze(1).expand(value.shape[0], span, *value.shape[1:])


def persistence(observed: Observed, columns: np.ndarray, target: TargetInfo) -> Tensor:
    """``[B, span, (R,) F]``: the last observed value of each feature in the window (NaN if none)."""
    return over_span(last_observed(observed, columns, 1)[..., 0], target.span)


def seasonal_lookback(resolution: str, k: Any, unpublished: Any = 0) -> Any:
    """How far back from the window's end (1 = its last step) seasonal naive reads the target step ``k`` after
    the anchor, when the window's last ``unpublished`` steps are not yet published: the step one season before
    ``k``, or as many seasons before as needed to land on a published step. Integers or integer arrays/tensors
    (elementwise)::

        daily   (the window ends on the anchor day, offset 0):  back = ceil((k + u) / S) S,    lookback = 1 + back - k
        monthly (it ends on the month before the anchor's):     back = (floor((k + u) / S) + 1) S,  lookback = back - k
    """
    season = SEASON[resolution]
    if resolution == "daily":
        return 1 + -(-(k + unpublished) // season) * season - k
    return ((k + unpublished) // season + 1) * season - k


def seasonal_naive(observed: Observed, columns: np.ndarray, target: TargetInfo,
                   unpublished: Tensor | None = None) -> Tensor:
    """``[B, span, (R,) F]``: the value one (or more) seasons before each target step, the latest one published
    by the anchor (``unpublished [B]``: the window's trailing steps not yet published, default none;
    :func:`seasonal_lookback`); NaN if unobserved or outside the window."""
    values, mask = _window(observed, columns)
    batch, length = values.shape[:2]
    hidden = torch.zeros(batch, dtype=torch.long, device=values.device) if unpublished is None else \
        unpublished.to(device=values.device, dtype=torch.long)
    out = torch.full((batch, target.span, *values.shape[2:]), torch.nan, dtype=values.dtype, device=values.device)
    rows = torch.arange(batch, device=values.device)
    for s, k in enumerate(target_offsets(target)):
        index = length - seasonal_lookback(target.resolution, int(k), hidden)  # [B]
        inside = (index >= 0) & (index < length)
        at = index.clamp(0, length - 1)
        read = torch.where(mask[rows, at], values[rows, at], torch.nan)
        out[:, s] = torch.where(inside.view(-1, *[1] * (read.dim() - 1)), read, torch.nan)
    return out


def forecast_baselines(observed: Observed, columns: np.ndarray, target: TargetInfo,
                       unpublished: Tensor | None = None) -> dict[str, Tensor]:
    """Every forecast baseline of ``target`` as an ensemble ``[B, span, (R,) F, M]`` in the window's units
    (``unpublished``: see :func:`seasonal_naive`; the others read observed steps only, and unpublished ones are
    NaN in the window)."""
    out = {"persistence": persistence(observed, columns, target).unsqueeze(-1),
           "seasonal_naive": seasonal_naive(observed, columns, target, unpublished).unsqueeze(-1)}
    for k in MOVING_AVERAGES[target.resolution]:
        out[f"moving_average_{k}"] = over_span(last_observed(observed, columns, k), target.span)
    return out
