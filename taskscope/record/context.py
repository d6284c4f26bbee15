"""Where a row is emitted: the innermost open action and the cell that caused it.

The current action lives in a :mod:`contextvars` variable, as Eliot's does: asyncio
tasks inherit it, a thread does not unless its function is wrapped
(:func:`preserve_context`). Below every action there is a root: the running notebook
cell (:data:`ROOT`, set by ``capture.cells``) or, in a Dask or pool task, the task's own
action (the emitter fills it in on its writer thread). The hot path reads one tuple,
``where() -> (action id, cell)``: what a row's ``action`` and ``cell`` columns get.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import os
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: A row emitted outside any action and any cell.
NOWHERE: tuple[str, str] = ("", "")


class Action:
    """One open action: what rows emitted inside it, and actions started in it, need."""

    __slots__ = ("id", "parent", "type", "cell", "where")

    def __init__(self, id: str, parent: str, type: str, cell: str) -> None:
        self.id = id
        self.parent = parent
        self.type = type
        self.cell = cell
        #: ``(id, cell)``: the two columns of every row emitted inside it.
        self.where = (id, cell)


#: In a remote process, the action of the task running in this thread, if any (a Dask
#: worker's ``TaskActions`` sets it; tasks run in the executor's threads, not our context).
TASK_FALLBACK: list[Callable[[], Action | None] | None] = [None]
#: The innermost action open in this context (None: the root applies).
CURRENT: contextvars.ContextVar[Action | None] = contextvars.ContextVar("taskscope_action", default=None)
#: The root of this process: the running cell's action in a kernel, else None. A list so
#: the hot path reads it without a global lookup of a rebound name.
ROOT: list[Action | None] = [None]

_get = CURRENT.get


def current() -> Action | None:
    """The innermost open action here, else the running task's, else the root (the
    running cell), else None."""
    action = _get()
    if action is not None:
        return action
    fallback = TASK_FALLBACK[0]
    if fallback is not None:
        action = fallback()
        if action is not None:
            return action
    return ROOT[0]


def where() -> tuple[str, str]:
    """``(action id, cell)`` of a row emitted here now."""
    action = current()
    return NOWHERE if action is None else action.where


class _Ids:
    """Action ids: a random prefix per process and a counter (unique across processes
    without a uuid per action; a forked child draws a new prefix)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = secrets.token_hex(4)
        self.counter = itertools.count(1)

    def new(self) -> str:
        return f"{self.prefix}-{next(self.counter):x}"


_ids = _Ids()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_ids.reset)


#: A new action id, unique in the session (the bound method: one call on the hot path).
new_id: Callable[[], str] = _ids.new


def preserve_context(fn: F) -> F:
    """``fn`` wrapped to run in a copy of the calling context: give it to a thread (or
    ``executor.submit``) and its rows and actions nest under the action open here."""
    context = contextvars.copy_context()

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        return context.copy().run(fn, *args, **kwargs)

    return run  # type: ignore[return-value]
