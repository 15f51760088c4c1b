"""Every installed plugin, of every kind, through every promise of the conformance kit (one test each, so one
broken promise never hides the next): a new plugin is covered without a test."""

import pytest

from mrframe import registry
from mrframe.testing import CHECKS
from mrframe.testing.promises import NotApplicable, promises

CASES = [(kind, name, promise) for kind in CHECKS for name in registry.names(kind) for promise in promises(kind)]


@pytest.mark.parametrize(("kind", "name", "promise"), CASES,
                         ids=[f"{k}:{n}:{p.name}" for k, n, p in CASES])
def test_installed_plugin_keeps_promise(kind, name, promise):
    try:
        promise.check(registry.load(kind, name), f"{kind} '{name}'")
    except NotApplicable as reason:
        pytest.skip(str(reason))
