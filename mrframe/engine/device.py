"""Where training runs and in which precision.

CPU trains in fp32, always. On CUDA the forward pass runs under ``torch.autocast`` in bf16 where the GPU
supports it (no loss scaling needed: bf16 has fp32's exponent range), else in fp16 with a
``torch.amp.GradScaler`` that scales the loss before backward and unscales the gradients before clipping.
Losses are computed in fp32 from the autocast predictions (:func:`to_float32`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import torch

from mrframe.errors import MrframeError


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; asking for cuda without one is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise MrframeError("train.device: 'cuda' was asked for but no CUDA device is available; use 'auto' or 'cpu'")
    return torch.device(name)


@attrs.frozen
class Precision:
    """``dtype`` is the autocast dtype (None: plain fp32, no autocast)."""

    device_type: str
    dtype: torch.dtype | None

    @property
    def name(self) -> str:
        return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[self.dtype]

    @property
    def uses_scaler(self) -> bool:
        """fp16 needs loss scaling to keep small gradients from underflowing; bf16 and fp32 do not."""
        return self.dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A scaler that is a pass-through unless fp16 is used."""
        return torch.amp.GradScaler(self.device_type, enabled=self.uses_scaler)


def resolve_precision(
    name: str, device: torch.device, bf16_supported: Callable[[], bool] | None = None
) -> Precision:
    """The precision ``train.precision = name`` means on ``device``.

    ``bf16_supported`` defaults to ``torch.cuda.is_bf16_supported`` (injectable for tests without a GPU).
    """
    if device.type != "cuda":
        if name in ("bf16", "fp16"):
            raise MrframeError(
                f"train.precision: '{name}' needs a CUDA device; training on {device.type} runs in fp32 "
                "(use 'auto' or 'fp32')"
            )
        return Precision(device.type, None)
    if name == "fp32":
        return Precision("cuda", None)
    if name == "auto":
        supported = bf16_supported or torch.cuda.is_bf16_supported
        return Precision("cuda", torch.bfloat16 if supported() else torch.float16)
    return Precision("cuda", torch.bfloat16 if name == "bf16" else torch.float16)


def to_float32(prediction: Any) -> Any:
    """A head's prediction (a tensor or a mapping of tensors) with floating tensors cast to fp32."""
    if isinstance(prediction, torch.Tensor):
        return prediction.float() if prediction.is_floating_point() else prediction
    if isinstance(prediction, Mapping):
        return {k: to_float32(v) for k, v in prediction.items()}
    return prediction
