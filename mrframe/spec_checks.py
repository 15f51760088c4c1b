"""Checks across the tables of a spec, run by :func:`mrframe.spec.build_spec` before any data is loaded.

Each table is first validated on its own (:func:`mrframe.config.structure`); these checks need several tables:

* a head and its loss agree on the prediction kind (:func:`mrframe.kinds.disagreement`, the check the model
  builder runs too), the head takes the target's units (``Head.target_units``) and the loss can use the target
  table (:meth:`Loss.target_problems <mrframe.interfaces.Loss.target_problems>`: units, span, features);
* a head, its loss and its target source agree on the number of classes wherever they declare one
  (``declared_classes``);
* the weighting policy can be built for the spec's tasks (it checks e.g. that its priors name existing tasks);
* the run's name can name a folder, and the model fits in memory (:func:`memory_estimate`, a lower bound);
* ``train.early_stopping.monitor`` names a metric the run will have (:func:`mrframe.engine.early_stopping.
  monitor_problem`).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from mrframe import kinds
from mrframe.config import join_path, run_name_problem
from mrframe.errors import Problem, did_you_mean

__all__ = ["spec_problems", "MemoryEstimate", "memory_estimate"]


def spec_problems(
    run: Any,
    data: Any,
    model: Any,
    train: Any,
    sources: Mapping[str, Any],
    encoders: Mapping[str, Any],
    fusion: Iterable[Any],
    heads: Mapping[str, Any],
    weighting: Any,
    path: pathlib.Path | None,
) -> list[Problem]:
    """Every cross-table problem of a spec whose tables were structured (None for a table that was not)."""
    problems: list[Problem] = []
    if run is not None:
        problems += _run_problems(run, path)
    resolutions = {name: s.component.cls.declared_resolution(s.component.config) for name, s in sources.items()}
    for name, encoder in encoders.items():
        resolution = resolutions.get(name)
        if resolution is not None and resolution not in encoder.cls.resolutions:
            problems.append(Problem(join_path(join_path("encoders", name), "plugin"),
                                    f"'{encoder.plugin}' takes {' or '.join(encoder.cls.resolutions)} sources only, "
                                    f"but source '{name}' is {resolution}"))
    problems += _extent_problems(sources, encoders, heads)
    for task, head in heads.items():
        problems += _head_problems(task, head, sources.get(head.target.source))
    if weighting is not None and heads:
        problems += _weighting_problems(weighting, tuple(heads))
    if train is not None and heads:
        problems += _monitor_problems(train.early_stopping.monitor, heads)
    if None not in (data, model, train):
        estimate = memory_estimate(data, model, train, encoders, tuple(fusion), heads, resolutions)
        if estimate.needed > estimate.available:
            problems.append(Problem(estimate.key, estimate.message()))
    return problems


def _extent_problems(sources: Mapping[str, Any], encoders: Mapping[str, Any],
                     heads: Mapping[str, Any]) -> Iterable[Problem]:
    """Encoders and heads whose ``extents`` exclude their source's declared extent: the model build's check,
    before any data loads."""
    extents = {name: s.component.cls.declared_extent(s.component.config) for name, s in sources.items()}
    blocks = [(join_path("encoders", name), encoder, name, "encoder") for name, encoder in encoders.items()]
    blocks += [(join_path("heads", task), head.component, head.target.source, "head") for task, head in heads.items()]
    for path, block, source, role in blocks:
        extent = extents.get(source)
        if extent is None or extent in block.cls.extents:
            continue
        verb, noun = ("takes", "sources") if role == "encoder" else ("predicts", "targets")
        example = {"encoder": ", e.g. geographic", "head": ", e.g. spatial-forecast"}[role] if extent == "spatial" else ""
        yield Problem(join_path(path, "plugin"),
                      f"'{block.plugin}' {verb} {' or '.join(block.cls.extents)} {noun} only, but source '{source}' "
                      f"is {extent}: use {'an' if role == 'encoder' else 'a'} {role} that {verb} {extent} "
                      f"{noun}{example}")


def _run_problems(run: Any, path: pathlib.Path | None) -> Iterable[Problem]:
    if run.name is None and path is not None:
        message = run_name_problem(path.stem)
        if message:
            yield Problem("run.name", f"not set, so the spec file's name names the run, but it {message}; set "
                                      "[run] name")


def _monitor_problems(monitor: str, heads: Mapping[str, Any]) -> Iterable[Problem]:
    from mrframe.engine.early_stopping import monitor_problem

    task_kinds = {}
    for task, head in heads.items():
        try:
            task_kinds[task] = kinds.of_head(head.component.cls, head.component.config)
        except Exception:  # noqa: BLE001 - the head's own problem is reported by _head_problems
            task_kinds[task] = None
    message = monitor_problem(monitor, task_kinds)
    if message is not None:
        yield Problem("train.early_stopping.monitor", message)


def _head_problems(task: str, head: Any, source: Any) -> Iterable[Problem]:
    path = join_path("heads", task)
    head_cls, loss_cls = head.component.cls, head.loss.cls
    why = kinds.disagreement(head_cls, head.component.config, loss_cls, f"head '{head.component.plugin}'",
                             f"loss '{head.loss.plugin}'")
    if why is not None:
        yield Problem(join_path(path, "loss"), why)
    units, accepted = head.target.units, head_cls.target_units
    if units not in accepted:
        yield Problem(join_path(join_path(path, "target"), "units"),
                      f"head '{head.component.plugin}' needs targets in units \"{accepted[0]}\", got \"{units}\": set "
                      f"{path}.target.units = \"{accepted[0]}\"")
    else:
        for message in loss_cls.target_problems(head.loss.config, head.target):
            yield Problem(join_path(path, "target"), f"loss '{head.loss.plugin}': {message}")
    declared = {
        f"head '{head.component.plugin}'": head_cls.declared_classes(head.component.config),
        f"loss '{head.loss.plugin}'": loss_cls.declared_classes(head.loss.config),
    }
    if source is not None:
        declared[f"source '{head.target.source}'"] = source.component.cls.declared_classes(source.component.config)
        cls, config = source.component.cls, source.component.config
        yield from target_problems(join_path(path, "target"), head.target, cls.declared_resolution(config),
                                   cls.declared_features(config))
    known = {who: n for who, n in declared.items() if n is not None}
    if len(set(known.values())) > 1:
        listed = ", ".join(f"{who} {n}" for who, n in known.items())
        yield Problem(path, f"the number of classes disagrees: {listed}; make them equal")


def target_problems(path: str, target: Any, resolution: str | None,
                    features: Sequence[str] | None) -> list[Problem]:
    """The problems of the target table at ``path``: a daily target's horizon below 1, and features its source
    does not have (``resolution``/``features`` None: unknown, unchecked). ``validate`` passes what the source
    declares, the data pipeline what it loaded."""
    problems = []
    if resolution == "daily" and target.horizon < 1:
        problems.append(Problem(join_path(path, "horizon"), "a daily target needs horizon >= 1 (days after the anchor)"))
    for i, feature in enumerate(target.features or ()):
        if features is not None and feature not in features:
            problems.append(Problem(join_path(join_path(path, "features"), i),
                                    f"source '{target.source}' has no feature '{feature}'{did_you_mean(feature, features)}"))
    return problems


def _weighting_problems(weighting: Any, tasks: tuple[str, ...]) -> Iterable[Problem]:
    """Build the policy for the spec's tasks: its constructor checks what refers to tasks (priors...)."""
    try:
        weighting.cls(weighting.config, tasks)
    except (ValueError, TypeError, KeyError) as error:
        yield Problem("weighting", f"'{weighting.plugin}' cannot be built for tasks {', '.join(tasks)}: {error}")


# ------------------------------------------------------------------------------------------------ memory


@attrs.frozen
class MemoryEstimate:
    """A lower bound of the memory one training step needs (bytes), what the device has, and the key to blame."""

    parameters: int
    activations: int
    available: int
    device: str
    key: str
    detail: str

    @property
    def needed(self) -> int:
        return self.parameters + self.activations

    def message(self) -> str:
        return (f"the model cannot fit: one training step needs at least {_bytes(self.needed)} ({self.detail}; "
                f"parameters with gradients and optimizer state {_bytes(self.parameters)}, activations "
                f"{_bytes(self.activations)}), but {self.device} has {_bytes(self.available)}")


def _layers(config: Any) -> int:
    layers = getattr(config, "layers", 1)
    return max(layers, 1) if isinstance(layers, int) and not isinstance(layers, bool) else 1


def memory_estimate(data: Any, model: Any, train: Any, encoders: Mapping[str, Any], fusion: tuple[Any, ...],
                    heads: Mapping[str, Any], resolutions: Mapping[str, str | None]) -> MemoryEstimate:
    """A lower bound (float32) of one training step's memory, from the spec alone.

    Every block with ``layers`` (default 1) maps width ``d = model.d_model`` to ``d`` at least once per layer:
    ``layers * d^2`` weights, each with a gradient and two AdamW moments (16 bytes); when that could matter
    (:data:`BUILD_FACTOR`), the weights are counted exactly by building the blocks on the meta device. An encoder keeps at least
    one ``[batch, window, d]`` activation per layer for the backward pass (twice: the value and its gradient),
    where ``window`` is its source's window (``resolutions``: what each source declares; unknown: the shortest
    window its encoder takes); a block with ``heads`` also keeps one ``[batch, heads, window, window]``
    attention map per layer. Fusion blocks keep ``[batch, window, d]`` per layer over the shortest window. The
    real need is larger; what cannot pass this bound cannot run.
    """
    d, batch = model.d_model, train.batch_size
    windows = {"daily": data.daily_window, "monthly": data.monthly_window}
    blocks = [*encoders.values(), *fusion, *(h.component for h in heads.values())]
    layers = sum(_layers(c.config) for c in blocks)
    available, device = _available_memory(train.device)
    parameters = 16 * layers * d * d
    if parameters * BUILD_FACTOR >= available:  # close enough to matter: count them exactly
        parameters = max(parameters, 16 * _built_parameters(data, model, encoders, fusion, heads, resolutions))
    shortest = min(windows, key=windows.__getitem__)
    parts: list[tuple[int, str]] = []  # (bytes, resolution of the window behind them)
    for name, component in encoders.items():
        takes = component.cls.resolutions or tuple(windows)
        resolution = resolutions.get(name) or min(takes, key=windows.__getitem__)
        window, n = windows[resolution], _layers(component.config)
        heads_ = getattr(component.config, "heads", 0)
        maps = heads_ * window if isinstance(heads_, int) and not isinstance(heads_, bool) and heads_ > 0 else 0
        parts.append((8 * batch * window * (d + maps) * n, resolution))
    parts += [(8 * batch * windows[shortest] * d * _layers(c.config), shortest) for c in fusion]
    activations = sum(size for size, _ in parts)
    if parameters >= activations:
        key, detail = "model.d_model", f"width d_model = {d:,} over {layers:,} layers"
    else:
        resolution = max(parts)[1]
        key = "train.batch_size" if batch >= windows[resolution] else f"data.{resolution}_window"
        detail = (f"batch_size {batch:,} x {resolution} window {windows[resolution]:,} x d_model {d:,} over the "
                  f"layers that read it")
    return MemoryEstimate(parameters, activations, available, device, key, detail)


MAX_BUILT_LAYERS = 1000
"""Specs with more layers than this are not built on the meta device (building alone would take long)."""

BUILD_FACTOR = 64
"""The blocks are built on the meta device (about a second: it imports torch's meta kernels) only when the
``d^2`` bound times this could exceed the memory; no block has 64 times ``d^2`` parameters per layer."""


def _built_parameters(data: Any, model: Any, encoders: Mapping[str, Any], fusion: tuple[Any, ...],
                      heads: Mapping[str, Any], resolutions: Mapping[str, str | None]) -> int:
    """The exact parameter count of every block built on torch's ``meta`` device (no memory is used), each
    source given one feature unless the spec names its features; 0 when some block cannot be built that way
    (then the ``d^2`` bound alone counts)."""
    import torch

    from mrframe.interfaces import ModelInfo, SourceInfo, TargetInfo

    blocks = [*encoders.values(), *fusion, *(h.component for h in heads.values())]
    if sum(_layers(c.config) for c in blocks) > MAX_BUILT_LAYERS:
        return 0
    d = model.d_model
    named: dict[str, dict[str, None]] = {}  # the features heads name, per source (ordered, once each)
    for head in heads.values():
        named.setdefault(head.target.source, {}).update(dict.fromkeys(head.target.features or ()))
    infos = {name: SourceInfo(name, resolutions.get(name) or (e.cls.resolutions or ("daily",))[0],
                              tuple(named.get(name) or ("x",)))
             for name, e in encoders.items()}
    info = ModelInfo(d, tuple(i for i in infos.values() if i.resolution == "daily"),
                     tuple(i for i in infos.values() if i.resolution == "monthly"), data.daily_window,
                     data.monthly_window)

    def count(module: Any) -> int:
        return sum(p.numel() for p in module.parameters())

    try:
        with torch.device("meta"):
            total = sum(count(e.cls(e.config, infos[name], d)) for name, e in encoders.items())
            total += sum(count(block.cls(block.config, info)) for block in fusion)
            for task, head in heads.items():
                t = head.target
                target = TargetInfo(task, t.source, resolutions.get(t.source) or "daily", t.features or ("x",),
                                    t.horizon, t.span, t.units)
                total += count(head.component.cls(head.component.config, info, target))
    except Exception:  # noqa: BLE001 - a block that needs the data to be built: the bound alone counts
        return 0
    return total


def _available_memory(device: str) -> tuple[int, str]:
    """Bytes of the device a run would train on (``train.device``): the GPU's memory, or this machine's RAM."""
    if device in ("cuda", "auto"):
        import torch

        if torch.cuda.is_available():
            return int(torch.cuda.get_device_properties(0).total_memory), "the GPU"
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")), "this machine"
    except (ValueError, OSError, AttributeError):
        return 2**62, "this machine"


def _bytes(n: int) -> str:
    for unit, size in (("PB", 2**50), ("TB", 2**40), ("GB", 2**30), ("MB", 2**20)):
        if n >= size:
            return f"{n / size:,.1f} {unit}"
    return f"{n:,} bytes"
