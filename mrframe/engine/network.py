"""Everything a run trains, as one module: the assembled model, the task losses and the weighting policy.

Keeping them in one :class:`Network` gives one state to checkpoint and one set of parameters to optimise.
:class:`Objective` runs the whole training objective (model, losses, weighting) as one ``forward``: that is
the module DistributedDataParallel wraps, so every parameter that reaches the loss, policy parameters such as
learned log-variances included, is averaged across processes like the model's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from mrframe import kinds
from mrframe.data.dataset import Batch
from mrframe.data.pipeline import PreparedData
from mrframe.engine.checkpoint import check_state_dict, seed_everything
from mrframe.engine.device import Precision, to_float32
from mrframe.errors import SpecError
from mrframe.gating import gate_by_availability
from mrframe.interfaces import StepContext, Weighted, Weighting
from mrframe.model import AssembledModel
from mrframe.observed import TaskLoss
from mrframe.spec import Spec


class Network(nn.Module):
    """``forward(inputs, calendar)`` is the model's; ``losses`` and ``weighting`` are applied by the step."""

    def __init__(self, model: AssembledModel, losses: nn.ModuleDict, weighting: Weighting, min_availability: float = 0.0):
        super().__init__()
        self.model = model
        self.losses = losses
        self.weighting = weighting
        self.min_availability = min_availability

    def forward(self, inputs: Mapping[str, Any], calendar: Any) -> dict[str, Any]:
        return self.model(inputs, calendar)

    def task_losses(self, predictions: Mapping[str, Any], batch: Batch) -> dict[str, TaskLoss]:
        """Each task's loss on the batch, availability-gated as the spec's ``[weighting] min_availability``
        asks (:mod:`mrframe.gating`)."""
        losses = {
            task: loss(predictions[task], batch.targets[task].values, batch.targets[task].mask)
            for task, loss in self.losses.items()
        }
        return gate_by_availability(losses, self.min_availability)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.losses)

    def trained_state(self) -> dict[str, Any]:
        """The state dicts of everything trained: ``model``, ``losses``, ``weighting``."""
        return {"model": self.model.state_dict(), "losses": self.losses.state_dict(),
                "weighting": self.weighting.state_dict()}

    def load_trained(self, state: Mapping[str, Any], source: str) -> None:
        """Load :meth:`trained_state` (e.g. from a checkpoint); a missing, extra or misshapen tensor is an
        error naming ``source`` and the first such tensor (:func:`check_state_dict`)."""
        for name, module in (("model", self.model), ("losses", self.losses), ("weighting", self.weighting)):
            check_state_dict(module.state_dict(), state[name], source, name)
        for name, module in (("model", self.model), ("losses", self.losses), ("weighting", self.weighting)):
            module.load_state_dict(state[name])

    def shared_parameters(self) -> list[nn.Parameter]:
        """The model's trainable parameters (what gradient-surgery policies operate on)."""
        return [p for p in self.model.parameters() if p.requires_grad]


class Objective(nn.Module):
    """``forward(batch, context, combine=True) -> (total, losses)``: the model's forward under the run's
    autocast, the availability-gated task losses in fp32 and, with ``combine``, the weighting policy's result
    (``total`` is ``result.total``; None without ``combine``, for policies that run their own backward)."""

    def __init__(self, network: Network, precision: Precision):
        super().__init__()
        self.network = network
        self.precision = precision

    def forward(
        self, batch: Batch, context: StepContext, combine: bool = True
    ) -> tuple[Tensor | None, dict[str, TaskLoss], Weighted | None]:
        with self.precision.autocast():
            predictions = self.network(batch.inputs, batch.calendar)
        losses = self.network.task_losses(to_float32(predictions), batch)
        result = self.network.weighting.combine(losses, context) if combine else None
        return (result.total if result is not None else None), losses, result


def build_network(spec: Spec, data: PreparedData, device: torch.device) -> Network:
    """The model, losses and weighting policy the spec describes, initialised from ``run.seed`` (which seeds
    every generator: :func:`seed_everything`); a head and a loss of different prediction kinds are refused
    (:func:`mrframe.kinds.head_problems`), and so is a framed task whose kind cannot be rescaled
    (:meth:`Framing.problems`)."""
    problems = kinds.head_problems(spec)
    if problems:
        raise SpecError(problems, source=str(spec.path) if spec.path else None)
    seed_everything(spec.run.seed)
    targets = data.target_infos
    model = AssembledModel(spec, data.inputs, targets)
    problems = data.framing.problems(model.kinds)  # a framed task's kind must be able to go back
    if problems:
        raise SpecError(problems, source=str(spec.path) if spec.path else None)
    losses = nn.ModuleDict(
        {task: spec.heads[task].loss.cls(spec.heads[task].loss.config, info) for task, info in targets.items()}
    )
    policy = spec.weighting.component
    weighting = policy.cls(policy.config, tuple(targets))
    return Network(model, losses, weighting, spec.weighting.min_availability).to(device)


def parameter_groups(network: Network, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices of linear/conv layers only; none on biases, norms, embeddings,
    loss parameters and weighting-policy parameters."""
    decay, no_decay = [], []
    for owner in (network.model, network.losses, network.weighting):
        for sub in owner.modules():
            for name, param in sub.named_parameters(recurse=False):
                if not param.requires_grad:
                    continue
                exempt = (
                    owner is not network.model
                    or param.dim() < 2
                    or isinstance(sub, nn.Embedding | nn.LayerNorm)
                    or name.endswith("bias")
                )
                (no_decay if exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
