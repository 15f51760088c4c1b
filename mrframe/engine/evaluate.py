"""Evaluation of a network over a split: task losses, the prediction kinds' columns, scores and metrics, and the
trivial baselines beside them.

Everything a task's predictions mean comes from its :class:`~mrframe.interfaces.PredictionKind` (the head's
``prediction_kind``): its prediction columns and per-element scores, gathered over the observed targets of the
split, and its metrics over them. ``count`` is the number of observed targets and ``dropped`` how many of them had
a non-finite point prediction (left out of every metric). A task's split ``loss`` is the count-weighted mean of
its batch losses, in the units the head predicts (a framed task's frame, :mod:`mrframe.data.frames`); framed
predictions and targets are taken back to the target's units exactly (:meth:`PredictionKind.affine`) before
anything else. With ``data`` (the run's prepared data), targets, columns and baselines are in the source's
units (:func:`task_units`); per-epoch validation metrics stay in the target's units.

Kinds with a :meth:`~mrframe.interfaces.PredictionKind.calibrate` step (conformal intervals of point forecasts)
are calibrated on the validation split (:func:`calibrate`) and their calibrated columns appear on the other splits.
"""

from __future__ import annotations

import math
import pathlib
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import numpy as np
import torch

from mrframe.data.dataset import Batch, BatchLoader, WindowDataset
from mrframe.data.pipeline import PreparedData
from mrframe.engine.compare import class_priors, compare_with_baselines, mase, no_targets_reason, summarise
from mrframe.engine.device import Precision, to_float32
from mrframe.engine.early_stopping import ANCHORED
from mrframe.engine.files import nonfinite_predictions, result_target
from mrframe.engine.network import Network
from mrframe.engine.regional import region_report, write_error_maps
from mrframe.engine.results import write_results
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.targets import TaskWindow, task_units
from mrframe.errors import PluginError
from mrframe.interfaces import PredictionKind, StepContext, Units
from mrframe.metrics import Metric, MetricWarning
from mrframe.observed import Observed, TaskLoss
from mrframe.scores import ensemble_columns

LOCATORS = ("sample", "step", "feature", "region")
"""Per-element positions gathered beside the values (they are indices already, not masked tensors)."""


@attrs.frozen(eq=False)
class TaskOutputs:
    """One task over a split, flattened over its observed targets (samples x steps x features).

    ``columns`` are the kind's prediction columns and scores; ``baselines`` each baseline's columns on the same
    elements; ``sample`` (row in the split), ``step``, ``feature`` and, for targets with a region axis
    (``[B, span, R, F]``), ``region`` locate each element."""

    kind: PredictionKind
    target: np.ndarray
    columns: dict[str, np.ndarray]
    sample: np.ndarray
    step: np.ndarray
    feature: np.ndarray
    baselines: dict[str, dict[str, np.ndarray]]
    loss: float
    region: np.ndarray | None = None

    @property
    def dropped(self) -> int:
        """Observed targets whose point prediction is not finite."""
        prediction = self.columns.get("prediction")
        return int((~np.isfinite(prediction)).sum()) if prediction is not None else 0

    def metrics(self) -> dict[str, Metric]:
        """The kind's metrics; all NaN, and without a warning each, when the split has no target at all (the
        report says why instead, :func:`mrframe.engine.compare.no_targets_reason`)."""
        if len(self.target):
            return self.kind.metrics(self.target, self.columns)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MetricWarning)
            return self.kind.metrics(self.target, self.columns)


def in_target_units(kind: PredictionKind, batch: Batch, task: str, prediction: Any) -> tuple[Any, Observed]:
    """A task's prediction (in float64) and target in the target's units: a framed task's are taken back from
    its frame (:mod:`mrframe.data.frames`), any other's are as they are."""
    prediction, frame = in_float64(prediction), batch.frames.get(task)
    if frame is None:
        return prediction, batch.targets[task]
    return frame.decode(kind, prediction), frame.decode_target(batch.targets[task])


def in_float64(prediction: Any) -> Any:
    """A prediction (a tensor or a dict of tensors) with its floating tensors in float64."""
    if isinstance(prediction, torch.Tensor):
        return prediction.double() if prediction.is_floating_point() else prediction
    return {k: in_float64(v) for k, v in prediction.items()}


@torch.no_grad()
def collect(
    network: Network,
    dataset: WindowDataset,
    batch_size: int,
    device: torch.device,
    precision: Precision | None = None,
    data: PreparedData | None = None,
    calibration: Mapping[str, Mapping[str, torch.Tensor]] | None = None,
    progress: Callable[[Any], Any] | None = None,
) -> dict[str, TaskOutputs]:
    """Run the network over ``dataset`` (eval mode) and gather every task's columns, scores and targets.

    With ``data``, values are in the source's units and forecast kinds get their baselines."""
    precision = precision or Precision(device.type, None)
    was_training = network.training
    network.eval()
    model = network.model
    units = {t: task_units(data, t) if data is not None else Units.identity(model.heads[t].target.n_features)
             for t in network.tasks}
    windows = {t: TaskWindow.of(data, model.heads[t].target) for t in network.tasks} if data is not None else {}
    parts: dict[str, dict[str, list]] = {t: {} for t in network.tasks}
    loss_sum = dict.fromkeys(network.tasks, 0.0)
    loss_count = dict.fromkeys(network.tasks, 0.0)
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
            kind, to_source, window = model.kinds[task], units[task].to(device), windows.get(task)
            prediction, target = in_target_units(kind, batch, task, predictions[task])
            values = target.values.double()
            columns = prediction_columns(kind, prediction, to_source, (calibration or {}).get(task), window, batch)
            columns |= kind.scores(prediction, values, to_source)
            mask = target.mask
            found = {"target": to_source(values)} | {f"column.{k}": v for k, v in columns.items()}
            if window is not None and kind.baselines == "forecast":
                for name, members in window.baselines(batch).items():
                    found |= {f"{name}.{k}": v for k, v in ensemble_columns(members, found["target"]).items()}
            index = torch.nonzero(mask, as_tuple=True)
            found["sample"] = batch.index.to(device)[index[0]]
            found["step"], found["feature"] = index[1], index[-1]
            if mask.dim() == 4:
                found["region"] = index[2]
            for key, value in found.items():
                parts[task].setdefault(key, []).append((value if key in LOCATORS else value[mask])
                                                       .double().cpu().numpy())
    network.train(was_training)
    return {task: _outputs(model.kinds[task], p, loss_sum[task], loss_count[task]) for task, p in parts.items()}


def _outputs(kind: PredictionKind, parts: Mapping[str, list], loss_sum: float, loss_count: float) -> TaskOutputs:
    joined = {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in joined.items():
        if "." in key:
            owner, column = key.split(".", 1)
            groups.setdefault(owner, {})[column] = value
    empty = np.zeros(0)
    return TaskOutputs(
        kind=kind,
        target=joined.get("target", empty),
        columns=groups.pop("column", {}),
        sample=joined.get("sample", empty).astype(np.int64),
        step=joined.get("step", empty).astype(np.int64),
        feature=joined.get("feature", empty).astype(np.int64),
        baselines=groups,
        loss=loss_sum / loss_count if loss_count else math.nan,
        region=joined["region"].astype(np.int64) if "region" in joined else None,
    )


def _normalised(kind: PredictionKind, prediction: Any, scale: torch.Tensor | None) -> tuple[Any, torch.Tensor | None]:
    """``prediction / scale`` (through the kind's affine map) and the scale used; unscaled when there is no
    window scale or the kind cannot be rescaled."""
    if scale is None:
        return prediction, None
    try:
        return kind.affine(prediction, 0.0, 1.0 / scale), scale
    except PluginError:
        return prediction, None


def prediction_columns(kind: PredictionKind, prediction: Any, to_source: Units,
                       calibration: Mapping[str, torch.Tensor] | None, window: TaskWindow | None,
                       batch: Batch) -> dict[str, torch.Tensor]:
    """The kind's columns of ``prediction``, plus those a calibration adds (intervals), computed in the space it
    was fitted in: divided by the window's spread (at least the calibration's ``scale_floor``) when it was
    normalised (:func:`calibrate`)."""
    plain = kind.columns(prediction, to_source)
    if calibration is None:
        return plain
    floor = calibration.get("scale_floor")
    scale = (torch.maximum(window.scale(batch), floor.to(batch.index.device))
             if window is not None and floor is not None else None)
    scaled, scale = _normalised(kind, prediction, scale)
    units = to_source.scaled(scale) if scale is not None else to_source
    return plain | {k: v for k, v in kind.columns(scaled, units, calibration).items() if k not in plain}


SPREAD_FLOOR = 0.1
"""Normalised conformal scores divide by a window's spread, but by at least this fraction of the validation
samples' mean spread (per step and feature, pooled over regions)."""


@torch.no_grad()
def calibrate(network: Network, data: PreparedData, batch_size: int, device: torch.device,
              precision: Precision | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """Each task's kind calibrated on the validation split (:meth:`PredictionKind.calibrate`), in the target's
    units divided by ``max(σ̂, σ_min)`` where the target's source is an input and the kind can be rescaled
    (normalised conformal scores: ``σ̂`` is the sample's window spread, :meth:`TaskWindow.scale`; ``σ_min``
    :data:`SPREAD_FLOOR` times the mean of ``σ̂`` over the validation samples (and regions), per step and feature, kept as the
    calibration's ``scale_floor``), else in the target's units; tasks whose kind has nothing to fit are left out.

    ``σ_min`` keeps windows that happen to be flat (a quiet region, a feature that did not move) from dividing
    their residuals by almost nothing, which would make every other window's interval enormous."""
    dataset = data.datasets["val"]
    kinds = network.model.kinds
    tasks = [t for t in network.tasks if type(kinds[t]).calibrate is not PredictionKind.calibrate]
    if not len(dataset) or not tasks:
        return {}
    windows = {t: TaskWindow.of(data, network.model.heads[t].target) for t in tasks}
    precision = precision or Precision(device.type, None)
    was_training = network.training
    network.eval()
    kept: dict[str, list] = {t: [] for t in tasks}
    for batch in BatchLoader(dataset, batch_size):
        batch = batch.to(device)
        with precision.autocast():
            predictions = to_float32(network(batch.inputs, batch.calendar))
        for task in tasks:
            prediction, target = in_target_units(kinds[task], batch, task, predictions[task])
            kept[task].append((prediction, target.values.double(), target.mask, windows[task].scale(batch)))
    network.train(was_training)
    out = {}
    for task, parts in kept.items():
        prediction = _concat([p for p, _, _, _ in parts])
        values, mask = torch.cat([v for _, v, _, _ in parts]), torch.cat([m for _, _, m, _ in parts])
        spreads = torch.cat([s for _, _, _, s in parts])
        pooled = (0, *range(2, spreads.dim() - 1))  # over samples and regions: per step and feature
        floor = SPREAD_FLOOR * torch.nanmean(spreads, dim=pooled, keepdim=True)[0]
        prediction, scale = _normalised(kinds[task], prediction, torch.maximum(spreads, floor))
        if scale is not None:
            values, mask = values / scale, mask & torch.isfinite(scale)
        fitted = kinds[task].calibrate(prediction, values, mask)
        if fitted is not None:
            out[task] = {**fitted, **({"scale_floor": floor} if scale is not None else {})}
    return out


def _concat(parts: list[Any]) -> Any:
    if isinstance(parts[0], torch.Tensor):
        return torch.cat(parts)
    return {k: _concat([p[k] for p in parts]) for k in parts[0]}


def split_metrics(outputs: Mapping[str, TaskOutputs], prefix: str) -> dict[str, float]:
    """Flat epoch metrics: ``{prefix}/{task}/loss``, ``/count``, ``/dropped`` and each metric's value."""
    out: dict[str, float] = {}
    for task, o in outputs.items():
        out[f"{prefix}/{task}/loss"] = o.loss
        out[f"{prefix}/{task}/count"] = float(len(o.target))
        out[f"{prefix}/{task}/dropped"] = float(o.dropped)
        out |= {f"{prefix}/{task}/{name}": m.value for name, m in o.metrics().items()}
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


def evaluate_split(
    network: Network,
    data: PreparedData,
    split: str,
    batch_size: int,
    device: torch.device,
    precision: Precision | None = None,
    progress: Callable[[Any], Any] | None = None,
) -> dict[str, TaskOutputs]:
    """Every task's outputs on ``split`` in the source's units, with baselines, calibrated on validation (the
    validation split itself is not scored with intervals calibrated on it)."""
    calibration = calibrate(network, data, batch_size, device, precision) if split != "val" else {}
    return collect(network, data.datasets[split], batch_size, device, precision, data=data,
                   calibration=calibration, progress=progress)


def evaluation_report(
    network: Network,
    data: PreparedData,
    split: str,
    batch_size: int,
    device: torch.device,
    precision: Precision | None = None,
    checkpoint: str = "",
    progress: Callable[[Any], Any] | None = None,
    directory: RunDirectory | None = None,
) -> dict[str, Any]:
    """Every task's metrics on ``split`` in source units, with the baselines, the skill against the strongest
    one and MASE beside them (JSON-ready). With ``directory``, also writes them (:func:`write_evaluation`)."""
    outputs = evaluate_split(network, data, split, batch_size, device, precision, progress)
    report = report_of(outputs, data, split, batch_size, checkpoint)
    if directory is not None:
        write_evaluation(directory, split, report, outputs, data)
    return report


def report_of(outputs: Mapping[str, TaskOutputs], data: PreparedData, split: str, batch_size: int,
              checkpoint: str = "") -> dict[str, Any]:
    """The JSON-ready report of a split's outputs (:func:`evaluation_report`)."""
    priors = class_priors(data.datasets["train"], outputs, batch_size)
    tasks = {}
    for task, o in outputs.items():
        metrics = {name: m.value for name, m in o.metrics().items()}
        if "mae" in metrics:
            metrics["mase"] = mase(o, data, task)
        baselines = compare_with_baselines(o, priors.get(task))
        tasks[task] = {
            "kind": o.kind.name,
            "headline": o.kind.headline,
            "loss": o.loss,
            "count": len(o.target),
            "dropped": o.dropped,
            "metrics": metrics,
            "baselines": baselines,
            "beats": {name: b["beats"] for name, b in baselines.items()},
            **summarise(baselines),
        }
        if not len(o.target):
            tasks[task]["note"] = no_targets_reason(data, task, split)
        if o.region is not None:
            tasks[task]["regions"] = region_report(o, data.target_infos[task].regions)
    return {"split": split, "checkpoint": checkpoint, "samples": len(data.datasets[split]), "tasks": tasks}


def write_evaluation(directory: RunDirectory, split: str, report: Mapping[str, Any],
                     outputs: Mapping[str, TaskOutputs], data: PreparedData) -> tuple[pathlib.Path, str | None]:
    """Write ``evaluation-SPLIT.json``, the split's forecasts and plots (:mod:`mrframe.engine.results`), and
    the error map of each spatial task (:func:`~mrframe.engine.regional.write_error_maps`).

    A report with non-finite predictions never replaces an earlier one: it goes beside it
    (:func:`~mrframe.engine.files.result_target`) and the earlier forecasts and plots are left as they are.
    Returns the file the report went to and a warning for the user (None when there is nothing to say)."""
    default = directory.evaluation(split)
    suspect = nonfinite_predictions({t: r["dropped"] for t, r in report["tasks"].items()})
    out, warning = result_target(default, suspect)
    directory.write_json(out, dict(report))
    if out == default:
        write_results(directory, split, outputs, data.datasets[split], data.target_infos, directory.path.name)
        write_error_maps(directory, report, data.target_infos)
    return out, warning
