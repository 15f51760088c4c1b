"""The value types that cross the data/model boundary and the model's internal stages.

``Observed``  data with a feature-level mask; the only way missing data reaches a model.
``Stream``    an encoder's output: hidden states and which timesteps had any observation.
``RegionalStream``  a spatial encoder's per-region states (beside its national ``Stream``).
``Calendar``  dates of a batch's windows, including where each month lies inside the daily window.
``State``     what fusion blocks transform and heads read.
``TaskLoss``  a loss value with the number of valid target elements behind it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

__all__ = ["Observed", "Stream", "RegionalStream", "Calendar", "State", "TaskLoss"]


class Observed:
    """Values ``[B, T, F]`` with a feature-level boolean mask of the same shape; a spatial source's values
    ``[B, T, R, F]`` (a region axis, in the order of its :class:`~mrframe.regions.Regions`) with a mask per
    region and feature.

    Invariants (established by :meth:`build`, the only constructor):

    * ``values`` is floating point and finite everywhere;
    * ``values == 0`` exactly where ``mask`` is False;
    * ``mask`` is False wherever the raw value was NaN, +-inf or one of the given sentinels.

    A timestep mask (:attr:`present`: anything observed at a step; :attr:`region_present` per region) may be
    derived for attention padding; it must never be broadcast back over features. Code that cannot trust that nobody edited ``values`` after construction reads
    :meth:`masked_values`, which re-applies the mask.
    """

    __slots__ = ("values", "mask")
    values: Tensor
    mask: Tensor

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("Observed is built with Observed.build(values, mask=None, sentinels=()), which zeroes missing places")

    @classmethod
    def build(
        cls,
        values: Tensor | np.ndarray,
        mask: Tensor | np.ndarray | None = None,
        *,
        sentinels: Iterable[float] = (),
        dtype: torch.dtype | None = None,
    ) -> Observed:
        """Build from raw ``values`` ``[B, T, F]`` or ``[B, T, R, F]``: a place is observed iff it is finite, not
        a sentinel and, when ``mask`` is given, ``mask`` is True there. Unobserved places become exactly 0."""
        values = torch.as_tensor(values)
        if dtype is not None:
            values = values.to(dtype)
        elif not values.is_floating_point():
            values = values.to(torch.get_default_dtype())
        if values.dim() not in (3, 4):
            raise ValueError("Observed values must be [batch, time, features] or [batch, time, regions, features], "
                             f"got shape {tuple(values.shape)}")
        observed = torch.isfinite(values)
        for sentinel in sentinels:
            observed &= values != sentinel
        if mask is not None:
            mask = torch.as_tensor(mask, device=values.device)
            if mask.shape != values.shape:
                raise ValueError(f"Observed mask shape {tuple(mask.shape)} differs from values {tuple(values.shape)}")
            observed &= mask.to(torch.bool)
        zeros = torch.zeros((), dtype=values.dtype, device=values.device)
        return cls._trusted(torch.where(observed, values, zeros), observed)

    @classmethod
    def _trusted(cls, values: Tensor, mask: Tensor) -> Observed:
        obj = object.__new__(cls)
        object.__setattr__(obj, "values", values)
        object.__setattr__(obj, "mask", mask)
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Observed is immutable; build a new one with Observed.build")

    @property
    def shape(self) -> torch.Size:
        return self.values.shape

    @property
    def spatial(self) -> bool:
        """True for a spatial source's values ``[B, T, R, F]``."""
        return self.values.dim() == 4

    @property
    def present(self) -> Tensor:
        """``[B, T]``: True where at least one feature (of any region) is observed (for attention padding only)."""
        return self.mask.flatten(2).any(dim=-1)

    @property
    def region_present(self) -> Tensor:
        """``[B, T, R]`` of spatial values: True where at least one feature of the region is observed."""
        if not self.spatial:
            raise ValueError("region_present needs spatial values [batch, time, regions, features]")
        return self.mask.any(dim=-1)

    def per_region(self) -> Observed:
        """Spatial values as one series per (sample, region): ``[B * R, T, F]``, row ``b * R + r`` (a copy).

        A block shared across regions (a per-region temporal encoder) runs on this and reshapes its output back
        with ``.view(B, R, ...)``; values and mask move together, so every invariant carries over."""
        if not self.spatial:
            raise ValueError("per_region needs spatial values [batch, time, regions, features]")
        batch, steps, regions, features = self.values.shape

        def fold(t: Tensor) -> Tensor:
            return t.permute(0, 2, 1, 3).reshape(batch * regions, steps, features)

        return Observed._trusted(fold(self.values), fold(self.mask))

    def masked_values(self) -> Tensor:
        """``values`` with the mask re-applied: exactly 0 at unobserved places whatever was written there."""
        return torch.where(self.mask, self.values, torch.zeros((), dtype=self.values.dtype, device=self.values.device))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Observed:
        """Move to ``device`` / cast to a floating ``dtype`` (casting can overflow: re-derive the mask)."""
        values = self.values.to(device=device)
        mask = self.mask.to(device=device)
        if dtype is not None and dtype != values.dtype:
            return Observed.build(values.to(dtype), mask)
        return Observed._trusted(values, mask)

    def __getitem__(self, index: Any) -> Observed:
        """Select samples (first axis) or ``[samples, steps]``; features are never split from their mask."""
        values, mask = self.values[index], self.mask[index]
        if values.dim() != self.values.dim():
            raise IndexError("indexing an Observed must keep its [batch, time, (regions,) features] layout")
        return Observed._trusted(values, mask)

    def __repr__(self) -> str:
        fraction = float(self.mask.float().mean()) if self.mask.numel() else 0.0
        return f"Observed(shape={tuple(self.values.shape)}, observed={fraction:.1%}, dtype={self.values.dtype})"


def _built_eagerly(cls: type) -> type:
    """Build ``cls`` outside compiled graphs: torch.compile (dynamo, torch 2.13) cannot trace the ``__init__``
    of an attrs frozen class, so a compiled block ends its graph where it builds its result (a few microseconds
    more per construction when nothing is compiled)."""
    cls.__init__ = torch.compiler.disable(cls.__init__)
    return cls


@_built_eagerly
@attrs.frozen(eq=False)
class RegionalStream:
    """A spatial encoder's per-region states: ``hidden [B, S, R, D]``, ``present [B, S, R]`` and ``ends [S]``.

    State ``s`` has seen the source's inputs up to window step ``ends[s]`` (an integer tensor, strictly
    increasing; the last state ends on the window's last step) and depends on no later input: a block at day
    ``t`` may read states with ``ends[s] <= t``. ``S`` is the encoder's own step count (e.g. one state per
    7-day patch, or only the last one): a per-region state at every day of a long window is rarely affordable.
    ``present[b, s, r]`` is True where region ``r`` had an observation in the steps state ``s`` added
    (``ends[s - 1] < step <= ends[s]``); ``hidden`` is defined and finite everywhere (learned no-observation
    tokens). Regions are in the order of the source's :class:`~mrframe.regions.Regions`.
    """

    hidden: Tensor
    present: Tensor
    ends: Tensor

    def __attrs_post_init__(self) -> None:
        if (self.hidden.dim() != 4 or self.present.shape != self.hidden.shape[:3]
                or self.ends.shape != self.hidden.shape[1:2]):
            raise ValueError(
                f"RegionalStream needs hidden [B, S, R, D], present [B, S, R] and ends [S], got "
                f"{tuple(self.hidden.shape)}, {tuple(self.present.shape)} and {tuple(self.ends.shape)}"
            )
        if self.present.dtype != torch.bool or self.ends.is_floating_point():
            raise ValueError("RegionalStream.present must be a bool tensor and ends an integer one")

    @property
    def last(self) -> Tensor:
        """``[B, R, D]``: each region's state at the window's last step."""
        return self.hidden[:, -1]


@_built_eagerly
@attrs.frozen(eq=False)
class Stream:
    """An encoded sequence: ``hidden [B, T, D]`` and ``present [B, T]`` (True where anything was observed).

    ``hidden`` is defined and finite everywhere, also where nothing was observed (encoders put a learned
    no-observation token there), so downstream blocks never attend over nothing. An encoder of a spatial
    source returns its national stream (pooled over regions) here and its per-region states in ``regional``.
    """

    hidden: Tensor
    present: Tensor
    regional: RegionalStream | None = None

    def __attrs_post_init__(self) -> None:
        if self.hidden.dim() != 3 or self.present.shape != self.hidden.shape[:2]:
            raise ValueError(
                f"Stream needs hidden [B, T, D] and present [B, T], got {tuple(self.hidden.shape)} "
                f"and {tuple(self.present.shape)}"
            )
        if self.present.dtype != torch.bool:
            raise ValueError("Stream.present must be a bool tensor")

    @property
    def width(self) -> int:
        return int(self.hidden.shape[-1])


@attrs.frozen(eq=False)
class Calendar:
    """The dates of a batch's windows (``T`` days, ``M`` months), all as integer tensors.

    ``month_slot[b, t]`` is the index in the monthly window of the month that contains day ``t``: negative for
    months older than the window, ``M`` for the anchor's own month (which has not ended, so it is never in the
    monthly window). Monthly slot ``m`` has ended before day ``t`` iff ``m < month_slot[b, t]``.
    """

    weekday: Tensor  # [B, T] 0 = Monday
    month_of_year: Tensor  # [B, T] 0 = January
    month_slot: Tensor  # [B, T]
    monthly_month_of_year: Tensor  # [B, M] 0 = January
    anchor_day: Tensor  # [B] days since 1970-01-01 of each sample's anchor (the last day of its daily window)

    def months_visible(self) -> Tensor:
        """``[B, T, M]`` bool: month slot ``m`` had ended before day ``t`` (a causal daily->monthly mask)."""
        months = torch.arange(self.monthly_month_of_year.shape[1], device=self.month_slot.device)
        return months.view(1, 1, -1) < self.month_slot.unsqueeze(-1)

    def days_of_month(self) -> Tensor:
        """``[B, M, T]`` bool: day ``t`` lies inside month slot ``m``."""
        months = torch.arange(self.monthly_month_of_year.shape[1], device=self.month_slot.device)
        return self.month_slot.unsqueeze(1) == months.view(1, -1, 1)

    def to(self, device: torch.device | str) -> Calendar:
        return Calendar(**{f.name: getattr(self, f.name).to(device) for f in attrs.fields(Calendar)})


@_built_eagerly
@attrs.frozen(eq=False)
class State:
    """What fusion blocks transform (``forward(State) -> State``) and heads read.

    ``daily`` / ``monthly`` are the combined representation at each resolution (None when the spec has no
    source of that resolution); ``sources`` keeps every encoder's own (national) stream by source name;
    ``regional`` the per-region states of every spatial source (:class:`RegionalStream`), by source name;
    ``inputs`` the model's input windows by source name (what the encoders read: a head that uses them, e.g. for
    the sample covariance of recent values, reads them through their mask like an encoder).
    """

    daily: Stream | None
    monthly: Stream | None
    sources: Mapping[str, Stream]
    calendar: Calendar
    inputs: Mapping[str, Observed] = attrs.field(factory=dict)
    regional: Mapping[str, RegionalStream] = attrs.field(factory=dict)

    def replace(self, **changes: Any) -> State:
        return attrs.evolve(self, **changes)


@attrs.frozen(eq=False)
class TaskLoss:
    """A task's loss: ``value`` (0-dim tensor), ``count`` valid target elements (0-dim tensor, no host sync)
    and ``size`` target elements in the batch. With ``count == 0`` the value is an exact 0 that still has a
    gradient path to the prediction."""

    value: Tensor
    count: Tensor
    size: int

    @property
    def availability(self) -> Tensor:
        """Fraction of the batch's target elements that were observed."""
        return self.count.to(self.value.dtype) / max(self.size, 1)

    @staticmethod
    def none_valid(prediction: Tensor, size: int) -> TaskLoss:
        """The loss for a batch without any valid target: exactly 0, differentiable, NaN-proof."""
        zero = torch.where(torch.zeros_like(prediction, dtype=torch.bool), prediction, 0.0).sum()
        return TaskLoss(zero, torch.zeros((), dtype=torch.long, device=prediction.device), size)
