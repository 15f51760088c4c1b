"""Options shared by several commands."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

import click

from mrframe.errors import MrframeError

spec_argument = click.argument("spec", type=click.Path(dir_okay=False, path_type=str))

set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
    help="Override a spec key, typed by its config field (repeatable), e.g. --set train.epochs=3.",
)

debug_option = click.option("--debug", is_flag=True, help="Show the traceback of errors.")


def common(command: Callable[..., Any]) -> Callable[..., Any]:
    """SPEC argument, --set and --debug."""
    return spec_argument(set_option(debug_option(command)))


def check_output_file(path: pathlib.Path, option: str = "--out") -> None:
    """Refuse (one line, status 2) an output file the command could not write, before any work is done: its
    folder must exist and be writable, and the path must not be a folder."""
    folder = path.parent if str(path.parent) else pathlib.Path(".")
    if path.is_dir():
        raise MrframeError(f"{option} {path}: is a folder; name the file to write")
    if not folder.is_dir():
        raise MrframeError(f"{option} {path}: the folder {folder} does not exist; create it or choose another path")
    if not os.access(folder, os.W_OK):
        raise MrframeError(f"{option} {path}: the folder {folder} is not writable; choose another path")
