"""The plugin contracts: everything a plugin author implements, in one file.

Each kind of plugin is a base class below. An implementation subclasses it, declares **one** attrs config
class as the class attribute ``Config`` (see :mod:`mrframe.config`) and is registered under an entry-point
group; the entry-point name is the name a spec uses::

    [project.entry-points."mrframe.encoders"]
    daily-gru = "my_package.encoders:DailyGRU"

==============  ======================  ===========================================================
kind            entry-point group       built as / called as
==============  ======================  ===========================================================
source          ``mrframe.sources``     ``Source(config).load() -> SourceFrame``
encoder         ``mrframe.encoders``    ``Encoder(config, source, d_model)(Observed, Calendar) -> Stream``
fusion          ``mrframe.fusion``      ``FusionBlock(config, model)(State) -> State``
head            ``mrframe.heads``       ``Head(config, model, target)(State) -> prediction``
loss            ``mrframe.losses``      ``Loss(config, target)(prediction, values, mask) -> TaskLoss``
weighting       ``mrframe.weightings``  ``Weighting(config, tasks).combine(losses, context) -> Weighted``
==============  ======================  ===========================================================

Life-cycle hooks (progress, writers, plots) are pluggy hook implementations; their specification is
:mod:`mrframe.hooks`.

Invariants every implementation keeps (the conformance kit in :mod:`mrframe.testing` checks them):

* Sources never fill: a missing value is NaN in the frame, at the source's native resolution.
* Encoders are **masked-input invariant**: changing ``values`` where ``mask`` is False must leave every output
  bitwise unchanged (read :meth:`Observed.masked_values`, never reduce the mask and broadcast it back). A
  timestep with nothing observed gets a learned no-observation token, never attention over nothing.
* Temporal blocks are **causal**: outputs at step t do not depend on inputs after t. Daily positions may only
  see monthly slots that ended before them (:meth:`Calendar.months_visible`).
* Outputs and gradients are finite for any finite input, including windows where nothing is observed.
* Losses return an exact, differentiable 0 when no target is valid (:meth:`TaskLoss.none_valid`), never NaN.
* Weighting policies report the weights the gradient actually sees; the total is finite when every finite
  task loss is; a task with ``count == 0`` (no valid target, or gated out) gets weight 0.

**Space.** A source may be *spatial*: values per (period, region, feature) with a region table
(:class:`~mrframe.regions.Regions`). Its inputs reach encoders as ``Observed [B, T, R, F]`` and its targets as
``[B, span, R, F]``. Encoders and heads declare which they take (``extents``: ``"national"``, ``"spatial"``),
checked when the model is built. Every promise above holds per region, and spatial encoders keep two more:

* **Permutation equivariance over regions**: permuting the regions (of the input and of the region table the
  encoder was built with) permutes its per-region states the same way and leaves its national stream unchanged
  (up to floating-point rounding): no parameter belongs to a region's position.
* A region's masked values reach no region's output: invariance is checked with junk at the masked places of
  every region, regions with nothing observed included.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import attrs
import pandas as pd
from torch import Tensor, nn

from mrframe.observed import Calendar, Observed, RegionalStream, State, Stream, TaskLoss
from mrframe.regions import Regions

Resolution = Literal["daily", "monthly"]
Extent = Literal["national", "spatial"]
"""A source's extent: one value per feature and period (``national``), or one per region too (``spatial``)."""

__all__ = [
    "Resolution",
    "Extent",
    "SourceFrame",
    "SourceInfo",
    "ModelInfo",
    "TargetInfo",
    "StepContext",
    "Weighted",
    "Source",
    "Encoder",
    "FusionBlock",
    "Head",
    "Loss",
    "Weighting",
    "PLUGIN_BASES",
    "point_forecast",
]


# ------------------------------------------------------------------------------------------ value types


@attrs.frozen(eq=False)
class SourceFrame:
    """What a source loads: a frame at its native resolution, never filled.

    ``frame``: index = period starts (``DatetimeIndex``; every day for daily sources, first of the month for
    monthly ones), one float column per feature, NaN = missing. Days or months absent from the index are
    missing too. ``observed``: optional explicit mask with the same shape, ANDed with ``frame.notna()``.
    ``counts``: the features that are event counts (heavy-tailed; normalisation may log-compress them).
    ``rejected``: rows the reader dropped, by reason (``{"duplicate date": 2}``), shown by ``mrframe data``.

    A **spatial** source sets ``regions``: its values are per (period, region, feature) and ``frame.columns`` is
    a ``pd.MultiIndex`` of ``(region id, feature)`` pairs, region-major, every region of ``regions`` (in its
    order) with the same features; ``counts`` names features (not pairs).
    """

    frame: pd.DataFrame
    resolution: Resolution
    observed: pd.DataFrame | None = None
    counts: tuple[str, ...] = ()
    rejected: Mapping[str, int] = attrs.field(factory=dict)
    regions: Regions | None = None


class _Extent:
    """``spatial`` / ``extent`` of a value type with a ``regions`` attribute."""

    regions: Regions | None

    @property
    def spatial(self) -> bool:
        return self.regions is not None

    @property
    def extent(self) -> Extent:
        return "spatial" if self.regions is not None else "national"


@attrs.frozen
class SourceInfo(_Extent):
    """What an encoder knows about its source when it is built."""

    name: str
    resolution: Resolution
    features: tuple[str, ...]
    counts: tuple[str, ...] = ()
    regions: Regions | None = None  # set for spatial sources: their inputs have a region axis

    @property
    def n_features(self) -> int:
        return len(self.features)


@attrs.frozen
class ModelInfo:
    """What fusion blocks and heads know about the assembled model when they are built."""

    d_model: int
    daily: tuple[SourceInfo, ...]
    monthly: tuple[SourceInfo, ...]
    daily_window: int
    monthly_window: int


@attrs.frozen
class TargetInfo(_Extent):
    """A head's target: ``span`` consecutive steps of a source's ``features`` ending ``horizon`` steps ahead.

    Steps are days for daily sources (``horizon >= 1``: days after the anchor) and months for monthly ones
    (``horizon`` counts months after the anchor's own month, which has not ended: 0 = the anchor's month).
    Target tensors are ``[B, span, len(features)]`` with their own feature-level mask, scaled like the
    model's inputs (``units = "normalised"``) or as the source gave them (``"raw"``: counts, class ids).
    A spatial source's target has ``regions`` (every region of the source, in its order) and tensors
    ``[B, span, R, len(features)]``; it is split, embargoed and scaled exactly like a national one.
    """

    task: str
    source: str
    resolution: Resolution
    features: tuple[str, ...]
    horizon: int
    span: int = 1
    units: Literal["normalised", "raw"] = "normalised"
    regions: Regions | None = None

    @property
    def n_features(self) -> int:
        return len(self.features)


@attrs.frozen
class StepContext:
    """Where training is when a weighting policy combines losses."""

    epoch: int  # 0-based
    step: int  # optimizer steps taken so far
    training: bool


@attrs.frozen(eq=False)
class Weighted:
    """A weighting policy's result: ``total`` (0-dim, what is back-propagated) and the per-task ``weights``
    the gradient sees (0-dim tensors, detached): ``d total / d L_i``, or ``d total / d log(L_i + eps)`` for a
    policy whose ``weight_space`` is ``"log_loss"``."""

    total: Tensor
    weights: Mapping[str, Tensor]


# ------------------------------------------------------------------------------------------ plugin kinds


class Source:
    """Reads one data source (a file, an API dump, a generator) into a :class:`SourceFrame`."""

    Config: ClassVar[type]

    def __init__(self, config: Any):
        self.config = config

    def load(self) -> SourceFrame:
        raise NotImplementedError

    @classmethod
    def example_config(cls, directory: pathlib.Path) -> Any:
        """A config that loads a small example: sources that read files write one into ``directory`` here.
        The conformance kit (:mod:`mrframe.testing`) uses it; the default works for configs without
        required keys."""
        try:
            return cls.Config()
        except TypeError as error:
            raise NotImplementedError(
                f"{cls.__name__}.Config has required keys: implement {cls.__name__}.example_config(directory) "
                "to write a small example file and return a config that reads it"
            ) from error


class Encoder(nn.Module):
    """Encodes one source's window: ``forward(x: Observed [B, T, F], calendar) -> Stream [B, T, d_model]``.

    ``resolutions`` lists the source resolutions the encoder takes and ``extents`` whether it takes national
    sources, spatial ones or both (both checked when the model is built, naming the spec key).

    A spatial source's window is ``Observed [B, T, R, F]`` (``source.regions`` holds the region table); its
    encoder returns the national ``Stream [B, T, d_model]`` (``present`` = :attr:`Observed.present`) with
    ``regional`` set to a :class:`~mrframe.observed.RegionalStream` ``[B, S, R, d_model]``. It is
    permutation-equivariant over regions (see the module docstring); state that derives from the region table
    (distances, neighbours) lives in non-persistent buffers, so a ``state_dict`` fits any order of the regions.
    """

    Config: ClassVar[type]
    resolutions: ClassVar[tuple[Resolution, ...]] = ("daily", "monthly")
    extents: ClassVar[tuple[Extent, ...]] = ("national",)

    def __init__(self, config: Any, source: SourceInfo, d_model: int):
        super().__init__()
        self.config = config
        self.source = source
        self.d_model = d_model

    def forward(self, x: Observed, calendar: Calendar) -> Stream:
        raise NotImplementedError


class FusionBlock(nn.Module):
    """Transforms the model state: ``forward(state) -> state``; blocks run in the order the spec lists them."""

    Config: ClassVar[type]

    def __init__(self, config: Any, model: ModelInfo):
        super().__init__()
        self.config = config
        self.model = model

    def forward(self, state: State) -> State:
        raise NotImplementedError


class Head(nn.Module):
    """Predicts a target from the state: ``forward(state) -> prediction`` (a tensor or a dict of tensors).

    Prediction conventions shared by heads and losses (``S = span``, ``F = len(features)``):

    ==========================  ==============================================================
    prediction                  meaning
    ==========================  ==============================================================
    tensor ``[B, S, F]``        point forecast
    ``{"mean", "log_var"}``     Gaussian: mean and log-variance, each ``[B, S, F]``
    ``{"logits"}`` ``[B,S,F]``  binary classification (target values are 0/1)
    ``{"logits"}`` ``[B,S,F,C]``  C-class classification (target values are class ids 0..C-1)
    ``{"log_mu", "theta", "pi_logit"}``  zero-inflated negative binomial: log mean, dispersion
                                (unconstrained; the loss maps it through softplus with a floor) and
                                zero-inflation logit, each ``[B, S, F]`` (target: raw counts)
    ==========================  ==============================================================

    ``target_units`` lists the target units the head accepts (``"normalised"``, ``"raw"``; checked when the
    model is built): heads of class ids or counts take ``("raw",)``. ``extents`` says whether it predicts
    national targets, spatial ones or both (checked too). A spatial head's predictions carry a region axis
    before the features (``[B, S, R, F]``, and so every array of a Gaussian or ZINB prediction); it reads the
    per-region states of ``State.regional``.
    """

    Config: ClassVar[type]
    target_units: ClassVar[tuple[str, ...]] = ("normalised", "raw")
    extents: ClassVar[tuple[Extent, ...]] = ("national",)

    def __init__(self, config: Any, model: ModelInfo, target: TargetInfo):
        super().__init__()
        self.config = config
        self.model = model
        self.target = target

    def forward(self, state: State) -> Tensor | Mapping[str, Tensor]:
        raise NotImplementedError

    def point(self, prediction: Tensor | Mapping[str, Tensor]) -> Tensor:
        """The point forecast ``[B, span, (R,) F]`` in the target's units, for metrics and predictions."""
        return point_forecast(prediction)


def point_forecast(prediction: Tensor | Mapping[str, Tensor]) -> Tensor:
    """The point forecast inside a point or Gaussian prediction: the tensor itself, or ``prediction["mean"]``."""
    return prediction["mean"] if isinstance(prediction, Mapping) else prediction


class Loss(nn.Module):
    """``forward(prediction, values, mask) -> TaskLoss``; ``values``/``mask`` are ``[B, span, F]`` (a spatial
    target: ``[B, span, R, F]``; elementwise losses need nothing special for it).

    ``prediction_kind`` names the prediction convention (see :class:`Head`) the loss takes: ``"point"``,
    ``"gaussian"``, ``"binary"``, ``"classes"``, ``"zinb"`` or ``"covariance"``.
    """

    Config: ClassVar[type]
    prediction_kind: ClassVar[str] = "point"

    def __init__(self, config: Any, target: TargetInfo):
        super().__init__()
        self.config = config
        self.target = target

    def forward(self, prediction: Any, values: Tensor, mask: Tensor) -> TaskLoss:
        raise NotImplementedError


class Weighting(nn.Module):
    """Combines task losses into the total that is back-propagated.

    Learnable parameters (e.g. log-variances) are trained by the run's optimizer without weight decay; other
    state lives in buffers so ``state_dict`` round-trips it. Policies that need their own backward (gradient
    surgery) set ``owns_backward = True`` and implement :meth:`backward`.
    """

    Config: ClassVar[type]
    owns_backward: ClassVar[bool] = False
    weight_space: ClassVar[Literal["loss", "log_loss"]] = "loss"
    """What the reported weights differentiate: ``"loss"`` (``w_i = d total / d L_i``) or ``"log_loss"``
    (``w_i = d total / d log(L_i + log_eps)``, for policies on log-losses, whose total is scale invariant)."""
    log_eps: float = 0.0

    def __init__(self, config: Any, tasks: Sequence[str]):
        super().__init__()
        self.config = config
        self.tasks = tuple(tasks)

    def combine(self, losses: Mapping[str, TaskLoss], context: StepContext) -> Weighted:
        raise NotImplementedError

    def backward(
        self, losses: Mapping[str, TaskLoss], context: StepContext, shared: Sequence[nn.Parameter]
    ) -> Weighted:
        """Only for ``owns_backward`` policies: write ``.grad`` of every parameter and return what
        :meth:`combine` would have returned."""
        raise NotImplementedError(f"{type(self).__name__} does not implement its own backward")

    def end_epoch(self, epoch: int, train_losses: Mapping[str, float]) -> None:
        """Called after each training epoch with the epoch's mean finite loss per task."""

    def anchored_score(self, losses: Mapping[str, float]) -> float | None:
        """A validation score comparable across epochs (lower is better), or None if the policy has none."""
        return None


PLUGIN_BASES: dict[str, type] = {
    "source": Source,
    "encoder": Encoder,
    "fusion": FusionBlock,
    "head": Head,
    "loss": Loss,
    "weighting": Weighting,
}
"""Plugin kind -> the base class its implementations subclass."""

# re-exported for plugin authors: ``from mrframe.interfaces import Observed, Stream, ...``
__all__ += ["Observed", "Stream", "RegionalStream", "State", "Calendar", "TaskLoss"]
