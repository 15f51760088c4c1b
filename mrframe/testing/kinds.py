"""Conformance of prediction kinds: what a kind declares is what it does.

``check_prediction_kind(kind)`` builds the kind's own example prediction and checks that its point forecast is
``[B, S, F]``; its columns are ``[B, S, F]`` tensors with a ``prediction`` column (unless it declares no headline)
and with every ``lower_L`` ordered below its ``upper_L`` and narrower intervals inside wider ones; its scores
are ``[B, S, F]``, a ``crps`` never negative and a ``pit`` within ``[0, 1]``; its metrics return
:class:`~mrframe.metrics.Metric` values and include the declared ``headline``, on the model's columns and on a
prefix of the elements alike; non-finite predictions give NaN, never an exception; and, where the kind defines
:meth:`~mrframe.interfaces.PredictionKind.affine`, that it is exact: the identity map changes nothing, two maps
compose, the point forecast and the interval bounds move with ``shift + scale * y``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch

from mrframe.errors import PluginError
from mrframe.interfaces import PredictionKind, TargetInfo, Units
from mrframe.metrics import Metric, MetricWarning, interval_levels
from mrframe.testing.common import fail, same, tensors
from mrframe.testing.promises import promise, run_promises

BATCH = 6


def _detached(prediction: Any) -> Any:
    if isinstance(prediction, torch.Tensor):
        return prediction.detach().double()
    return {k: _detached(v) for k, v in prediction.items()}


def check_prediction_kind(plugin: type | str, target: TargetInfo | None = None) -> None:
    """Check every promise of a prediction kind (see the module docstring)."""
    run_promises("prediction-kind", plugin, target=target)


def _example(cls: type, target: TargetInfo | None) -> tuple[PredictionKind, Any, torch.Tensor, TargetInfo, Units]:
    """The kind, its own example prediction and targets (float64), the target, and non-trivial units."""
    kind = cls()
    units_kind = "raw" if kind.raw_targets else "normalised"
    target = target or TargetInfo("task", "s", "daily", ("a", "b", "c"), horizon=3, span=2, units=units_kind)
    prediction, values = kind.example(target, BATCH, torch.Generator().manual_seed(0))
    units = Units.identity(target.n_features) if kind.raw_targets else \
        Units(torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64), torch.tensor([2.0, 0.5, 3.0], dtype=torch.float64),
              torch.tensor([False, True, False]))
    return kind, _detached(prediction), values.double(), target, units


def each_example(check: Callable[[str, PredictionKind, Any, torch.Tensor, TargetInfo, Units], None]) -> Callable[..., None]:
    """A promise checked on the kind's own example prediction."""

    def run(cls: type, label: str, target: TargetInfo | None = None) -> None:
        check(label, *_example(cls, target))

    run.__doc__ = check.__doc__
    return run


@promise("prediction-kind", "name")
def _name(cls: type, label: str, **options: Any) -> None:
    """The class's name is the name it is registered under."""
    from mrframe import registry

    names = [n for n in registry.names("prediction-kind") if registry.load("prediction-kind", n) is cls]
    if names and cls.name not in names:
        fail(label, f"its class says name = '{cls.name}', but it is registered as '{names[0]}': use the same name")


@promise("prediction-kind", "example")
@each_example
def _own_example(label: str, kind: PredictionKind, prediction: Any, values: torch.Tensor, target: TargetInfo,
                 units: Units) -> None:
    """problem() accepts the kind's own example prediction."""
    problem = kind.problem(prediction, target)
    if problem is not None:
        fail(label, f"its own example prediction is refused by problem(): {problem}")


@promise("prediction-kind", "columns-and-scores")
@each_example
def _columns_scores(label: str, kind: PredictionKind, prediction: Any, values: torch.Tensor, target: TargetInfo,
                    units: Units) -> None:
    """Columns and scores are [B, span, F]; a 'prediction' column; interval bounds ordered; point() [B, span, F]."""
    shape = (BATCH, target.span, target.n_features)
    _check_columns(label, kind, prediction, units, shape)
    scores = kind.scores(prediction, values, units)
    for name, value in scores.items():
        if tuple(value.shape) != shape:
            fail(label, f"score '{name}' must be [B, span, F] = {shape}, got {tuple(value.shape)}")
    _check_scores(label, scores)
    if kind.headline is not None and tuple(kind.point(prediction).shape) != shape:
        fail(label, f"point() must give [B, span, F] = {shape}, got {tuple(kind.point(prediction).shape)}")


@promise("prediction-kind", "metrics")
@each_example
def _metrics(label: str, kind: PredictionKind, prediction: Any, values: torch.Tensor, target: TargetInfo,
             units: Units) -> None:
    """metrics() returns Metric values including the headline, on all elements and on a prefix."""
    shape = (BATCH, target.span, target.n_features)
    columns = kind.columns(prediction, units) | kind.scores(prediction, values, units)
    _check_metrics(label, kind, units(values), {k: v for k, v in columns.items() if tuple(v.shape) == shape})


@promise("prediction-kind", "non-finite")
@each_example
def _non_finite(label: str, kind: PredictionKind, prediction: Any, values: torch.Tensor, target: TargetInfo,
                units: Units) -> None:
    """A NaN prediction gives NaN columns and scores, never an exception."""
    _check_non_finite(label, kind, prediction, values, units)


@promise("prediction-kind", "affine")
@each_example
def _affine(label: str, kind: PredictionKind, prediction: Any, values: torch.Tensor, target: TargetInfo,
            units: Units) -> None:
    """affine() is exact: identity, composition, and point and bounds move with shift + scale * y."""
    _check_affine(label, kind, prediction)


def _check_columns(label: str, kind: PredictionKind, prediction: Any, units: Units,
                   shape: tuple[int, ...]) -> dict[str, torch.Tensor]:
    columns = kind.columns(prediction, units)
    if kind.headline is not None and "prediction" not in columns:
        fail(label, f"columns() must include 'prediction' (the point forecast), got {sorted(columns)}")
    for name, value in columns.items():
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != shape:
            got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
            fail(label, f"column '{name}' must be a [B, span, F] = {shape} tensor, got {got}")
    for key in columns:
        if key.startswith("lower_") and f"upper_{key[6:]}" in columns:
            if not bool((columns[key] <= columns[f"upper_{key[6:]}"]).all()):
                fail(label, f"column '{key}' lies above 'upper_{key[6:]}' somewhere")
    levels = interval_levels(columns)
    for inner, outer in zip(levels, levels[1:], strict=False):
        nested = (columns[f"lower_{outer}"] <= columns[f"lower_{inner}"]) & \
            (columns[f"upper_{inner}"] <= columns[f"upper_{outer}"])
        if not bool(nested.all()):
            fail(label, f"the central {inner} % interval must lie inside the {outer} % one (lower_{outer} <= "
                        f"lower_{inner}, upper_{inner} <= upper_{outer})")
    return columns


def _check_scores(label: str, scores: dict[str, torch.Tensor]) -> None:
    """A CRPS is never negative and a PIT is a probability."""
    if "crps" in scores:
        crps = scores["crps"][torch.isfinite(scores["crps"])]
        if bool((crps < 0).any()):
            fail(label, f"score 'crps' must be >= 0 (it integrates a squared difference), got {float(crps.min()):g}")
    if "pit" in scores:
        pit = scores["pit"][~torch.isnan(scores["pit"])]
        if bool(((pit < 0) | (pit > 1)).any()):
            fail(label, "score 'pit' is F(y), a probability: it must lie in [0, 1]")


def _check_metrics(label: str, kind: PredictionKind, target: torch.Tensor, columns: dict[str, torch.Tensor]) -> None:
    flat = {k: v.reshape(-1).numpy() for k, v in columns.items()}
    y = target.reshape(-1).numpy()
    for n in (len(y), 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetricWarning)  # a metric may well be undefined on 3 elements
            metrics = kind.metrics(y[:n], {k: v[:n] for k, v in flat.items()})
        if not all(isinstance(m, Metric) for m in metrics.values()):
            fail(label, "metrics() must return mrframe.metrics.Metric values")
        if kind.headline is not None and kind.headline not in metrics:
            fail(label, f"metrics() must include the declared headline '{kind.headline}', got {sorted(metrics)}")


def _check_non_finite(label: str, kind: PredictionKind, prediction: Any, values: torch.Tensor, units: Units) -> None:
    spoiled = {k: v.clone() for k, v in prediction.items()} if isinstance(prediction, dict) else prediction.clone()
    for tensor in tensors(spoiled):
        tensor.view(tensor.shape[0], -1)[0] = torch.nan
    try:
        columns = kind.columns(spoiled, units) | kind.scores(spoiled, values, units)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetricWarning)
            kind.metrics(units(values).reshape(-1).numpy(), {k: v.reshape(-1).numpy() for k, v in columns.items()})
    except Exception as error:  # noqa: BLE001 - any exception is the failure being checked
        fail(label, f"a NaN prediction must give NaN columns and scores, not {type(error).__name__}: {error}")
    if "prediction" in columns and bool(torch.isfinite(columns["prediction"][0]).any()):
        fail(label, "a sample whose prediction is NaN got a finite 'prediction' column")


def _check_affine(label: str, kind: PredictionKind, prediction: Any) -> None:
    try:
        moved = kind.affine(prediction, 0.0, 1.0)
    except PluginError:
        return  # undefined for this kind, and said so
    if not _close(moved, prediction):
        fail(label, "affine(prediction, shift=0, scale=1) must return the prediction unchanged")
    a, b, c, d = 0.7, 1.9, -2.0, 0.6
    once = kind.affine(prediction, c + d * a, d * b)
    twice = kind.affine(kind.affine(prediction, a, b), c, d)
    if not _close(once, twice):
        fail(label, "affine maps must compose: affine(affine(p, a, b), c, d) == affine(p, c + d a, d b)")
    if kind.headline is not None:
        shift = torch.linspace(-1.0, 1.0, prediction_shape(prediction)[-1], dtype=torch.float64)
        if not torch.allclose(kind.point(kind.affine(prediction, shift, 3.0)), shift + 3.0 * kind.point(prediction)):
            fail(label, "the point forecast of affine(p, shift, scale) must be shift + scale * point(p)")
        identity = Units.identity(prediction_shape(prediction)[-1])
        plain, scaled = kind.columns(prediction, identity), kind.columns(kind.affine(prediction, shift, 3.0), identity)
        for key in plain:
            if key.startswith(("lower_", "upper_")) and not torch.allclose(scaled[key], shift + 3.0 * plain[key]):
                fail(label, f"column '{key}' of affine(p, shift, scale) must be shift + scale * that of p")


def prediction_shape(prediction: Any) -> tuple[int, ...]:
    first = prediction if isinstance(prediction, torch.Tensor) else next(iter(prediction.values()))
    return tuple(first.shape[:3])


def _close(a: Any, b: Any) -> bool:
    first, second = tensors(a), tensors(b)
    return len(first) == len(second) and all(
        x.shape == y.shape and torch.allclose(x, y, rtol=1e-6, atol=1e-9, equal_nan=True) for x, y in zip(first, second, strict=True)
    ) or same(a, b)


__all__ = ["check_prediction_kind"]
