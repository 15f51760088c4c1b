"""A³DRO: availability-aware, anchored, distributionally robust aggregation of task losses.

Each task's loss is compared with its own baseline ``b_i`` in log space, so raw scales cancel (a task whose loss is
10⁵ times larger gets no more gradient for it), and the tasks doing worst relative to their baselines get more
weight, up to a cap. Over the *active* tasks A (valid target in the batch, finite and non-negative loss)::

    ℓ_i  = log(L_i + ε)
    r_i  = ℓ_i - log(b_i + ε)                    anchored task (baseline fixed)
    r_i  = ℓ_i - stopgrad(ℓ_i)                   not yet anchored: value 0, gradient that of ℓ_i
    r̃_i  = c tanh(r_i / c)   in value,  d r̃_i / d r_i = 1   (soft clip to ±c; the gradient does not die at it)
    p̃_i  = p_i / sum_{j∈A} p_j                  availability-gated priors (0 outside A)
    q    = softmax(log p̃ + r̃ / λ)               DRO weights
    total = (1 - β) λ log sum_{i∈A} p̃_i exp(r̃_i / λ) + β sum_{i∈A} p̃_i r̃_i
    w_i  = (1 - β) q_i + β p̃_i                  = d total / d r̃_i = d total / d ℓ_i   (reported weights)

The first term is ``max_q sum q_i r̃_i - λ KL(q || p̃)`` (its gradient is exactly ``q``, Danskin), so the weights
reported are exactly the weights the gradient sees and no hidden term can turn into gradient ascent on a task
doing well. In terms of the raw losses, ``d total / d L_i = w_i / (L_i + ε)``: every task's gradient is its
relative gradient ``∇L_i / L_i``, weighted by ``w_i``. Guarantees (each tested): ``w_i >= 0``,
``sum w_i = 1`` (when any task is active), ``max w_i <= (1 - β) + β max p̃``, ``w_i = 0`` for a task without
valid target (e.g. dropped by ``[weighting] min_availability``), a non-finite (or negative) loss is excluded from
the total and the graph, counted in ``excluded_steps`` and warned about, and never enters a baseline; no task
active gives an exact 0 that can be back-propagated; once anchored, the total is invariant to rescaling any
task's loss (up to ``ε``).

Baselines: ``end_epoch`` receives each task's mean finite training loss of the epoch. Over the first
``warmup_epochs`` epochs they are averaged; at the end of warm-up each task seen is anchored at that mean. A task
first seen later is anchored at the end of its first epoch with a finite loss; until then it is trained with
regret 0 (neutral in the DRO weights). Everything lives in buffers, so ``state_dict`` round-trips it.

:meth:`A3DRO.anchored_score` is the mean clipped regret ``c tanh(r_i / c)`` of validation losses over anchored
tasks: comparable across epochs and tasks, for early stopping (lower is better).

Losses enter a logarithm, so a3dro needs non-negative task losses (with ``gaussian-nll``: ``full = true`` and
``min_log_var = -1.8``). The exclusion of non-finite or negative losses costs one host synchronisation per call.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping

import attrs
import torch
from torch import Tensor

from mrframe.config import field
from mrframe.interfaces import StepContext, Weighted, Weighting
from mrframe.observed import TaskLoss
from mrframe_objectives.tasks import empty_total, report, stack_losses, task_positions

__all__ = ["A3DRO"]


def _positive_priors(priors: dict[str, float]) -> str | None:
    bad = [task for task, p in priors.items() if not p > 0]
    return f"priors must be > 0, got {', '.join(f'{t} = {priors[t]}' for t in bad)}" if bad else None


@attrs.frozen
class A3DROConfig:
    warmup_epochs: int = field(1, "epochs whose mean task losses become the baselines", min=1)
    temperature: float = field(1.0, "λ: DRO temperature (small: close to the worst task; large: close to p̃)", min=1e-6)
    budget_beta: float = field(0.35, "β: share of the weight that stays on the gated prior p̃", min=0.0, max=1.0)
    clip: float = field(3.0, "c: regrets are softly clipped to ±c (log scale: 3 = 20× the baseline)", min=1e-6)
    eps: float = field(1e-8, "ε in log(L + ε)", min=0.0)
    priors: dict[str, float] = field(factory=dict, doc="prior weight p_i per task (default 1)", check=_positive_priors)


class A3DRO(Weighting):
    """Availability-aware anchored DRO: capped robust weights on log-regrets against per-task baselines.

    Formulas, guarantees and the baseline schedule: docs/objectives.md (and this module's docstring).
    """

    Config = A3DROConfig
    weight_space = "log_loss"

    def __init__(self, config: A3DROConfig, tasks: tuple[str, ...]):
        super().__init__(config, tasks)
        self.log_eps = config.eps
        unknown = sorted(set(config.priors) - set(self.tasks))
        if unknown:
            raise ValueError(f"a3dro: priors name unknown task(s) {', '.join(unknown)}; tasks are {', '.join(self.tasks)}")
        n = len(self.tasks)
        self.register_buffer(
            "priors", torch.tensor([float(config.priors.get(t, 1.0)) for t in self.tasks], dtype=torch.float64)
        )
        self.register_buffer("baselines", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("anchored", torch.zeros(n, dtype=torch.bool))
        self.register_buffer("warmup_sum", torch.zeros(n, dtype=torch.float64))
        self.register_buffer("warmup_epochs_seen", torch.zeros(n, dtype=torch.long))
        self.register_buffer("excluded_steps", torch.zeros(n, dtype=torch.long))
        self.excluded: tuple[str, ...] = ()
        """Tasks excluded by the last :meth:`combine` for a non-finite or negative loss."""

    # ------------------------------------------------------------------------------------------- combine

    def clipped(self, regret: Tensor) -> Tensor:
        """``c tanh(r / c)``: the soft clip of a regret (value only)."""
        return self.config.clip * torch.tanh(regret / self.config.clip)

    def combine(self, losses: Mapping[str, TaskLoss], context: StepContext) -> Weighted:
        if not losses:
            return Weighted(empty_total(self.baselines.float()), {})
        positions = task_positions(self.tasks, losses, "a3dro")
        names = tuple(losses)
        values, valid = stack_losses(losses)
        usable = torch.isfinite(values) & (values >= 0)
        valid_list, usable_list = torch.stack([valid, usable]).tolist()  # the one host sync
        self._note_excluded(names, positions, valid_list, usable_list, context)
        active = [k for k in range(len(names)) if valid_list[k] and usable_list[k]]
        if not active:
            # keep a gradient path to every finite loss (all-zero gradients), none to a non-finite one
            kept = [losses[names[k]].value for k in range(len(names)) if usable_list[k]]
            total = sum((torch.where(torch.zeros_like(v, dtype=torch.bool), v, 0.0) for v in kept), empty_total(values))
            return report(total, names, torch.zeros_like(values))
        active_values = torch.stack([losses[names[k]].value for k in active])  # excluded ones stay out of the graph
        total, weights = self._dro(active_values, [positions[k] for k in active])
        full = torch.zeros(len(names), dtype=weights.dtype, device=weights.device)
        full[active] = weights
        return report(total, names, full)

    def _dro(self, values: Tensor, positions: list[int]) -> tuple[Tensor, Tensor]:
        config = self.config
        log_loss = torch.log(values + config.eps)
        anchored = self.anchored[positions]
        anchor = torch.where(anchored, torch.log(self.baselines[positions] + config.eps).to(values.dtype), log_loss.detach())
        regret = log_loss - anchor
        clipped = regret + (self.clipped(regret) - regret).detach()
        prior = self.priors[positions].to(values.dtype)
        prior = prior / prior.sum()
        logits = prior.log() + clipped / config.temperature
        # λ log sum p̃ exp(r̃/λ), minus its value at r̃ = 0 (0 up to rounding) so that zero regrets give exactly 0
        robust = config.temperature * (torch.logsumexp(logits, dim=0) - torch.logsumexp(prior.log(), dim=0))
        total = (1.0 - config.budget_beta) * robust + config.budget_beta * (prior * clipped).sum()
        weights = (1.0 - config.budget_beta) * torch.softmax(logits, dim=0) + config.budget_beta * prior
        return total, weights.detach()

    def _note_excluded(
        self, names: tuple[str, ...], positions: list[int], valid: list[bool], usable: list[bool], context: StepContext
    ) -> None:
        excluded = [k for k in range(len(names)) if valid[k] and not usable[k]]
        self.excluded = tuple(names[k] for k in excluded)
        for k in excluded:
            if context.training:
                self.excluded_steps[positions[k]] += 1
            warnings.warn(
                f"a3dro: task '{names[k]}' had a non-finite or negative loss and was left out of the total "
                "(a3dro needs losses >= 0; counted in excluded_steps)",
                RuntimeWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------------------------------- epochs

    def end_epoch(self, epoch: int, train_losses: Mapping[str, float]) -> None:
        """Average the warm-up epochs' mean losses; anchor every task seen at the end of warm-up, and a task first
        seen later at the end of its first epoch with a finite loss. Non-finite or negative means are ignored."""
        seen = {t: float(v) for t, v in train_losses.items() if t in self.tasks and math.isfinite(v) and v >= 0}
        for task, value in seen.items():
            k = self.tasks.index(task)
            if not self.anchored[k]:
                self.warmup_sum[k] += value
                self.warmup_epochs_seen[k] += 1
        if epoch + 1 >= self.config.warmup_epochs:
            ready = (~self.anchored) & (self.warmup_epochs_seen > 0)
            self.baselines[ready] = self.warmup_sum[ready] / self.warmup_epochs_seen[ready].double()
            self.anchored |= ready

    def in_warmup(self, epoch: int) -> bool:
        """The first ``warmup_epochs`` epochs: every regret is 0 before the baselines are set, so their
        validation total (0) must not compete with later, anchored epochs for the best epoch."""
        return epoch < self.config.warmup_epochs

    def anchored_score(self, losses: Mapping[str, float]) -> float | None:
        """Mean clipped regret ``c tanh(r_i / c)`` over anchored tasks with a finite, non-negative loss (None if
        there is none); lower is better."""
        regrets = []
        for task, value in losses.items():
            if task in self.tasks and math.isfinite(value) and value >= 0 and self.anchored[self.tasks.index(task)]:
                baseline = float(self.baselines[self.tasks.index(task)])
                regrets.append(math.log(value + self.config.eps) - math.log(baseline + self.config.eps))
        if not regrets:
            return None
        return float(self.clipped(torch.tensor(regrets, dtype=torch.float64)).mean())
