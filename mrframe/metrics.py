"""NaN-aware metrics on scikit-learn that never crash and never hide what they dropped.

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
=====================  ===============================================================================
"""

from __future__ import annotations

import functools
import math
import warnings
from types import ModuleType

import attrs
import numpy as np

__all__ = ["Metric", "MetricWarning", "mae", "rmse", "roc_auc", "average_precision", "accuracy", "macro_f1", "brier"]


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
    y_pred = y_pred.reshape(len(y_true), -1) if y_pred.ndim > 1 else y_pred.reshape(-1)
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
    return Metric(float(_sklearn().mean_absolute_error(t, p)), len(t), dropped)


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> Metric:
    t, p, dropped = finite_pairs(y_true, y_pred)
    if not len(t):
        return _undefined("RMSE", "no finite pair", 0, dropped)
    return Metric(math.sqrt(float(_sklearn().mean_squared_error(t, p))), len(t), dropped)


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
