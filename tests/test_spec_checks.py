"""``mrframe validate`` catches, before any data is loaded, what would make ``mrframe run`` fail before its first
step: each case is planted in an example spec with ``--set`` (or an edit) and must give one line, exit 2."""

from __future__ import annotations

import pathlib

import pytest

from mrframe.cli import main
from mrframe.errors import SpecError
from mrframe.spec import load_spec

pytest.importorskip("mrframe_osint", reason="the example specs use the first-party plugins")
pytestmark = pytest.mark.plugins

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
MINIMAL = EXAMPLES / "minimal.toml"
HAN = EXAMPLES / "osint-han.toml"


def problems(*overrides: str, spec: pathlib.Path = MINIMAL) -> list[str]:
    with pytest.raises(SpecError) as info:
        load_spec(spec, overrides)
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("override", "expected"), [
    ("train.lr=nan", 'train.lr: expected a finite number, got "nan"'),
    ("train.grad_clip=inf", 'train.grad_clip: expected a finite number, got "inf"'),
    ("fusion.0.dropout=nan", 'fusion[0].dropout: expected a finite number, got "nan"'),
    ("train.betas=[0.9, nan]", "train.betas[1]: expected a finite number, got nan"),
    ("model.d_model=99999999999999999999", 'model.d_model: expected an integer, got "99999999999999999999"'),
])
def test_nan_and_inf_in_float_fields_are_refused(override, expected):
    assert problems(override, spec=HAN) == [expected]


def test_nan_and_inf_in_plugin_tables_too(tmp_path):
    text = HAN.read_text().replace('plugin = "a3dro"', 'plugin = "a3dro"\ntemperature = inf\nclip = nan')
    path = tmp_path / "han.toml"
    path.write_text(text.replace('path = "data/', f'path = "{EXAMPLES}/data/'))
    assert problems(spec=path) == ["weighting.temperature: expected a finite number, got inf",
                                   "weighting.clip: expected a finite number, got nan"]


@pytest.mark.parametrize(("name", "message"), [
    ("a/b", "must not hold '/'"),
    ("../outside", "must not hold '/'"),
    ("x..y", "'..'"),
    ("x\x00y", "control characters"),
    ("x" * 201, "at most 200 characters"),
])
def test_run_names_that_cannot_name_a_folder(name, message):
    lines = problems(f"run.name={name}")
    assert len(lines) == 1 and lines[0].startswith("run.name: ") and message in lines[0]


def test_output_folders_that_are_files(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    assert problems(f"run.out_dir={afile}") == [f'run.out_dir: "{afile}" is a file, not a folder']
    assert problems(f"run.out_dir={afile}/runs") == [f'run.out_dir: cannot create a folder under "{afile}": it is a file']


def test_set_into_a_scalar_and_deep_nesting_are_one_line_each(tmp_path):
    assert problems("train.epochs.inner=3") == ["--set train.epochs.inner: train.epochs is 6, not a table"]
    deep = tmp_path / "deep.toml"
    deep.write_text(MINIMAL.read_text().replace("d_model = 16", "d_model = 16\nx = " + "[" * 5000 + "]" * 5000))
    assert problems(spec=deep) == ["arrays or tables are nested too deeply (a spec needs a few levels, not hundreds)"]


def test_head_and_loss_of_different_prediction_kinds():
    lines = problems("heads.next_week.loss.plugin=gaussian-nll")
    assert lines == ["heads.next_week.loss: loss 'gaussian-nll' takes 'gaussian' predictions, but head 'regression' "
                     "predicts 'point': choose a loss for 'point' predictions (masked-mae, masked-mse) or a head "
                     "(setting) that predicts 'gaussian'"]
    lines = problems("heads.regime.loss.plugin=zinb", spec=HAN)
    assert lines[0].startswith("heads.regime.loss: loss 'zinb' takes 'zinb' predictions, but head 'classification' "
                               "predicts 'classes': choose a loss for 'classes' predictions (cross-entropy, focal")


def test_a_loss_that_needs_raw_units_on_a_normalised_target():
    lines = problems("heads.next_week.plugin=counts", "heads.next_week.loss.plugin=zinb")
    assert lines == ["heads.next_week.target.units: head 'counts' needs targets in units \"raw\", got \"normalised\": "
                     "set heads.next_week.target.units = \"raw\""]


def test_class_counts_that_disagree():
    lines = problems("heads.regime.classes=3", spec=HAN)
    assert lines == ["heads.regime: the number of classes disagrees: head 'classification' 3, source 'regimes' 4; "
                     "make them equal"]
    lines = problems("heads.regime.loss.class_weights=[1, 2]", spec=HAN)
    assert "loss 'cross-entropy' 2" in lines[0]


def test_priors_naming_unknown_tasks_and_broken_hooks():
    assert problems("weighting.priors={next_wek = 2.0}", spec=HAN) == [
        "weighting: 'a3dro' cannot be built for tasks next_month, next_week, fires, regime: a3dro: priors name "
        "unknown task(s) next_wek; tasks are next_month, next_week, fires, regime"]
    assert problems('run.hooks=["nope"]')[0].startswith("run.hooks[0]: no hook plugin named 'nope'")


def test_empty_feature_lists_and_missing_input_files():
    assert problems("heads.next_week.target.features=[]") == [
        "heads.next_week.target.features: must list at least 1 item, got []"]
    assert problems("sources.equipment.features=[]") == ["sources.equipment.features: must list at least 1 item, got []"]
    assert problems("sources.sentinel.path=nowhere.csv", spec=HAN)[0] == (
        f'sources.sentinel.path: no such file or folder: "{EXAMPLES / "nowhere.csv"}"')


def test_an_encoder_of_the_other_resolution_and_a_loss_that_cannot_use_the_target():
    assert problems("encoders.sentinel.plugin=daily-transformer", spec=HAN) == [
        "encoders.sentinel.plugin: 'daily-transformer' takes daily sources only, but source 'sentinel' is monthly"]
    lines = problems("heads.next_week.plugin=covariance", "heads.next_week.loss.plugin=eigh-covariance")
    assert lines == ["heads.next_week.target: loss 'eigh-covariance': span must be at least min_observed = 2 "
                     "(eigh-covariance forms a covariance over the target window's steps), got 1"]


def test_target_features_the_source_declares_it_lacks():
    assert problems("heads.next_week.target.horizon=0") == [
        "heads.next_week.target.horizon: a daily target needs horizon >= 1 (days after the anchor)"]
    assert problems("heads.next_week.target.features.0=equipment") == [
        "heads.next_week.target.features[0]: source 'equipment' has no feature 'equipment' (did you mean "
        "'special equipment'?)"]
    assert problems('heads.fires_next_week.target.features=["detection"]', spec=EXAMPLES / "spatial.toml") == [
        "heads.fires_next_week.target.features[0]: source 'fires_cells' has no feature 'detection' (did you mean "
        "'detections'?)"]


def test_encoders_and_heads_of_the_other_extent():
    assert problems("encoders.equipment.plugin=geographic", "heads.next_week.plugin=spatial-forecast") == [
        "encoders.equipment.plugin: 'geographic' takes spatial sources only, but source 'equipment' is national: "
        "use an encoder that takes national sources",
        "heads.next_week.plugin: 'spatial-forecast' predicts spatial targets only, but source 'equipment' is "
        "national: use a head that predicts national targets"]
    assert problems("heads.equipment_next_week.target.source=fires_cells", spec=EXAMPLES / "spatial.toml")[:1] == [
        "heads.equipment_next_week.plugin: 'forecast' predicts national targets only, but source 'fires_cells' is "
        "spatial: use a head that predicts spatial targets, e.g. spatial-forecast"]
    load_spec(EXAMPLES / "spatial.toml", ())  # firms and deepstate declare spatial through their regions key


@pytest.mark.parametrize(("override", "key"), [
    ("model.d_model=100000", "model.d_model"),
    ("data.daily_window=1000000000", "data.daily_window"),
    ("train.batch_size=1000000000", "train.batch_size"),
    ("encoders.equipment.layers=100000000", "data.daily_window"),
])
def test_what_cannot_fit_in_memory_is_refused_with_the_estimate(override, key):
    lines = problems(override)
    assert len(lines) == 1 and lines[0].startswith(f"{key}: the model cannot fit: one training step needs at least ")
    assert " but this machine has " in lines[0] or " but the GPU has " in lines[0]


def test_the_examples_pass_and_their_estimate_is_small():
    for path in EXAMPLES.glob("*.toml"):
        load_spec(path)


def test_validate_prints_no_traceback(tmp_path, capsys):
    broken = tmp_path / "broken.toml"
    broken.write_bytes(MINIMAL.read_bytes()[:200] + b"\xe9\x00[[[")
    for arguments in (["validate", str(broken)], ["validate", str(MINIMAL), "--set", "data.split.val_from.x=1"],
                      ["validate", str(MINIMAL), "--set", "run.name=a/b"]):
        with pytest.raises(SystemExit) as exit_:
            main(arguments)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and "Traceback" not in err


def test_the_exact_parameter_count_builds_heads_that_read_their_target_features():
    """The covariance head's sample_window needs its target features among the source's inputs: the meta-device
    build gives each source the features its heads name, so the exact count is taken (not the d^2 bound)."""
    from mrframe.spec_checks import _built_parameters

    spec = load_spec(EXAMPLES / "covariance.toml")
    resolutions = {n: s.component.cls.declared_resolution(s.component.config) for n, s in spec.sources.items()}
    assert _built_parameters(spec.data, spec.model, spec.encoders, spec.fusion, spec.heads, resolutions) > 0
