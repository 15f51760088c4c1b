"""``classification``: class probabilities of a label source's values (e.g. 4 intensity regimes).

::

    z       = Readout(state)                       [B, hidden]   (module mrframe_han.readout)
    logits  = W z + b                              -> [B, span, F, C]    (C = classes)
                                                   -> [B, span, F]       (binary_logit: one logit, target 0/1)

The target holds class ids ``0..C-1`` in the source's own units (``units = "raw"``). Prediction kind: ``classes``,
or ``binary`` with ``binary_logit``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs
from torch import Tensor, nn

from mrframe.config import field
from mrframe.interfaces import Head, ModelInfo, TargetInfo
from mrframe.observed import State
from mrframe_han.readout import Readout, ReadoutConfig


@attrs.frozen
class ClassificationConfig(ReadoutConfig):
    classes: int = field(4, "number of classes (target values are class ids 0..classes-1)", min=2)
    binary_logit: bool = field(False, "with classes = 2: one logit per value ([B, span, F]) instead of two")

    def problems(self) -> Iterator[tuple[str, str]]:
        if self.binary_logit and self.classes != 2:
            yield "binary_logit", f"needs classes = 2, got classes = {self.classes}"


class Classification(Head):
    """Multi-class (or binary) logits per target value."""

    Config = ClassificationConfig
    target_units = ("raw",)

    @classmethod
    def kind_for(cls, config: ClassificationConfig) -> str:
        return "binary" if config.binary_logit else "classes"

    def __init__(self, config: ClassificationConfig, model: ModelInfo, target: TargetInfo):
        super().__init__(config, model, target)
        self.readout = Readout(model, target, config)
        self.per_value = 1 if config.binary_logit else config.classes
        self.logits = nn.Linear(config.hidden, target.span * target.n_features * self.per_value)

    def forward(self, state: State) -> Mapping[str, Tensor]:
        z = self.readout(state)
        shape = (z.shape[0], self.target.span, self.target.n_features)
        logits = self.logits(z)
        return {"logits": logits.view(shape) if self.config.binary_logit else logits.view(*shape, self.per_value)}
