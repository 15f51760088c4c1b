"""``covariance``: the covariance of a source's target features over the target window (for ``eigh-covariance``).

The prediction is positive definite by construction, whatever the network outputs::

    z   = Readout(state)                                         [B, hidden]   (module mrframe_han.readout)
    A   = (W z + b).view(B, n, rank)                             factor (n = target features)
    R̂   = A Aᵀ / rank + floor I                                  [B, n, n]

With ``sample_window = w > 0`` the head also returns the sample covariance of the same features over the last
``w`` steps of the target source's *input* window (what the model sees up to the anchor, never the target),
for the loss to blend with its prediction (``eigh-covariance`` ``sample_beta``: ``(1 - β) N(R̂) + β N(S)``)::

    S = X̃ᵀ X̃ / w,    X̃ = m ∘ (x - x̄)     (x̄: each feature's mean over its observed steps; m: the mask)

which keeps the predicted spectrum anchored to what was just observed while the factor learns the change.
Both matrices are computed in float32 (float64 for a float64 model) whatever the autocast (``train.precision = "bf16"``): in bfloat16, A Aᵀ
is not even symmetric after rounding and the floor vanishes beside entries of order 1. It
needs the target source to be an input whose encoder sees every target feature (no PCA or correlation filter
dropping one). Its prediction kind is ``covariance`` (:mod:`mrframe.kinds.covariance`): it has no point
forecast, prediction columns or baselines, so evaluation reports the task's loss.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import torch
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import Observed, State
from mrframe_han.readout import Readout, ReadoutConfig


@attrs.frozen
class CovarianceConfig(ReadoutConfig):
    rank: int = field(0, "columns of the factor A (0: as many as target features, a full-rank factor)", min=0)
    floor: float = field(1e-4, "added to the diagonal: the smallest eigenvalue the prediction can have", min=0.0)
    sample_window: int = field(
        0, "also return the sample covariance of the last this many input steps of the target features "
           "(for eigh-covariance sample_beta > 0; 0: none)", min=0,
    )


def window_covariance(window: Observed, columns: Tensor, steps: int) -> Tensor:
    """Sample covariance ``[B, n, n]`` of ``columns`` over the last ``steps`` steps of ``window``, observed
    places only (unobserved ones contribute 0, so it stays positive semi-definite)."""
    values = window.masked_values()[:, -steps:][..., columns]
    values = values.to(torch.promote_types(values.dtype, torch.float32))
    mask = window.mask[:, -steps:][..., columns]
    counts = mask.sum(dim=1, keepdim=True).clamp(min=1).to(values.dtype)
    mean = values.sum(dim=1, keepdim=True) / counts
    centred = torch.where(mask, values - mean, torch.zeros((), dtype=values.dtype, device=values.device))
    return centred.transpose(1, 2) @ centred / max(values.shape[1], 1)


class Covariance(Head):
    """Positive-definite covariance matrices in factor form, optionally with the recent sample covariance."""

    Config = CovarianceConfig
    prediction_kind = "covariance"

    def __init__(self, config: CovarianceConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        n = target.n_features
        self.rank = config.rank or n
        self.readout = Readout(model, target, config)
        self.factor = nn.Linear(config.hidden, n * self.rank)
        columns = None
        if config.sample_window:
            source = next((s for s in model.daily + model.monthly if s.name == target.source), None)
            if source is None:
                raise ValueError(f"sample_window needs the target source '{target.source}' among the inputs (give "
                                 "it an encoder), or set sample_window = 0")
            missing = [f for f in target.features if f not in source.features]
            if missing:
                raise ValueError(f"sample_window needs every target feature among source '{target.source}''s inputs; "
                                 f"its encoder does not see {', '.join(missing)} (correlation filter or PCA)")
            columns = torch.tensor([source.features.index(f) for f in target.features])
        self.columns: Tensor | None
        self.register_buffer("columns", columns, persistent=False)

    def forward(self, state: State) -> Mapping[str, Tensor]:
        z = self.readout(state)
        n = self.target.n_features
        factor = self.factor(z).view(z.shape[0], n, self.rank)
        factor = factor.to(torch.promote_types(factor.dtype, torch.float32))  # float32 or float64, never bf16
        with torch.autocast(factor.device.type, enabled=False):  # the matrices in float32 (module docstring)
            eye = torch.eye(n, dtype=factor.dtype, device=factor.device)
            out = {"covariance": factor @ factor.transpose(1, 2) / self.rank + self.config.floor * eye}
            if self.columns is not None:
                window = state.inputs.get(self.target.source)
                if window is None:
                    raise ValueError(f"covariance head: the state carries no input window of source "
                                     f"'{self.target.source}' (State.inputs)")
                out["sample_covariance"] = window_covariance(window, self.columns, self.config.sample_window)
        return out
