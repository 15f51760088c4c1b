import json

import pytest
import torch

from mrframe.cli import main
from mrframe.spec import load_spec


def run_main(args, capsys):
    with pytest.raises(SystemExit) as info:
        main(args)
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


def test_validate_ok(fake_spec_file, capsys):
    code, out, _ = run_main(["validate", str(fake_spec_file)], capsys)
    assert code == 0
    assert out.strip() == f"{fake_spec_file}: OK (2 sources, 2 encoders, 1 fusion block, 1 head, weighting 'fake-mean')"


def test_validate_reports_every_problem_with_exit_2_and_no_traceback(fake_spec_file, capsys):
    args = ["validate", str(fake_spec_file), "--set", "train.epochs=0", "--set", "model.d_modle=3",
            "--set", "heads.ahead.loss.plugin=fake-ses", "--set", "data.stride=x", "--set", "run.seed=-1"]
    code, _, err = run_main(args, capsys)
    assert code == 2
    lines = [line.strip() for line in err.splitlines()[1:]]
    assert lines[0] == "run.seed: must be >= 0, got -1"
    assert lines[1] == 'data.stride: expected an integer, got "x"'
    assert lines[2] == "model.d_modle: unknown key (did you mean 'd_model'?)"
    assert lines[3] == "train.epochs: must be >= 1, got 0"
    assert lines[4].startswith("heads.ahead.loss.plugin: no loss plugin named 'fake-ses' (did you mean 'fake-se'?)")
    assert len(lines) == 5 and "Traceback" not in err
    assert err.splitlines()[0] == f"error: {fake_spec_file}: 5 problems in the spec:"


def test_debug_shows_the_traceback(fake_spec_file, capsys):
    code, _, err = run_main(["validate", str(fake_spec_file), "--set", "train.epochs=0", "--debug"], capsys)
    assert code == 2 and "Traceback" in err


def test_usage_errors_exit_2(capsys):
    code, _, err = run_main(["validate"], capsys)
    assert code == 2 and "Missing argument 'SPEC'" in err


def test_plugins_show_derives_everything_from_the_config_class(fakes, capsys):
    code, out, _ = run_main(["plugins", "show", "fake-wave"], capsys)
    assert code == 0
    assert "fake-wave: source plugin from <registered in-process>" in out
    assert "Sine waves with noise and missing values." in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and len(line.split()) > 2}
    assert rows["periods"].split()[1:3] == ["int", "400"] and rows["periods"].endswith("rows")
    assert rows["resolution"].split()[1:4] == ['"daily"', "|", '"monthly"']


def test_plugins_show_unknown_name(fakes, capsys):
    code, _, err = run_main(["plugins", "show", "fake-wav"], capsys)
    assert code == 2 and "did you mean 'fake-wave'?" in err


def test_run_leaves_a_complete_run_directory(fake_spec_file, tmp_path, capsys):
    out_dir = tmp_path / "runs"
    code, out, err = run_main(["run", str(fake_spec_file), "--out", str(out_dir), "--set", "train.epochs=3"], capsys)
    assert code == 0, err
    (run_dir,) = out_dir.iterdir()
    assert f"run directory: {run_dir}" in out
    assert "model: " in out and "parameters (encoders.daily" in out
    assert "epoch 3/3" in err  # the progress bar
    names = sorted(p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file())
    assert {"spec.toml", "metrics.csv", "metrics.jsonl", "plots/loss.png", "checkpoints/last.pt", "summary.json",
            "data_report.txt", "plots/data_observed.png"} <= set(names), names
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert (run_dir / "metrics.csv").read_text().count("\n") == 4
    assert (run_dir / "plots/loss.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "finished" and summary["parameters"]["total"] > 0
    checkpoint = torch.load(run_dir / "checkpoints/last.pt", weights_only=True)
    assert {"model", "optimizer", "weighting", "preprocessing", "spec"} <= set(checkpoint)
    resolved = load_spec(run_dir / "spec.toml")  # the resolved spec is itself a valid spec
    assert resolved.train.epochs == 3


def test_run_validates_first(fake_spec_file, tmp_path, capsys):
    out_dir = tmp_path / "runs"
    code, _, err = run_main(["run", str(fake_spec_file), "--out", str(out_dir), "--set", "train.epochz=3"], capsys)
    assert code == 2 and "train.epochz: unknown key (did you mean 'epochs'?)" in err
    assert not out_dir.exists(), "nothing may be written before the spec is valid"


@pytest.mark.core_only
def test_core_alone_lists_no_plugins_and_names_the_distribution_to_install(capsys):
    code, out, _ = run_main(["plugins"], capsys)
    assert code == 0 and "no plugins installed" in out and "mrframe-osint" in out
    code, _, err = run_main(["validate", "examples/minimal.toml"], capsys)
    assert code == 2
    assert "no source plugin named 'equipment': no source plugins are installed; the first-party sources ship in " \
           "the distribution 'mrframe-osint'" in err


def _commands(group, prefix=()):
    import click

    for name, command in group.commands.items():
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_command_has_help_with_an_example(capsys):
    from mrframe.cli import cli

    for path, _ in _commands(cli):
        code, out, _ = run_main([*path, "--help"], capsys)
        assert code == 0 and "Example" in out, f"mrframe {' '.join(path)} --help needs an example"


def test_a_run_that_fails_before_training_leaves_no_run_directory(fake_spec_file, tmp_path, capsys):
    out_dir = tmp_path / "runs"
    code, _, err = run_main(["run", str(fake_spec_file), "--out", str(out_dir),
                             "--set", "heads.ahead.target.features=nope"], capsys)
    assert code == 2 and "heads.ahead.target.features[0]: source 'daily' has no feature 'nope'" in err
    assert not any(out_dir.iterdir())


def test_a_source_frame_with_a_text_column_is_one_line_error_before_any_masking(fake_spec_file, tmp_path, capsys):
    from mrframe import registry
    from tests.fakes import WaveSource

    class LabelledWave(WaveSource):
        """Waves plus a text column a loader forgot to drop."""

        def load(self):  # noqa: ANN202
            loaded = super().load()
            loaded.frame["label"] = "calm"
            return loaded

    with registry.registered("source", "fake-labelled-wave", LabelledWave):
        code, _, err = run_main(["run", str(fake_spec_file), "--out", str(tmp_path / "runs"),
                                 "--set", "sources.daily.plugin=fake-labelled-wave"], capsys)
    assert code == 2 and "Traceback" not in err, err
    assert err.strip() == "error: source 'daily': non-numeric feature column 'label'; loaders must drop or encode it"


def test_a_failed_fold_or_worker_gives_its_own_exit_status():
    from mrframe.errors import ChildFailed

    assert [ChildFailed("fold-01 failed", status).exit_status for status in (2, 3, 4, -9, 300)] == [2, 3, 4, 137, 1]
