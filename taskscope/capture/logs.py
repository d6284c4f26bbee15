"""Logging records as rows: the one handler on the root logger, and the levels it needs.

The handler's ``handle`` does the least it can on the emitting thread: take the fields
of the record it needs and append an item to the writer's queue (see
:mod:`taskscope.writer.core`); the row (formatting, tracebacks, JSON) is built later on
the writer thread (:func:`_record_row`). :class:`LevelPolicy` lowers levels so the
user's DEBUG lines exist, and guards every other handler so it shows what it showed.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from ..record import context, safe, sources
from ..record.rows import Caps, Row, make_row
from ..writer.core import Item, Writer, converter
from ..writer.quiet import quiet, quiet_threads, quietly

_now = time.time
_current_thread = threading.current_thread

#: The LogRecord attributes logging itself sets; any other attribute came in ``extra=``.
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message", "asctime", "taskName",
}

#: Arguments of these types cannot change after the call, so ``msg % args`` can wait for
#: the writer thread; any other argument (a list, an object) is formatted on the hot path
#: so the row shows its value at the time of the call. See W1 for what each costs.
_IMMUTABLE_ARGS = frozenset({str, int, float, bool, type(None), bytes, complex})

#: A plain record's attribute count; a record with more carries ``extra=`` fields (or a
#: formatter added ``message``/``asctime``), the only case that needs a closer look.
_PLAIN_RECORD_SIZE = len(logging.LogRecord("", 0, "", 0, "", None, None).__dict__)


def parse_level(level: int | str) -> int:
    """A logging level from a number or a name ("DEBUG", "info", "SYSTEM")."""
    if isinstance(level, int):
        return level
    number = logging.getLevelName(str(level).upper())
    if not isinstance(number, int):
        raise ValueError(f"unknown logging level {level!r}")
    return number


# --- logging -------------------------------------------------------------------------------


def _frozen(args: tuple[Any, ...]) -> bool:
    """Whether every argument is of a type that cannot change before the writer formats it."""
    return _IMMUTABLE_ARGS.issuperset(map(type, args))


def _format_now(msg: object, args: Any) -> str:
    """``msg % args`` on the emitting thread, quiet (see :func:`quietly`)."""
    return quietly(safe.format_message, msg, args)


def _extra_fields(attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The fields given with ``extra=`` (a shallow copy: the record may change later)."""
    keys = attrs.keys() - _STANDARD_ATTRS
    return {k: attrs[k] for k in sorted(keys) if k in attrs} if keys else None


#: The queue item of a logging record, field by field (``tlog`` items, in a remote process,
#: add the task's key and run_id): what the handler takes off the record on the hot path.
LOG_ITEM: tuple[str, ...] = (
    "tag", "created", "levelno", "level", "logger", "msg", "args", "thread", "pid",
    "exc_info", "exc_text", "stack_info", "extra", "source", "where", "task", "run_id",
)
#: Where each field sits in a log item.
LOG_AT: dict[str, int] = {name: i for i, name in enumerate(LOG_ITEM)}


@converter("log")
def _record_row(item: Item, caps: Caps) -> Row:
    """Convert: a snapshot of a LogRecord into a row (on the writer thread)."""
    (_, created, levelno, levelname, name, msg, args, thread, process,
     exc_info, exc_text, stack_info, extra, source, where) = item[:LOG_AT["task"]]
    return make_row(
        created, levelno, source, name, safe.format_message(msg, args), caps,
        thread=thread or "",
        detail=_record_detail(exc_info, exc_text, stack_info),
        extra=safe.to_json(extra, caps.extra) if extra else None,
        level=levelname,
        pid=process,
        where=where,
    )


def _record_detail(exc_info: Any, exc_text: str | None, stack_info: str | None) -> str:
    """The traceback and stack of a record, as logging's Formatter would append them."""
    parts: list[str] = []
    if exc_info and exc_info[0] is not None:
        parts.append(format_exception(exc_info[1]))
    elif exc_text:
        parts.append(safe.safe_str(exc_text))
    if stack_info:
        parts.append(safe.safe_str(stack_info))
    return "\n".join(p.rstrip("\n") for p in parts) if parts else ""


def format_exception(exc: BaseException | None) -> str:
    """A traceback as text; never raises (a broken ``__str__`` gives a placeholder)."""
    if exc is None:
        return ""
    try:
        return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception as failure:  # noqa: BLE001
        return safe.placeholder(f"traceback of {type(exc).__name__} could not be formatted", failure)


class CaptureHandler(logging.Handler):
    """The one handler on the root logger: enqueue the record and nothing else.

    ``handle`` is a closure made per handler (:func:`_handle_for`): no handler lock
    (appending to a deque needs none), no formatting, no I/O, and every value it reads
    is a closure variable rather than an attribute. Records below the capture level of
    their source are skipped. ``tag`` (remote processes): the task running in the
    emitting thread is added to the item (see ``taskscope.remote.emitter.TaskTag``).
    """

    def __init__(self, writer: Writer, thresholds: dict[str, int], tag: Any = None) -> None:
        super().__init__(logging.NOTSET)
        self.writer = writer
        self.thresholds = dict(thresholds)
        self._classes: dict[str, tuple[str, int]] = {}
        self.policy: LevelPolicy | None = None
        #: ``echo(stream, text)``: told what our last-resort printing wrote (see
        #: ``taskscope.remote.emitter.RemoteCapture``: a console shared with the kernel).
        self.echo: Callable[[Any, str], None] | None = None
        self.handle = self.emit = _handle_for(self, tag)  # type: ignore[method-assign]

    def takes(self, rec: logging.LogRecord) -> bool:
        """Whether this handler makes a row of ``rec`` (the hot path's own checks)."""
        if rec.thread in quiet_threads:
            return False
        found = self._classes.get(rec.name) or self._classify(rec.name)
        return rec.levelno >= found[1]

    def forget_classes(self) -> None:
        """Drop the per-logger cache (a user logger was registered, or levels changed)."""
        self._classes.clear()

    def _classify(self, name: str) -> tuple[str, int]:
        source = sources.source_of(name)
        found = self._classes[name] = (source, self.thresholds[source])
        return found

    def _last_resort(self, rec: logging.LogRecord) -> None:
        """Print to stderr like ``logging.lastResort`` when we are the only handler found.

        Without taskscope such a record would reach no handler and logging would print
        it through ``lastResort``; our root handler must not make that output disappear.
        """
        last = logging.lastResort
        if last is None or rec.levelno < last.level or self._other_handlers(rec.name):
            return
        if self.policy is not None and rec.levelno < self.policy.natural_level(rec.name):
            return  # exists only because we lowered a level: without us, nothing printed
        with quiet():
            last.handle(rec)
            if self.echo is not None:
                self.echo(last.stream, last.format(rec))

    def _other_handlers(self, name: str) -> bool:
        """Whether logging finds any handler but ours for a record of logger ``name``."""
        logger: logging.Logger | None = (
            logging.root if name == "root" else logging.root.manager.loggerDict.get(name)  # type: ignore[assignment]
        )
        if not isinstance(logger, logging.Logger):
            return True  # not a logger we can walk: assume someone handles it
        while logger is not None:
            for handler in logger.handlers:
                if handler is not self:
                    return True
            logger = logger.parent if logger.propagate else None
        return False


_LAST_RESORT_LEVEL = logging.WARNING


def _handle_for(handler: CaptureHandler, tag: Any) -> Callable[[logging.LogRecord], bool]:
    """The handler's ``handle``: the hot path of every captured logging call.

    Takes the fields of the record the row needs, as plain values, and queues them;
    then does what logging's last resort would do. The record itself is not kept:
    LogRecords (each with a ``__dict__``) alive in the queue made the cyclic GC rescan
    them, while a tuple of strings and numbers is untracked by it. A full queue waits for
    room or counts a drop (:meth:`Writer.make_room`). Never raises. One function on purpose: every call costs here.
    """
    writer = handler.writer
    queue, queue_size, wake_at, wake = writer.queue, writer.queue_size, writer.wake_at, writer.wake
    make_room = writer.make_room
    classes, classify, last_resort = handler._classes, handler._classify, handler._last_resort
    local, attr, runs = (tag.local, tag.attr, tag.runs) if tag is not None else (None, "", None)
    tag_name = "log" if tag is None else "tlog"  # "tlog": a "log" item + (task key, run_id)
    append = deque.append  # the plain one: a remote queue's own append would tag the item again
    immutable = _IMMUTABLE_ARGS
    current, root, nowhere = context.CURRENT.get, context.ROOT, context.NOWHERE

    def handle(rec: logging.LogRecord) -> bool:
        try:
            if rec.thread in quiet_threads:
                return True
            name, levelno = rec.name, rec.levelno
            try:
                source, threshold = classes[name]
            except KeyError:
                source, threshold = classify(name)
            if levelno < threshold:
                return True
            waiting = len(queue)
            if waiting >= queue_size and not make_room():
                pass  # counted dropped
            else:
                msg, args = rec.msg, rec.args
                if args and (type(args) is not tuple or not (  # one or two arguments: no call
                        type(args[0]) in immutable and (len(args) == 1 or type(args[1]) in immutable
                                                        and (len(args) == 2 or _frozen(args))))):
                    msg, args = _format_now(msg, args), None
                attrs = rec.__dict__
                action = current()
                if action is None:
                    action = root[0]
                item: Item = (  # LOG_ITEM
                    tag_name, rec.created, levelno, rec.levelname, name, msg, args,
                    rec.threadName, rec.process, rec.exc_info, rec.exc_text, rec.stack_info,
                    None if len(attrs) == _PLAIN_RECORD_SIZE else _extra_fields(attrs), source,
                    nowhere if action is None else action.where,
                )
                if local is not None:  # flat, not nested: the cyclic GC untracks it in one pass
                    key = getattr(local, attr, None)
                    item += (key, runs.get(key) if runs is not None and key is not None else None)
                append(queue, item)
                if waiting + 1 == wake_at:
                    wake.set()
            if levelno >= _LAST_RESORT_LEVEL:
                last_resort(rec)
        except Exception:  # noqa: BLE001 - logging must never raise into user code
            pass
        return True

    return handle


# --- levels --------------------------------------------------------------------------------


class LevelGuard(logging.Filter):
    """A filter on other handlers while we lowered levels: they see what they saw before.

    A record below the level its logger would have without taskscope exists only
    because we lowered a level: this handler skips it (ours, on the root, still gets it).
    """

    def __init__(self, policy: LevelPolicy) -> None:
        super().__init__()
        self.policy = policy

    def filter(self, rec: logging.LogRecord) -> bool:  # type: ignore[override]
        try:
            return rec.levelno >= self.policy.natural_level(rec.name)
        except Exception:  # noqa: BLE001 - a filter must never raise into user code
            return True


class LevelPolicy:
    """Which records exist while recording, without changing what any handler shows.

    A root handler only sees records that pass their logger's effective level, so to
    capture a user's DEBUG lines (root is WARNING by default) levels must be lowered:

    - user loggers (registered names and ``__main__``) whose own level is NOTSET get the
      user capture level;
    - the root logger gets the library capture level, if it is above it (never lower:
      libraries' DEBUG calls stay as cheap as they were).

    Every other handler (NullHandlers aside) gets a :class:`LevelGuard` filter, so a
    ``basicConfig`` console, ipykernel's ``tornado`` handler or a file handler shows
    exactly what it showed before. Handlers added while recording are guarded on the
    next writer tick (and at once by ``logging.basicConfig``). Every change is undone at
    stop, unless the user changed that level meanwhile.
    """

    def __init__(self, handler: CaptureHandler, user_level: int, library_level: int) -> None:
        self.handler = handler
        self.user_level = user_level
        self.library_level = library_level
        self.guard = LevelGuard(self)
        self._lowered: dict[str, tuple[logging.Logger, int, int]] = {}
        self._guarded: dict[int, logging.Handler] = {}

    # The natural level: the effective level as it would be without our changes.

    def natural_level(self, name: str) -> int:
        """The effective level logger ``name`` would have without taskscope."""
        logger = logging.root if name == "root" else logging.root.manager.loggerDict.get(name)
        if not isinstance(logger, logging.Logger):
            return self._natural_of(logging.root)
        cache = getattr(logger, "_cache", None)
        if isinstance(cache, dict):
            found = cache.get(_NATURAL_KEY)
            if found is None:
                found = cache[_NATURAL_KEY] = self._natural_of(logger)  # logging clears _cache on setLevel
            return found
        return self._natural_of(logger)

    def _natural_of(self, logger: logging.Logger | None) -> int:
        while logger is not None:
            level = self._original_level(logger)
            if level:
                return level
            logger = logger.parent
        return logging.NOTSET

    def _original_level(self, logger: logging.Logger) -> int:
        lowered = self._lowered.get(logger.name)
        if lowered is not None and lowered[0] is logger and logger.level == lowered[2]:
            return lowered[1]
        return logger.level

    # Applying and undoing.

    def apply(self) -> None:
        """Guard the other handlers, then lower the user loggers and the root."""
        self.guard_handlers()
        for name in sorted(sources.user_logger_names()):
            self.apply_user(name)
        root = logging.root
        if "root" not in self._lowered and self.library_level < root.level:
            self._lower(root, self.library_level)

    def apply_user(self, name: str) -> None:
        """Give a user logger without a level of its own the user capture level."""
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET and name not in self._lowered:
            self._lower(logger, self.user_level)

    def _lower(self, logger: logging.Logger, level: int) -> None:
        self._lowered[logger.name] = (logger, logger.level, level)
        logger.setLevel(level)

    def guard_handlers(self) -> None:
        """Put the guard on every handler but ours and NullHandlers (new ones: each tick)."""
        for logger in [logging.root, *list(logging.root.manager.loggerDict.values())]:
            for handler in list(getattr(logger, "handlers", ())):
                if handler is self.handler or isinstance(handler, logging.NullHandler):
                    continue
                if id(handler) not in self._guarded:
                    handler.addFilter(self.guard)
                    self._guarded[id(handler)] = handler

    recheck = guard_handlers

    def undo(self) -> None:
        """Put back every level we lowered (unless changed since) and remove the guards."""
        for name in list(self._lowered):
            logger, original, ours = self._lowered.pop(name)
            if logger.level == ours:
                logger.setLevel(original)
        for handler in self._guarded.values():
            handler.removeFilter(self.guard)
        self._guarded.clear()


_NATURAL_KEY = "taskscope-natural-level"
