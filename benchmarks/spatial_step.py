"""Training-step time and peak memory of a spatial model beside the national HAN, and dataset memory per sample.

The national model is the reference HAN of ``benchmarks/han_step.py`` (batch 8, 365 days, 5 daily + 5 monthly
sources, d_model 64). The spatial model is that same HAN plus one spatial source of ``R`` regions with 8
features per region (20% missing, counts), encoded by ``geographic`` (default settings: 7-day patches, width
32, 2 decay-mixing layers, 16 nearest regions), and a ``spatial-forecast`` head for its next week per region.
A step is ``Trainer.train_step`` (forward, losses, backward, clipping, AdamW) on 2 CPU threads (``--threads``;
on a busy machine 1 thread gives steadier ratios). The models' steps are timed interleaved in one process (one
step of each in turn, so a change in the machine's load hits every model alike); each model's peak RSS is
measured in a process of its own. Printed per model: median and best step time, peak RSS, parameters; the ratios to the
targets: the step at R = 263 within 3x the national step, growth from R = 100 to 263 no faster than linear,
peak under 2 GB. Then the memory of the spatial model's training dataset over the same data with 10 and with
1,000 samples (its window views and anchors, and what building it allocated): the ratio must stay within 1.05.

    python benchmarks/spatial_step.py                      # R = 50, 100, 263; 10 timed steps each
    python benchmarks/spatial_step.py --regions 263 --steps 20
    python benchmarks/spatial_step.py --threads 1             # every model on one thread (a busy machine)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from han_step import THREADS, spec_document  # noqa: E402  (the national reference configuration)

REGIONS = (50, 100, 263)
FEATURES = 8
TARGET_RATIO = 3.0
TARGET_BYTES = 2 << 30
TARGET_MEMORY_RATIO = 1.05


def spatial_document(regions: int) -> dict:
    """The reference HAN plus a spatial source of ``regions`` regions, its geographic encoder and head."""
    document = spec_document("transformer")
    document["run"]["name"] = f"spatial-step-{regions}"
    document["sources"]["cells"] = {"plugin": "synthetic", "regions": regions, "features": FEATURES,
                                    "start": "2022-01-01", "periods": 1100, "missing": 0.2, "counts": True,
                                    "seed": 21}
    document["encoders"]["cells"] = {"plugin": "geographic"}
    document["heads"]["cells_week"] = {"plugin": "spatial-forecast",
                                       "target": {"source": "cells", "horizon": 7, "features": ["x0", "x1"]},
                                       "loss": {"plugin": "masked-mse"}}
    return document


def _trainer(model: str):  # noqa: ANN202 - (Trainer, batches)
    """The trainer of ``national`` or ``spatial:R`` and four training batches of late anchors (~20% missing)."""
    import numpy as np

    from mrframe.data.pipeline import prepare
    from mrframe.engine.trainer import Trainer
    from mrframe.spec import build_spec

    document = spec_document("transformer") if model == "national" else spatial_document(int(model.split(":")[1]))
    spec = build_spec(document)
    data = prepare(spec)
    trainer = Trainer(spec, data)
    trainer.model.train()
    dataset = data.datasets["train"]
    late = np.arange(len(dataset))[-400:]  # anchors whose windows lie inside the data
    rng = np.random.default_rng(0)
    return trainer, [dataset.batch(rng.choice(late, 8, replace=False)) for _ in range(4)]


def step_worker(models: list[str], steps: int, warmup: int, threads: int) -> dict:
    """Time ``steps`` training steps of every model in this process, interleaved (one step of each in turn, so
    every model meets the same machine load); with one model, also its peak RSS."""
    import torch

    torch.set_num_threads(threads)
    runs = {model: _trainer(model) for model in models}
    walls: dict[str, list[float]] = {model: [] for model in models}
    cpus: dict[str, list[float]] = {model: [] for model in models}
    for i in range(warmup + steps):
        for model, (trainer, batches) in runs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            trainer.train_step(batches[i % len(batches)])
            if i >= warmup:
                walls[model].append(time.perf_counter() - wall)
                cpus[model].append(time.process_time() - cpu)
    out = {}
    for model, (trainer, _) in runs.items():
        counts = trainer.model.parameter_counts()
        out[model] = {
            "median_s": statistics.median(walls[model]),
            "best_s": min(walls[model]),
            "cpu_per_wall": sum(cpus[model]) / sum(walls[model]),
            "parameters": counts["total"],
            "encoder_parameters": counts.get("encoders.cells", 0),
        }
    if len(models) == 1:
        out[models[0]]["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def memory_worker(regions: int) -> dict:
    """The spatial model's training dataset over the same data with 10 and with 1,000 samples: its own memory
    (window views and anchors) and what building it allocated (tracemalloc), beside materialised windows."""
    import tracemalloc

    from mrframe.data.dataset import WindowDataset
    from mrframe.data.pipeline import prepare
    from mrframe.spec import build_spec

    document = spatial_document(regions)
    document["heads"] = {"cells_week": document["heads"]["cells_week"]}  # horizon 7: about 1,060 training anchors
    document["data"]["split"] = {"val_from": "2024-12-01"}
    spec = build_spec(document)
    data = prepare(spec)
    train = data.datasets["train"]
    out = {}
    for samples in (10, 1000):
        tracemalloc.start()
        dataset = WindowDataset(data.timeline, train.sources, train.inputs, data.targets, train.anchors[:samples],
                                spec.data.daily_window, spec.data.monthly_window)
        allocated = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        materialised = samples * sum(
            (spec.data.daily_window if s.info.resolution == "daily" else spec.data.monthly_window)
            * s.values[0].size * 4 for s in dataset.sources.values())
        out[samples] = {"samples": len(dataset), "nbytes": dataset.nbytes, "allocated": allocated,
                        "materialised": materialised}
    return out


def run_worker(threads: int, *arguments: str) -> dict:
    command = [sys.executable, __file__, "--threads", str(threads), *arguments]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        sys.exit(f"benchmark worker {' '.join(arguments)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--regions", type=int, nargs="+", default=list(REGIONS))
    parser.add_argument("--threads", type=int, default=THREADS, help="CPU threads of every model")
    parser.add_argument("--step-worker", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", type=int, help=argparse.SUPPRESS)  # the number of regions
    args = parser.parse_args()
    if args.step_worker:
        print(json.dumps(step_worker(args.step_worker, args.steps, args.warmup, args.threads)))
        return
    if args.memory_worker:
        print(json.dumps(memory_worker(args.memory_worker)))
        return

    load_before = os.getloadavg()
    models = ["national", *(f"spatial:{r}" for r in args.regions)]
    peaks = {}
    for model in models:  # each in its own process: its peak RSS is its own
        print(f"peak memory of {model} (1 + 2 steps) ...", end=" ", flush=True)
        peaks[model] = run_worker(args.threads, "--step-worker", model, "--steps", "2", "--warmup", "1")[model]
        print(f"{peaks[model]['peak_rss_bytes'] / 2**20:.0f} MiB", flush=True)
    print(f"timing {args.warmup} + {args.steps} steps of every model, interleaved in one process ...", flush=True)
    results = run_worker(args.threads, "--step-worker", *models, "--steps", str(args.steps), "--warmup",
                         str(args.warmup))
    for model in models:
        results[model]["peak_rss_bytes"] = peaks[model]["peak_rss_bytes"]
    print(f"dataset memory with 10 and 1,000 training samples (R = {max(args.regions)}) ...", flush=True)
    memory = {int(k): v for k, v in run_worker(args.threads, "--memory-worker", str(max(args.regions))).items()}
    load_after = os.getloadavg()

    national = results["national"]
    print(f"\nspatial training step: the reference HAN + one spatial source ({FEATURES} features per region, 365 days, "
          f"batch 8, d_model 64), {args.threads} thread{'s' * (args.threads > 1)}")
    print(f"  load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on {os.cpu_count()} CPUs")
    for model, r in results.items():
        ratio = r["median_s"] / national["median_s"]
        extra = f", geographic encoder {r['encoder_parameters']:,}" if r["encoder_parameters"] else ""
        print(f"  {model:12s} median {r['median_s']:.3f} s/step (best {r['best_s']:.3f}) = {ratio:.2f}x national, "
              f"peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB, {r['parameters']:,} parameters{extra}, "
              f"CPU time per wall second {r['cpu_per_wall']:.2f}")
    largest = f"spatial:{max(args.regions)}"
    ratio = results[largest]["median_s"] / national["median_s"]
    peak = results[largest]["peak_rss_bytes"]
    print(f"  R = {max(args.regions)}: {ratio:.2f}x the national step (target <= {TARGET_RATIO:.0f}x: "
          f"{'met' if ratio <= TARGET_RATIO else 'MISSED'}), peak {peak / 2**30:.2f} GiB (target < 2 GiB: "
          f"{'met' if peak < TARGET_BYTES else 'MISSED'})")
    if {100, 263} <= set(args.regions):
        small, large = results["spatial:100"]["median_s"], results["spatial:263"]["median_s"]
        spatial_small, spatial_large = small - national["median_s"], large - national["median_s"]
        if spatial_small > 0.05 * national["median_s"] and spatial_large > 0:
            part = spatial_large / spatial_small
            shown, part_ok = f"{part:.2f}x", part <= 263 / 100
        else:  # the spatial part at R = 100 drowns in the noise between steps: no ratio to show
            shown, part_ok = "not measurable (within the noise of this run)", True
        print(f"  growth R = 100 -> 263 ({263 / 100:.2f}x the regions): whole step {large / small:.2f}x, spatial part "
              f"(step minus national step) {shown} (target: no faster than linear, <= 2.63x: "
              f"{'met' if large / small <= 263 / 100 and part_ok else 'MISSED'})")
    few, many = memory[10], memory[1000]
    views, allocated = many["nbytes"] / few["nbytes"], many["allocated"] / few["allocated"]
    print(f"  dataset memory, {many['samples']:,} vs {few['samples']} training samples: window views and anchors "
          f"{many['nbytes'] / 2**20:.2f} vs {few['nbytes'] / 2**20:.2f} MiB ({views:.4f}x), allocated while "
          f"building {many['allocated'] / 2**20:.2f} vs {few['allocated'] / 2**20:.2f} MiB ({allocated:.4f}x) "
          f"(target <= {TARGET_MEMORY_RATIO}: {'met' if max(views, allocated) <= TARGET_MEMORY_RATIO else 'MISSED'}); "
          f"materialised windows would take {many['materialised'] / 2**30:.1f} GiB for {many['samples']:,}")


if __name__ == "__main__":
    main()
