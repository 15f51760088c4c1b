"""Example configs for the conformance kit: each real source reads a small synthetic file of its own format."""

from __future__ import annotations

import pathlib
from typing import Any, ClassVar


class SyntheticExample:
    """Mixin for a source of a real format: ``example_config(directory)`` writes a small synthetic file of
    ``example_format`` into ``directory`` and returns a config of the source that reads it."""

    example_format: ClassVar[str]

    @classmethod
    def example_config(cls, directory: pathlib.Path) -> Any:
        from mrframe_osint.synthetic import (
            example_config,  # synthetic imports the sources: import when called
        )

        return example_config(cls.example_format, directory)
