"""A run directory is never destroyed: each fault is planted in a copy of a finished run and the command a
user would type next is run on it (resume, evaluate, predict, diagnose)."""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import shutil

import numpy as np
import pytest
import torch

from mrframe.cli import main
from mrframe.data.pipeline import prepare
from mrframe.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    content_checksum,
    load_checkpoint,
    save_checkpoint,
)
from mrframe.engine.files import StorageError, atomic_write
from mrframe.engine.resume import find_resume_point
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.runlog import RunLog
from mrframe.engine.trainer import NonFiniteError, Trainer
from mrframe.engine.writers import MetricsWriter
from mrframe.errors import EXIT_STORAGE
from mrframe.hooks import hookimpl, plugin_manager
from mrframe.spec import load_spec
from mrframe.testing.faults import flip_bit, full_disk, snapshot

AT = "2022-06-20"


def mrframe(capsys, *args):  # noqa: ANN001, ANN002, ANN201
    """Run the CLI as a user does: (exit status, stdout, stderr)."""
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in args])
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code or 0, out.out, out.err


@pytest.fixture(scope="module")
def finished(spec_writer, tmp_path_factory, threads):
    """A finished 2-epoch run directory (never changed: tests work on copies)."""
    folder = tmp_path_factory.mktemp("finished")
    spec = spec_writer(folder, train="epochs = 2")
    with threads(), pytest.raises(SystemExit) as info:
        main(["run", str(spec), "--out", str(folder / "runs")])
        raise SystemExit(0)
    assert not info.value.code
    (run_dir,) = (folder / "runs").iterdir()
    assert json.loads((run_dir / "summary.json").read_text())["best"]["epoch"] == 2  # what the tests below rely on
    return run_dir


@pytest.fixture
def run(finished, tmp_path):  # noqa: ANN001, ANN201
    """A copy of the finished run."""
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


def one_error_line(err: str) -> str:
    """The one error line (after a progress bar's last refresh, when training had begun), without traceback."""
    lines = [line[line.index("error: "):] for line in err.splitlines() if "error: " in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# ------------------------------------------------------------------------------------------- checkpoints


def test_every_checkpoint_holds_a_checksum_and_a_flipped_bit_is_found(run):
    last = run / "checkpoints" / "last.pt"
    assert len(torch.load(last, weights_only=True)["checksum"]) == 64
    load_checkpoint(last)
    flip_bit(last)
    with pytest.raises(CheckpointError, match=r"last\.pt: corrupted \(its content does not match the checksum"):
        load_checkpoint(last)


def test_an_unsafe_pickle_is_refused_in_our_words(run, capsys):
    marker = run / "code-ran"

    class Payload:
        def __reduce__(self):  # noqa: ANN204
            return (os.mkdir, (str(marker),))

    torch.save({"format": 3, "model": Payload()}, run / "checkpoints" / "best.pt")
    code, out, err = mrframe(capsys, "evaluate", run)
    line = one_error_line(err)
    assert code == 2 and f"best.pt: refused: loading it would import {os.mkdir.__module__}.mkdir" in line
    assert "weights_only" not in err + out and not marker.exists()


@pytest.mark.parametrize("drop", [("epoch",), ("epoch", "preprocessing")])
def test_an_incomplete_checkpoint_names_the_file_and_the_missing_keys(run, capsys, drop):
    best = run / "checkpoints" / "best.pt"
    state = {k: v for k, v in load_checkpoint(best).items() if k not in drop}
    save_checkpoint(best, state)  # a valid checksum over an incomplete layout
    code, _, err = mrframe(capsys, "predict", run, "--at", AT)
    assert code == 2 and f"best.pt: incomplete checkpoint: no {', '.join(repr(k) for k in drop)}" in one_error_line(err)
    assert not list(run.glob("predictions-*"))


def test_a_shape_mismatch_names_the_file_and_the_first_tensor(run, capsys):
    best = run / "checkpoints" / "best.pt"
    state = load_checkpoint(best)
    name = next(k for k, v in state["model"].items() if v.dim() == 2)
    state["model"][name] = torch.zeros(3, 5)
    save_checkpoint(best, state)
    code, _, err = mrframe(capsys, "evaluate", run)
    line = one_error_line(err)
    assert code == 2 and str(best) in line and f"model.{name} has shape [3, 5] in the checkpoint" in line


def test_last_is_kept_as_last_prev_and_a_full_disk_changes_neither(tmp_path):
    path = tmp_path / "last.pt"
    first, second = ({**_state(), "step": n} for n in (1, 2))
    save_checkpoint(path, first, keep_previous=True)
    save_checkpoint(path, second, keep_previous=True)
    assert load_checkpoint(path)["step"] == 2 and load_checkpoint(tmp_path / "last.prev.pt")["step"] == 1
    before = snapshot(tmp_path)
    with full_disk(free=100), pytest.raises(StorageError, match=r"last\.pt: cannot write it \(No space left on device\)"):
        save_checkpoint(path, {**_state(), "step": 3}, keep_previous=True)
    assert snapshot(tmp_path) == before  # both files as they were, no temporary file left
    (tmp_path / "folder.json").mkdir()
    with pytest.raises(StorageError, match="folder.json: cannot write it"):
        atomic_write(tmp_path / "folder.json", lambda handle: handle.write(b"{}"))


def _state():  # noqa: ANN202
    """A minimal state with the checkpoint layout (what save_checkpoint/load_checkpoint need)."""
    return {"format": CHECKPOINT_FORMAT, "spec": "", "epoch": 0, "batch": 0, "step": 0, "processes": 1,
            "settings": {"train.precision": "fp32", "train.compile": "off"},
            "model": {"w": torch.ones(2)}, "losses": {}, "weighting": {},
            "optimizer": {"state": {}, "param_groups": []}, "scheduler": {}, "scaler": {},
            "rng": {"torch": torch.zeros(1), "numpy": {}, "python": {}}, "preprocessing": {},
            "progress": {"sums": {}, "early_stopping": {}, "guard": {}, "log": {}}}


# ------------------------------------------------------------------------------------------------ resume


@pytest.mark.parametrize("fault", ["missing", "folder", "corrupted"])
def test_resuming_a_finished_run_without_a_usable_last_falls_back_and_changes_nothing(run, capsys, fault):
    last = run / "checkpoints" / "last.pt"
    {"missing": last.unlink, "folder": lambda: (last.unlink(), last.mkdir()), "corrupted": lambda: flip_bit(last)}[fault]()
    before = snapshot(run)
    code, out, err = mrframe(capsys, "run", "--resume", run)
    assert code == 0, err
    assert "using checkpoints/best.pt, the newest readable state" in out and "has already ended (finished" in out
    assert snapshot(run) == before


def test_a_corrupted_last_falls_back_to_last_prev_and_resumes_to_the_same_files(run, finished, capsys):
    (run / "summary.json").unlink()  # killed after the last checkpoint of the run was written...
    (run / "checkpoints" / "best.pt").unlink()
    flip_bit(run / "checkpoints" / "last.pt")  # ...which then lost a bit
    code, out, err = mrframe(capsys, "run", "--resume", run)
    assert code == 0, err
    assert "last.pt: corrupted" in out and "using checkpoints/last.prev.pt" in out
    assert "resuming" in out and "(after 1 epoch, step 7)" in out
    assert (run / "checkpoints" / "last.unreadable.pt").is_file()  # kept for inspection
    for name in ("metrics.csv", "evaluation-test.json"):
        assert (run / name).read_bytes() == (finished / name).read_bytes(), name
    for name in ("last.pt", "best.pt"):  # the same content (AdamW's reloaded per-parameter state is reordered)
        resumed, uninterrupted = (load_checkpoint(r / "checkpoints" / name) for r in (run, finished))
        assert content_checksum(canonical(resumed)) == content_checksum(canonical(uninterrupted)), name


def canonical(value):  # noqa: ANN001, ANN201
    """``value`` with every dict's items in key order."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value, key=repr)}
    return [canonical(v) for v in value] if isinstance(value, list | tuple) else value


def test_with_no_readable_state_a_run_is_refused_and_left_as_it_is(run, capsys):
    for name in ("last.pt", "last.prev.pt", "best.pt"):
        flip_bit(run / "checkpoints" / name)
    before = snapshot(run)
    code, _, err = mrframe(capsys, "run", "--resume", run)
    line = one_error_line(err)
    assert code == 2 and "nothing to resume from" in line and "is left as it is" in line
    assert snapshot(run) == before


def test_a_run_that_never_reached_a_checkpoint_resumes_from_the_beginning(run):
    directory = RunDirectory(run)
    shutil.rmtree(run / "checkpoints")
    for name in ("summary.json", "evaluation-val.json", "evaluation-test.json"):
        (run / name).unlink()
    (run / "metrics.csv").write_text("")
    assert directory.records() == []
    assert find_resume_point(directory, load_spec(directory.spec), processes=1).state is None


def test_an_edited_spec_is_refused_naming_the_keys_unless_harmless_and_allowed(run, capsys):
    spec = run / "spec.toml"
    text = spec.read_text()
    spec.write_text(text.replace("epochs = 2", "epochs = 3").replace("lr = 0.003", "lr = 0.01"))
    before = snapshot(run)
    code, _, err = mrframe(capsys, "run", "--resume", run, "--allow-changes")
    line = one_error_line(err)
    assert code == 2 and "train.epochs (2 -> 3), train.lr (0.003 -> 0.01)" in line and "restore train.lr" in line
    spec.write_text(text.replace("epochs = 2", "epochs = 3"))
    code, _, err = mrframe(capsys, "run", "--resume", run)
    assert code == 2 and "pass --allow-changes" in one_error_line(err)
    assert snapshot(run) == {**before, "spec.toml": spec.read_bytes()}
    code, out, err = mrframe(capsys, "run", "--resume", run, "--allow-changes")
    assert code == 0, err
    assert "continuing with the edited spec: train.epochs (2 -> 3)" in out
    assert json.loads((run / "summary.json").read_text())["epochs"] == 3


def test_a_resume_under_another_precision_is_an_edit_that_needs_allow_changes(run, capsys, monkeypatch):
    trained = load_checkpoint(run / "checkpoints" / "last.pt")["settings"]["train.precision"]
    other = "bf16" if trained == "fp32" else "fp32"
    monkeypatch.setenv("MRFRAME_PRECISION", other)  # train.precision = "auto" now resolves to the other one
    (run / "summary.json").unlink()  # a run that did not end, so the resume goes on
    code, _, err = mrframe(capsys, "run", "--resume", run)
    line = one_error_line(err)
    assert code == 2 and f'train.precision (resolved) ("{trained}" -> "{other}")' in line
    assert "pass --allow-changes" in line
    directory = RunDirectory(run)
    point = find_resume_point(directory, load_spec(directory.spec), processes=1, allow_changes=True)
    assert any(f'train.precision (resolved) ("{trained}" -> "{other}")' in note for note in point.notes)


def test_allow_changes_takes_hook_options_and_the_tune_section():
    from mrframe.engine.resume import harmless

    assert harmless("hooks.mlflow.uri") and harmless("tune") and harmless("tune.space.train.lr.high")
    assert harmless("run.hooks") and harmless("train.precision")
    assert not harmless("hooksx.a") and not harmless("train.lr") and not harmless("tuner")


# ----------------------------------------------------------------------------------- evaluate and predict


def test_evaluate_and_predict_never_use_a_corrupted_model(run, capsys):
    flip_bit(run / "checkpoints" / "best.pt")
    before = snapshot(run)
    for command in (["evaluate", run], ["predict", run, "--at", AT], ["diagnose", run / "spec.toml", "--run", run,
                                                                       "--checkpoint", "best"]):
        code, _, err = mrframe(capsys, *command)
        assert code == 2 and "best.pt: corrupted" in one_error_line(err), command
    assert snapshot(run) == before


def test_non_finite_parameters_are_refused_and_non_finite_results_never_replace_earlier_ones(run, capsys):
    best = run / "checkpoints" / "best.pt"
    state = load_checkpoint(best)
    name = next(k for k in state["model"] if k.startswith("heads.") and k.endswith("weight"))
    state["model"][name] = torch.full_like(state["model"][name], torch.nan)
    save_checkpoint(best, state)
    before = snapshot(run)
    code, _, err = mrframe(capsys, "evaluate", run)
    assert code == 2 and f"parameters model.{name} are not finite" in one_error_line(err)
    assert snapshot(run) == before
    state["model"][name] = torch.full_like(state["model"][name], 3e38)  # finite, but the predictions overflow
    save_checkpoint(best, state)
    earlier = (run / "evaluation-test.json").read_bytes()
    code, out, err = mrframe(capsys, "evaluate", run)
    assert code == 0 and "the earlier evaluation-test.json is kept" in err
    assert (run / "evaluation-test.json").read_bytes() == earlier
    assert json.loads((run / "evaluation-test.suspect.json").read_text())["tasks"]["next"]["dropped"] > 0
    good = run / "good.csv"
    good.write_text("earlier predictions\n")
    code, out, err = mrframe(capsys, "predict", run, "--at", AT, "--out", good)
    assert code == 0 and good.read_text() == "earlier predictions\n" and (run / "good.suspect.csv").is_file()


def test_predict_says_which_checkpoint_it_used_and_when_best_is_missing(run, capsys):
    code, out, _ = mrframe(capsys, "predict", run, "--at", AT)
    assert code == 0 and f"checkpoint: {run / 'checkpoints' / 'best.pt'} (after " in out
    (run / "checkpoints" / "best.pt").unlink()
    code, out, _ = mrframe(capsys, "predict", run, "--at", AT)
    assert code == 0 and f"checkpoint: {run / 'checkpoints' / 'last.pt'}" in out
    assert "checkpoints/best.pt is missing" in out and "using checkpoints/last.pt instead" in out


# ------------------------------------------------------------------------------------------------ training


class AtStep:
    """Hook: call ``action(trainer)`` once when optimizer step ``step`` has ended."""

    def __init__(self, trainer, step, action):  # noqa: ANN001
        self.trainer, self.step, self.action = trainer, step, action

    @hookimpl
    def mrframe_step_end(self, run, record):  # noqa: ANN001
        if record.step == self.step:
            self.action(self.trainer)


def trainer(tiny_spec, tmp_path, **kwargs):  # noqa: ANN001, ANN003, ANN201
    spec = load_spec(tiny_spec(**kwargs))
    directory = RunDirectory.create(tmp_path / "runs", spec.name)
    log = RunLog()
    return Trainer(spec, prepare(spec), directory, plugin_manager(builtin=[MetricsWriter(directory, log)]), log)


@pytest.mark.parametrize(("policy", "message"), [
    # under "skip" the non-finite validation loss is reported and training would go on: the checkpoint refuses
    ("skip", "are non-finite after step 14; checkpoints/last.pt was not written"),
    # under "raise" the validation check stops the run first, naming the non-finite parameters
    ("raise", "Non-finite validation loss at epoch 2 .* Parameters already non-finite: "),
])
def test_a_checkpoint_never_stores_non_finite_parameters(tiny_spec, tmp_path, policy, message):
    t = trainer(tiny_spec, tmp_path, train=f'nonfinite = "{policy}"')
    poison = AtStep(t, 2 * t.steps_per_epoch, lambda tr: next(tr.model.parameters()).data.fill_(torch.nan))
    t.hooks.register(poison)
    with pytest.raises(NonFiniteError, match=message):
        t.fit()
    last = load_checkpoint(t.directory.last)
    assert last["epoch"] == 1 and all(v.isfinite().all() for v in last["model"].values() if v.is_floating_point())
    summary = json.loads(t.directory.summary.read_text())
    assert summary["status"] == "stopped: non-finite" and "non-finite" in summary["error"]


def test_a_failed_run_says_failed_with_the_error(tiny_spec, tmp_path):
    t = trainer(tiny_spec, tmp_path)
    t.hooks.register(AtStep(t, 3, lambda tr: (_ for _ in ()).throw(RuntimeError("a bug in a hook"))))
    with pytest.raises(RuntimeError):
        t.fit()
    summary = json.loads(t.directory.summary.read_text())
    assert summary["status"] == "failed" and summary["error"] == "RuntimeError: a bug in a hook"


def test_a_full_disk_ends_the_run_in_one_line_and_keeps_the_previous_checkpoint(tiny_spec, tmp_path, capsys,
                                                                                 monkeypatch):
    spec = tiny_spec(train="epochs = 2\ncheckpoint_every = 3")
    command = importlib.import_module("mrframe.cli.run")
    original = command.plugin_manager
    with contextlib.ExitStack() as disk:
        fill = AtStep(None, 4, lambda _: disk.enter_context(full_disk(free=10_000)))  # checkpoints are ~90 kB
        monkeypatch.setattr(command, "plugin_manager",
                            lambda builtin=(), named=(): original(builtin=[*builtin, fill], named=named))
        code, _, err = mrframe(capsys, "run", spec, "--out", tmp_path / "runs")
    line = one_error_line(err)
    assert code == EXIT_STORAGE and "last.pt: cannot write it (No space left on device)" in line, err
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"] == 3  # the previous one, intact
    assert not [p for p in run_dir.rglob(".*.tmp")]
    summary = json.loads((run_dir / "summary.json").read_text())  # small enough to fit
    assert summary["status"] == "failed" and "No space left on device" in summary["error"]


def test_two_identical_runs_write_byte_identical_checkpoints(tiny_spec, tmp_path):
    path = tiny_spec(train="epochs = 1")
    checkpoints = []
    for name in ("one", "two"):
        np.random.rand(), random.random(), torch.rand(1)  # whatever ran before must not matter
        spec = load_spec(path)
        t = Trainer(spec, prepare(spec), RunDirectory.create(tmp_path / name, spec.name))
        t.fit()
        checkpoints.append([(t.directory.checkpoints / f).read_bytes() for f in ("last.pt", "best.pt")])
    assert checkpoints[0] == checkpoints[1]
