"""Evaluation of a network over a split: task losses, NaN-aware metrics, and trivial baselines beside them.

A task's kind follows the prediction conventions of :class:`mrframe.interfaces.Head`:

* ``point`` (whatever the head's :meth:`~mrframe.interfaces.Head.point` gives: the forecast, a Gaussian's mean,
  a count head's expected count): ``mae``, ``rmse``;
* ``binary`` (``{"logits"}`` shaped like the target): ``auc``, ``ap``, ``accuracy`` (p >= 0.5), ``macro_f1``,
  ``brier``;
* ``multiclass`` (``{"logits"}`` with a trailing class axis): the same, one-vs-rest for the ranking metrics.

Metrics use the observed targets only; ``count`` is their number and ``dropped`` how many of them had a
non-finite prediction (left out of every metric). A task's split ``loss`` is the count-weighted mean of its
batch losses. ``units = "source"`` converts targets, predictions and baselines of point tasks back to the
source's units (:meth:`PreparedData.to_source_units`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np
import torch

from mrframe import metrics as M
from mrframe.data.dataset import BatchLoader, WindowDataset
from mrframe.data.pipeline import PreparedData
from mrframe.engine.baselines import MajorityClass, persistence, seasonal_naive
from mrframe.engine.device import Precision, to_float32
from mrframe.engine.early_stopping import ANCHORED
from mrframe.engine.network import Network
from mrframe.engine.regional import region_report
from mrframe.interfaces import StepContext, TargetInfo
from mrframe.observed import TaskLoss

HEADLINE = {"point": "mae", "binary": "brier", "multiclass": "brier"}
"""The metric (lower is better) that decides whether a model beats a baseline, per task kind."""


@attrs.frozen(eq=False)
class TaskOutputs:
    """One task over a split: observed targets and predictions, flattened over samples, steps and features.

    ``sample`` is each element's row in the split (for per-sample views); ``prediction`` is the point forecast
    (point), P(class 1) (binary) or class probabilities ``[n, C]`` (multiclass); ``baselines`` are point
    forecasts on the same elements (NaN where a baseline is undefined); ``region`` is each element's region
    (position in the target's region table) for a spatial target, else None.
    """

    kind: str
    target: np.ndarray
    prediction: np.ndarray
    sample: np.ndarray
    baselines: dict[str, np.ndarray]
    loss: float
    region: np.ndarray | None = None


def task_kind(prediction: Any, target_shape: torch.Size) -> str:
    if isinstance(prediction, Mapping) and "logits" in prediction:
        return "multiclass" if prediction["logits"].dim() == len(target_shape) + 1 else "binary"
    return "point"


def as_scores(kind: str, head: Any, prediction: Any) -> torch.Tensor:
    """What metrics compare with targets: ``head.point`` (point), P(class 1) (binary), class probabilities."""
    if kind == "binary":
        return torch.sigmoid(prediction["logits"])
    if kind == "multiclass":
        return torch.softmax(prediction["logits"], dim=-1)
    return head.point(prediction)


def _baseline_scale(data: PreparedData, info: TargetInfo, columns: np.ndarray) -> Callable[[np.ndarray], np.ndarray] | None:
    """How input-window values (normalised) become the target's units; None when they cannot. ``columns``:
    the target features' positions among the source's features."""
    if info.units == "normalised":
        return lambda values: values
    scalings = data.normaliser.scalings
    if info.source not in scalings:
        return None
    return lambda values: scalings[info.source].invert(values, columns)


@torch.no_grad()
def collect(
    network: Network,
    dataset: WindowDataset,
    batch_size: int,
    device: torch.device,
    precision: Precision | None = None,
    data: PreparedData | None = None,
    source_units: bool = False,
    progress: Callable[[Any], Any] | None = None,
) -> dict[str, TaskOutputs]:
    """Run the network over ``dataset`` (eval mode) and gather every task's outputs.

    With ``data``, point tasks whose target source is an input also get their baselines, and with
    ``source_units`` their values are converted back to the source's units."""
    precision = precision or Precision(device.type, None)
    was_training = network.training
    network.eval()
    heads = network.model.heads
    parts: dict[str, dict[str, list]] = {t: {"target": [], "prediction": [], "sample": []} for t in network.tasks}
    loss_sum = dict.fromkeys(network.tasks, 0.0)
    loss_count = dict.fromkeys(network.tasks, 0.0)
    kinds: dict[str, str] = {}
    batches = BatchLoader(dataset, batch_size)
    for batch in progress(batches) if progress else batches:
        batch = batch.to(device)
        with precision.autocast():
            predictions = to_float32(network(batch.inputs, batch.calendar))
        for task in network.tasks:
            target = batch.targets[task]
            result = network.losses[task](predictions[task], target.values, target.mask)
            count = float(result.count)
            if count > 0:
                loss_sum[task] += float(result.value) * count
                loss_count[task] += count
            kind = kinds.setdefault(task, task_kind(predictions[task], target.values.shape))
            values = {
                "target": target.values.double().cpu().numpy(),
                "prediction": as_scores(kind, heads[task], predictions[task]).double().cpu().numpy(),
            }
            info: TargetInfo = heads[task].target
            if kind == "point" and data is not None:
                values |= _baselines(batch.inputs, data, info)
                if source_units:
                    values = {k: data.to_source_units(task, v) for k, v in values.items()}
            mask = target.mask.cpu().numpy()
            values["sample"] = np.broadcast_to(batch.index.cpu().numpy().reshape(-1, *(1,) * (mask.ndim - 1)),
                                               mask.shape)
            if info.regions is not None:  # [B, span, R, F]: each element's region
                values["region"] = np.broadcast_to(np.arange(len(info.regions)).reshape(-1, 1), mask.shape)
            for key, array in values.items():
                parts[task].setdefault(key, []).append(array[mask])
    network.train(was_training)
    out = {}
    for task, p in parts.items():
        kind = kinds.get(task, "point")
        out[task] = TaskOutputs(
            kind=kind,
            target=_join(p["target"]),
            prediction=_join(p["prediction"]),
            sample=_join(p["sample"]).astype(np.int64),
            baselines={k: _join(v) for k, v in p.items() if k not in ("target", "prediction", "sample", "region")},
            loss=loss_sum[task] / loss_count[task] if loss_count[task] else math.nan,
            region=_join(p["region"]).astype(np.int64) if "region" in p else None,
        )
    return out


def _baselines(inputs: Mapping[str, Any], data: PreparedData, info: TargetInfo) -> dict[str, np.ndarray]:
    features = data.inputs[info.source].features if info.source in data.inputs else ()
    if info.source not in inputs or not set(info.features) <= set(features):
        return {}  # the target's source is no input, or the model sees it reduced (filtered, PCA)
    columns = np.asarray([features.index(f) for f in info.features])
    scale = _baseline_scale(data, info, data.targets[info.task].columns)
    if scale is None:
        return {}
    window = inputs[info.source]
    return {
        "persistence": scale(persistence(window, columns, info)),
        "seasonal_naive": scale(seasonal_naive(window, columns, info)),
    }


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0)


def task_metrics(outputs: TaskOutputs, prediction: np.ndarray | None = None) -> dict[str, M.Metric]:
    """The metrics of ``outputs.kind`` on the observed targets (``prediction`` replaces the model's, e.g. a
    baseline's)."""
    y = outputs.target
    p = outputs.prediction if prediction is None else prediction
    if outputs.kind == "point":
        return {"mae": M.mae(y, p), "rmse": M.rmse(y, p)}
    labels = p.argmax(axis=-1) if outputs.kind == "multiclass" else (p >= 0.5).astype(np.float64)
    labels = np.where(_finite_rows(p), labels, np.nan)
    return {
        "auc": M.roc_auc(y, p),
        "ap": M.average_precision(y, p),
        "accuracy": M.accuracy(y, labels),
        "macro_f1": M.macro_f1(y, labels),
        "brier": M.brier(y, p),
    }


def split_metrics(outputs: Mapping[str, TaskOutputs], prefix: str) -> dict[str, float]:
    """Flat epoch metrics: ``{prefix}/{task}/loss``, ``/count``, ``/dropped`` and each metric's value."""
    out: dict[str, float] = {}
    for task, o in outputs.items():
        out[f"{prefix}/{task}/loss"] = o.loss
        out[f"{prefix}/{task}/count"] = float(len(o.target))
        values = task_metrics(o)
        out[f"{prefix}/{task}/dropped"] = float(next(iter(values.values())).dropped) if values else 0.0
        out |= {f"{prefix}/{task}/{name}": m.value for name, m in values.items()}
    return out


def validation_metrics(
    network: Network,
    dataset: WindowDataset,
    batch_size: int,
    device: torch.device,
    precision: Precision,
    context: StepContext,
) -> dict[str, float]:
    """An epoch's validation metrics: each task's ``val/TASK/...`` (:func:`split_metrics`), ``val_loss`` (the
    weighting policy's total over the split's task losses) and ``val_anchored`` (the policy's anchored score,
    NaN when it offers none)."""
    if not len(dataset):
        return {"val_loss": math.nan, ANCHORED: math.nan}
    outputs = collect(network, dataset, batch_size, device, precision)
    metrics = split_metrics(outputs, "val")
    losses = {t: o.loss for t, o in outputs.items()}
    present = {t: len(o.target) > 0 for t, o in outputs.items()}  # a NaN loss with targets stays NaN
    split = {
        t: TaskLoss(torch.tensor(losses[t] if present[t] else 0.0, device=device),
                    torch.tensor(int(present[t]), device=device), 1)
        for t in outputs
    }
    with torch.no_grad():
        total = float(network.weighting.combine(split, context).total)
    metrics["val_loss"] = total if any(present.values()) else math.nan
    anchored = network.weighting.anchored_score(losses)
    metrics[ANCHORED] = float(anchored) if anchored is not None else math.nan
    return metrics


def _finite_rows(values: np.ndarray) -> np.ndarray:
    return np.isfinite(values).all(axis=-1) if values.ndim > 1 else np.isfinite(values)


def class_priors(dataset: WindowDataset, outputs: Mapping[str, TaskOutputs],
                 batch_size: int) -> dict[str, np.ndarray]:
    """Training-split class frequencies of every classification task in ``outputs``."""
    counters = {}
    for task, o in outputs.items():
        if o.kind != "point":
            n_classes = o.prediction.shape[-1] if o.kind == "multiclass" and o.prediction.ndim == 2 else 2
            counters[task] = MajorityClass(n_classes)
    if counters:
        for batch in BatchLoader(dataset, batch_size):
            for task, counter in counters.items():
                counter.add(batch.targets[task])
    return {task: counter.prior for task, counter in counters.items()}


def compare_with_baselines(outputs: TaskOutputs, prior: np.ndarray | None = None) -> dict[str, Any]:
    """Each baseline's metrics next to the model's on the same elements, and whether the model beats it on
    the headline metric (:data:`HEADLINE`)."""
    headline = HEADLINE[outputs.kind]
    if outputs.kind == "point":
        candidates = outputs.baselines
    elif prior is not None:
        constant = prior[1] if outputs.kind == "binary" else prior
        candidates = {"majority": np.broadcast_to(constant, outputs.prediction.shape).astype(np.float64)}
    else:
        candidates = {}
    result = {}
    model_finite = _finite_rows(outputs.prediction)
    for name, prediction in candidates.items():
        defined = _finite_rows(prediction) & model_finite
        same = TaskOutputs(outputs.kind, outputs.target[defined], outputs.prediction[defined],
                           outputs.sample[defined], {}, outputs.loss)
        model, baseline = task_metrics(same), task_metrics(same, prediction[defined])
        result[name] = {
            "elements": int(defined.sum()),
            "baseline": {k: m.value for k, m in baseline.items()},
            "model": {k: m.value for k, m in model.items()},
            "beats": bool(model[headline].value < baseline[headline].value),
        }
    return result


def evaluation_report(
    network: Network,
    data: PreparedData,
    split: str,
    batch_size: int,
    device: torch.device,
    precision: Precision | None = None,
    checkpoint: str = "",
    progress: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Every task's metrics on ``split`` in source units, with the baselines beside them (JSON-ready)."""
    dataset = data.datasets[split]
    outputs = collect(network, dataset, batch_size, device, precision, data=data, source_units=True,
                      progress=progress)
    priors = class_priors(data.datasets["train"], outputs, batch_size)
    tasks = {}
    for task, o in outputs.items():
        values = task_metrics(o)
        baselines = compare_with_baselines(o, priors.get(task))
        tasks[task] = {
            "kind": o.kind,
            "headline": HEADLINE[o.kind],
            "loss": o.loss,
            "count": len(o.target),
            "dropped": next(iter(values.values())).dropped,
            "metrics": {name: m.value for name, m in values.items()},
            "baselines": baselines,
            "beats": {name: b["beats"] for name, b in baselines.items()},
        }
        if o.region is not None:
            tasks[task]["regions"] = region_report(o, network.model.heads[task].target.regions)
    return {"split": split, "checkpoint": checkpoint, "samples": len(dataset), "tasks": tasks}
