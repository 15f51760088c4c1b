"""docs/engine.md documents every [train] key (the config classes are the single source of the keys)."""

from __future__ import annotations

import pathlib

from mrframe.config import describe
from mrframe.engine.config import EarlyStoppingConfig, TrainConfig

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "engine.md"


def test_every_train_key_is_documented():
    text = DOC.read_text(encoding="utf-8")
    for cls in (TrainConfig, EarlyStoppingConfig):
        for row in describe(cls):
            assert f"| `{row.name}` |" in text, f"docs/engine.md does not document train key '{row.name}'"
