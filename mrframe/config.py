"""Typed configuration: one attrs class per plugin (and per core section), turned from TOML into objects.

A config class is an ``attrs.frozen`` class whose fields are declared with :func:`field`::

    @attrs.frozen
    class Config:
        d_model: int = field(64, "width of the hidden state", min=1)
        dropout: float = field(0.1, "dropout probability", min=0.0, max=1.0)

:func:`structure` converts a TOML table into such a class and collects **every** problem with its dotted path
(``encoders.daily.d_modle: unknown key (did you mean 'd_model'?)``) instead of stopping at the first.
:func:`describe` lists the fields (name, type, default, one-line doc) for ``mrframe plugins show`` and the
generated spec reference: both come from the same class, so they cannot disagree.

Supported field types: ``bool``, ``int``, ``float``, ``str``, ``pathlib.Path`` (relative to the spec file),
``datetime.date``, ``Literal[...]``, ``X | None``, unions, ``tuple[X, ...]``, ``dict[str, X]``, nested attrs
classes and ``Any``. Values given with ``--set`` on the command line arrive as text (:class:`CliText`) and
are parsed according to the field's type.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import tomllib
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import attrs

from mrframe.errors import Problem, did_you_mean

__all__ = ["CliText", "FieldInfo", "NoConfig", "field", "structure", "unstructure", "describe", "join_path", "show_value"]

_INVALID = object()


class CliText(str):
    """A value typed on the command line (``--set key=value``): parsed by the type of the field it lands in."""


def field(
    default: Any = attrs.NOTHING,
    doc: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    min: float | None = None,  # noqa: A002 - reads naturally at the call site
    max: float | None = None,  # noqa: A002
    check: Callable[[Any], str | None] | None = None,
) -> Any:
    """Declare a config field with a one-line ``doc``, optional bounds and an optional ``check``.

    ``check(value)`` returns an error message or None. Bounds and checks are enforced both when a spec is
    structured (collected with paths) and when the class is constructed directly from Python (ValueError).
    """
    metadata = {"doc": doc, "min": min, "max": max, "check": check}

    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        message = _bounds_problem(attribute, value)
        if message:
            raise ValueError(f"{type(instance).__name__}.{attribute.name}: {message}")

    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata, validator=validate)
    return attrs.field(default=default, metadata=metadata, validator=validate)


@attrs.frozen
class NoConfig:
    """The options of a plugin that takes none (a hook plugin without a ``Config``): any key is unknown."""


def _bounds_problem(attribute: attrs.Attribute, value: Any) -> str | None:
    meta = attribute.metadata
    if isinstance(value, int | float) and not isinstance(value, bool):
        if meta.get("min") is not None and value < meta["min"]:
            return f"must be >= {meta['min']}, got {show_value(value)}"
        if meta.get("max") is not None and value > meta["max"]:
            return f"must be <= {meta['max']}, got {show_value(value)}"
    check = meta.get("check")
    if check is not None and value is not None:
        return check(value)
    return None


# ----------------------------------------------------------------------------------------------- structure


@attrs.define
class _Context:
    problems: list[Problem]
    base_dir: pathlib.Path | None


def structure(
    cls: type,
    data: Any,
    path: str = "",
    problems: list[Problem] | None = None,
    base_dir: pathlib.Path | None = None,
) -> Any:
    """Convert ``data`` (a TOML table) into an instance of the attrs class ``cls``.

    Problems are appended to ``problems`` (each with its dotted path) and None is returned when any was found
    in this table; when ``problems`` is None, a :class:`~mrframe.errors.SpecError` is raised instead.
    Relative ``Path`` fields are resolved against ``base_dir``.
    """
    from mrframe.errors import SpecError

    own = problems is None
    ctx = _Context(problems=[] if own else problems, base_dir=base_dir)
    result = _structure_attrs(cls, data, path, ctx)
    if own and ctx.problems:
        raise SpecError(ctx.problems)
    return None if result is _INVALID else result


def join_path(path: str, key: str | int) -> str:
    """``join_path("a.b", "c") == "a.b.c"``; list items as ``a.b[2]``; odd keys quoted as ``a."field artillery"``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    text = key if key.replace("_", "").replace("-", "").isalnum() else f'"{key}"'
    return f"{path}.{text}" if path else text


def _structure_attrs(cls: type, data: Any, path: str, ctx: _Context) -> Any:
    if isinstance(data, cls):
        return data
    if not isinstance(data, Mapping):
        ctx.problems.append(Problem(path, f"expected a table, got {show_value(data)}"))
        return _INVALID
    fields = {f.alias if getattr(f, "alias", None) else f.name: f for f in attrs.fields(cls) if f.init}
    hints = typing.get_type_hints(cls)
    before = len(ctx.problems)
    for key in data:
        if key not in fields:
            ctx.problems.append(Problem(join_path(path, key), "unknown key" + did_you_mean(str(key), fields)))
    kwargs: dict[str, Any] = {}
    for key, attribute in fields.items():
        key_path = join_path(path, key)
        if key not in data:
            if attribute.default is attrs.NOTHING:
                ctx.problems.append(Problem(key_path, f"missing required key ({describe_type(hints[attribute.name])})"))
            continue
        value = _convert(hints[attribute.name], data[key], key_path, ctx)
        if value is _INVALID:
            continue
        message = _bounds_problem(attribute, value)
        if message:
            ctx.problems.append(Problem(key_path, message))
            continue
        kwargs[key] = value
    if len(ctx.problems) > before:
        return _INVALID
    try:
        instance = cls(**kwargs)
    except (ValueError, TypeError) as error:
        ctx.problems.append(Problem(path, str(error)))
        return _INVALID
    checker = getattr(instance, "problems", None)
    if callable(checker):
        for key, message in checker():
            ctx.problems.append(Problem(join_path(path, key) if key else path, message))
        if len(ctx.problems) > before:
            return _INVALID
    return instance


def _convert(tp: Any, value: Any, path: str, ctx: _Context) -> Any:  # noqa: C901 - one branch per type
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return _parse_cli_literal(value) if isinstance(value, CliText) else value
    if origin in (typing.Union, types.UnionType):
        return _convert_union(args, value, path, ctx)
    if origin is Literal:
        if value in args:
            return value
        options = ", ".join(show_value(a) for a in args)
        hint = did_you_mean(str(value), [str(a) for a in args]) if isinstance(value, str) else ""
        ctx.problems.append(Problem(path, f"expected one of {options}, got {show_value(value)}{hint}"))
        return _INVALID
    if attrs.has(tp):
        return _structure_attrs(tp, value, path, ctx)
    if origin in (tuple, list) or tp in (tuple, list):
        return _convert_sequence(args, value, path, ctx)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            ctx.problems.append(Problem(path, f"expected a table, got {show_value(value)}"))
            return _INVALID
        item_type = args[1] if args else Any
        out = {k: _convert(item_type, v, join_path(path, str(k)), ctx) for k, v in value.items()}
        return _INVALID if any(v is _INVALID for v in out.values()) else out
    scalar = _convert_scalar(tp, value, ctx)
    if scalar is _INVALID:
        ctx.problems.append(Problem(path, f"expected {describe_type(tp)}, got {show_value(value)}"))
    return scalar


def _convert_union(args: tuple, value: Any, path: str, ctx: _Context) -> Any:
    if value is None and type(None) in args:
        return None
    options = [a for a in args if a is not type(None)]
    if len(options) == 1:
        return _convert(options[0], value, path, ctx)
    for option in options:
        trial = _Context(problems=[], base_dir=ctx.base_dir)
        converted = _convert(option, value, path, trial)
        if not trial.problems:
            return converted
    expected = " or ".join(describe_type(a) for a in options)
    ctx.problems.append(Problem(path, f"expected {expected}, got {show_value(value)}"))
    return _INVALID


def _convert_sequence(args: tuple, value: Any, path: str, ctx: _Context) -> Any:
    if isinstance(value, CliText):
        parsed = _parse_cli_literal(value)
        value = parsed if isinstance(parsed, list) else [CliText(v.strip()) for v in value.split(",") if v.strip()]
    if isinstance(value, str) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        ctx.problems.append(Problem(path, f"expected a list, got {show_value(value)}"))
        return _INVALID
    item_type = args[0] if args else Any
    if len(args) > 1 and args[-1] is not Ellipsis:  # fixed-length tuple[X, Y]
        items = list(value)
        if len(items) != len(args):
            ctx.problems.append(Problem(path, f"expected a list of {len(args)} items, got {len(items)}"))
            return _INVALID
        out = [_convert(t, v, join_path(path, i), ctx) for i, (t, v) in enumerate(zip(args, items, strict=True))]
    else:
        out = [_convert(item_type, v, join_path(path, i), ctx) for i, v in enumerate(value)]
    return _INVALID if any(v is _INVALID for v in out) else tuple(out)


def _convert_scalar(tp: Any, value: Any, ctx: _Context) -> Any:  # noqa: C901
    cli = isinstance(value, CliText)
    if tp is bool:
        if isinstance(value, bool):
            return value
        if cli and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if cli:
            try:
                return int(value)
            except ValueError:
                pass
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if cli:
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is str:
        if isinstance(value, str):
            return str(value)
    elif tp is pathlib.Path:
        if isinstance(value, str | pathlib.Path) and str(value):
            path = pathlib.Path(value).expanduser()
            return path if path.is_absolute() or ctx.base_dir is None else ctx.base_dir / path
    elif tp is dt.date:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    return _INVALID


def _parse_cli_literal(text: str) -> Any:
    """Parse ``text`` as a TOML value (``3``, ``[1, 2]``, ``{a = 1}``); plain text stays text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return str(text)


# ------------------------------------------------------------------------------------------- presentation


def describe_type(tp: Any) -> str:
    """How a type reads in an error message: ``a number``, ``one of 'a', 'b'``, ``a list of integers``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(a) for a in args if a is not type(None))
    if origin is Literal:
        return "one of " + ", ".join(show_value(a) for a in args)
    if origin in (tuple, list):
        return f"a list of {_plural(describe_type(args[0]))}" if args else "a list"
    if origin is dict or attrs.has(tp):
        return "a table"
    names = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        pathlib.Path: "a path",
        dt.date: "a date (YYYY-MM-DD)",
    }
    return names.get(tp, "anything" if tp is Any else getattr(tp, "__name__", str(tp)))


def _plural(text: str) -> str:
    for article in ("an ", "a "):
        if text.startswith(article):
            text = text[len(article):]
            return text + "s" if not text.endswith(")") else text
    return text


def type_name(tp: Any) -> str:
    """Short type label for tables: ``int``, ``float | None``, ``list[str]``, ``'zscore' | 'robust'``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(show_value(a) for a in args)
    if origin in (tuple, list):
        return f"list[{type_name(args[0])}]" if args else "list"
    if origin is dict:
        return f"table[{type_name(args[1])}]" if args else "table"
    if tp is type(None):
        return "None"
    if attrs.has(tp):
        return "table"
    return {pathlib.Path: "path", dt.date: "date"}.get(tp, getattr(tp, "__name__", str(tp)))


def show_value(value: Any) -> str:
    """A value as it would be written in TOML: ``"two"``, ``true``, ``[1, 2]``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {show_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    if value is None:
        return "nothing"
    if isinstance(value, pathlib.Path):
        return show_value(str(value))
    return str(value)


@attrs.frozen
class FieldInfo:
    """One config field as shown by ``mrframe plugins show`` and the spec reference."""

    name: str
    type: str
    default: str
    doc: str
    required: bool


def describe(cls: type) -> list[FieldInfo]:
    """The fields of the config class ``cls``, in declaration order."""
    hints = typing.get_type_hints(cls)
    rows = []
    for attribute in attrs.fields(cls):
        if not attribute.init:
            continue
        default = attribute.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        required = default is attrs.NOTHING
        rows.append(
            FieldInfo(
                name=attribute.alias if getattr(attribute, "alias", None) else attribute.name,
                type=type_name(hints[attribute.name]),
                default="(required)" if required else "none" if default is None else show_value(unstructure(default)),
                doc=attribute.metadata.get("doc", ""),
                required=required,
            )
        )
    return rows


def unstructure(value: Any) -> Any:
    """The TOML-ready form of a config value: tables for attrs classes, lists for tuples, str for paths.

    ``None`` values are dropped from tables (TOML has no null; a missing key means the default, None).
    """
    if attrs.has(type(value)):
        out = {}
        for attribute in attrs.fields(type(value)):
            if attribute.init:
                item = unstructure(getattr(value, attribute.name))
                if item is not None:
                    out[attribute.alias if getattr(attribute, "alias", None) else attribute.name] = item
        return out
    if isinstance(value, Mapping):
        return {str(k): unstructure(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [unstructure(v) for v in value]
    if isinstance(value, pathlib.Path):
        return str(value)
    return value
