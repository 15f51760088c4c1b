"""The kit's promises: one named, separately runnable check per promise a plugin kind makes.

Each ``mrframe.testing`` module registers its kind's promises with :func:`promise`, in the order they run. A
promise is a function ``check(cls, label, **options)`` that raises :class:`ConformanceError` when the plugin
breaks it, or :class:`NotApplicable` when it says nothing about this plugin (a permutation check for an encoder
without regions). :func:`run_promises` runs every promise of a kind and reports every broken one together, and
the pytest plugin makes one test item per promise, so one broken promise never hides the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs

from mrframe.testing.common import ConformanceError, resolve


class NotApplicable(Exception):
    """Raised by a promise that says nothing about this plugin (the pytest item is skipped with the reason)."""


@attrs.frozen
class Promise:
    """One promise of a plugin kind: its name (``causal``), the one-line statement, and the check."""

    kind: str
    name: str
    doc: str
    check: Callable[..., None]


_PROMISES: dict[str, list[Promise]] = {}


def promise(kind: str, name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Register the decorated ``check(cls, label, **options)`` as promise ``name`` of ``kind``; the first line of
    its docstring states the promise."""

    def register(check: Callable[..., None]) -> Callable[..., None]:
        doc = (check.__doc__ or name).strip().splitlines()[0]
        found = _PROMISES.setdefault(kind, [])
        if any(p.name == name for p in found):
            raise ValueError(f"{kind} promise '{name}' is registered twice")
        found.append(Promise(kind, name, doc, check))
        return check

    return register


def promises(kind: str) -> list[Promise]:
    """The promises of ``kind``, in the order they run."""
    import mrframe.testing  # noqa: F401 - importing the kit registers every kind's promises

    return list(_PROMISES.get(kind, ()))


def find(kind: str, name: str) -> Promise:
    """The promise ``name`` of ``kind``; an error listing the kind's promises otherwise."""
    for each in promises(kind):
        if each.name == name:
            return each
    known = ", ".join(p.name for p in promises(kind))
    raise ValueError(f"{kind} has no promise '{name}'; its promises are {known}")


def failures(kind: str, plugin: type | str, only: tuple[str, ...] | None = None,
             **options: Any) -> Iterator[tuple[Promise, ConformanceError]]:
    """Run the promises of ``kind`` (those named in ``only``, or all) on ``plugin``; yield each broken one (a
    promise that raised something other than :class:`ConformanceError` too, as one)."""
    cls, label = resolve(kind, plugin)
    for each in promises(kind):
        if only is not None and each.name not in only:
            continue
        try:
            each.check(cls, label, **options)
        except NotApplicable:
            continue
        except ConformanceError as error:
            yield each, error
        except Exception as error:  # noqa: BLE001 - a crash breaks the promise; later promises still run
            broken = ConformanceError(f"{label}: raised {type(error).__name__}: {error}")
            broken.__cause__ = error
            yield each, broken


def run_promises(kind: str, plugin: type | str, only: tuple[str, ...] | None = None, **options: Any) -> None:
    """Run every promise of ``kind`` on ``plugin``; one :class:`ConformanceError` lists every broken promise."""
    broken = list(failures(kind, plugin, only, **options))
    if len(broken) == 1:
        raise broken[0][1]
    if broken:
        lines = "\n".join(f"  [{p.name}] {error}" for p, error in broken)
        raise ConformanceError(f"{len(broken)} promises broken:\n{lines}")
