"""The training loop: model + losses + weighting policy, AdamW, hooks, evaluation and the final checkpoint."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import pluggy
import torch
from torch import nn

from mrframe.data.dataset import Batch, BatchLoader
from mrframe.data.pipeline import PreparedData
from mrframe.engine.checkpoint import save_checkpoint
from mrframe.engine.evaluate import evaluate
from mrframe.engine.rundir import RunDirectory
from mrframe.errors import MrframeError
from mrframe.gating import gate_by_availability
from mrframe.hooks import EpochRecord, RunInfo, StepRecord, plugin_manager
from mrframe.interfaces import StepContext, Weighted
from mrframe.model import AssembledModel
from mrframe.observed import TaskLoss
from mrframe.spec import Spec

CHECKPOINT_FORMAT = 1


class NonFiniteLossError(MrframeError):
    """Training produced a non-finite loss or gradient."""


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MrframeError("train.device: 'cuda' was asked for but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


def parameter_groups(modules: Mapping[str, nn.Module], weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on matrices of linear/conv layers only; none on biases, norms, embeddings
    and weighting-policy parameters (``modules["weighting"]``)."""
    decay, no_decay = [], []
    for owner, module in modules.items():
        for sub in module.modules():
            for name, param in sub.named_parameters(recurse=False):
                if not param.requires_grad:
                    continue
                exempt = (
                    owner == "weighting"
                    or param.dim() < 2
                    or isinstance(sub, nn.Embedding | nn.LayerNorm)
                    or name.endswith("bias")
                )
                (no_decay if exempt else decay).append(param)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]


class Trainer:
    """Trains the model a spec describes on prepared data; writes to ``directory`` through the hooks."""

    def __init__(
        self,
        spec: Spec,
        data: PreparedData,
        directory: RunDirectory | None = None,
        hooks: pluggy.PluginManager | None = None,
    ):
        self.spec = spec
        self.data = data
        self.directory = directory
        self.device = resolve_device(spec.train.device)
        torch.manual_seed(spec.run.seed)
        targets = data.target_infos
        self.model = AssembledModel(spec, data.inputs, targets).to(self.device)
        self.losses = nn.ModuleDict(
            {task: spec.heads[task].loss.cls(spec.heads[task].loss.config, info) for task, info in targets.items()}
        ).to(self.device)
        policy = spec.weighting.component
        self.weighting = policy.cls(policy.config, tuple(targets)).to(self.device)
        self.optimizer = torch.optim.AdamW(
            parameter_groups({"model": self.model, "weighting": self.weighting}, spec.train.weight_decay),
            lr=spec.train.lr,
        )
        self.loaders = {
            split: BatchLoader(dataset, spec.train.batch_size, shuffle=(split == "train"), seed=spec.run.seed)
            for split, dataset in data.datasets.items()
        }
        self.hooks = hooks if hooks is not None else plugin_manager()
        self.run = RunInfo(
            name=spec.name,
            directory=directory.path if directory else None,
            spec=spec,
            writes=directory is not None,
            epochs=spec.train.epochs,
            parameters=self.model.parameter_counts(),
        )
        self.step = 0

    # ------------------------------------------------------------------------------------------- steps

    def task_losses(self, predictions: Mapping[str, Any], batch: Batch) -> dict[str, TaskLoss]:
        """Each task's loss on the batch, availability-gated as the spec asks."""
        losses = {
            task: loss(predictions[task], batch.targets[task].values, batch.targets[task].mask)
            for task, loss in self.losses.items()
        }
        return gate_by_availability(losses, self.spec.weighting.min_availability)

    def train_step(self, batch: Batch, epoch: int) -> tuple[Weighted, dict[str, TaskLoss], float]:
        """Forward, weighted loss, backward, clip and optimizer step; returns the weighted result, the task
        losses and the gradient norm (one host sync for the finiteness check)."""
        context = StepContext(epoch=epoch, step=self.step, training=True)
        predictions = self.model(batch.inputs, batch.calendar)
        losses = self.task_losses(predictions, batch)
        self.optimizer.zero_grad(set_to_none=True)
        if self.weighting.owns_backward:
            result = self.weighting.backward(losses, context, [p for p in self.model.parameters() if p.requires_grad])
        else:
            result = self.weighting.combine(losses, context)
            result.total.backward()
        parameters = [p for g in self.optimizer.param_groups for p in g["params"]]
        clip = self.spec.train.grad_clip if self.spec.train.grad_clip is not None else math.inf
        norm = torch.nn.utils.clip_grad_norm_(parameters, clip)
        total, grad_norm = torch.stack([result.total.detach().float(), norm.float()]).tolist()
        if not (math.isfinite(total) and math.isfinite(grad_norm)):
            raise NonFiniteLossError(
                f"non-finite {'loss' if not math.isfinite(total) else 'gradient'} at epoch {epoch + 1}, "
                f"step {self.step}; run `mrframe diagnose` on the spec to locate it"
            )
        self.optimizer.step()
        self.step += 1
        return result, losses, total

    # ------------------------------------------------------------------------------------------- loop

    def fit(self) -> dict[str, Any]:
        """Train for ``train.epochs`` epochs; returns (and writes) the run summary."""
        started = time.perf_counter()
        self.hooks.hook.mrframe_run_start(run=self.run)
        metrics: dict[str, float] = {}
        status = "finished"
        try:
            for epoch in range(self.spec.train.epochs):
                metrics = self.train_epoch(epoch)
                metrics |= self.evaluate("val", epoch)
                self.weighting.end_epoch(epoch, {t: metrics.get(f"train/{t}/loss", math.nan) for t in self.losses})
                self.hooks.hook.mrframe_epoch_end(run=self.run, record=EpochRecord(epoch, self.step, metrics))
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            summary = self.summary(metrics, status, time.perf_counter() - started)
            if self.directory is not None:
                save_checkpoint(self.directory.checkpoints / "final.pt", self.checkpoint_state())
            self.hooks.hook.mrframe_run_end(run=self.run, summary=summary)
        return summary

    def train_epoch(self, epoch: int) -> dict[str, float]:
        loader = self.loaders["train"]
        loader.set_epoch(epoch)
        self.model.train()
        self.hooks.hook.mrframe_epoch_start(run=self.run, epoch=epoch, batches=len(loader))
        totals, task_sums, task_counts = [], dict.fromkeys(self.losses, 0.0), dict.fromkeys(self.losses, 0)
        weights: dict[str, float] = {}
        for index, batch in enumerate(loader):
            result, losses, total = self.train_step(batch.to(self.device), epoch)
            stats = torch.stack([torch.stack([loss.value.detach().float(), loss.count.float()]) for loss in losses.values()])
            values, counts = stats.T.tolist()
            task_values = dict(zip(losses, values, strict=True))
            weights = {t: float(w) for t, w in result.weights.items()}
            totals.append(total)
            for (task, value), count in zip(task_values.items(), counts, strict=True):
                if count > 0 and math.isfinite(value):  # a batch without a valid target says nothing
                    task_sums[task] += value
                    task_counts[task] += 1
            lr = self.optimizer.param_groups[0]["lr"]
            record = StepRecord(epoch, self.step, index, total, task_values, weights, lr)
            self.hooks.hook.mrframe_step_end(run=self.run, record=record)
        metrics = {"train_loss": sum(totals) / len(totals) if totals else math.nan, "lr": self.optimizer.param_groups[0]["lr"]}
        for task in self.losses:
            metrics[f"train/{task}/loss"] = task_sums[task] / task_counts[task] if task_counts[task] else math.nan
            metrics[f"weight/{task}"] = weights.get(task, math.nan)
        return metrics

    def evaluate(self, split: str, epoch: int) -> dict[str, float]:
        loader = self.loaders[split]
        if not len(loader.dataset):
            return {f"{split}_loss": math.nan}
        context = StepContext(epoch=epoch, step=self.step, training=False)
        return evaluate(self.model, self.losses, self.weighting, loader, self.device, context, prefix=split)

    # ------------------------------------------------------------------------------------------- state

    def checkpoint_state(self) -> dict[str, Any]:
        """Plain tensors and scalars only (loadable with ``torch.load(weights_only=True)``)."""
        return {
            "format": CHECKPOINT_FORMAT,
            "spec": self.spec.to_toml(),
            "step": self.step,
            "model": self.model.state_dict(),
            "losses": self.losses.state_dict(),
            "weighting": self.weighting.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "preprocessing": self.data.preprocessing_state(),
        }

    def summary(self, metrics: Mapping[str, float], status: str, seconds: float) -> dict[str, Any]:
        return {
            "name": self.run.name,
            "status": status,
            "run_dir": str(self.directory.path) if self.directory else None,
            "epochs": self.spec.train.epochs,
            "steps": self.step,
            "seconds": round(seconds, 2),
            "samples": {split: len(d) for split, d in self.data.datasets.items()},
            "parameters": dict(self.run.parameters),
            "final": dict(metrics),
        }
