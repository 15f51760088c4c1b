"""Fault injection over run directories: plants every fault of issue 16 and of issue 15's "Faults" section in
copies of one finished run, runs the command a user would type next, and counts runs lost and results
overwritten by a corrupted model.

A case is *clean* when the command ends with the expected exit status, without a traceback, and with one
``error:`` line when it fails (and does what the case expects where more is checked); a run is *lost* when
the command leaves the directory with fewer metric rows, a summary that no longer says the run ended, or no
readable checkpoint as far along as the newest readable one before it ran; a result is *overwritten* when an
``evaluation-*.json`` or predictions CSV written earlier changed although the model was corrupted or
non-finite. Every command runs in its own process, as a user runs it (``python -m mrframe ...``).

The full disk is a real one where the machine allows it: a 64 MiB tmpfs mounted in a private user and mount
namespace (``unshare -rm``), filled with ``dd`` once the run has written its first checkpoint; elsewhere the
disk is simulated by making every write of the run directory fail with ENOSPC
(:func:`mrframe.testing.faults.full_disk`). The output says which one ran.

    python benchmarks/faults.py [--spec examples/minimal.toml] [--epochs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable

import attrs
import numpy as np
import torch

from mrframe.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from mrframe.engine.guard import NonFiniteError
from mrframe.errors import EXIT_INTERNAL, EXIT_STORAGE
from mrframe.testing.faults import flip_bit, processes_mentioning, snapshot

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


@attrs.frozen
class Outcome:
    case: str
    expected: str
    clean: bool
    lost: bool = False
    overwritten: bool = False
    detail: str = ""


@attrs.frozen
class Context:
    """The finished reference run (with an earlier predictions CSV) and what the cases need to know."""

    spec: str
    epochs: int
    work: pathlib.Path
    reference: pathlib.Path
    anchor: str  # a test-split anchor day to predict from
    steps_per_epoch: int

    def copy(self, name: str) -> pathlib.Path:
        shutil.copytree(self.reference, self.work / name)
        return self.work / name


@attrs.frozen
class Result:
    code: int
    out: str
    err: str

    def clean(self, code: int) -> bool:
        """Exit status ``code``, no traceback, and one error line when it failed."""
        text = self.out + self.err
        errors = [line for line in text.splitlines() if "error: " in line]
        return self.code == code and "Traceback" not in text and (code == 0 or len(errors) == 1)

    def line(self) -> str:
        lines = (self.out + self.err).splitlines()
        shown = next((x[x.index("error: "):] for x in lines if "error: " in x), None)
        for start in ("warning:", "note:", "checkpoint:"):
            shown = shown or next((x for x in lines if x.startswith(start)), None)
        shown = shown or ""
        return f"exit {self.code}: {shown[:150]}"


def mrframe(*args: object, timeout: float = 900) -> Result:
    done = subprocess.run([sys.executable, "-m", "mrframe", *map(str, args)], env=ENV, capture_output=True,
                          text=True, timeout=timeout)
    return Result(done.returncode, done.stdout, done.stderr)


# ------------------------------------------------------------------------------------------- the record


def record(run: pathlib.Path) -> tuple[int, str | None, tuple[int, int, int] | None]:
    """Metric rows, summary status and the position of the newest readable checkpoint."""
    rows = len((run / "metrics.csv").read_text().splitlines()) - 1 if (run / "metrics.csv").is_file() else 0
    try:
        status = json.loads((run / "summary.json").read_text())["status"]
    except (OSError, ValueError, KeyError):
        status = None
    positions = []
    for file in (run / "checkpoints").glob("*.pt"):
        try:
            state = load_checkpoint(file)
        except CheckpointError:
            continue
        positions.append((state["epoch"], state["batch"], state["step"]))
    return rows, status, max(positions) if positions else None


def was_lost(before: tuple, after: tuple) -> bool:
    (rows, status, newest), (rows2, status2, newest2) = before, after
    ended = ("finished", "stopped early")
    return rows2 < rows or (status in ended and status2 not in ended) or (newest is not None and (
        newest2 is None or newest2 < newest))


def results(run: pathlib.Path) -> dict[str, bytes | None]:
    return {k: v for k, v in snapshot(run).items() if k.startswith(("evaluation-", "predictions"))}


# -------------------------------------------------------------------------------------------- the cases


Case = Callable[[Context], Outcome]


def resume_case(name: str, expected: str, code: int, plant: Callable[[pathlib.Path], None], *extra: str,
                same: tuple[str, ...] = ()) -> Case:
    """Plant a fault, then resume; ``same``: files that must end as in the reference run."""

    def case(ctx: Context) -> Outcome:
        run = ctx.copy(name)
        plant(run)
        before = record(run)
        result = mrframe("run", "--resume", run, *extra)
        equal = all((run / f).read_bytes() == (ctx.reference / f).read_bytes() for f in same)
        return Outcome(name, expected, result.clean(code) and equal, was_lost(before, record(run)), False,
                       result.line())

    return case


def model_case(name: str, expected: str, code: int, plant: Callable[[pathlib.Path], None], command: str) -> Case:
    """Plant a fault in the model, then evaluate (over evaluation-test.json) or predict (over the earlier CSV)."""

    def case(ctx: Context) -> Outcome:
        run = ctx.copy(name)
        plant(run)
        before, earlier = record(run), results(run)
        args = (["evaluate", run] if command == "evaluate"
                else ["predict", run, "--at", ctx.anchor, "--out", run / "predictions-earlier.csv"])
        result = mrframe(*args)
        overwritten = any(results(run).get(k) != v for k, v in earlier.items())
        return Outcome(name, expected, result.clean(code), was_lost(before, record(run)), overwritten, result.line())

    return case


def edit_checkpoint(edit: Callable[[dict], None], file: str = "best.pt") -> Callable[[pathlib.Path], None]:
    """Change a checkpoint and write it with a valid checksum (a consistent but wrong file)."""

    def plant(run: pathlib.Path) -> None:
        path = run / "checkpoints" / file
        state = load_checkpoint(path)
        edit(state)
        save_checkpoint(path, state)

    return plant


def _head_weight(state: dict) -> str:
    return next(k for k in state["model"] if k.startswith("heads.") and k.endswith("weight"))


def set_head(value: float) -> Callable[[dict], None]:
    def edit(state: dict) -> None:
        name = _head_weight(state)
        state["model"][name] = torch.full_like(state["model"][name], value)

    return edit


def misshapen(state: dict) -> None:
    name = next(k for k, v in state["model"].items() if v.dim() == 2)
    state["model"][name] = torch.zeros(3, 5)


def unsafe(run: pathlib.Path) -> None:
    class Payload:
        def __reduce__(self):  # noqa: ANN204
            return (os.system, ("echo unsafe code ran",))

    torch.save({"format": 3, "model": Payload()}, run / "checkpoints" / "best.pt")


def replace_with_folder(run: pathlib.Path) -> None:
    (run / "checkpoints" / "last.pt").unlink()
    (run / "checkpoints" / "last.pt").mkdir()


def interrupted_with_corrupted_last(run: pathlib.Path) -> None:
    """Killed after its last checkpoint (no summary), whose last.pt then lost a bit."""
    (run / "summary.json").unlink()
    checkpoints = run / "checkpoints"
    if load_checkpoint(checkpoints / "best.pt")["step"] == load_checkpoint(checkpoints / "last.pt")["step"]:
        (checkpoints / "best.pt").unlink()  # as new as last.pt: the fallback would be it, not last.prev.pt
    flip_bit(checkpoints / "last.pt")


def corrupt_all(run: pathlib.Path) -> None:
    for file in (run / "checkpoints").glob("*.pt"):
        flip_bit(file)


def edit_spec(old: str, new: str) -> Callable[[pathlib.Path], None]:
    def plant(run: pathlib.Path) -> None:
        spec = run / "spec.toml"
        spec.write_text(spec.read_text().replace(old, new, 1))

    return plant


def incomplete(state: dict) -> None:
    del state["epoch"], state["preprocessing"]


def predict_without_best(ctx: Context) -> Outcome:
    run = ctx.copy("predict, best.pt missing")
    (run / "checkpoints" / "best.pt").unlink()
    result = mrframe("predict", run, "--at", ctx.anchor)
    says = "using checkpoints/last.pt instead" in result.out
    return Outcome("predict, best.pt missing", "uses last.pt and says so", result.clean(0) and says, False, False,
                   result.line())


def two_identical_runs(ctx: Context) -> Outcome:
    files = []
    for name in ("one", "two"):
        out = ctx.work / f"identical-{name}"
        assert mrframe("run", ctx.spec, "--out", out, "--set", "train.epochs=1").code == 0
        (run,) = out.iterdir()
        files.append([(run / "checkpoints" / f).read_bytes() for f in ("last.pt", "best.pt")])
    same = files[0] == files[1]
    return Outcome("two identical runs", "byte-identical checkpoints", same, False, False,
                   "last.pt and best.pt byte-identical" if same else "checkpoints differ")


FAULTY = textwrap.dedent("""
    import importlib, sys
    command = importlib.import_module("mrframe.cli.run")
    step, fault = int(sys.argv[1]), sys.argv[2]

    class Faulty(command.Trainer):
        def train_step(self, *args, **kwargs):
            outcome = super().train_step(*args, **kwargs)
            if self.step == step and outcome.applied:
                if fault == "nan-parameters":
                    next(self.model.parameters()).data.fill_(float("nan"))
                elif fault == "bug":
                    raise RuntimeError("a bug in a hook")
                else:
                    from mrframe.testing.faults import full_disk
                    full_disk(0).__enter__()
            return outcome

    command.Trainer = Faulty
    from mrframe.cli import main
    main(sys.argv[3:])
""")


def faulty_run(name: str, expected: str, fault: str, code: int, status: str | None) -> Case:
    """A fresh run with ``fault`` planted after the last step of epoch 2: the run must stop with exit status
    ``code`` (1 with a traceback for a bug, one line otherwise), keep the checkpoint of epoch 1 and
    (``status``) say why in summary.json."""

    def case(ctx: Context) -> Outcome:
        out = ctx.work / name
        done = subprocess.run([sys.executable, "-c", FAULTY, str(2 * ctx.steps_per_epoch), fault, "run", ctx.spec,
                               "--out", out, "--set", f"train.epochs={ctx.epochs + 1}"], env=ENV, capture_output=True,
                              text=True, timeout=900)
        result = Result(done.returncode, done.stdout, done.stderr)
        (run,) = out.iterdir()
        _, _, newest = record(run)
        summary = json.loads((run / "summary.json").read_text()) if (run / "summary.json").is_file() else {}
        said = status is None or (summary.get("status") == status and "error" in summary)
        stopped = result.code == EXIT_INTERNAL and "RuntimeError: a bug" in result.err if fault == "bug" else result.clean(code)
        return Outcome(name, expected, stopped and said, newest is None or newest[0] != 1, False,
                       result.line() if fault != "bug" else f"exit {result.code}; summary: {summary.get('error')}")

    return case


def full_disk_tmpfs(ctx: Context) -> Outcome | None:
    """A real full disk: a tmpfs in a private namespace, filled once the first checkpoint exists (None where
    no tmpfs can be mounted)."""
    if shutil.which("unshare") is None:
        return None
    spec, epochs, work = ctx.spec, ctx.epochs, ctx.work
    script = textwrap.dedent(f"""
        set -u
        mount -t tmpfs -o size=64m tmpfs {work}/mnt || exit 97
        {sys.executable} -m mrframe run {spec} --out {work}/mnt/runs --set train.epochs={epochs + 3} \\
            > {work}/disk.out 2> {work}/disk.err &
        pid=$!
        until ls {work}/mnt/runs/*/checkpoints/last.pt > /dev/null 2>&1; do
            kill -0 $pid 2> /dev/null || break; sleep 0.2
        done
        dd if=/dev/zero of={work}/mnt/filler bs=64k > /dev/null 2>&1
        wait $pid; echo $? > {work}/disk.code
        cp -r {work}/mnt/runs {work}/disk-runs
    """)
    (work / "mnt").mkdir()
    done = subprocess.run(["unshare", "-rm", "sh", "-c", script], env=ENV, capture_output=True, text=True,
                          timeout=900)
    if done.returncode == 97 or not (work / "disk.code").is_file():
        return None
    result = Result(int((work / "disk.code").read_text()), (work / "disk.out").read_text(),
                    (work / "disk.err").read_text())
    (run,) = (work / "disk-runs").iterdir()
    _, _, newest = record(run)
    expected = f"one line, exit {EXIT_STORAGE}, previous checkpoint intact"
    ok = result.clean(EXIT_STORAGE) and "No space left on device" in result.err
    return Outcome("full disk (tmpfs, real ENOSPC)", expected, ok, newest is None, False, result.line())


def kill_the_launcher(ctx: Context) -> Outcome:
    out = ctx.work / "launcher"
    launcher = subprocess.Popen([sys.executable, "-m", "mrframe", "run", ctx.spec, "--nproc", "2", "--out", str(out),
                                 "--set", "train.epochs=1000"], env=ENV, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not list(out.glob("*/metrics.jsonl")) and launcher.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # a few steps into training
    launcher.kill()
    launcher.wait()
    while processes_mentioning(str(out)) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = processes_mentioning(str(out))
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    (run,) = out.iterdir()
    _, status, newest = record(run)
    return Outcome("SIGKILL the launcher of 2 processes", "workers stop, save, status interrupted",
                   not left and status == "interrupted", newest is None, False,
                   f"{len(left)} processes left; status {status}; last state {newest}")


RESUME_CASES = [
    resume_case("resume, finished, last.pt missing", "falls back, nothing to do, nothing written", 0,
                lambda run: (run / "checkpoints" / "last.pt").unlink()),
    resume_case("resume, finished, last.pt is a folder", "falls back, nothing to do, nothing written", 0,
                replace_with_folder),
    resume_case("resume, finished, last.pt bit flip", "falls back, nothing to do, nothing written", 0,
                lambda run: flip_bit(run / "checkpoints" / "last.pt")),
    resume_case("resume, killed, last.pt bit flip", "resumes from last.prev.pt to the same result", 0,
                interrupted_with_corrupted_last, same=("metrics.csv", "evaluation-test.json")),
    resume_case("resume, every checkpoint corrupted", "refuses in one line, nothing written", 2, corrupt_all),
    resume_case("resume, spec edited (lr)", "refuses naming train.lr", 2, edit_spec("lr = ", "lr = 0.1 # was ")),
    resume_case("resume, spec edited (epochs)", "refuses: pass --allow-changes", 2,
                edit_spec("epochs = ", "epochs = 9 # ")),
    resume_case("resume, spec edited (epochs), allowed", "continues to the new epoch count", 0,
                edit_spec("epochs = ", "epochs = 3 # "), "--allow-changes"),
]

MODEL_CASES = [
    model_case("evaluate, best.pt bit flip", "refuses, earlier result kept", 2,
               lambda run: flip_bit(run / "checkpoints" / "best.pt"), "evaluate"),
    model_case("predict, best.pt bit flip", "refuses, earlier result kept", 2,
               lambda run: flip_bit(run / "checkpoints" / "best.pt"), "predict"),
    model_case("evaluate, NaN parameters", "refuses naming them", 2, edit_checkpoint(set_head(float("nan"))),
               "evaluate"),
    model_case("predict, NaN parameters", "refuses naming them", 2, edit_checkpoint(set_head(float("nan"))),
               "predict"),
    model_case("evaluate, overflowing model", "writes beside the earlier result", 0,
               edit_checkpoint(set_head(3e38)), "evaluate"),
    model_case("predict, overflowing model", "writes beside the earlier result", 0,
               edit_checkpoint(set_head(3e38)), "predict"),
    model_case("evaluate, keys missing", "one line naming file and keys", 2, edit_checkpoint(incomplete),
               "evaluate"),
    model_case("evaluate, shape mismatch", "one line naming file and tensor", 2, edit_checkpoint(misshapen),
               "evaluate"),
    model_case("evaluate, unsafe pickle", "refused in our words", 2, unsafe, "evaluate"),
]


FRESH_RUN_CASES = [
    faulty_run("NaN parameters at a checkpoint", "not saved, previous kept, status says so", "nan-parameters",
               NonFiniteError.exit_status, "stopped: non-finite"),
    faulty_run("a bug in a hook", "traceback (a bug); summary says failed", "bug", EXIT_INTERNAL, "failed"),
    two_identical_runs,
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "examples" / "minimal.toml"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--keep", type=pathlib.Path, default=None, help="leave the run directories here")
    parser.add_argument("--skip-launcher", action="store_true", help="skip the 2-process case")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="mrframe-faults-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    assert mrframe("run", args.spec, "--out", work / "reference", "--set", f"train.epochs={args.epochs}").code == 0
    (reference,) = (work / "reference").iterdir()
    from mrframe.engine.session import load_run

    data = load_run(reference).data
    anchor = str(np.datetime64(int(data.datasets["test"].anchors[0]) + data.timeline.day0, "D"))
    assert mrframe("predict", reference, "--at", anchor, "--out", reference / "predictions-earlier.csv").code == 0
    state = load_checkpoint(reference / "checkpoints" / "last.pt")
    ctx = Context(args.spec, args.epochs, work, reference, anchor, state["step"] // state["epoch"])
    print(f"reference: {reference} ({args.epochs} epochs of {ctx.steps_per_epoch} steps)", flush=True)

    outcomes: list[Outcome] = []
    disk = full_disk_tmpfs(ctx)
    disk_kind = "a 64 MiB tmpfs (unshare -rm) filled with dd once the first checkpoint exists: real ENOSPC"
    if disk is None:
        disk_kind = "simulated: every write of the run directory fails with ENOSPC (mrframe.testing.faults)"
        disk = faulty_run("full disk (simulated ENOSPC)", "one line, previous checkpoint intact", "disk", EXIT_STORAGE,
                          None)(ctx)
    cases: list[Case] = [*RESUME_CASES, *MODEL_CASES, predict_without_best, *FRESH_RUN_CASES]
    cases += [] if args.skip_launcher else [kill_the_launcher]
    outcomes.append(disk)
    print(f"  {disk.case}: {disk.detail}", flush=True)
    for case in cases:
        outcomes.append(case(ctx))
        print(f"  {outcomes[-1].case}: {outcomes[-1].detail}", flush=True)

    width = max(len(o.case) for o in outcomes)
    print(f"\n{'case'.ljust(width)}  clean  lost  overwritten  expected")
    for o in outcomes:
        print(f"{o.case.ljust(width)}  {'yes' if o.clean else 'NO ':5}  {'YES' if o.lost else 'no ':4}  "
              f"{'YES' if o.overwritten else 'no ':11}  {o.expected}")
    print(f"\nfull disk: {disk_kind}")
    print(f"cases: {len(outcomes)}; handled cleanly: {sum(o.clean for o in outcomes)}")
    print(f"runs lost: {sum(o.lost for o in outcomes)}")
    print(f"results overwritten by a corrupted model: {sum(o.overwritten for o in outcomes)} "
          f"(of {len(MODEL_CASES)} cases that evaluate or predict over an earlier result)")
    print(f"({time.perf_counter() - started:.0f} s; run directories in {work})")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
