"""The conformance kit as a pytest plugin (entry point ``pytest11: mrframe``).

Fixtures:

* ``mrframe_check``: ``mrframe_check("encoder", MyEncoder)`` runs the kit's check of that kind;
* ``mrframe_observed``: ``mrframe_observed(batch, steps, features, missing=0.3, seed=0)`` builds test inputs;
* ``mrframe_calendar``: ``mrframe_calendar(batch, days, months)`` a consistent calendar.

``pytest --mrframe-conformance`` adds one test per installed plugin of every kind (``test_conformance[encoder:
recurrent]``), so a plugin distribution's CI checks everything it registers without writing a test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mrframe import registry
from mrframe.testing import CHECKS, check_plugin
from mrframe.testing.inputs import make_calendar, random_observed


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("mrframe")
    group.addoption("--mrframe-conformance", action="store_true",
                    help="check every installed mrframe plugin with the conformance kit")


@pytest.fixture
def mrframe_check() -> Callable[..., None]:
    return check_plugin


@pytest.fixture
def mrframe_observed() -> Callable[..., Any]:
    return random_observed


@pytest.fixture
def mrframe_calendar() -> Callable[..., Any]:
    return make_calendar


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--mrframe-conformance"):
        return
    for kind in CHECKS:
        for name in registry.names(kind):
            items.append(_ConformanceItem.from_parent(session, name=f"test_conformance[{kind}:{name}]",
                                                      kind=kind, plugin=name))


class _ConformanceItem(pytest.Item):
    def __init__(self, *, kind: str, plugin: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.kind, self.plugin = kind, plugin

    def runtest(self) -> None:
        check_plugin(self.kind, self.plugin)

    def reportinfo(self) -> tuple[str, int, str]:
        return "mrframe-conformance", 0, f"{self.kind} plugin '{self.plugin}'"
