"""Spec -> data: load sources, align, resolve targets, split with embargo, fit preprocessing, build datasets.

Everything fitted here sees the training period only (rows available before ``split.val_from``; see
:mod:`mrframe.data.preprocessing`), the bounds of extreme values first (:mod:`mrframe.data.extremes`); declared
sentinels are masked right after loading (:mod:`mrframe.data.sentinels`). Targets are cut from the normalised
sources with every feature; encoders see the input sources after the optional correlation filter and PCA.
Window scaling and anchored targets (:mod:`mrframe.data.frames`) are applied per batch, from each sample's own
window, after the training-period scaling.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np
import torch

from mrframe.config import join_path
from mrframe.data.anchoring import parse_anchor
from mrframe.data.dataset import TargetPlan, WindowDataset, WindowViews
from mrframe.data.extremes import Extreme, ExtremeFilter
from mrframe.data.frames import Framing, TaskFraming
from mrframe.data.preprocessing import Preprocessing
from mrframe.data.reduction import Reduction
from mrframe.data.sentinels import mask_missing
from mrframe.data.split import SPLITS, SplitAnchors, split_anchors
from mrframe.data.timeline import AlignedSource, Timeline, align, check_frame
from mrframe.data.transforms import Normaliser
from mrframe.errors import DataError, PluginError, Problem, SpecError
from mrframe.interfaces import SourceFrame, SourceInfo, TargetInfo
from mrframe.spec import Spec
from mrframe.spec_checks import target_problems


@attrs.frozen(eq=False)
class PreparedData:
    """Everything the model and trainer need from the data side."""

    timeline: Timeline
    frames: dict[str, SourceFrame]  # as loaded (for reports)
    sources: dict[str, AlignedSource]  # aligned and normalised, every feature (targets are cut from these)
    inputs: dict[str, SourceInfo]  # what each encoder sees (after correlation filter / PCA), in spec order
    targets: dict[str, TargetPlan]  # by task (head name)
    datasets: dict[str, WindowDataset]  # by split
    split: SplitAnchors
    normaliser: Normaliser
    reductions: dict[str, Reduction] = attrs.field(factory=dict)  # by input source
    extremes: ExtremeFilter = attrs.field(factory=lambda: ExtremeFilter({}))  # fitted bounds (mrframe.data.extremes)
    extreme_values: tuple[Extreme, ...] = ()  # what lay beyond them, as loaded (for reports)
    framing: Framing = attrs.field(factory=lambda: Framing({}, {}))  # window scaling and target frames

    @property
    def target_infos(self) -> dict[str, TargetInfo]:
        return {task: plan.info for task, plan in self.targets.items()}

    def preprocessing_state(self) -> dict[str, torch.Tensor]:
        """Everything fitted on the training period (extreme bounds, scaling, correlation filter, PCA), as plain tensors
        (saved in checkpoints; ``prepare(spec, fitted=state)`` re-applies them)."""
        return Preprocessing(self.normaliser, self.reductions, self.extremes).state_dict()

    def to_source_units(self, task: str, values: np.ndarray) -> np.ndarray:
        """A task's values ``[..., len(features)]`` back in its source's units."""
        plan = self.targets[task]
        if plan.info.units == "raw":
            return values
        return self.normaliser.scalings[plan.info.source].invert(values, plan.columns)


def load_sources(spec: Spec) -> dict[str, SourceFrame]:
    """Run every source's loader, check its frame against the SourceFrame contract
    (:func:`~mrframe.data.timeline.check_frame`: numeric columns, sorted unique dates, ...), then mask its
    declared ``missing_values`` and infinities (:func:`~mrframe.data.sentinels.mask_missing`); errors name the
    source's spec table. A loader that fails
    with anything but a user error (a third-party reader meeting a file it does not expect) is reported as one
    line too, naming the source; ``--debug`` shows its traceback."""
    frames = {}
    for name, entry in spec.sources.items():
        component = entry.component
        try:
            source = component.cls(component.config)
            source.missing_values = entry.missing_values
            frame = source.load()
        except (DataError, PluginError) as error:  # one-message errors: say which source they come from
            raise type(error)(f"sources.{name} ({component.plugin}): {error}") from error
        except (ValueError, TypeError, KeyError, OSError, UnicodeDecodeError) as error:
            reason = " ".join(str(error).split())
            raise DataError(f"sources.{name} ({component.plugin}): the source could not load its data "
                            f"({type(error).__name__}: {reason})") from error
        if not isinstance(frame, SourceFrame):
            raise DataError(f"sources.{name}: plugin '{component.plugin}' returned {type(frame).__name__}, not a SourceFrame")
        check_frame(name, frame)
        frames[name] = mask_missing(frame, entry.missing_values)
    return frames


def resolve_targets(spec: Spec, sources: Mapping[str, AlignedSource]) -> dict[str, TargetPlan]:
    """Turn each head's ``target`` table into a :class:`TargetPlan`, checking features and horizons."""
    problems, plans = [], {}
    for task, head in spec.heads.items():
        target = head.target
        path = join_path(join_path("heads", task), "target")
        info = sources[target.source].info
        features = target.features if target.features is not None else info.features
        problems += target_problems(path, target, info.resolution, info.features)
        columns = [info.features.index(f) for f in features if f in info.features]
        target_info = TargetInfo(task, target.source, info.resolution, tuple(features), target.horizon, target.span,
                                 target.units, info.regions)
        window = spec.data.daily_window if info.resolution == "daily" else spec.data.monthly_window
        anchor = parse_anchor(target.anchor)
        lag = sources[target.source].lag_days
        reach = anchor.reach(target_info, lag) if anchor is not None else 0
        if reach > window:
            lagged = f" (with the source's publication lag of {lag} days)" if lag else ""
            problems.append(Problem(join_path(path, "anchor"), f"{target.anchor} reads {reach} steps back{lagged}, but "
                                    f"the {info.resolution} window holds {window}; lengthen data.{info.resolution}_window"))
        if not problems:
            plans[task] = TargetPlan(target_info, np.asarray(columns, dtype=np.int64),
                                     lag_days=sources[target.source].lag_days)
    if problems:
        raise SpecError(problems, source=str(spec.path) if spec.path else None)
    return plans


def build_framing(spec: Spec, targets: Mapping[str, TargetPlan], normaliser: Normaliser) -> Framing:
    """The window scaling of each input source and the frame of each anchored or window-scaled task."""
    tasks = {}
    for task, plan in targets.items():
        info, target = plan.info, spec.heads[task].target
        method = spec.data.preprocessing(info.source).window_scaling if info.units == "normalised" else "none"
        anchor = parse_anchor(target.anchor)
        if method != "none" or anchor is not None:
            units = normaliser.scalings.get(info.source) if info.units == "normalised" else None
            tasks[task] = TaskFraming(info, method, anchor, units, plan.columns)
    inputs = {name: spec.data.preprocessing(name).window_scaling for name in spec.inputs}
    return Framing(inputs, tasks, spec.data.window_min_spread)


def prepare(
    spec: Spec,
    frames: Mapping[str, SourceFrame] | None = None,
    fitted: Mapping[str, torch.Tensor] | None = None,
) -> PreparedData:
    """The full data side of a run. ``frames`` skips loading (they are already in memory); ``fitted`` re-applies
    the preprocessing state of a checkpoint (:meth:`PreparedData.preprocessing_state`) instead of fitting."""
    frames = dict(frames) if frames is not None else load_sources(spec)
    timeline, aligned = align(frames, {name: s.lag_days for name, s in spec.sources.items()})
    targets = resolve_targets(spec, aligned)
    anchors = split_anchors(timeline, spec.data.split, [p.info for p in targets.values()], spec.data.stride)
    if not len(anchors.anchors["train"]):
        raise DataError(
            f"no training sample: no anchor day between {timeline.first_day} and data.split.val_from "
            f"({spec.data.split.val_from}) has all its targets before val_from; move val_from later or shorten horizons"
        )
    if fitted is None:
        fit_until = timeline.day_index(spec.data.split.val_from)
        preprocessing, scaled = Preprocessing.fit(spec.data, aligned, spec.inputs, timeline, fit_until)
    else:
        preprocessing = Preprocessing.from_state(spec.data, fitted, aligned, spec.inputs, timeline)
        scaled = preprocessing.scale(aligned)
    extreme_values = tuple(preprocessing.extreme_values(aligned))
    aligned = preprocessing.clean(aligned)  # raw-unit targets are cut from it
    reduced = preprocessing.reduce(scaled)
    targets = {
        task: attrs.evolve(plan, values=(scaled if plan.info.units == "normalised" else aligned)[plan.info.source]
                           .values[..., plan.columns])
        for task, plan in targets.items()
    }
    inputs = {name: reduced[name].info for name in spec.inputs}
    views = WindowViews.build(reduced, targets, spec.data.daily_window, spec.data.monthly_window)
    framing = build_framing(spec, targets, preprocessing.normaliser)
    datasets = {
        split: WindowDataset(
            timeline, reduced, tuple(inputs), targets, anchors.anchors[split],
            spec.data.daily_window, spec.data.monthly_window, views=views, framing=framing,
        )
        for split in SPLITS
    }
    return PreparedData(timeline, frames, scaled, inputs, targets, datasets, anchors, preprocessing.normaliser,
                        preprocessing.reductions, preprocessing.extremes, extreme_values, framing)
