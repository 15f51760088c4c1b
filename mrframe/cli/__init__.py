"""The ``mrframe`` command line. Each command lives in its own module of this package.

Errors caused by the user's input are printed as one line per problem, without a traceback, and exit with
status 2; a training stopped by the non-finite guard prints its report's paragraph on its own line and exits
with status 3; other errors with a message for the user (a full disk) exit with their own status; each status
has one meaning (:data:`EXIT_STATUSES`, :mod:`mrframe.errors`). ``--debug`` (anywhere on the command line) shows the traceback too. Warnings are
printed once per message as ``warning: ...``, without the source line that raised them.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
import warnings
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

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
from mrframe.errors import (
    EXIT_BAD_INPUT,
    EXIT_CHECK_FAILED,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_NONFINITE,
    EXIT_STORAGE,
    EXIT_UNSUPPORTED,
    MrframeError,
)

EXIT_STATUSES = f"""\b
Exit status:
  0    success
  {EXIT_INTERNAL}    internal error: a bug in mrframe or a plugin (the traceback is printed)
  {EXIT_BAD_INPUT}    bad input: a spec, a data file, a path or an argument (one line per problem)
  {EXIT_NONFINITE}    training stopped on a non-finite loss or gradient (the guard's report is printed)
  {EXIT_STORAGE}    a file of the run could not be written (a full disk; the earlier file is kept)
  {EXIT_CHECK_FAILED}    a check found problems: diagnose (a non-finite sample), plugins --strict (a broken plugin)
  {EXIT_UNSUPPORTED}    export: the model cannot be exported in that format
  {EXIT_INTERRUPTED}  interrupted (Ctrl-C; `mrframe run --resume RUN_DIR` continues)
"""


@click.group(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUSES)
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


def main(argv: list[str] | None = None, report: Callable[[int, str], bool] | None = None) -> None:
    """Console entry point: run the command; user errors exit with their status (:data:`EXIT_STATUSES`)
    without a traceback. ``report(status, line)`` is offered each error's one line first (a worker of a
    multi-process run hands it to its launcher, :func:`mrframe.engine.distributed.record_failure`); the line
    is printed unless it returns True."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args

    def fail(status: int, line: str) -> NoReturn:
        if report is None or not report(status, line):
            click.echo(line, err=True)
        sys.exit(status)

    try:
        with console_warnings():
            cli.main(args=args, prog_name="mrframe", standalone_mode=False)
    except click.ClickException as error:
        if report is not None and report(error.exit_code, f"error: {error.format_message()}"):
            sys.exit(error.exit_code)
        error.show()
        sys.exit(error.exit_code)
    except click.exceptions.Abort:
        fail(EXIT_INTERRUPTED, "aborted")
    except MrframeError as error:
        if debug:
            traceback.print_exc()
        label = "stopped" if error.exit_status == EXIT_NONFINITE else "error"
        fail(error.exit_status, f"{label}: {error}")
    except MemoryError as error:
        if debug:
            traceback.print_exc()
        fail(EXIT_BAD_INPUT, f"error: out of memory ({error or 'no detail'}); lower train.batch_size, the data "
             "windows or model.d_model")
    except KeyboardInterrupt:
        fail(EXIT_INTERRUPTED, "interrupted")


@contextlib.contextmanager
def console_warnings() -> Iterator[None]:
    """Print each distinct warning once, as ``warning: MESSAGE`` (above a progress bar, if one is shown)."""
    shown: set[tuple[type, str]] = set()
    original = warnings.showwarning

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        key = (category, str(message))
        if key in shown:
            return
        shown.add(key)
        from tqdm import tqdm

        tqdm.write(f"warning: {message}", file=sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = original
