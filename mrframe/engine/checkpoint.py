"""Checkpoints: plain tensors and Python scalars only, with a content checksum, written atomically, read with
``weights_only=True`` and verified on every load. This module is the only place that reads or writes them.

A checkpoint (``checkpoints/last.pt``, ``last.prev.pt``, ``best.pt``) is a dict with:

==================  =====================================================================================
``format``          checkpoint layout version (:data:`CHECKPOINT_FORMAT`)
``checksum``        SHA-256 of everything else (:func:`content_checksum`), written with it
``spec``            the resolved spec as TOML text
``epoch``/``batch``  where training continues: epoch (0-based) and micro-batch index within it
``step``            optimizer steps taken; ``processes``: how many processes trained
``settings``        ``train.precision`` and ``train.compile`` as the run resolved them (``auto`` through the
                    device and the environment; :func:`mrframe.engine.resume.resolved_settings`)
``model``, ``losses``, ``weighting``   state dicts of the trained modules (weighting-policy state included)
``optimizer``, ``scheduler``, ``scaler``   AdamW, the learning-rate scale, the fp16 gradient scaler
``rng``             torch (CPU and CUDA), NumPy and Python RNG states
``preprocessing``   the fitted preprocessing (:meth:`PreparedData.preprocessing_state`), plain tensors
``progress``        the running sums of the current epoch, early stopping and guard state, metric history
==================  =====================================================================================

:func:`load_checkpoint` checks, in this order, and raises one :class:`CheckpointError` naming the file:
that it is a torch archive that unpickles without importing anything (never the advice to turn that check
off), its format, its layout (every key above, of the right type), and its checksum (a flipped bit anywhere in
a tensor or a value is found). The tensors' names and shapes are checked against the model that loads them
(:func:`check_state_dict`, :func:`check_optimizer_state`).

Byte-identical files: ``torch.save`` writes no timestamp (zip entries are dated 1980) and its
``.data/serialization_id`` is a hash of the content, so equal states give equal bytes.
"""

from __future__ import annotations

import hashlib
import io
import pathlib
import pickle
import random
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mrframe.engine.files import atomic_write
from mrframe.errors import MrframeError

CHECKPOINT_FORMAT = 4

LAYOUT: dict[str, type | tuple[type, ...]] = {
    "format": int, "checksum": str, "spec": str, "epoch": int, "batch": int, "step": int, "processes": int,
    "settings": dict,
    "model": dict, "losses": dict, "weighting": dict, "optimizer": dict, "scheduler": dict, "scaler": dict,
    "rng": dict, "preprocessing": dict, "progress": dict,
}
"""Every key of a checkpoint and its type."""
NESTED = {"rng": ("torch", "numpy", "python"), "progress": ("sums", "early_stopping", "guard", "log"),
          "optimizer": ("state", "param_groups"), "settings": ("train.precision", "train.compile")}
"""Keys that must be present inside some of them."""


class CheckpointError(MrframeError):
    """A checkpoint file is missing, unreadable, unsafe, corrupted, incomplete or does not fit the model."""


def save_checkpoint(path: pathlib.Path, state: Mapping[str, Any], keep_previous: bool = False) -> None:
    """Write ``state`` with its checksum to ``path`` atomically (:func:`mrframe.engine.files.atomic_write`): a
    crash leaves the old file or the new one; a failed write (a full disk) leaves the old one. With
    ``keep_previous`` the file it replaces is kept as ``NAME.prev.pt``."""
    content = {k: v for k, v in state.items() if k != "checksum"}
    buffer = io.BytesIO()
    torch.save({**content, "checksum": content_checksum(content)}, buffer)
    atomic_write(path, lambda handle: handle.write(buffer.getbuffer()), keep_previous=keep_previous)


def load_checkpoint(path: pathlib.Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and verify a checkpoint (see the module's docstring); raises :class:`CheckpointError`."""
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint not found")
    if not path.is_file():
        raise CheckpointError(f"{path}: not a checkpoint file (it is a folder or a special file)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols: the error below says it all
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(f"{path}: {_unpickling_problem(str(error))}") from None
    except Exception as error:  # noqa: BLE001 - a torn or foreign file fails in many ways; each means the same
        raise CheckpointError(f"{path}: not a readable mrframe checkpoint ({type(error).__name__}: "
                              f"{_first_line(error)})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: not an mrframe checkpoint (it holds a {type(state).__name__}, not a dict)")
    if state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {state.get('format')!r}, this mrframe reads format "
                              f"{CHECKPOINT_FORMAT} (a checkpoint of another mrframe version, or not one at all)")
    _check_layout(path, state)
    content = {k: v for k, v in state.items() if k != "checksum"}
    if content_checksum(content) != state["checksum"]:
        raise CheckpointError(f"{path}: corrupted (its content does not match the checksum written with it)")
    return content


def position(state: Mapping[str, Any]) -> str:
    """Where a checkpoint stands, for the user: "after 3 epochs, step 21" or "after 2 epochs and 4 batches,
    step 17"."""
    batches = f" and {state['batch']} batches" if state["batch"] else ""
    return f"after {state['epoch']} epoch{'s' * (state['epoch'] != 1)}{batches}, step {state['step']}"


def content_checksum(state: Mapping[str, Any]) -> str:
    """SHA-256 over every key, value, tensor dtype, shape and byte of ``state``, in order."""
    digest = hashlib.sha256()
    _feed(digest, state)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        tensor = value.detach().to("cpu")
        digest.update(f"T{tensor.dtype}{tuple(tensor.shape)}\0".encode())
        dense = torch.empty(tensor.numel(), dtype=tensor.dtype).copy_(tensor.reshape(-1))  # any strides, even 0
        digest.update(dense.view(torch.uint8).numpy().data)
    elif isinstance(value, Mapping):
        digest.update(f"D{len(value)}\0".encode())
        for key, item in value.items():
            _feed(digest, key)
            _feed(digest, item)
    elif isinstance(value, list | tuple):
        digest.update(f"{type(value).__name__}{len(value)}\0".encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(f"{type(value).__name__}:{value!r}\0".encode())


def _check_layout(path: pathlib.Path, state: Mapping[str, Any]) -> None:
    missing = [k for k in LAYOUT if k not in state] + [
        f"{k}.{n}" for k, names in NESTED.items() if isinstance(state.get(k), dict) for n in names if n not in state[k]
    ]
    if missing:
        raise CheckpointError(f"{path}: incomplete checkpoint: no {', '.join(repr(m) for m in missing)}")
    for key, kind in LAYOUT.items():
        if not isinstance(state[key], kind) or (kind is int and isinstance(state[key], bool)):
            raise CheckpointError(f"{path}: '{key}' is a {type(state[key]).__name__}, not a "
                                  f"{getattr(kind, '__name__', kind)}")


def _unpickling_problem(message: str) -> str:
    """Our account of torch's refusal (which suggests turning the safety off: we never do)."""
    imported = re.search(r"GLOBAL ([\w.]+)", message)
    if imported:
        return (f"refused: loading it would import {imported.group(1)}, which can run code; an mrframe checkpoint "
                "holds only tensors and plain values. Do not use this file unless you know where it came from")
    return "not an mrframe checkpoint (its content is not something the safe loader reads: torn, or another format)"


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else "no detail"


# ---------------------------------------------------------------------------------------------- fitting


def check_state_dict(expected: Mapping[str, Any], found: Any, where: str, prefix: str) -> None:
    """``found`` (a checkpoint's state dict) has exactly ``expected``'s keys and tensor shapes; else a
    :class:`CheckpointError` naming ``where`` (the file) and the first mismatching entry ``PREFIX.KEY``."""
    if not isinstance(found, Mapping):
        raise CheckpointError(f"{where}: '{prefix}' is a {type(found).__name__}, not a state dict")
    for key, value in expected.items():
        if key not in found:
            raise CheckpointError(f"{where}: the checkpoint has no {prefix}.{key}, which the spec's model has "
                                  "(was the spec or a plugin changed?)")
        other = found[key]
        if isinstance(value, torch.Tensor) and (not isinstance(other, torch.Tensor) or other.shape != value.shape):
            shape = list(other.shape) if isinstance(other, torch.Tensor) else type(other).__name__
            raise CheckpointError(f"{where}: {prefix}.{key} has shape {shape} in the checkpoint, the spec's model "
                                  f"needs {list(value.shape)} (was the spec or a plugin changed?)")
    unexpected = [k for k in found if k not in expected]
    if unexpected:
        raise CheckpointError(f"{where}: the checkpoint has {prefix}.{unexpected[0]}, which the spec's model has "
                              "not (was the spec or a plugin changed?)")


def check_optimizer_state(parameters: Sequence[Sequence[torch.Tensor]], found: Mapping[str, Any], where: str) -> None:
    """The checkpoint's optimizer state has ``parameters``' groups (lists of parameters, in order) and each
    per-parameter state tensor (``exp_avg``...) has its parameter's shape."""
    groups = found["param_groups"]
    sizes = [len(g.get("params", ())) if isinstance(g, Mapping) else -1 for g in groups]
    if sizes != [len(g) for g in parameters]:
        raise CheckpointError(f"{where}: the optimizer state has parameter groups of {sizes} parameters, the spec's "
                              f"model has {[len(g) for g in parameters]}")
    for group, saved in zip(parameters, groups, strict=True):
        for param, index in zip(group, saved["params"], strict=True):
            for name, value in found["state"].get(index, {}).items():
                if isinstance(value, torch.Tensor) and value.dim() and value.shape != param.shape:
                    raise CheckpointError(f"{where}: optimizer.state.{index}.{name} has shape {list(value.shape)}, "
                                          f"its parameter {list(param.shape)}")


# ---------------------------------------------------------------------------------------------------- RNG


def seed_everything(seed: int) -> None:
    """Seed every generator a run may draw from: torch (CPU and every CUDA device), NumPy's global one and
    Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


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
