"""Training-step time and peak memory of the multi-resolution HAN at the reference configuration.

Configuration: batch 8, 365 days, 12 months, daily sources with 11, 3, 5, 13 and 6 features, monthly sources
with 7, 5, 10, 6 and 7 features, d_model 64, 4 heads, 3 daily layers, 2 monthly, 2 fusion (cross-resolution),
2 temporal; 20% of values missing. A step is what ``mrframe run`` does per batch (``Trainer.train_step``):
forward, masked losses, backward, gradient clipping and AdamW, on 2 CPU threads.

Each model runs in its own process (so its peak resident memory is its own): the HAN, and side by side the
same model with the ``recurrent`` encoder baseline. Printed: median and best step time, peak RSS, parameter
count, the ratios to the targets (<= 0.35 s/step, <= 1 GB) and to the research model this replaces (about
1.4 s/step and 3.1 GB on the reference machines), and how contended the machine was (load average, CPU time
per wall second: 2.0 means both threads ran the whole time).

    python benchmarks/han_step.py                 # both models, 20 timed steps each
    python benchmarks/han_step.py --steps 40
    python benchmarks/han_step.py --device cuda   # adds bf16 autocast timing on a GPU
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

TARGET_SECONDS = 0.35
TARGET_BYTES = 1 << 30
RESEARCH_SECONDS = 1.4
RESEARCH_BYTES = 3.1 * (1 << 30)
THREADS = 2

DAILY = {"equipment": 11, "personnel": 3, "firms": 5, "reports": 13, "signals": 6}
MONTHLY = {"sentinel": 7, "economy": 5, "displacement": 10, "energy": 6, "food": 7}


def spec_document(encoder: str) -> dict:
    """The benchmark's spec: ``encoder = "transformer"`` (the HAN) or ``"recurrent"`` (the baseline)."""
    sources, encoders = {}, {}
    for i, (name, features) in enumerate(DAILY.items()):
        sources[name] = {"plugin": "synthetic", "start": "2022-01-01", "periods": 1100, "features": features,
                         "missing": 0.2, "counts": name == "firms", "seed": i + 1}
        encoders[name] = {"plugin": "daily-transformer", "layers": 3, "heads": 4}
    for i, (name, features) in enumerate(MONTHLY.items()):
        sources[name] = {"plugin": "synthetic", "resolution": "monthly", "start": "2022-01-01", "periods": 37,
                         "features": features, "missing": 0.2, "seed": 11 + i}
        encoders[name] = {"plugin": "monthly-transformer", "layers": 2, "heads": 4}
    if encoder == "recurrent":
        encoders = {name: {"plugin": "recurrent"} for name in encoders}
    return {
        "version": 1,
        "run": {"name": f"han-step-{encoder}", "seed": 0},
        "data": {"daily_window": 365, "monthly_window": 12, "split": {"val_from": "2024-10-01"}},
        "model": {"d_model": 64},
        "sources": sources,
        "encoders": encoders,
        "fusion": [
            {"plugin": "cross-source", "heads": 4},
            {"plugin": "local-temporal", "heads": 4},
            {"plugin": "month-aggregate", "heads": 4},
            {"plugin": "cross-resolution", "heads": 4, "layers": 2},
            {"plugin": "temporal", "heads": 4, "layers": 2},
        ],
        "heads": {
            "next_month": {"plugin": "forecast", "target": {"source": "sentinel", "horizon": 1},
                           "loss": {"plugin": "masked-mse"}},
            "next_week": {"plugin": "daily-forecast", "target": {"source": "equipment", "horizon": 7, "span": 7},
                          "loss": {"plugin": "masked-mse"}},
        },
        "train": {"batch_size": 8, "device": "cpu"},
    }


def worker(encoder: str, steps: int, warmup: int, device: str) -> dict:
    """Time ``steps`` training steps of one model in this process; returns the measurements."""
    import numpy as np
    import torch

    from mrframe.data.pipeline import prepare
    from mrframe.engine.trainer import Trainer
    from mrframe.spec import build_spec

    torch.set_num_threads(THREADS)
    document = spec_document(encoder)
    document["train"]["device"] = device
    spec = build_spec(document)
    data = prepare(spec)
    trainer = Trainer(spec, data)
    trainer.model.train()
    dataset = data.datasets["train"]
    late = np.arange(len(dataset))[-400:]  # anchors whose windows lie inside the data: ~20% missing
    rng = np.random.default_rng(0)
    batches = [dataset.batch(rng.choice(late, 8, replace=False)).to(trainer.device) for _ in range(4)]
    observed = float(np.mean([b.inputs[n].mask.float().mean().item() for b in batches for n in b.inputs]))

    def step(i: int) -> None:
        trainer.train_step(batches[i % len(batches)])
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()

    for i in range(warmup):
        step(i)
    walls, cpus = [], []
    for i in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        step(i)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    result = {
        "encoder": encoder,
        "median_s": statistics.median(walls),
        "best_s": min(walls),
        "cpu_per_wall": sum(cpus) / sum(walls),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "parameters": trainer.model.parameter_counts()["total"],
        "observed_fraction": observed,
    }
    if trainer.device.type == "cuda":
        result["bf16_median_s"] = _bf16(trainer, batches, steps, warmup)
    return result


def _bf16(trainer, batches, steps: int, warmup: int) -> float:  # noqa: ANN001 - a Trainer
    """Median step time with bf16 autocast of the forward pass (and the losses) on the trainer's device."""
    import torch

    device = trainer.device.type
    times = []
    for i in range(warmup + steps):
        batch = batches[i % len(batches)]
        started = time.perf_counter()
        with torch.autocast(device, dtype=torch.bfloat16):
            predictions = trainer.model(batch.inputs, batch.calendar)
            losses = trainer.task_losses(predictions, batch)
        trainer.optimizer.zero_grad(set_to_none=True)
        sum(loss.value.float() for loss in losses.values()).backward()
        trainer.optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--worker", choices=["transformer", "recurrent"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.steps, args.warmup, args.device)))
        return

    load_before = os.getloadavg()
    results = {}
    for encoder in ("transformer", "recurrent"):
        print(f"timing {args.warmup} + {args.steps} steps with {encoder} encoders ...", end=" ", flush=True)
        command = [sys.executable, __file__, "--worker", encoder, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--device", args.device]
        env = dict(os.environ, OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            sys.exit(f"benchmark worker '{encoder}' failed:\n{done.stderr}")
        results[encoder] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{results[encoder]['median_s']:.3f} s/step", flush=True)
    load_after = os.getloadavg()

    han, baseline = results["transformer"], results["recurrent"]
    print(f"HAN training step, batch 8, 365 days x 5 daily + 12 months x 5 monthly sources, d_model 64, "
          f"{THREADS} threads on {args.device}")
    print(f"  load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on {os.cpu_count()} CPUs")
    for label, r in (("HAN (daily/monthly-transformer)", han), ("baseline (recurrent encoders)", baseline)):
        print(f"  {label:34s} median {r['median_s']:.3f} s/step (best {r['best_s']:.3f}), "
              f"peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB, {r['parameters']:,} parameters, "
              f"CPU time per wall second {r['cpu_per_wall']:.2f}, observed {r['observed_fraction']:.0%}")
        if "bf16_median_s" in r:
            print(f"  {'':34s} bf16 autocast median {r['bf16_median_s'] * 1e3:.1f} ms/step")
    print(f"  HAN / baseline step time: {han['median_s'] / baseline['median_s']:.2f}x")
    print(f"  HAN vs target:   {han['median_s'] / TARGET_SECONDS:.2f} x 0.35 s   "
          f"{han['peak_rss_bytes'] / TARGET_BYTES:.2f} x 1 GB   "
          f"({'meets' if han['median_s'] <= TARGET_SECONDS and han['peak_rss_bytes'] <= TARGET_BYTES else 'misses'} "
          f"the target here)")
    print(f"  HAN vs research model (1.4 s, 3.1 GB on the reference machines): "
          f"{RESEARCH_SECONDS / han['median_s']:.1f}x faster, {RESEARCH_BYTES / han['peak_rss_bytes']:.1f}x less memory")


if __name__ == "__main__":
    main()
