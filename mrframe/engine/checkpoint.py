"""Checkpoints: plain tensors and Python scalars only, written atomically, read with ``weights_only=True``."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any

import torch

from mrframe.errors import MrframeError


def save_checkpoint(path: pathlib.Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename): a crash leaves either the old
    file or the new one, never a torn one."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        torch.save(dict(state), handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: pathlib.Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without unpickling arbitrary objects."""
    if not path.is_file():
        raise MrframeError(f"{path}: checkpoint not found")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise MrframeError(f"{path}: not a readable mrframe checkpoint ({type(error).__name__}: {error})") from error
