"""What the data looks like: a table per source, the split, and where the report goes in a run directory.

Per source, over its own periods from the first to the last one it loaded (a period absent from its frame
counts as missing): resolution, date range, number of periods and features, the observed fraction overall and
per feature, the rows the reader rejected, by reason (declared ``missing_values`` and infinities included), and
likely sentinels nobody declared (:func:`mrframe.data.sentinels.suspected_sentinels`). Per split: the anchor
days, the number of samples and how many candidate anchors the embargo removed. A spatial source's fractions
are over its (period, region) pairs, and it also gets the observed fraction per region.

:func:`write_data_report` leaves ``data_report.txt``, ``data_report.json``, ``plots/data_observed.png``
(:func:`mrframe.data.plots.plot_observed`) and, per spatial source, ``plots/data_regions_SOURCE.png`` (a map of
the observed fraction per region) in a run directory; ``mrframe data`` and ``mrframe run`` both call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import pandas as pd

from mrframe.data.extremes import Extreme
from mrframe.data.sentinels import Suspect, suspected_sentinels
from mrframe.data.split import SPLITS
from mrframe.data.timeline import observed_cells
from mrframe.errors import StorageError
from mrframe.interfaces import SourceFrame
from mrframe.spec import Spec

if TYPE_CHECKING:  # the engine writes the files; the data side only names the type
    from mrframe.engine.rundir import RunDirectory

REPORT_TEXT = "data_report.txt"
REPORT_JSON = "data_report.json"
HEATMAP = "data_observed.png"
REGIONS_LISTED = 3


def region_map_name(source: str) -> str:
    """The file name of a spatial source's map of observed fraction per region (in ``plots/``)."""
    return f"data_regions_{source}.png"


def observed_mask(source: SourceFrame) -> pd.DataFrame:
    """Bool frame over every period from the source's first to its last row: True where a value is observed
    (:func:`~mrframe.data.timeline.observed_cells`, the rule the model's inputs follow)."""
    frame = source.frame
    mask = observed_cells(source)
    if frame.empty:
        return mask
    freq = "D" if source.resolution == "daily" else "MS"
    return mask.reindex(pd.date_range(frame.index[0], frame.index[-1], freq=freq), fill_value=False)


@attrs.frozen
class SourceSummary:
    name: str
    plugin: str
    resolution: str
    first: str
    last: str
    periods: int
    observed: float
    per_feature: dict[str, float]
    rejected: dict[str, int]
    lag_days: int = 0
    suspected_sentinels: tuple[dict[str, Any], ...] = ()
    per_region: dict[str, float] | None = None  # spatial sources: observed fraction of each region

    @classmethod
    def of(cls, name: str, source: SourceFrame, plugin: str = "", lag_days: int = 0) -> SourceSummary:
        mask = observed_mask(source)
        empty = mask.empty
        suspects = tuple(attrs.asdict(s) for s in suspected_sentinels(source.frame))
        return cls(
            name=name,
            plugin=plugin,
            resolution=source.resolution,
            first="-" if empty else f"{mask.index[0]:%Y-%m-%d}",
            last="-" if empty else f"{mask.index[-1]:%Y-%m-%d}",
            periods=len(mask),
            observed=float(mask.to_numpy().mean()) if mask.size else 0.0,
            per_feature=_fractions(mask, None if source.regions is None else 1),
            rejected={str(k): int(v) for k, v in source.rejected.items()},
            lag_days=lag_days,
            suspected_sentinels=suspects,
            per_region=None if source.regions is None else _fractions(mask, 0),
        )


def _fractions(mask: pd.DataFrame, level: int | None) -> dict[str, float]:
    """Observed fraction per column, or per value of a column ``level`` (a spatial frame's region or feature)."""
    if level is None:
        return {str(c): float(mask[c].mean()) if len(mask) else 0.0 for c in mask.columns}
    grouped = mask.T.groupby(level=level, sort=False)
    return {str(key): float(block.to_numpy().mean()) if block.size else 0.0 for key, block in grouped}


@attrs.frozen
class DataReport:
    """The per-source summaries and, when the data could be prepared, the split."""

    sources: tuple[SourceSummary, ...]
    splits: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    extremes: tuple[Extreme, ...] = ()

    @classmethod
    def build(cls, spec: Spec | None, frames: Mapping[str, SourceFrame], prepared: Any = None) -> DataReport:
        """``prepared`` is a :class:`~mrframe.data.pipeline.PreparedData` (or None before the split is known)."""
        summaries = []
        for name, frame in frames.items():
            entry = spec.sources.get(name) if spec is not None else None
            plugin = entry.component.plugin if entry is not None else ""
            summaries.append(SourceSummary.of(name, frame, plugin, entry.lag_days if entry is not None else 0))
        splits = {}
        extremes = tuple(prepared.extreme_values) if prepared is not None else ()
        if prepared is not None:
            for split in SPLITS:
                dataset = prepared.datasets[split]
                dates = dataset.anchor_dates()
                splits[split] = {
                    "samples": len(dataset),
                    "first_anchor": str(dates[0]) if len(dates) else None,
                    "last_anchor": str(dates[-1]) if len(dates) else None,
                    "embargoed": int(prepared.split.embargoed[split]),
                }
        return cls(tuple(summaries), splits, extremes)

    def to_dict(self) -> dict[str, Any]:
        return {"sources": [attrs.asdict(s) for s in self.sources], "splits": self.splits,
                "extremes": [attrs.asdict(e) for e in self.extremes]}

    def text(self) -> str:
        """The report as aligned plain-text tables."""
        header = ("source", "plugin", "resolution", "first", "last", "periods", "features", "observed", "rejected")
        rows = [header] + [
            (s.name, s.plugin, s.resolution, s.first, s.last, f"{s.periods:,}", str(len(s.per_feature)),
             f"{s.observed:.1%}", f"{sum(s.rejected.values()):,}" if s.rejected else "0")
            for s in self.sources
        ]
        lines = _table(rows, right={5, 6, 7, 8})
        for s in self.sources:
            lag = f", publication lag {s.lag_days} day{'s' * (s.lag_days != 1)}" if s.lag_days else ""
            over = f" (over {len(s.per_region)} regions)" if s.per_region is not None else ""
            lines += ["", f"{s.name}: observed per feature{over}{lag}"]
            width = max((len(f) for f in s.per_feature), default=0)
            lines += [f"  {feature:<{width}}  {fraction:6.1%}" for feature, fraction in s.per_feature.items()]
            if s.per_region:
                ranked = sorted(s.per_region.items(), key=lambda item: item[1])
                least = ", ".join(f"{region} {fraction:.1%}" for region, fraction in ranked[:REGIONS_LISTED])
                lines.append(f"  least observed regions: {least}; most: {ranked[-1][0]} {ranked[-1][1]:.1%}")
            for reason, count in s.rejected.items():
                lines.append(f"  rejected: {count:,} x {reason}")
            for suspect in s.suspected_sentinels:
                lines.append(f"  likely sentinel: {Suspect(**suspect).text()}; if it means missing, add "
                             f"missing_values = [{suspect['value']:g}] to [sources.{s.name}]")
        if self.extremes:
            lines += ["", "extreme values (far outside the training period's; data.extremes, docs/data.md):"]
            lines += [f"  {e.text()}" for e in self.extremes]
        if self.splits:
            lines += ["", "splits (by anchor day):"]
            rows = [("split", "samples", "first anchor", "last anchor", "embargoed")] + [
                (split, f"{v['samples']:,}", v["first_anchor"] or "-", v["last_anchor"] or "-", f"{v['embargoed']:,}")
                for split, v in self.splits.items()
            ]
            lines += ["  " + line for line in _table(rows, right={1, 4})]
        return "\n".join(lines)


def _table(rows: list[tuple[str, ...]], right: set[int]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
            .rstrip() for r in rows]


def write_data_report(directory: RunDirectory, spec: Spec | None, frames: Mapping[str, SourceFrame],
                      prepared: Any = None) -> DataReport:
    """Write the report (text and JSON) and the observation heatmap into ``directory``; returns the report."""
    from mrframe.data.maps import plot_region_map
    from mrframe.data.plots import plot_observed

    report = DataReport.build(spec, frames, prepared)
    directory.write_text(directory.path / REPORT_TEXT, report.text() + "\n")
    directory.write_json(directory.path / REPORT_JSON, report.to_dict())
    marks = {}
    if spec is not None:
        marks = {"val_from": spec.data.split.val_from, "test_from": spec.data.split.test_from}
    try:
        plot_observed(frames, directory.plots / HEATMAP, marks={k: v for k, v in marks.items() if v is not None},
                      title=spec.name if spec is not None else "")
        for summary in report.sources:
            regions = frames[summary.name].regions
            if regions is not None and summary.per_region is not None:
                plot_region_map(regions, np.array([summary.per_region[r] for r in regions.ids]),
                                directory.plots / region_map_name(summary.name),
                                f"{summary.name}: observed fraction per region, {summary.first} .. {summary.last} "
                                f"({summary.observed:.1%} overall)", "observed fraction", limits=(0.0, 1.0))
    except OSError as error:
        raise StorageError(f"{directory.plots}: the data report's plots could not be written ({error}); free space "
                           "or fix the folder's permissions") from error
    return report

