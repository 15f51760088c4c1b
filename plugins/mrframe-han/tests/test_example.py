"""examples/osint-han.toml trains end to end with ``mrframe run`` (at small settings) and reports its blocks."""

from __future__ import annotations

import json
import pathlib

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
