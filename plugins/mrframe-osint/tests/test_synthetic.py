"""The synthetic source: generic in-memory frames and the real formats written and read back."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from mrframe_osint.demo import write_dataset
from mrframe_osint.firms import FirmsConfig, FirmsSource
from mrframe_osint.losses import EquipmentConfig, EquipmentSource
from mrframe_osint.synthetic import SyntheticConfig, SyntheticSource
from mrframe_osint.world import simulate

from mrframe.config import structure
from mrframe.errors import SpecError

START = dt.date(2022, 2, 25)


def synthetic(**options):
    return SyntheticSource(SyntheticConfig(**options)).load()


def test_generic_frames_are_deterministic_with_default_missingness():
    a, b = synthetic(periods=2000, features=5), synthetic(periods=2000, features=5)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert list(a.frame.columns) == ["x0", "x1", "x2", "x3", "x4"]
    assert a.frame.isna().mean().mean() == pytest.approx(0.1, abs=0.02)
    monthly = synthetic(resolution="monthly", periods=12, missing=0.0)
    assert monthly.resolution == "monthly" and monthly.frame.notna().all().all()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    folder = tmp_path_factory.mktemp("demo")
    return write_dataset(folder, simulate(0, START, 1500), seed=3)


@pytest.mark.parametrize("form", ["equipment", "personnel", "firms", "sentinel", "labels", "deepstate"])
def test_real_formats_read_back_through_the_real_loader(form, tmp_path):
    source = synthetic(format=form, start=START, periods=400, write_to=tmp_path)
    written = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    assert written, "the format was written into write_to"
    assert source.frame.index[0] >= pd.Timestamp(START) - pd.offsets.MonthBegin(1)
    assert synthetic(format=form, start=START, periods=400).frame.equals(source.frame)  # a temporary folder: same


def test_default_missingness_is_like_the_real_data(dataset):
    equipment = EquipmentSource(EquipmentConfig(dataset["equipment"])).load().frame
    alive = ["tank", "APC", "field artillery", "drone", "aircraft"]
    assert equipment[alive].iloc[1:].isna().mean().mean() == pytest.approx(0.06, abs=0.025)
    personnel = synthetic(format="personnel", start=START, periods=1500).frame
    assert personnel["personnel"].iloc[1:].isna().mean() == pytest.approx(0.23, abs=0.04)
    firms = FirmsSource(FirmsConfig(dataset["firms"][0].parent)).load()
    assert firms.frame["detections"].isna().mean() == pytest.approx(0.09, abs=0.02)
    sentinel = synthetic(format="sentinel", start=dt.date(2010, 1, 1), periods=3650).frame
    assert sentinel.isna().mean().mean() == pytest.approx(0.33, abs=0.08)


def test_the_written_files_carry_the_messy_parts(dataset):
    records = json.loads(dataset["equipment"].read_text())
    days = [r["day"] for r in records]
    assert len(days) > len(set(days))  # one day number on two dates
    assert any("greatest losses direction" in r for r in records)
    assert "military auto" in records[0] and "military auto" not in records[-1]
    assert "submarines" not in records[0] and "submarines" in records[-1]
    equipment = EquipmentSource(EquipmentConfig(dataset["equipment"])).load().frame
    assert (equipment < 0).sum().sum() >= 3  # corrections make cumulative counts fall
    firms = FirmsSource(FirmsConfig(dataset["firms"][0].parent)).load()
    assert firms.rejected["NRT detection on a day an archive file covers"] > 0
    assert firms.rejected["repeated detection (overlapping files)"] > 0
    assert (firms.frame["detections"] == 0).any()  # observed zero days
    modis = FirmsSource(FirmsConfig(dataset["firms_modis"][0].parent, bbox=(33.0, 46.0, 40.0, 50.5))).load()
    assert modis.rejected["outside bbox"] > 0


def test_planted_relationships_are_there(dataset):
    equipment = EquipmentSource(EquipmentConfig(dataset["equipment"])).load().frame
    firms = FirmsSource(FirmsConfig(dataset["firms"][0].parent)).load().frame
    fires = np.log1p(firms["detections"])
    losses = np.log1p(equipment["field artillery"].clip(lower=0))
    assert losses.corr(fires.shift(2)) > 0.4  # fires lead losses by two days
    labels = pd.read_csv(dataset["labels"], index_col="date", parse_dates=True)["regime"]
    by_regime = fires.groupby(labels.reindex(fires.index)).mean()
    assert list(by_regime.index) == [0, 1, 2, 3] and by_regime.is_monotonic_increasing


def test_generic_only_keys_are_rejected_for_real_formats():
    with pytest.raises(SpecError, match=r"sources\.s\.features: applies to format = \"generic\" only"):
        structure(SyntheticConfig, {"format": "equipment", "features": 3}, "sources.s")
    with pytest.raises(SpecError, match=r"sources\.s\.outage_length: is not used by format = \"firms\""):
        structure(SyntheticConfig, {"format": "firms", "outage_length": 3}, "sources.s")
