"""Packaging promises: torch pinned only through constraints, `min` pins equal pyproject's lower bounds."""

import pathlib
import re
import tomllib

from tests.distributions import REPO


def lower_bounds() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    bounds = {}
    for requirement in project["dependencies"]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement.strip())
        assert match, f"every dependency needs a plain lower bound: {requirement}"
        bounds[match[1].lower()] = match[2]
    return bounds


def test_min_constraints_are_pyprojects_lower_bounds():
    pins = {}
    for line in (REPO / "constraints-min.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    bounds = lower_bounds()
    bounds.pop("torch")  # one torch for every env: the CPU build pinned in constraints.txt
    assert {k: v if v.count(".") >= 2 else v + ".0" for k, v in bounds.items()} == pins


def test_torch_is_pinned_by_constraints_and_ranged_in_pyproject():
    assert (REPO / "constraints.txt").read_text().split() == ["torch==2.13.0"]
    assert lower_bounds()["torch"] == "2.2"
    for text in ((REPO / "Makefile").read_text(), (REPO / "tox.ini").read_text()):
        assert "constraints.txt" in text


def test_make_the_readme_and_tox_install_the_same_extras():
    """``make install``, the README's manual install and ``tox -e all`` (and the envs built on it) agree."""
    found = {
        "Makefile": re.findall(r"-e '\.\[([\w,]+)\]'", (REPO / "Makefile").read_text()),
        "README.md": re.findall(r"-e '\.\[([\w,]+)\]'", (REPO / "README.md").read_text()),
        "tox.ini [testenv:all]": re.findall(r"-e \{toxinidir\}\[([\w,]+)\]\n    -e \{toxinidir\}/plugins",
                                            (REPO / "tox.ini").read_text()),
    }
    assert all(len(extras) == 1 for extras in found.values()), found
    assert {set(extras[0].split(",")) == {"test", "tune", "export"} for extras in found.values()} == {True}, found


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    assert "make test" in readme and re.search(r"^make test\b", ci, re.MULTILINE)
    assert pathlib.Path(REPO / ".ci" / "run").stat().st_mode & 0o111


def test_the_spec_reference_is_up_to_date():
    import pytest

    from mrframe import registry
    from mrframe.reference import render

    installed = {e.distribution for kind in registry.GROUPS for v in registry.entries(kind).values() for e in v}
    if not set().union(*registry.FIRST_PARTY.values()) <= installed:
        pytest.skip("the reference documents the first-party plugins, which are not all installed")
    current = (REPO / "docs" / "reference.md").read_text()
    assert render() == current, "docs/reference.md is stale: run `python -m mrframe.reference docs/reference.md`"
