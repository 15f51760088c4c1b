"""Tests in child processes: SIGKILL at a random step + `--resume`, 2-process DDP (gloo on CPU), and killing the
launcher of a 2-process run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from click.testing import CliRunner

from mrframe.cli import cli
from mrframe.testing.faults import processes_mentioning

KILLER = textwrap.dedent("""
    import importlib, os, signal, sys, threading
    from mrframe.hooks import hookimpl

    command = importlib.import_module("mrframe.cli.run")

    step, delay = int(sys.argv[1]), float(sys.argv[2])

    class Killer:
        @hookimpl
        def mrframe_step_end(self, run, record):
            if record.step == step:  # SIGKILL a moment later: inside a later step or a checkpoint write
                threading.Timer(delay, os.kill, (os.getpid(), signal.SIGKILL)).start()

    original = command.plugin_manager
    command.plugin_manager = lambda builtin=(), named=(): original(builtin=[*builtin, Killer()], named=named)
    from mrframe.cli import main
    main(sys.argv[3:])
""")
MRFRAME = [sys.executable, "-c", "from mrframe.cli import main; main()"]


def env():  # noqa: ANN201
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_in_process(spec, out, *args):  # noqa: ANN001, ANN002, ANN201
    result = CliRunner().invoke(cli, ["run", str(spec), "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    (run_dir,) = out.iterdir()
    return run_dir, json.loads((run_dir / "summary.json").read_text())


def test_sigkill_at_a_random_step_then_resume_reaches_the_uninterrupted_result(tiny_spec, tmp_path):
    spec = tiny_spec(train="epochs = 3\ncheckpoint_every = 1")
    reference_dir, reference = run_in_process(spec, tmp_path / "reference")
    rng = random.Random()
    step, delay = rng.randint(1, reference["steps"] - 4), rng.uniform(0.0, 0.05)
    killed = subprocess.run([sys.executable, "-c", KILLER, str(step), str(delay), "run", str(spec), "--out",
                             str(tmp_path / "killed")], env=env(), capture_output=True, text=True, timeout=240)
    assert killed.returncode == -signal.SIGKILL, (step, delay, killed.stderr[-2000:])
    (run_dir,) = (tmp_path / "killed").iterdir()
    assert not (run_dir / "summary.json").exists()
    resumed = subprocess.run([*MRFRAME, "run", "--resume", str(run_dir)], env=env(), capture_output=True,
                             text=True, timeout=240)
    assert resumed.returncode == 0, (step, delay, resumed.stderr[-2000:])
    assert "resuming" in resumed.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    context = f"killed after step {step} + {delay:.3f}s"
    assert summary["steps"] == reference["steps"], context
    assert summary["final"] == reference["final"], context
    assert summary["evaluation"] == reference["evaluation"], context
    assert (run_dir / "metrics.jsonl").read_text() == (reference_dir / "metrics.jsonl").read_text(), context


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tiny_spec, tmp_path):
    """Tolerance: relative 1e-4 on every final metric (float sums are reduced in a different order; fp32 whatever
    MRFRAME_PRECISION says, bf16 would round them differently beyond that)."""
    spec = tiny_spec(missing=0.0, train="epochs = 2\nbatch_size = 8\nprecision = 'fp32'")
    even = ["--set", "data.split.train_from=2022-01-16"]
    single_dir, single = run_in_process(spec, tmp_path / "single", "--set", "train.batch_size=16", *even)
    assert single["samples"]["train"] % 2 == 0  # no sample is repeated to even out the two processes' shares
    ddp = subprocess.run([*MRFRAME, "run", str(spec), "--nproc", "2", "--out", str(tmp_path / "ddp"), *even],
                         env=env(), capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    (ddp_dir,) = (tmp_path / "ddp").iterdir()
    summary = json.loads((ddp_dir / "summary.json").read_text())
    assert summary["processes"] == 2 and summary["steps"] == single["steps"]
    assert ddp.stdout.count("mrframe run: tiny (") == 1  # rank 0 alone prints and writes
    for key, value in single["final"].items():
        if value is None:
            assert summary["final"][key] is None, key
        else:
            assert summary["final"][key] == pytest.approx(value, rel=1e-4, abs=1e-6), key


def test_a_worker_s_error_is_one_line_with_its_exit_status(tiny_spec, tmp_path):
    """The data fail in the workers (no training sample), not in the launcher: the launcher prints the workers'
    one line once, exits 2 as a single process would, and leaves no run directory behind."""
    spec = tiny_spec(train="epochs = 1")
    failed = subprocess.run([*MRFRAME, "run", str(spec), "--nproc", "2", "--out", str(tmp_path / "runs"),
                             "--set", "data.split.train_from=2022-04-29"], env=env(), capture_output=True, text=True,
                            timeout=300)
    assert failed.returncode == 2, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr and "ChildFailedError" not in failed.stderr, failed.stderr[-3000:]
    (line,) = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert line.startswith("error: no training sample: ")
    assert not any((tmp_path / "runs").iterdir())


def test_the_unused_parameter_probe():
    from torch import nn

    from mrframe.engine.distributed import unused_parameters

    used, unused = nn.Linear(2, 1), nn.Linear(2, 1)
    x = torch.ones(3, 2)
    assert not unused_parameters(list(used.parameters()), lambda: used(x).sum().backward())
    both = list(used.parameters()) + list(unused.parameters())
    assert unused_parameters(both, lambda: used(x).sum().backward())
    assert all(p.grad is None for p in both)  # the probe leaves no gradient behind


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signals and /proc are Linux's")
def test_killing_the_launcher_stops_its_workers(tiny_spec, tmp_path):
    """SIGKILL as soon as both workers exist (``benchmarks/faults.py`` kills during training and checks that
    the workers save their state first)."""
    spec = tiny_spec(train="epochs = 1000")
    out = tmp_path / "runs"
    launcher = subprocess.Popen([*MRFRAME, "run", str(spec), "--nproc", "2", "--out", str(out)], env=env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    try:
        while len(processes_mentioning(str(out))) < 4:  # the launcher, torchrun and two workers
            assert launcher.poll() is None and time.monotonic() < deadline, "the workers never started"
            time.sleep(0.1)
        launcher.kill()  # SIGKILL: the launcher cannot pass anything on itself
        launcher.wait()
        while processes_mentioning(str(out)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not processes_mentioning(str(out))
    finally:
        for pid in processes_mentioning(str(out)):
            os.kill(pid, signal.SIGKILL)
