"""Faults to plant in a run directory: flipped bits in a checkpoint's tensors, a full disk; a snapshot to tell
whether anything in the directory changed, and the processes still running for a run. mrframe's own reliability tests and ``benchmarks/faults.py``
use them; tools built around run directories can test themselves with them too.
"""

from __future__ import annotations

import contextlib
import errno
import pathlib
import struct
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from mrframe.engine import files


def flip_bit(checkpoint: pathlib.Path, bit: int = 6) -> str:
    """Flip one bit in the middle of the largest tensor stored in ``checkpoint`` (a ``torch.save`` zip), in
    place, leaving the archive readable; returns the archive member that was changed."""
    with zipfile.ZipFile(checkpoint) as archive:
        member = max((i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size)
    raw = bytearray(checkpoint.read_bytes())
    name_length, extra_length = struct.unpack("<HH", raw[member.header_offset + 26 : member.header_offset + 30])
    start = member.header_offset + 30 + name_length + extra_length
    raw[start + member.file_size // 2] ^= 1 << bit
    checkpoint.write_bytes(bytes(raw))
    return member.filename


class _Limited:
    """A file handle whose writes fail with ENOSPC once more than ``free`` bytes were written through it."""

    def __init__(self, handle: IO[Any], free: int):
        self._handle, self._free = handle, free

    def write(self, data: Any) -> int:
        size = len(data)
        if size > self._free:
            raise OSError(errno.ENOSPC, "No space left on device")
        self._free -= size
        return self._handle.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)

    def __enter__(self) -> _Limited:
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


@contextlib.contextmanager
def full_disk(free: int = 0) -> Iterator[None]:
    """While active, every file the run directory writes (:func:`mrframe.engine.files.atomic_write`) can hold
    at most ``free`` bytes: a longer write fails with ``OSError(ENOSPC)``, as on a nearly full disk."""

    def limited_open(path: Any, mode: str = "r", **kwargs: Any) -> Any:
        handle = open(path, mode, **kwargs)  # noqa: SIM115 - closed by the wrapper
        return _Limited(handle, free) if "w" in mode else handle

    files.open = limited_open  # type: ignore[attr-defined]  # shadows the builtin inside that module only
    try:
        yield
    finally:
        del files.open  # type: ignore[attr-defined]


def snapshot(folder: pathlib.Path) -> dict[str, bytes | None]:
    """Every file's bytes under ``folder`` by relative path (folders: None): equal snapshots, nothing changed."""
    return {p.relative_to(folder).as_posix(): (p.read_bytes() if p.is_file() else None)
            for p in sorted(folder.rglob("*"))}


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line contains ``text`` (Linux: read from /proc; empty elsewhere)."""
    found = []
    for entry in pathlib.Path("/proc").glob("[0-9]*"):
        try:
            if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found
