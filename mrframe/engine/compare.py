"""A model beside the trivial baselines: per-baseline verdicts, the skill against the strongest one, MASE, and
what to say when a split has no target at all.

* Each baseline is scored by the task kind's own :meth:`~mrframe.interfaces.PredictionKind.metrics` on the
  targets where both its and the model's point prediction are finite; the model **beats** it when its
  ``headline`` metric (lower is better: ``mae`` for forecasts, ``brier`` for classes) is lower there.
* Skill against a baseline: ``1 - headline_model / headline_baseline`` on those targets (> 0: better); against a
  baseline without error (``headline_baseline = 0``, e.g. persistence on a count that stayed at zero) it is 0 when
  the model is exact too and ``-inf`` when it is not. The **strongest** baseline is the one the model has the
  least skill against, so the task's ``skill`` is the smallest of them and the model ``beats_strongest`` only
  when it beats every baseline.
* ``mase``: ``mean_i |y_i - y_hat_i| / d_f(i)``, with ``d_f`` the mean absolute one-step change of feature ``f``
  over the training split's targets (consecutive observed steps, source units; a spatial target's pooled over its
  regions, as its scaling is): a naive one-step forecast scores about 1 in training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from mrframe.data.dataset import BatchLoader, WindowDataset
from mrframe.data.pipeline import PreparedData
from mrframe.data.split import target_steps
from mrframe.engine.baselines import MajorityClass
from mrframe.engine.regional import error_map_name
from mrframe.metrics import n_classes

if TYPE_CHECKING:
    from mrframe.engine.evaluate import TaskOutputs


def class_priors(dataset: WindowDataset, outputs: Mapping[str, TaskOutputs], batch_size: int) -> dict[str, MajorityClass]:
    """The training split's class counts of every task whose kind is compared with class frequencies."""
    counters = {}
    for task, o in outputs.items():
        if o.kind.baselines == "classes":
            counters[task] = MajorityClass(n_classes(o.columns) or 2)
    if counters:
        for batch in BatchLoader(dataset, batch_size):
            for task, counter in counters.items():
                counter.add(batch.targets[task])
    return counters


def _finite(columns: Mapping[str, np.ndarray], n: int) -> np.ndarray:
    prediction = columns.get("prediction")
    return np.isfinite(prediction) if prediction is not None else np.zeros(n, dtype=bool)


def compare_with_baselines(outputs: TaskOutputs, majority: MajorityClass | None = None) -> dict[str, Any]:
    """Each baseline's metrics next to the model's on the same targets, the verdict and the skill."""
    headline = outputs.kind.headline
    if headline is None:
        return {}
    n = len(outputs.target)
    candidates = dict(outputs.baselines)
    if majority is not None:
        candidates["majority"] = majority.columns(n)
    model_finite = _finite(outputs.columns, n)
    result = {}
    for name, columns in candidates.items():
        defined = model_finite & _finite(columns, n)
        if not defined.any():  # nothing to compare on: say so, without a metric warning per metric
            result[name] = {"elements": 0, "baseline": {}, "model": {}, "beats": False, "skill": math.nan}
            continue
        target = outputs.target[defined]
        model = outputs.kind.metrics(target, {k: v[defined] for k, v in outputs.columns.items()})
        baseline = outputs.kind.metrics(target, {k: v[defined] for k, v in columns.items()})
        ours, theirs = model[headline].value, baseline[headline].value
        result[name] = {
            "elements": int(defined.sum()),
            "baseline": {k: m.value for k, m in baseline.items()},
            "model": {k: m.value for k, m in model.items() if k in baseline},
            "beats": bool(ours < theirs),
            "skill": skill(ours, theirs),
        }
    return result


def skill(model: float, baseline: float) -> float:
    """``1 - model / baseline`` for a lower-is-better metric; 0 when both are 0, ``-inf`` when only the baseline
    is (nothing beats an exact baseline), NaN when either is undefined."""
    if math.isnan(model) or math.isnan(baseline):
        return math.nan
    if baseline > 0:
        return 1.0 - model / baseline
    return 0.0 if model <= baseline else -math.inf


def summarise(baselines: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``skill`` against the strongest baseline, its name and whether the model beats it (None without any)."""
    scored = {name: b["skill"] for name, b in baselines.items() if b["elements"] and not math.isnan(b["skill"])}
    if not scored:
        return {"skill": None, "strongest": None, "beats_strongest": None}
    strongest = min(scored, key=scored.get)
    return {"skill": scored[strongest], "strongest": strongest, "beats_strongest": scored[strongest] > 0}


def naive_scale(data: PreparedData, task: str) -> np.ndarray:
    """``[F]``: mean absolute one-step change of each target feature over the training split's targets (source
    units; over every region of a spatial target; NaN for a feature with no two consecutive observed steps)."""
    plan = data.targets[task]
    anchors = data.split.anchors["train"]
    if plan.values is None or not len(anchors):
        return np.full(plan.info.n_features, np.nan)
    last = target_steps(data.timeline, plan.info, anchors)
    first = max(int(last.min()) - plan.info.span + 1, 0)
    values = data.to_source_units(task, plan.values[first: int(last.max()) + 1].astype(np.float64))
    with np.errstate(invalid="ignore"):  # a spatial target's changes pooled over its regions
        change = np.abs(np.diff(values, axis=0)).reshape(-1, plan.info.n_features)
    counts = np.isfinite(change).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, np.nansum(change, axis=0) / counts, np.nan)


def mase(outputs: TaskOutputs, data: PreparedData, task: str) -> float:
    """``mean_i |y_i - y_hat_i| / d_f(i)`` over the targets with a finite prediction and a positive scale."""
    scale = naive_scale(data, task)[outputs.feature] if len(outputs.feature) else np.zeros(0)
    error = np.abs(outputs.target - outputs.columns["prediction"])
    keep = np.isfinite(error) & np.isfinite(scale) & (scale > 0)
    return float(np.mean(error[keep] / scale[keep])) if keep.any() else math.nan


def no_targets_reason(data: PreparedData, task: str, split: str) -> str:
    """Why ``split`` holds no observed target of ``task``: no sample at all, or the source's last observation."""
    dataset = data.datasets[split]
    if not len(dataset):
        return f"no {split} targets: the {split} split has no sample"
    plan = data.targets[task]
    observed = (np.flatnonzero(np.isfinite(plan.values).reshape(len(plan.values), -1).any(axis=1))
                if plan.values is not None else np.zeros(0))
    first = int(target_steps(data.timeline, plan.info, dataset.anchors[:1])[0]) - plan.info.span + 1
    features = ", ".join(plan.info.features)
    if (observed >= first).any():
        return f"no {split} targets: none of the {len(dataset)} {split} samples has an observed target ({features})"
    if not len(observed):
        return f"no {split} targets: {plan.info.source} has no observation of {features}"
    return f"no {split} targets: {plan.info.source} has no observation after {_row_date(data, plan.info, observed[-1])}"


def _row_date(data: PreparedData, info: Any, row: int) -> str:
    if info.resolution == "daily":
        return str(data.timeline.first_day + int(row))
    return str(np.datetime64(int(data.timeline.month0 + row), "M").astype("datetime64[D]"))


def evaluation_lines(report: Mapping[str, Any], title: str) -> list[str]:
    """One line per task with its metrics, its skill against the strongest baseline, then one line per
    baseline: its headline metric beside the model's and the verdict (and both CRPS where both have one), and for
    a spatial task in how many regions the model beats each baseline."""
    lines = [f"{title}, {report['samples']} samples:"]
    for task, t in report["tasks"].items():
        head = f"  {task} [{t['kind']}, {t['count']} targets]:"
        if not t["count"]:
            lines.append(f"{head} {t.get('note', 'no targets')}")
            continue
        metrics = "  ".join(f"{k} {number(v)}" for k, v in t["metrics"].items())
        if not metrics:  # a kind without metrics or baselines (a covariance): judged by its loss alone
            metrics = f"loss {number(t.get('loss'))} (no metrics or baselines for {t['kind']} predictions)"
        dropped = f"  ({t['dropped']} non-finite predictions dropped)" if t["dropped"] else ""
        lines.append(f"{head} {metrics}{dropped}")
        headline = t["headline"]
        if t.get("strongest") is not None:
            verdict = "beats it" if t["beats_strongest"] else "does NOT beat it"
            lines.append(f"    skill {number(t['skill'])} against the strongest baseline, {t['strongest']}: {verdict}")
        for name, b in t["baselines"].items():
            if not b["elements"]:
                lines.append(f"    {name}: undefined on every target")
                continue
            verdict = "beats" if b["beats"] else "does NOT beat"
            crps = (f"; crps {number(b['model']['crps'])} vs {number(b['baseline']['crps'])}"
                    if headline != "crps" and "crps" in b["model"] and "crps" in b["baseline"] else "")
            lines.append(f"    {verdict} {name}: {headline} {number(b['model'][headline])} vs "
                         f"{number(b['baseline'][headline])} on {b['elements']} targets (skill {number(b['skill'])})"
                         f"{crps}")
        beats = t.get("regions", {}).get("beats", {})
        if beats:
            counts = "; ".join(f"{name} in {b['regions']} (ties {b['ties']}) of {b['of']}" for name, b in beats.items())
            lines.append(f"    per region, beats {counts} regions (map: plots/{error_map_name(task, report['split'])})")
    return lines


def number(value: float | None) -> str:
    """A metric as the console shows it (4 significant digits; None and NaN as nan)."""
    return "nan" if value is None or value != value else f"{value:.4g}"
