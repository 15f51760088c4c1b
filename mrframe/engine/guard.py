"""The non-finite guard: what happens when a step's loss or gradient norm is not finite.

Every step, the loss and the total gradient norm come back to the host together with the step's other
numbers (one synchronisation, :mod:`mrframe.engine.step`); a non-finite step is never applied. A finite loss
whose gradient norm overflows counts as non-finite too (clipping cannot rescale an infinite norm). A
non-finite validation loss is located and reported the same way, sample by sample (:func:`validation_failure`). Before each
step the guard keeps the RNG state (and, for ``skip``, the modules' buffers) so that on the **first** failure it
can replay the step's micro-batches exactly as they ran, locate the first module and op that produced a
non-finite value (:mod:`mrframe.engine.locate`) and write a report (:mod:`mrframe.engine.report`). Then the
spec's policy (``train.nonfinite``) applies:

* ``raise``: stop the run with the report's paragraph as the error;
* ``skip``: drop the step (buffers restored) and go on; stop after ``max_skips`` failures in a row, or at once
  when the parameters themselves are non-finite (no later step could be finite);
* ``rollback``: restore the last good state (the network, optimizer and scaler as of the last checkpoint) and
  multiply the learning rate by ``rollback_lr_factor``; stop after ``max_rollbacks`` rollbacks. Training goes
  on with the next batch: the failing batch and those since the last good state are not seen again this epoch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import torch

from mrframe.data.dataset import Batch, BatchLoader, WindowDataset
from mrframe.engine.checkpoint import capture_rng, detached_copy, restore_rng
from mrframe.engine.compile import eagerly
from mrframe.engine.config import TrainConfig
from mrframe.engine.device import Precision, to_float32
from mrframe.engine.locate import Replay, failing_rows, nonfinite_kind, replay, select_rows
from mrframe.engine.network import Network
from mrframe.errors import EXIT_NONFINITE, MrframeError
from mrframe.interfaces import StepContext


class NonFiniteError(MrframeError):
    """Training produced a non-finite loss or gradient and the guard's policy says stop (exit status 3)."""

    exit_status = EXIT_NONFINITE


@attrs.frozen(eq=False)
class StepToken:
    """What the guard keeps from before a step: the RNG states and (``skip`` only) the buffers."""

    rng: dict[str, Any] | None
    buffers: list[torch.Tensor] | None


@attrs.frozen
class Located:
    """The replay of a failed step: which micro-batch failed (index in the step), what was found, and the
    rows of that micro-batch that fail (forward: rows with non-finite output; else: rows failing alone)."""

    micro_batch: int | None
    replay: Replay | None
    rows: tuple[int, ...] = ()


@attrs.frozen(eq=False)
class ValidationFailure:
    """The first validation batch with a non-finite task loss: its number (1-based), the rows that fail alone,
    and the replay of the first of them."""

    batch: Batch
    number: int
    rows: tuple[int, ...]
    replay: Replay | None


def validation_failure(
    network: Network, dataset: WindowDataset, batch_size: int, precision: Precision, context: StepContext
) -> ValidationFailure | None:
    """Find where a non-finite validation loss comes from: batch by batch (eval mode, no gradient), then each
    sample of the first failing batch alone; the first failing sample is replayed to name the module and op."""
    device = next(network.parameters()).device
    was_training = network.training
    network.eval()
    try:
        for number, batch in enumerate(BatchLoader(dataset, batch_size), start=1):
            batch = batch.to(device)
            if _losses_finite(network, batch, precision):
                continue
            rows = tuple(r for r in range(len(batch))
                         if not _losses_finite(network, select_rows(batch, [r]), precision))
            first = select_rows(batch, rows[:1]) if rows else batch
            return ValidationFailure(batch, number, rows, replay(network, first, context, precision))
        return None
    finally:
        network.train(was_training)


def _losses_finite(network: Network, batch: Batch, precision: Precision) -> bool:
    with torch.no_grad():
        with precision.autocast():
            predictions = network(batch.inputs, batch.calendar)
        losses = network.task_losses(to_float32(predictions), batch)
    return nonfinite_kind([loss.value for loss in losses.values()]) is None


class Guard:
    """Applies ``train.nonfinite`` and keeps its counters (saved in checkpoints)."""

    def __init__(self, config: TrainConfig, enabled: bool = True):
        self.policy = config.nonfinite
        self.max_skips = config.max_skips
        self.max_rollbacks = config.max_rollbacks
        self.rollback_lr_factor = config.rollback_lr_factor
        self.enabled = enabled
        self.failures = 0
        self.skips_in_a_row = 0
        self.rollbacks = 0
        self.good_state: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------ around each step

    def before_step(self, network: Network) -> StepToken:
        if not self.enabled:
            return StepToken(None, None)
        buffers = [b.detach().clone() for b in network.buffers()] if self.policy == "skip" else None
        return StepToken(capture_rng(), buffers)

    def succeeded(self) -> None:
        self.skips_in_a_row = 0

    def locate(
        self,
        network: Network,
        batches: Sequence[Batch],
        context: StepContext,
        token: StepToken,
        precision: Precision,
    ) -> Located:
        """Replay the step's micro-batches from the RNG state it started with; the first micro-batch whose
        loss, gradients or gradient norm are non-finite is the one reported, with its failing rows (when every
        one is finite, the first micro-batch's replay is kept for its largest gradients). The RNG continues as
        if nothing was replayed. Compiled blocks run eagerly here (:func:`mrframe.engine.compile.eagerly`)."""
        if token.rng is None:
            return Located(None, None)
        after = capture_rng()
        restore_rng(token.rng)
        first = None
        try:
            with eagerly(network.model):
                for index, batch in enumerate(batches):
                    result = replay(network, batch, context, precision)
                    first = first or result
                    if not result.finite:
                        rows = result.culprit.rows if result.culprit is not None else ()
                        return Located(index, result, rows or failing_rows(network, batch, context, precision))
                return Located(None, first)
        finally:
            restore_rng(after)

    # ------------------------------------------------------------------------------------ the policies

    def remember(self, state: Mapping[str, Any]) -> None:
        """Keep ``state`` (network, optimizer and scaler state dicts) as the last good state for rollback."""
        if self.policy == "rollback":
            self.good_state = detached_copy(dict(state))

    def decide(self, message: str, bad_parameters: Sequence[str] = ()) -> str:
        """Count the failure and say what the policy does: ``skip`` or ``rollback``; raises for ``raise``, when
        a limit is reached, and for ``skip`` once parameters are non-finite (no later step can be finite)."""
        self.failures += 1
        if self.policy == "raise":
            raise NonFiniteError(message)
        if self.policy == "skip" and bad_parameters:
            raise NonFiniteError(f"{message} Stopping: the parameters themselves are non-finite ("
                                 f"{', '.join(bad_parameters)}), so every later step would fail too and skipping "
                                 "cannot recover; train.nonfinite = \"rollback\" returns to the last good state.")
        if self.policy == "skip":
            self.skips_in_a_row += 1
            if self.skips_in_a_row > self.max_skips:
                raise NonFiniteError(f"{message} Stopping: {self.skips_in_a_row} non-finite steps in a row "
                                     f"(train.max_skips = {self.max_skips}).")
            return "skip"
        self.rollbacks += 1
        if self.rollbacks > self.max_rollbacks:
            raise NonFiniteError(f"{message} Stopping: rollback {self.rollbacks} exceeds train.max_rollbacks = "
                                 f"{self.max_rollbacks}.")
        if self.good_state is None:
            raise NonFiniteError(f"{message} Stopping: no good state to roll back to.")
        return "rollback"

    def restore_buffers(self, network: Network, token: StepToken) -> None:
        """``skip``: undo what the failed step's forward passes wrote into buffers (running statistics...)."""
        if token.buffers is None:
            return
        with torch.no_grad():
            for buffer, saved in zip(network.buffers(), token.buffers, strict=True):
                buffer.copy_(saved)

    def state_dict(self) -> dict[str, int]:
        return {"failures": self.failures, "skips_in_a_row": self.skips_in_a_row, "rollbacks": self.rollbacks}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.failures = int(state["failures"])
        self.skips_in_a_row = int(state["skips_in_a_row"])
        self.rollbacks = int(state["rollbacks"])
