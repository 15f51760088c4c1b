"""Options shared by several commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

spec_argument = click.argument("spec", type=click.Path(dir_okay=False, path_type=str))

set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY.PATH=VALUE",
    help="Override a spec key, typed by its config field (repeatable), e.g. --set train.epochs=3.",
)

debug_option = click.option("--debug", is_flag=True, help="Show the traceback of errors.")


def common(command: Callable[..., Any]) -> Callable[..., Any]:
    """SPEC argument, --set and --debug."""
    return spec_argument(set_option(debug_option(command)))
