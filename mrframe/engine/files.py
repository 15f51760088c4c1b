"""Atomic file writes for the run directory: a crash leaves the old file or the new one, never a torn one."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import IO, Any


def atomic_write(path: pathlib.Path, write: Callable[[IO[Any]], None], binary: bool = True) -> None:
    """Call ``write(handle)`` on a temporary file beside ``path``, fsync it, rename it over ``path`` and fsync
    the folder (so the rename itself survives a crash)."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb" if binary else "w", **({} if binary else {"encoding": "utf-8"})) as handle:
        write(handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)
