"""examples/osint-han.toml and examples/spatial.toml train end to end with ``mrframe run`` (at small settings)."""

from __future__ import annotations

import json
import pathlib

import pandas as pd
import pytest
import torch

from mrframe.cli import main
from mrframe.spec import load_spec

pytest.importorskip("mrframe_objectives", reason="the example's losses and weighting come with mrframe-objectives")
pytest.importorskip("mrframe_osint", reason="the example reads the demo dataset through mrframe-osint")

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "osint-han.toml"
SMALL = [
    "data.daily_window=60", "data.monthly_window=4", "data.stride=21", "model.d_model=16",
    "train.epochs=2", "encoders.equipment.layers=1", "fusion.3.layers=1", "fusion.4.layers=1",
]


@pytest.mark.slow
def test_example_trains_and_reports_every_block(tmp_path, capsys):
    overrides: list[str] = []
    arguments = ["run", str(EXAMPLE), "--out", str(tmp_path)]
    for override in SMALL + overrides:
        arguments += ["--set", override]
    main(arguments)
    printed = capsys.readouterr().out
    assert "parameters (encoders.equipment" in printed
    (run_dir,) = tmp_path.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    counts = summary["parameters"]
    spec = load_spec(EXAMPLE, SMALL + overrides)
    expected = {f"encoders.{n}" for n in spec.encoders} | {f"fusion[{i}]" for i in range(len(spec.fusion))}
    expected |= {f"heads.{n}" for n in spec.heads} | {"total"}
    assert set(counts) == expected
    assert sum(v for k, v in counts.items() if k != "total") == counts["total"]
    assert summary["status"] == "finished"
    assert all(isinstance(v, float) for v in summary["final"].values())
    assert all(torch.isfinite(torch.tensor(v)) for k, v in summary["final"].items() if k.endswith("loss"))


SPATIAL = pathlib.Path(__file__).resolve().parents[3] / "examples" / "spatial.toml"
SPATIAL_SMALL = ["data.daily_window=28", "data.stride=28", "model.d_model=16", "train.epochs=1",
                 "encoders.fires_cells.width=16", "encoders.fires_cells.heads=2", "heads.fires_next_week.hidden=16"]


@pytest.mark.slow
def test_spatial_example_trains_and_reports_per_region(tmp_path, capsys):
    arguments = ["run", str(SPATIAL), "--out", str(tmp_path)]
    for override in SPATIAL_SMALL:
        arguments += ["--set", override]
    main(arguments)
    printed = capsys.readouterr().out
    assert "fires_next_week [point" in printed and "per region, beats persistence in" in printed
    (run_dir,) = tmp_path.iterdir()
    assert (run_dir / "plots" / "error_map_fires_next_week_val.png").stat().st_size > 10_000
    assert (run_dir / "plots" / "data_regions_fires_cells.png").is_file()
    evaluation = json.loads((run_dir / "evaluation-val.json").read_text())["tasks"]["fires_next_week"]
    assert len(evaluation["regions"]["ids"]) == 144
    test = json.loads((run_dir / "evaluation-test.json").read_text())["tasks"]["fires_next_week"]["metrics"]
    assert test["width_50"] < 10, test  # sparse counts: flat windows do not blow the conformal intervals up
    forecasts = pd.read_csv(run_dir / "forecasts-val.csv", keep_default_na=False)
    cells = forecasts[forecasts["task"] == "fires_next_week"]
    assert len(cells) == evaluation["count"] and set(cells["region"]) <= set(evaluation["regions"]["ids"])
    assert (forecasts[forecasts["task"] == "equipment_next_week"]["region"] == "").all()
