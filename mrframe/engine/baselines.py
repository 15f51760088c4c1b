"""The evaluation's baselines: the trivial forecasts a model's metric is compared with, and the majority class.

Forecast baselines (persistence, seasonal naive, moving averages) follow the rules of
:mod:`mrframe.data.baselines`, read from the sample's own history window (``Batch.history``), so they use exactly
what the model could see; anchored targets share those rules (:mod:`mrframe.data.anchoring`).

Classification: ``majority`` predicts the most frequent class of the **training** split's observed targets,
with the training class frequencies as its probabilities.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mrframe.observed import Observed

SPREAD = {"daily": 28, "monthly": 12}
"""How many last observed steps :func:`spread` of a window reads (the scale of normalised conformal scores)."""


def spread(members: Tensor) -> Tensor:
    """The standard deviation of the members ``[..., M]`` that are not NaN (NaN with fewer than two)."""
    valid = ~torch.isnan(members)
    n = valid.sum(-1)
    mean = torch.where(valid, members, 0.0).sum(-1) / n.clamp(min=1)
    variance = torch.where(valid, (members - mean.unsqueeze(-1)).square(), 0.0).sum(-1) / n.clamp(min=1)
    return torch.where(n >= 2, variance.sqrt(), torch.nan)


class MajorityClass:
    """The training split's class frequencies for one classification task."""

    def __init__(self, n_classes: int):
        self.counts = np.zeros(n_classes, dtype=np.int64)

    def add(self, target: Observed) -> None:
        values = target.values[target.mask].detach().cpu().numpy().astype(np.int64)
        values = values[(values >= 0) & (values < len(self.counts))]
        self.counts += np.bincount(values, minlength=len(self.counts))

    @property
    def prior(self) -> np.ndarray:
        total = self.counts.sum()
        return self.counts / total if total else np.full(len(self.counts), 1.0 / len(self.counts))

    @property
    def majority(self) -> int:
        return int(np.argmax(self.counts))

    def columns(self, n: int) -> dict[str, np.ndarray]:
        """The baseline's prediction columns (as :mod:`mrframe.kinds.classes` gives them) for ``n`` elements."""
        prior = self.prior
        out = {"prediction": np.full(n, float(np.argmax(prior))), "probability": np.full(n, float(prior.max()))}
        return out | {f"p{c}": np.full(n, float(p)) for c, p in enumerate(prior)}
