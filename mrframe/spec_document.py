"""A spec file as a plain document, before validation: reading it, ``--set`` overrides and spec versions.

:func:`read_document` reads the TOML file and applies ``--set KEY.PATH=VALUE`` overrides
(:func:`apply_overrides`: values stay :class:`~mrframe.config.CliText` until the config field they land in
types them). :func:`migrate` brings a document of an older spec version (the top-level ``version``) to
:data:`CURRENT_VERSION`, one :data:`MIGRATIONS` step at a time. :mod:`mrframe.spec` validates the result.
"""

from __future__ import annotations

import copy
import pathlib
import tomllib
from collections.abc import Callable, Iterable
from typing import Any

from mrframe.config import CliText, show_value
from mrframe.errors import MrframeError, Problem, SpecError

CURRENT_VERSION = 1

MIGRATIONS: dict[int, Callable[[dict], dict]] = {}
"""``MIGRATIONS[n]`` turns a version-``n`` document into a version-``n+1`` one."""


def read_document(path: str | pathlib.Path, overrides: Iterable[str] = ()) -> dict[str, Any]:
    """Read a spec file as a plain document and apply ``--set key.path=value`` overrides."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise MrframeError(f"{path}: spec file not found")
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise SpecError([Problem("", f"not valid TOML: {error}")], source=str(path)) from None
    except UnicodeDecodeError as error:
        raise SpecError([Problem("", f"not UTF-8 text: {error}")], source=str(path)) from None
    except RecursionError:
        raise SpecError([Problem("", TOO_DEEP)], source=str(path)) from None
    except OSError as error:
        raise MrframeError(f"{path}: cannot read the spec file ({error.strerror or error})") from None
    return apply_overrides(document, overrides)


TOO_DEEP = "arrays or tables are nested too deeply (a spec needs a few levels, not hundreds)"


def apply_overrides(document: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Set ``a.b.c=value`` in a copy of ``document``. Values stay text until the field they land in types them;
    a numeric part indexes a list (``fusion.0.layers=2``)."""
    try:
        document = copy.deepcopy(document)
    except RecursionError:
        raise SpecError([Problem("", TOO_DEEP)]) from None
    problems = []
    for text in overrides:
        key, sep, value = text.partition("=")
        parts = [p.strip() for p in key.strip().split(".")]
        if not sep or not all(parts):
            problems.append(Problem("--set", f"expected KEY.PATH=VALUE, got {show_value(text)}"))
            continue
        node: Any = document
        for i, part in enumerate(parts[:-1]):
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    problems.append(Problem(f"--set {key}", f"{where}: no list item {part} (the list has {len(node)})"))
                    break
                node = node[int(part)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
                if not isinstance(node, dict | list):
                    problems.append(Problem(f"--set {key}", f"{where} is {show_value(node)}, not a table"))
                    break
            else:
                problems.append(Problem(f"--set {key}", f"{where} is {show_value(node)}, not a table"))
                break
        else:
            last = parts[-1]
            if isinstance(node, list):
                if last.isdigit() and int(last) < len(node):
                    node[int(last)] = CliText(value.strip())
                else:
                    problems.append(Problem(f"--set {key}", f"no list item {last} (the list has {len(node)})"))
            else:
                node[last] = CliText(value.strip())
    if problems:
        raise SpecError(problems)
    return document



def migrate(document: dict[str, Any], problems: list[Problem]) -> dict[str, Any]:
    """``document`` at :data:`CURRENT_VERSION` (its ``version`` checked; a problem is added when it is missing,
    not a positive integer or newer than this mrframe)."""
    version = document.get("version")
    if isinstance(version, CliText) and version.isdigit():
        version = int(version)
    if version is None:
        problems.append(Problem("version", f"missing; add `version = {CURRENT_VERSION}` at the top of the spec"))
        return document
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        problems.append(Problem("version", f"expected a positive integer, got {show_value(version)}"))
        return document
    if version > CURRENT_VERSION:
        problems.append(Problem("version", f"spec version {version} is newer than this mrframe understands "
                                           f"({CURRENT_VERSION}): upgrade mrframe"))
        return document
    while version < CURRENT_VERSION:
        document = MIGRATIONS[version](document)
        version += 1
    document["version"] = version
    return document
