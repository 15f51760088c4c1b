"""Mutated specs against ``mrframe validate`` and ``mrframe run`` (up to the first optimizer step).

Derives ``--count`` mutants from each example spec (:mod:`mrframe.testing.spec_fuzz`: one random edit each),
judges each in a worker process with a time limit (a mutant that runs past it is a hang; the worker is then
replaced) and prints the figures the reliability issue asks for: mutations, handled well, tracebacks in
validate, accepted-then-crashed, accepted-then-refused, hangs, with one line per bad case.

The example specs are shrunk first (one epoch, short windows, narrow layers) so that reaching the first step is
quick; the mutations are applied to the shrunk documents.

    python benchmarks/spec_fuzz.py [--count 150] [--seed 0] [--timeout 120] [--spec examples/minimal.toml ...]

Without ``--spec`` it mutates every example spec (examples/*.toml and the plugin template's example.toml).
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing as mp
import os
import pathlib
import queue
import tempfile
import time
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHRINK: dict[str, dict[str, Any]] = {
    "minimal": {"train": {"epochs": 1, "batch_size": 8}},
    "osint-han": {"data": {"daily_window": 56, "stride": 14, "monthly_window": 4}, "model": {"d_model": 16},
                  "train": {"epochs": 1, "batch_size": 4}},
    "covariance": {"train": {"epochs": 1, "batch_size": 8}},
    "example": {"train": {"epochs": 1, "batch_size": 8}},
}
SPECS = (*sorted((ROOT / "examples").glob("*.toml")), ROOT / "plugins/mrframe-example/example/example.toml")
"""Every example spec of the project, the plugin template's included."""


def shrunk(path: pathlib.Path) -> dict[str, Any]:
    from mrframe.testing.spec_fuzz import load_document

    document = load_document(path)
    for section, values in SHRINK.get(path.stem, {}).items():
        document.setdefault(section, {}).update(values)
    for table in document.get("encoders", {}).values():
        if "layers" in table:
            table["layers"] = 1
    for block in document.get("fusion", []):
        if "layers" in block:
            block["layers"] = 1
    return document


def worker(judge: Callable[[Any, pathlib.Path], Any], jobs: Any, results: Any) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    while True:
        item = jobs.get()
        if item is None:
            return
        index, case, folder = item
        results.put((index, judge(case, pathlib.Path(folder))))


def judge_all(cases: list[Any], judge: Callable[[Any, pathlib.Path], Any], timeout: float,
              broken: Callable[[Any, str], Any]) -> dict[int, Any]:
    """``judge(case, folder)`` for every case in a worker process; a case past ``timeout`` seconds is
    ``broken(case, "hang")`` (or ``"aborted"`` when the worker died), and the worker is replaced."""
    context = mp.get_context("spawn")
    verdicts: dict[int, Any] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        index = 0
        while index < len(cases):
            jobs, results = context.Queue(), context.Queue()
            process = context.Process(target=worker, args=(judge, jobs, results), daemon=True)
            process.start()
            while index < len(cases):
                jobs.put((index, cases[index], f"{tmp}/{index}"))
                try:
                    done, verdict = results.get(timeout=timeout + (60 if index == 0 else 0))
                    verdicts[done] = verdict
                    index += 1
                    if index % 25 == 0:
                        print(f"  {index}/{len(cases)} judged ({time.perf_counter() - started:.0f}s)", flush=True)
                except queue.Empty:
                    verdicts[index] = broken(cases[index], "hang" if process.is_alive() else "aborted")
                    index += 1
                    process.kill()
                    break
            else:
                jobs.put(None)
                process.join(timeout=10)
    return verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", action="append", type=pathlib.Path, default=None)
    parser.add_argument("--count", type=int, default=150, help="mutants per spec")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per mutant before it counts as a hang")
    args = parser.parse_args()
    from mrframe.testing.spec_fuzz import Verdict, judge, mutants

    specs = args.spec or list(SPECS)
    work = [m for i, spec in enumerate(specs) for m in mutants(shrunk(spec), args.count, seed=args.seed + i)]
    started = time.perf_counter()
    verdicts = judge_all(work, judge, args.timeout, lambda mutant, outcome: Verdict(mutant.label, outcome))
    counts = collections.Counter(v.outcome for v in verdicts.values())
    good = sum(counts[o] for o in ("rejected", "reached"))
    print(f"\n{len(work)} mutations of {len(specs)} specs in {time.perf_counter() - started:.0f}s: {good} handled well "
          f"({counts['rejected']} rejected by validate, {counts['reached']} reached the first step); "
          f"{counts['validate-traceback']} tracebacks in validate, {counts['accepted-then-crashed']} accepted then "
          f"crashed, {counts['accepted-then-refused']} accepted then refused cleanly, {counts['hang']} hangs, "
          f"{counts['aborted']} aborted")
    for i in sorted(verdicts):
        verdict = verdicts[i]
        if not verdict.good:
            print(f"  [{verdict.outcome}] {verdict.label}: {verdict.detail}")


if __name__ == "__main__":
    main()
