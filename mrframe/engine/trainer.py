"""The training loop: epochs of accumulated optimizer steps under the guard, evaluation, early stopping,
checkpoints and exact resume.

Position and resume: training is at ``(epoch, batch)`` (the next micro-batch of that epoch, always the start
of an optimizer step) after ``step`` optimizer steps. Each epoch's sample order depends only on ``(seed,
epoch)``, dropout on the restored RNG state, the learning rate on ``step``; a checkpoint holds all of that
plus the running sums of the epoch, so a run resumed from any checkpoint continues exactly as the
uninterrupted run did (:mod:`mrframe.engine.checkpoint`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy
import torch

from mrframe.data.dataset import Batch, BatchLoader
from mrframe.data.pipeline import PreparedData
from mrframe.engine import distributed
from mrframe.engine.accumulate import EpochPlan
from mrframe.engine.checkpoint import (
    CHECKPOINT_FORMAT,
    capture_rng,
    check_optimizer_state,
    detached_copy,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)
from mrframe.engine.compile import compile_blocks, wants_compile
from mrframe.engine.device import resolve_device, resolve_precision
from mrframe.engine.early_stopping import EarlyStopping
from mrframe.engine.evaluate import evaluation_report, validation_metrics
from mrframe.engine.files import StorageError
from mrframe.engine.guard import Guard, NonFiniteError, StepToken, validation_failure
from mrframe.engine.interrupt import deferred_interrupt
from mrframe.engine.network import Network, Objective, build_network, parameter_groups
from mrframe.engine.report import batch_tensors, build_report, finish_report, nonfinite_parameters, paragraph
from mrframe.engine.rundir import RunDirectory
from mrframe.engine.runlog import EpochSums, RunLog
from mrframe.engine.schedule import LRSchedule
from mrframe.engine.step import StepOutcome, Stepper
from mrframe.errors import MrframeError
from mrframe.hooks import EpochRecord, RunInfo, StepRecord, StopTraining, plugin_manager
from mrframe.interfaces import StepContext, Weighting
from mrframe.model import AssembledModel
from mrframe.observed import TaskLoss
from mrframe.spec import Spec

__all__ = ["Trainer", "NonFiniteError"]


def adamw(groups: list[dict[str, Any]], **options: Any) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel where the parameters' device has one (CPU since torch 2.4, CUDA): one
    kernel for every parameter instead of a Python loop over them (about 4x faster on the HAN's ~200
    tensors); the plain implementation elsewhere."""
    try:
        return torch.optim.AdamW(groups, fused=True, **options)
    except (RuntimeError, ValueError, TypeError):
        return torch.optim.AdamW(groups, **options)

class Trainer:
    """Trains the model a spec describes on prepared data; writes to ``directory`` (rank 0) through hooks."""

    def __init__(
        self,
        spec: Spec,
        data: PreparedData,
        directory: RunDirectory | None = None,
        hooks: pluggy.PluginManager | None = None,
        log: RunLog | None = None,
        device: torch.device | None = None,
    ):
        self.spec = spec
        self.config = config = spec.train
        self.data = data
        self.directory = directory
        self.writes = directory is not None and distributed.rank() == 0
        self.device = device or resolve_device(config.device)
        self.precision = resolve_precision(config.precision, self.device)
        self.network: Network = build_network(spec, data, self.device)
        if wants_compile(config.compile):
            compile_blocks(self.network.model)
        if self.network.weighting.owns_backward and self.precision.uses_scaler:
            raise MrframeError(f"train.precision: weighting '{spec.weighting.component.plugin}' writes its own "
                               "gradients, which cannot go through fp16 loss scaling; use bf16 or fp32")
        self.objective = Objective(self.network, self.precision)
        self.optimizer = adamw(parameter_groups(self.network, config.weight_decay), lr=config.lr, betas=config.betas)
        self.loader = BatchLoader(data.datasets["train"], config.batch_size, shuffle=True, seed=spec.run.seed,
                                  rank=distributed.rank(), world_size=distributed.world_size())
        self.steps_per_epoch = self.plan(0).n_steps
        if distributed.world_size() > 1:
            self.objective = distributed.wrap(self.objective, self.device, self._probe_unused_parameters())
        self.schedule = LRSchedule(config, self.steps_per_epoch * config.epochs)
        self.stepper = Stepper(self.network, self.objective, self.optimizer, self.precision, config.grad_clip)
        self.guard = Guard(config)
        self.stopper = EarlyStopping(config.early_stopping)
        self.log = log if log is not None else RunLog()
        self.hooks = hooks if hooks is not None else plugin_manager()
        self.run = RunInfo(
            name=spec.name,
            directory=directory.path if self.writes else None,
            spec=spec,
            writes=self.writes,
            epochs=config.epochs,
            parameters=self.network.model.parameter_counts(),
        )
        self.epoch, self.batch, self.step = 0, 0, 0
        self.sums = EpochSums(self.network.tasks)
        self.best_state: dict[str, Any] | None = None
        self.status = "not started"
        self.error: str | None = None

    # the network's parts, for scripts and benchmarks that drive a trainer directly
    @property
    def model(self) -> AssembledModel:
        return self.network.model

    @property
    def losses(self) -> torch.nn.ModuleDict:
        return self.network.losses

    @property
    def weighting(self) -> Weighting:
        return self.network.weighting

    def task_losses(self, predictions: Mapping[str, Any], batch: Batch) -> dict[str, TaskLoss]:
        """Each task's loss on the batch, availability-gated (:meth:`Network.task_losses`)."""
        return self.network.task_losses(predictions, batch)

    def _probe_unused_parameters(self) -> bool:
        """Forward and backward this process's first training batch once (RNG state put back): does any
        parameter get no gradient? DDP must then look for unused parameters at every step."""
        plan = self.plan(0)
        batch = self.loader.dataset.batch(plan.batch(0)).to(self.device)
        rng = capture_rng()

        def backward() -> None:
            total, _, _ = self.objective(batch, StepContext(epoch=0, step=0, training=True))
            total.backward()

        try:
            return distributed.unused_parameters(list(self.network.parameters()), backward)
        finally:
            restore_rng(rng)

    def plan(self, epoch: int) -> EpochPlan:
        self.loader.set_epoch(epoch)
        return EpochPlan(self.loader.order(), self.config.batch_size, self.config.accumulate)

    # ------------------------------------------------------------------------------------------- the loop

    def fit(self) -> dict[str, Any]:
        """Train until ``train.epochs``, early stopping, a guard stop or Ctrl-C; returns (and writes) the
        run summary. A fresh run and a resumed one (:meth:`restore`) go through the same loop."""
        started = time.perf_counter()
        self.hooks.hook.mrframe_run_start(run=self.run)
        self.guard.remember(self.core_state())
        self.status = "running"
        evaluation: dict[str, Any] = {}
        try:
            with deferred_interrupt() as stop_requested:
                while self.epoch < self.config.epochs and not self.stopper.should_stop:
                    if not self.train_epoch(stop_requested):
                        self.status = "interrupted"
                        self.save("last")
                        break
                    self.end_epoch()
            if self.status == "running":
                self.status = "stopped early" if self.stopper.should_stop else "finished"
                if distributed.rank() == 0:
                    evaluation = self.final_evaluation()
        except NonFiniteError as error:
            self.status, self.error = "stopped: non-finite", str(error)
            raise
        except StopTraining as stop:  # a hook's request (mrframe.hooks.StopTraining)
            self.status = f"stopped: {stop}"
        except KeyboardInterrupt:
            self.status = "aborted"
            raise
        except Exception as error:
            self.status, self.error = "failed", f"{type(error).__name__}: {error}"
            raise
        finally:
            summary = self.summary(evaluation, time.perf_counter() - started)
            try:
                self.hooks.hook.mrframe_run_end(run=self.run, summary=summary)
            except StorageError:
                if self.error is None:
                    raise  # else the run's own error is the one to report (a full disk fails both)
        return summary

    def train_epoch(self, stop_requested: Any) -> bool:
        """Run the rest of the current epoch; False when a stop was requested (the position is kept)."""
        plan = self.plan(self.epoch)
        dataset = self.loader.dataset
        self.hooks.hook.mrframe_epoch_start(run=self.run, epoch=self.epoch + 1, batches=plan.n_steps)
        self.network.train()
        for index in range(plan.steps_done(self.batch), plan.n_steps):
            micro = plan.step_batches(index)
            batches = [dataset.batch(plan.batch(b)).to(self.device) for b in micro]
            outcome = self.train_step(batches, plan.step_weights(index), index=index, stop=stop_requested())
            self.batch = micro.stop
            if outcome.stop or (distributed.world_size() == 1 and stop_requested()):
                return False
            every = self.config.checkpoint_every
            if every and outcome.applied and self.step % every == 0 and self.batch < plan.n_batches:
                self.save("last")
        return True

    def train_step(
        self,
        batches: Batch | Sequence[Batch],
        weights: Sequence[float] | None = None,
        index: int = 0,
        stop: bool = False,
    ) -> StepOutcome:
        """One optimizer step under the guard over ``batches`` (micro-batches weighted ``weights``, by default
        equally; one batch is a plain step) at the current epoch and step. ``index`` is the step's number within
        the epoch (0-based; records and reports count from 1)."""
        batches = [batches] if isinstance(batches, Batch) else list(batches)
        weights = list(weights) if weights is not None else [1.0 / len(batches)] * len(batches)
        context = StepContext(epoch=self.epoch, step=self.step, training=True)
        lr = self.schedule.apply(self.optimizer, self.step)
        token = self.guard.before_step(self.network)
        outcome = self.stepper.step(batches, weights, context, stop=stop)
        if not outcome.finite:
            self.on_failure(outcome, batches, context, token, index)
            return outcome
        self.guard.succeeded()
        self.step += outcome.applied
        self.sums.add(outcome.loss, outcome.losses, outcome.weights, outcome.grad_norm)
        self.log.add_step(self.step, {"lr": lr, "loss": outcome.loss, "grad_norm": outcome.grad_norm,
                                      **{f"weight/{t}": w for t, w in outcome.weights.items()}})
        record = StepRecord(self.epoch + 1, self.step, index + 1, outcome.loss, outcome.losses, outcome.weights, lr,
                            outcome.grad_norm)
        self.hooks.hook.mrframe_step_end(run=self.run, record=record)
        return outcome

    def end_epoch(self) -> None:
        """Evaluate, update early stopping and the policy, checkpoint, and tell the hooks."""
        metrics = self.sums.metrics() | {"lr": self.optimizer.param_groups[0]["lr"]} | self.validate()
        failed = self.check_validation(metrics)
        train_losses = {t: metrics[f"train/{t}/loss"] for t in self.network.tasks}
        self.network.weighting.end_epoch(self.epoch, train_losses)
        warmup = self.network.weighting.in_warmup(self.epoch)  # never a candidate for best (a3dro's regrets are 0)
        improved = self.stopper.update(self.epoch, metrics, candidate=not warmup and not failed)
        record = EpochRecord(self.epoch + 1, self.step, metrics)
        self.log.add_epoch({"epoch": self.epoch + 1, "step": self.step, **metrics})
        self.epoch, self.batch = self.epoch + 1, 0
        self.sums = EpochSums(self.network.tasks)
        self.save("last")
        if improved:
            self.save("best")
        self.hooks.hook.mrframe_epoch_end(run=self.run, record=record)

    def validate(self) -> dict[str, float]:
        context = StepContext(epoch=self.epoch, step=self.step, training=False)
        return validation_metrics(self.network, self.data.datasets["val"], self.config.batch_size, self.device,
                                  self.precision, context)

    def check_validation(self, metrics: Mapping[str, float]) -> bool:
        """Report a non-finite validation loss like a failed step, with its samples; ``nonfinite = "raise"``
        stops the run, the other policies go on and the epoch is no candidate for the best, whatever the
        monitor (a metric over the finite predictions may well be finite). True when the loss was non-finite."""
        tasks = [t for t in self.network.tasks if metrics.get(f"val/{t}/count", 0.0) > 0
                 and not math.isfinite(metrics.get(f"val/{t}/loss", 0.0))]
        context = StepContext(epoch=self.epoch, step=self.step, training=False)
        found = validation_failure(self.network, self.data.datasets["val"], self.config.batch_size, self.precision,
                                   context) if tasks else None
        if found is None:
            return bool(tasks)
        report = build_report(
            failure="validation loss", step=self.step, epoch=self.epoch + 1, batch_index=found.number,
            micro_batch=None, micro_batches=1, loss=math.nan, grad_norm=math.nan,
            culprit=found.replay.culprit if found.replay is not None else None, rows=found.rows, batch=found.batch,
            sources=self.data.inputs, bad_parameters=nonfinite_parameters(self.network.named_parameters()),
            targets=self.data.target_infos,
        ) | {"tasks": tasks, "replayed": True, "rank": distributed.rank()}
        stops = self.guard.policy == "raise"
        action = ("The run stops (train.nonfinite = 'raise')." if stops
                  else "Training goes on; this epoch cannot be the best.")
        self._publish(report, batch_tensors(found.batch), action, stops=stops)
        if stops:
            raise NonFiniteError(report["message"])
        return True

    # ------------------------------------------------------------------------------------------- the guard

    def on_failure(
        self, outcome: StepOutcome, batches: Sequence[Batch], context: StepContext, token: StepToken, index: int
    ) -> None:
        """Report the failed step (with a replay on the first failure) and apply ``train.nonfinite``."""
        replayed = self.guard.failures == 0
        located = self.guard.locate(self.network, batches, context, token, self.precision) if replayed else None
        micro = located.micro_batch if located is not None else None
        culprit = located.replay.culprit if located is not None and located.replay is not None else None
        batch = batches[micro or 0]
        report = build_report(
            failure=outcome.failure, step=self.step + 1, epoch=self.epoch + 1, batch_index=index + 1,
            micro_batch=micro, micro_batches=len(batches), loss=outcome.loss, grad_norm=outcome.grad_norm,
            culprit=culprit, rows=located.rows if located is not None else (), batch=batch, sources=self.data.inputs,
            bad_parameters=nonfinite_parameters(self.network.named_parameters()), targets=self.data.target_infos,
            replay=located.replay if located is not None else None,
        )
        report["replayed"] = replayed
        report["rank"] = distributed.rank()
        report, tensors = _first_located(distributed.gather((report, batch_tensors(batch))))
        try:
            action = self.guard.decide(paragraph(report), report["nonfinite_parameters"])
        except NonFiniteError as error:
            self._publish(report, tensors, f"The run stops (train.nonfinite = '{self.guard.policy}').", stops=True)
            raise NonFiniteError(f"{error}{_report_path(report)}") from None
        if action == "skip":
            self.guard.restore_buffers(self.network, token)
            self.sums.skipped += 1
            text = (f"The step was skipped ({self.guard.skips_in_a_row} in a row; "
                    f"train.max_skips = {self.guard.max_skips}).")
        else:
            self.load_core_state(self.guard.good_state)
            self.schedule.scale *= self.guard.rollback_lr_factor
            text = (f"Rolled back to the last good state; learning rate now x{self.schedule.scale:.3g} "
                    f"(rollback {self.guard.rollbacks} of at most {self.guard.max_rollbacks}).")
        self._publish(report, tensors, text, stops=False)

    def _publish(self, report: dict[str, Any], tensors: Mapping[str, torch.Tensor], action: str, stops: bool) -> None:
        report["stops"] = stops
        finish_report(report, tensors, self.directory if self.writes else None, action)
        self.hooks.hook.mrframe_nonfinite(run=self.run, report=report)

    # ------------------------------------------------------------------------------------------- state

    def core_state(self) -> dict[str, Any]:
        """What a rollback restores: the trained modules, the optimizer and the gradient scaler."""
        return {**self.network.trained_state(), "optimizer": self.optimizer.state_dict(),
                "scaler": self.stepper.scaler.state_dict()}

    def load_core_state(self, state: Mapping[str, Any], source: str = "the last good state") -> None:
        self.network.load_trained(state, source)
        check_optimizer_state([g["params"] for g in self.optimizer.param_groups], state["optimizer"], source)
        self.optimizer.load_state_dict(state["optimizer"])
        if state["scaler"]:
            self.stepper.scaler.load_state_dict(state["scaler"])

    def checkpoint_state(self) -> dict[str, Any]:
        """Plain tensors, scalars, strings, lists and dicts only (``torch.load(weights_only=True)``)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "spec": self.spec.to_toml(),
            "epoch": self.epoch,
            "batch": self.batch,
            "step": self.step,
            "processes": distributed.world_size(),
            "settings": {"train.precision": self.precision.name,
                         "train.compile": "on" if wants_compile(self.config.compile) else "off"},
            **self.core_state(),
            "scheduler": self.schedule.state_dict(),
            "rng": capture_rng(),
            "preprocessing": self.data.preprocessing_state(),
            "progress": {
                "sums": self.sums.state_dict(),
                "early_stopping": self.stopper.state_dict(),
                "guard": self.guard.state_dict(),
                "log": self.log.state_dict(),
            },
        }

    def save(self, which: str) -> None:
        """Write ``checkpoints/{which}.pt`` (rank 0; ``last`` keeps the one it replaces as ``last.prev.pt``)
        and keep the rollback state; ``best`` is also kept in memory for the final evaluation. Non-finite
        parameters are never saved: the run stops and the previous checkpoint stays."""
        bad = nonfinite_parameters(self.network.named_parameters())
        if bad:
            raise NonFiniteError(f"parameters {', '.join(bad)} are non-finite after step {self.step}; "
                                 f"checkpoints/{which}.pt was not written (the previous one is kept)")
        state = self.checkpoint_state()
        if which == "best":
            self.best_state = detached_copy({k: state[k] for k in ("model", "losses", "weighting")})
        else:  # the rollback state: what load_core_state reads, not the whole checkpoint
            self.guard.remember({k: state[k] for k in ("model", "losses", "weighting", "optimizer", "scaler")})
        if self.writes:
            save_checkpoint(self.directory.checkpoints / f"{which}.pt", state, keep_previous=which == "last")

    def restore(self, state: Mapping[str, Any], source: str = "the checkpoint") -> None:
        """Continue from a checkpoint written by :meth:`save` (same spec); ``source`` names it in errors."""
        self.load_core_state(state, source)
        self.schedule.load_state_dict(state["scheduler"])
        self.epoch, self.batch, self.step = int(state["epoch"]), int(state["batch"]), int(state["step"])
        progress = state["progress"]
        self.sums.load_state_dict(progress["sums"])
        self.stopper.load_state_dict(progress["early_stopping"])
        self.guard.load_state_dict(progress["guard"])
        self.log.load_state_dict(progress["log"])
        restore_rng(state["rng"])

    # ------------------------------------------------------------------------------------------- the end

    def final_evaluation(self) -> dict[str, Any]:
        """The best epoch's model (the last one when no epoch was best) on val and test, in source units,
        beside the baselines; written as ``evaluation-SPLIT.json``."""
        best = self.best_state
        if best is None and self.writes and self.directory.best.is_file():
            best = load_checkpoint(self.directory.best, self.device)
        if best is not None:
            self.network.load_trained(best, "the best epoch's state")
        out = {}
        for split in ("val", "test"):
            if len(self.data.datasets[split]):
                out[split] = evaluation_report(self.network, self.data, split, self.config.batch_size, self.device,
                                               self.precision, checkpoint="best" if best is not None else "last",
                                               directory=self.directory if self.writes else None)
        return out

    def summary(self, evaluation: Mapping[str, Any], seconds: float) -> dict[str, Any]:
        final = self.log.epochs[-1] if self.log.epochs else {}
        return {
            "name": self.run.name,
            "status": self.status,
            **({"error": self.error} if self.error is not None else {}),
            "run_dir": str(self.directory.path) if self.directory else None,
            "epochs": self.epoch,
            "max_epochs": self.config.epochs,
            "steps": self.step,
            "seconds": round(seconds, 2),
            "processes": distributed.world_size(),
            "samples": {split: len(d) for split, d in self.data.datasets.items()},
            "parameters": dict(self.run.parameters),
            "best": {"epoch": self.stopper.best_epoch + 1, "monitor": self.stopper.monitor,
                     "value": self.stopper.best},
            "nonfinite": self.guard.state_dict(),
            "final": {k: v for k, v in final.items() if k not in ("epoch", "step")},
            "evaluation": dict(evaluation),
        }


def _first_located(reports: list[tuple[dict[str, Any], Any]]) -> tuple[dict[str, Any], Any]:
    """Of every process's (report, batch tensors) for the same failed step, the first that located a culprit."""
    return next((r for r in reports if r[0]["culprit"] is not None), reports[0])


def _report_path(report: Mapping[str, Any]) -> str:
    files = report.get("files")
    return f" Report: {files['report']}" if files else ""
