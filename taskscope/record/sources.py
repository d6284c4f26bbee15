"""Which source a row is: the user's own loggers, libraries, the runtime, taskscope.

The user's loggers are those registered with ``taskscope.logger.getLogger`` (and
``__main__``); listeners (the capture, remote transports) hear of each new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .vocabulary import LIBRARY, PRINT, RUNTIME, SOURCES, SYSTEM_SOURCE, USER

__all__ = [
    "LIBRARY", "PRINT", "RUNTIME", "RUNTIME_PREFIXES", "SOURCES", "SYSTEM_LOGGER", "SYSTEM_PREFIXES",
    "SYSTEM_SOURCE", "USER", "mark_user_logger", "off_mark", "on_mark", "source_of", "user_logger_names",
]

#: Loggers of the machinery a computation runs on rather than of the computation itself.
RUNTIME_PREFIXES: tuple[str, ...] = (
    "asyncio", "concurrent.futures", "dask", "distributed", "ipykernel", "IPython",
    "jupyter_client", "tornado", "traitlets", "zmq",
)
#: taskscope's own loggers.
SYSTEM_PREFIXES: tuple[str, ...] = ("taskscope",)

#: The logger name of taskscope's own SYSTEM rows.
SYSTEM_LOGGER = "taskscope"

_user_names: set[str] = {"__main__"}
_on_mark: list[Callable[[str], None]] = []


def mark_user_logger(name: str) -> None:
    """Register ``name`` (and the loggers under it) as the user's own: source ``user``.

    ``taskscope.logger.getLogger`` calls this. While recording, the capture applies the
    user capture level to the logger at once (see ``capture.LevelPolicy``).
    """
    if name in _user_names:
        return
    _user_names.add(name)
    for listener in list(_on_mark):
        listener(name)


def user_logger_names() -> frozenset[str]:
    """The registered user logger names (``__main__`` always among them)."""
    return frozenset(_user_names)


def on_mark(listener: Callable[[str], None]) -> None:
    """Call ``listener(name)`` whenever a user logger is registered (the capture listens)."""
    if listener not in _on_mark:
        _on_mark.append(listener)


def off_mark(listener: Callable[[str], None]) -> None:
    """Stop calling ``listener`` (at stop)."""
    if listener in _on_mark:
        _on_mark.remove(listener)


def _under(name: str, prefixes: Any) -> bool:
    """Whether ``name`` is one of ``prefixes`` or a logger below one."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def source_of(name: str) -> str:
    """The source of a logging record from logger ``name``: user, runtime, system or library."""
    if _under(name, _user_names):
        return USER
    if _under(name, SYSTEM_PREFIXES):
        return SYSTEM_SOURCE
    if _under(name, RUNTIME_PREFIXES):
        return RUNTIME
    return LIBRARY


#: The logger name of task lifecycle rows (started, finished, erred, retried; source ``runtime``).
TASK_LOGGER = "taskscope.task"
