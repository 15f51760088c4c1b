"""The trivial forecast baselines' rules, built from exactly what the model could see: the evaluation's yardstick
(:mod:`mrframe.engine.baselines`) and the anchors of anchored targets (:mod:`mrframe.data.anchoring`).

Forecasts (read from the sample's own window of the target's source, ``Batch.history``, so the source's
publication lag is respected), each an ensemble ``[B, span, F, M]`` (NaN = no member):

* ``persistence`` (``M = 1``): every target step gets the last observed value of its feature in the window;
* ``seasonal_naive`` (``M = 1``): a target ``k`` steps after the anchor gets the value one season earlier, as
  many seasons back as needed to land inside the window (season: 7 days for daily sources, 12 months for
  monthly ones); missing when that step is unobserved or outside the window;
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


def seasonal_naive(observed: Observed, columns: np.ndarray, target: TargetInfo) -> Tensor:
    """``[B, span, (R,) F]``: the value one (or more) seasons before each target step (NaN if unobserved)."""
    values, mask = _window(observed, columns)
    length = values.shape[1]
    season = SEASON[target.resolution]
    out = torch.full((values.shape[0], target.span, *values.shape[2:]), torch.nan, dtype=values.dtype,
                     device=values.device)
    for s, k in enumerate(target_offsets(target)):
        if target.resolution == "daily":  # window ends on the anchor day: index length - 1 is offset 0
            back = -(-k // season) * season
            index = length - 1 + k - back
        else:  # window ends on the month before the anchor's month: index length - 1 is offset -1
            back = (k // season + 1) * season
            index = length + k - back
        if 0 <= index < length:
            out[:, s] = torch.where(mask[:, index], values[:, index], torch.nan)
    return out


def forecast_baselines(observed: Observed, columns: np.ndarray, target: TargetInfo) -> dict[str, Tensor]:
    """Every forecast baseline of ``target`` as an ensemble ``[B, span, (R,) F, M]`` in the window's units."""
    out = {"persistence": persistence(observed, columns, target).unsqueeze(-1),
           "seasonal_naive": seasonal_naive(observed, columns, target).unsqueeze(-1)}
    for k in MOVING_AVERAGES[target.resolution]:
        out[f"moving_average_{k}"] = over_span(last_observed(observed, columns, k), target.span)
    return out
