"""The ``mrframe`` command line. Each command lives in its own module of this package.

Errors caused by the user's input are printed as one line per problem, without a traceback, and exit with
status 2 (other errors with a message for the user, such as a full disk, with their own status); ``--debug``
(anywhere on the command line) shows the traceback too.
"""

from __future__ import annotations

import sys
import traceback

import click

from mrframe.cli.backtest import backtest
from mrframe.cli.data import data
from mrframe.cli.diagnose import diagnose
from mrframe.cli.evaluate import evaluate
from mrframe.cli.export import export
from mrframe.cli.new import new
from mrframe.cli.plugins import plugins
from mrframe.cli.predict import predict
from mrframe.cli.run import run
from mrframe.cli.tune import tune
from mrframe.cli.validate import validate
from mrframe.errors import MrframeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mrframe")
def cli() -> None:
    """mrframe: multi-source, multi-resolution time-series models with missing data, from a TOML spec.

    \b
    Example:
      mrframe validate examples/minimal.toml
      mrframe run examples/minimal.toml --set train.epochs=3
    """


cli.add_command(run)
cli.add_command(validate)
cli.add_command(plugins)
cli.add_command(data)
cli.add_command(evaluate)
cli.add_command(predict)
cli.add_command(diagnose)
cli.add_command(new)
cli.add_command(backtest)
cli.add_command(tune)
cli.add_command(export)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the command, turn user errors into exit status 2 without a traceback."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="mrframe", standalone_mode=False)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except MrframeError as error:
        if debug:
            traceback.print_exc()
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_status)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
