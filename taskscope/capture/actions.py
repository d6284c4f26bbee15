"""Actions: ``ts.action(type, **fields)`` and ``@ts.log_call``, Eliot's ideas at
taskscope's cost.

An action is a span of work with a type, inputs, a result or an error, and a parent:
the action open where it started (:mod:`taskscope.record.context`). Opening one costs a
contextvar set and one queue item; closing it one item more. The rows (and the
``actions`` table, see :mod:`taskscope.store.actions`) are built on the writer thread:
its start row (source ``action``, logger = its type, extra = its envelope) and its end
row (INFO when it succeeded, ERROR with the traceback when it failed). Outside a
recording both are plain pass-throughs: a decorated function costs one check.

Values are kept as they are when they cannot change before the writer reads them
(str, numbers, None, ...); anything else is made JSON at the call (a list appended to
later must show what it held). Nothing here raises into the user's code.
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, overload

from ..record import context, safe
from ..record.actions import DURATION, ERROR, FIELDS, PARENT, RESULT, STATUS
from ..record.context import CURRENT, Action, new_id
from ..record.rows import Caps, Row, make_row
from ..record.vocabulary import ACTION_SOURCE, FAILED, STARTED, SUCCEEDED, USER
from ..writer.core import Item, Writer, converter
from ..writer.quiet import quietly
from .logs import format_exception

F = TypeVar("F", bound=Callable[..., Any])

#: The writer of the running capture (None: not recording). A list: read on every call.
_bound: list[Writer | None] = [None]
_now, _clock, _current_thread = time.time, time.perf_counter, threading.current_thread
_get, _set, _reset = CURRENT.get, CURRENT.set, CURRENT.reset

#: Values of these types cannot change after the call: they wait for the writer as they are.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, complex})
#: A snapshot made at the call is cut to this many characters per value.
_SNAPSHOT_CAP = 16 * 1024


def bind(writer: Writer) -> None:
    """Actions from now on go to ``writer`` (the capture installs)."""
    _bound[0] = writer


def unbind(writer: Writer) -> None:
    """Actions are pass-throughs again (the capture uninstalls), if ``writer`` was bound."""
    if _bound[0] is writer:
        _bound[0] = None


def _kept(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` as they may wait for the writer: snapshotted unless all are immutable."""
    if _IMMUTABLE.issuperset(map(type, values.values())):
        return values
    return {name: _snapshot(value) for name, value in values.items()}


def _snapshot(value: Any) -> Any:
    """One value frozen now: as it is if immutable, else as JSON data (never raising)."""
    if type(value) in _IMMUTABLE:
        return value
    return quietly(safe.jsonable, value, _SNAPSHOT_CAP)


class action(Action):
    """``with ts.action("load", path=p) as act:``: an action of type ``"load"`` with
    inputs ``path``; rows and actions inside it nest under it.

    ``act.log(message, **fields)`` writes a row inside it; ``act.add_success_fields(**f)``
    records fields with its result when it succeeds. An exception leaving the block marks
    it failed (type, message, traceback) and goes on up unchanged. Works as ``async with``
    too: each asyncio task has its own current action.
    """

    __slots__ = ("fields", "_token", "_t0", "_created", "_thread", "_success", "_writer")

    def __init__(self, action_type: str, /, **fields: Any) -> None:
        self.type = action_type
        self.fields = fields
        self.id = self.parent = self.cell = ""
        self.where = context.NOWHERE
        self._success: dict[str, Any] | None = None
        self._writer: Writer | None = None

    def __enter__(self) -> action:
        writer = _bound[0]
        if writer is not None:
            try:
                self._open(writer, _kept(self.fields) if self.fields else None)
            except Exception:  # noqa: BLE001 - an action must never break the user's code
                self._writer = None
        return self

    def _open(self, writer: Writer, fields: dict[str, Any] | None, outer: Action | None = None) -> None:
        """Become the current action (inside ``outer``, else the one open here) and
        queue the start item."""
        if outer is None:
            outer = _get()
            if outer is None:
                outer = context.current()  # the running task's, or the cell
        self.id = new_id()
        if outer is not None:
            self.parent, self.cell = outer.id, outer.cell
        self.where = (self.id, self.cell)
        self._writer = writer
        self._token = _set(self)
        self._created, self._thread = created, thread = _now(), _current_thread().name
        # plain values, not the action: a queued tuple of them is untracked by the cyclic GC
        writer.offer(("astart", created, self.id, self.parent, self.type, self.cell, thread, fields))
        self._t0 = _clock()

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        if self._writer is not None:
            self._close(FAILED if kind is not None else SUCCEEDED, self._success, exc)

    def _close(self, status: str, result: Any, exc: BaseException | None, error: str | None = None) -> None:
        """Queue the end item and make the outer action current again (``error``: the
        failure as text, when there is no exception object)."""
        duration = _clock() - self._t0
        writer, self._writer = self._writer, None
        try:
            _reset(self._token)
        except ValueError:  # closed in another context (a generator, a callback): leave it
            pass
        try:
            assert writer is not None
            writer.offer(("aend", self._created + duration, self.id, self.type, self.cell, self._thread, status,
                          duration, result if type(result) in _IMMUTABLE else _snapshot(result), exc, error))
        except Exception:  # noqa: BLE001 - never raises into the user's code
            pass

    async def __aenter__(self) -> action:
        return self.__enter__()

    async def __aexit__(self, kind: Any, exc: BaseException | None, tb: Any) -> None:
        self.__exit__(kind, exc, tb)

    def log(self, message: str, /, **fields: Any) -> None:
        """A row inside this action: ``message``, with ``fields`` as its extra."""
        writer = self._writer
        if writer is None:
            return
        try:
            writer.offer(("alog", _now(), self.where, self.type, _current_thread().name, message,
                          _kept(fields) if fields else None))
        except Exception:  # noqa: BLE001
            pass

    def add_success_fields(self, **fields: Any) -> None:
        """Fields recorded as its result if it succeeds (values frozen now)."""
        try:
            if self._success is None:
                self._success = {}
            self._success.update(_kept(fields))
        except Exception:  # noqa: BLE001
            pass

    def __repr__(self) -> str:
        return f"<taskscope action {self.type!r} {self.id or '(not recording)'}>"


# --- log_call ------------------------------------------------------------------------------


@overload
def log_call(fn: F, /) -> F: ...
@overload
def log_call(*, action_type: str | None = ..., include_args: list[str] | tuple[str, ...] | None = ...,
             include_result: bool = ...) -> Callable[[F], F]: ...


def log_call(fn: Any = None, /, *, action_type: str | None = None,
             include_args: list[str] | tuple[str, ...] | None = None,
             include_result: bool = True) -> Any:
    """Record each call of ``fn`` as an action: its inputs, result, duration and
    exception (re-raised unchanged). ``include_args``: only these arguments are kept;
    ``include_result=False``: the result is not kept. Plain and ``async def`` functions
    and methods (``self``/``cls`` is not recorded). The type is the function's qualified
    name (``multiply``, ``Model.fit``) unless ``action_type`` says otherwise.
    """
    if fn is None:
        return functools.partial(log_call, action_type=action_type, include_args=include_args,
                                 include_result=include_result)
    kind = action_type or _type_of(fn)
    fields_of = _fields_of(fn, include_args)

    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def call_async(*args: Any, **kwargs: Any) -> Any:
            writer = _bound[0]
            if writer is None:
                return await fn(*args, **kwargs)
            act = _start(writer, kind, fields_of, args, kwargs)
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                _failed(act, exc)
                raise
            return _succeeded(act, result, include_result)
        return call_async

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        writer = _bound[0]
        if writer is None:
            return fn(*args, **kwargs)
        act = _start(writer, kind, fields_of, args, kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            _failed(act, exc)
            raise
        return _succeeded(act, result, include_result)
    return call


def _start(writer: Writer, kind: str, fields_of: Callable[..., dict[str, Any]],
           args: tuple[Any, ...], kwargs: dict[str, Any]) -> action | None:
    """Open the action of one call; None (and the call runs plain) if that fails."""
    try:
        act = action.__new__(action)
        act.type, act.fields, act.cell, act.parent, act._success = kind, None, "", "", None
        act._open(writer, _kept(fields_of(args, kwargs)))
        return act
    except Exception:  # noqa: BLE001 - recording must never stop the call
        return None


def _failed(act: action | None, exc: BaseException) -> None:
    """The call raised ``exc`` (the caller re-raises it)."""
    if act is not None:
        act._close(FAILED, None, exc)


def _succeeded(act: action | None, result: Any, include_result: bool) -> Any:
    """The call returned ``result``: close its action, give the result back."""
    if act is not None:
        act._close(SUCCEEDED, result if include_result else None, None)
    return result


def _type_of(fn: Callable[..., Any]) -> str:
    """``fn``'s qualified name, as a reader names it: ``multiply``, ``Model.fit`` (no
    module, nothing of the functions it was defined in)."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or safe.safe_repr(fn)
    return name.rsplit("<locals>.", 1)[-1]


def _fields_of(fn: Callable[..., Any], include: list[str] | tuple[str, ...] | None
               ) -> Callable[[tuple[Any, ...], dict[str, Any]], dict[str, Any]]:
    """How a call's arguments become its fields: by parameter name, ``self``/``cls``
    left out, ``*args`` under their own name, only ``include`` when given."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    skip = 1 if params and params[0].name in ("self", "cls") else 0
    positional = tuple(p.name for p in params[skip:]
                       if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
    star = next((p.name for p in params if p.kind is p.VAR_POSITIONAL), "args")
    wanted = frozenset(include) if include is not None else None
    count = len(positional)

    def fields(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        values = dict(zip(positional, args[skip:]))
        if len(args) - skip > count:
            values[star] = list(args[skip + count:])
        if kwargs:
            values.update(kwargs)
        if wanted is not None:
            values = {k: v for k, v in values.items() if k in wanted}
        return values

    return fields


# --- rows (writer thread) ------------------------------------------------------------------


def _envelope(status: str, caps: Caps, **values: Any) -> str:
    """The extra of an action row: ``action_status`` first (see ``store.actions``), and
    kept whole under the cap (large inputs or results are summarised, not the envelope)."""
    data = {STATUS: status, **values}
    text = safe.to_json(data, caps.extra)
    if text is None or not text.startswith('{"' + STATUS):
        data = {STATUS: status, **{k: safe.jsonable(v, caps.extra // 16) for k, v in values.items()}}
        text = safe.to_json(data, caps.extra) or ""
    return text


def fields_text(fields: Mapping[str, Any] | None, width: int = 200) -> str:
    """``a=1, b='x'``: an action's inputs on one line, each value cut to fit."""
    if not fields:
        return ""
    parts = [f"{name}={safe.cut(safe.safe_repr(value), 60)}" for name, value in fields.items()]
    return safe.cut(", ".join(parts), width)


def seconds_text(seconds: float) -> str:
    """A duration as a person reads it: 12 µs, 3.4 ms, 1.25 s, 2 min 5 s."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


@converter("astart")
def _start_row(item: Item, caps: Caps) -> Row:
    """Convert: an action's start into its start row."""
    _, created, action_id, parent, kind, cell, thread, fields = item
    text = fields_text(fields)
    return make_row(
        created, logging.INFO, ACTION_SOURCE, kind, f"{kind} started" + (f": {text}" if text else ""), caps,
        thread=thread, where=(action_id, cell),
        extra=_envelope(STARTED, caps, **{PARENT: parent, FIELDS: fields}),
    )


@converter("aend")
def _end_row(item: Item, caps: Caps) -> Row:
    """Convert: an action's end into its end row (ERROR with the traceback if it failed)."""
    _, created, action_id, kind, cell, thread, status, duration, result, exc, error = item
    msg = f"{kind} {status} in {seconds_text(duration)}"
    values: dict[str, Any] = {DURATION: duration}
    if exc is not None:
        error = f"{type(exc).__name__}: {safe.safe_str(exc)}"
    if error:
        values[ERROR] = error
        msg += f": {error}"
    if result is not None:
        values[RESULT] = result
        if not error:
            msg += f" -> {safe.cut(safe.safe_repr(result), 80)}"
    return make_row(
        created, logging.ERROR if status == FAILED else logging.INFO, ACTION_SOURCE, kind, msg, caps,
        thread=thread, where=(action_id, cell), detail=format_exception(exc) if exc is not None else "",
        extra=_envelope(status, caps, **values),
    )


@converter("alog")
def _log_row(item: Item, caps: Caps) -> Row:
    """Convert: ``act.log(message, **fields)`` into a user row inside the action."""
    _, created, where, kind, thread, message, fields = item
    return make_row(
        created, logging.INFO, USER, kind, safe.safe_str(message), caps, thread=thread, where=where,
        extra=safe.to_json(fields, caps.extra) if fields else None,
    )
