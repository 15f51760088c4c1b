"""Prediction kinds: looking one up by name, and the check that a head and its loss speak the same kind.

A kind is a :class:`~mrframe.interfaces.PredictionKind` registered under ``mrframe.prediction_kinds``; the core
ships ``point``, ``gaussian`` (:mod:`mrframe.kinds.forecast`), ``binary``, ``classes``
(:mod:`mrframe.kinds.classes`), ``zinb`` (:mod:`mrframe.kinds.counts`) and ``covariance``
(:mod:`mrframe.kinds.covariance`) through the same entry points a third party uses::

    [project.entry-points."mrframe.prediction_kinds"]
    acme-quantiles = "acme.kinds:Quantiles"

A head names its kind in ``prediction_kind`` (or :meth:`~mrframe.interfaces.Head.kind_for` when it depends on
its config); a loss names the kind it is written for in ``prediction_kind`` and any other it reads correctly in
``also_accepts``. :func:`head_problems` is the check both the model builder and ``mrframe validate`` run.
"""

from __future__ import annotations

from typing import Any

from mrframe import registry
from mrframe.errors import PluginError, Problem
from mrframe.interfaces import PredictionKind

KIND = "prediction-kind"
"""The registry's name for prediction kinds (entry-point group ``mrframe.prediction_kinds``)."""

__all__ = ["KIND", "get", "of_head", "loss_kinds", "disagreement", "head_problems"]


def get(name: str) -> PredictionKind:
    """The prediction kind registered as ``name``; :class:`PluginError` (with a did-you-mean) if there is none."""
    return registry.load(KIND, name)()


def of_head(head: type, config: Any) -> PredictionKind:
    """The kind a head class built with ``config`` predicts (:meth:`~mrframe.interfaces.Head.kind_for`)."""
    name = head.kind_for(config)
    try:
        return get(name)
    except PluginError as error:
        raise PluginError(f"predicts '{name}', which is no installed prediction kind ({error})") from error


def loss_kinds(loss: type) -> tuple[str, ...]:
    """The kinds a loss class takes: the one it is written for, then those it also accepts."""
    return (loss.prediction_kind, *loss.also_accepts)


def disagreement(head: type, head_config: Any, loss: type, head_name: str = "the head",
                 loss_name: str = "the loss") -> str | None:
    """Why a loss cannot train a head (kinds that differ, or a kind nobody registered), or None."""
    try:
        of_head(head, head_config)
    except PluginError as error:
        return f"{head_name} {error}"
    kind = head.kind_for(head_config)
    accepted = loss_kinds(loss)
    if kind in accepted:
        return None
    takes = " or ".join(f"'{k}'" for k in accepted)
    return (f"{loss_name} takes {takes} predictions, but {head_name} predicts '{kind}': choose a loss for '{kind}' "
            f"predictions or a head (setting) that predicts {takes}")


def head_problems(spec: Any) -> list[Problem]:
    """Every head of ``spec`` whose loss takes another prediction kind, as problems at ``heads.NAME.loss``."""
    problems = []
    for task, head in spec.heads.items():
        why = disagreement(head.component.cls, head.component.config, head.loss.cls,
                           f"head '{head.component.plugin}'", f"loss '{head.loss.plugin}'")
        if why is not None:
            problems.append(Problem(f"heads.{task}.loss", why))
    return problems
