"""The bundled examples run end to end as a user would run them."""

import json
import pathlib

import pytest

from tests.distributions import REPO, run_cli

pytestmark = [pytest.mark.plugins, pytest.mark.slow]


def test_minimal_example_trains_and_its_loss_decreases(tmp_path):
    result = run_cli(["run", str(REPO / "examples/minimal.toml"), "--out", str(tmp_path)])
    assert result.returncode == 0, result.stderr
    (run_dir,) = tmp_path.iterdir()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = [r["train_loss"] for r in rows]
    assert len(train) >= 3 and train[-1] < 0.8 * train[0], train
    assert pathlib.Path(run_dir / "plots/loss.png").stat().st_size > 1000
