"""`mrframe new plugin NAME` writes a distribution that installs and passes the conformance kit as written."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import sysconfig
import tomllib
import venv

import pytest
from click.testing import CliRunner

from mrframe.cli import cli
from mrframe.cli.new import SKIPPED, write_plugin
from tests.distributions import REPO
from tests.test_cli import run_main


def files(root: pathlib.Path) -> dict[str, bytes]:
    out = {}
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if path.is_file() and not any(SKIPPED.fullmatch(part) for part in parts):
            out["/".join(parts)] = path.read_bytes()
    return out


def test_the_example_plugin_is_what_the_template_writes_for_example(tmp_path):
    written = write_plugin("example", tmp_path)
    assert files(written) == files(REPO / "plugins" / "mrframe-example")


def test_a_new_plugin_is_renamed_throughout(tmp_path):
    written = write_plugin("mrframe-acme-tools", tmp_path)  # the prefix is optional
    assert written == tmp_path / "mrframe-acme-tools"
    project = tomllib.loads((written / "pyproject.toml").read_text())
    assert project["project"]["name"] == "mrframe-acme-tools" and project["project"]["license"] == "MIT"
    assert project["project"]["entry-points"]["mrframe.sources"] == {"acme-tools-csv": "mrframe_acme_tools.csv_source:CsvSource"}
    assert (written / "src" / "mrframe_acme_tools" / "ema_encoder.py").is_file()
    text = "\n".join(content.decode() for content in files(written).values())
    for old in ("mrframe-example", "mrframe_example", "example-csv", "example-ema"):
        assert old not in text


def test_bad_names_and_existing_folders_are_refused_without_writing(tmp_path, capsys):
    code, _, err = run_main(["new", "plugin", "Acme_Tools", "--out", str(tmp_path)], capsys)
    assert code == 2 and "error: plugin name 'Acme_Tools': use lowercase letters and digits" in err
    (tmp_path / "mrframe-acme").mkdir()
    code, _, err = run_main(["new", "plugin", "acme", "--out", str(tmp_path)], capsys)
    assert code == 2 and "already exists" in err and "nothing was written" in err
    assert list((tmp_path / "mrframe-acme").iterdir()) == []


def test_an_unwritable_out_folder_is_one_line_with_status_2(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    code, _, err = run_main(["new", "plugin", "acme", "--out", str(blocker / "sub")], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"error: --out {blocker / 'sub'}: cannot write mrframe-acme there (")
    assert blocker.read_text() == "not a folder"


def venv_on_top_of_this_one(folder: pathlib.Path) -> pathlib.Path:
    """A virtual environment that sees this one's packages (a .pth runs their .pth files too) and installs
    into its own: installing a plugin there leaves the test environment untouched."""
    venv.EnvBuilder(with_pip=False).create(folder)
    site = sysconfig.get_path("purelib", scheme="venv", vars={"base": str(folder), "platbase": str(folder)})
    parent = sysconfig.get_paths()["purelib"]
    pathlib.Path(site, "parent.pth").write_text(f"import site; site.addsitedir({parent!r})\n")
    return folder / "bin" / "python"


@pytest.mark.slow
def test_a_new_plugin_installs_and_passes_its_kit_tests_as_written(tmp_path):
    result = CliRunner().invoke(cli, ["new", "plugin", "acme", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "mrframe-acme"
    assert f"pip install -e {written}" in result.output
    python = venv_on_top_of_this_one(tmp_path / "venv")

    def run(*args: str) -> subprocess.CompletedProcess:
        done = subprocess.run([str(python), *args], capture_output=True, text=True, cwd=written, timeout=600,
                              env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    run("-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-e", str(written))
    kit = run("-m", "pytest", "tests", "-q", "-m", "not slow", "-p", "no:cacheprovider")  # finds acme-csv by name
    assert " passed" in kit.stdout and "failed" not in kit.stdout and "skipped" not in kit.stdout
    assert not any(d.name.startswith("mrframe_acme") for d in pathlib.Path(sysconfig.get_paths()["purelib"]).iterdir())
    assert sys.prefix != str(tmp_path / "venv")
