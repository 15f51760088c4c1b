"""Wall time of ``mrframe backtest`` with ``--jobs 2`` against ``--jobs 1``, side by side in one run.

Runs the same backtest (default: examples/minimal.toml, 5 folds) into fresh temporary directories, alternating
``--jobs 1`` and ``--jobs 2`` for ``--rounds`` rounds so that machine noise hits both alike, and prints each wall
time, the medians and the ratio jobs-2 / jobs-1 (target <= 0.62 on 2 cores: one thread per fold process, so the
two folds do not fight over the cores). The jobs-1 time is also the "whole backtest on a fresh clone" figure
(target <= 5 minutes on 2 cores).

    python benchmarks/backtest_jobs.py [--spec examples/minimal.toml] [--folds 5] [--rounds 1] [--set KEY=VALUE]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def backtest(spec: str, folds: int, jobs: int, overrides: list[str], out: pathlib.Path) -> float:
    command = [sys.executable, "-m", "mrframe", "backtest", spec, "--folds", str(folds), "--jobs", str(jobs),
               "--out", str(out)] + [a for o in overrides for a in ("--set", o)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"backtest --jobs {jobs} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="examples/minimal.toml")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"mrframe backtest {args.spec} --folds {args.folds} on {cores} cores, {args.rounds} round(s)")
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="mrframe-backtest-") as tmp:
        for round_ in range(args.rounds):
            for jobs in ((1, 2) if round_ % 2 == 0 else (2, 1)):
                seconds = backtest(args.spec, args.folds, jobs, args.overrides,
                                   pathlib.Path(tmp) / f"round{round_}-jobs{jobs}")
                times[jobs].append(seconds)
                print(f"  round {round_ + 1}: --jobs {jobs}: {seconds:7.1f} s")
    one, two = statistics.median(times[1]), statistics.median(times[2])
    print(f"median --jobs 1: {one:.1f} s   --jobs 2: {two:.1f} s   ratio jobs-2 / jobs-1: {two / one:.3f} "
          f"(target <= 0.62)")


if __name__ == "__main__":
    main()
