"""Shared fixtures of the engine tests: a tiny spec that trains in about a second, and test-only plugins."""

from __future__ import annotations

import contextlib
import pathlib
import textwrap
from typing import Literal

import attrs
import numpy as np
import pytest
import torch
from torch import nn

from mrframe import registry
from mrframe.config import field
from mrframe.hooks import hookimpl
from mrframe.observed import Stream

pytest.importorskip("mrframe_osint", reason="the engine tests train with the first-party plugins")
RecurrentEncoder = pytest.importorskip("mrframe_han.recurrent").RecurrentEncoder

TINY = """\
version = 1

[run]
name = "tiny"
seed = 3

[data]
daily_window = 14
monthly_window = 3
split = {{ train_from = 2022-01-15, val_from = 2022-05-01, test_from = 2022-06-10 }}

[model]
d_model = 8

[sources.daily]
plugin = "synthetic"
start = 2022-01-01
periods = 200
features = 3
missing = {missing}

[sources.monthly]
plugin = "synthetic"
resolution = "monthly"
start = 2021-10-01
periods = 10
features = 2
missing = 0.2
seed = 1

[encoders.daily]
plugin = "{encoder}"
{encoder_keys}

[encoders.monthly]
plugin = "recurrent"

[heads.next]
plugin = "regression"
target = {{ source = "daily", horizon = 3 }}
loss = {{ plugin = "masked-mse" }}

[train]
{train}
"""


TRAIN_DEFAULTS = {"epochs": 2, "batch_size": 16, "lr": 0.003}


def write_spec(folder: pathlib.Path, *, encoder: str = "recurrent", encoder_keys: str = "", missing: float = 0.1,
               train: str = "", extra: str = "", name: str = "tiny.toml") -> pathlib.Path:
    """A tiny spec file in ``folder``: ``encoder_keys`` add lines to [encoders.daily], ``train`` to [train];
    ``extra`` appends whole tables."""
    train = textwrap.dedent(train)
    keys = {line.split("=")[0].strip() for line in train.splitlines() if "=" in line}
    defaults = "".join(f"{k} = {v}\n" for k, v in TRAIN_DEFAULTS.items() if k not in keys)
    train = defaults + train
    text = TINY.format(encoder=encoder, encoder_keys=textwrap.dedent(encoder_keys), missing=missing,
                       train=train) + textwrap.dedent(extra)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def spec_writer():
    """:func:`write_spec` itself, for fixtures with a wider scope than a test."""
    return write_spec


@pytest.fixture
def tiny_spec(tmp_path: pathlib.Path):
    """``tiny_spec(**kwargs)`` writes a tiny spec into the test's tmp_path (see :func:`write_spec`)."""

    def make(**kwargs) -> pathlib.Path:
        return write_spec(tmp_path, **kwargs)

    return make


@contextlib.contextmanager
def single_thread():
    """Tiny models run fastest on one intra-op thread (and a thread count changes float reduction order,
    so runs compared bit for bit must share it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def one_thread():
    with single_thread():
        yield


@pytest.fixture(scope="session")
def threads():
    """:func:`single_thread`, for fixtures with a wider scope than a test."""
    return single_thread


# ------------------------------------------------------------------------------------------ NaN injection


@attrs.frozen
class BombConfig:
    anchors: tuple[str, ...] = field((), "anchor days whose samples turn non-finite")
    at_step: int | None = field(None, "turn every sample non-finite while this many optimizer steps are done")
    kind: Literal["nan", "inf", "backward", "huge"] = field(
        "nan", "forward NaN (log of -1), +inf, a NaN gradient only, or finite gradients too large for a float32 norm")
    once: bool = field(True, "disarm once the guard has reported it")
    layers: int = field(1, "stacked GRU layers", min=1)
    dropout: float = field(0.0, "dropout between GRU layers", min=0.0, max=1.0)
    compress_counts: bool = field(True, "sign(x)*log1p(|x|) on count features, as the recurrent encoder does")


class Bomb(nn.Module):
    """Turns the hidden state of chosen samples (or of every sample at a chosen step) non-finite."""

    def __init__(self, config: BombConfig, control: dict):
        super().__init__()
        self.config = config
        self.control = control
        days = [int(np.datetime64(a, "D").astype(np.int64)) for a in config.anchors]
        self.register_buffer("days", torch.tensor(days, dtype=torch.long), persistent=False)

    def forward(self, hidden: torch.Tensor, anchor_day: torch.Tensor) -> torch.Tensor:
        if not (self.control["armed"] or not self.config.once):
            return hidden
        rows = torch.isin(anchor_day, self.days)
        if self.training and self.config.at_step is not None and self.control["steps"] == self.config.at_step:
            rows = torch.ones_like(rows)
        rows = rows.view(-1, 1, 1)
        if self.config.kind == "backward":  # finite forward; d sqrt(z)/dz at z = 0 is inf (batch-wide)
            return hidden + torch.sqrt(hidden - hidden.detach()) if bool(rows.any()) else hidden
        if self.config.kind == "huge":  # finite forward and gradients, but each gradient is ~1e20 or more
            return _Amplify.apply(hidden) if bool(rows.any()) else hidden
        if self.config.kind == "nan":
            return hidden + torch.log(torch.where(rows, -1.0, 1.0))
        return hidden - torch.log(torch.where(rows, 0.0, 1.0))


class _Amplify(torch.autograd.Function):
    """Identity forward; multiplies the gradient by 1e24 (finite in float32, its square is not)."""

    @staticmethod
    def forward(ctx, x):  # noqa: ANN001, ANN205
        return x.clone()

    @staticmethod
    def backward(ctx, grad):  # noqa: ANN001, ANN205
        return grad * 1e24


class BombEncoder(RecurrentEncoder):
    """The recurrent encoder followed by a :class:`Bomb` (qualified name ``...encoders.SOURCE.bomb``)."""

    Config = BombConfig
    control: dict = {}

    def __init__(self, config: BombConfig, source, d_model: int):  # noqa: ANN001
        super().__init__(config, source, d_model)
        self.bomb = Bomb(config, type(self).control)

    def forward(self, x, calendar):  # noqa: ANN001
        stream = super().forward(x, calendar)
        return Stream(self.bomb(stream.hidden, calendar.anchor_day), stream.present)


class BombTracker:
    """Hook plugin that tells the bomb how many steps are done and disarms it once reported."""

    def __init__(self, control: dict):
        self.control = control

    @hookimpl
    def mrframe_step_end(self, run, record) -> None:  # noqa: ANN001
        self.control["steps"] = record.step

    @hookimpl
    def mrframe_nonfinite(self, run, report) -> None:  # noqa: ANN001
        self.control["reported"] = True
        self.control["armed"] = False


@pytest.fixture
def bomb():
    """Registers the encoder plugin ``bomb`` in-process; yields the :class:`BombTracker` that a trainer's
    hooks need for ``at_step`` and ``once`` (its ``control``: ``steps``, ``armed``, ``reported``)."""
    control = {"steps": 0, "armed": True, "reported": False}
    BombEncoder.control = control
    with registry.registered("encoder", "bomb", BombEncoder):
        yield BombTracker(control)
