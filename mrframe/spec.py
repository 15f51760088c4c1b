"""TOML spec -> validated :class:`Spec`, collecting every problem with its dotted path.

A spec names its components by table: ``[sources.NAME]``, ``[encoders.SOURCE]``, ``[[fusion]]``,
``[heads.NAME]`` (with ``target`` and ``loss``), ``[weighting]``; each table picks its implementation with
``plugin = "<entry-point name>"`` next to that plugin's own keys. Core sections are ``[run]``, ``[data]``,
``[model]`` and ``[train]``; the hook plugins ``[run] hooks`` enables take their options from ``[hooks.NAME]``;
``[tune]`` is the search space of ``mrframe tune`` (:mod:`mrframe.engine.tune.config`), which runs ignore.
Relative paths are relative to the spec file. See docs/spec.md.

Only the plugins the spec names are imported. Problems are collected across the whole spec and raised
together as one :class:`~mrframe.errors.SpecError`. Reading the file, ``--set`` overrides and spec versions are
the document's business (:mod:`mrframe.spec_document`); checks across tables are :mod:`mrframe.spec_checks`'.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs
import tomli_w

from mrframe import registry
from mrframe.config import (
    CliText,
    field,
    join_path,
    run_name_problem,
    show_value,
    structure,
    unstructure,
    writable_folder_problem,
)
from mrframe.data import anchoring
from mrframe.data.config import DataConfig
from mrframe.engine.config import TrainConfig
from mrframe.engine.tune.config import TuneConfig, tune_section
from mrframe.errors import PluginError, Problem, SpecError, did_you_mean
from mrframe.spec_checks import spec_problems
from mrframe.spec_document import (  # noqa: F401 - the spec's public names, as they always were
    CURRENT_VERSION,
    MIGRATIONS,
    TOO_DEEP,
    apply_overrides,
    migrate,
    read_document,
)

DEFAULT_WEIGHTING = "uniform"

SECTIONS = (
    "version", "run", "data", "model", "train", "sources", "encoders", "fusion", "heads", "weighting", "hooks",
    "tune",
)


@attrs.frozen
class RunConfig:
    """Naming, seeding and life-cycle hooks of a run."""

    name: str | None = field(None, "name of the run (default: the spec file's name)", check=run_name_problem)
    seed: int = field(0, "seed for parameters, sampling and synthetic data", min=0)
    out_dir: pathlib.Path | None = field(
        None, "where run directories are created (default: ./runs)", check=writable_folder_problem
    )
    hooks: tuple[str, ...] = field((), "life-cycle hook plugins to enable (entry points in mrframe.hooks); "
                                       "each takes its options from a [hooks.NAME] table")


@attrs.frozen
class ModelConfig:
    """Settings shared by every block of the assembled model."""

    d_model: int = field(64, "width of every stream", min=1)
    source_dropout: float = field(
        0.0, "training only: hide each input source of each sample with this probability (through its mask, "
             "mrframe.source_dropout)", min=0.0, max=0.9,
    )


@attrs.frozen
class TargetSpec:
    """What a head predicts: ``span`` steps of a source's features ending ``horizon`` steps after the anchor."""

    source: str = field(doc="name of the source (a [sources.NAME] table) whose values are predicted")
    horizon: int = field(1, "steps ahead of the anchor: days for daily sources, months after the anchor's month for monthly ones", min=0)
    span: int = field(1, "consecutive steps predicted, ending at the horizon", min=1)
    features: tuple[str, ...] | None = field(None, "features to predict (default: all of the source's)", min=1)
    units: Literal["normalised", "raw"] = field(
        "normalised", "target values as the model's inputs are scaled, or raw (counts for ZINB, class ids for labels)"
    )
    anchor: str = field(
        "none", "predict a correction to this baseline of the sample's own window: persistence, seasonal_naive, "
                "moving_average:K or none (mrframe.data.anchoring)", check=anchoring.problem,
    )

    def problems(self) -> Iterable[tuple[str, str]]:
        if self.span > max(self.horizon, 1):
            yield "span", f"must not exceed the horizon ({self.horizon}), got {self.span}"
        if self.anchor != "none" and self.units != "normalised":
            yield "anchor", "only targets with units = \"normalised\" can be anchored (raw counts and class ids cannot)"


@attrs.frozen(eq=False)
class Component:
    """A spec table resolved to its plugin class and that plugin's validated config."""

    kind: str
    plugin: str
    config: Any
    cls: type = attrs.field(repr=False)

    def to_table(self) -> dict[str, Any]:
        return {"plugin": self.plugin, **unstructure(self.config)}


@attrs.frozen
class SourceKeys:
    """The keys every ``[sources.NAME]`` table has beside its plugin's own (applied by the core to any source)."""

    lag_days: int = field(0, "publication lag: a period counts as available this many days after it ended", min=0)
    missing_values: tuple[float, ...] = field(
        (), "values that mean 'missing' in this source's files (e.g. [-999]): masked right after loading"
    )


CORE_SOURCE_KEYS = tuple(f.name for f in attrs.fields(SourceKeys))


@attrs.frozen(eq=False)
class SourceSpec:
    component: Component
    lag_days: int = 0  # publication lag: a month counts as available lag_days after it ended
    missing_values: tuple[float, ...] = ()  # sentinels: cells equal to one of them are missing


@attrs.frozen(eq=False)
class WeightingSpec:
    component: Component
    min_availability: float = 0.0  # tasks below this fraction of observed targets in a batch count as absent


@attrs.frozen(eq=False)
class HeadSpec:
    component: Component
    target: TargetSpec
    loss: Component


@attrs.frozen(eq=False)
class Spec:
    """A validated spec; ``inputs`` are the sources that have an encoder."""

    version: int
    path: pathlib.Path | None
    run: RunConfig
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    sources: dict[str, SourceSpec]
    encoders: dict[str, Component]
    fusion: tuple[Component, ...]
    heads: dict[str, HeadSpec]
    weighting: WeightingSpec
    hooks: dict[str, Component] = attrs.field(factory=dict)  # the enabled hook plugins, in [run] hooks order
    tune: TuneConfig | None = None  # the search space of `mrframe tune`; runs ignore it

    @property
    def name(self) -> str:
        return self.run.name or (self.path.stem if self.path else "run")

    @property
    def inputs(self) -> tuple[str, ...]:
        return tuple(name for name in self.sources if name in self.encoders)

    def to_dict(self) -> dict[str, Any]:
        """The resolved document: every default filled in, paths absolute."""
        resolved = {
            "version": self.version,
            "run": unstructure(self.run) | {"name": self.name},
            "data": unstructure(self.data),
            "model": unstructure(self.model),
            "train": unstructure(self.train),
            "sources": {
                name: s.component.to_table() | ({"lag_days": s.lag_days} if s.lag_days else {})
                | ({"missing_values": list(s.missing_values)} if s.missing_values else {})
                for name, s in self.sources.items()
            },
            "encoders": {name: c.to_table() for name, c in self.encoders.items()},
            "fusion": [c.to_table() for c in self.fusion],
            "heads": {
                name: h.component.to_table() | {"target": unstructure(h.target), "loss": h.loss.to_table()}
                for name, h in self.heads.items()
            },
            "weighting": self.weighting.component.to_table()
            | ({"min_availability": self.weighting.min_availability} if self.weighting.min_availability else {}),
        } | ({"hooks": {name: unstructure(c.config) for name, c in self.hooks.items()}} if self.hooks else {})
        return resolved | ({"tune": unstructure(self.tune)} if self.tune is not None else {})

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())


# ------------------------------------------------------------------------------------------------ loading


def load_spec(path: str | pathlib.Path, overrides: Iterable[str] = ()) -> Spec:
    """Read, override, migrate and validate a spec file; raises :class:`SpecError` listing every problem."""
    path = pathlib.Path(path)
    document = read_document(path, overrides)
    return build_spec(document, base_dir=path.resolve().parent, path=path, source=str(path))


def build_spec(
    document: Mapping[str, Any],
    base_dir: pathlib.Path | None = None,
    path: pathlib.Path | None = None,
    source: str | None = None,
) -> Spec:
    """Validate a spec document (what ``tomllib`` returns) and resolve its plugins."""
    try:
        return _build_spec(document, base_dir, path, source)
    except RecursionError:
        raise SpecError([Problem("", TOO_DEEP)], source=source) from None


def _build_spec(
    document: Mapping[str, Any], base_dir: pathlib.Path | None, path: pathlib.Path | None, source: str | None
) -> Spec:
    problems: list[Problem] = []
    document = migrate(dict(document), problems)
    for key in document:
        if key not in SECTIONS:
            problems.append(Problem(key, "unknown section" + did_you_mean(key, SECTIONS)))

    def section(cls: type, key: str, required: bool = False) -> Any:
        if key not in document:
            if required:
                problems.append(Problem(key, f"missing required section [{key}]"))
                return None
            return structure(cls, {}, key, problems, base_dir)
        return structure(cls, document[key], key, problems, base_dir)

    run = section(RunConfig, "run")
    data = section(DataConfig, "data", required=True)
    model = section(ModelConfig, "model")
    train = section(TrainConfig, "train")
    tune = tune_section(document, problems, base_dir)

    builder = _ComponentBuilder(problems, base_dir)
    hooks = _build_hooks(run.hooks if run is not None else (), document, builder, problems)
    sources = {}
    for name, table in _named_tables(document, "sources", problems, required=True).items():
        table = dict(table) if isinstance(table, Mapping) else table
        core = {k: table.pop(k) for k in CORE_SOURCE_KEYS if isinstance(table, dict) and k in table}
        keys = structure(SourceKeys, core, join_path("sources", name), problems, base_dir)
        component = builder.build("source", table, join_path("sources", name))
        if component is not None and keys is not None:
            sources[name] = SourceSpec(component, keys.lag_days, keys.missing_values)
    source_tables = _named_tables(document, "sources", [], required=False)

    encoders = {}
    for name, table in _named_tables(document, "encoders", problems, required=True).items():
        path_ = join_path("encoders", name)
        if name not in source_tables:
            problems.append(Problem(path_, f"no source named '{name}'{did_you_mean(name, source_tables)}; "
                                           "an encoder table is named after the source it encodes"))
        component = builder.build("encoder", table, path_)
        if component is not None:
            encoders[name] = component

    fusion = []
    raw_fusion = document.get("fusion", [])
    if not isinstance(raw_fusion, list):
        problems.append(Problem("fusion", "expected an array of tables ([[fusion]] blocks)"))
        raw_fusion = []
    for i, table in enumerate(raw_fusion):
        component = builder.build("fusion", table, join_path("fusion", i))
        if component is not None:
            fusion.append(component)

    for name in data.preprocess if data is not None else ():
        if name not in source_tables:
            problems.append(Problem(join_path(join_path("data", "preprocess"), name),
                                    f"no source named '{name}'{did_you_mean(name, source_tables)}"))

    heads = {}
    for name, table in _named_tables(document, "heads", problems, required=True).items():
        head = _build_head(name, table, builder, source_tables, problems, base_dir)
        if head is not None:
            heads[name] = head

    weighting_table = document.get("weighting", {})
    implicit = isinstance(weighting_table, Mapping) and "plugin" not in weighting_table
    if implicit:
        weighting_table = {"plugin": DEFAULT_WEIGHTING} | weighting_table
    min_availability = _pop_fraction(weighting_table, "min_availability", "weighting.min_availability", problems)
    if implicit and DEFAULT_WEIGHTING not in registry.names("weighting"):
        problems.append(Problem("weighting", f"the default policy '{DEFAULT_WEIGHTING}' is not installed (it ships in "
                                             f"{registry.FIRST_PARTY['weighting'][0]}); install it or name a policy with "
                                             "[weighting] plugin = ..."))
        weighting = None
    else:
        weighting = builder.build("weighting", weighting_table, "weighting")

    problems += spec_problems(run, data, model, train, sources, encoders, fusion, heads, weighting, path)
    if problems:
        raise SpecError(problems, source=source)
    return Spec(
        version=CURRENT_VERSION,
        path=path,
        run=run,
        data=data,
        model=model,
        train=train,
        sources=sources,
        encoders=encoders,
        fusion=tuple(fusion),
        heads=heads,
        weighting=WeightingSpec(weighting, min_availability or 0.0),
        hooks=hooks,
        tune=tune,
    )


# ------------------------------------------------------------------------------------------------ helpers


@attrs.define
class _ComponentBuilder:
    problems: list[Problem]
    base_dir: pathlib.Path | None

    def build(self, kind: str, table: Any, path: str, name_path: str | None = None) -> Component | None:
        """Resolve ``{plugin = NAME, **config}`` to the plugin class and its validated config; problems with
        the name are reported at ``name_path`` (default: ``PATH.plugin``)."""
        if not isinstance(table, Mapping):
            self.problems.append(Problem(path, f"expected a table, got {show_value(table)}"))
            return None
        table = dict(table)
        name = table.pop("plugin", None)
        if name is None:
            installed = ", ".join(registry.names(kind)) or "none installed"
            self.problems.append(Problem(join_path(path, "plugin"), f"missing required key (which {kind} plugin: {installed})"))
            return None
        if not isinstance(name, str):
            self.problems.append(Problem(join_path(path, "plugin"), f"expected a plugin name, got {show_value(name)}"))
            return None
        try:
            cls = registry.load(kind, name)
        except PluginError as error:
            self.problems.append(Problem(name_path or join_path(path, "plugin"), str(error)))
            return None
        config = structure(registry.config_class(cls), table, path, self.problems, self.base_dir)
        return None if config is None else Component(kind, name, config, cls)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _named_tables(document: Mapping[str, Any], key: str, problems: list[Problem], required: bool) -> dict[str, Any]:
    """The ``[key.NAME]`` tables of a section; names must be identifiers (they become module names)."""
    value = document.get(key)
    if value is None:
        if required:
            problems.append(Problem(key, f"missing required section: add at least one [{key}.NAME] table"))
        return {}
    if not isinstance(value, Mapping):
        problems.append(Problem(key, f"expected tables [{key}.NAME], got {show_value(value)}"))
        return {}
    if required and not value:
        problems.append(Problem(key, f"add at least one [{key}.NAME] table"))
    for name in value:
        if not _NAME.match(str(name)):
            problems.append(Problem(join_path(key, str(name)),
                                    "a name may hold only letters, digits, '_' and '-', and must start with a letter or '_'"))
    return {str(k): v for k, v in value.items()}


def _build_hooks(
    enabled: tuple[str, ...], document: Mapping[str, Any], builder: _ComponentBuilder, problems: list[Problem]
) -> dict[str, Component]:
    """The hook plugins ``[run] hooks`` names, each configured from its ``[hooks.NAME]`` table (if any)."""
    tables = _named_tables(document, "hooks", problems, required=False)
    for name in tables:
        if name not in enabled:
            problems.append(Problem(join_path("hooks", name), f"configures a hook that [run] hooks does not enable"
                                    f"{did_you_mean(name, enabled)}; add '{name}' to [run] hooks or remove the table"))
    hooks = {}
    for i, name in enumerate(enabled):
        name_path = join_path(join_path("run", "hooks"), i)
        if name in enabled[:i]:
            problems.append(Problem(name_path, f"hook '{name}' is enabled twice"))
            continue
        table = tables.get(name, {})
        if isinstance(table, Mapping):
            if "plugin" in table:
                problems.append(Problem(join_path(join_path("hooks", name), "plugin"),
                                        "unknown key: a [hooks.NAME] table configures the hook plugin NAME"))
            table = {**table, "plugin": name}
        component = builder.build("hook", table, join_path("hooks", name), name_path)
        if component is not None:
            hooks[name] = component
    return hooks


def _pop_fraction(table: Any, key: str, path: str, problems: list[Problem]) -> float | None:
    if not isinstance(table, dict) or key not in table:
        return 0.0
    value = table.pop(key)
    if isinstance(value, CliText):
        try:
            value = float(value)
        except ValueError:
            pass
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        problems.append(Problem(path, f"expected a fraction between 0 and 1, got {show_value(value)}"))
        return None
    return float(value)


def _build_head(
    name: str,
    table: Any,
    builder: _ComponentBuilder,
    sources: Mapping[str, Any],
    problems: list[Problem],
    base_dir: pathlib.Path | None,
) -> HeadSpec | None:
    path = join_path("heads", name)
    if not isinstance(table, Mapping):
        problems.append(Problem(path, f"expected a table, got {show_value(table)}"))
        return None
    table = dict(table)
    target, loss = None, None
    if "target" not in table:
        problems.append(Problem(join_path(path, "target"), "missing required key (e.g. target = { source = \"equipment\", horizon = 7 })"))
    else:
        target = structure(TargetSpec, table.pop("target"), join_path(path, "target"), problems, base_dir)
        if target is not None and target.source not in sources:
            problems.append(Problem(join_path(join_path(path, "target"), "source"),
                                    f"no source named '{target.source}'{did_you_mean(target.source, sources)}"))
            target = None
    if "loss" not in table:
        problems.append(Problem(join_path(path, "loss"), "missing required key (e.g. loss = { plugin = \"masked-mse\" })"))
    else:
        loss = builder.build("loss", table.pop("loss"), join_path(path, "loss"))
    component = builder.build("head", table, path)
    if component is None or target is None or loss is None:
        return None
    return HeadSpec(component, target, loss)
