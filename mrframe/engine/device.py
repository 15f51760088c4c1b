"""Where training runs and in which precision.

``train.precision`` chooses the dtype the forward pass runs in under ``torch.autocast``; parameters, their
gradients and the optimizer state stay fp32 (master weights), and losses are computed in fp32 from the
autocast predictions (:func:`to_float32`).

* ``fp32``: no autocast.
* ``bf16``: bf16 autocast, on CUDA and on CPU (native on processors with AVX512-BF16 or AMX, emulated and
  slower elsewhere). No loss scaling: bf16 has fp32's exponent range.
* ``fp16``: CUDA only, with a ``torch.amp.GradScaler`` that scales the loss before backward and unscales the
  gradients before clipping.
* ``auto``: the value of the environment variable ``MRFRAME_PRECISION`` when it is set (how the test suite
  runs under another precision), else bf16 on a CUDA device that supports it, fp16 on one that does not, and
  fp32 on CPU: on the AVX512-BF16 processors measured (docs/han.md) bf16 autocast did not make a training step
  faster, because the attention and elementwise work that dominates it gains nothing from bf16 matrix products.
"""

from __future__ import annotations

import contextlib
import os
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


PRECISION_VARIABLE = "MRFRAME_PRECISION"
"""Environment variable that, when set, is what ``train.precision = "auto"`` picks (fp32, bf16 or fp16)."""

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_precision(
    name: str, device: torch.device, bf16_supported: Callable[[], bool] | None = None
) -> Precision:
    """The precision ``train.precision = name`` means on ``device`` (see the module docstring).

    ``bf16_supported`` defaults to ``torch.cuda.is_bf16_supported`` (injectable for tests without a GPU).
    """
    where = "train.precision"
    if name == "auto" and os.environ.get(PRECISION_VARIABLE):
        name, where = os.environ[PRECISION_VARIABLE], f"{PRECISION_VARIABLE} (train.precision = 'auto')"
        if name not in _DTYPES:
            raise MrframeError(f"{where}: must be one of {', '.join(_DTYPES)} (or unset), got {name!r}")
    elif name == "auto":
        name = _auto(device, bf16_supported)
    if name == "fp16" and device.type != "cuda":
        raise MrframeError(f"{where}: 'fp16' needs a CUDA device; on {device.type} use 'bf16' or 'fp32'")
    return Precision(device.type, _DTYPES[name])


def _auto(device: torch.device, bf16_supported: Callable[[], bool] | None) -> str:
    if device.type != "cuda":
        return "fp32"
    return "bf16" if (bf16_supported or torch.cuda.is_bf16_supported)() else "fp16"


def to_float32(prediction: Any) -> Any:
    """A head's prediction (a tensor or a mapping of tensors) with floating tensors cast to fp32."""
    if isinstance(prediction, torch.Tensor):
        return prediction.float() if prediction.is_floating_point() else prediction
    if isinstance(prediction, Mapping):
        return {k: to_float32(v) for k, v in prediction.items()}
    return prediction
