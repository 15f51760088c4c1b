"""``mrframe diagnose``: forward and backward every sample of every split; which ones are not finite, and where.

Each split is run batch by batch in eval mode (no dropout, so a sample's status does not depend on chance). A
batch whose loss and gradients are finite marks all its samples OK; in a batch that is not, each sample is run
alone, and each failing sample is replayed with the guard's hooks (:func:`mrframe.engine.locate.replay`) to
name the first module and op that produced a non-finite value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import attrs

from mrframe.data.dataset import BatchLoader
from mrframe.data.pipeline import PreparedData
from mrframe.engine.device import Precision
from mrframe.engine.locate import failing_rows, is_finite, replay, select_rows
from mrframe.engine.network import Network
from mrframe.interfaces import StepContext


@attrs.frozen
class SampleStatus:
    """One sample's verdict; ``module``/``op``/``phase`` name the first non-finite value when it failed."""

    split: str
    index: int
    anchor: str
    ok: bool
    phase: str = ""
    module: str = ""
    op: str = ""


def diagnose(
    network: Network,
    data: PreparedData,
    batch_size: int,
    precision: Precision,
    splits: Iterable[str] = ("train", "val", "test"),
    progress: Callable[[Any, str, int], Any] | None = None,
) -> list[SampleStatus]:
    """The status of every sample of ``splits``, in split order."""
    network.eval()
    context = StepContext(epoch=0, step=0, training=True)
    device = next(network.parameters()).device
    statuses = []
    for split in splits:
        dataset = data.datasets[split]
        loader = BatchLoader(dataset, batch_size)
        for batch in progress(loader, split, len(loader)) if progress else loader:
            batch = batch.to(device)
            index = batch.index.cpu().numpy()
            anchors = dataset.anchor_dates(index).astype(str)
            bad = () if is_finite(network, batch, context, precision) else failing_rows(network, batch, context, precision)
            for row in range(len(batch)):
                if row not in bad:
                    statuses.append(SampleStatus(split, int(index[row]), str(anchors[row]), True))
                    continue
                found = replay(network, select_rows(batch, [row]), context, precision).culprit
                statuses.append(SampleStatus(
                    split, int(index[row]), str(anchors[row]), False,
                    phase=found.phase if found else "", module=found.module if found else "(not localised)",
                    op=(found.op or "") if found else "",
                ))
    return statuses


def summary_counts(statuses: Iterable[SampleStatus]) -> dict[str, tuple[int, int]]:
    """``{split: (ok, failing)}``."""
    out: dict[str, list[int]] = {}
    for s in statuses:
        counts = out.setdefault(s.split, [0, 0])
        counts[0 if s.ok else 1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def as_rows(statuses: Iterable[SampleStatus]) -> list[dict[str, Any]]:
    return [attrs.asdict(s) | {"status": "OK" if s.ok else "non-finite"} for s in statuses]

