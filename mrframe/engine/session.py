"""A trained run loaded back from its run directory: spec, data with the run's fitted preprocessing, network.

Used by ``mrframe evaluate``, ``mrframe predict`` and ``mrframe diagnose --run``. The data side re-applies the
preprocessing fitted during training (``prepare(spec, fitted=...)``), so inputs are scaled exactly as the
model saw them.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import attrs
import torch

from mrframe.data.pipeline import PreparedData, prepare
from mrframe.engine.checkpoint import load_checkpoint
from mrframe.engine.device import Precision, resolve_device, resolve_precision
from mrframe.engine.network import Network, build_network
from mrframe.engine.rundir import RunDirectory
from mrframe.errors import MrframeError
from mrframe.spec import Spec, load_spec


@attrs.frozen(eq=False)
class LoadedRun:
    directory: RunDirectory
    spec: Spec
    data: PreparedData
    network: Network
    device: torch.device
    precision: Precision
    checkpoint: str  # "best" or "last": the one that was loaded


def choose_checkpoint(directory: RunDirectory, which: str) -> tuple[str, pathlib.Path]:
    """``best`` falls back to ``last`` when no epoch was ever best (e.g. an empty validation split)."""
    if which == "best" and directory.best.is_file():
        return "best", directory.best
    if directory.last.is_file():
        return "last", directory.last
    raise MrframeError(f"{directory.path}: no checkpoint yet (checkpoints/last.pt is missing); train or resume it first")


def load_network(
    spec: Spec, state: Mapping[str, Any] | None, source: str
) -> tuple[PreparedData, Network, torch.device, Precision]:
    """Data (with ``state``'s fitted preprocessing) and the network, with ``state``'s trained weights when a
    checkpoint ``state`` is given (else freshly initialised from ``run.seed``), on the spec's device."""
    data = prepare(spec, fitted=state["preprocessing"] if state is not None else None)
    device = resolve_device(spec.train.device)
    network = build_network(spec, data, device)
    if state is not None:
        network.load_trained(state, source)
    return data, network, device, resolve_precision(spec.train.precision, device)


def load_run(path: pathlib.Path, which: str = "best") -> LoadedRun:
    """Load the run in ``path`` with its ``best`` (or ``last``) checkpoint, in eval mode."""
    directory = RunDirectory.existing(path)
    spec = load_spec(directory.spec)
    which, file = choose_checkpoint(directory, which)
    data, network, device, precision = load_network(spec, load_checkpoint(file), str(file))
    network.eval()
    return LoadedRun(directory, spec, data, network, device, precision, which)
