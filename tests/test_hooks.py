"""Hook plugins are a plugin kind like the others: registered, validated with their [hooks.NAME] config, built."""

import tomllib
import types

import attrs
import pytest

from mrframe import registry
from mrframe.config import field
from mrframe.errors import PluginError, SpecError
from mrframe.hooks import EpochRecord, contract_problem, hookimpl, plugin_manager
from mrframe.spec import build_spec
from tests.fakes import FAKE_SPEC


@attrs.frozen
class CounterConfig:
    every: int = field(1, "count every N epochs", min=1)
    label: str = field("epochs", "what is counted")


class Counter:
    """Counts epochs."""

    Config = CounterConfig
    built: list["Counter"] = []

    def __init__(self, config: CounterConfig):
        self.config = config
        self.seen: list[int] = []
        Counter.built.append(self)

    @hookimpl
    def mrframe_epoch_end(self, run, record):
        if record.epoch % self.config.every == 0:
            self.seen.append(record.epoch)


class Plain:
    """A hook class without options."""

    calls = 0

    @hookimpl
    def mrframe_run_start(self, run):
        Plain.calls += 1


@pytest.fixture
def hooks(fakes):
    with registry.registered("hook", "counter", Counter), registry.registered("hook", "plain", Plain):
        yield


def spec_with(run_hooks: str, tables: str = ""):
    text = FAKE_SPEC.replace('seed = 3', f'seed = 3\nhooks = {run_hooks}') + tables
    return tomllib.loads(text)


def problems(document):
    with pytest.raises(SpecError) as info:
        build_spec(document)
    return [str(p) for p in info.value.problems]


def test_a_hook_table_configures_the_hook_and_the_run_builds_it_with_that_config(hooks):
    spec = build_spec(spec_with('["counter", "plain"]', '[hooks.counter]\nevery = 2\n'))
    assert list(spec.hooks) == ["counter", "plain"]
    assert spec.hooks["counter"].config == CounterConfig(every=2)
    manager = plugin_manager(named=spec.hooks)
    for epoch in range(4):
        manager.hook.mrframe_epoch_end(run=None, record=EpochRecord(epoch, 0, {}))
    assert Counter.built[-1].seen == [0, 2]
    manager.hook.mrframe_run_start(run=None)
    assert Plain.calls == 1


def test_hook_names_and_configs_are_validated_with_paths_and_suggestions(hooks):
    found = problems(spec_with('["countr", "plain", "plain"]',
                               '[hooks.counter]\nevry = 2\n[hooks.plain]\nx = 1\n[hooks.countr]\nevery = 0\n'))
    found[1] = found[1].split("; installed:")[0]  # the list depends on what else is installed
    assert found == [
        "hooks.counter: configures a hook that [run] hooks does not enable (did you mean 'countr'?); "
        "add 'counter' to [run] hooks or remove the table",
        "run.hooks[0]: no hook plugin named 'countr' (did you mean 'counter'?)",
        "hooks.plain.x: unknown key",
        "run.hooks[2]: hook 'plain' is enabled twice",
    ]
    assert problems(spec_with('["counter"]', '[hooks.counter]\nevery = 0\nplugin = "plain"\n')) == [
        "hooks.counter.plugin: unknown key: a [hooks.NAME] table configures the hook plugin NAME",
        "hooks.counter.every: must be >= 1, got 0",
    ]


def test_hook_configs_survive_the_resolved_spec(hooks):
    spec = build_spec(spec_with('["counter", "plain"]', '[hooks.counter]\nlabel = "steps"\n'))
    document = tomllib.loads(spec.to_toml())
    assert document["hooks"] == {"counter": {"every": 1, "label": "steps"}, "plain": {}}
    assert build_spec(document).to_dict() == spec.to_dict()
    assert "hooks" not in build_spec(tomllib.loads(FAKE_SPEC)).to_dict()


def test_an_unknown_hook_without_any_installed_names_the_first_party_distributions(fakes, monkeypatch):
    monkeypatch.setattr(registry, "_scan", lambda group: ())  # as if no distribution were installed
    assert problems(spec_with('["mlflow"]')) == [
        "run.hooks[0]: no hook plugin named 'mlflow': no hook plugins are installed; the first-party hooks ship "
        "in the distributions 'mrframe-tensorboard', 'mrframe-mlflow' (pip install mrframe-tensorboard mrframe-mlflow, "
        "or pip install -e plugins/mrframe-tensorboard -e plugins/mrframe-mlflow from a checkout)"
    ]


class Misspelled:
    @hookimpl
    def mrframe_epoch_ends(self, run, record):
        pass


class WrongArgument:
    @hookimpl
    def mrframe_epoch_end(self, run, rec):
        pass


class Unmarked:
    def mrframe_epoch_end(self, run, record):
        pass


class DictConfig(Plain):
    Config = dict


@pytest.mark.parametrize(("plugin", "message"), [
    (Misspelled, "unknown hook 'mrframe_epoch_ends'.*did you mean 'mrframe_epoch_end'"),
    (WrongArgument, r"Argument\(s\) \{'rec'\} are declared in the hookimpl but can not be found in the hookspec"),
    (Unmarked, "implements none of the hooks of mrframe.hooks.RunHooks"),
    (types.ModuleType("empty"), "implements none of the hooks"),
    (DictConfig, "must declare its options as an attrs class `Config`"),
    (types.SimpleNamespace(Config=CounterConfig, mrframe_run_start=Plain.mrframe_run_start),
     "declares a Config but is not a class"),
])
def test_the_hook_contract_is_checked_when_registered(plugin, message):
    assert contract_problem(plugin) is not None
    with pytest.raises(PluginError, match=f"hook plugin 'bad' \\(from <registered in-process>\\) .*{message}"):
        registry.register("hook", "bad", plugin)
    assert contract_problem(Counter) is None and contract_problem(Plain) is None
