"""Checkpoints: plain tensors and Python scalars only, written atomically, read with ``weights_only=True``.

A checkpoint (``checkpoints/last.pt``, ``checkpoints/best.pt``) is a dict with:

==================  =====================================================================================
``format``          checkpoint layout version (:data:`CHECKPOINT_FORMAT`)
``spec``            the resolved spec as TOML text
``epoch``/``batch``  where training continues: epoch (0-based) and micro-batch index within it
``step``            optimizer steps taken
``model``, ``losses``, ``weighting``   state dicts of the trained modules (weighting-policy state included)
``optimizer``, ``scheduler``, ``scaler``   AdamW, the learning-rate scale, the fp16 gradient scaler
``rng``             torch (CPU and CUDA), NumPy and Python RNG states
``preprocessing``   the fitted preprocessing (:meth:`PreparedData.preprocessing_state`), plain tensors
``progress``        the running sums of the current epoch, early stopping and guard state, metric history
==================  =====================================================================================
"""

from __future__ import annotations

import pathlib
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from mrframe.engine.files import atomic_write
from mrframe.errors import MrframeError

CHECKPOINT_FORMAT = 2


def save_checkpoint(path: pathlib.Path, state: Mapping[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename, fsync of the folder): a crash
    leaves either the old file or the new one, never a torn one."""
    atomic_write(path, lambda handle: torch.save(dict(state), handle))


def load_checkpoint(path: pathlib.Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint without unpickling arbitrary objects."""
    if not path.is_file():
        raise MrframeError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unpickling failure means the same thing to the user
        raise MrframeError(f"{path}: not a readable mrframe checkpoint ({type(error).__name__}: {error})") from error
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise MrframeError(f"{path}: checkpoint format {found}, this mrframe reads format {CHECKPOINT_FORMAT}")
    return state


# ---------------------------------------------------------------------------------------------------- RNG


def capture_rng() -> dict[str, Any]:
    """Every RNG a training step may draw from, as plain tensors and scalars."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, python_state, python_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos), "has_gauss": int(has_gauss),
                  "gauss": float(gauss)},
        "python": {"version": int(version), "state": torch.tensor(python_state, dtype=torch.int64),
                   "gauss": python_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: Mapping[str, Any]) -> None:
    """Put back what :func:`capture_rng` captured."""
    torch.set_rng_state(state["torch"].cpu())
    numpy = state["numpy"]
    np.random.set_state(("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["gauss"]))
    python = state["python"]
    random.setstate((python["version"], tuple(int(v) for v in python["state"].tolist()), python["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def detached_copy(value: Any) -> Any:
    """A deep copy of a (nested) state dict with every tensor cloned to the CPU: a snapshot later training
    cannot change."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, Mapping):
        return {k: detached_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(detached_copy(v) for v in value)
    return value
