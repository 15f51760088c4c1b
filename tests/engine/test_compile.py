"""``train.compile``: blocks compile in place, and a block that cannot compile runs eagerly with one line."""

from __future__ import annotations

import pytest
import torch

from mrframe.data.pipeline import prepare
from mrframe.engine import compile as compiling
from mrframe.engine.trainer import Trainer
from mrframe.errors import PluginError
from mrframe.spec import load_spec


def trainer_for(path) -> Trainer:  # noqa: ANN001
    spec = load_spec(path)
    return Trainer(spec, prepare(spec))


def two_steps(trainer: Trainer) -> list[float]:
    plan = trainer.plan(0)
    return [trainer.train_step(trainer.loader.dataset.batch(plan.batch(i))).loss for i in range(2)]


def test_auto_compiles_only_when_the_environment_says_so(monkeypatch):
    monkeypatch.delenv(compiling.COMPILE_VARIABLE, raising=False)
    assert not compiling.wants_compile("auto") and compiling.wants_compile("on") and not compiling.wants_compile("off")
    monkeypatch.setenv(compiling.COMPILE_VARIABLE, "1")
    assert compiling.wants_compile("auto") and not compiling.wants_compile("off")


def unavailable(function, **options):  # noqa: ANN001, ANN003, ANN201
    """What ``torch.compile`` returns on a platform where dynamo cannot run."""

    def call(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("torch.compile is not supported on this platform\n(details)")

    return call


def test_a_platform_without_compilation_trains_eagerly_with_one_line_per_block(tiny_spec, monkeypatch, capsys):
    eager = two_steps(trainer_for(tiny_spec(name="eager.toml", train="compile = 'off'")))
    monkeypatch.setattr(torch, "compile", unavailable)
    trainer = trainer_for(tiny_spec(train="compile = 'on'"))
    assert two_steps(trainer) == eager  # the failed attempt drew no random numbers the eager call then misses
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [f"train.compile: {block} runs eagerly, it could not be compiled (RuntimeError: torch.compile is "
                     "not supported on this platform)" for block in ("encoders.daily", "encoders.monthly", "heads.next")]


def test_a_block_error_is_raised_as_without_compilation(tiny_spec, monkeypatch):
    monkeypatch.setattr(torch, "compile", unavailable)
    spec = load_spec(tiny_spec(extra='[[fusion]]\nplugin = "temporal"\n', train="compile = 'on'"))
    trainer = Trainer(spec, prepare(spec))
    trainer.network.model.fusion[0].forward = lambda state: (_ for _ in ()).throw(PluginError("the block's own"))
    with pytest.raises(PluginError, match="the block's own"):
        two_steps(trainer)


def test_a_failing_backend_falls_back_with_the_reason_and_evaluation_stays_eager(tiny_spec):
    def broken(graph, inputs):  # noqa: ANN001, ANN202
        raise RuntimeError("no C++ compiler")

    trainer = trainer_for(tiny_spec(train="compile = 'off'"))
    lines: list[str] = []
    compiling.compile_blocks(trainer.network.model, report=lines.append, backend=broken)
    batch = trainer.loader.dataset.batch(trainer.plan(0).batch(0))
    with torch.no_grad():  # evaluation runs eagerly: nothing is compiled, nothing falls back
        trainer.network(batch.inputs, batch.calendar)
    assert lines == []
    two_steps(trainer)
    assert len(lines) == 3 and all(line.endswith("(RuntimeError: no C++ compiler)") for line in lines)


def test_compiled_blocks_keep_their_state_dict_and_train_like_eager_ones(tiny_spec):
    """The ``eager`` backend traces every block with dynamo and runs the graphs as they are: the same numbers."""
    eager = trainer_for(tiny_spec(name="eager.toml", train="compile = 'off'"))
    compiled = trainer_for(tiny_spec(train="compile = 'off'"))
    keys = list(compiled.network.state_dict())
    lines: list[str] = []
    compiling.compile_blocks(compiled.network.model, report=lines.append, backend="eager")
    assert list(compiled.network.state_dict()) == keys
    assert two_steps(compiled) == two_steps(eager) and lines == []


def no_backward_compiler():  # noqa: ANN201
    """A backend whose forward graphs compile but whose backward graphs (compiled at the first backward) cannot."""
    from torch._dynamo.backends.common import aot_autograd

    def backward(graph, inputs):  # noqa: ANN001, ANN202
        raise RuntimeError("no backward compiler here")

    return aot_autograd(fw_compiler=lambda graph, inputs: graph, bw_compiler=backward)


def test_a_backward_that_cannot_compile_falls_back_in_one_line(tiny_spec):
    eager = two_steps(trainer_for(tiny_spec(name="eager.toml", train="compile = 'off'")))
    trainer = trainer_for(tiny_spec(train="compile = 'off'"))
    lines: list[str] = []
    compiling.compile_blocks(trainer.network.model, report=lines.append, backend=no_backward_compiler())
    assert two_steps(trainer) == eager  # the step ran again eagerly from the same RNG state
    assert lines == ["train.compile: encoders.daily, encoders.monthly, heads.next run eagerly, the backward pass "
                     "could not be compiled (RuntimeError: no backward compiler here)"]
    assert not compiling.compiled(trainer.network.model)


def test_an_error_of_the_step_itself_is_raised_once_the_eager_step_fails_too(tiny_spec):
    trainer = trainer_for(tiny_spec(train="compile = 'off'"))
    lines: list[str] = []
    compiling.compile_blocks(trainer.network.model, report=lines.append, backend="eager")
    trainer.network.weighting.combine = lambda losses, context: (_ for _ in ()).throw(ValueError("the policy's own"))
    with pytest.raises(ValueError, match="the policy's own"):
        two_steps(trainer)
    assert lines == [] and compiling.compiled(trainer.network.model)  # not taken for a compile failure: raised once


def test_the_guard_replays_a_compiled_step_eagerly_and_names_the_module(tiny_spec, bomb, tmp_path):
    from mrframe.engine.guard import NonFiniteError

    path = tiny_spec(encoder="bomb", train="compile = 'off'", encoder_keys='anchors = ["2022-02-03"]')
    trainer = trainer_for(path)
    trainer.hooks.register(bomb)
    lines: list[str] = []
    compiling.compile_blocks(trainer.network.model, report=lines.append, backend="aot_eager")
    with pytest.raises(NonFiniteError, match=r"`model\.encoders\.daily\.bomb` in the forward pass, at op `log`"):
        trainer.fit()
    assert lines == [] and compiling.compiled(trainer.network.model)  # the replay made no block fall back
