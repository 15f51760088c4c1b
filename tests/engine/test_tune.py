"""`mrframe tune`: trials as run directories, their outcomes recorded, two workers on one journal file, a killed
study resumed, and a best.toml that `mrframe run` trains."""

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
from mrframe.cli.run import train_run
from mrframe.engine.tune import results
from mrframe.engine.tune.study import counted, fail_stale, open_storage
from mrframe.engine.tune.trials import Worker
from mrframe.spec import load_spec

optuna = pytest.importorskip("optuna", reason="mrframe tune needs Optuna (mrframe[tune])")

SPACE = """
[tune]
trials = {trials}
startup_trials = 0
warmup_epochs = 0
[tune.space]
"train.lr" = {{ distribution = "log-uniform", low = 1e-3, high = 1e-2 }}
{extra}
"""


class PruneTrial(optuna.pruners.BasePruner):
    def __init__(self, number: int):
        self.number = number

    def prune(self, study, trial) -> bool:
        return trial.number == self.number


def test_each_outcome_is_recorded_and_the_study_goes_on(tiny_spec, tmp_path, bomb):
    extra = """"heads.next.target.horizon" = { distribution = "int", low = 1, high = 3 }
"heads.next.target.span" = { distribution = "int", low = 1, high = 3 }
"encoders.daily.at_step" = { distribution = "int", low = 1, high = 1000 }"""
    spec = load_spec(tiny_spec(encoder="bomb", train="epochs = 1", extra=SPACE.format(trials=4, extra=extra)))
    study = optuna.create_study(storage=open_storage(None, tmp_path), study_name="tiny",
                                pruner=PruneTrial(3))
    fine = {"train.lr": 3e-3, "heads.next.target.horizon": 3, "heads.next.target.span": 1,
            "encoders.daily.at_step": 1000}
    for params in (fine | {"heads.next.target.horizon": 1, "heads.next.target.span": 3},  # an invalid spec
                   fine | {"encoders.daily.at_step": 1}, fine, fine):  # non-finite at step 1, complete, pruned
        study.enqueue_trial(params)

    def train(spec, directory, point, device, echo, hooks):
        return train_run(spec, directory, point, device, echo, [*hooks, bomb])

    worker = Worker(tmp_path, study, spec, spec.to_dict(), 4, train)
    assert worker.run() == 0
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "FAIL", "COMPLETE", "PRUNED"]
    assert trials[0].user_attrs["failure"].startswith("the sampled values make an invalid spec: "
                                                      "heads.next.target.span: must not exceed the horizon (1)")
    assert "non-finite" in trials[1].user_attrs["failure"]
    summary = json.loads((tmp_path / "trials" / "trial-0002" / "summary.json").read_text())
    assert summary["status"] == "finished" and trials[2].value == pytest.approx(summary["best"]["value"])
    pruned = json.loads((tmp_path / "trials" / "trial-0003" / "summary.json").read_text())
    assert pruned["status"].startswith("stopped: pruned after epoch") and pruned["epochs"] == 1
    assert "evaluation" in pruned and not pruned["evaluation"]  # no final evaluation for a pruned run
    rows = (tmp_path / "trials" / "trial-0003" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(row)["epoch"] for row in rows] == [1]  # the epoch it was pruned after is written too

    best = results.write(tmp_path, study, spec, spec.to_dict())
    assert best["best"]["trial"] == 2 and best["trials"] == {"fail": 2, "complete": 1, "pruned": 1}
    tuned = load_spec(tmp_path / "best.toml")
    assert tuned.tune is None and tuned.name == "tiny-best" and tuned.train.lr == 3e-3
    table = pd.read_csv(tmp_path / "trials.csv")
    assert list(table["state"]) == ["fail", "fail", "complete", "pruned"] and table["failure"].notna().sum() == 2
    assert (tmp_path / "plots" / "history.png").is_file()


@pytest.mark.slow
def test_a_backtest_trial_scores_its_mean_skill_over_folds(tiny_spec, tmp_path):
    tune = SPACE.format(trials=1, extra="").replace("[tune]\n", '[tune]\nobjective = "backtest"\n')
    spec = load_spec(tiny_spec(train="epochs = 1", extra=tune + "[tune.backtest]\nfolds = 2\n"))
    study = optuna.create_study(storage=open_storage(None, tmp_path), study_name="tiny", direction="maximize")
    assert Worker(tmp_path, study, spec, spec.to_dict(), 1, train_run).run() == 0
    trial = study.trials[0]
    aggregate = json.loads((tmp_path / "trials" / "trial-0000" / "aggregate.json").read_text())
    assert aggregate["finished"] == 2 and trial.state.name == "COMPLETE"
    assert trial.value == pytest.approx(aggregate["tasks"]["next"]["skill"]["mean"])
    assert sorted(trial.intermediate_values) == [1, 2]  # reported after each fold


def test_a_running_trial_whose_worker_is_gone_is_failed_and_retried(tmp_path):
    study = optuna.create_study(storage=open_storage(None, tmp_path), study_name="s")
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    trial.set_user_attr("host", os.uname().nodename)
    trial.set_user_attr("pid", dead.pid)
    assert fail_stale(study) == [0] and fail_stale(study) == []
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["FAIL", "WAITING"]
    assert trials[1].user_attrs == {"retry_of": 0} and trials[1].system_attrs["fixed_params"] == trials[0].params
    assert counted(trials) == 1  # the retry replaces the trial in the budget


@pytest.mark.slow
def test_two_workers_share_one_study_that_survives_a_kill(tiny_spec, tmp_path):
    space = SPACE.format(trials=2, extra="").replace("warmup_epochs = 0", 'warmup_epochs = 0\npruner = "none"')
    spec = tiny_spec(train="epochs = 2\ncheckpoint_every = 1", extra=space)  # no pruning: every trial must end
    out = tmp_path / "tune"
    command = [sys.executable, "-m", "mrframe", "tune", str(spec), "--jobs", "2", "--out", str(out)]
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.monotonic() + 120
    while len(list(out.glob("trials/*/checkpoints/last.pt"))) < 2:
        assert time.monotonic() < deadline and first.poll() is None, "the workers never wrote checkpoints"
        time.sleep(0.1)
    first.send_signal(signal.SIGKILL)  # the workers get SIGTERM from the kernel, stop their trials and exit
    first.wait()
    storage = open_storage(None, out)
    state = optuna.trial.TrialState
    while optuna.load_study(study_name="tiny", storage=storage).get_trials(states=(state.RUNNING,)):
        assert time.monotonic() < deadline, "the workers did not stop"
        time.sleep(0.2)

    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=180)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "best: trial" in again.stdout
    trials = optuna.load_study(study_name="tiny", storage=storage).get_trials()
    assert counted(trials) == 2 and {t.state for t in trials} <= {state.COMPLETE, state.FAIL}
    assert len({t.user_attrs["pid"] for t in trials}) >= 2  # two worker processes shared the journal file
    retries = [t for t in trials if "retry_of" in t.user_attrs]
    assert retries and all(t.state == state.COMPLETE for t in retries)
    for t in retries:  # a retry continued its predecessor's run directory (same path, resumed, all epochs)
        predecessor = trials[t.user_attrs["retry_of"]]
        assert t.user_attrs["run_dir"] == predecessor.user_attrs["run_dir"]
        log = (out / "trials" / os.path.basename(t.user_attrs["run_dir"]) / "console.log").read_text()
        assert "resuming" in log
        summary = json.loads((out / "trials" / os.path.basename(t.user_attrs["run_dir"]) / "summary.json").read_text())
        assert summary["epochs"] == 2
    for name in ("best.toml", "best.json", "trials.csv", "plots/history.png"):
        assert (out / name).is_file(), name
    trained = CliRunner().invoke(cli, ["run", str(out / "best.toml"), "--set", "train.epochs=1", "--out",
                                       str(tmp_path / "runs")])
    assert trained.exit_code == 0 and "finished after 1 epochs" in trained.output, trained.output


def test_an_out_folder_that_is_not_a_tune_directory_is_refused_in_one_line(tiny_spec, tmp_path, capsys):
    from mrframe.cli import main

    run_dir = tmp_path / "a-run"
    run_dir.mkdir()
    (run_dir / "spec.toml").write_text(tiny_spec(name="run.toml").read_text())  # a run directory's spec: no [tune]
    spec = tiny_spec(extra=SPACE.format(trials=1, extra=""))
    with pytest.raises(SystemExit) as exit_:
        main(["tune", str(spec), "--out", str(run_dir)])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "Traceback" not in err, err
    assert err.strip() == f"error: {run_dir} is not a tune directory (its spec.toml has no [tune] section: a run " \
                          "directory?); choose another --out"
    assert sorted(p.name for p in run_dir.iterdir()) == ["spec.toml"]
