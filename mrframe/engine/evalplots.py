"""Plots of an evaluation: PIT histograms, reliability diagrams, forecasts against actuals, skill per fold.

* PIT histogram: for each task whose kind gives a ``pit`` score, the histogram of ``F(y)`` over the split's
  targets, as a density; a calibrated forecast is flat at 1 (U-shaped: too narrow; hump: too wide; slope: biased).
* Reliability diagram: for each classification task, the observed frequency against the forecast probability
  per bin (:func:`mrframe.metrics.reliability`), with the diagonal of perfect calibration and the bin counts.
* Forecasts against actuals: per task and feature, the ``horizon``-step forecast (the last step of the span) and
  its central 90 % / 50 % intervals where the kind gives them, against the observed values, on the target date
  (a spatial task's averaged over its regions); ``marks`` draws vertical lines (the forecast origins of a
  backtest's folds).
"""

from __future__ import annotations

import functools
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mrframe.engine.plots import pyplot, save_figure
from mrframe.metrics import class_probabilities, reliability

BINS = 10


def plot_pit(outputs: Mapping[str, Any], path: pathlib.Path, title: str) -> bool:
    """PIT histograms of the tasks with a ``pit`` score; False (nothing written) when none has one."""
    tasks = {t: o.columns["pit"] for t, o in outputs.items() if "pit" in o.columns}
    tasks = {t: v[np.isfinite(v)] for t, v in tasks.items()}
    if not any(len(v) for v in tasks.values()):
        return False
    fig, axes = pyplot().subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    for ax, (task, pit) in zip(axes[0], tasks.items(), strict=True):
        ax.hist(pit, bins=BINS, range=(0.0, 1.0), density=True, color="#2b6cb0", alpha=0.8, edgecolor="white")
        ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label="calibrated")
        ax.set(xlabel="PIT = F(y)", ylabel="density", title=f"{task} ({len(pit)} targets)", xlim=(0, 1))
        ax.legend(loc="upper center", fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)
    return True


def plot_reliability(outputs: Mapping[str, Any], path: pathlib.Path, title: str) -> bool:
    """Reliability diagrams of the classification tasks; False (nothing written) when there is none."""
    tasks = {t: o for t, o in outputs.items() if "p0" in o.columns and len(o.target)}
    if not tasks:
        return False
    fig, axes = pyplot().subplots(1, len(tasks), figsize=(4.5 * len(tasks), 4), squeeze=False)
    for ax, (task, o) in zip(axes[0], tasks.items(), strict=True):
        p = class_probabilities(o.columns)
        binary = p.shape[1] == 2
        table = reliability(o.target, p[:, 1] if binary else p, BINS)
        used = table["count"] > 0
        ax.plot([0, 1], [0, 1], "--", color="black", linewidth=1, label="calibrated")
        ax.plot(table["confidence"][used], table["frequency"][used], "-o", color="#2b6cb0", markersize=4,
                label="model")
        counts = ax.twinx()
        counts.bar((np.arange(BINS) + 0.5) / BINS, table["count"], width=1.0 / BINS, alpha=0.15, color="grey")
        counts.set_ylabel("targets per bin")
        xlabel, ylabel = ("P(class 1)", "frequency of class 1") if binary else ("confidence", "accuracy")
        ax.set(xlabel=xlabel, ylabel=ylabel, title=task, xlim=(0, 1), ylim=(0, 1))
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title)
    save_figure(fig, path)
    return True


def forecast_panels(table: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The panels :func:`plot_forecasts` draws: per task and feature, a title and one row per target date of
    the last step of the task's span (``target_date``, ``prediction``, ``actual`` and the interval columns).

    A spatial task's rows (a ``region`` on each) are averaged over its regions per date, forecasts and actuals
    over the same observed targets, without intervals (interval bounds do not average); a panel per region would
    not fit hundreds of regions, and one line through all of them would zigzag between regions."""
    last = table[table["step"] == table.groupby("task")["step"].transform("max")]
    panels = []
    for (task, feature), rows in last.groupby(["task", "feature"], sort=False):
        spatial = "region" in rows and rows["region"].notna().any()
        if spatial:
            regions = rows["region"].nunique()
            rows = rows.groupby("target_date", as_index=False)[["prediction", "actual"]].mean()
            title = f"{task}: {feature}, mean over {regions} regions"
        else:
            title = f"{task}: {feature}"
        panels.append((title, rows.sort_values("target_date")))
    return panels


def _floats(rows: pd.DataFrame, name: str) -> np.ndarray:
    """A column as plain floats (matplotlib 3.7 refuses object columns)."""
    return rows[name].to_numpy(dtype=float, na_value=np.nan)


def plot_forecasts(table: pd.DataFrame, path: pathlib.Path, title: str,
                   marks: Sequence[np.datetime64] = ()) -> bool:
    """Forecasts (the last step of each task's span) against actuals, one panel per task and feature
    (:func:`forecast_panels`); False (nothing written) when the table has no point forecast."""
    if table.empty or "prediction" not in table:
        return False
    panels = forecast_panels(table)
    fig, axes = pyplot().subplots(len(panels), 1, figsize=(11, 2.6 * len(panels)), squeeze=False)
    for ax, (name, rows) in zip(axes[:, 0], panels, strict=True):
        dates = pd.to_datetime(rows["target_date"]).to_numpy()
        column = functools.partial(_floats, rows)
        for level, alpha in ((90, 0.15), (50, 0.3)):
            if f"lower_{level}" in rows and rows[f"lower_{level}"].notna().any():
                ax.fill_between(dates, column(f"lower_{level}"), column(f"upper_{level}"), color="#2b6cb0",
                                alpha=alpha, linewidth=0, label=f"{level} % interval")
        ax.plot(dates, column("prediction"), color="#2b6cb0", linewidth=1, label="forecast")
        ax.plot(dates, column("actual"), ".", color="black", markersize=2.5, label="actual")
        for mark in marks:
            ax.axvline(pd.Timestamp(mark), color="#c05621", linewidth=0.8, linestyle=":")
        ax.set_title(name, loc="left", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(loc="upper left", fontsize=8, ncol=4)
    fig.suptitle(title)
    save_figure(fig, path)
    return True


def plot_skill(folds: pd.DataFrame, path: pathlib.Path, title: str) -> bool:
    """Skill against the strongest baseline per fold and task (bars; 0 = as good as that baseline). A skill of
    ``-inf`` (a baseline without error the model did not match) is a hatched bar to the bottom, marked -inf."""
    rows = folds.dropna(subset=["skill"])
    if rows.empty:
        return False
    tasks = list(dict.fromkeys(rows["task"]))
    folds_seen = sorted(rows["fold"].unique())
    skills = rows["skill"].to_numpy(dtype=float)
    finite = skills[np.isfinite(skills)]
    bottom = 1.2 * min(float(finite.min()) if len(finite) else 0.0, -1.0 if len(finite) < len(skills) else 0.0)
    width = 0.8 / len(tasks)
    fig, ax = pyplot().subplots(figsize=(max(6.0, 1.2 * len(folds_seen) * len(tasks)), 4))
    for i, task in enumerate(tasks):
        part = rows[rows["task"] == task].set_index("fold").reindex(folds_seen)["skill"].to_numpy(dtype=float)
        x = np.arange(len(folds_seen)) + (i - (len(tasks) - 1) / 2) * width
        worst = np.isneginf(part)
        bars = ax.bar(x, np.where(worst, bottom, part), width=width, label=task)
        for bar, lowest in zip(bars, worst, strict=True):
            if lowest:
                bar.set_hatch("//")
                ax.annotate("-inf", (bar.get_x() + bar.get_width() / 2, bottom), ha="center", va="bottom",
                            fontsize=8)
    ax.axhline(0.0, color="black", linewidth=1)
    ax.set_xticks(np.arange(len(folds_seen)), [f"fold {f}" for f in folds_seen])
    ax.set(ylabel="skill vs strongest baseline", title=title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    save_figure(fig, path)
    return True
