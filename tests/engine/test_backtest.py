"""`mrframe backtest` as a user runs it: folds as run directories, a killed backtest resumed, the aggregate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
from click.testing import CliRunner

from mrframe.cli import cli
from mrframe.spec import load_spec

pytestmark = pytest.mark.slow


def _mrframe(*args: str) -> list[str]:
    return [sys.executable, "-m", "mrframe", *args]


def test_a_killed_backtest_resumes_and_aggregates(tiny_spec, tmp_path):
    spec = tiny_spec(train="epochs = 2\ncheckpoint_every = 1")
    out = tmp_path / "bt"
    command = _mrframe("backtest", str(spec), "--folds", "2", "--out", str(out), "--jobs", "1")
    output = tmp_path / "launcher.log"
    with output.open("w") as log:
        launcher = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                    env=dict(os.environ, PYTHONPATH=os.getcwd()))
    first = out / "fold-01"
    deadline = time.monotonic() + 120
    while not (first / "checkpoints" / "last.pt").is_file():
        assert time.monotonic() < deadline and launcher.poll() is None, \
            f"fold 1 never wrote a checkpoint:\n{output.read_text()}"
        time.sleep(0.1)
    launcher.send_signal(signal.SIGKILL)  # no chance to clean up: the fold process must go down with it
    launcher.wait()
    lock = os.open(first / ".lock", os.O_RDWR)
    import fcntl

    fcntl.flock(lock, fcntl.LOCK_EX)  # blocks until the orphaned fold process has exited
    os.close(lock)
    assert not (out / "fold-02" / "summary.json").is_file()

    # the same command again continues it (its plan matches), as a requeued cluster job would
    resumed = subprocess.run(command[:-1] + ["2"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "next [point], mean ± sd over 2 of 2 folds" in resumed.stdout
    for fold in ("fold-01", "fold-02"):
        summary = json.loads((out / fold / "summary.json").read_text())
        assert summary["status"] == "finished" and summary["epochs"] == 2
    log = (first / "console.log").read_text()
    assert "mrframe run: resuming" in log or summary["status"] == "finished"
    fold_spec = load_spec(out / "fold-02" / "spec.toml")
    assert str(fold_spec.data.split.test_from) == "2022-06-30" and fold_spec.name == "tiny-fold-02"  # tiled to 07-19

    folds = pd.read_csv(out / "folds.csv")
    assert list(folds["fold"]) == [1, 2] and set(folds["task"]) == {"next"}
    assert {"model.mae", "persistence.mae", "persistence.beats", "skill", "strongest"} <= set(folds.columns)
    aggregate = json.loads((out / "aggregate.json").read_text())
    task = aggregate["tasks"]["next"]
    assert aggregate["finished"] == 2 and task["model"]["mae"]["folds"] == 2
    assert task["baselines"]["persistence"]["wins"] + task["baselines"]["persistence"]["losses"] == 2
    assert (out / "plots" / "skill.png").is_file() and (out / "plots" / "forecasts.png").is_file()

    collected = CliRunner().invoke(cli, ["backtest", "--collect", str(out)])
    assert collected.exit_code == 0 and "model wins" in collected.output
    other = CliRunner().invoke(cli, ["backtest", str(spec), "--folds", "3", "--out", str(out)])
    assert other.exit_code != 0 and "holds a different backtest" in str(other.exception)
    bad = CliRunner().invoke(cli, ["backtest", "--resume", str(out), "--fold", "7"])
    assert "--fold 7: the backtest" in str(bad.exception)
