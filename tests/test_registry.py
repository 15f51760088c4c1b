import pytest
import torch

from mrframe import registry
from mrframe.errors import EXIT_CHECK_FAILED, PluginError
from tests.distributions import make_distribution, run_cli
from tests.fakes import FAKE_SPEC, WaveSource


def test_register_load_and_unregister():
    with registry.registered("source", "tmp-wave", WaveSource):
        assert "tmp-wave" in registry.names("source")
        assert registry.load("source", "tmp-wave") is WaveSource
        assert registry.entry("source", "tmp-wave").distribution == "<registered in-process>"
    assert "tmp-wave" not in registry.names("source")


def test_unknown_name_suggests_and_lists_installed():
    with registry.registered("source", "tmp-wave", WaveSource):
        with pytest.raises(PluginError, match=r"no source plugin named 'tmp-wav' \(did you mean 'tmp-wave'\?\); installed: .*tmp-wave"):
            registry.load("source", "tmp-wav")


def test_contract_is_checked_at_registration():
    with pytest.raises(PluginError, match="not a subclass of mrframe.interfaces.Encoder"):
        registry.register("encoder", "bad", WaveSource)

    class NoConfig(torch.nn.Module):
        pass

    from mrframe.interfaces import Encoder

    class Unconfigured(Encoder):
        Config = dict

    with pytest.raises(PluginError, match="attrs class `Config`"):
        registry.register("encoder", "bad", Unconfigured)


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown plugin kind"):
        registry.names("sauce")


TRACKER = "import pathlib, os\npathlib.Path(os.environ['TRACK_FILE']).write_text('imported')\nfrom tests.fakes import Identity as Tracked\n"
BROKEN = "raise RuntimeError('acme_broken needs the ACME_TOKEN variable')\n"
HOOKS = """
import attrs
from mrframe.config import field
from mrframe.hooks import hookimpl


class Hook:
    \"\"\"Sends every epoch to the ACME dashboard.\"\"\"

    @attrs.frozen
    class Config:
        endpoint: str = field("http://localhost:9000", "where the dashboard listens")

    def __init__(self, config):
        self.config = config

    @hookimpl
    def mrframe_epoch_end(self, run, record):
        pass


class Misspelled:
    @hookimpl
    def mrframe_epoch_ends(self, run, record):
        pass
"""


@pytest.fixture
def acme(tmp_path):
    """An installed third-party distribution with working fakes, a broken plugin and an import tracker."""
    return make_distribution(
        tmp_path / "site", "acme-plugins", "0.3",
        {
            "mrframe.sources": {"acme-wave": "tests.fakes:WaveSource", "acme-broken": "acme_broken:Source"},
            "mrframe.encoders": {"acme-pointwise": "tests.fakes:PointwiseEncoder"},
            "mrframe.fusion": {"acme-tracked": "acme_tracker:Tracked", "acme-identity": "tests.fakes:Identity"},
            "mrframe.heads": {"acme-last": "tests.fakes:LastStepHead"},
            "mrframe.losses": {"acme-se": "tests.fakes:SquaredError"},
            "mrframe.weightings": {"acme-mean": "tests.fakes:Mean"},
            "mrframe.hooks": {"acme-hook": "acme_hooks:Hook", "acme-misspelled": "acme_hooks:Misspelled",
                              "acme-broken-hook": "acme_broken"},
        },
        {"acme_broken.py": BROKEN, "acme_tracker.py": TRACKER, "acme_hooks.py": HOOKS},
    )


def acme_spec(tmp_path, **replace):
    text = FAKE_SPEC.replace('"fake-', '"acme-').replace("acme-wave", replace.get("source", "acme-wave"), 1)
    path = tmp_path / "acme.toml"
    path.write_text(text)
    return path


def test_broken_plugin_is_listed_and_does_not_stop_the_listing(acme):
    result = run_cli(["plugins"], path=acme)
    assert result.returncode == 0, result.stderr
    broken = [line for line in result.stdout.splitlines() if "acme-broken " in line]
    assert len(broken) == 1
    assert "acme-plugins 0.3" in broken[0]
    assert "BROKEN: RuntimeError: acme_broken needs the ACME_TOKEN variable" in broken[0]
    assert any("acme-wave" in line and "Sine waves" in line for line in result.stdout.splitlines())
    hooks = result.stdout.split("hook plugins (mrframe.hooks):\n")[1].splitlines()
    assert hooks[0].split()[:5] == ["acme-broken-hook", "acme-plugins", "0.3", "BROKEN:", "RuntimeError:"]
    assert "acme-hook" in hooks[1] and hooks[1].endswith("Sends every epoch to the ACME dashboard.")
    assert "acme-misspelled" in hooks[2] and "BROKEN: hook plugin 'acme-misspelled' (from acme-plugins 0.3) is not " \
           "a valid hook implementation: unknown hook 'mrframe_epoch_ends'" in hooks[2]


@pytest.fixture
def acme_in_process(acme, monkeypatch, tmp_path):
    """The acme distribution visible to this process (for CLI calls through click's runner)."""
    monkeypatch.setenv("TRACK_FILE", str(tmp_path / "tracked"))
    monkeypatch.syspath_prepend(str(acme))
    registry.refresh()
    yield
    registry.refresh()


def test_strict_listing_fails_when_any_plugin_is_broken(acme_in_process):
    from click.testing import CliRunner

    from mrframe.cli import cli

    result = CliRunner().invoke(cli, ["plugins", "--strict"])
    assert result.exit_code == EXIT_CHECK_FAILED and "3 broken plugins (listed as BROKEN above)" in result.output
    result = CliRunner().invoke(cli, ["plugins", "--strict", "--kind", "encoder"])
    assert result.exit_code == 0 and "acme-pointwise" in result.output


def test_show_describes_a_hook_plugin_and_its_config(acme_in_process):
    from click.testing import CliRunner

    from mrframe.cli import cli

    result = CliRunner().invoke(cli, ["plugins", "show", "acme-hook"])
    assert result.exit_code == 0, result.output
    assert "acme-hook: hook plugin from acme-plugins 0.3 (acme_hooks:Hook)" in result.output
    assert "[hooks.acme-hook]" in result.output and "Sends every epoch to the ACME dashboard." in result.output
    assert "endpoint  str  \"http://localhost:9000\"  where the dashboard listens" in result.output


def test_only_referenced_plugins_are_imported_and_a_broken_one_fails_only_its_users(acme, tmp_path, monkeypatch):
    track = tmp_path / "tracked"
    monkeypatch.setenv("TRACK_FILE", str(track))
    spec = acme_spec(tmp_path)
    result = run_cli(["validate", str(spec)], path=acme)
    assert result.returncode == 0, result.stderr
    assert not track.exists(), "a plugin the spec does not name was imported"

    result = run_cli(["validate", str(spec), "--set", "fusion.0.plugin=acme-tracked"], path=acme)
    assert result.returncode == 0, result.stderr
    assert track.exists()

    result = run_cli(["validate", str(spec), "--set", "sources.daily.plugin=acme-broken"], path=acme)
    assert result.returncode == 2
    assert "sources.daily.plugin: source plugin 'acme-broken' (from acme-plugins 0.3) failed to import: " \
           "RuntimeError: acme_broken needs the ACME_TOKEN variable" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_name_claimed_twice_is_an_error(acme, tmp_path):
    other = make_distribution(tmp_path / "other", "other-plugins", "1.0",
                              {"mrframe.sources": {"acme-wave": "tests.fakes:WaveSource"}})
    import os

    result = run_cli(["validate", str(acme_spec(tmp_path))], path=f"{acme}{os.pathsep}{other}")
    assert result.returncode == 2
    assert "source plugin name 'acme-wave' is claimed more than once (acme-plugins 0.3, other-plugins 1.0)" in result.stderr
