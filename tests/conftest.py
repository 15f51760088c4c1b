"""Shared fixtures; tests marked `plugins` skip when the first-party distributions are not installed, tests
marked `core_only` run only when they are not."""

from __future__ import annotations

import importlib.metadata
import pathlib

import pytest

from tests.fakes import FAKE_SPEC, fake_plugins


def _installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


FIRST_PARTY = ("mrframe-osint", "mrframe-han", "mrframe-objectives")
HAVE_PLUGINS = all(_installed(d) for d in FIRST_PARTY)
HAVE_NONE = not any(_installed(d) for d in FIRST_PARTY)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "plugins" in item.keywords and not HAVE_PLUGINS:
            item.add_marker(pytest.mark.skip(reason="needs the first-party plugin distributions"))
        if "core_only" in item.keywords and not HAVE_NONE:
            item.add_marker(pytest.mark.skip(reason="meaningful only with no plugin distribution installed"))


@pytest.fixture
def fakes():
    with fake_plugins():
        yield


@pytest.fixture
def fake_spec_file(tmp_path: pathlib.Path, fakes) -> pathlib.Path:
    path = tmp_path / "fake.toml"
    path.write_text(FAKE_SPEC)
    return path
