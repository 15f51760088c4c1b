"""NaN-aware metrics (scikit-learn for the classifier ones) that never crash and never hide what they dropped.

Every metric takes ``y_true`` and a prediction (values, scores, probabilities ``[n, C]`` or class ids), drops
the pairs where either side is not finite, and returns a :class:`Metric` with the value, the number of pairs
used and the number dropped. A metric that is undefined on what is left (no pair at all; a ranking metric with
a single class in ``y_true``) is NaN with a :class:`MetricWarning`, never an exception.

=====================  ===============================================================================
``mae``, ``rmse``      mean absolute error, root mean squared error
``roc_auc``            binary: scores of class 1; multi-class: one-vs-rest, macro over classes present
                       with both outcomes
``average_precision``  as ``roc_auc``
``accuracy``           fraction of exact class matches
``macro_f1``           F1 averaged over the classes present in ``y_true`` or predicted
``brier``              binary: mean (p - y)^2; multi-class: mean over samples of sum_c (p_c - [y = c])^2
``ece``                expected calibration error over ``BINS`` equal-width bins (:func:`reliability`)
``mean_score``         the mean of a per-element score (e.g. CRPS), over its finite values
``coverage``           fraction of targets inside ``[lower, upper]`` (infinite bounds allowed)
``width``              mean of ``upper - lower`` over the same elements
``interval_score``     mean ``(u - l) + (2 / a) (l - y)_+ + (2 / a) (y - u)_+`` of a central ``1 - a``
                       interval ``[l, u]`` (Gneiting & Raftery 2007): width plus a penalty per miss
=====================  ===============================================================================

:func:`forecast_metrics` and :func:`classification_metrics` compute a split's metrics from the per-element
columns a :class:`~mrframe.interfaces.PredictionKind` gives (``prediction``, ``crps``, ``lower_90`` ...,
``p0`` ...), for the model and for baselines alike.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping
from types import ModuleType

import attrs
import numpy as np

__all__ = ["Metric", "MetricWarning", "mae", "rmse", "roc_auc", "average_precision", "accuracy", "macro_f1", "brier",
           "ece", "reliability", "mean_score", "coverage", "width", "interval_score", "forecast_metrics",
           "classification_metrics", "interval_levels", "n_classes", "class_probabilities"]

BINS = 10
"""Equal-width probability bins of the calibration error and the reliability diagram."""


@functools.cache
def _sklearn() -> ModuleType:
    """``sklearn.metrics``, imported on first use (it takes seconds to import; most commands never need it)."""
    from sklearn import metrics

    return metrics


class MetricWarning(UserWarning):
    """A metric is undefined on the data it was given (and is NaN)."""


@attrs.frozen
class Metric:
    """A metric's ``value`` (NaN when undefined), the ``n`` pairs it used and the non-finite pairs ``dropped``."""

    value: float
    n: int
    dropped: int


def finite_pairs(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """``y_true [n]`` and ``y_pred [n]`` or ``[n, C]`` without the rows where either is non-finite."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    y_pred = y_pred.reshape(-1, y_pred.shape[-1]) if y_pred.ndim > 1 else y_pred.reshape(-1)  # [n, C] may be empty
    if y_pred.shape[0] != y_true.shape[0]:
        raise ValueError(f"metrics need as many predictions as targets, got {y_pred.shape[0]} and {y_true.shape[0]}")
    keep = np.isfinite(y_true) & (np.isfinite(y_pred).all(axis=1) if y_pred.ndim > 1 else np.isfinite(y_pred))
    return y_true[keep], y_pred[keep], int((~keep).sum())


def _undefined(name: str, why: str, n: int, dropped: int) -> Metric:
    warnings.warn(f"{name} is undefined ({why}); reported as NaN", MetricWarning, stacklevel=3)
    return Metric(math.nan, n, dropped)


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> Metric:
    t, p, dropped = finite_pairs(y_true, y_pred)
    if not len(t):
        return _undefined("MAE", "no finite pair", 0, dropped)
    return Metric(float(np.mean(np.abs(t - p))), len(t), dropped)


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> Metric:
    t, p, dropped = finite_pairs(y_true, y_pred)
    if not len(t):
        return _undefined("RMSE", "no finite pair", 0, dropped)
    return Metric(math.sqrt(float(np.mean(np.square(t - p)))), len(t), dropped)


def _ranking(name: str, score_fn, y_true: np.ndarray, scores: np.ndarray) -> Metric:  # noqa: ANN001
    t, s, dropped = finite_pairs(y_true, scores)
    if not len(t):
        return _undefined(name, "no finite pair", 0, dropped)
    if s.ndim == 1:
        if len(np.unique(t)) < 2:
            return _undefined(name, f"only class {t[0]:g} is present", len(t), dropped)
        return Metric(float(score_fn(t, s)), len(t), dropped)
    per_class = [float(score_fn(t == c, s[:, c])) for c in range(s.shape[1]) if 0 < (t == c).sum() < len(t)]
    if not per_class:
        return _undefined(name, "fewer than two classes are present", len(t), dropped)
    return Metric(float(np.mean(per_class)), len(t), dropped)


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> Metric:
    """Binary: ``scores [n]`` for class 1. Multi-class: ``scores [n, C]`` (one-vs-rest, macro)."""
    return _ranking("ROC AUC", _sklearn().roc_auc_score, y_true, scores)


def average_precision(y_true: np.ndarray, scores: np.ndarray) -> Metric:
    """Binary: ``scores [n]`` for class 1. Multi-class: ``scores [n, C]`` (one-vs-rest, macro)."""
    return _ranking("average precision", _sklearn().average_precision_score, y_true, scores)


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> Metric:
    t, p, dropped = finite_pairs(y_true, y_pred)
    if not len(t):
        return _undefined("accuracy", "no finite pair", 0, dropped)
    return Metric(float(_sklearn().accuracy_score(t.astype(np.int64), p.astype(np.int64))), len(t), dropped)


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray) -> Metric:
    t, p, dropped = finite_pairs(y_true, y_pred)
    if not len(t):
        return _undefined("macro F1", "no finite pair", 0, dropped)
    value = _sklearn().f1_score(t.astype(np.int64), p.astype(np.int64), average="macro", zero_division=0.0)
    return Metric(float(value), len(t), dropped)


def brier(y_true: np.ndarray, probabilities: np.ndarray) -> Metric:
    """Binary: ``probabilities [n]`` of class 1. Multi-class: ``[n, C]``."""
    t, p, dropped = finite_pairs(y_true, probabilities)
    if not len(t):
        return _undefined("Brier score", "no finite pair", 0, dropped)
    if p.ndim == 1:
        return Metric(float(_sklearn().brier_score_loss(t, p, pos_label=1)), len(t), dropped)
    onehot = np.eye(p.shape[1])[t.astype(np.int64)]
    return Metric(float(np.mean(np.sum((p - onehot) ** 2, axis=1))), len(t), dropped)


def reliability(y_true: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> dict[str, np.ndarray]:
    """Per equal-width bin of the forecast probability: ``count``, mean ``confidence`` and observed ``frequency``.

    Binary (``probabilities [n]`` of class 1): the bins of P(class 1) against the frequency of class 1.
    Multi-class (``[n, C]``): the top-label confidence against the accuracy of the most likely class. Pairs with
    a non-finite target or probability are left out."""
    t, p, _ = finite_pairs(y_true, probabilities)
    if p.ndim > 1:
        confidence, hit = p.max(axis=1), (p.argmax(axis=1) == t).astype(np.float64)
    else:
        confidence, hit = p, (t == 1).astype(np.float64)
    index = np.clip((confidence * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(index, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, confidence, minlength=bins) / count
        frequency = np.bincount(index, hit, minlength=bins) / count
    return {"count": count, "confidence": mean_confidence, "frequency": frequency}


def ece(y_true: np.ndarray, probabilities: np.ndarray, bins: int = BINS) -> Metric:
    """Expected calibration error ``sum_b (n_b / n) |confidence_b - frequency_b|`` (:func:`reliability`)."""
    t, _, dropped = finite_pairs(y_true, probabilities)
    if not len(t):
        return _undefined("ECE", "no finite pair", 0, dropped)
    table = reliability(y_true, probabilities, bins)
    used = table["count"] > 0
    gaps = np.abs(table["confidence"][used] - table["frequency"][used])
    return Metric(float(np.sum(table["count"][used] * gaps) / len(t)), len(t), dropped)


def mean_score(y_true: np.ndarray, score: np.ndarray, name: str = "score") -> Metric:
    """The mean of a per-element ``score`` (e.g. CRPS) over the elements where it and the target are finite."""
    t, s, dropped = finite_pairs(y_true, score)
    if not len(t):
        return _undefined(name, "no finite pair", 0, dropped)
    return Metric(float(np.mean(s)), len(t), dropped)


def _interval_rows(y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, int]:
    y_true, lower, upper = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (y_true, lower, upper))
    keep = np.isfinite(y_true) & ~np.isnan(lower) & ~np.isnan(upper)  # an infinite bound is a valid bound
    return keep, int((~keep).sum())


def coverage(y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Metric:
    """Fraction of the targets with ``lower <= y <= upper``."""
    keep, dropped = _interval_rows(y_true, lower, upper)
    if not keep.any():
        return _undefined("coverage", "no finite pair", 0, dropped)
    y, lo, hi = (np.asarray(a, dtype=np.float64).reshape(-1)[keep] for a in (y_true, lower, upper))
    return Metric(float(np.mean((lo <= y) & (y <= hi))), int(keep.sum()), dropped)


def width(y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Metric:
    """Mean interval width ``upper - lower`` over the elements :func:`coverage` uses."""
    keep, dropped = _interval_rows(y_true, lower, upper)
    if not keep.any():
        return _undefined("interval width", "no finite pair", 0, dropped)
    lo, hi = (np.asarray(a, dtype=np.float64).reshape(-1)[keep] for a in (lower, upper))
    return Metric(float(np.mean(hi - lo)), int(keep.sum()), dropped)


def interval_score(y_true: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float) -> Metric:
    """Mean interval score of the central ``level`` % intervals ``[lower, upper]``, ``a = 1 - level / 100``:
    ``(u - l) + (2 / a) max(l - y, 0) + (2 / a) max(y - u, 0)`` (lower is better; a proper score when ``l``
    and ``u`` are meant as the ``a/2`` and ``1 - a/2`` quantiles), over the elements :func:`coverage` uses."""
    keep, dropped = _interval_rows(y_true, lower, upper)
    if not keep.any():
        return _undefined("interval score", "no finite pair", 0, dropped)
    y, lo, hi = (np.asarray(a, dtype=np.float64).reshape(-1)[keep] for a in (y_true, lower, upper))
    alpha = 1.0 - level / 100.0
    with np.errstate(invalid="ignore"):  # an infinite bound: infinite width, no miss on that side
        penalty = (2.0 / alpha) * (np.where(y < lo, lo - y, 0.0) + np.where(y > hi, y - hi, 0.0))
    return Metric(float(np.mean((hi - lo) + penalty)), int(keep.sum()), dropped)


def interval_levels(columns: Mapping[str, np.ndarray]) -> list[int]:
    """The central-interval levels (percent) with both ``lower_L`` and ``upper_L`` columns, ascending."""
    return sorted(int(k[6:]) for k in columns if k.startswith("lower_") and k[6:].isdigit() and f"upper_{k[6:]}" in columns)


def forecast_metrics(y_true: np.ndarray, columns: Mapping[str, np.ndarray]) -> dict[str, Metric]:
    """``mae`` and ``rmse`` of ``prediction``; ``crps`` (mean of the per-element ``crps`` column) and
    ``coverage_L`` / ``width_L`` / ``interval_score_L`` for every central interval ``lower_L``/``upper_L``, where
    present."""
    out = {"mae": mae(y_true, columns["prediction"]), "rmse": rmse(y_true, columns["prediction"])}
    if "crps" in columns:
        out["crps"] = mean_score(y_true, columns["crps"], "CRPS")
    for level in interval_levels(columns):
        lower, upper = columns[f"lower_{level}"], columns[f"upper_{level}"]
        out[f"coverage_{level}"] = coverage(y_true, lower, upper)
        out[f"width_{level}"] = width(y_true, lower, upper)
        out[f"interval_score_{level}"] = interval_score(y_true, lower, upper, level)
    return out


def n_classes(columns: Mapping[str, object]) -> int:
    """How many class-probability columns ``p0`` .. ``p{C-1}`` there are."""
    return sum(1 for k in columns if k[:1] == "p" and k[1:].isdigit())


def class_probabilities(columns: Mapping[str, np.ndarray]) -> np.ndarray:
    """The ``p0`` .. ``p{C-1}`` columns as ``[n, C]``."""
    return np.stack([np.asarray(columns[f"p{c}"], dtype=np.float64) for c in range(n_classes(columns))], axis=-1)


def classification_metrics(y_true: np.ndarray, columns: Mapping[str, np.ndarray]) -> dict[str, Metric]:
    """``auc``, ``ap``, ``accuracy``, ``macro_f1``, ``brier``, ``ece`` from the class probabilities ``p0`` ..
    and the predicted class ``prediction`` (two classes: scored as binary, on ``p1``)."""
    p = class_probabilities(columns)
    scores = p[:, 1] if p.shape[1] == 2 else p
    labels = columns["prediction"]
    return {
        "auc": roc_auc(y_true, scores),
        "ap": average_precision(y_true, scores),
        "accuracy": accuracy(y_true, labels),
        "macro_f1": macro_f1(y_true, labels),
        "brier": brier(y_true, scores),
        "ece": ece(y_true, scores),
    }
