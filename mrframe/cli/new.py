"""``mrframe new plugin NAME``: a ready plugin distribution, written from the example template.

The template is the example plugin distribution (``plugins/mrframe-example`` in the repository, shipped inside
the package as ``mrframe/templates/plugin``): a source and an encoder with their entry points, configs,
conformance-kit tests and an example spec. Writing it for ``NAME`` renames the distribution
(``mrframe-example`` -> ``mrframe-NAME``), the package (``mrframe_example`` -> ``mrframe_NAME``) and the
plugins' entry-point names (``example-csv`` -> ``NAME-csv``); ``NAME = example`` gives the template back as is.
"""

from __future__ import annotations

import importlib.resources
import pathlib
import re
import shutil
from importlib.resources.abc import Traversable

import click

from mrframe.cli.options import debug_option
from mrframe.errors import MrframeError

TEMPLATE_NAME = "example"
SKIPPED = re.compile(r"__pycache__|\.pytest_cache|.*\.egg-info|build|dist|.*\.pyc")
"""What installing or testing the template leaves beside it: never copied."""

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def template() -> Traversable:
    """The template's folder inside the installed package."""
    return importlib.resources.files("mrframe") / "templates" / "plugin"


def renames(name: str) -> dict[str, str]:
    """Template identifier -> the new distribution's, in the order they are replaced."""
    return {
        f"mrframe-{TEMPLATE_NAME}": f"mrframe-{name}",
        f"mrframe_{TEMPLATE_NAME}": f"mrframe_{name.replace('-', '_')}",
        f"{TEMPLATE_NAME}-csv": f"{name}-csv",
        f"{TEMPLATE_NAME}-ema": f"{name}-ema",
    }


def write_plugin(name: str, out: pathlib.Path) -> pathlib.Path:
    """Write the plugin distribution ``mrframe-NAME`` into ``out`` and return its folder; nothing is overwritten."""
    name = name.removeprefix("mrframe-")
    if not _NAME.match(name):
        raise MrframeError(f"plugin name {name!r}: use lowercase letters and digits, words joined by '-' "
                           "(e.g. acme or acme-sensors)")
    target = out / f"mrframe-{name}"
    if target.exists():
        raise MrframeError(f"{target}: already exists; choose another NAME or --out folder (nothing was written)")
    try:
        _copy(template(), target, renames(name))
    except OSError as error:
        shutil.rmtree(target, ignore_errors=True)
        raise MrframeError(f"--out {out}: cannot write {target.name} there ({error.strerror or error}); choose "
                           "another --out folder (nothing was left behind)") from None
    return target


def _copy(source: Traversable, target: pathlib.Path, names: dict[str, str]) -> None:
    target.mkdir(parents=True)
    for item in sorted(source.iterdir(), key=lambda t: t.name):
        if SKIPPED.fullmatch(item.name):
            continue
        destination = target / _rename(item.name, names)
        if item.is_dir():
            _copy(item, destination, names)
            continue
        content = item.read_bytes()
        try:
            content = _rename(content.decode("utf-8"), names).encode("utf-8")
        except UnicodeDecodeError:
            pass  # a binary file is copied as it is
        destination.write_bytes(content)


def _rename(text: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        text = text.replace(old, new)
    return text


@click.group()
def new() -> None:
    """Write something new from a template.

    \b
    Example:
      mrframe new plugin acme
    """


@new.command()
@click.argument("name")
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=pathlib.Path), default=pathlib.Path("."),
              show_default=True, help="Folder in which the distribution's folder mrframe-NAME is written.")
@debug_option
def plugin(name: str, out: pathlib.Path, debug: bool) -> None:
    """Write a plugin distribution mrframe-NAME: a source NAME-csv and an encoder NAME-ema with their configs
    and entry points, tests that run the conformance kit, and an example spec with data.

    \b
    Example:
      mrframe new plugin acme
      pip install -e mrframe-acme && pytest mrframe-acme/tests
    """
    folder = write_plugin(name, out)
    short = folder.name.removeprefix("mrframe-")
    click.echo(f"wrote {folder}: source '{short}-csv', encoder '{short}-ema', tests, example spec")
    click.echo("next:")
    click.echo(f"  pip install -e {folder}")
    click.echo(f"  pytest {folder / 'tests'}                # the conformance kit and the plugins' own tests")
    click.echo(f"  mrframe run {folder / 'example' / 'example.toml'}")
