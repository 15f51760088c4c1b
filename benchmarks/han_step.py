"""Training-step time, achieved GFLOP/s, compute floor and peak memory of the multi-resolution HAN.

Configuration: batch 8, 365 days, 12 months, daily sources with 11, 3, 5, 13 and 6 features, monthly sources
with 7, 5, 10, 6 and 7 features, d_model 64, 4 heads, 3 daily layers, 2 monthly, 2 fusion (cross-resolution),
2 temporal; 20% of values missing. A step is what ``mrframe run`` does per batch (``Trainer.train_step``):
forward, masked losses, backward, gradient clipping and AdamW, on 2 CPU threads.

Each measurement runs in its own process (so its peak resident memory is its own): the HAN in fp32 and in bf16
(``train.precision``), and the same model with the ``recurrent`` encoder baseline. For each it prints the
median and best step time, the FLOPs of a step (``benchmarks/flops.py``: matrix products and attention, the
pairs attention allows only), the achieved GFLOP/s, the compute floor (those FLOPs at the best matrix-product
throughput this process measures, same precision, same threads) and the step / floor ratio, the peak RSS and
the parameter count; then which precision ``train.precision = "auto"`` picks here, the targets (step <= 3x its
floor at that precision, peak RSS <= 785 MiB) and how contended the machine was (load average, CPU time per
wall second: 2.0 means both threads ran the whole time).

With ``--threads 1`` it also prints each ratio in CPU time (the median step's CPU time against the matrix
product's best FLOP per CPU second), which holds while other processes take turns on the CPU. With ``--profile``
it prints, per kind of kernel that does the counted FLOPs (attention, matrix products, convolutions), the GFLOP/s
it achieves and its time as a multiple of the floor, and the ratio the step would have if every other op took no
time (``step_profile.print_kernel_rates``).

    python benchmarks/han_step.py                 # 20 timed steps per measurement
    python benchmarks/han_step.py --profile       # also: where the fp32 and bf16 steps spend their time
    python benchmarks/han_step.py --compile       # also: the fp32 HAN with train.compile = "on"
    python benchmarks/han_step.py --threads 1
    python benchmarks/han_step.py --device cuda   # on a GPU (no compute floor there)
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

TARGET_FLOOR_RATIO = 3.0
TARGET_BYTES = 785 * 2**20
RESEARCH_SECONDS = 1.60
RESEARCH_BYTES = 2.3e9

DAILY = {"equipment": 11, "personnel": 3, "firms": 5, "reports": 13, "signals": 6}
MONTHLY = {"sentinel": 7, "economy": 5, "displacement": 10, "energy": 6, "food": 7}
MEASUREMENTS = (("transformer", "fp32", "off"), ("transformer", "bf16", "off"), ("recurrent", "fp32", "off"))
COMPILED = ("transformer", "fp32", "on")


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


def worker(encoder: str, precision: str, compile: str, steps: int, warmup: int, device: str, threads: int,  # noqa: A002
           profile: bool) -> dict:
    """Time ``steps`` training steps of one model in this process; returns the measurements."""
    import numpy as np
    import torch
    from flops import count_flops, matmul_throughput

    from mrframe.data.pipeline import prepare
    from mrframe.engine.trainer import Trainer
    from mrframe.spec import build_spec

    torch.set_num_threads(threads)
    document = spec_document(encoder)
    document["train"] |= {"device": device, "precision": precision, "compile": compile}
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

    started = time.perf_counter()
    step(0)  # compiles, with train.compile = "on"
    first = time.perf_counter() - started
    for i in range(1, warmup):
        step(i)
    walls, cpus = [], []
    for i in range(steps):
        wall, cpu = time.perf_counter(), time.process_time()
        step(i)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    result = {
        "encoder": encoder,
        "precision": trainer.precision.name,
        "first_step_s": first,
        "median_s": statistics.median(walls),
        "median_cpu_s": statistics.median(cpus),
        "best_s": min(walls),
        "cpu_per_wall": sum(cpus) / sum(walls),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # before the probes below
        "parameters": trainer.model.parameter_counts()["total"],
        "observed_fraction": observed,
    }
    result["flops"], result["flops_by_op"] = count_flops(lambda: step(0))
    if device == "cpu":
        dtype = trainer.precision.dtype or torch.float32
        result["matmul_flops_per_s"] = matmul_throughput(dtype)
        result["matmul_flops_per_cpu_s"] = matmul_throughput(dtype, clock=time.process_time)
    if profile:
        from step_profile import profile_step

        result["profile"] = profile_step(step)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--profile", action="store_true", help="profile the HAN's steps by kind of work and phase")
    parser.add_argument("--compile", action="store_true", help="also time the fp32 HAN compiled (train.compile)")
    parser.add_argument("--worker", nargs=3, metavar=("ENCODER", "PRECISION", "COMPILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, args.steps, args.warmup, args.device, args.threads, args.profile)))
        return

    import torch

    from mrframe.engine.device import resolve_precision

    default = resolve_precision("auto", torch.device(args.device)).name
    load_before = os.getloadavg()
    results = {}
    for encoder, precision, compiled in MEASUREMENTS + ((COMPILED,) if args.compile else ()):
        label = f"{encoder} encoders, {precision}{', compiled' if compiled == 'on' else ''}"
        print(f"timing {args.warmup} + {args.steps} steps, {label} ...", end=" ", flush=True)
        command = [sys.executable, __file__, "--worker", encoder, precision, compiled, "--steps", str(args.steps),
                   "--warmup", str(args.warmup), "--device", args.device, "--threads", str(args.threads)]
        command += ["--profile"] if args.profile and encoder == "transformer" and compiled == "off" else []
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if done.returncode:
            sys.exit(f"benchmark worker '{label}' failed:\n{done.stderr}")
        results[encoder, precision, compiled] = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{results[encoder, precision, compiled]['median_s']:.3f} s/step", flush=True)
    load_after = os.getloadavg()
    report(results, default, args, load_before[0], load_after[0])


def report(results: dict, default: str, args: argparse.Namespace, load_before: float, load_after: float) -> None:
    import torch
    from step_profile import print_kernel_rates, print_profile

    print(f"HAN training step, batch 8, 365 days x 5 daily + 12 months x 5 monthly sources, d_model 64, "
          f"{args.threads} threads on {args.device}")
    print(f"  load average (1 min) before {load_before:.2f}, after {load_after:.2f} on {os.cpu_count()} CPUs; "
          f"AVX512-BF16 {'yes' if torch.cpu._is_avx512_bf16_supported() else 'no'}, "
          f"AMX {'yes' if torch.cpu._is_amx_tile_supported() else 'no'}, torch {torch.__version__}")
    for (encoder, precision, compiled), r in results.items():
        label = f"{'HAN' if encoder == 'transformer' else 'recurrent baseline'} {precision}"
        label += " compiled" if compiled == "on" else " (auto)" if precision == default else ""
        print(f"  {label:28s} median {r['median_s']:.3f} s/step (best {r['best_s']:.3f}), "
              f"peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB, {r['parameters']:,} parameters, "
              f"CPU time per wall second {r['cpu_per_wall']:.2f}, observed {r['observed_fraction']:.0%}")
        line = f"  {'':28s} {r['flops'] / 1e9:.1f} GFLOP/step, {r['flops'] / r['median_s'] / 1e9:.0f} GFLOP/s achieved"
        if "matmul_flops_per_s" in r:
            floor = r["flops"] / r["matmul_flops_per_s"]
            line += (f"; {precision} matmul peak {r['matmul_flops_per_s'] / 1e9:.0f} GFLOP/s -> floor "
                     f"{floor * 1e3:.0f} ms, step = {r['median_s'] / floor:.1f}x floor")
        print(line)
    if args.threads == 1:  # CPU time: what the step costs whatever else the machine runs
        print("  in CPU time (1 thread: the same ratio, robust to other processes taking turns on the CPU):")
        for (encoder, precision, compiled), r in results.items():
            if "matmul_flops_per_cpu_s" in r:
                floor = r["flops"] / r["matmul_flops_per_cpu_s"]
                print(f"    {encoder} {precision}{' compiled' if compiled == 'on' else ''}: median "
                      f"{r['median_cpu_s'] * 1e3:.0f} ms CPU/step, matmul peak {r['matmul_flops_per_cpu_s'] / 1e9:.0f} "
                      f"GFLOP per CPU second -> floor {floor * 1e3:.0f} ms, step = {r['median_cpu_s'] / floor:.1f}x floor")
    for (_, precision, _), r in results.items():
        if "profile" in r:
            print_profile(f"HAN {precision}, {args.threads} threads", *r["profile"])
            if args.threads == 1 and "matmul_flops_per_cpu_s" in r:
                print_kernel_rates(r, r["median_cpu_s"], r["matmul_flops_per_cpu_s"])
            elif "matmul_flops_per_s" in r:
                print_kernel_rates(r, r["median_s"], r["matmul_flops_per_s"])
    han, baseline = results["transformer", default, "off"], results["recurrent", "fp32", "off"]
    if COMPILED in results:
        compiled, eager = results[COMPILED], results["transformer", "fp32", "off"]
        saving = eager["median_s"] - compiled["median_s"]
        cost = compiled["first_step_s"] - eager["first_step_s"]
        print(f"  compiled fp32 HAN: first step {compiled['first_step_s']:.1f} s (eager {eager['first_step_s']:.1f} s), "
              f"then {compiled['median_s'] / eager['median_s']:.2f}x the eager step: compilation pays for itself after "
              + (f"{cost / saving:.0f} steps" if saving > 0 else "no number of steps"))
    print(f"  HAN / recurrent baseline step time: {han['median_s'] / baseline['median_s']:.2f}x")
    if "matmul_flops_per_s" in han:
        ratio = han["median_s"] / (han["flops"] / han["matmul_flops_per_s"])
        meets = ratio <= TARGET_FLOOR_RATIO and han["peak_rss_bytes"] <= TARGET_BYTES
        print(f"  HAN at the default precision ({default}) vs target: {ratio:.2f}x floor (target <= "
              f"{TARGET_FLOOR_RATIO:.0f}x), peak RSS {han['peak_rss_bytes'] / 2**20:.0f} MiB (target <= "
              f"{TARGET_BYTES / 2**20:.0f} MiB): {'meets' if meets else 'misses'} the target here")
    print(f"  HAN vs the research model ({RESEARCH_SECONDS} s, {RESEARCH_BYTES / 1e9:.1f} GB): "
          f"{RESEARCH_SECONDS / han['median_s']:.1f}x faster, {RESEARCH_BYTES / han['peak_rss_bytes']:.1f}x less memory")


if __name__ == "__main__":
    main()
