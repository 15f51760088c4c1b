"""An outside plugin distribution, as a third party would write it: a quantile prediction kind, a quantile head
and the pinball loss. tests/engine/test_outside_kind.py installs it through entry points (a fake distribution on
PYTHONPATH) and checks that evaluation, baselines and ``predict`` handle it with no change to the core.

Nothing here is imported by mrframe; it uses only the public contract (mrframe.interfaces, mrframe.config).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import torch
from torch import Tensor, nn
from torch.nn.functional import softplus

from mrframe.config import field
from mrframe.errors import PluginError
from mrframe.interfaces import Head, Loss, PredictionKind, TargetInfo, Units
from mrframe.observed import State, TaskLoss

LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)
"""The quantile levels every prediction of this kind holds (symmetric: ``1 - level`` is a level too)."""


def pinball(quantiles: Tensor, y: Tensor) -> Tensor:
    """``[..., Q]`` pinball losses ``max(tau (y - q), (tau - 1) (y - q))`` at each level."""
    levels = torch.tensor(LEVELS, dtype=quantiles.dtype, device=quantiles.device)
    error = y.unsqueeze(-1) - quantiles
    return torch.maximum(levels * error, (levels - 1.0) * error)


class Quantiles(PredictionKind):
    """``{"quantiles": [B, S, F, Q]}`` at :data:`LEVELS`, ascending."""

    name = "test-quantiles"
    keys = ("quantiles",)

    def point(self, prediction: Any) -> Tensor:
        return prediction["quantiles"][..., LEVELS.index(0.5)]

    def affine(self, prediction: Any, shift: Any, scale: Any) -> Any:
        q = prediction["quantiles"]
        scale = torch.as_tensor(scale, dtype=q.dtype, device=q.device)
        if bool((scale > 0).all()):
            moved = q
        elif bool((scale < 0).all()):
            moved = q.flip(-1)  # the levels are symmetric: q_tau(-Y) = -q_{1 - tau}(Y)
        else:
            raise PluginError("test-quantiles: a scale must be all positive or all negative")
        shift = torch.as_tensor(shift, dtype=q.dtype, device=q.device)
        return {"quantiles": shift.unsqueeze(-1) + scale.unsqueeze(-1) * moved}

    def columns(self, prediction: Any, units: Units, calibration: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        q = units(prediction["quantiles"], feature_dim=-2)
        out = {"prediction": q[..., LEVELS.index(0.5)]}
        out |= {f"q{level:g}": q[..., i] for i, level in enumerate(LEVELS)}
        for level, (low, high) in {50: (0.25, 0.75), 90: (0.05, 0.95)}.items():
            out[f"lower_{level}"], out[f"upper_{level}"] = q[..., LEVELS.index(low)], q[..., LEVELS.index(high)]
        return out

    def scores(self, prediction: Any, values: Tensor, units: Units) -> dict[str, Tensor]:
        """CRPS by the quantile score: ``2 mean_tau pinball_tau``, in the source's units."""
        q = units(prediction["quantiles"], feature_dim=-2)
        return {"crps": 2.0 * pinball(q, units(values)).mean(-1)}

    def example(self, target: TargetInfo, batch: int, generator: torch.Generator, scale: float = 1.0) -> Any:
        shape = (batch, target.span, target.n_features)
        raw = torch.randn(*shape, len(LEVELS), generator=generator) * scale
        q = torch.cumsum(torch.cat([raw[..., :1], softplus(raw[..., 1:])], dim=-1), dim=-1)
        return {"quantiles": q.detach().requires_grad_(True)}, torch.randn(*shape, generator=generator)


@attrs.frozen
class QuantileHeadConfig:
    hidden: int = field(16, "width of the hidden layer", min=1)


class QuantileHead(Head):
    """Ascending quantiles from the last daily state: a first quantile, then positive increments."""

    Config = QuantileHeadConfig
    prediction_kind = "test-quantiles"

    def __init__(self, config: QuantileHeadConfig, model: Any, target: TargetInfo):
        super().__init__(config, model, target)
        self.net = nn.Sequential(nn.Linear(model.d_model, config.hidden), nn.GELU(),
                                 nn.Linear(config.hidden, target.span * target.n_features * len(LEVELS)))

    def forward(self, state: State) -> dict[str, Tensor]:
        stream = state.daily if state.daily is not None else state.monthly
        raw = self.net(stream.hidden[:, -1]).view(-1, self.target.span, self.target.n_features, len(LEVELS))
        steps = torch.cat([raw[..., :1], softplus(raw[..., 1:])], dim=-1)
        return {"quantiles": torch.cumsum(steps, dim=-1)}


@attrs.frozen
class PinballConfig:
    pass


class Pinball(Loss):
    """Mean pinball loss over levels and observed targets."""

    Config = PinballConfig
    prediction_kind = "test-quantiles"

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        q = torch.where(mask.unsqueeze(-1), prediction["quantiles"], 0.0)
        per = pinball(q, torch.where(mask, values, 0.0)).mean(-1)
        count = mask.sum()
        total = torch.where(mask, per, 0.0).sum()
        return TaskLoss(total / count.clamp(min=1).to(per.dtype), count, mask.numel())
