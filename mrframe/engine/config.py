"""The ``[train]`` section of a spec: optimisation, schedule, precision, checkpoints, early stopping and the
non-finite guard. Every key is documented in docs/engine.md."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import attrs

from mrframe.config import field


@attrs.frozen
class EarlyStoppingConfig:
    """``[train.early_stopping]``: stop when the monitored validation value stops improving.

    The monitored value is smoothed with an exponential moving average ``s_e = smoothing * s_(e-1) +
    (1 - smoothing) * x_e`` (``s_1 = x_1``); an epoch improves on the best so far when it beats it by more than
    ``min_delta``. Training stops after ``patience`` epochs in a row without improvement, never before
    ``min_epochs`` epochs. The best checkpoint follows the same smoothed value, with or without patience.
    """

    patience: int | None = field(None, "epochs without improvement before stopping (none: never stop early)", min=1)
    min_delta: float = field(0.0, "smallest change of the smoothed value that counts as an improvement", min=0.0)
    smoothing: float = field(0.0, "EMA factor applied to the monitored value (0: none)", min=0.0, max=0.99)
    min_epochs: int = field(1, "never stop before this many epochs", min=1)
    monitor: str = field(
        "auto",
        "metric to monitor (a metrics.csv column, e.g. val_loss or val/TASK/mae); auto: the weighting policy's "
        "anchored validation score when it offers one, else val_loss",
    )
    mode: Literal["auto", "min", "max"] = field(
        "auto", "whether lower or higher is better; auto: max for auc, ap, accuracy and macro_f1, else min"
    )


@attrs.frozen
class TrainConfig:
    """Optimisation settings."""

    epochs: int = field(10, "passes over the training split (the most; early stopping may end sooner)", min=1)
    batch_size: int = field(32, "samples per micro-batch and process", min=1)
    accumulate: int = field(
        1, "micro-batches averaged into one optimizer step (global batch = batch_size x processes x accumulate)", min=1
    )
    lr: float = field(1e-3, "AdamW base learning rate", min=0.0)
    weight_decay: float = field(0.01, "AdamW weight decay (not applied to biases, norms, embeddings)", min=0.0)
    betas: tuple[float, float] = field((0.9, 0.999), "AdamW moment coefficients")
    schedule: Literal["cosine", "constant"] = field(
        "cosine", "learning rate after warmup: cosine decay to final_lr, or constant"
    )
    warmup: float = field(0.05, "fraction of all optimizer steps spent in linear warmup", min=0.0, max=1.0)
    warmup_start: float = field(0.1, "learning rate at the first warmup step, as a fraction of lr", min=0.0, max=1.0)
    final_lr: float = field(0.01, "learning rate at the last step of the cosine, as a fraction of lr", min=0.0, max=1.0)
    grad_clip: float | None = field(1.0, "clip the total gradient norm to this value (none: no clipping)", min=0.0)
    device: Literal["auto", "cpu", "cuda"] = field("auto", "where to train; auto = cuda when available")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = field(
        "auto", "autocast dtype of the forward pass (weights, losses and optimizer stay fp32); fp16 (CUDA only) adds "
        "a gradient scaler; auto = $MRFRAME_PRECISION if set, else bf16 on CUDA where supported (fp16 otherwise), "
        "fp32 on CPU"
    )
    compile: Literal["auto", "on", "off"] = field(
        "auto", "torch.compile each encoder, fusion block and head (one that cannot compile runs eagerly, with a "
        "one-line message); auto = on if $MRFRAME_COMPILE is 1, else off"
    )
    checkpoint_every: int = field(
        0, "also write checkpoints/last.pt every this many optimizer steps (0: at the end of each epoch only)", min=0
    )
    nonfinite: Literal["raise", "skip", "rollback"] = field(
        "raise", "after a non-finite loss or gradient has been reported: stop, skip the step, or restore the last "
        "good state with a lower learning rate"
    )
    max_skips: int = field(5, "nonfinite = skip: stop after this many non-finite steps in a row", min=1)
    max_rollbacks: int = field(3, "nonfinite = rollback: stop after this many rollbacks", min=1)
    rollback_lr_factor: float = field(0.5, "nonfinite = rollback: multiply the learning rate by this", min=0.0, max=1.0)
    early_stopping: EarlyStoppingConfig = field(
        factory=EarlyStoppingConfig, doc="early stopping and the best checkpoint ([train.early_stopping])"
    )

    def problems(self) -> Iterator[tuple[str, str]]:
        if not all(0.0 <= b < 1.0 for b in self.betas):
            yield "betas", f"each must be in [0, 1), got {list(self.betas)}"
