"""examples/osint-han.toml trains end to end with ``mrframe run`` (at small settings) and reports its blocks."""

from __future__ import annotations

import json
import pathlib

import pytest

from mrframe import registry
from mrframe.cli import main
from mrframe.spec import load_spec

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "osint-han.toml"
SMALL = [
    "data.daily_window=60", "data.monthly_window=4", "data.stride=21", "model.d_model=16",
    "train.epochs=1", "encoders.equipment.layers=1", "fusion.3.layers=1", "fusion.4.layers=1",
]
# what docs/han.md tells users to add while mrframe-objectives has only masked-mse
POINT_FORECASTS = [
    "heads.next_month.loss.plugin=masked-mse", "heads.next_week.loss.plugin=masked-mse",
    "heads.fires.plugin=forecast", "heads.fires.loss.plugin=masked-mse",
]
WRITTEN_LOSSES = {"gaussian-nll", "zinb"}


def _variants() -> list:
    as_written = pytest.param([], id="as written", marks=pytest.mark.skipif(
        not WRITTEN_LOSSES <= set(registry.names("loss")), reason="needs the gaussian-nll and zinb losses"))
    return [as_written, pytest.param(POINT_FORECASTS, id="point forecasts with masked-mse")]


@pytest.mark.slow
@pytest.mark.parametrize("overrides", _variants())
def test_example_trains_and_reports_every_block(overrides, tmp_path, capsys):
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
