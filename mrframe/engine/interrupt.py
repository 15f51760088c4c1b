"""Ctrl-C (SIGINT) and SIGTERM during training: finish the current step, save a checkpoint, exit cleanly.

While :func:`deferred_interrupt` is active, the first signal only sets a flag that the training loop reads
after each optimizer step; a second Ctrl-C interrupts at once (``KeyboardInterrupt``). Outside the main
thread (where Python cannot install signal handlers) the flag never rises.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Yields a function that tells whether a stop was requested."""
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    requested: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        requested.append(signum)
        sys.stderr.write(
            f"\n{signal.Signals(signum).name}: stopping after the current step and saving a checkpoint "
            "(Ctrl-C again to abort at once)\n"
        )

    previous = {s: signal.signal(s, handler) for s in SIGNALS}
    try:
        yield lambda: bool(requested)
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
