"""The ``[train]`` section of a spec."""

from __future__ import annotations

from typing import Literal

import attrs

from mrframe.config import field


@attrs.frozen
class TrainConfig:
    """Optimisation settings."""

    epochs: int = field(10, "passes over the training split", min=1)
    batch_size: int = field(32, "samples per batch", min=1)
    lr: float = field(1e-3, "AdamW learning rate", min=0.0)
    weight_decay: float = field(0.01, "AdamW weight decay (not applied to biases, norms, embeddings)", min=0.0)
    grad_clip: float | None = field(1.0, "clip the total gradient norm to this value (none: no clipping)", min=0.0)
    device: Literal["auto", "cpu", "cuda"] = field("auto", "where to train; auto = cuda when available")
