"""The plugin contracts: everything a plugin author implements, in one file.

Each kind of plugin is a base class below. An implementation subclasses it, declares **one** attrs config
class as the class attribute ``Config`` (see :mod:`mrframe.config`) and is registered under an entry-point
group; the entry-point name is the name a spec uses::

    [project.entry-points."mrframe.encoders"]
    daily-gru = "my_package.encoders:DailyGRU"

===============  ============================  =====================================================
kind             entry-point group             built as / called as
===============  ============================  =====================================================
source           ``mrframe.sources``           ``Source(config).load() -> SourceFrame``
encoder          ``mrframe.encoders``          ``Encoder(config, source, d_model)(Observed, Calendar) -> Stream``
fusion           ``mrframe.fusion``            ``FusionBlock(config, model)(State) -> State``
head             ``mrframe.heads``             ``Head(config, model, target)(State) -> prediction``
loss             ``mrframe.losses``            ``Loss(config, target)(prediction, values, mask) -> TaskLoss``
weighting        ``mrframe.weightings``        ``Weighting(config, tasks).combine(losses, context) -> Weighted``
prediction-kind  ``mrframe.prediction_kinds``  ``PredictionKind()``: reads, scores and transforms predictions
===============  ============================  =====================================================

Heads name the prediction kind they predict and losses the kinds they take (one vocabulary: the
``mrframe.prediction_kinds`` entry-point names); the model refuses a head and a loss that disagree.

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
* Prediction kinds never raise on non-finite predictions: a non-finite input gives NaN in what depends on it.
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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import attrs
import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from mrframe.errors import PluginError
from mrframe.metrics import Metric, forecast_metrics
from mrframe.observed import Calendar, Observed, RegionalStream, State, Stream, TaskLoss
from mrframe.regions import Regions
from mrframe.units import Units

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
    "Units",
    "PredictionKind",
    "Prediction",
    "PLUGIN_BASES",
    "point_forecast",
]

Prediction = Tensor | Mapping[str, Tensor]
"""What a head predicts: a tensor or a dict of tensors, following its :class:`PredictionKind`."""


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
    """Reads one data source (a file, an API dump, a generator) into a :class:`SourceFrame`.

    ``missing_values`` holds the spec's ``[sources.NAME] missing_values`` (sentinels such as -999); the core sets
    it before calling :meth:`load` and masks those values in the loaded frame itself. A source that derives its
    values from the cells it reads (differences of cumulative counts, sums) must mask them before deriving.
    """

    Config: ClassVar[type]
    missing_values: tuple[float, ...] = ()

    def __init__(self, config: Any):
        self.config = config

    def load(self) -> SourceFrame:
        raise NotImplementedError

    @classmethod
    def declared_classes(cls, config: Any) -> int | None:
        """The number of classes the source's values are ids of, when its config says (default: a ``classes``
        key); the spec check makes heads, losses and target sources agree on it."""
        return _classes_key(config)

    @classmethod
    def declared_resolution(cls, config: Any) -> Resolution | None:
        """The resolution :meth:`load` will return, when it is known from the config alone (default: a
        ``resolution`` key); lets ``mrframe validate`` check encoders and window sizes before loading."""
        resolution = getattr(config, "resolution", None)
        return resolution if resolution in ("daily", "monthly") else None

    @classmethod
    def declared_features(cls, config: Any) -> tuple[str, ...] | None:
        """The feature names :meth:`load` will return (per region for a spatial source), when they are known
        without loading the data: from the config, or from a file's column names at most; lets ``mrframe validate``
        check the heads' target features. Default: None (unknown). Never raises for a bad file: None, and
        :meth:`load` reports it."""
        return None

    @classmethod
    def declared_extent(cls, config: Any) -> Extent | None:
        """The extent :meth:`load` will return (``"spatial"`` when its frame has regions), when it is known from
        the config alone; lets ``mrframe validate`` check encoders' and heads' ``extents`` before loading.
        Default: by a ``regions`` key (set: spatial, unset or 0: national); None (unknown) without one."""
        if not hasattr(config, "regions"):
            return None
        return "spatial" if config.regions else "national"

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

    ``prediction_kind`` names the :class:`PredictionKind` of what it predicts (``S = span``, ``F =
    len(features)``); the built-in kinds:

    ==============  ====================================  ==================================================
    kind            prediction                            meaning
    ==============  ====================================  ==================================================
    ``point``       tensor ``[B, S, F]``                  point forecast
    ``gaussian``    ``{"mean", "log_var"}`` ``[B, S, F]``   Gaussian: mean and log-variance
    ``binary``      ``{"logits"}`` ``[B, S, F]``          binary classification (target values 0/1)
    ``classes``     ``{"logits"}`` ``[B, S, F, C]``       C-class classification (target values 0..C-1)
    ``zinb``        ``{"log_mu", "theta", "pi_logit"}``   zero-inflated negative binomial: log mean, dispersion
                                                          (unconstrained: ``softplus(theta)``) and zero-inflation
                                                          logit, each ``[B, S, F]`` (targets: raw counts)
    ``covariance``  ``{"covariance"}`` ``[B, F, F]``      covariance of the target window's features
    ==============  ====================================  ==================================================

    A head whose kind depends on its config (a variance switched on) overrides :meth:`kind_for`.
    ``target_units`` lists the target units the head accepts (``"normalised"``, ``"raw"``; checked by
    ``mrframe validate`` and when the model is built): heads of class ids or counts take ``("raw",)``.
    :meth:`declared_classes` names the number of classes it predicts, checked against its loss and target source.
    ``extents`` says whether it predicts national targets, spatial ones or both (checked too). A spatial head's
    predictions carry a region axis before the features (``[B, S, R, F]``, and so every array of a Gaussian or
    ZINB prediction); it reads the per-region states of ``State.regional``.
    """

    Config: ClassVar[type]
    prediction_kind: ClassVar[str] = "point"
    target_units: ClassVar[tuple[str, ...]] = ("normalised", "raw")
    extents: ClassVar[tuple[Extent, ...]] = ("national",)

    @classmethod
    def declared_classes(cls, config: Any) -> int | None:
        """The number of classes the head predicts, when it predicts classes (default: a ``classes`` key)."""
        return _classes_key(config)

    def __init__(self, config: Any, model: ModelInfo, target: TargetInfo):
        super().__init__()
        self.config = config
        self.model = model
        self.target = target

    @classmethod
    def kind_for(cls, config: Any) -> str:
        """The prediction kind a head built with ``config`` predicts (default: ``prediction_kind``)."""
        return cls.prediction_kind

    def forward(self, state: State) -> Prediction:
        raise NotImplementedError


def _classes_key(config: Any) -> int | None:
    classes = getattr(config, "classes", None)
    return classes if isinstance(classes, int) and not isinstance(classes, bool) else None


def point_forecast(prediction: Prediction) -> Tensor:
    """The point forecast inside a point or Gaussian prediction: the tensor itself, or ``prediction["mean"]``."""
    return prediction["mean"] if isinstance(prediction, Mapping) else prediction


class Loss(nn.Module):
    """``forward(prediction, values, mask) -> TaskLoss``; ``values``/``mask`` are ``[B, span, F]`` (a spatial
    target: ``[B, span, R, F]``; elementwise losses need nothing special for it).

    ``prediction_kind`` names the :class:`PredictionKind` the loss is written for (the conformance kit builds
    its example predictions from it); ``also_accepts`` lists other kinds it reads correctly (a cross entropy
    taking binary logits too). A head of any other kind is refused by ``mrframe validate`` and when the model is
    built (:func:`mrframe.kinds.head_problems`). :meth:`target_problems` and :meth:`declared_classes` let
    ``mrframe validate`` check the head's target table against the loss before any data is loaded.

    A loss that the kind's example predictions do not suit (it needs enough observed steps per window, targets
    in a range) defines the classmethod ``example_inputs(target, batch, seed=0, scale=1.0) -> (prediction,
    values, mask)``: leaf prediction tensors with ``requires_grad`` whose raw outputs ``scale`` multiplies, and
    values and mask ``[B, span, F]``; the conformance kit then checks every promise on those.
    """

    Config: ClassVar[type]
    prediction_kind: ClassVar[str] = "point"
    also_accepts: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def target_problems(cls, config: Any, target: Any) -> Iterable[str]:
        """What makes the spec's target unusable for this loss under ``config``, known before any data is loaded
        (units it cannot take, a span too short, ...). ``target`` is the head's ``target`` table (``source``,
        ``horizon``, ``span``, ``features`` (None: all of the source's), ``units``); each message is reported at
        that table."""
        return ()

    @classmethod
    def declared_classes(cls, config: Any) -> int | None:
        """The number of classes the loss's config implies (per-class weights), if any (default: a ``classes``
        key)."""
        return _classes_key(config)

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
        """Called after each training epoch (``epoch`` 0-based) with the epoch's mean finite loss per task."""

    def in_warmup(self, epoch: int) -> bool:
        """True while epoch ``epoch`` (0-based) is part of the policy's warm-up (e.g. before its baselines are
        set): its validation numbers are not comparable with later epochs', so it is never a candidate for the
        best epoch, whatever the early-stopping monitor."""
        return False

    def anchored_score(self, losses: Mapping[str, float]) -> float | None:
        """A validation score comparable across epochs (lower is better), or None if the policy has none."""
        return None


class PredictionKind:
    """A prediction convention, declared in one place: how mrframe reads, scores and transforms predictions.

    Registered under ``mrframe.prediction_kinds``; the entry-point name is what ``Head.prediction_kind`` and
    ``Loss.prediction_kind`` say. Built without arguments, stateless. Built-in (:mod:`mrframe.kinds`): ``point``,
    ``gaussian``, ``binary``, ``classes``, ``zinb``, ``covariance``. ``evaluate``, ``backtest``, the run's report
    and ``predict`` read predictions only through this:

    * :meth:`point`: the point forecast;
    * :meth:`columns`: per target element, the prediction columns in the source's units: ``prediction`` (the
      point forecast, or the most likely class) always, then e.g. ``lower_50``/``upper_50``/``lower_90``/
      ``upper_90`` (central intervals), ``q0.05`` (quantiles), ``probability`` and ``p0`` .. ``p{C-1}`` (class
      probabilities). They are ``predict``'s CSV columns;
    * :meth:`scores`: per-element scores that need the target (``crps``, ``pit``);
    * :meth:`metrics`: a split's metrics from targets, columns and scores; ``headline`` names the metric (lower
      is better) that decides whether the model beats a baseline, and its skill;
    * ``baselines``: the trivial baselines it is compared with: ``"forecast"`` (persistence, seasonal naive,
      moving averages: their columns are scored by the same :meth:`metrics`), ``"classes"`` (the training
      split's class frequencies, as columns of this kind), ``"none"``;
    * :meth:`calibrate`: optional state fitted on the validation split (conformal intervals of point forecasts),
      passed back to :meth:`columns`;
    * :meth:`affine`: the prediction of ``shift + scale * Y`` for ``Y`` distributed as the prediction.
    """

    name: ClassVar[str] = ""
    keys: ClassVar[tuple[str, ...]] = ()
    """The prediction's keys, each ``[B, S, F, ...]``; ``()``: the prediction is one tensor ``[B, S, F]``."""
    headline: ClassVar[str | None] = "mae"
    baselines: ClassVar[Literal["forecast", "classes", "none"]] = "forecast"
    raw_targets: ClassVar[bool] = False
    """Targets are in the source's own units (class ids, counts): heads of this kind take ``units = "raw"``."""
    elementwise: ClassVar[bool] = True
    """Losses of this kind score each target element on its own, so their ``TaskLoss.count`` is the number of
    observed target elements. False where a loss scores whole windows and may skip some (a covariance needs a few
    observed steps): its ``count`` is then the observed elements of the windows it scored (all of them when every
    element is observed, none when none is)."""

    def point(self, prediction: Prediction) -> Tensor:
        """The point forecast ``[B, S, F]`` in the prediction's units (a mean, an expected count, a class id)."""
        raise NotImplementedError

    def affine(self, prediction: Prediction, shift: Tensor | float, scale: Tensor | float) -> Prediction:
        """The prediction of ``shift + scale * Y`` for ``Y`` distributed as ``prediction``; ``shift`` and ``scale``
        broadcast to ``[B, S, F]``, ``scale != 0``. Exact; kinds where it is undefined raise PluginError."""
        raise PluginError(f"prediction kind '{self.name}': shift + scale * Y is not a prediction of this kind, so "
                          "it cannot be rescaled (only point, Gaussian and quantile-like kinds can)")

    def columns(self, prediction: Prediction, units: Units,
                calibration: Mapping[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Prediction columns ``[B, S, F]`` (see above), values mapped to the source's units by ``units``."""
        return {"prediction": units(self.point(prediction))}

    def scores(self, prediction: Prediction, values: Tensor, units: Units) -> dict[str, Tensor]:
        """Per-element scores ``[B, S, F]`` against the targets ``values`` (in the prediction's units; scores in
        the source's units): e.g. ``crps``, ``pit``. NaN where a target or the prediction is not finite."""
        return {}

    def metrics(self, target: np.ndarray, columns: Mapping[str, np.ndarray]) -> dict[str, Metric]:
        """A split's metrics from the observed targets ``[n]`` (source's units) and the columns and scores of the
        same elements (the model's or a baseline's: use those present). Default: ``mae``, ``rmse`` and, when
        present, ``crps`` and interval coverage and width (:func:`mrframe.metrics.forecast_metrics`)."""
        return forecast_metrics(target, columns)

    def calibrate(self, prediction: Prediction, values: Tensor, mask: Tensor) -> dict[str, Tensor] | None:
        """State fitted on the validation split (predictions, targets and mask of the whole split along the batch
        axis), passed to :meth:`columns` on other splits; None (default): nothing to fit."""
        return None

    def example(self, target: TargetInfo, batch: int, generator: torch.Generator,
                scale: float = 1.0) -> tuple[Prediction, Tensor]:
        """A random prediction of this kind (leaf tensors with ``requires_grad``; ``scale`` scales its raw
        outputs) and target values ``[B, S, F]`` it could be scored against (conformance kit, loss checks)."""
        raise NotImplementedError

    def problem(self, prediction: Any, target: TargetInfo) -> str | None:
        """What is wrong with ``prediction`` for ``target`` (type, keys, shapes), or None. Default: a tensor (no
        ``keys``) or each of ``keys`` starting with ``[B, span]``, with ``F`` features after any region axis."""
        values = {"prediction": prediction} if not self.keys else prediction
        if not self.keys and not isinstance(prediction, Tensor):
            return f"a {self.name} prediction is a tensor [B, span, F], got {type(prediction).__name__}"
        if self.keys and (not isinstance(prediction, Mapping) or not set(self.keys) <= set(prediction)):
            got = sorted(prediction) if isinstance(prediction, Mapping) else type(prediction).__name__
            return f"a {self.name} prediction is a dict with keys {list(self.keys)}, got {got}"
        for key in self.keys or ("prediction",):
            value = values[key]
            shape = tuple(value.shape) if isinstance(value, Tensor) else ()
            if len(shape) < 3 or shape[1] != target.span or target.n_features not in shape[2:4]:
                got = shape if isinstance(value, Tensor) else type(value).__name__
                what = f"prediction['{key}'] must start with" if self.keys else "prediction must be"
                return f"a {self.name} {what} [B, span, F] = [B, {target.span}, {target.n_features}], got {got}"
        return None


PLUGIN_BASES: dict[str, type] = {
    "source": Source,
    "encoder": Encoder,
    "fusion": FusionBlock,
    "head": Head,
    "loss": Loss,
    "weighting": Weighting,
    "prediction-kind": PredictionKind,
}
"""Plugin kind -> the base class its implementations subclass."""

# re-exported for plugin authors: ``from mrframe.interfaces import Observed, Stream, ...``
__all__ += ["Observed", "Stream", "RegionalStream", "State", "Calendar", "TaskLoss"]
