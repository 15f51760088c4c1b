"""Target frames: the per-sample units a head predicts in, and their exact inverse.

A task is *framed* when its target is anchored (``target.anchor``, :mod:`mrframe.data.anchoring`) or its source
is window-scaled (``data.window_scaling``, :mod:`mrframe.data.window_scaling`). Its frame is an affine map per
sample and feature, read from the sample's own observed window of the target's source (its *history*; for a spatial target, per
region too)::

    y_framed = (y - shift) / scale
    shift    = the anchor's baseline at each target step, else the window's center (window scaling), else 0
    scale    = the window's spread (window scaling), else 1

Heads predict framed values and losses compare them with framed targets, so the loss is in window-relative
units whatever the level of the series. Forecasts, variances and intervals go back to the target's units with
the prediction kind's ``affine`` (the prediction of ``shift + scale * Y``): a head whose output layer is zero
predicts exactly the anchor's baseline. Where the shift is undefined (the anchor's baseline reads no observed
value) the target is masked and the forecast is NaN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import torch
from torch import Tensor

from mrframe.data.anchoring import Anchor
from mrframe.data.transforms import Scaling
from mrframe.data.window_scaling import WindowScaling, scale_window, window_statistics
from mrframe.errors import Problem
from mrframe.interfaces import PredictionKind, TargetInfo
from mrframe.observed import Observed


@attrs.frozen(eq=False)
class Frame:
    """One task's frame for a batch: ``shift [B, span, (R,) F]`` (NaN where undefined) and ``scale [B, 1, (R,) F]``
    (a spatial target's axes: one frame per region)."""

    shift: Tensor
    scale: Tensor

    def to(self, device: torch.device | str) -> Frame:
        return Frame(self.shift.to(device), self.scale.to(device))

    def decode(self, kind: PredictionKind, prediction: Tensor | Mapping[str, Tensor]) -> Any:
        """A head's framed prediction of kind ``kind`` in the target's units: the prediction of
        ``shift + scale * Y`` (:meth:`PredictionKind.affine`; NaN where the shift is undefined)."""
        return kind.affine(prediction, self.shift, self.scale)

    def decode_target(self, framed: Observed) -> Observed:
        """Framed target values back in the target's units, with the same mask."""
        shift, scale = self.shift.to(framed.values.dtype), self.scale.to(framed.values.dtype)
        return Observed.build(torch.where(framed.mask, shift + scale * framed.values, 0.0), framed.mask)


@attrs.frozen(eq=False)
class TaskFraming:
    """How one task is framed: its source's window scaling, its anchor, and the training-period scaling of its
    features (``units``: anchors are computed in the source's units, None when the target is not scaled)."""

    info: TargetInfo
    window_scaling: WindowScaling
    anchor: Anchor | None
    units: Scaling | None
    columns: np.ndarray

    def frame(self, history: np.ndarray, min_spread: float,
              unpublished: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(shift [B, span, (R,) F], scale [B, 1, (R,) F])`` from the task's history window ``[B, T, (R,) F]``
        (NaN = missing) whose last ``unpublished [B]`` steps were not yet published (default none)."""
        center, spread = window_statistics(history, self.window_scaling, min_spread)
        if self.anchor is None:  # a feature with nothing observed in the window has no center: its target is masked
            center = np.where(np.isfinite(history).any(axis=1, keepdims=True), center, np.nan)
            return np.repeat(center, self.info.span, axis=1), spread
        source_units = history if self.units is None else self.units.invert(history, self.columns)
        baseline = self.anchor.baseline(source_units, self.info, unpublished)
        if self.units is not None:
            baseline = self.units.apply(baseline, self.columns).astype(np.float64)
        return baseline, spread


@attrs.frozen(eq=False)
class Framing:
    """The window scaling of every input source and the frame of every framed task, for batches of one data."""

    inputs: dict[str, WindowScaling]
    tasks: dict[str, TaskFraming]
    min_spread: float = 0.1

    def scale_input(self, source: str, values: np.ndarray) -> np.ndarray:
        """One source's input windows ``[B, T, (R,) F]`` relative to each sample's own window (per region of a
        spatial source; NaN stays NaN)."""
        method = self.inputs.get(source, "none")
        if method == "none":
            return values
        return scale_window(values, *window_statistics(values, method, self.min_spread))

    def problems(self, kinds: Mapping[str, PredictionKind]) -> list[Problem]:
        """Framed tasks whose prediction kind cannot be taken back from a frame (no :meth:`~PredictionKind.affine`)."""
        out = []
        for task, framing in self.tasks.items():
            kind = kinds[task]
            if type(kind).affine is PredictionKind.affine:
                why = "target.anchor is set" if framing.anchor is not None else \
                    f"source '{framing.info.source}' is window-scaled"
                out.append(Problem(f"heads.{task}", f"{why}, but a {kind.name} prediction cannot be rescaled back to "
                                   "the target's units; anchor point or Gaussian heads only, or set "
                                   f"data.preprocess.{framing.info.source}.window_scaling = \"none\""))
        return out

    def frame(self, task: str, history: np.ndarray, unpublished: np.ndarray | None = None) -> Frame | None:
        """The task's frame for a batch of history windows (``unpublished [B]``: their trailing steps not yet
        published), None when the task is not framed."""
        framing = self.tasks.get(task)
        if framing is None:
            return None
        shift, scale = framing.frame(history, self.min_spread, unpublished)
        return Frame(torch.from_numpy(shift.astype(np.float32)), torch.from_numpy(scale.astype(np.float32)))


def encode(values: np.ndarray, frame: Frame | None) -> np.ndarray:
    """Target values ``[B, span, (R,) F]`` (NaN = missing) in the frame's units (NaN where the shift is undefined)."""
    if frame is None:
        return values
    return ((values - frame.shift.numpy()) / frame.scale.numpy()).astype(values.dtype)
