"""Actions across Dask: a task submitted inside an action runs as a ``dask:task`` child.

Kernel side (:func:`trace_submissions`): while recording, every graph a client sends
(``submit``, ``map``, ``compute``, ``persist``, ``dask.compute``, delayed and bag graphs
all end in ``Client._graph_to_futures``) is sent inside ``dask.annotate(taskscope=[action,
cell])``: Dask's own annotations carry the submitting action to each task's worker.

Worker side (:class:`TaskActions`, used by ``WorkerCapture``): when a task starts
executing, it opens a ``dask:task`` action under the annotated one (fields: the key and
its dependencies; the kernel adds the attempt), which the task's lifecycle rows carry as
their envelope; rows and actions inside the task nest under it. A retried task gets a
new action per attempt (Dask gives each dispatch a new ``run_id``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..record import context
from ..record.actions import ERROR, FIELDS, PARENT, STATUS, TYPE
from ..record.vocabulary import FAILED, STARTED, SUCCEEDED
from .emitter import key_text, remember_task_action

#: The annotation key, and the action type of a task's run.
ANNOTATION = "taskscope"
TASK_TYPE = "dask:task"
#: Dependencies named in a task's fields at most.
MAX_DEPENDENCIES = 32

_patched: list[tuple[Any, Callable[..., Any]]] = []


def trace_submissions() -> None:
    """Annotate every graph sent from this process with the action open where it is sent."""
    if _patched:
        return
    import dask
    from distributed import Client

    original = Client._graph_to_futures

    @functools.wraps(original)
    def graph_to_futures(self: Any, *args: Any, **kwargs: Any) -> Any:
        act = context.current()
        if act is None:
            return original(self, *args, **kwargs)
        with dask.annotate(**{ANNOTATION: [act.id, act.cell]}):
            return original(self, *args, **kwargs)

    Client._graph_to_futures = graph_to_futures
    _patched.append((Client, original))


def untrace_submissions() -> None:
    """Put ``Client._graph_to_futures`` back (at stop)."""
    while _patched:
        cls, original = _patched.pop()
        cls._graph_to_futures = original


class TaskActions:
    """The ``dask:task`` actions of one worker: opened when a task starts executing,
    closed when it ends. Runs on the worker's event loop (transitions)."""

    def __init__(self, thread_state: Any) -> None:
        self._running: dict[Any, context.Action] = {}
        self._thread_state = thread_state

    def install(self) -> None:
        """Actions opened in a task's thread nest under the task's action."""
        running, state = self._running, self._thread_state
        context.TASK_FALLBACK[0] = lambda: running.get(getattr(state, "key", None))

    def uninstall(self) -> None:
        context.TASK_FALLBACK[0] = None
        self._running.clear()

    def open(self, key: Any, run_id: int | None, task: Any) -> tuple[tuple[str, str], dict[str, Any]]:
        """The task starts: its action's ``where`` and the start row's envelope."""
        parent, cell = _annotated(task)
        act = context.Action(context.new_id(), parent, TASK_TYPE, cell)
        self._running[key] = act
        remember_task_action(key, run_id, act)
        deps = [key_text(dep.key) for dep in list(getattr(task, "dependencies", ()) or ())[:MAX_DEPENDENCIES]]
        return act.where, {STATUS: STARTED, PARENT: parent, TYPE: TASK_TYPE,
                           FIELDS: {"key": key_text(key), "dependencies": deps}}

    def close(self, key: Any, failed: bool, error: str = "") -> tuple[tuple[str, str], dict[str, Any]]:
        """The task ended: its action's ``where`` and the end row's envelope."""
        act = self._running.pop(key, None)
        if act is None:
            return context.NOWHERE, {}
        envelope: dict[str, Any] = {STATUS: FAILED if failed else SUCCEEDED}
        if failed:
            envelope[ERROR] = error
        return act.where, envelope


def _annotated(task: Any) -> tuple[str, str]:
    """``(parent action, cell)`` the kernel annotated the task with, else empty."""
    value = (getattr(task, "annotations", None) or {}).get(ANNOTATION)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(type(v) is str for v in value):
        return value[0], value[1]
    return context.NOWHERE
