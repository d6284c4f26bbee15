"""Actions across process pools: a task submitted inside an action runs as a ``pool:task`` child.

Kernel side (:func:`submitting`): as ``remote.autopool`` turns a pool's callable into a
``ts.pool.task``, it gives the task ``(action id, cell)`` of the action open where the call
is submitted (the running cell's, in a notebook); the task carries it to the child with
its pickle.

Child side (:func:`open_task`, :func:`end_envelope`): each call of the task opens a
``pool:task`` action under the submitting one (fields: the task id, the function's name
and its arguments, each summarised: see :func:`inputs`), current in the child for the
call, so rows and actions inside nest under it. The task's lifecycle rows (``started``,
``finished``/``erred``) carry the action's envelope, as a Dask task's do
(``remote.dask_actions``): no row more per task. Without those rows (``lifecycle=False``,
or runtime rows not captured at INFO) there is no ``pool:task`` action to carry: the
rows and actions inside the call nest directly under the submitting action
(:func:`submitted`).
"""

from __future__ import annotations

import reprlib
from typing import Any

from ..record import context, safe
from ..record.actions import ERROR, FIELDS, PARENT, STATUS, TYPE
from ..record.vocabulary import FAILED, STARTED, SUCCEEDED

#: The action type of one call of a pool task.
TASK_TYPE = "pool:task"
#: Arguments (positional, and keyword) named in a task's fields at most.
MAX_INPUTS = 16
#: Characters of one argument's summary, and of a failed task's error.
INPUT_CAP, ERROR_CAP = 200, 2000

#: The end envelope of a task that returned (shared: the row's converter copies it).
SUCCEEDED_ENVELOPE = {STATUS: SUCCEEDED}

_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxstring, _repr.maxother = 2, INPUT_CAP, INPUT_CAP
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = _repr.maxfrozenset = _repr.maxdeque = 8
#: Argument types kept as they are (JSON values that cannot grow unbounded).
_PLAIN = frozenset({int, float, bool, type(None)})


def submitting() -> tuple[str, str]:
    """Kernel side: ``(action id, cell)`` of the action open here (``("", "")`` outside any)."""
    act = context.current()
    return context.NOWHERE if act is None else act.where


def open_task(task_id: str, name: str, where: tuple[str, str] | None, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> tuple[context.Action, dict[str, Any]]:
    """Child side: the ``pool:task`` action of one call submitted at ``where``, and its
    start row's envelope."""
    parent, cell = where or context.NOWHERE
    act = context.Action(context.new_id(), parent, TASK_TYPE, cell)
    fields: dict[str, Any] = {"task": task_id, "function": name}
    if args or kwargs:
        fields.update(inputs(args, kwargs))
    return act, {STATUS: STARTED, PARENT: parent, TYPE: TASK_TYPE, FIELDS: fields}


def submitted(where: tuple[str, str] | None) -> context.Action | None:
    """Child side, no ``pool:task`` action: the submitting action itself, to nest under."""
    if not where or not where[0]:
        return None
    return context.Action(where[0], "", TASK_TYPE, where[1])


def end_envelope(error: str | None) -> dict[str, Any]:
    """The end row's envelope: succeeded, or failed with ``error`` (``"Type: message"``)."""
    return SUCCEEDED_ENVELOPE if error is None else {STATUS: FAILED, ERROR: error}


def error_text(exc: BaseException) -> str:
    """``"Type: message"``, the message cut to fit an envelope."""
    return f"{type(exc).__name__}: {safe.cut(safe.safe_str(exc), ERROR_CAP)}"


def inputs(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """A call's arguments as ``{"args": [...], "kwargs": {...}}``, at a bounded cost.

    Numbers, booleans and None stay as they are, strings are cut; anything else is its
    ``reprlib`` summary (a few items of a container, never the whole of it: a task's
    arguments are often its data). At most :data:`MAX_INPUTS` of each; more are counted.
    Unlike ``log_call``, no container is walked whole.
    """
    out: dict[str, Any] = {}
    if args:
        shown = [_input(value) for value in args[:MAX_INPUTS]]
        if len(args) > MAX_INPUTS:
            shown.append(f"... {len(args) - MAX_INPUTS} more")
        out["args"] = shown
    if kwargs:
        named = {str(k): _input(v) for k, v in list(kwargs.items())[:MAX_INPUTS]}
        if len(kwargs) > MAX_INPUTS:
            named["..."] = f"{len(kwargs) - MAX_INPUTS} more"
        out["kwargs"] = named
    return out


def _input(value: Any) -> Any:
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is str:
        return value if len(value) <= INPUT_CAP else safe.cut(value, INPUT_CAP)
    try:
        text = _repr.repr(value)
    except Exception as exc:  # noqa: BLE001 - a raising repr is marked, never raised
        return safe.placeholder(f"repr of {kind.__name__} failed", exc)
    return safe.cut(safe.clean(text), INPUT_CAP)
