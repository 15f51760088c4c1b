"""How a target's values map back to its source's units: the value type prediction kinds are given.

Re-exported by :mod:`mrframe.interfaces` (``from mrframe.interfaces import Units``).
"""

from __future__ import annotations

import attrs
import torch
from torch import Tensor


@attrs.frozen(eq=False)
class Units:
    """How a target's values map to its source's units, feature by feature (last axis ``F``)::

        y_source = expand(shift + scale * y),   expand(x) = sign(x) * expm1(|x|) on log1p features, else x

    ``scale > 0``, so the map is strictly increasing: quantiles and interval bounds map exactly, the PIT is
    unchanged. ``shift``, ``scale``, ``log1p``: ``[F]`` tensors (float64, float64, bool); ``shift`` and ``scale``
    may also be per element (``[B, S, F]``, e.g. :meth:`scaled` by a per-sample scale).
    """

    shift: Tensor
    scale: Tensor
    log1p: Tensor

    @classmethod
    def identity(cls, n_features: int) -> Units:
        """Targets already in the source's units (``units = "raw"``, or metrics in the target's units)."""
        return cls(torch.zeros(n_features, dtype=torch.float64), torch.ones(n_features, dtype=torch.float64),
                   torch.zeros(n_features, dtype=torch.bool))

    @property
    def affine(self) -> bool:
        """True when the map is affine (no log1p feature): a kind's :meth:`PredictionKind.affine` is then exact."""
        return not bool(self.log1p.any())

    def __call__(self, values: Tensor, feature_dim: int = -1) -> Tensor:
        """``values`` mapped to the source's units; ``feature_dim`` (negative) is the axis of the ``F`` features."""
        shift, scale, log1p = (_on_features(t, values, feature_dim) for t in (self.shift, self.scale, self.log1p))
        out = shift.to(values.dtype) + scale.to(values.dtype) * values
        return torch.where(log1p, torch.sign(out) * torch.expm1(out.abs()), out)

    def scaled(self, scale: Tensor) -> Units:
        """The map ``y -> self(scale * y)``, ``scale > 0`` per feature ``[F]`` or per element ``[..., F]``."""
        return Units(self.shift, self.scale * scale, self.log1p)

    def to(self, device: torch.device) -> Units:
        return Units(self.shift.to(device), self.scale.to(device), self.log1p.to(device))


def _on_features(t: Tensor, values: Tensor, feature_dim: int) -> Tensor:
    """A per-feature ``[F]`` tensor laid on ``values``' feature axis, or a per-element ``[..., F]`` one with the
    axes after the feature axis added."""
    t = t.to(values.device)
    if t.dim() == 1:
        shape = [1] * values.dim()
        shape[feature_dim] = -1
        return t.view(shape)
    return t.reshape(*t.shape, *([1] * (-1 - feature_dim)))
