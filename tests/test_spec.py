import tomllib

import pytest

from mrframe.errors import SpecError
from mrframe.spec import CURRENT_VERSION, apply_overrides, build_spec, load_spec
from tests.fakes import FAKE_SPEC


def problems(document, **kwargs):
    with pytest.raises(SpecError) as info:
        build_spec(document, **kwargs)
    return [str(p) for p in info.value.problems]


def doc(text=FAKE_SPEC):
    return tomllib.loads(text)


def test_a_valid_spec_resolves_every_plugin(fakes):
    spec = build_spec(doc())
    assert spec.name == "fake" and spec.inputs == ("daily", "monthly")
    assert spec.heads["ahead"].target.span == 2 and spec.heads["ahead"].loss.plugin == "fake-se"
    assert spec.encoders["daily"].config.d_model_scale == 1.0


def test_five_mistakes_give_five_lines_with_paths(fakes):
    text = FAKE_SPEC.replace("batch_size = 16", 'batch_size = "many"')
    text = text.replace('plugin = "fake-pointwise"\n[encoders.monthly]', 'plugin = "fake-pointwise"\nd_model_scal = 2\n[encoders.monthly]')
    text = text.replace('plugin = "fake-identity"', 'plugin = "fake-identty"')
    text = text.replace("daily_window = 20", "daily_window = 0")
    text = text.replace('target = { source = "daily"', 'target = { source = "dialy"')
    lines = problems(doc(text))
    assert "fake-identity" in lines[3].split("; installed: ")[1].split(", ")
    lines[3] = lines[3].split("; installed: ")[0]  # which other fusion plugins are installed varies
    assert lines == [
        "data.daily_window: must be >= 1, got 0",
        'train.batch_size: expected an integer, got "many"',
        "encoders.daily.d_model_scal: unknown key (did you mean 'd_model_scale'?)",
        "fusion[0].plugin: no fusion plugin named 'fake-identty' (did you mean 'fake-identity'?)",
        "heads.ahead.target.source: no source named 'dialy' (did you mean 'daily'?)",
    ]


def test_missing_sections_and_unknown_section(fakes):
    lines = problems({"version": 1, "trian": {}, "weighting": {"plugin": "fake-mean"}})
    assert lines == [
        "trian: unknown section (did you mean 'train'?)",
        "data: missing required section [data]",
        "sources: missing required section: add at least one [sources.NAME] table",
        "encoders: missing required section: add at least one [encoders.NAME] table",
        "heads: missing required section: add at least one [heads.NAME] table",
    ]


def test_a_missing_default_policy_says_where_it_ships(fakes):
    from mrframe import registry

    document = doc()
    del document["weighting"]
    if "uniform" in registry.names("weighting"):
        assert build_spec(document).weighting.component.plugin == "uniform"
    else:
        assert problems(document) == ["weighting: the default policy 'uniform' is not installed (it ships in "
                                      "mrframe-objectives); install it or name a policy with [weighting] plugin = ..."]


def test_version_is_required_and_newer_versions_are_refused(fakes):
    document = doc()
    del document["version"]
    assert problems(document)[0] == f"version: missing; add `version = {CURRENT_VERSION}` at the top of the spec"
    document["version"] = CURRENT_VERSION + 1
    assert "newer than this mrframe understands" in problems(document)[0]


def test_encoder_must_name_a_source_and_names_must_be_identifiers(fakes):
    document = doc()
    document["encoders"]["dayly"] = document["encoders"].pop("daily")
    document["sources"]["bad name"] = {"plugin": "fake-wave"}
    lines = problems(document)
    assert "sources.\"bad name\": a name may hold only letters, digits, '_' and '-', and must start with a letter or '_'" in lines
    assert any(line.startswith("encoders.dayly: no source named 'dayly' (did you mean 'daily'?)") for line in lines)


def test_head_needs_target_and_loss(fakes):
    document = doc()
    del document["heads"]["ahead"]["target"]
    document["heads"]["ahead"]["loss"] = {"plugin": "fake-see"}
    lines = problems(document)
    assert lines[0].startswith("heads.ahead.target: missing required key")
    assert lines[1].startswith("heads.ahead.loss.plugin: no loss plugin named 'fake-see' (did you mean 'fake-se'?)")


def test_overrides_are_typed_by_the_field_they_land_in(fakes):
    document = apply_overrides(doc(), ["train.epochs=5", "run.name=2024", "fusion.0.plugin=fake-identity",
                                       "encoders.daily.d_model_scale=0.5", "weighting.min_availability=0.25"])
    spec = build_spec(document)
    assert spec.train.epochs == 5 and spec.run.name == "2024"
    assert spec.encoders["daily"].config.d_model_scale == 0.5
    assert spec.weighting.min_availability == 0.25


def test_bad_overrides_are_reported():
    with pytest.raises(SpecError, match=r"--set: expected KEY.PATH=VALUE, got \"train.epochs\""):
        apply_overrides({}, ["train.epochs"])
    with pytest.raises(SpecError, match="no list item 3"):
        apply_overrides({"fusion": [{}]}, ["fusion.3.plugin=x"])


def test_the_resolved_spec_round_trips_through_toml(fakes, tmp_path):
    spec = build_spec(doc(), base_dir=tmp_path)
    again = build_spec(tomllib.loads(spec.to_toml()), base_dir=tmp_path)
    assert again.to_dict() == spec.to_dict()
    assert spec.to_dict()["train"]["epochs"] == 2 and spec.to_dict()["weighting"]["plugin"] == "fake-mean"


def test_load_spec_reports_file_and_toml_errors(tmp_path):
    from mrframe.errors import MrframeError

    with pytest.raises(MrframeError, match="spec file not found"):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("version = 1\n[run\n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
