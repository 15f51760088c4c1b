"""Resuming a run: which saved state to continue from, and whether the run may continue at all.

``mrframe run --resume RUN_DIR`` never starts over a directory that holds a finished or partly finished run:

* the state to continue from is the newest readable one of ``checkpoints/last.pt``, ``last.prev.pt`` (the
  state ``last.pt`` replaced) and ``best.pt`` (each verified: :func:`mrframe.engine.checkpoint.load_checkpoint`);
  when it is not ``last.pt``, the user is told which one and why;
* when none is readable, a directory that records training (:meth:`RunDirectory.records`) is refused with one
  line and left as it is; only a run that never reached its first checkpoint starts from the beginning;
* a spec edited since the checkpoint was written is refused, naming every changed key, unless the only changes
  are to :data:`HARMLESS_CHANGES` and the user allows them (``--allow-changes``); the precision and compilation
  the run trained with (``train.precision``, ``train.compile`` as resolved from ``auto`` and the environment,
  :func:`resolved_settings`) count as keys of the spec, so a resume under another ``$MRFRAME_PRECISION`` is an edit;
* a run whose state is final and whose summary says it ended is left alone ("nothing to resume");
* only when the run will continue is the directory mended (:func:`mend`): unreadable checkpoint files are
  moved aside (``NAME.unreadable.pt``, kept for inspection) and the state resumed from is copied to
  ``last.pt``. Nothing in the directory is written before the run has its state.
"""

from __future__ import annotations

import json
import pathlib
import tomllib
from collections.abc import Mapping
from typing import Any

import attrs

from mrframe.engine.checkpoint import CheckpointError, load_checkpoint, position
from mrframe.engine.compile import wants_compile
from mrframe.engine.device import resolve_device, resolve_precision
from mrframe.engine.early_stopping import EarlyStopping
from mrframe.engine.files import StorageError, atomic_write, free_name
from mrframe.engine.rundir import RunDirectory
from mrframe.errors import MrframeError
from mrframe.spec import Spec

HARMLESS_CHANGES = (
    "train.epochs", "train.checkpoint_every", "train.early_stopping.patience", "train.early_stopping.min_epochs",
    "train.nonfinite", "train.max_skips", "train.max_rollbacks", "train.precision", "train.compile", "run.hooks",
    "hooks.*", "tune.*",
)
"""Spec keys ``--allow-changes`` lets a resumed run continue with, edited (``NAME.*``: every key under
``NAME``): they change how long training goes on, how often it saves, what it does on failures, the precision
and compilation of later steps, the hooks that watch it and the search space of ``mrframe tune``, not what was
trained so far. Changing ``train.epochs`` stretches or shortens the learning-rate schedule from the current step
on; changing the precision or compilation makes the rest of the run differ from an uninterrupted one."""


def harmless(key: str) -> bool:
    """Whether ``key`` (dotted) is one of :data:`HARMLESS_CHANGES`, or is or lies under one of its ``NAME.*``."""
    return any(key == entry or (entry.endswith(".*") and (key == entry[:-2] or key.startswith(entry[:-1])))
               for entry in HARMLESS_CHANGES)


def resolved_settings(spec: Spec) -> dict[str, str]:
    """What ``train.precision`` and ``train.compile`` mean for a run of ``spec`` here and now (``auto`` resolved
    through the device and the environment); checkpoints keep them (``settings``)."""
    precision = resolve_precision(spec.train.precision, resolve_device(spec.train.device))
    return {"train.precision": precision.name, "train.compile": "on" if wants_compile(spec.train.compile) else "off"}

ENDED = ("finished", "stopped early")


@attrs.frozen(eq=False)
class ResumePoint:
    """``state`` to continue from (None: start from the beginning), the ``file`` it came from, the summary's
    status when the run already ended (nothing left to do), lines for the user about fallbacks and allowed
    edits, and the checkpoint files found unreadable."""

    state: dict[str, Any] | None
    file: pathlib.Path | None
    ended: str | None = None
    notes: tuple[str, ...] = ()
    unreadable: tuple[pathlib.Path, ...] = ()

    @property
    def where(self) -> str:
        if self.state is None:
            return "the beginning (no checkpoint was written yet)"
        return f"{_short(self.file)} ({position(self.state)})" if self.file is not None else "?"


def find_resume_point(directory: RunDirectory, spec: Spec, processes: int, allow_changes: bool = False) -> ResumePoint:
    """Choose the state ``directory``'s run continues from; raise a one-line :class:`MrframeError` when it
    cannot continue (nothing readable in a directory that holds a run, an edited spec, another process count).
    Writes nothing: :func:`mend` does, once the run goes ahead."""
    newest: tuple[pathlib.Path, dict[str, Any]] | None = None  # the first of equals: last, last.prev, best
    problems: list[tuple[pathlib.Path, str]] = []
    for file in (directory.last, directory.last_prev, directory.best):
        if not (file.exists() or file.is_symlink()):
            continue
        try:
            state = load_checkpoint(file)
        except CheckpointError as error:
            problems.append((file, str(error)))
            continue
        if newest is None or _progress(state) > _progress(newest[1]):
            newest = (file, state)
    if newest is None:
        records = directory.records()
        if records:
            why = "; ".join(p for _, p in problems) or "checkpoints/last.pt, last.prev.pt and best.pt are missing"
            raise MrframeError(f"{directory.path}: nothing to resume from ({why}); the directory holds a run "
                               f"({', '.join(records[:4])}{', ...' if len(records) > 4 else ''}) and is left as it "
                               f"is; start a new run with: mrframe run {directory.spec}")
        return ResumePoint(None, None)
    file, state = newest
    notes = [p for _, p in problems]
    if file != directory.last:
        missing = "" if any(f == directory.last for f, _ in problems) else f"{_short(directory.last)} is missing; "
        notes.append(f"{missing}using {_short(file)}, the newest readable state")
    if state["processes"] != processes:
        raise MrframeError(f"{directory.path}: the run trained with {state['processes']} process(es); resume it "
                           f"with --nproc {state['processes']} to continue exactly")
    notes += check_spec_edits(directory, file, state, spec, allow_changes)
    return ResumePoint(state, file, _ended(directory, state, spec), tuple(notes), tuple(f for f, _ in problems))


def mend(directory: RunDirectory, point: ResumePoint) -> list[str]:
    """Before a resumed run goes on: rename each unreadable checkpoint file to ``NAME.unreadable.pt`` and,
    when the state came from another file, copy that file to ``last.pt`` (so the directory holds its latest
    state under its usual name even if no step follows). Returns a line per change."""
    lines = []
    try:
        for file in point.unreadable:
            target = free_name(file, "unreadable")
            file.rename(target)
            lines.append(f"{_short(file)} moved to {_short(target)}")
        if point.file is not None and point.file != directory.last and not directory.last.exists():
            content = point.file.read_bytes()
            atomic_write(directory.last, lambda handle: handle.write(content))
            lines.append(f"{_short(point.file)} copied to {_short(directory.last)}")
    except OSError as error:
        raise StorageError(f"{directory.path}: cannot mend checkpoints/ ({error.strerror})") from error
    return lines


def spec_changes(before: Mapping[str, Any], after: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any, Any]]:
    """``(dotted key, old, new)`` for every key whose value differs between two spec documents (a key only in
    one of them has None on the other side); lists of tables are compared item by item."""
    out = []
    for key in [*before, *(k for k in after if k not in before)]:
        old, new, path = before.get(key), after.get(key), f"{prefix}{key}"
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            out += spec_changes(old, new, f"{path}.")
        elif _tables(old) and _tables(new) and len(old) == len(new):
            for i, (a, b) in enumerate(zip(old, new, strict=True)):
                out += spec_changes(a, b, f"{path}.{i}.")
        elif old != new:
            out.append((path, old, new))
    return out


def check_spec_edits(
    directory: RunDirectory, file: pathlib.Path, state: Mapping[str, Any], spec: Spec, allow_changes: bool
) -> list[str]:
    """Refuse a spec edited since ``state`` was written, naming the changed keys, unless all of them are
    harmless and allowed; returns a line per allowed change. The resolved precision and compilation count
    as keys."""
    changes = spec_changes(tomllib.loads(state["spec"]), tomllib.loads(spec.to_toml()))
    known = {k for k, _, _ in changes}
    now = resolved_settings(spec)
    changes += [(f"{key} (resolved)", old, now[key]) for key, old in state["settings"].items()
                if key in now and key not in known and old != now[key]]
    if not changes:
        return []
    shown = ", ".join(f"{k} ({_show(a)} -> {_show(b)})" for k, a, b in changes)
    harmful = [k for k, _, _ in changes if not harmless(k.removesuffix(" (resolved)"))]
    where = f"{directory.spec} differs from the spec {_short(file)} was trained with: {shown}"
    if harmful:
        raise MrframeError(f"{where}; a resumed run continues the same training, so restore "
                           f"{', '.join(harmful)} (or start a new run with the edited spec)")
    if not allow_changes:
        raise MrframeError(f"{where}; pass --allow-changes to continue with the edit (allowed for "
                           f"{', '.join(HARMLESS_CHANGES)})")
    return [f"continuing with the edited spec: {shown}"]


def _ended(directory: RunDirectory, state: Mapping[str, Any], spec: Spec) -> str | None:
    """The summary's status when the state is final (every epoch done, or early stopping said stop) and the
    summary says the run ended; else None."""
    stopper = EarlyStopping(spec.train.early_stopping)
    stopper.load_state_dict(state["progress"]["early_stopping"])
    if state["epoch"] < spec.train.epochs and not stopper.should_stop:
        return None
    try:
        status = json.loads(directory.summary.read_text(encoding="utf-8")).get("status")
    except (OSError, ValueError, AttributeError):
        return None
    return status if status in ENDED else None


def _progress(state: Mapping[str, Any]) -> tuple[int, int, int]:
    return state["epoch"], state["batch"], state["step"]


def _tables(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, Mapping) for v in value)


def _short(file: pathlib.Path) -> str:
    return f"{file.parent.name}/{file.name}"


def _show(value: Any) -> str:
    return "unset" if value is None else json.dumps(value, default=str)
