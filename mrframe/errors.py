"""Exceptions whose message is written for the user, and the exit statuses of the ``mrframe`` command.

Every error mrframe raises on bad input is a :class:`MrframeError`. The CLI prints ``str(error)`` (one line per
problem, no traceback unless ``--debug``) and exits with the error's ``exit_status``. Each status has one
meaning, so a script can tell the causes apart:

====  ==========================================================================================================
0     success
1     internal error: a bug in mrframe or a plugin (the traceback is printed)
2     bad input: a spec, a data file, a path or an argument (:class:`MrframeError`)
3     training stopped on a non-finite loss or gradient (:class:`mrframe.engine.guard.NonFiniteError`)
4     a file of the run could not be written, e.g. a full disk (:class:`StorageError`)
5     a check found problems: ``diagnose`` (a non-finite sample), ``plugins --strict`` (a broken plugin)
6     the model cannot be exported in the requested format (``mrframe export``)
130   interrupted (Ctrl-C)
====  ==========================================================================================================

``backtest`` and ``tune`` exit with the status of their first failed fold or worker (:class:`ChildFailed`).
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
EXIT_NONFINITE = 3
EXIT_STORAGE = 4
EXIT_CHECK_FAILED = 5
EXIT_UNSUPPORTED = 6
EXIT_INTERRUPTED = 130


class MrframeError(Exception):
    """Base of every error caused by the user's input (spec, data file, CLI argument), or by the machine, with a
    message for the user. The CLI exits with ``exit_status``: 2 for bad input; subclasses for other causes
    set their own."""

    exit_status: int = EXIT_BAD_INPUT


@attrs.frozen
class Problem:
    """One problem found in a spec: the dotted path of the offending key and what is wrong with it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class SpecError(MrframeError):
    """A spec has one or more problems; all of them are reported at once."""

    def __init__(self, problems: Iterable[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        super().__init__(str(self))

    def __str__(self) -> str:
        head = f"{self.source}: " if self.source else ""
        count = len(self.problems)
        lines = [f"{head}{count} problem{'s' if count != 1 else ''} in the spec:"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class PluginError(MrframeError):
    """A plugin named by a spec is not installed, is ambiguous, or fails to import."""


class StorageError(MrframeError):
    """A file of the run could not be written (no space left, no permission, a folder in the way). The file
    that was there before is unchanged."""

    exit_status = EXIT_STORAGE


class DataError(MrframeError):
    """A data file cannot be read as the source expects. The message names the file, row or column."""


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``choices`` to ``word``, or ``""`` when none is close."""
    import difflib

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


class ChildFailed(MrframeError):
    """A fold or worker process that ``mrframe backtest`` or ``mrframe tune`` started failed: the command exits
    with that process's status (128 + N for a process killed by signal N, as a shell reports it)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.exit_status = status if 0 < status < 256 else 128 - status if -128 < status < 0 else EXIT_INTERNAL
