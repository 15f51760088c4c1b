"""Every installed plugin, of every kind, through the conformance kit: a new plugin is covered without a test."""

import pytest

from mrframe import registry
from mrframe.testing import CHECKS

CASES = [(kind, name) for kind in CHECKS for name in registry.names(kind)]


@pytest.mark.parametrize(("kind", "name"), CASES, ids=[f"{k}:{n}" for k, n in CASES])
def test_installed_plugin_conforms(kind, name):
    CHECKS[kind](name)
