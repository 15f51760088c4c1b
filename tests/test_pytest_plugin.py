"""The kit as a pytest plugin: fixtures, and --mrframe-conformance[=DIST] making one test per promise of every
installed plugin, under the file that defines the plugin."""

import pathlib
import subprocess
import sys

import pytest

from mrframe import registry
from mrframe.testing.promises import promises

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_fixtures_are_available(mrframe_check, mrframe_observed, mrframe_calendar, mrframe_model_info, mrframe_state):
    x = mrframe_observed(2, 10, 3, missing=0.5)
    assert x.shape == (2, 10, 3) and mrframe_calendar(2, 10, 3).month_slot.shape == (2, 10)
    from tests.fakes import Identity, PointwiseEncoder

    mrframe_check("encoder", PointwiseEncoder)
    mrframe_check("fusion", Identity, only=("causal",))
    info = mrframe_model_info(d_model=8)
    state = mrframe_state(info, batch=3)
    assert state.daily.hidden.shape == (3, info.daily_window, 8)


def pytest_run(*args, cwd=ROOT, conftest=None):
    if conftest is not None:
        (cwd / "conftest.py").write_text(conftest)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


needs_example = pytest.mark.skipif("example-ema" not in registry.names("encoder"),
                                   reason="the mrframe-example distribution is not installed")


@needs_example
def test_one_item_per_promise_under_the_plugins_file(tmp_path):
    result = pytest_run("--mrframe-conformance=mrframe-example", "--collect-only", "-q", "--rootdir", str(ROOT),
                        str(tmp_path))
    lines = [line for line in result.stdout.splitlines() if "::" in line]
    path = "plugins/mrframe-example/src/mrframe_example/ema_encoder.py"
    assert [line for line in lines if "encoder:example-ema" in line] == [
        f"{path}::encoder:example-ema::{p.name}" for p in promises("encoder")], result.stdout + result.stderr
    assert not any("mrframe_han" in line for line in lines)  # filtered by distribution


def test_an_unknown_distribution_is_a_usage_error(tmp_path):
    result = pytest_run("--mrframe-conformance=mrframe-exampel", "--collect-only", "-q", str(tmp_path))
    assert result.returncode == 4
    assert "no installed distribution of that name registers mrframe plugins" in result.stderr
    if "example-ema" in registry.names("encoder"):
        assert "did you mean 'mrframe-example'?" in result.stderr


def test_a_distribution_named_like_a_folder_here_is_still_a_distribution(tmp_path):
    (tmp_path / "mrframe-osint").mkdir()  # a checkout's plugins/ folder holds one folder per distribution
    result = pytest_run("--collect-only", "-q", "--mrframe-conformance=mrframe-osint, mrframe-han", ".",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "source:equipment::frame" in result.stdout and "encoder:daily-transformer::causal" in result.stdout


def test_a_path_after_the_option_is_named_as_the_mistake(tmp_path):
    result = pytest_run("--collect-only", "-q", "--mrframe-conformance", str(tmp_path))
    assert result.returncode == 4
    assert f"--mrframe-conformance took '{tmp_path}' for a distribution name: put paths before the option" \
        in result.stderr


PLANTED = '''
import torch
from mrframe import registry
from mrframe.observed import Stream
from tests.fakes import PointwiseEncoder


class PlantedBreaks(PointwiseEncoder):
    """Breaks causality at step 5 and returns float32 from float64 inputs."""

    def forward(self, x, calendar):
        out = super().forward(x, calendar)
        leak = torch.zeros_like(out.hidden)
        leak[:, 5] = self.value(x.masked_values()[:, 6])
        return Stream((out.hidden + leak).float(), out.present)


registry.register("encoder", "planted-breaks", PlantedBreaks)
'''


def test_one_broken_promise_does_not_hide_the_next(tmp_path):
    folder = tmp_path / "suite"
    folder.mkdir()
    result = pytest_run("--mrframe-conformance", "-k", "planted", "-q", "--rootdir", str(ROOT), str(folder),
                        cwd=folder, conftest=f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n" + PLANTED)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "FAILED tests/test_pytest_plugin.py" not in out
    failed = sorted(line.split("::")[-1].split(" ")[0] for line in out.splitlines() if line.startswith("FAILED"))
    assert failed == ["causal", "float64"], out
    assert "outputs at step <= 5 changed" in out and "give torch.float32 outputs" in out
    assert f"{len(promises('encoder')) - 3} passed" in out  # the rest pass; permutation is skipped
