"""The [tune] section: its shape validated with dotted paths, its keys and ranges checked against the spec, and a
trial's spec built from sampled values exactly as --set would."""

from __future__ import annotations

import pytest

from mrframe.engine.tune import space
from mrframe.errors import SpecError
from mrframe.spec import load_spec
from tests.fakes import FAKE_SPEC
from tests.test_cli import run_main

TUNE = """
[tune]
trials = 7
[tune.space]
"train.lr" = { distribution = "log-uniform", low = 1e-4, high = 1e-2 }
[tune.space.model]
d_model = { distribution = "int", low = 4, high = 16, step = 4 }
[tune.space.heads.ahead.target]
span = { distribution = "categorical", choices = [1, 2] }
"""


def _write(tmp_path, text):
    path = tmp_path / "tuned.toml"
    path.write_text(FAKE_SPEC + text)
    return path


def test_quoted_and_nested_keys_read_the_same_and_survive_the_resolved_spec(tmp_path, fakes):
    spec = load_spec(_write(tmp_path, TUNE))
    assert list(spec.tune.space) == ["train.lr", "model.d_model", "heads.ahead.target.span"]
    assert spec.tune.trials == 7 and spec.tune.objective == "monitor" and spec.tune.pruner == "median"
    again = tmp_path / "resolved.toml"
    again.write_text(spec.to_toml())
    assert load_spec(again).tune == spec.tune  # a run keeps the section in its spec.toml, untouched


@pytest.mark.parametrize(("table", "path", "message"), [
    ('"train.lr" = { distribution = "uniform", low = 1, high = 0.5 }', 'tune.space."train.lr".high',
     "must be greater than low"),
    ('"train.lr" = { distribution = "log-uniform", low = 0, high = 1 }', 'tune.space."train.lr".low', "low > 0"),
    ('"train.lr" = { distribution = "log-normal", low = 1, high = 2 }', 'tune.space."train.lr".distribution',
     "expected one of"),
    ('"model.d_model" = { distribution = "int", low = 4, high = 8.5 }', 'tune.space."model.d_model".high',
     "whole numbers"),
    ('"train.schedule" = { distribution = "categorical" }', 'tune.space."train.schedule".choices', "at least one"),
    ('"train.schedule" = { distribution = "categorical", choices = ["cosine", "cosine"] }',
     'tune.space."train.schedule".choices', "twice"),
])
def test_a_malformed_distribution_is_reported_at_its_dotted_path(tmp_path, fakes, table, path, message):
    with pytest.raises(SpecError) as info:
        load_spec(_write(tmp_path, f"\n[tune.space]\n{table}\n"))
    assert any(p.path == path and message in p.message for p in info.value.problems), info.value


def test_keys_and_range_ends_are_checked_against_the_spec(tmp_path, fakes, capsys):
    text = """
[tune.space]
"train.lrr" = { distribution = "log-uniform", low = 1e-4, high = 1e-2 }
"train.epochs" = { distribution = "int", low = 0, high = 3 }
"train.schedule" = { distribution = "categorical", choices = ["cosine", "linear", "constant"] }
"""
    path = _write(tmp_path, text)
    spec = load_spec(path)  # the shape is fine: only building the trials' specs finds these
    problems = {p.path: p.message for p in space.problems(spec.to_dict(), spec.tune.space)}
    assert "did you mean 'lr'" in problems['tune.space."train.lrr"']
    assert "must be >= 1, got 0" in problems['tune.space."train.epochs"']
    assert '"linear"' in problems['tune.space."train.schedule"']
    code, _, err = run_main(["validate", str(path)], capsys)
    assert code == 2 and 'tune.space."train.lrr": train.lrr: unknown key' in err


def test_a_trial_spec_takes_the_values_exactly_and_drops_the_tune_section(tmp_path, fakes):
    spec = load_spec(_write(tmp_path, TUNE))
    trial = space.trial_spec(spec.to_dict(), {"train.lr": 0.0012345678901234567, "model.d_model": 12,
                                              "heads.ahead.target.span": 2}, "fake-trial-0003")
    assert trial.train.lr == 0.0012345678901234567 and trial.model.d_model == 12
    assert trial.heads["ahead"].target.span == 2 and trial.name == "fake-trial-0003" and trial.tune is None
    assert space.overrides({"train.lr": 0.5, "x.flag": True, "x.name": "gelu"}) == [
        "train.lr=0.5", "x.flag=true", "x.name=gelu"]
    with pytest.raises(SpecError, match="must not exceed the horizon"):
        space.trial_spec(spec.to_dict(), {"heads.ahead.target.span": 4}, "fake-trial-0004")
