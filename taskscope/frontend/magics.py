"""``%load_ext taskscope`` and the ``%taskscope start|stop|status|clear`` line magic.

A mistyped subcommand or option raises IPython's UsageError, which IPython shows as one
line of usage, not as a traceback.
"""

from __future__ import annotations

import ast
import shlex
from typing import Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class

from ..runtime import start, status, stop, store_path
from ..views import dataset

USAGE = """\
Usage: %taskscope start [option=value ...]   start recording (options go to taskscope.start)
       %taskscope stop                       stop recording; the rows stay in the store
       %taskscope status                     the runtime's status (also with no subcommand)
       %taskscope clear                      delete the current session's rows
       %taskscope help                       this text"""


def parse_options(words: list[str]) -> dict[str, Any]:
    """``key=value`` words as keyword arguments; values are Python literals or plain text."""
    options: dict[str, Any] = {}
    for word in words:
        key, sep, text = word.partition("=")
        if not sep or not key.isidentifier():
            raise UsageError(f"%taskscope start: expected option=value, got {word!r}\n{USAGE}")
        try:
            options[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            options[key] = text
    return options


def _start(words: list[str]) -> None:
    options = parse_options(words)
    try:
        start(**options)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"%taskscope start: {exc}") from None
    print(f"taskscope: recording to {store_path()}")


def _stop(words: list[str]) -> None:
    stop()
    print(f"taskscope: stopped; the rows stay in {store_path()}")


def _status(words: list[str]) -> dict[str, Any]:
    return status()


def _clear(words: list[str]) -> None:
    dataset.Dataset().clear()
    print("taskscope: cleared the current session's rows")


def _help(words: list[str]) -> None:
    print(USAGE)


_COMMANDS: dict[str, Callable[[list[str]], Any]] = {
    "start": _start, "stop": _stop, "status": _status, "clear": _clear, "help": _help,
}


def run(line: str) -> Any:
    """Run one ``%taskscope`` line; the status subcommand returns the status dict."""
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%taskscope: {exc}\n{USAGE}") from None
    command, args = (words[0].lower(), words[1:]) if words else ("status", [])
    if command not in _COMMANDS:
        raise UsageError(f"%taskscope: unknown subcommand {command!r}\n{USAGE}")
    if args and command != "start":
        raise UsageError(f"%taskscope {command} takes no arguments, got {' '.join(args)!r}\n{USAGE}")
    return _COMMANDS[command](args)


@magics_class
class TaskscopeMagics(Magics):
    """The ``%taskscope`` line magic."""

    @line_magic
    def taskscope(self, line: str) -> Any:
        """%taskscope start [option=value ...] | stop | status | clear | help"""
        return run(line)


def load_ipython_extension(ipython: Any) -> None:
    """Register the magics in an IPython shell (``%load_ext taskscope``)."""
    ipython.register_magics(TaskscopeMagics)
