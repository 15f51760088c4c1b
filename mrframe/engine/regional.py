"""Per-region evaluation of spatial tasks: each region's error beside each baseline's, and a map of it.

For a spatial task (its target has regions) :func:`region_report` gives, per region in the region table's order:
the number of observed targets and, for kinds compared with forecast baselines (point, Gaussian, counts), the MAE
of the model's point forecast, and for each baseline its MAE and the model's MAE on the elements where that
baseline is defined (so the two compare on the same targets), and in how many regions the model beats it
(``regions``) or ties with it (``ties``: equal MAE, e.g. both exact in a region without events). Values undefined
for a region (no target there) are NaN (null in JSON).
:func:`write_error_maps` draws, per spatial task, the model's MAE over persistence's per region (or the
model's MAE where there is no persistence) as ``plots/error_map_TASK_SPLIT.png``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mrframe.data.maps import plot_region_map
from mrframe.engine.rundir import RunDirectory
from mrframe.interfaces import TargetInfo
from mrframe.regions import Regions

MAP_BASELINE = "persistence"


def _per_region_mean(values: np.ndarray, region: np.ndarray, n: int) -> np.ndarray:
    count = np.bincount(region, minlength=n)
    total = np.bincount(region, weights=values, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan)


def region_report(outputs: Any, regions: Regions) -> dict[str, Any]:
    """Per-region metrics of a spatial task's :class:`~mrframe.engine.evaluate.TaskOutputs` (lists of
    ``len(regions)`` values): counts for every kind, MAE of the point forecast (``columns["prediction"]``, source
    units) beside each baseline's for kinds compared with forecast baselines."""
    n = len(regions)
    report: dict[str, Any] = {"ids": list(regions.ids), "count": np.bincount(outputs.region, minlength=n).tolist()}
    if outputs.kind.baselines != "forecast" or "prediction" not in outputs.columns:
        return report
    error = np.abs(outputs.target - outputs.columns["prediction"])
    model_defined = np.isfinite(error)
    report["mae"] = _per_region_mean(error[model_defined], outputs.region[model_defined], n).tolist()
    report["baselines"], report["beats"] = {}, {}
    for name, columns in outputs.baselines.items():
        baseline_error = np.abs(outputs.target - columns["prediction"])
        both = model_defined & np.isfinite(baseline_error)
        model = _per_region_mean(error[both], outputs.region[both], n)
        baseline = _per_region_mean(baseline_error[both], outputs.region[both], n)
        compared = np.isfinite(model) & np.isfinite(baseline)
        report["baselines"][name] = {"mae": baseline.tolist(), "model_mae": model.tolist()}
        report["beats"][name] = {"regions": int((model[compared] < baseline[compared]).sum()),
                                 "ties": int((model[compared] == baseline[compared]).sum()),
                                 "of": int(compared.sum())}
    return report


def error_map_name(task: str, split: str) -> str:
    return f"error_map_{task}_{split}.png"


def write_error_maps(directory: RunDirectory, report: Mapping[str, Any], targets: Mapping[str, TargetInfo]) -> list[str]:
    """Draw the error map of every spatial task of an evaluation ``report``; returns the files' names."""
    written = []
    for task, result in report["tasks"].items():
        regions = targets[task].regions if task in targets else None
        if regions is None or "mae" not in result.get("regions", {}):
            continue
        columns = result["regions"]
        name = error_map_name(task, report["split"])
        baseline = columns["baselines"].get(MAP_BASELINE)
        if baseline is not None:
            model, other = np.asarray(baseline["model_mae"], float), np.asarray(baseline["mae"], float)
            with np.errstate(invalid="ignore", divide="ignore"):  # other == 0: 1 for a tie, +inf when worse
                values = np.where(other > 0, model / other, np.where(model > 0, np.inf, 1.0))
            values[~np.isfinite(model) | ~np.isfinite(other)] = np.nan
            beats = columns["beats"][MAP_BASELINE]
            worse = beats["of"] - beats["regions"] - beats["ties"]
            title = (f"{task} ({report['split']}): model MAE / {MAP_BASELINE} MAE per region\nbetter in "
                     f"{beats['regions']} (blue), equal in {beats['ties']}, worse in {worse} (red) of {beats['of']} "
                     f"regions\ntop of the scale: {MAP_BASELINE} exact there, the model not")
            plot_region_map(regions, values, directory.plots / name, title, f"MAE ratio model / {MAP_BASELINE}",
                            ratio=True)
        else:
            title = f"{task} ({report['split']}): model MAE per region"
            plot_region_map(regions, np.asarray(columns["mae"], float), directory.plots / name, title, "MAE")
        written.append(name)
    return written
