"""The conformance kit as a pytest plugin (entry point ``pytest11: mrframe``).

``pytest --mrframe-conformance`` adds one test per promise of every installed plugin, under the file that
defines the plugin (``src/acme/encoders.py::encoder:acme-gru::causal``), so one broken promise never hides the
next and a failure points at the right file. ``--mrframe-conformance=DIST`` checks only the plugins of the
distribution ``DIST`` (repeat the option, or separate names with commas, for several); a plugin distribution's
CI runs ``pytest --mrframe-conformance=acme-mrframe`` and is covered without writing a test. Select promises with
``-k``: ``-k "causal or float64"``.

Fixtures for plugin authors' own tests:

* ``mrframe_check``: ``mrframe_check("encoder", MyEncoder)`` runs every promise of that kind (``only=(...)``
  for some);
* ``mrframe_observed``: ``mrframe_observed(batch, steps, features, missing=0.3, seed=0)`` builds inputs;
* ``mrframe_calendar``: ``mrframe_calendar(batch, days, months)`` a consistent calendar;
* ``mrframe_model_info``: ``mrframe_model_info(d_model=16, days=40, months=4)`` the kit's model (two daily and
  two monthly sources), what fusion blocks and heads are built with;
* ``mrframe_state``: ``mrframe_state(info, batch=4, seed=0, absent=0.2)`` a random :class:`~mrframe.observed.State`
  of that model, the input of a fusion block or head (``mrframe.testing.inputs.absent_state`` empties it).
"""

from __future__ import annotations

import inspect
import pathlib
import re
from collections.abc import Callable
from typing import Any

import pytest

from mrframe import registry
from mrframe.errors import PluginError, did_you_mean
from mrframe.testing import CHECKS, check_plugin
from mrframe.testing.common import ConformanceError
from mrframe.testing.inputs import example_model_info, make_calendar, random_observed, random_state
from mrframe.testing.promises import NotApplicable, Promise, promises

ALL = "*"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mrframe")
    group.addoption("--mrframe-conformance", action="append", nargs="?", const=ALL, default=None, metavar="DIST",
                    help="check installed mrframe plugins with the conformance kit, one test per promise: all of "
                         "them, or those of distribution DIST (repeat or comma-separate for several)")


@pytest.fixture
def mrframe_check() -> Callable[..., None]:
    return check_plugin


@pytest.fixture
def mrframe_observed() -> Callable[..., Any]:
    return random_observed


@pytest.fixture
def mrframe_calendar() -> Callable[..., Any]:
    return make_calendar


@pytest.fixture
def mrframe_model_info() -> Callable[..., Any]:
    return example_model_info


@pytest.fixture
def mrframe_state() -> Callable[..., Any]:
    return random_state


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wanted(config: pytest.Config) -> set[str] | None:
    """The distributions to check (normalised names), ``{ALL}`` for every one, None when the option is off."""
    values = config.getoption("--mrframe-conformance")
    if not values:
        return None
    parts = (part.strip() for value in values for part in value.split(","))
    return {_normal(part) if part != ALL else ALL for part in parts if part}


def _plugins() -> list[tuple[str, registry.PluginEntry]]:
    """Every installed plugin of a kind the kit checks (a name two distributions claim: its first entry, whose
    item then fails with the registry's message)."""
    return [(kind, entries[0]) for kind in CHECKS for entries in registry.entries(kind).values()]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = _wanted(config)
    if wanted is None:
        return
    plugins = _plugins()
    installed = {_normal(entry.distribution): entry.distribution for _, entry in plugins}
    unknown = sorted(wanted - set(installed) - {ALL})
    paths = [value for value in config.getoption("--mrframe-conformance")
             if _normal(value) not in installed and value != ALL and pathlib.Path(value).exists()]
    if paths:
        raise pytest.UsageError(
            f"--mrframe-conformance took '{paths[0]}' for a distribution name: put paths before the option "
            f"(pytest {paths[0]} --mrframe-conformance) or write --mrframe-conformance=DIST")
    if unknown:
        raise pytest.UsageError(
            f"--mrframe-conformance={unknown[0]}: no installed distribution of that name registers mrframe plugins"
            f"{did_you_mean(unknown[0], list(installed))}; installed: {', '.join(sorted(installed.values()))}")
    files: dict[pathlib.Path, _PluginFile] = {}
    for kind, entry in plugins:
        if ALL not in wanted and _normal(entry.distribution) not in wanted:
            continue
        try:
            cls, error = registry.load(kind, entry.name), None
            path = pathlib.Path(inspect.getsourcefile(cls) or config.rootpath)
        except (PluginError, TypeError) as failure:
            cls, error, path = None, failure, config.rootpath / "setup.cfg"
        if path not in files:
            files[path] = _PluginFile.from_parent(session, path=path, nodeid=_file_id(path, config.rootpath))
        group = _Plugin.from_parent(files[path], name=f"{kind}:{entry.name}")
        if error is not None:
            items.append(_LoadItem.from_parent(group, name="load", error=error))
            continue
        for each in promises(kind):
            items.append(_PromiseItem.from_parent(group, name=each.name, promise=each, plugin=cls,
                                                  plugin_name=entry.name))


def _file_id(path: pathlib.Path, root: pathlib.Path) -> str:
    """The file's path relative to the rootdir when inside it, else its absolute path (never just its name)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


class _PluginFile(pytest.File):
    """The file that defines one or more plugins: the parent of their promise items."""

    def collect(self) -> list[Any]:
        return []


class _Plugin(pytest.Collector):
    """One plugin (``encoder:recurrent``): the parent of one item per promise."""

    def collect(self) -> list[Any]:
        return []


class _PromiseItem(pytest.Item):
    def __init__(self, *, promise: Promise, plugin: type, plugin_name: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.promise, self.plugin, self.plugin_name = promise, plugin, plugin_name
        self.add_marker(pytest.mark.mrframe_conformance)

    def runtest(self) -> None:
        try:
            self.promise.check(self.plugin, f"{self.promise.kind} '{self.plugin_name}'")
        except NotApplicable as reason:
            pytest.skip(f"{self.promise.name}: {reason}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ConformanceError):
            return f"{excinfo.value}\n(promise '{self.promise.name}': {self.promise.doc})"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[pathlib.Path, int, str]:
        try:
            line = inspect.getsourcelines(self.plugin)[1] - 1
        except (OSError, TypeError):
            line = 0
        return self.path, line, f"{self.promise.kind} '{self.plugin_name}': {self.promise.doc}"


class _LoadItem(pytest.Item):
    """A plugin that cannot be loaded: one failing item with the registry's message."""

    def __init__(self, *, error: Exception, **kwargs: Any):
        super().__init__(**kwargs)
        self.error = error

    def runtest(self) -> None:
        raise self.error

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        return str(excinfo.value)

    def reportinfo(self) -> tuple[pathlib.Path, int, str]:
        return self.path, 0, f"loading {self.parent.name}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mrframe_conformance: a promise of the mrframe conformance kit")
