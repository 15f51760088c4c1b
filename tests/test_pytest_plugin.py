"""The kit as a pytest plugin: fixtures, and --mrframe-conformance checking every installed plugin."""

import subprocess
import sys

import pytest

from mrframe import registry


def test_fixtures_are_available(mrframe_check, mrframe_observed, mrframe_calendar):
    x = mrframe_observed(2, 10, 3, missing=0.5)
    assert x.shape == (2, 10, 3) and mrframe_calendar(2, 10, 3).month_slot.shape == (2, 10)
    from tests.fakes import PointwiseEncoder

    mrframe_check("encoder", PointwiseEncoder)


def test_conformance_option_adds_a_test_per_installed_plugin(tmp_path):
    if not registry.names("encoder"):
        pytest.skip("no plugin installed")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "--mrframe-conformance", "--collect-only", "-q", "-p", "no:cacheprovider",
         str(tmp_path)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    for name in registry.names("encoder"):
        assert f"test_conformance[encoder:{name}]" in result.stdout, result.stdout + result.stderr
