"""The loaders against the real public files: the loss files shipped in examples/data (gzip-compressed copies
of the upstream snapshot, see examples/data/PROVENANCE.md), and the DeepState files when they are there
(``MRFRAME_REAL_DATA``, by default ``<repository>/../shared/data/real``; GPL: read, never copied into the
project), skipped otherwise."""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import pytest
from mrframe_osint.losses import EquipmentConfig, EquipmentSource, PersonnelConfig, PersonnelSource

ROOT = pathlib.Path(__file__).resolve().parents[3]
DATA = ROOT / "examples" / "data"
REAL = pathlib.Path(os.environ.get("MRFRAME_REAL_DATA", ROOT.parent / "shared" / "data" / "real"))


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


# ------------------------------------------------------------------------------ DeepState (GPL: read, never copied)


def deepstate_folder() -> pathlib.Path:
    folder = REAL / "deepstate" / "data"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (set MRFRAME_REAL_DATA)")
    return folder


def geodesic_area_km2(path: pathlib.Path) -> float:
    """pyproj's geodesic area of a file's features: independent of the source's equal-area projection."""
    import json

    import shapely
    from pyproj import Geod

    features = json.loads(path.read_text())["features"]
    geod = Geod(ellps="WGS84")
    return sum(abs(geod.geometry_area_perimeter(shapely.geometry.shape(f["geometry"]))[0]) for f in features) / 1e6


@pytest.fixture(scope="module")
def deepstate_data(tmp_path_factory):
    """``mrframe data`` on a spec with the deepstate source over every real file: the data report it writes and
    the frames it loaded (caught on their way, so the 554 files are read once for the tests below)."""
    import importlib

    from click.testing import CliRunner

    from mrframe.cli import cli

    command = importlib.import_module("mrframe.cli.data")  # the module (the package's `data` is the command)

    folder = deepstate_folder()
    tmp_path = tmp_path_factory.mktemp("deepstate")
    spec = tmp_path / "deepstate.toml"
    spec.write_text(f"""
version = 1
[run]
name = "deepstate"
[data]
daily_window = 28
monthly_window = 2
split = {{ val_from = 2025-09-01, test_from = 2025-12-01 }}
[sources.front]
plugin = "deepstate"
path = "{folder}"
[encoders.front]
plugin = "recurrent"
[heads.area]
plugin = "regression"
target = {{ source = "front", horizon = 7, features = ["occupied_km2"] }}
loss = {{ plugin = "masked-mse" }}
""")
    loaded = {}

    def load_sources(spec):
        loaded.update(original(spec))
        return loaded

    original = command.load_sources
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(command, "load_sources", load_sources)
        result = CliRunner().invoke(cli, ["data", str(spec), "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "runs").rglob("data_report.json")).read_text())
    return report, loaded["front"]


def test_mrframe_data_reads_every_deepstate_file(deepstate_data):
    report, _ = deepstate_data
    front = next(s for s in report["sources"] if s["name"] == "front")
    assert front["rejected"] == {} and front["periods"] == 560  # 554 files, 6 days without one
    assert front["first"] == "2024-07-08" and front["last"] == "2026-01-18"
    assert front["per_feature"]["occupied_km2"] == pytest.approx(554 / 560)


def test_real_deepstate_areas_agree_with_geodesic_areas(deepstate_data):
    _, source = deepstate_data
    folder = deepstate_folder()
    area = source.frame["occupied_km2"]
    assert source.rejected == {} and area.notna().sum() == 554 and area.isna().sum() == 6
    for day, expected in (("2024-07-08", 109_361), ("2026-01-18", 116_351)):
        independent = geodesic_area_km2(folder / f"deepstatemap_data_{day.replace('-', '')}.geojson")
        assert independent == pytest.approx(expected, abs=0.5)
        assert area[day] == pytest.approx(independent, rel=5e-3)
        assert area[day] == pytest.approx(independent, rel=1e-4)  # in fact much closer
    assert area.dropna().diff().abs().max() < 1_000  # between consecutive files
    assert source.frame["boundary_km"].dropna().between(3_000, 6_000).all()


def test_real_deepstate_per_cell_adds_up(tmp_path):
    from mrframe_osint.deepstate import DeepStateConfig, DeepStateSource

    from mrframe.geo import RegionsConfig

    files = sorted(deepstate_folder().glob("deepstatemap_data_*.geojson"))[::60]
    for file in files:  # links, not copies
        (tmp_path / file.name).symlink_to(file)
    national = DeepStateSource(DeepStateConfig(tmp_path)).load().frame["occupied_km2"].dropna()
    cells = DeepStateSource(DeepStateConfig(tmp_path, regions=RegionsConfig(grid=0.5, bbox=(22, 44, 41, 53)))).load()
    fraction = cells.frame.xs("occupied_fraction", axis=1, level="feature").dropna()
    assert len(cells.regions) == 684 and len(fraction) == len(files)
    assert fraction.to_numpy() @ cells.regions.area_km2 == pytest.approx(national.to_numpy(), rel=1e-6)
    assert ((fraction > 0) & (fraction < 1)).sum(axis=1).between(50, 200).all()  # cells the boundary crosses
