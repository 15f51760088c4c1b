"""Checks fusion blocks make on the state they receive."""

from __future__ import annotations

from mrframe.errors import PluginError
from mrframe.observed import Stream


def require_monthly(stream: Stream | None, block: str) -> Stream:
    """The monthly stream, or an error that says how to get one (raised on the first batch)."""
    if stream is None:
        raise PluginError(f"{block} needs a monthly stream: add a monthly source with an encoder, or a "
                          "month-aggregate block before it")
    return stream
