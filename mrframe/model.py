"""The generic assembled model: one encoder per input source -> fusion blocks in spec order -> heads.

Before the first fusion block, the streams of each resolution are combined by a presence-weighted mean over
sources (:func:`combine_streams`); fusion blocks replace that combination with something better. In training,
``[model] source_dropout`` hides whole sources of a sample first (:mod:`mrframe.source_dropout`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from mrframe import kinds
from mrframe.errors import PluginError
from mrframe.interfaces import ModelInfo, PredictionKind, SourceInfo, TargetInfo
from mrframe.observed import Calendar, Observed, State, Stream
from mrframe.source_dropout import SourceDropout
from mrframe.spec import Spec


def combine_streams(streams: Sequence[Stream]) -> Stream | None:
    """Mean of ``hidden`` over the sources present at each step; where none is present, the plain mean
    (of the encoders' no-observation tokens). ``present`` is True where any source is present."""
    if not streams:
        return None
    hidden = torch.stack([s.hidden for s in streams])  # [S, B, T, D]
    present = torch.stack([s.present for s in streams])  # [S, B, T]
    weight = present.to(hidden.dtype).unsqueeze(-1)
    count = weight.sum(0)
    present_mean = (hidden * weight).sum(0) / count.clamp(min=1.0)
    combined = torch.where(count > 0, present_mean, hidden.mean(0))
    return Stream(combined, present.any(0))


class AssembledModel(nn.Module):
    """``forward(inputs, calendar) -> {task: prediction}``; every block is a plugin named in the spec."""

    def __init__(self, spec: Spec, inputs: Mapping[str, SourceInfo], targets: Mapping[str, TargetInfo]):
        super().__init__()
        d_model = spec.model.d_model
        self.info = ModelInfo(
            d_model=d_model,
            daily=tuple(i for i in inputs.values() if i.resolution == "daily"),
            monthly=tuple(i for i in inputs.values() if i.resolution == "monthly"),
            daily_window=spec.data.daily_window,
            monthly_window=spec.data.monthly_window,
        )
        for name, info in inputs.items():
            accepted = spec.encoders[name].cls.resolutions
            if info.resolution not in accepted:
                raise PluginError(f"encoders.{name} ({spec.encoders[name].plugin}): takes {' or '.join(accepted)} "
                                  f"sources only, but source '{name}' is {info.resolution}")
            _check_extent(f"encoders.{name}", spec.encoders[name], info, f"source '{name}'", "encoder")
        for task, target in targets.items():
            accepted = spec.heads[task].component.cls.target_units
            if target.units not in accepted:
                raise PluginError(f"heads.{task} ({spec.heads[task].component.plugin}): takes targets with units "
                                  f"\"{accepted[0]}\" only, but heads.{task}.target.units is \"{target.units}\": "
                                  f"set heads.{task}.target.units = \"{accepted[0]}\"")
            _check_extent(f"heads.{task}", spec.heads[task].component, target,
                          f"heads.{task}.target.source '{target.source}'", "head")
        self.encoders = nn.ModuleDict(
            {name: _build(f"encoders.{name}", spec.encoders[name], info, d_model) for name, info in inputs.items()}
        )
        self.fusion = nn.ModuleList(
            [_build(f"fusion[{i}]", block, self.info) for i, block in enumerate(spec.fusion)]
        )
        self.heads = nn.ModuleDict(
            {task: _build(f"heads.{task}", spec.heads[task].component, self.info, targets[task]) for task in targets}
        )
        self.kinds: dict[str, PredictionKind] = {task: _kind(task, spec.heads[task].component) for task in targets}
        self._resolution = {name: info.resolution for name, info in inputs.items()}
        self.source_dropout = SourceDropout(spec.model.source_dropout)

    def forward(self, inputs: Mapping[str, Observed], calendar: Calendar) -> dict[str, Any]:
        inputs = self.source_dropout(inputs)
        streams = {name: encoder(inputs[name], calendar) for name, encoder in self.encoders.items()}
        state = State(
            daily=combine_streams([s for n, s in streams.items() if self._resolution[n] == "daily"]),
            monthly=combine_streams([s for n, s in streams.items() if self._resolution[n] == "monthly"]),
            sources=streams,
            calendar=calendar,
            inputs=inputs,
            regional={name: s.regional for name, s in streams.items() if s.regional is not None},
        )
        for block in self.fusion:
            state = block(state)
        return {task: head(state) for task, head in self.heads.items()}

    def point(self, predictions: Mapping[str, Any]) -> dict[str, Tensor]:
        """Each head's point forecast ``[B, span, (R,) F]`` (read by its prediction kind)."""
        return {task: self.kinds[task].point(p) for task, p in predictions.items()}

    def parameter_counts(self) -> dict[str, int]:
        """Trainable parameters per block (``encoders.NAME``, ``fusion[i]``, ``heads.NAME``) and in total."""
        counts: dict[str, int] = {}
        for prefix, modules in (("encoders", self.encoders), ("heads", self.heads)):
            for name, module in modules.items():
                counts[f"{prefix}.{name}"] = _count(module)
        for i, module in enumerate(self.fusion):
            counts[f"fusion[{i}]"] = _count(module)
        counts["total"] = _count(self)
        return counts


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def _check_extent(where: str, component: Any, info: SourceInfo | TargetInfo, what: str, block: str) -> None:
    """Refuse a block whose ``extents`` do not include its source's or target's extent, naming the spec key."""
    accepted = component.cls.extents
    if info.extent in accepted:
        return
    detail = f"spatial ({len(info.regions)} regions)" if info.regions is not None else "national"
    suggestion = {"encoder": ", e.g. geographic", "head": ", e.g. spatial-forecast"}[block] if info.spatial else ""
    verb, noun = ("takes", "sources") if block == "encoder" else ("predicts", "targets")
    raise PluginError(f"{where} ({component.plugin}): {verb} {' or '.join(accepted)} {noun} only, but {what} is "
                      f"{detail}: use {'an' if block == 'encoder' else 'a'} {block} that {verb} {info.extent} "
                      f"{noun}{suggestion}")


def _kind(task: str, component: Any) -> PredictionKind:
    try:
        return kinds.of_head(component.cls, component.config)
    except PluginError as error:
        raise PluginError(f"heads.{task} ({component.plugin}): {error}") from error


def _build(where: str, component: Any, *args: Any) -> nn.Module:
    try:
        return component.cls(component.config, *args)
    except (ValueError, TypeError, KeyError) as error:
        raise PluginError(f"{where} ({component.plugin}): could not be built: {error}") from error
