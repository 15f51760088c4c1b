"""Sentinels (declared ``missing_values``, likely undeclared ones), infinities and extreme values: what the core
masks, what the data report says, and that the report agrees with what the model sees."""

from __future__ import annotations

import json
import pathlib

import attrs
import numpy as np
import pandas as pd
import pytest

from mrframe import registry
from mrframe.config import field
from mrframe.data.pipeline import load_sources, prepare
from mrframe.data.report import DataReport, observed_mask
from mrframe.data.sentinels import BEYOND_FLOAT32, DECLARED, INFINITE
from mrframe.errors import DataError
from mrframe.interfaces import Source, SourceFrame
from tests.data.conftest import build

pytestmark = pytest.mark.plugins
DAYS = pd.date_range("2022-01-01", periods=700, freq="D")


@attrs.frozen
class PlantedConfig:
    seed: int = field(0, "noise seed")


class Planted(Source):
    """A third-party source: a percentage with -999 on every 40th day, one +inf, and a value beyond float32."""

    Config = PlantedConfig

    def load(self) -> SourceFrame:
        rng = np.random.default_rng(self.config.seed)
        values = rng.uniform(0, 100, (len(DAYS), 2))
        values[::40, 0] = -999.0
        values[5, 1] = np.inf
        values[7, 1] = 1e39
        return SourceFrame(pd.DataFrame(values, index=DAYS, columns=["share", "other"]), "daily")


@pytest.fixture
def planted():
    with registry.registered("source", "planted", Planted):
        yield


def spec_with(missing_values=None, **data):  # noqa: ANN001, ANN003, ANN201
    source = {"plugin": "planted"} | ({"missing_values": missing_values} if missing_values is not None else {})
    return build({"sources": {"planted": source}, "encoders": {"planted": {"plugin": "recurrent"}}, "data": data})


def test_declared_missing_values_are_masked_by_the_core_for_any_source(planted):
    frames = load_sources(spec_with([-999]))
    frame = frames["planted"]
    assert frame.rejected == {DECLARED: 18, INFINITE: 1, BEYOND_FLOAT32: 1}
    assert frame.frame["share"].iloc[::40].isna().all() and (frame.frame["share"].dropna() >= 0).all()
    assert frame.frame["other"].iloc[[5, 7]].isna().all()
    report = DataReport.build(spec_with([-999]), frames)
    assert not report.sources[-1].suspected_sentinels
    assert "rejected: 18 x declared missing value" in report.text()
    assert "rejected: 1 x value beyond the float32 range" in report.text()  # 1e39: not silently unobserved


def test_an_undeclared_sentinel_is_flagged_with_the_line_to_add(planted):
    spec = spec_with()
    report = DataReport.build(spec, load_sources(spec))
    planted_summary = next(s for s in report.sources if s.name == "planted")
    assert [(s["feature"], s["value"], s["rows"]) for s in planted_summary.suspected_sentinels] == [("share", -999.0, 18)]
    assert "likely sentinel: share: -999 on 18 rows" in report.text()
    assert "add missing_values = [-999] to [sources.planted]" in report.text()
    others = [s for s in report.sources if s.name != "planted"]
    assert not any(s.suspected_sentinels for s in others)  # no false alarm on ordinary synthetic data


def test_the_data_report_agrees_with_the_mask_the_model_sees(planted):
    spec = spec_with([-999])
    frames = load_sources(spec)
    data = prepare(spec, frames=frames)
    for name, frame in frames.items():
        reported = observed_mask(frame)
        unit, origin = ("D", data.timeline.day0) if frame.resolution == "daily" else ("M", data.timeline.month0)
        start = int(np.datetime64(reported.index[0].date(), unit).astype(np.int64)) - origin
        seen = np.isfinite(data.sources[name].values[start:start + len(reported)])  # what the model's inputs hold
        assert np.array_equal(reported.to_numpy(), seen), name
    summary = next(s for s in DataReport.build(spec, frames).sources if s.name == "planted")
    assert summary.per_feature["other"] == pytest.approx(1 - 2 / len(DAYS))  # the inf and the 1e39 are not observed


def _cumulative_file(tmp_path, tanks):  # noqa: ANN001, ANN202
    days = pd.date_range("2022-02-25", periods=len(tanks), freq="D")
    records = [{"date": f"{d:%Y-%m-%d}", "day": i + 2, "tank": t} for i, (d, t) in enumerate(zip(days, tanks, strict=True))]
    path = tmp_path / "equipment.json"
    path.write_text(json.dumps(records))
    return path


def test_a_masked_day_of_a_cumulative_count_is_not_one_days_loss(tmp_path):
    pytest.importorskip("mrframe_osint")
    from mrframe_osint.losses import EquipmentConfig, EquipmentSource

    path = _cumulative_file(tmp_path, [7500, 7510, -999, 7539, 7545])
    source = EquipmentSource(EquipmentConfig(path=path))
    source.missing_values = (-999.0,)
    frame = source.load()
    losses = frame.frame["tank"].tolist()
    assert np.isnan(losses[0]) and losses[1] == 10 and np.isnan(losses[2]) and np.isnan(losses[3]) and losses[4] == 6
    assert frame.rejected == {DECLARED: 1}
    with pytest.raises(DataError, match=r"record 3, column 'tank': -999 is a negative cumulative count; if it marks a "
                                        r"missing value, declare missing_values = \[-999\]"):
        EquipmentSource(EquipmentConfig(path=path)).load()
    lenient = EquipmentSource(EquipmentConfig(path=path, bad_values="missing")).load()
    assert lenient.rejected == {"negative cumulative count (set missing)": 1}
    assert np.isnan(lenient.frame["tank"].iloc[3])


def test_infinite_cells_are_counted_as_rejected_by_the_readers(tmp_path):
    pytest.importorskip("mrframe_osint")
    from mrframe_osint.sentinel import SentinelConfig, SentinelSource

    path = tmp_path / "s.csv"
    path.write_text("date,a\n2023-01-01,1\n2023-02-01,inf\n2023-03-01,-999\n2023-04-01,2\n")
    source = SentinelSource(SentinelConfig(path=path))
    source.missing_values = (-999.0,)
    frame = source.load()
    assert frame.rejected == {INFINITE: 1, DECLARED: 1} and frame.frame["a"].isna().sum() == 2


# ------------------------------------------------------------------------------------------------ extremes


@attrs.frozen
class HugeConfig:
    where: str = field("2022-03-01", "day of the one extreme value")
    value: float = field(1e30, "the extreme value")


class Huge(Source):
    """A well-behaved feature with a single extreme value (in the training period by default)."""

    Config = HugeConfig

    def load(self) -> SourceFrame:
        values = np.random.default_rng(1).normal(5.0, 2.0, len(DAYS))
        values[DAYS.get_loc(pd.Timestamp(self.config.where))] = self.config.value
        return SourceFrame(pd.DataFrame({"level": values}, index=DAYS), "daily")


def huge_spec(**data):  # noqa: ANN003, ANN201
    return build({"sources": {"huge": {"plugin": "huge"}}, "encoders": {"huge": {"plugin": "recurrent"}},
                  "data": data})


def test_a_single_1e30_in_training_is_masked_and_reported_and_does_not_flatten_the_feature():
    with registry.registered("source", "huge", Huge):
        spec = huge_spec()
        data = prepare(spec)
        (extreme,) = data.extreme_values
        assert (extreme.source, extreme.feature, extreme.count, extreme.date, extreme.policy) == (
            "huge", "level", 1, "2022-03-01", "mask")
        assert extreme.value == pytest.approx(1e30, rel=1e-6)
        scaling = data.normaliser.scalings["huge"]
        assert scaling.scale[0] == pytest.approx(2.0, rel=0.1) and scaling.center[0] == pytest.approx(5.0, rel=0.1)
        train = data.sources["huge"].values[: data.timeline.day_index(spec.data.split.val_from)]
        assert np.nanstd(train) == pytest.approx(1.0, rel=0.05)  # a z-score, not a constant
        assert "huge.level: 1 value beyond" in DataReport.build(spec, data.frames, data).text()
        again = prepare(spec, fitted=data.preprocessing_state())  # a checkpoint re-applies the same bounds
        assert np.array_equal(np.isnan(again.sources["huge"].values), np.isnan(data.sources["huge"].values))


def test_extremes_policy_error_and_keep():
    with registry.registered("source", "huge", Huge):
        with pytest.raises(DataError, match=r"source 'huge', feature 'level': 1e\+30 on 2022-03-01 lies far outside"):
            prepare(huge_spec(extremes="error"))
        kept = prepare(huge_spec(extremes="keep"))
        assert kept.extreme_values[0].policy == "keep" and np.nanmax(kept.sources["huge"].values) > 1.0
        assert kept.normaliser.scalings["huge"].scale[0] > 1e20  # what keeping costs: the feature is flattened


def test_the_demo_data_has_no_extreme_value_and_no_likely_sentinel():
    from mrframe.spec import load_spec

    spec = load_spec(pathlib.Path(__file__).resolve().parents[2] / "examples" / "osint-han.toml")
    data = prepare(spec)
    assert data.extreme_values == ()
    assert not any(s.suspected_sentinels for s in DataReport.build(spec, data.frames, data).sources)


def test_a_declared_sentinel_is_found_in_a_float32_column():
    from mrframe.data.sentinels import mask_missing

    frame = pd.DataFrame({"f32": np.array([1.5, -999.9, 2.5, -999.9], dtype=np.float32),
                          "f64": np.array([-999.9, 1.0, 2.0, 3.0])}, index=DAYS[:4])
    masked = mask_missing(SourceFrame(frame, "daily"), [-999.9])
    assert masked.rejected == {DECLARED: 3}
    assert masked.frame["f32"].isna().tolist() == [False, True, False, True]
    assert masked.frame["f64"].isna().tolist() == [True, False, False, False]


def _every_repeated_value_tried(column):  # noqa: ANN001, ANN202 - the module docstring's rule, value by value
    from mrframe.data import sentinels as m

    observed = column[np.isfinite(column)]
    values, counts = np.unique(observed, return_counts=True)
    enough = max(m.MIN_ROWS, int(np.ceil(m.MIN_SHARE * observed.size)))
    for value, count in zip(values[counts >= enough], counts[counts >= enough], strict=True):
        rest = observed[observed != value]
        if rest.size < m.MIN_REST:
            continue
        low, high, spread = float(rest.min()), float(rest.max()), m._spread(rest)
        distance = max(low - value, value - high, 0.0)
        if distance > m.FAR * spread and (value < 0 <= low or value > 0 >= high or distance > 2 * (high - low)):
            yield (float(value), int(count), low, high)


@pytest.mark.parametrize("seed", range(6))
def test_likely_sentinels_are_those_of_the_rule_tried_on_every_repeated_value(seed):
    from mrframe.data.sentinels import column_suspects

    rng = np.random.default_rng(seed)
    column = rng.integers(0, 40, 3_000).astype(np.float64)  # many values repeated on many rows
    column[rng.random(column.size) < 0.1] = np.nan
    for sentinel in rng.choice([-999.0, -1.0, 9999.0, 1e6, 20.0], size=2, replace=False):
        column[rng.random(column.size) < 0.02] = sentinel
    found = [(s.value, s.rows, s.low, s.high) for s in column_suspects("x", column)]
    assert found == list(_every_repeated_value_tried(column))
    assert len(found) <= 2  # only the smallest and the largest value can lie outside the rest
