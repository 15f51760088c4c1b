"""Writes that cannot destroy what a run directory already holds.

* :func:`atomic_write`: a crash leaves the old file or the new one, never a torn one; a failed write (a full
  disk, a folder where the file should be) leaves the old file as it was, removes its temporary file and is
  one :class:`StorageError` naming the file.
  With ``keep_previous`` the file it replaces is kept as ``NAME.prev.EXT`` (checkpoints).
* :func:`result_target`: where a result that may not be trusted goes without replacing an earlier one;
  :func:`nonfinite_predictions` says when a result is not to be trusted.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Mapping
from typing import IO, Any

from mrframe.errors import StorageError  # noqa: F401 - re-exported: the run directory's write error


def atomic_write(
    path: pathlib.Path, write: Callable[[IO[Any]], None], binary: bool = True, keep_previous: bool = False
) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, fsync it, rename it over ``path`` and fsync
    the folder (so the rename itself survives a crash).

    With ``keep_previous``, an existing regular file at ``path`` is first renamed to
    :func:`previous_version` (after the new content is safely on disk): at every moment one of the two holds a
    complete file.
    """
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if keep_previous and path.is_file() and not path.is_symlink():
            os.replace(path, previous_version(path))
        os.replace(tmp, path)
        fsync_folder(path.parent)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        reason = error.strerror or type(error).__name__
        raise StorageError(f"{path}: cannot write it ({reason}); the file that was there is unchanged") from error
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def fsync_folder(folder: pathlib.Path) -> None:
    handle = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def previous_version(path: pathlib.Path) -> pathlib.Path:
    """``checkpoints/last.pt`` -> ``checkpoints/last.prev.pt``: where :func:`atomic_write` keeps the file it
    replaced."""
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def free_name(path: pathlib.Path, tag: str) -> pathlib.Path:
    """``NAME.TAG.EXT`` beside ``path``, or ``NAME.TAG-2.EXT``, ``-3``... : the first name not taken."""
    candidate, n = path.with_name(f"{path.stem}.{tag}{path.suffix}"), 1
    while candidate.exists() or candidate.is_symlink():
        n += 1
        candidate = path.with_name(f"{path.stem}.{tag}-{n}{path.suffix}")
    return candidate


def result_target(path: pathlib.Path, problem: str | None) -> tuple[pathlib.Path, str | None]:
    """Where to write a result: ``path``; but when the new result is suspect (``problem`` says why, e.g. "12
    non-finite predictions") and ``path`` already holds an earlier result, a new file beside it
    (``NAME.suspect.EXT``, then ``-2``...), so that the earlier result is never replaced by a suspect one.
    Returns the path and a line for the user (None when there is nothing to say)."""
    if problem is None:
        return path, None
    if not path.exists():
        return path, f"warning: {problem}; written to {path} anyway"
    beside = free_name(path, "suspect")
    return beside, f"warning: {problem}; the earlier {path.name} is kept, this result is written to {beside}"


def nonfinite_predictions(counts: Mapping[str, int]) -> str | None:
    """What makes a result suspect, from the number of non-finite predictions per task (None: none)."""
    bad = {task: int(n) for task, n in counts.items() if n}
    if not bad:
        return None
    return "the model gives non-finite predictions (" + ", ".join(f"{t}: {n}" for t, n in bad.items()) + ")"
