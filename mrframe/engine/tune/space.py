"""Sampled values -> a trial's spec, and the check that a search space fits the spec it tunes.

A trial's values are applied exactly as ``--set`` overrides (:func:`mrframe.spec.apply_overrides`) to the tuned
spec without its ``[tune]`` section, so every value is typed and validated by the field it lands in, and
``mrframe run SPEC --set KEY=VALUE ...`` reproduces a trial.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator, Mapping
from typing import Any

from mrframe.config import join_path, show_value
from mrframe.engine.tune.config import Distribution
from mrframe.errors import Problem, SpecError
from mrframe.spec import Spec, apply_overrides, build_spec


def as_text(value: Any) -> str:
    """A sampled value as ``--set`` takes it (floats exactly, through ``repr``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def overrides(params: Mapping[str, Any]) -> list[str]:
    """``KEY=VALUE`` overrides for ``params`` (spec key -> value)."""
    return [f"{key}={as_text(value)}" for key, value in params.items()]


def trial_spec(document: Mapping[str, Any], params: Mapping[str, Any], name: str,
               base_dir: pathlib.Path | None = None) -> Spec:
    """The spec of one trial: ``document`` without ``[tune]``, with ``params`` and ``run.name = name``."""
    untuned = {key: value for key, value in document.items() if key != "tune"}
    changed = apply_overrides(untuned, [*overrides(params), f"run.name={name}"])
    return build_spec(changed, base_dir=base_dir)


def sample(trial: Any, space: Mapping[str, Distribution]) -> dict[str, Any]:
    """Values for every key of ``space`` from an Optuna trial (enqueued values come back as they were)."""
    params = {}
    for key, d in space.items():
        if d.distribution == "categorical":
            params[key] = trial.suggest_categorical(key, list(d.choices or ()))
        elif d.distribution == "int":
            params[key] = trial.suggest_int(key, int(d.low), int(d.high), step=int(d.step or 1), log=d.log)
        else:
            params[key] = trial.suggest_float(key, d.low, d.high, log=d.distribution == "log-uniform", step=d.step)
    return params


def _probes(space: Mapping[str, Distribution]) -> Iterator[dict[str, Any]]:
    """Every key at its low end, at its high end, and each further categorical choice with the others low."""
    low = {k: d.choices[0] if d.distribution == "categorical" else _number(d, d.low) for k, d in space.items()}
    yield low
    yield {k: d.choices[-1] if d.distribution == "categorical" else _number(d, d.high) for k, d in space.items()}
    for key, d in space.items():
        for choice in (d.choices or ())[1:-1]:
            yield low | {key: choice}


def _number(d: Distribution, value: float | None) -> Any:
    return int(value) if d.distribution == "int" else float(value)


def _blamed(path: str, space: Mapping[str, Distribution]) -> str | None:
    """The tuned key a problem at ``path`` is about (its own path, a table above it, or a key below it)."""
    plain = path.removeprefix("--set ").replace('"', "").replace("[", ".").replace("]", "")
    for key in space:
        if plain == key or key.startswith(plain + ".") or plain.startswith(key + "."):
            return key
    return None


def problems(document: Mapping[str, Any], space: Mapping[str, Distribution],
             base_dir: pathlib.Path | None = None) -> list[Problem]:
    """What is wrong with tuning ``space`` on the spec ``document``: keys that do not exist and values at the
    ends of the ranges (and every categorical choice) that make an invalid spec, at ``tune.space."KEY"``."""
    found: dict[tuple[str, str], Problem] = {}
    for values in _probes(space):
        try:
            trial_spec(document, values, "probe", base_dir)
        except SpecError as error:
            for problem in error.problems:
                key = _blamed(problem.path, space)
                where = join_path(join_path("tune", "space"), key) if key else join_path("tune", "space")
                shown = {key: values[key]} if key else values
                setting = ", ".join(f"{k} = {show_value(v)}" for k, v in shown.items())
                found.setdefault((where, str(problem)), Problem(where, f"{problem} (with {setting})"))
    return list(found.values())
