"""Step time of mrframe's guarded training step against the same step unguarded, and anomaly mode's cost.

Measured side by side in one process on one model (default: examples/minimal.toml), in interleaved rounds so
that machine noise hits every variant alike:

* ``plain``            a textbook PyTorch step: zero_grad, forward, losses, weighted total, backward, clip,
                       AdamW step, ``loss.item()`` for the progress bar;
* ``mrframe, guard off``  ``Trainer.train_step`` with the guard disabled (no RNG snapshot, no policy);
* ``mrframe, guard on``   ``Trainer.train_step`` as ``mrframe run`` runs it (nonfinite = raise): RNG snapshot,
                       loss and gradient norm checked on the step's single host synchronisation;
* ``guard on, skip``      the same with nonfinite = skip (also snapshots the modules' buffers);
* ``plain + anomaly``     the plain step under ``torch.autograd.set_detect_anomaly(True)``.

Prints the median step time of each variant and the ratios guard-on / guard-off (target <= 1.03),
guard-on / plain and anomaly / plain.

    python benchmarks/guard_overhead.py [--spec examples/minimal.toml] [--rounds 12] [--steps 8]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import time
from collections.abc import Callable

import torch

from mrframe.interfaces import StepContext

ROOT = pathlib.Path(__file__).resolve().parents[1]


def build(spec_path: str, device: str, policy: str):  # noqa: ANN201 - a Trainer
    from mrframe.data.pipeline import prepare
    from mrframe.engine.trainer import Trainer
    from mrframe.spec import load_spec

    spec = load_spec(spec_path, [f"train.device={device}", f"train.nonfinite={policy}"])
    return Trainer(spec, prepare(spec))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "examples" / "minimal.toml"))
    parser.add_argument("--rounds", type=int, default=12, help="interleaved rounds")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per variant and round")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadiest timings)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    trainer = build(args.spec, args.device, "raise")
    skipping = build(args.spec, args.device, "skip")
    dataset = trainer.loader.dataset
    order = trainer.plan(0).order
    batches = [dataset.batch(order[i * trainer.config.batch_size:(i + 1) * trainer.config.batch_size])
               .to(trainer.device) for i in range(8)]
    sync = torch.cuda.synchronize if trainer.device.type == "cuda" else (lambda: None)
    network, optimizer = trainer.network, trainer.optimizer
    parameters = [p for g in optimizer.param_groups for p in g["params"]]
    clip = trainer.config.grad_clip or float("inf")
    context = StepContext(epoch=0, step=0, training=True)

    def plain(batch) -> None:  # noqa: ANN001
        optimizer.zero_grad(set_to_none=True)
        predictions = network(batch.inputs, batch.calendar)
        total = network.weighting.combine(network.task_losses(predictions, batch), context).total
        total.backward()
        torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        total.item()

    def anomaly(batch) -> None:  # noqa: ANN001
        with torch.autograd.set_detect_anomaly(True):
            plain(batch)

    def guarded(on: bool, which=trainer) -> Callable:  # noqa: ANN001
        def step(batch) -> None:  # noqa: ANN001
            which.guard.enabled = on
            which.train_step(batch)
        return step

    variants = {
        "plain": plain,
        "mrframe, guard off": guarded(False),
        "mrframe, guard on": guarded(True),
        "guard on, skip": guarded(True, skipping),
        "plain + anomaly": anomaly,
    }
    network.train()
    skipping.network.train()
    for step in variants.values():  # warm up every path
        for batch in batches[:2]:
            step(batch)
    times: dict[str, list[float]] = {name: [] for name in variants}
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    for r in range(args.rounds):
        names = list(variants) if r % 2 == 0 else list(reversed(variants))
        for name in names:
            for i in range(args.steps):
                sync()
                t0 = time.perf_counter()
                variants[name](batches[i % len(batches)])
                sync()
                times[name].append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - started
    median = {name: statistics.median(t) for name, t in times.items()}

    counts = trainer.model.parameter_counts()["total"]
    print(f"model: {args.spec} ({counts:,} parameters), batch {trainer.config.batch_size}, device {trainer.device}, "
          f"{args.threads} thread(s), torch {torch.__version__}")
    print(f"{args.rounds} interleaved rounds x {args.steps} steps per variant, {elapsed:.0f}s; load average "
          f"{load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(f"{'variant':<22}{'median ms/step':>16}{'best':>10}")
    for name, t in times.items():
        print(f"{name:<22}{1000 * median[name]:>16.2f}{1000 * min(t):>10.2f}")
    print(f"guard on / guard off:      {median['mrframe, guard on'] / median['mrframe, guard off']:.3f}  (target <= 1.03)")
    print(f"guard on, skip / guard off: {median['guard on, skip'] / median['mrframe, guard off']:.3f}")
    print(f"guard on / plain:          {median['mrframe, guard on'] / median['plain']:.3f}")
    print(f"anomaly / plain:           {median['plain + anomaly'] / median['plain']:.3f}")


if __name__ == "__main__":
    main()
