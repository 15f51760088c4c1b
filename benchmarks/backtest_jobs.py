"""Wall time of ``mrframe backtest`` with ``--jobs 2`` against ``--jobs 1``, side by side in one run.

Runs the same backtest (default: examples/minimal.toml, 5 folds) into fresh temporary directories, alternating
the variants for ``--rounds`` rounds so that machine noise hits them alike, and prints each wall time, the medians
and the ratios (target: jobs-2 / jobs-1 <= 0.62 on 2 cores). Variants:

* ``jobs 1, 1 thread``: folds one after the other, each on one thread (``OMP_NUM_THREADS=1``): what a small model
  runs fastest on, so the ratio against it is the honest one;
* ``jobs 2``: two folds at once, one thread each (the cores split between them);
* ``jobs 1, all cores`` (``--all-cores``): one fold at a time with every core's thread, the default of
  ``--jobs 1`` without ``OMP_NUM_THREADS``.

The jobs-1 time is also the "whole backtest on a fresh clone" figure (target <= 5 minutes on 2 cores).

Each line also gives the CPU time of the launcher and its fold processes and the cores they kept busy on average
(CPU / wall). ``jobs 2`` can only beat 0.62 when it gets close to two cores: on a shared machine whose other
work takes a core, it shows ~1 core busy and a ratio near 1, which measures the machine, not mrframe.

    python benchmarks/backtest_jobs.py [--spec examples/minimal.toml] [--folds 5] [--rounds 1] [--all-cores]
                                       [--set KEY=VALUE]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _children_cpu() -> float:
    """CPU seconds (user + system) of the child processes waited for so far, their descendants included."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def backtest(spec: str, folds: int, jobs: int, threads: int | None, overrides: list[str],
             out: pathlib.Path) -> tuple[float, float]:
    """Wall time and CPU time (the launcher and its fold processes) of one backtest."""
    command = [sys.executable, "-m", "mrframe", "backtest", spec, "--folds", str(folds), "--jobs", str(jobs),
               "--out", str(out)] + [a for o in overrides for a in ("--set", o)]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    cpu, started = _children_cpu(), time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    seconds, cpu = time.perf_counter() - started, _children_cpu() - cpu
    if result.returncode != 0:
        sys.exit(f"backtest --jobs {jobs} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default="examples/minimal.toml")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--all-cores", action="store_true", help="also time --jobs 1 with every core's thread")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"mrframe backtest {args.spec} --folds {args.folds} on {cores} cores, {args.rounds} round(s); "
          f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    variants = {"jobs 1, 1 thread": (1, 1), "jobs 2": (2, None)}
    if args.all_cores:
        variants["jobs 1, all cores"] = (1, None)
    times: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="mrframe-backtest-") as tmp:
        for round_ in range(args.rounds):
            order = list(variants) if round_ % 2 == 0 else list(reversed(variants))
            for name in order:
                jobs, threads = variants[name]
                out = pathlib.Path(tmp) / f"round{round_}-{name.replace(' ', '').replace(',', '-')}"
                seconds, cpu = backtest(args.spec, args.folds, jobs, threads, args.overrides, out)
                times[name].append(seconds)
                print(f"  round {round_ + 1}: {name:<18} {seconds:7.1f} s   cpu {cpu:7.1f} s = {cpu / seconds:.2f} "
                      f"cores busy   (load average {os.getloadavg()[0]:.1f})", flush=True)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print("median: " + "   ".join(f"{name}: {m:.1f} s" for name, m in medians.items()))
    for name in [n for n in medians if n.startswith("jobs 1")]:
        print(f"ratio jobs 2 / {name}: {medians['jobs 2'] / medians[name]:.3f} (target <= 0.62)")


if __name__ == "__main__":
    main()
