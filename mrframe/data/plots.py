"""A heatmap of the observation masks: where each feature of each source was observed, on one time axis (for a
spatial source: the fraction of its regions that observed each feature)."""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Mapping

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402

from mrframe.data.report import observed_mask  # noqa: E402
from mrframe.interfaces import SourceFrame  # noqa: E402

COLOURS = LinearSegmentedColormap.from_list("observed", ["#f1f1f1", "#2b6cb0"])  # missing .. observed
MAX_LABELLED_FEATURES = 30


def plot_observed(frames: Mapping[str, SourceFrame], path: pathlib.Path, marks: Mapping[str, dt.date] | None = None,
                  title: str = "") -> None:
    """One panel per source (rows: features, columns: its periods; blue = observed), sharing the date axis;
    ``marks`` draws labelled vertical lines (e.g. the split boundaries). Written atomically as PNG."""
    masks = {name: _feature_rows(frame) for name, frame in frames.items()}
    heights = [max(1.2, 0.22 * m.shape[1] + 0.6) for m in masks.values()]
    fig, axes = plt.subplots(len(masks), 1, figsize=(12, min(sum(heights) + 1.0, 40)), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (name, mask) in zip(axes[:, 0], masks.items(), strict=True):
        if mask.empty:
            ax.set_title(f"{name}: no data", loc="left", fontsize=9)
            continue
        start = mdates.date2num(mask.index[0])
        end = mdates.date2num(mask.index[-1] + (mask.index[1] - mask.index[0] if len(mask) > 1 else np.timedelta64(1, "D")))
        ax.imshow(mask.to_numpy().T, aspect="auto", interpolation="nearest", cmap=COLOURS, vmin=0, vmax=1,
                  extent=(start, end, mask.shape[1] - 0.5, -0.5))
        labelled = mask.shape[1] <= MAX_LABELLED_FEATURES
        ax.set_yticks(range(mask.shape[1]) if labelled else [])
        ax.set_yticklabels([str(c) for c in mask.columns] if labelled else [], fontsize=7)
        resolution = frames[name].resolution
        regions = frames[name].regions
        extent = f", share of {len(regions)} regions" if regions is not None else ""
        ax.set_title(f"{name} ({resolution}{extent}): {mask.to_numpy().mean():.1%} observed", loc="left", fontsize=9)
        for label, day in (marks or {}).items():
            ax.axvline(mdates.date2num(day), color="#c53030", linewidth=1.0)
            ax.text(mdates.date2num(day), -0.5, f" {label}", color="#c53030", fontsize=7, va="bottom")
    axes[-1, 0].xaxis_date()
    axes[-1, 0].xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m"))
    fig.suptitle(f"observed values{': ' + title if title else ''} (blue = observed, grey = missing)", fontsize=10)
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)


def _feature_rows(source: SourceFrame) -> pd.DataFrame:
    """The mask to draw, one column per feature: observed (0/1), or for a spatial source the share of regions."""
    mask = observed_mask(source)
    if source.regions is None:
        return mask
    return mask.T.groupby(level=1, sort=False).mean().T
