"""The non-finite report: what the guard found, as JSON plus the batch's tensors, and one paragraph to print.

Files, in ``RUN_DIR/nonfinite/``: ``step-NNNNNN.json`` (the report) and ``step-NNNNNN-batch.pt`` (the failing
micro-batch: ``inputs.SOURCE.values/mask``, ``targets.TASK.values/mask``, ``calendar.FIELD``, ``index``; plain
tensors, ``torch.load(weights_only=True)``). A later report of the same step (``train.nonfinite = "skip"``
retries from the same step number) gets ``step-NNNNNN-2.json`` and so on: no report overwrites another.
A non-finite validation loss is reported as ``val-epoch-NNN.json``.

Inputs and normalised targets are reported on the scale the model sees them; ``|value| >= EXTREME`` is flagged
extreme. Numbers follow :mod:`mrframe.hooks`: step, epoch and batch count from 1.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import attrs
import numpy as np
import torch

from mrframe.data.dataset import Batch
from mrframe.engine.checkpoint import save_checkpoint
from mrframe.engine.locate import Culprit, Replay, nonfinite_kind
from mrframe.engine.rundir import RunDirectory
from mrframe.interfaces import SourceInfo, TargetInfo

EXTREME = 6.0
"""Normalised inputs at least this large (in absolute value) are called extreme."""

TOP_INPUTS = 5


def anchor_dates(batch: Batch) -> list[str]:
    """Each sample's anchor day as ``YYYY-MM-DD``."""
    days = batch.calendar.anchor_day.detach().cpu().numpy().astype("datetime64[D]")
    return [str(d) for d in days]


def extreme_inputs(batch: Batch, rows: Sequence[int], sources: Mapping[str, SourceInfo]) -> list[dict[str, Any]]:
    """The ``TOP_INPUTS`` (source, feature) pairs with the largest observed absolute input among ``rows``,
    each with the sample, the day (or month) and the value (a spatial source's feature is named
    ``feature@region`` after the region where it is largest)."""
    rows = list(rows) or list(range(len(batch)))
    anchors = batch.calendar.anchor_day.detach().cpu().numpy()[rows]
    index = batch.index.detach().cpu().numpy()[rows]
    found = []
    for name, observed in batch.inputs.items():
        values = torch.where(observed.mask, observed.values, 0.0)[rows].detach().float().cpu().numpy()  # [N, T, F]
        region = None
        if values.ndim == 4:  # spatial [N, T, R, F]: at each place, the region where the value is largest
            region = np.argmax(np.abs(values), axis=2)
            values = np.take_along_axis(values, region[:, :, None], axis=2)[:, :, 0]
        size = np.abs(values)
        length = values.shape[1]
        info = sources.get(name)
        monthly = info is not None and info.resolution == "monthly"
        features = info.features if info is not None else tuple(f"f{i}" for i in range(values.shape[2]))
        ids = info.regions.ids if info is not None and info.regions is not None else None
        for f, feature in enumerate(features):
            r, t = np.unravel_index(np.argmax(size[:, :, f]), size[:, :, f].shape)
            anchor = np.datetime64(int(anchors[r]), "D")
            back = length - 1 - t
            date = anchor.astype("datetime64[M]") - (back + 1) if monthly else anchor - back
            if region is not None:
                feature = f"{feature}@{ids[region[r, t, f]] if ids else region[r, t, f]}"
            found.append({
                "source": name, "feature": feature, "sample": int(index[r]), "anchor": str(anchor),
                "date": str(date), "value": float(values[r, t, f]), "extreme": bool(size[r, t, f] >= EXTREME),
            })
    found.sort(key=lambda item: -abs(item["value"]))
    return found[:TOP_INPUTS]


def extreme_targets(batch: Batch, rows: Sequence[int], targets: Mapping[str, TargetInfo]) -> list[dict[str, Any]]:
    """The ``TOP_INPUTS`` (task, feature) pairs with the largest observed absolute target among ``rows``, each
    with the sample, the date and the value (a spatial target's feature is named ``feature@region`` after the
    region where it is largest); only normalised targets can be extreme (raw ones are counts or class ids in
    the source's units)."""
    rows = list(rows) or list(range(len(batch)))
    anchors = batch.calendar.anchor_day.detach().cpu().numpy()[rows]
    index = batch.index.detach().cpu().numpy()[rows]
    found = []
    for task, observed in batch.targets.items():
        info = targets.get(task)
        values = torch.where(observed.mask, observed.values, 0.0)[rows].detach().double().cpu().numpy()  # [N, S, F]
        if not values.size or not observed.mask[rows].any():
            continue
        region = None
        if values.ndim == 4:  # spatial [N, S, R, F]: at each step, the region where the value is largest
            region = np.argmax(np.abs(values), axis=2)
            values = np.take_along_axis(values, region[:, :, None], axis=2)[:, :, 0]
        ids = info.regions.ids if info is not None and info.regions is not None else None
        size = np.abs(values)
        features = info.features if info is not None else tuple(f"f{i}" for i in range(values.shape[2]))
        for f, feature in enumerate(features):
            r, s = np.unravel_index(np.argmax(size[:, :, f]), size[:, :, f].shape)
            anchor = np.datetime64(int(anchors[r]), "D")
            date = _target_date(anchor, info, int(s)) if info is not None else str(anchor)
            normalised = info is None or info.units == "normalised"
            if region is not None:
                feature = f"{feature}@{ids[region[r, s, f]] if ids else region[r, s, f]}"
            found.append({
                "task": task, "feature": feature, "sample": int(index[r]), "anchor": str(anchor), "date": date,
                "value": float(values[r, s, f]), "extreme": bool(normalised and size[r, s, f] >= EXTREME),
            })
    found.sort(key=lambda item: -abs(item["value"]))
    return found[:TOP_INPUTS]


def _target_date(anchor: np.datetime64, info: TargetInfo, step: int) -> str:
    """The date of target step ``step`` (0-based within the span) of a sample anchored on ``anchor``."""
    offset = info.horizon - (info.span - 1) + step
    if info.resolution == "monthly":
        return str(anchor.astype("datetime64[M]") + offset)
    return str(anchor + offset)


def nonfinite_parameters(named: Any, limit: int = 5) -> list[str]:
    """Names of (at most ``limit``) parameters that already hold a non-finite value."""
    return [name for name, p in named if nonfinite_kind(p.detach()) is not None][:limit]


def build_report(
    *,
    failure: str,
    step: int,
    epoch: int,
    batch_index: int,
    micro_batch: int | None,
    micro_batches: int,
    loss: float,
    grad_norm: float,
    culprit: Culprit | None,
    rows: Sequence[int],
    batch: Batch,
    sources: Mapping[str, SourceInfo],
    bad_parameters: Sequence[str],
    targets: Mapping[str, TargetInfo] | None = None,
    replay: Replay | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict (``message`` and ``files`` are added by :func:`finish_report`).
    ``step``, ``epoch`` and ``batch_index`` count from 1; ``replay`` is the replay of the reported batch (its
    gradient norms). A finite loss whose gradient norm overflows is the failure ``gradient norm``."""
    dates = anchor_dates(batch)
    index = batch.index.detach().cpu().tolist()
    rows = list(rows)
    if replay is not None and replay.loss_finite and replay.grads_finite and not replay.norm_finite:
        failure = "gradient norm"
    return {
        "failure": failure,
        "step": step,
        "epoch": epoch,
        "batch": batch_index,
        "micro_batch": None if micro_batch is None else micro_batch + 1,
        "micro_batches": micro_batches,
        "loss": loss,
        "grad_norm": grad_norm,
        "culprit": attrs.asdict(culprit) if culprit is not None else None,
        "samples": [{"index": index[r], "anchor": dates[r]} for r in rows],
        "batch_samples": [{"index": i, "anchor": d} for i, d in zip(index, dates, strict=True)],
        "extreme_inputs": extreme_inputs(batch, rows, sources),
        "extreme_targets": extreme_targets(batch, rows, targets or {}),
        "nonfinite_parameters": list(bad_parameters),
        "replay_grad_norm": replay.grad_norm if replay is not None else None,
        "largest_gradients": [{"parameter": name, "norm": norm} for name, norm in
                              (replay.largest_gradients if replay is not None else ())],
    }


def paragraph(report: Mapping[str, Any]) -> str:
    """One paragraph a person can act on."""
    if report["failure"] == "validation loss":
        where = f"epoch {report['epoch']} (validation batch {report['batch']}, after step {report['step']}"
    else:
        where = f"step {report['step']} (epoch {report['epoch']}, batch {report['batch']}"
    if report["micro_batches"] > 1:
        where += f", micro-batch {report['micro_batch'] or '?'} of {report['micro_batches']}"
    text = f"Non-finite {report['failure']} at {where})."
    culprit = report["culprit"]
    largest = "; ".join(f"{g['parameter']} ({g['norm']:.3g})" for g in report.get("largest_gradients", ()))
    if report["failure"] == "gradient norm":
        text += (f" The loss ({report['loss']:.4g}) and every gradient are finite, but their total norm overflows "
                 f"when computed in float32 as the step does (it is {report['replay_grad_norm']:.3g} in float64; "
                 f"squares of gradients this large exceed float32), so it cannot be clipped. Largest gradients: "
                 f"{largest}.")
    elif not report.get("replayed", True):
        text += " (Only a run's first failure is replayed; this one was not.)"
    elif culprit is None:
        text += " Replaying the step did not reproduce it in any single module (the replay was finite"
        text += f"; largest gradients: {largest})." if largest else ")."
    else:
        text += (f" Replaying that batch, the first module to produce a non-finite value ({culprit['kind']}) "
                 f"is `{culprit['module']}` in the {culprit['phase']} pass")
        if culprit["op"]:
            text += f", at op `{culprit['op']}`"
        if culprit["where"]:
            text += f" ({culprit['where']})"
        text += "."
    if report["nonfinite_parameters"]:
        text += f" Parameters already non-finite: {', '.join(report['nonfinite_parameters'])}."
    samples, total = report["samples"], len(report["batch_samples"])
    if samples:
        shown = ", ".join(f"#{s['index']} (anchor {s['anchor']})" for s in samples[:6])
        more = f" and {len(samples) - 6} more" if len(samples) > 6 else ""
        text += f" Failing samples: {len(samples)} of {total}: {shown}{more}."
    else:
        text += f" The batch holds {total} samples (all listed in the report)."
    text += _extremes(report["extreme_inputs"], "input", "source")
    return text + _extremes(report.get("extreme_targets", ()), "target", "task", quiet=True)


def _extremes(found: Sequence[Mapping[str, Any]], what: str, owner: str, quiet: bool = False) -> str:
    """`` Extreme inputs: a.b = 1e+30 on DATE (sample #i).`` or, unless ``quiet``, the largest one."""
    extreme = [e for e in found if e["extreme"]]
    if extreme:
        return f" Extreme {what}s: " + "; ".join(
            f"{e[owner]}.{e['feature']} = {e['value']:.3g} on {e['date']} (sample #{e['sample']})" for e in extreme
        ) + "."
    if found and not quiet:
        top = found[0]
        return (f" No {what} is extreme (largest: {top[owner]}.{top['feature']} = {top['value']:.3g}, "
                f"|value| < {EXTREME:g} after normalisation).")
    return ""


def finish_report(
    report: dict[str, Any], tensors: Mapping[str, torch.Tensor], directory: RunDirectory | None, action: str
) -> dict[str, Any]:
    """Add the policy's action and the paragraph; write the JSON and the batch's tensors
    (:func:`batch_tensors`) when there is a run directory (rank 0)."""
    report["action"] = action
    report["message"] = f"{paragraph(report)} {action}"
    if directory is not None:
        folder = directory.path / "nonfinite"
        folder.mkdir(exist_ok=True)
        stem = report_stem(folder, report)
        report["files"] = {"report": str(folder / f"{stem}.json"), "batch": str(folder / f"{stem}-batch.pt")}
        report["message"] += f" Report: {folder / stem}.json"
        save_checkpoint(pathlib.Path(report["files"]["batch"]), tensors)
        directory.write_json(pathlib.Path(report["files"]["report"]), report)
    return report


def report_stem(folder: pathlib.Path, report: Mapping[str, Any]) -> str:
    """``step-NNNNNN`` (``val-epoch-NNN`` for validation), suffixed ``-2``, ``-3``... when taken."""
    if report["failure"] == "validation loss":
        base = f"val-epoch-{report['epoch']:03d}"
    else:
        base = f"step-{report['step']:06d}"
    stem, n = base, 1
    while (folder / f"{stem}.json").exists():
        n += 1
        stem = f"{base}-{n}"
    return stem


def batch_tensors(batch: Batch) -> dict[str, torch.Tensor]:
    """A batch as a flat dict of CPU tensors."""
    out = {"index": batch.index.cpu()}
    for group, items in (("inputs", batch.inputs), ("targets", batch.targets)):
        for name, observed in items.items():
            out[f"{group}.{name}.values"] = observed.values.detach().cpu()
            out[f"{group}.{name}.mask"] = observed.mask.cpu()
    for field in attrs.fields(type(batch.calendar)):
        out[f"calendar.{field.name}"] = getattr(batch.calendar, field.name).cpu()
    return out
