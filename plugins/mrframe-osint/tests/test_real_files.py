"""The loaders against the real public files shipped in examples/data (gzip-compressed copies of the
upstream snapshot, see examples/data/PROVENANCE.md)."""

from __future__ import annotations

import pathlib

import numpy as np
from mrframe_osint.losses import EquipmentConfig, EquipmentSource, PersonnelConfig, PersonnelSource

DATA = pathlib.Path(__file__).resolve().parents[3] / "examples" / "data"


def real_file(name: str) -> pathlib.Path:
    return DATA / f"{name}.gz"


def test_real_equipment_file():
    source = EquipmentSource(EquipmentConfig(path=real_file("russia_losses_equipment.json"))).load()
    frame = source.frame
    assert len(frame) >= 1626 and frame.index.is_unique
    assert frame.index[0].strftime("%Y-%m-%d") == "2022-02-25"
    assert {"tank", "APC", "field artillery", "military auto", "vehicles and fuel tanks", "submarines",
            "ground robotic systems"} <= set(frame.columns)
    assert "greatest losses direction" not in frame and "day" not in frame
    assert frame.iloc[0].isna().all()  # the first day has no previous day
    auto = frame["military auto"].dropna()
    assert auto.index[-1] < np.datetime64("2022-06-01")  # only the first weeks; missing afterwards, not zero
    assert frame["submarines"].dropna().index[0] >= np.datetime64("2023-01-01")
    robots = frame["ground robotic systems"].dropna()
    assert robots.index[0] >= np.datetime64("2026-01-01")
    negative = int((frame < 0).sum().sum())
    assert negative > 0  # official corrections: kept as observed by default
    masked = EquipmentSource(EquipmentConfig(path=real_file("russia_losses_equipment.json"), negative="mask")).load()
    assert masked.rejected == {"negative daily loss (cell set missing)": negative}
    assert (masked.frame < 0).sum().sum() == 0


def test_real_personnel_file():
    source = PersonnelSource(PersonnelConfig(path=real_file("russia_losses_personnel.json"))).load()
    frame = source.frame
    assert list(frame.columns) == ["personnel", "POW"]
    assert frame["personnel"].iloc[1:].notna().mean() > 0.99
    assert frame["POW"].dropna().index[-1] < np.datetime64("2023-01-01")  # POW stops in 2022
