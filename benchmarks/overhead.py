"""The framework's tax: the same training through ``Trainer`` (as ``mrframe run`` runs it) and as a plain PyTorch loop.

Both sides build the same network (``build_network``, same seed), the same AdamW parameter groups,
learning-rate schedule and gradient clipping, and train on the same batches (``BatchLoader`` with the run's
seed, each batch assembled from the dataset when it is needed) for the same epochs, in the same process.

* **plain loop**: what a researcher writes by hand. Per step: learning rate, ``zero_grad``, forward, losses,
  weighted total, backward, clipping, AdamW step, ``loss.item()`` for a running mean. After each epoch: the
  validation loss under ``no_grad`` and ``torch.save`` of the model's and optimizer's state.
* **Trainer**: ``Trainer.fit`` with the hooks ``mrframe run`` registers (progress bar, metrics writer, plots) in a
  run directory, the guard at its default (``nonfinite = "raise"``: RNG snapshot and the step's single host
  synchronisation), validation metrics each epoch, checkpoints at their default (``last.pt`` each epoch,
  ``best.pt`` when the monitored value improves). Its end-of-run report, the final evaluation (validation and
  test splits beside the baselines) and what the run-end hooks write (the plots, summary.json), has no
  counterpart in the plain loop: it is timed separately and printed beside the ratio, not in it.

Rounds alternate which side runs first. Printed: the median seconds of each side, the ratio Trainer / plain loop
(targets: <= 1.05 on the HAN, <= 1.15 on the minimal example), the ratio with the end-of-run report counted
too, and the load.

    python benchmarks/overhead.py                      # minimal example (its 6 epochs) and HAN (1 epoch), 3 rounds
    python benchmarks/overhead.py --model han --rounds 5 --threads 1
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import tempfile
import time

import torch

from mrframe.hooks import hookimpl

ROOT = pathlib.Path(__file__).resolve().parents[1]
TARGETS = {"minimal": 1.15, "han": 1.05}


def load(model: str, epochs: int | None):  # noqa: ANN201 - (Spec, PreparedData)
    """The spec (minimal example, or the HAN of benchmarks/han_step.py on every 4th anchor day) and its data."""
    from han_step import spec_document

    from mrframe.data.pipeline import prepare
    from mrframe.spec import build_spec, load_spec

    overrides = ["train.device=cpu"] + ([f"train.epochs={epochs}"] if epochs else [])
    if model == "minimal":
        spec = load_spec(ROOT / "examples" / "minimal.toml", overrides)
    else:
        document = spec_document("transformer")
        document["data"]["stride"] = 4
        document["train"] |= {"epochs": epochs or 1}
        spec = build_spec(document)
    return spec, prepare(spec)


class _RunEndStarts:
    """Hook plugin: notes when the run-end hooks start (it runs first) ..."""

    def __init__(self, marks: list[float]):
        self.marks = marks

    @hookimpl(tryfirst=True)
    def mrframe_run_end(self, run, summary) -> None:  # noqa: ANN001
        self.marks.append(time.perf_counter())


class _RunEndStops(_RunEndStarts):
    """... and when they are done (it runs last)."""

    @hookimpl(trylast=True)
    def mrframe_run_end(self, run, summary) -> None:  # noqa: ANN001
        self.marks.append(time.perf_counter())


def trainer_fit(spec, data, folder: pathlib.Path) -> tuple[float, float]:  # noqa: ANN001
    """Seconds of ``Trainer.fit`` without its end-of-run report, and of the report (final evaluation, run-end hooks)."""
    from mrframe.engine.plots import RunPlots
    from mrframe.engine.progress import ProgressBar
    from mrframe.engine.rundir import RunDirectory
    from mrframe.engine.runlog import RunLog
    from mrframe.engine.trainer import Trainer
    from mrframe.engine.writers import MetricsWriter
    from mrframe.hooks import plugin_manager

    started = time.perf_counter()
    directory = RunDirectory.create(folder, spec.name)
    directory.write_text(directory.spec, spec.to_toml())
    log = RunLog()
    marks: list[float] = []
    with open(os.devnull, "w") as quiet:
        hooks = plugin_manager(builtin=[ProgressBar(quiet), MetricsWriter(directory, log), RunPlots(directory, log),
                                        _RunEndStarts(marks), _RunEndStops(marks)])
        trainer = Trainer(spec, data, directory, hooks, log)
        final = trainer.final_evaluation

        def timed_final_evaluation():  # noqa: ANN202
            marks.append(time.perf_counter())
            try:
                return final()
            finally:
                marks.append(time.perf_counter())

        trainer.final_evaluation = timed_final_evaluation
        trainer.fit()
    total = time.perf_counter() - started
    report = (marks[1] - marks[0]) + (marks[3] - marks[2])
    return total - report, report


def plain_fit(spec, data, folder: pathlib.Path) -> float:  # noqa: ANN001
    """Seconds of the hand-written loop over the same network, optimizer, schedule and batches."""
    from mrframe.data.dataset import BatchLoader
    from mrframe.engine.network import build_network, parameter_groups
    from mrframe.engine.schedule import LRSchedule
    from mrframe.engine.trainer import adamw
    from mrframe.interfaces import StepContext

    started = time.perf_counter()
    config = spec.train
    device = torch.device("cpu")
    network = build_network(spec, data, device)
    optimizer = adamw(parameter_groups(network, config.weight_decay), lr=config.lr, betas=config.betas)
    parameters = [p for group in optimizer.param_groups for p in group["params"]]
    train = BatchLoader(data.datasets["train"], config.batch_size, shuffle=True, seed=spec.run.seed)
    val = BatchLoader(data.datasets["val"], config.batch_size)
    schedule = LRSchedule(config, len(train) * config.epochs)
    folder.mkdir(parents=True)
    step = 0
    for epoch in range(config.epochs):
        context = StepContext(epoch=epoch, step=step, training=True)
        train.set_epoch(epoch)
        network.train()
        running = 0.0
        for batch in train:
            schedule.apply(optimizer, step)
            optimizer.zero_grad(set_to_none=True)
            predictions = network(batch.inputs, batch.calendar)
            total = network.weighting.combine(network.task_losses(predictions, batch), context).total
            total.backward()
            torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
            running += total.item()
            step += 1
        network.eval()
        with torch.no_grad():
            context = StepContext(epoch=epoch, step=step, training=False)
            val_loss = sum(float(network.weighting.combine(network.task_losses(network(b.inputs, b.calendar), b),
                                                           context).total) for b in val)
        print(f"epoch {epoch + 1}: train {running / max(len(train), 1):.4g} val {val_loss / max(len(val), 1):.4g}",
              file=open(os.devnull, "w"))
        torch.save({"model": network.state_dict(), "optimizer": optimizer.state_dict()}, folder / "last.pt")
    return time.perf_counter() - started


def measure(model: str, rounds: int, epochs: int | None) -> None:
    spec, data = load(model, epochs)
    sides = {"plain loop": [], "Trainer": []}
    reports = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds + 1):  # round 0 warms up both paths (imports, allocator, matplotlib)
            for side in (("plain loop", "Trainer") if r % 2 else ("Trainer", "plain loop")):
                folder = pathlib.Path(tmp) / f"{side.split()[0]}-{r}"
                if side == "Trainer":
                    seconds, report = trainer_fit(spec, data, folder)
                    reports.append(report) if r else None
                else:
                    seconds = plain_fit(spec, data, folder)
                if r:
                    sides[side].append(seconds)
    plain, framed = (statistics.median(sides[s]) for s in ("plain loop", "Trainer"))
    steps = len(data.datasets["train"]) // spec.train.batch_size + 1
    print(f"{model}: {spec.train.epochs} epoch(s) of ~{steps} steps (batch {spec.train.batch_size}), {rounds} rounds, "
          f"{torch.get_num_threads()} thread(s); load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    for side, seconds in sides.items():
        print(f"  {side:11s} median {statistics.median(seconds):7.2f} s  (all: {', '.join(f'{s:.2f}' for s in seconds)})")
    ratio = framed / plain
    print(f"  Trainer / plain loop: {ratio:.3f}  (target <= {TARGETS[model]:.2f}: "
          f"{'meets' if ratio <= TARGETS[model] else 'misses'} it here)")
    report = statistics.median(reports)
    print(f"  end-of-run report (final evaluation, plots, summary; not in the ratio): {report:.2f} s; counted too, "
          f"the ratio is {(framed + report) / plain:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["minimal", "han", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds per side (after one warm-up round)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per fit (default: the spec's 6 minimal, 1 HAN)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(pathlib.Path(__file__).parent))
    for model in (["minimal", "han"] if args.model == "both" else [args.model]):
        measure(model, args.rounds, args.epochs)


if __name__ == "__main__":
    main()
