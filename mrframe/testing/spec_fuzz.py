"""A mutation fuzzer for specs: does ``mrframe validate`` refuse every spec that ``mrframe run`` cannot start?

The promise it checks: ``mrframe validate`` never prints a traceback, and a spec it accepts reaches the first
optimizer step of ``mrframe run`` (or fails there only for a reason no spec check can know without the data).
:func:`mutants` derives specs from a valid one by one random edit each (a value of another type or an edge
value, a deleted or unknown key, another plugin, a ``--set`` override, a broken text); :func:`judge` runs both
commands through the CLI's own entry point and sorts the outcome:

==========================  ===================================================================
``rejected``                validate refused it with exit status 2 (good)
``reached``                 validate accepted it and run took its first step (good)
``validate-traceback``      validate raised something other than a user error (bad)
``accepted-then-crashed``   validate accepted it, run raised a traceback before the first step (bad)
``accepted-then-refused``   validate accepted it, run stopped cleanly before the first step (bad unless the
                            reason is in the data files, which validate does not read)
``hang``                    either command ran past the time limit (bad; only the script sees it)
==========================  ===================================================================

``benchmarks/spec_fuzz.py`` runs it over the example specs in a separate process with a time limit; the test
suite runs a few dozen mutants of a tiny spec in-process.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import math
import pathlib
import random
import tomllib
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import tomli_w

from mrframe.hooks import hookimpl

__all__ = ["Mutant", "Verdict", "mutants", "judge", "GOOD", "absolute_paths"]

GOOD = ("rejected", "reached")

EDGE_VALUES: tuple[Any, ...] = (
    0, 1, -1, 2, 3, 7, 1000, 10**6, 10**9, 2**31, 2**63 - 1, -(2**63), 0.0, 0.5, -0.5, 1e-300, 1e30, 1e308,
    math.nan, math.inf, -math.inf, True, False, "", "x", "auto", "none", "2022-02-30", dt.date(2022, 1, 1),
    dt.date(1900, 1, 1), dt.date(2100, 1, 1), [], [0], [1, 2], ["x"], ["tank", "tank"], {}, {"a": 1},
)
EDGE_TEXT = ("", "../../outside", "a/b", "x\x00y", "x" * 300, "..", ".", "ü ñ ✓", " ", "con")


@attrs.frozen
class Mutant:
    """One mutated spec: what was changed, the document (or raw text) and ``--set`` overrides."""

    label: str
    document: dict[str, Any] | None
    text: str | None = None
    overrides: tuple[str, ...] = ()

    def write(self, path: pathlib.Path) -> pathlib.Path:
        if self.text is not None:
            path.write_text(self.text, encoding="utf-8", errors="surrogateescape")
        else:
            path.write_text(tomli_w.dumps(self.document), encoding="utf-8")
        return path


@attrs.frozen
class Verdict:
    label: str
    outcome: str
    detail: str = ""

    @property
    def good(self) -> bool:
        return self.outcome in GOOD


# ------------------------------------------------------------------------------------------------ mutations


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every key path of a document (tables, arrays and scalars), depth first."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield (*prefix, i)
            yield from _paths(value, (*prefix, i))


def _get(document: Any, path: tuple) -> Any:
    for part in path:
        document = document[part]
    return document


def _set(document: Any, path: tuple, value: Any) -> None:
    _get(document, path[:-1])[path[-1]] = value


def _delete(document: Any, path: tuple) -> None:
    parent = _get(document, path[:-1])
    del parent[path[-1]]


def _dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


def _plugin_names() -> dict[str, list[str]]:
    from mrframe import registry

    return {kind: list(registry.names(kind)) for kind in registry.GROUPS}


def _kind_of(path: tuple) -> str | None:
    section = path[0] if path else None
    if section == "heads" and len(path) >= 4 and path[2] == "loss":
        return "loss"
    return {"sources": "source", "encoders": "encoder", "fusion": "fusion", "heads": "head",
            "weighting": "weighting"}.get(section)


def _replace(doc: dict, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, dict]:
    path = rng.choice(list(_paths(doc)))
    value = rng.choice(EDGE_VALUES)
    _set(doc, path, copy.deepcopy(value))
    return f"{_dotted(path)} = {value!r}", doc


def _numeric(doc: dict, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, dict]:
    numbers = [p for p in _paths(doc) if isinstance(_get(doc, p), int | float) and not isinstance(_get(doc, p), bool)]
    if not numbers:
        return _replace(doc, rng, names)
    path = rng.choice(numbers)
    old = _get(doc, path)
    value = rng.choice([0, -1, old * 1000, old * 10**6, -old, old + 1, 1e30, math.nan, math.inf, 2**40, 1e-12])
    if isinstance(old, int) and isinstance(value, float) and math.isfinite(value) and value == int(value) and rng.random() < 0.5:
        value = int(value)
    _set(doc, path, value)
    return f"{_dotted(path)} = {value!r} (was {old!r})", doc


def _text(doc: dict, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, dict]:
    strings = [p for p in _paths(doc) if isinstance(_get(doc, p), str) and p[-1] != "plugin"]
    if not strings:
        return _replace(doc, rng, names)
    path = rng.choice(strings)
    value = rng.choice(EDGE_TEXT)
    _set(doc, path, value)
    return f"{_dotted(path)} = {value!r}", doc


def _delete_key(doc: dict, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, dict]:
    path = rng.choice(list(_paths(doc)))
    _delete(doc, path)
    return f"delete {_dotted(path)}", doc


def _unknown_key(doc: dict, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, dict]:
    tables = [()] + [p for p in _paths(doc) if isinstance(_get(doc, p), dict)]
    path = rng.choice(tables)
    _get(doc, path)["zzz_unknown"] = 1
    return f"add {_dotted((*path, 'zzz_unknown'))}", doc


def _swap_plugin(doc: dict, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, dict]:
    plugins = [p for p in _paths(doc) if p[-1] == "plugin" and isinstance(_get(doc, p), str)]
    if not plugins:
        return _replace(doc, rng, names)
    path = rng.choice(plugins)
    kind = _kind_of(path)
    same = names.get(kind or "", [])
    pool = same if same and rng.random() < 0.8 else [n for group in names.values() for n in group]
    value = rng.choice(pool or ["nonexistent"])
    _set(doc, path, value)
    return f"{_dotted(path)} = {value!r}", doc


def _copy_value(doc: dict, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, dict]:
    paths = list(_paths(doc))
    target, source = rng.choice(paths), rng.choice(paths)
    if target[: len(source)] == source or source[: len(target)] == target:
        return _replace(doc, rng, names)
    _set(doc, target, copy.deepcopy(_get(doc, source)))
    return f"{_dotted(target)} = value of {_dotted(source)}", doc


def _structure(doc: dict, rng: random.Random, names: dict[str, list[str]]) -> tuple[str, dict]:
    """Whole-table edits: duplicate a head or a fusion block, empty a section, drop every encoder."""
    choice = rng.randrange(4)
    if choice == 0 and doc.get("heads"):
        name = rng.choice(list(doc["heads"]))
        doc["heads"][f"{name}_copy"] = copy.deepcopy(doc["heads"][name])
        return f"duplicate heads.{name}", doc
    if choice == 1 and doc.get("fusion"):
        doc["fusion"].append(copy.deepcopy(rng.choice(doc["fusion"])))
        return "duplicate a fusion block", doc
    if choice == 2:
        section = rng.choice([k for k in doc if isinstance(doc[k], dict | list)] or ["run"])
        doc[section] = {} if isinstance(doc.get(section), dict) else []
        return f"empty {section}", doc
    doc["encoders"] = {}
    return "no encoder", doc


EDITS: tuple[Callable[[dict, random.Random, dict[str, list[str]]], tuple[str, dict]], ...] = (
    _replace, _numeric, _numeric, _text, _delete_key, _unknown_key, _swap_plugin, _swap_plugin, _copy_value,
    _structure,
)


def _override(doc: dict, rng: random.Random) -> tuple[str, tuple[str, ...]]:
    paths = [p for p in _paths(doc) if all(isinstance(part, str) for part in p)]
    path = _dotted(rng.choice(paths))
    value = rng.choice(["3", "0", "-1", "nan", "inf", "x", "[1, 2]", "{a = 1}", "true", "", "1e400", "[[[[1]]]]"])
    key = rng.choice([path, f"{path}.inner", f"{path}.0", f"{path}..x", path.upper()])
    return f"--set {key}={value}", (f"{key}={value}",)


def _broken_text(text: str, rng: random.Random) -> tuple[str, str]:
    choice = rng.randrange(4)
    if choice == 0:
        depth = rng.choice([100, 1000, 100000])
        return f"nested {depth} deep", text + f"\n[run]\nzz = {'[' * depth}{']' * depth}\n"
    if choice == 1:
        cut = rng.randrange(len(text))
        return f"truncated at {cut}", text[:cut]
    if choice == 2:
        return "invalid UTF-8", text + "\n# \udce9\n"
    return "repeated [run] table", text + "\n[run]\nseed = 1\n"


def mutants(base: dict[str, Any], count: int, seed: int = 0) -> Iterator[Mutant]:
    """``count`` mutants of the spec document ``base``, reproducibly from ``seed``."""
    rng = random.Random(seed)
    names = _plugin_names()
    text = tomli_w.dumps(base)
    for _ in range(count):
        roll = rng.random()
        if roll < 0.08:
            label, broken = _broken_text(text, rng)
            yield Mutant(label, None, text=broken)
        elif roll < 0.18:
            label, overrides = _override(base, rng)
            yield Mutant(label, copy.deepcopy(base), overrides=overrides)
        else:
            label, document = rng.choice(EDITS)(copy.deepcopy(base), rng, names)
            yield Mutant(label, document)


def absolute_paths(document: dict[str, Any], base_dir: pathlib.Path) -> dict[str, Any]:
    """``document`` with every source's relative ``path`` made absolute (so mutants can live anywhere)."""
    document = copy.deepcopy(document)
    for table in document.get("sources", {}).values():
        if isinstance(table.get("path"), str) and not pathlib.Path(table["path"]).is_absolute():
            table["path"] = str((base_dir / table["path"]).resolve())
    return document


def load_document(path: pathlib.Path) -> dict[str, Any]:
    return absolute_paths(tomllib.loads(path.read_text(encoding="utf-8")), path.resolve().parent)


# ------------------------------------------------------------------------------------------------ judging


class _FirstStep(Exception):
    """Raised by a hook after the first optimizer step: the run got that far."""


class _StopAtFirstStep:
    @hookimpl
    def mrframe_step_end(self, run: Any, record: Any) -> None:
        raise _FirstStep

    @hookimpl
    def mrframe_nonfinite(self, run: Any, report: Any) -> None:
        raise _FirstStep  # a step was taken; the guard handled it


def _cli(arguments: list[str]) -> tuple[int | None, str, BaseException | None]:
    """Run ``mrframe ARGUMENTS`` in this process: (exit status, output, the exception that escaped, if any)."""
    from mrframe.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            main(arguments)
        except SystemExit as exit_:
            return (exit_.code if isinstance(exit_.code, int) else 1), out.getvalue(), None
        except _FirstStep:
            return None, out.getvalue(), _FirstStep()
        except BaseException as error:  # noqa: BLE001 - this is what the fuzzer looks for
            return None, out.getvalue(), error
    return 0, out.getvalue(), None


@contextlib.contextmanager
def _stopping_runs() -> Iterator[None]:
    """``mrframe run`` in this process stops after its first optimizer step."""
    import importlib

    run_module = importlib.import_module("mrframe.cli.run")  # the package exports the command under this name
    original = run_module.plugin_manager

    def manager(builtin: Any = (), named: Any = ()) -> Any:
        return original(builtin=[*builtin, _StopAtFirstStep()], named=named)

    run_module.plugin_manager = manager
    try:
        yield
    finally:
        run_module.plugin_manager = original


def judge(mutant: Mutant, folder: pathlib.Path) -> Verdict:
    """Validate the mutant and, when validate accepts it, run it up to its first optimizer step."""
    folder.mkdir(parents=True, exist_ok=True)
    path = mutant.write(folder / "spec.toml")
    sets = [a for o in mutant.overrides for a in ("--set", o)]
    status, output, error = _cli(["validate", str(path), *sets])
    if error is not None:
        return Verdict(mutant.label, "validate-traceback", f"{type(error).__name__}: {error}"[:300])
    if status != 0:
        return Verdict(mutant.label, "rejected" if status == 2 else "validate-traceback", output.strip()[-300:])
    with _stopping_runs():
        status, output, error = _cli(["run", str(path), *sets, "--out", str(folder / "runs")])
    if isinstance(error, _FirstStep):
        return Verdict(mutant.label, "reached")
    if error is not None:
        return Verdict(mutant.label, "accepted-then-crashed", f"{type(error).__name__}: {error}"[:300])
    if status == 0:
        return Verdict(mutant.label, "reached", "finished without a step hook")
    return Verdict(mutant.label, "accepted-then-refused", output.strip().splitlines()[-1][:300] if output.strip() else "")
