"""Plugin registries over Python entry points: lazy, isolated, with errors that suggest the fix.

Looking a plugin up by name reads entry-point metadata only; the plugin's module is imported when the plugin
is loaded, so a spec imports exactly the plugins it names. A plugin that fails to import fails only the run
that uses it; ``mrframe plugins`` lists it as broken with its distribution and the error.

Plugins can also be registered in-process (notebooks, tests) with :func:`register`; these shadow nothing:
a name registered both ways is an error, as is a name two distributions claim.

Life-cycle hooks are one more kind (``hook``), looked up, loaded, listed and checked the same way; their
contract is :func:`mrframe.hooks.contract_problem` rather than a base class.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata as metadata
from collections.abc import Iterator
from typing import Any

import attrs

from mrframe import hooks
from mrframe.config import NoConfig
from mrframe.errors import PluginError, did_you_mean
from mrframe.interfaces import PLUGIN_BASES

GROUPS: dict[str, str] = {
    "source": "mrframe.sources",
    "encoder": "mrframe.encoders",
    "fusion": "mrframe.fusion",
    "head": "mrframe.heads",
    "loss": "mrframe.losses",
    "weighting": "mrframe.weightings",
    "hook": "mrframe.hooks",
    "prediction-kind": "mrframe.prediction_kinds",
}
"""Plugin kind -> entry-point group."""

CONFIGURED = ("source", "encoder", "fusion", "head", "loss", "weighting")
"""The kinds a spec builds with a config (each declares an attrs ``Config``); hooks may declare one, prediction
kinds have none."""

FIRST_PARTY: dict[str, tuple[str, ...]] = {
    "source": ("mrframe-osint",),
    "encoder": ("mrframe-han",),
    "fusion": ("mrframe-han",),
    "head": ("mrframe-han",),
    "loss": ("mrframe-objectives",),
    "weighting": ("mrframe-objectives",),
    "hook": ("mrframe-tensorboard", "mrframe-mlflow"),
    "prediction-kind": ("mrframe",),
}
"""Which first-party distributions ship plugins of each kind (named in errors; never imported by the core)."""

_LOCAL = "<registered in-process>"


@attrs.frozen
class PluginEntry:
    """A registered plugin, known before it is imported."""

    kind: str
    name: str
    target: str  # "module:attribute", or the object's qualified name for in-process registrations
    distribution: str
    version: str

    @property
    def origin(self) -> str:
        return self.distribution if self.distribution == _LOCAL else f"{self.distribution} {self.version}"


@attrs.frozen
class PluginStatus:
    """An entry after trying to load it: ``plugin`` on success, ``error`` (one line) when broken."""

    entry: PluginEntry
    plugin: Any = None
    error: str | None = None


# The registries: the only module-level mutable state in mrframe.
_local: dict[tuple[str, str], Any] = {}
_loaded: dict[tuple[str, str], Any] = {}


def _check_kind(kind: str) -> str:
    if kind not in GROUPS:
        raise ValueError(f"unknown plugin kind {kind!r}; kinds are {', '.join(GROUPS)}")
    return kind


@functools.cache
def _scan(group: str) -> tuple[tuple[metadata.EntryPoint, str, str], ...]:
    found, seen = [], set()
    for ep in metadata.entry_points(group=group):
        dist = getattr(ep, "dist", None)
        dist_name = dist.metadata["Name"] if dist is not None else "<unknown distribution>"
        version = dist.version if dist is not None else "?"
        key = (ep.name, ep.value, dist_name)
        if key not in seen:  # the same distribution visible twice on sys.path
            seen.add(key)
            found.append((ep, dist_name, version))
    return tuple(found)


def refresh() -> None:
    """Forget cached entry points and loaded plugins (after installing a distribution in-process)."""
    _scan.cache_clear()
    _loaded.clear()


def entries(kind: str) -> dict[str, list[PluginEntry]]:
    """Every plugin of ``kind`` by name, without importing anything. A name with two entries is a conflict."""
    group = GROUPS[_check_kind(kind)]
    out: dict[str, list[PluginEntry]] = {}
    for ep, dist, version in _scan(group):
        out.setdefault(ep.name, []).append(PluginEntry(kind, ep.name, ep.value, dist, version))
    for (local_kind, name), obj in _local.items():
        if local_kind == kind:
            target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"
            out.setdefault(name, []).append(PluginEntry(kind, name, target, _LOCAL, ""))
    return dict(sorted(out.items()))


def names(kind: str) -> list[str]:
    """Sorted names of the installed plugins of ``kind``."""
    return list(entries(kind))


def entry(kind: str, name: str) -> PluginEntry:
    """The single entry registered as ``name``; :class:`PluginError` if there is none or more than one."""
    found = entries(kind)
    if name not in found:
        raise PluginError(_unknown_message(kind, name, list(found)))
    candidates = found[name]
    if len(candidates) > 1:
        origins = ", ".join(c.origin for c in candidates)
        raise PluginError(f"{kind} plugin name '{name}' is claimed more than once ({origins}): uninstall one of them")
    return candidates[0]


def load(kind: str, name: str) -> Any:
    """Import and return the plugin class registered as ``name``, checking it honours its contract."""
    key = (_check_kind(kind), name)
    if key in _loaded:
        return _loaded[key]
    item = entry(kind, name)
    if key in _local:
        obj = _local[key]
    else:
        ep = next(ep for ep, dist, _ in _scan(GROUPS[kind]) if ep.name == name and dist == item.distribution)
        try:
            obj = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # a plugin's import may raise anything, even SystemExit
            raise PluginError(
                f"{kind} plugin '{name}' (from {item.origin}) failed to import: {_one_line(error)}"
            ) from error
    _check_contract(kind, name, item, obj)
    _loaded[key] = obj
    return obj


def inspect(kind: str) -> list[PluginStatus]:
    """Try to load every plugin of ``kind``; broken ones are reported, never raised."""
    out = []
    for name, candidates in entries(kind).items():
        for candidate in candidates:
            try:
                out.append(PluginStatus(candidate, plugin=load(kind, name)))
            except PluginError as error:
                cause = error.__cause__
                out.append(PluginStatus(candidate, error=_one_line(cause) if cause else str(error)))
    return out


def register(kind: str, name: str, plugin: Any) -> None:
    """Register ``plugin`` as ``name`` in this process (for notebooks and tests)."""
    key = (_check_kind(kind), name)
    if key in _local and _local[key] is not plugin:
        raise PluginError(f"{kind} plugin '{name}' is already registered in this process")
    _check_contract(kind, name, PluginEntry(kind, name, repr(plugin), _LOCAL, ""), plugin)
    _local[key] = plugin
    _loaded.pop(key, None)


def unregister(kind: str, name: str) -> None:
    _local.pop((_check_kind(kind), name), None)
    _loaded.pop((kind, name), None)


@contextlib.contextmanager
def registered(kind: str, name: str, plugin: Any) -> Iterator[Any]:
    """``with registered("encoder", "mine", MyEncoder): ...`` registers for the duration of the block."""
    register(kind, name, plugin)
    try:
        yield plugin
    finally:
        unregister(kind, name)


def config_class(plugin: Any) -> type:
    """The attrs class of a loaded plugin's options: its ``Config``, or :class:`~mrframe.config.NoConfig` for a
    hook plugin that declares none."""
    return getattr(plugin, "Config", None) or NoConfig


# ------------------------------------------------------------------------------------------------ helpers


def _unknown_message(kind: str, name: str, installed: list[str]) -> str:
    plural = "fusion" if kind == "fusion" else f"{kind}s"
    if not installed:
        dists = FIRST_PARTY[kind]
        where = "the distribution" + "s" * (len(dists) > 1) + " " + ", ".join(f"'{d}'" for d in dists)
        return (
            f"no {kind} plugin named '{name}': no {kind} plugins are installed; the first-party {plural} ship in "
            f"{where} (pip install {' '.join(dists)}, or pip install {' '.join(f'-e plugins/{d}' for d in dists)} "
            "from a checkout)"
        )
    return f"no {kind} plugin named '{name}'{did_you_mean(name, installed)}; installed: {', '.join(installed)}"


def _check_contract(kind: str, name: str, item: PluginEntry, obj: Any) -> None:
    problem = hooks.contract_problem(obj) if kind == "hook" else _class_contract_problem(kind, obj)
    if problem:
        raise PluginError(f"{kind} plugin '{name}' (from {item.origin}) {problem}")


def _class_contract_problem(kind: str, obj: Any) -> str | None:
    base = PLUGIN_BASES[kind]
    if not (isinstance(obj, type) and issubclass(obj, base)):
        return f"is {obj!r}, not a subclass of {base.__module__}.{base.__qualname__}"
    config = getattr(obj, "Config", None)
    if kind in CONFIGURED and not (isinstance(config, type) and attrs.has(config)):
        return "must declare its options as an attrs class `Config` (see mrframe.config.field)"
    return None


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
