"""The mlflow hook records what MLflow's own client (MlflowClient) loads back."""

from __future__ import annotations

import json
import math
import tomllib

import pytest
from click.testing import CliRunner
from mlflow.tracking import MlflowClient

from mrframe.cli import cli
from mrframe.engine.plots import plot_steps
from mrframe.errors import MrframeError, SpecError
from mrframe.hooks import EpochRecord, RunInfo, plugin_manager
from mrframe.spec import build_spec
from tests.fakes import FAKE_SPEC, fake_plugins


@pytest.fixture(autouse=True)
def fakes():
    with fake_plugins():
        yield


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory):
    """``mrframe run`` of the fake spec with both tracking hooks, the MLflow store at its default place."""
    pytest.importorskip("mrframe_tensorboard", reason="the run is tracked by both first-party tracking hooks")
    folder = tmp_path_factory.mktemp("tracked")
    spec = folder / "fake.toml"
    spec.write_text(FAKE_SPEC.replace("seed = 3", 'seed = 3\nhooks = ["tensorboard", "mlflow"]'))
    with fake_plugins():
        result = CliRunner().invoke(cli, ["run", str(spec), "--out", str(folder / "runs")])
    assert result.exit_code == 0, result.output
    (directory,) = (folder / "runs").glob("fake-*")
    return directory


@pytest.fixture(scope="module")
def database(tracked_run):
    """The store of the tracked run, shared by the module: MLflow creates its tables once (seconds)."""
    return tracked_run.parent / "mlflow.db"


@pytest.mark.slow
def test_a_run_with_both_hooks_leaves_what_tensorboard_and_mlflow_load(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows = [json.loads(line) for line in (tracked_run / "metrics.jsonl").read_text().splitlines()]
    events = EventAccumulator(str(tracked_run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    logged = [(e.step, e.value) for e in events.Scalars("train_loss")]
    assert [v for _, v in logged] == pytest.approx([r["train_loss"] for r in rows]) and len(rows) == 2
    assert [s for s, _ in logged] == [r["epoch"] for r in rows] == [1, 2]  # the metrics files' epoch numbers
    assert {"plots/loss", "plots/lr", "plots/weights"} <= set(events.Tags()["images"])

    state = json.loads((tracked_run / "mlflow.json").read_text())
    assert state["tracking_uri"] == f"sqlite:///{tracked_run.parent / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=state["tracking_uri"])
    recorded = client.get_run(state["run_id"])
    assert recorded.info.status == "FINISHED" and recorded.data.tags["mrframe.status"] == "finished"
    history = client.get_metric_history(state["run_id"], "val_loss")
    assert [(m.step, m.value) for m in history] == [(e.step, pytest.approx(r["val_loss"])) for e, r in
                                                     zip(events.Scalars("val_loss"), rows, strict=True)]
    artifacts = {a.path for a in client.list_artifacts(state["run_id"])}
    assert {"spec.toml", "metrics.csv", "summary.json", "evaluation-test.json", "plots", "tensorboard"} <= artifacts
    (uploaded,) = client.list_artifacts(state["run_id"], "tensorboard")
    (written,) = (tracked_run / "tensorboard").iterdir()
    assert uploaded.file_size == written.stat().st_size  # uploaded after the tensorboard hook closed its file
    assert recorded.info.artifact_uri.startswith((tracked_run.parent / "mlartifacts").as_uri())


def test_a_tracking_failure_after_the_start_warns_once_and_the_run_goes_on(tmp_path, database):
    """The store goes away during training: every later call fails; the run is not lost (a trainer's hooks raise
    into the training loop), one warning says what happened."""
    run, manager = start(tmp_path, f'[hooks.mlflow]\ndatabase = "{database}"\n')
    (hook,) = [p for p in manager.get_plugins() if type(p).__name__ == "MlflowHook"]

    def gone(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ConnectionError("the tracking server went away")

    for name in ("log_batch", "log_artifact", "log_artifacts", "set_tag", "set_terminated"):
        setattr(hook.client, name, gone)
    with pytest.warns(RuntimeWarning) as caught:
        epoch(run, manager, 1, train_loss=0.9)
        epoch(run, manager, 2, train_loss=0.8)
        end(run, manager, "finished")
    (warning,) = caught
    assert str(warning.message).startswith("hooks.mlflow: could not log the metrics of epoch 1 (ConnectionError: "
                                           "the tracking server went away); the run goes on")


def start(tmp_path, table: str, writes: bool = True):
    """A run directory with a plot, and the hooks the spec enables, started."""
    text = FAKE_SPEC.replace("seed = 3", 'seed = 3\nhooks = ["mlflow"]') + table
    spec = build_spec(tomllib.loads(text), base_dir=tmp_path)
    directory = tmp_path / "fake-20250101-000000"
    (directory / "plots").mkdir(parents=True, exist_ok=True)
    (directory / "checkpoints").mkdir(exist_ok=True)
    (directory / "checkpoints" / "last.pt").write_bytes(b"weights")
    plot_steps([{"step": 1, "lr": 0.1}, {"step": 2, "lr": 0.05}], "lr", directory / "plots" / "lr.png", "lr", "fake")
    run = RunInfo("fake", directory, spec, writes, 3, {"total": 10})
    manager = plugin_manager(named=spec.hooks)
    manager.hook.mrframe_run_start(run=run)
    return run, manager


def epoch(run, manager, number, **metrics):
    manager.hook.mrframe_epoch_end(run=run, record=EpochRecord(number, 7 * number, metrics))


def end(run, manager, status):
    (run.directory / "summary.json").write_text(json.dumps({"status": status}))
    manager.hook.mrframe_run_end(run=run, summary={"status": status})


def test_spec_metrics_and_run_directory_are_readable_by_mlflow_and_a_resume_continues_the_run(tmp_path, database):
    table = f'[hooks.mlflow]\ndatabase = "{database}"\nexperiment = "tests"\ntags = {{ team = "osint" }}\n'
    run, manager = start(tmp_path, table)
    epoch(run, manager, 1, train_loss=0.9, val_loss=math.nan)
    end(run, manager, "interrupted")

    state = json.loads((run.directory / "mlflow.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{database}")
    recorded = client.get_run(state["run_id"])
    assert recorded.info.status == "KILLED" and recorded.info.run_name == "fake-20250101-000000"
    assert client.get_experiment(recorded.info.experiment_id).name == "tests"
    assert recorded.data.tags["team"] == "osint" and recorded.data.tags["mrframe.status"] == "interrupted"
    params = recorded.data.params
    assert params["train.epochs"] == "2" and params["sources.daily.plugin"] == "fake-wave"
    assert params["run.hooks"] == '["mlflow"]' and params["data.split.val_from"] == "2021-11-01"
    assert recorded.data.metrics == {"train_loss": 0.9}  # NaN (undefined) is not logged
    artifacts = {a.path for a in client.list_artifacts(state["run_id"])}
    assert {"spec.toml", "summary.json", "mlflow.json", "plots"} <= artifacts and "checkpoints" not in artifacts
    assert [a.path for a in client.list_artifacts(state["run_id"], "plots")] == ["plots/lr.png"]
    spec_text = (tmp_path / "download").mkdir() or client.download_artifacts(state["run_id"], "spec.toml",
                                                                             str(tmp_path / "download"))
    assert tomllib.loads(open(spec_text).read())["hooks"]["mlflow"]["experiment"] == "tests"

    run, manager = start(tmp_path, table)  # mrframe run --resume: the same MLflow run goes on
    assert client.get_run(state["run_id"]).info.status == "RUNNING"
    epoch(run, manager, 2, train_loss=0.7)
    end(run, manager, "finished")
    assert json.loads((run.directory / "mlflow.json").read_text())["run_id"] == state["run_id"]
    assert client.get_run(state["run_id"]).info.status == "FINISHED"
    history = client.get_metric_history(state["run_id"], "train_loss")
    assert [(m.step, m.value) for m in history] == [(1, 0.9), (2, 0.7)]
    assert len(client.search_runs([recorded.info.experiment_id])) == 1


def test_checkpoints_on_request_and_only_the_writing_process_records(tmp_path, database):
    run, manager = start(tmp_path, f'[hooks.mlflow]\ndatabase = "{database}"\ncheckpoints = true\n')
    end(run, manager, "stopped: non-finite")
    state = json.loads((run.directory / "mlflow.json").read_text())
    client = MlflowClient(tracking_uri=f"sqlite:///{database}")
    recorded = client.get_run(state["run_id"])
    assert recorded.info.status == "FAILED" and client.get_experiment(recorded.info.experiment_id).name == "fake"
    assert [a.path for a in client.list_artifacts(state["run_id"], "checkpoints")] == ["checkpoints/last.pt"]
    quiet = tmp_path / "rank1"
    run, manager = start(quiet, f'[hooks.mlflow]\ndatabase = "{quiet / "mlflow.db"}"\n', writes=False)
    end(run, manager, "finished")
    assert not (quiet / "mlflow.db").exists() and not (run.directory / "mlflow.json").exists()


def test_bad_settings_are_one_line_errors(tmp_path, database):
    with pytest.raises(SpecError, match="hooks.mlflow.tracking_uri: give either database or tracking_uri, not both"):
        start(tmp_path, f'[hooks.mlflow]\ndatabase = "{database}"\ntracking_uri = "http://localhost:5000"\n')
    with pytest.raises(MrframeError, match=r"^hooks.mlflow: cannot record the run in nowhere://store: "
                                           r"\w+: [^\n]*unsupported URI 'nowhere://store'[^\n]*$"):
        start(tmp_path, '[hooks.mlflow]\ntracking_uri = "nowhere://store"\n')
