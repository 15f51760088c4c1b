"""Promises of every configured plugin's ``Config``: one attrs class, a one-line doc per key, and bounds on
the keys whose bounds are obvious from their names (probabilities, dropout, rates, fractions)."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from typing import Any

import attrs

from mrframe.config import describe
from mrframe.testing.common import fail
from mrframe.testing.promises import promise

PROBABILITY = re.compile(r"^(p|prob\w*|\w*_prob|\w*probability\w*|dropout\w*|\w*_dropout|\w*fraction\w*|\w*_rate)$")
"""Names of keys that hold a probability or a fraction: each needs ``min`` and ``max`` within [0, 1]."""


def check_config(label: str, cls: type) -> None:
    """One attrs class ``Config`` whose every key has a one-line doc."""
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and attrs.has(config)):
        fail(label, "must declare its options as one attrs class `Config`")
    for row in describe(config):
        if not row.doc.strip():
            fail(label, f"config key '{row.name}' has no doc: declare it with mrframe.config.field(default, \"doc\")")
        if "\n" in row.doc:
            fail(label, f"config key '{row.name}' needs a one-line doc")


def _numeric(tp: object) -> bool:
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple:
        return bool(args) and _numeric(args[0])
    if args:  # X | None
        return any(_numeric(a) for a in args if a is not type(None))
    return tp in (float, int)


def _keys(config: type, prefix: str = "") -> Iterator[tuple[str, attrs.Attribute, object]]:
    hints = typing.get_type_hints(config)
    for attribute in attrs.fields(config):
        tp = hints[attribute.name]
        if isinstance(tp, type) and attrs.has(tp):
            yield from _keys(tp, f"{prefix}{attribute.name}.")
        else:
            yield f"{prefix}{attribute.name}", attribute, tp


def check_bounds(label: str, cls: type) -> None:
    """Numeric keys named like a probability or fraction (``p``, ``prob*``, ``dropout*``, ``*_rate``) are
    bounded within [0, 1] by ``field(..., min=, max=)``, so a spec cannot set ``dropout = 1.5``."""
    config = getattr(cls, "Config", None)
    if not (isinstance(config, type) and attrs.has(config)):
        return
    for key, attribute, tp in _keys(config):
        if not (_numeric(tp) and PROBABILITY.match(attribute.name)):
            continue
        low, high = attribute.metadata.get("min"), attribute.metadata.get("max")
        if low is None or high is None or low < 0 or high > 1:
            fail(label, f"config key '{key}' reads as a probability or fraction but is bounded to "
                        f"[{'-inf' if low is None else low}, {'inf' if high is None else high}]: declare it with "
                        "mrframe.config.field(default, \"doc\", min=0.0, max=1.0) (or the narrower bounds it takes)")


def config_promises(kind: str) -> None:
    """Register the promises every configured kind makes about its ``Config``: ``config`` and ``config-bounds``."""
    promise(kind, "config")(_documented)
    promise(kind, "config-bounds")(_bounded)


def _documented(cls: type, label: str, **options: Any) -> None:
    """One attrs Config with a one-line doc per key."""
    check_config(label, cls)


def _bounded(cls: type, label: str, **options: Any) -> None:
    """Probability-like keys are bounded within [0, 1]."""
    check_bounds(label, cls)
