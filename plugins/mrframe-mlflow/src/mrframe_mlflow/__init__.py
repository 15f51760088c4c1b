"""The ``mlflow`` hook plugin: a run recorded as an MLflow run (``[run] hooks = ["mlflow"]``).

Where: by default a local SQLite database, ``mlflow.db`` in the folder that holds the run directories (``runs``
unless ``--out`` or ``[run] out_dir`` says otherwise), with the artifacts in ``mlartifacts/`` beside it;
``database`` names another database file; ``tracking_uri`` (or the ``MLFLOW_TRACKING_URI`` variable, when neither
key is set) any MLflow tracking URI: a tracking server, PostgreSQL, Databricks. Browse a local database with
``mlflow ui --backend-store-uri sqlite:///runs/mlflow.db`` (the UI comes with the full ``mlflow`` package).

What: the MLflow run is named after the run directory, in the experiment named after the run (``experiment``
overrides it), tagged ``mrframe.run_directory`` and ``mrframe.status``.

* at the start: the resolved spec as parameters with dotted keys (``train.lr``) and as the artifact ``spec.toml``;
* every epoch: every finite metric, at step = the epoch number of :class:`mrframe.hooks.EpochRecord`;
* at the end: the run directory as artifacts (spec, metrics, plots, data and evaluation reports, summary, event
  files of other hooks; ``checkpoints/`` when ``checkpoints``), and the status: FINISHED (finished or stopped
  early), KILLED (interrupted or aborted: resumable) or FAILED.

A resumed run (``mrframe run --resume``) continues the same MLflow run, whose id is kept in ``RUN_DIR/mlflow.json``.
Only the process that owns the run directory records (rank 0 of a distributed run).

Failures: a store that cannot be reached when the run starts stops it before training, in one line (fix the
setting and run again). Once training runs, MLflow never ends it: a failed call (a server gone, a full disk on
its side) is reported once as a warning, later calls are still tried, and the run and its directory go on.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import pathlib
import time
import warnings
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs

from mrframe.config import field
from mrframe.errors import MrframeError
from mrframe.hooks import EpochRecord, RunInfo, hookimpl

STATE_FILE = "mlflow.json"
STATUS = {"finished": "FINISHED", "stopped early": "FINISHED", "interrupted": "KILLED", "aborted": "KILLED"}
"""mrframe's run status -> MLflow's (anything else is FAILED)."""

MAX_PARAMS, MAX_METRICS, MAX_PARAM_LENGTH = 100, 1000, 6000  # MLflow's limits per log_batch call and per value


@attrs.frozen
class MlflowConfig:
    database: pathlib.Path | None = field(
        None, "SQLite database the runs are recorded in (relative to the spec file; default: mlflow.db in the "
              "folder that holds the run directories)")
    tracking_uri: str | None = field(
        None, "any MLflow tracking URI instead of a local database: http://host:5000, postgresql://..., databricks "
              "(default: $MLFLOW_TRACKING_URI when set and database is not)")
    experiment: str | None = field(None, "MLflow experiment the run is recorded in (default: the run's name)")
    artifacts: bool = field(True, "copy the run directory into the MLflow run's artifacts when training ends")
    checkpoints: bool = field(False, "include checkpoints/ in those artifacts")
    tags: dict[str, str] = field(doc="extra tags of the MLflow run", factory=dict)

    def problems(self) -> Iterable[tuple[str, str]]:
        if self.database is not None and self.tracking_uri is not None:
            yield "tracking_uri", "give either database or tracking_uri, not both"


class MlflowHook:
    """Records the run in MLflow: the spec as parameters, every epoch's metrics, the run directory as artifacts."""

    Config = MlflowConfig

    def __init__(self, config: MlflowConfig):
        self.config = config
        self.client: Any = None  # mlflow.tracking.MlflowClient, on the process that writes
        self.run_id: str | None = None
        self.warned = False

    def _tolerate(self, what: str, call: Any, *args: Any, **kwargs: Any) -> None:
        """``call(*args, **kwargs)``; an error is a warning (the first only), never the end of the run."""
        try:
            call(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - whatever the tracking store raises, training goes on
            if not self.warned:
                self.warned = True
                text = str(error).strip().splitlines()
                warnings.warn(f"hooks.mlflow: could not {what} ({type(error).__name__}: {text[0] if text else ''}); "
                              f"the run goes on, its MLflow record (run {self.run_id}) may be incomplete",
                              RuntimeWarning, stacklevel=2)

    def store(self, runs_folder: pathlib.Path) -> tuple[str, pathlib.Path | None]:
        """The tracking URI and, when it is a local SQLite database, the database file."""
        if self.config.tracking_uri is not None:
            return self.config.tracking_uri, None
        if self.config.database is None and os.environ.get("MLFLOW_TRACKING_URI"):
            return os.environ["MLFLOW_TRACKING_URI"], None
        database = (self.config.database or runs_folder / "mlflow.db").resolve()
        return f"sqlite:///{database}", database

    @hookimpl
    def mrframe_run_start(self, run: RunInfo) -> None:
        if not run.writes or run.directory is None:
            return
        uri, database = self.store(run.directory.parent)
        try:
            self._start(run, uri, database)
        except MrframeError:
            raise
        except Exception as error:  # the store's own errors (MlflowException, SQLAlchemy, OSError, ...)
            text = str(error).strip().splitlines()
            raise MrframeError(f"hooks.mlflow: cannot record the run in {uri}: "
                               f"{type(error).__name__}: {text[0] if text else ''}") from error

    def _start(self, run: RunInfo, uri: str, database: pathlib.Path | None) -> None:
        from mlflow.tracking import MlflowClient  # imported by runs that use the hook, not by listings

        state = run.directory / STATE_FILE
        saved = json.loads(state.read_text()) if state.is_file() else {}
        with _creation_lock(database), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # SQLAlchemy's, raised inside MLflow's store
            self.client = client = MlflowClient(tracking_uri=uri)
            if saved.get("tracking_uri") == uri and _run_exists(client, saved.get("run_id")):
                self.run_id = saved["run_id"]
                client.update_run(self.run_id, status="RUNNING")
                return
            location = (database.parent / "mlartifacts").as_uri() if database is not None else None
            experiment = _experiment_id(client, self.config.experiment or run.name, location, uri)
        tags = {"mrframe.run_directory": str(run.directory), **self.config.tags}
        self.run_id = client.create_run(experiment, run_name=run.directory.name, tags=tags).info.run_id
        state.write_text(json.dumps({"tracking_uri": uri, "experiment_id": experiment, "run_id": self.run_id}) + "\n")
        from mlflow.entities import Param

        parameters = [Param(key, value[:MAX_PARAM_LENGTH]) for key, value in flatten(run.spec.to_dict()).items()]
        for chunk in _chunks(parameters, MAX_PARAMS):
            client.log_batch(self.run_id, params=chunk)
        client.log_text(self.run_id, run.spec.to_toml(), "spec.toml")

    @hookimpl(trylast=True)
    def mrframe_epoch_end(self, run: RunInfo, record: EpochRecord) -> None:
        if self.client is None:
            return
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(name, float(value), now, record.epoch)
                   for name, value in record.metrics.items() if not math.isnan(value)]  # NaN: missing or undefined
        for chunk in _chunks(metrics, MAX_METRICS):
            self._tolerate(f"log the metrics of epoch {record.epoch}", self.client.log_batch, self.run_id,
                           metrics=chunk)

    @hookimpl(wrapper=True)  # around every other implementation: after summary.json and other hooks' files exist
    def mrframe_run_end(self, run: RunInfo, summary: Mapping[str, Any]) -> Any:
        try:
            return (yield)
        finally:
            self._finish(run, summary)

    def _finish(self, run: RunInfo, summary: Mapping[str, Any]) -> None:
        if self.client is None:
            return
        client, self.client = self.client, None
        if self.config.artifacts and run.directory is not None:
            for path in sorted(run.directory.iterdir()):
                if path.is_dir() and (path.name != "checkpoints" or self.config.checkpoints):
                    self._tolerate(f"upload {path.name}/", client.log_artifacts, self.run_id, str(path),
                                   artifact_path=path.name)
                elif path.is_file():
                    self._tolerate(f"upload {path.name}", client.log_artifact, self.run_id, str(path))
        status = str(summary.get("status", ""))
        self._tolerate("tag the run's status", client.set_tag, self.run_id, "mrframe.status", status)
        self._tolerate("end the MLflow run", client.set_terminated, self.run_id, status=STATUS.get(status, "FAILED"))


def flatten(document: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """A nested document as ``{"train.lr": "0.003", "fusion.0.plugin": "attention", ...}``: strings as they are,
    dates in ISO format, other leaves as JSON (``true``, ``[1, 2]``)."""
    out: dict[str, str] = {}
    for key, value in document.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out |= flatten(value, f"{name}.")
        elif isinstance(value, list | tuple) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                out |= flatten(item, f"{name}.{i}.")
        else:
            out[name] = value if isinstance(value, str) else value.isoformat() if isinstance(value, datetime.date) \
                else json.dumps(value, default=str)
    return out


def _run_exists(client: Any, run_id: str | None) -> bool:
    from mlflow.exceptions import MlflowException

    if not run_id:
        return False
    try:
        client.get_run(run_id)
    except MlflowException:
        return False
    return True


def _experiment_id(client: Any, name: str, location: str | None, uri: str) -> str:
    """The id of experiment ``name``, created (with artifacts at ``location``) when it does not exist yet."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:  # another process created it in the meantime
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise MrframeError(f"hooks.mlflow: experiment '{name}' is deleted in {uri}: restore it (mlflow experiments "
                           "restore) or name another with [hooks.mlflow] experiment = ...")
    return found.experiment_id


@contextlib.contextmanager
def _creation_lock(database: pathlib.Path | None) -> Iterator[None]:
    """Holds a lock file beside a local database while it is created and the experiment looked up, so that runs
    started together (several workers of a sweep) do not create the tables or the experiment twice."""
    if database is None:
        yield
        return
    import fcntl

    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(database.name + ".lock"), "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
