"""A trained run loaded back from its run directory: spec, data with the run's fitted preprocessing, network.

Used by ``mrframe evaluate``, ``mrframe predict`` and ``mrframe diagnose --run``. The data side re-applies the
preprocessing fitted during training (``prepare(spec, fitted=...)``), so inputs are scaled exactly as the
model saw them. Every checkpoint is verified as it is read (:func:`mrframe.engine.checkpoint.load_checkpoint`);
:func:`load_run` also refuses a model with non-finite parameters, so no result is computed from one.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import Any

import attrs
import torch

from mrframe.data.pipeline import PreparedData, prepare
from mrframe.engine.checkpoint import CheckpointError, load_checkpoint, position
from mrframe.engine.device import Precision, resolve_device, resolve_precision
from mrframe.engine.network import Network, build_network
from mrframe.engine.report import nonfinite_parameters
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
    file: pathlib.Path
    used: str  # which file, at which epoch and step, and why (for the user)


def choose_checkpoint(directory: RunDirectory, which: str) -> tuple[str, pathlib.Path, str | None]:
    """The checkpoint ``which`` (best or last) of the run, its file, and a note when it is not the one asked
    for: ``best`` falls back to ``last`` when there is no ``best.pt`` (no epoch was ever best, e.g. an empty
    validation split), and says so. A ``best.pt`` that is there but unreadable is not replaced: loading it
    fails with the reason."""
    if which == "best" and _present(directory.best):
        return "best", directory.best, None
    if _present(directory.last):
        return "last", directory.last, None if which == "last" else (
            "checkpoints/best.pt is missing (no epoch was best, or the file was removed): using checkpoints/last.pt "
            "instead")
    raise MrframeError(f"{directory.path}: no checkpoint yet (checkpoints/last.pt is missing); train or resume it first")


def _present(path: pathlib.Path) -> bool:
    return path.exists() or path.is_symlink()


def prepared_data(spec: Spec, state: Mapping[str, Any] | None, source: str) -> PreparedData:
    """``prepare(spec)``, with the fitted preprocessing of checkpoint ``state`` when given (named ``source`` in
    errors), else fitted afresh."""
    if state is None:
        return prepare(spec)
    try:
        return prepare(spec, fitted=state["preprocessing"])
    except KeyError as error:
        raise CheckpointError(f"{source}: the fitted preprocessing has no {error}, which the spec's data needs "
                              "(was the spec changed?)") from None


def load_network(
    spec: Spec, state: Mapping[str, Any] | None, source: str
) -> tuple[PreparedData, Network, torch.device, Precision]:
    """Data (with ``state``'s fitted preprocessing) and the network, with ``state``'s trained weights when a
    checkpoint ``state`` is given (else freshly initialised from ``run.seed``), on the spec's device."""
    data = prepared_data(spec, state, source)
    device = resolve_device(spec.train.device)
    network = build_network(spec, data, device)
    if state is not None:
        network.load_trained(state, source)
    return data, network, device, resolve_precision(spec.train.precision, device)


def load_run(path: pathlib.Path, which: str = "best") -> LoadedRun:
    """Load the run in ``path`` with its ``best`` (or ``last``) checkpoint, in eval mode; a checkpoint that is
    unreadable, corrupted, does not fit the spec or holds non-finite parameters is a :class:`CheckpointError`."""
    directory = RunDirectory.existing(path)
    spec = load_spec(directory.spec)
    which, file, note = choose_checkpoint(directory, which)
    state = load_checkpoint(file)
    data, network, device, precision = load_network(spec, state, str(file))
    bad = nonfinite_parameters(network.named_parameters())
    if bad:
        raise CheckpointError(f"{file}: the model's parameters {', '.join(bad)} are not finite; refusing to compute "
                              "results with it")
    network.eval()
    used = f"checkpoint: {file} ({position(state)})" + (f"; {note}" if note else "")
    return LoadedRun(directory, spec, data, network, device, precision, which, file, used)
