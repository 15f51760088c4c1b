"""Masked reductions shared by the losses (the core's :mod:`mrframe.masking`, re-exported here) and the checks of
what reaches a loss.

Their two rules (sanitise before a nonlinearity, select before summing) are stated in :mod:`mrframe.masking`.

It also holds the checks of what reaches a loss: the prediction's keys (:func:`require_key`), the observed target
values (:func:`check_targets`) and, for losses of class ids and counts, the target's units (:class:`RawTargetLoss`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from torch import Tensor

from mrframe.interfaces import Loss, TargetInfo
from mrframe.masking import masked_mean, masked_weighted_mean, observed_or

__all__ = ["observed_or", "masked_mean", "masked_weighted_mean", "require_key", "check_targets", "RawTargetLoss"]


def require_key(prediction: Any, keys: tuple[str, ...], loss: str) -> Mapping[str, Tensor]:
    """``prediction`` as a mapping holding ``keys``; otherwise an error naming the prediction convention."""
    if not isinstance(prediction, Mapping) or any(k not in prediction for k in keys):
        got = sorted(prediction) if isinstance(prediction, Mapping) else f"a {type(prediction).__name__}"
        wanted = ", ".join(repr(k) for k in keys)
        raise ValueError(
            f"{loss}: the head must predict a dict with {wanted} (see mrframe.interfaces.Head); got {got}"
        )
    return prediction


def check_targets(
    values: Tensor, mask: Tensor, loss: str, *, integer: bool, low: float = 0.0, high: float | None = None
) -> None:
    """Raise a ValueError when an observed target is not in ``[low, high)`` (or not an integer, if asked).

    Costs one host synchronisation; losses call it only while their ``check_targets`` option is on.
    """
    ok = values >= low
    if high is not None:
        ok &= values < high
    if integer:
        ok &= values == values.round()
    bad = mask & ~ok
    if bool(bad.any()):
        example = float(values[bad][0])
        kind = "integers" if integer else "values"
        span = f"[{low:g}, {high:g})" if high is not None else f">= {low:g}"
        raise ValueError(
            f"{loss}: observed targets must be {kind} in {span}, got {example:g} at {int(bad.sum())} place(s); "
            "class ids and counts need target units = \"raw\" (set check_targets = false to skip this check)"
        )


class RawTargetLoss(Loss):
    """A loss whose targets must keep the source's units (class ids, counts): it refuses a normalised target when
    built, unless its config turns ``check_targets`` off. Subclasses name themselves and what they need."""

    loss_name: ClassVar[str]
    needs: ClassVar[str]

    @classmethod
    def target_problems(cls, config: Any, target: Any) -> Iterable[str]:
        if config.check_targets and target.units != "raw":
            yield (f"needs {cls.needs}, so the target must keep the source's units: set units = \"raw\" (or "
                   "check_targets = false to skip this check)")

    def __init__(self, config: Any, target: TargetInfo):
        super().__init__(config, target)
        if config.check_targets and target.units != "raw":
            raise ValueError(
                f"{self.loss_name}: task '{target.task}' needs {self.needs}, so its target must keep the source's "
                f"units: set heads.{target.task}.target.units = \"raw\" (or check_targets = false to skip this check)"
            )
