"""Where rows come from: logging, stdout/stderr, warnings and uncaught exceptions.

Every hook here does the least it can on the emitting thread: take the fields it needs
and append an item to the writer's queue (see :mod:`taskscope.writer.core`). Building
the row (formatting, tracebacks, JSON) happens later on the writer thread.

What we install is recorded in :class:`Capture` and put back exactly as found at
:meth:`Capture.uninstall`, unless someone replaced our hook meanwhile: then theirs stays
and ours turns into a pass-through (they may chain to it).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
import traceback
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ..record import safe, sources
from ..record.rows import Caps, Row, make_row
from ..writer.core import Item, Writer, converter
from ..writer.quiet import quiet, quiet_threads

_get_ident = threading.get_ident
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
    """``msg % args`` on the emitting thread, quiet: what a ``__str__`` logs or prints
    meanwhile is not captured (no re-entry, no recursion through our handler)."""
    ident = _get_ident()
    if ident in quiet_threads:
        return safe.format_message(msg, args)
    quiet_threads.add(ident)
    try:
        return safe.format_message(msg, args)
    finally:
        quiet_threads.discard(ident)


def _extra_fields(attrs: dict[str, Any]) -> dict[str, Any] | None:
    """The fields given with ``extra=`` (a shallow copy: the record may change later)."""
    keys = attrs.keys() - _STANDARD_ATTRS
    return {k: attrs[k] for k in sorted(keys) if k in attrs} if keys else None


@converter("log")
def _record_row(item: Item, caps: Caps) -> Row:
    """Convert: a snapshot of a LogRecord into a row (on the writer thread)."""
    (_, created, levelno, levelname, name, msg, args, thread, process,
     exc_info, exc_text, stack_info, extra, source) = item
    return make_row(
        created, levelno, source, name, safe.format_message(msg, args), caps,
        thread=thread or "",
        detail=_record_detail(exc_info, exc_text, stack_info),
        extra=safe.to_json(extra, caps.extra) if extra else None,
        level=levelname,
        pid=process,
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
    them, while a tuple of strings and numbers is untracked by it. A full queue counts
    a drop and moves on. Never raises. One function on purpose: every call costs here.
    """
    writer = handler.writer
    queue, queue_size, wake_at, wake = writer.queue, writer.queue_size, writer.wake_at, writer.wake
    classes, classify, last_resort = handler._classes, handler._classify, handler._last_resort
    local, attr, runs = (tag.local, tag.attr, tag.runs) if tag is not None else (None, "", None)
    tag_name = "log" if tag is None else "tlog"  # "tlog": a "log" item + (task key, run_id)
    append = deque.append  # the plain one: a remote queue's own append would tag the item again
    immutable = _IMMUTABLE_ARGS

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
            if waiting >= queue_size:
                writer.count_drop()
            else:
                msg, args = rec.msg, rec.args
                if args and (type(args) is not tuple or not (  # one or two arguments: no call
                        type(args[0]) in immutable and (len(args) == 1 or type(args[1]) in immutable
                                                        and (len(args) == 2 or _frozen(args))))):
                    msg, args = _format_now(msg, args), None
                attrs = rec.__dict__
                item: Item = (
                    tag_name, rec.created, levelno, rec.levelname, name, msg, args,
                    rec.threadName, rec.process, rec.exc_info, rec.exc_text, rec.stack_info,
                    None if len(attrs) == _PLAIN_RECORD_SIZE else _extra_fields(attrs), source,
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


#: Loggers that do not propagate to the root by their library's own setup, whose records
#: are captured anyway (see :meth:`Capture._handle_nonpropagating`): distributed's.
NONPROPAGATING: tuple[str, ...] = ("distributed",)


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


# --- stdout / stderr -----------------------------------------------------------------------


@converter("line")
def _line_row(item: Item, caps: Caps) -> Row:
    """Convert: one complete output line into a row (``dropped``: characters cut already)."""
    _, created, stream, levelno, line, thread, dropped = item
    return make_row(
        created, levelno, sources.PRINT, stream, terminal_line(line), caps,
        thread=thread, dropped=dropped,
    )


def terminal_line(line: str) -> str:
    """What a terminal shows for ``line``: a trailing CR dropped, text after a CR overwrote."""
    if line.endswith("\r"):
        line = line[:-1]
    cr = line.rfind("\r")
    return line[cr + 1:] if cr >= 0 else line


def _keep_from_last_cr(pending: str) -> str:
    """A pending partial line after a CR rewrote it (progress bars): only the last state.

    A CR at the very end is kept: it may be the first half of a CRLF.
    """
    cr = pending.rfind("\r", 0, len(pending) - 1)
    return pending[cr:] if cr > 0 else pending


#: Pending pieces of one thread's line before they are joined (bounds the list's growth).
_MAX_PIECES = 256


class StreamTee:
    """``sys.stdout``/``sys.stderr`` as before, plus one row per complete line.

    The wrapped stream gets every write first and unchanged; every other attribute
    (``set_parent`` for ipykernel's cell routing, ``fileno``, ``isatty``, ``encoding``,
    ``flush``, ...) is the wrapped stream's own. Partial lines wait per thread, so lines
    from threads do not interleave; a pending one is stored at stop.

    ``write`` and ``take`` are closures made per instance (see :func:`_line_writer`): with
    ``__getattr__`` defined, every ``self.x`` lookup goes through Python's slow attribute
    hook, and ``write`` runs for every piece of every ``print``.
    """

    _own = frozenset({
        "inner", "stream", "levelno", "writer", "capturing", "line_cap", "write", "take",
        "_partial", "_overflow", "_buffer",
    })

    def __init__(self, inner: Any, stream: str, levelno: int, writer: Writer, line_cap: int) -> None:
        own = {
            "inner": inner, "stream": stream, "levelno": levelno, "writer": writer,
            "capturing": True, "line_cap": line_cap, "_partial": {}, "_overflow": {}, "_buffer": None,
        }
        vars(self).update(own)
        write, take = _line_writer(vars(self))
        vars(self).update(write=write, take=take)

    def writelines(self, lines: Iterable[str]) -> None:
        """Each piece as a write, as ``TextIOBase.writelines`` does."""
        write = self.write
        for line in lines:
            write(line)

    def flush_partial(self) -> None:
        """Store every thread's pending partial line (at stop)."""
        names = {t.ident: t.name for t in threading.enumerate()}
        partial, overflow = self._partial, self._overflow
        for ident in list(partial):
            pieces = partial.pop(ident, None)
            if pieces and ident not in quiet_threads:
                self.writer.offer(_line_item(
                    self, "".join(pieces), names.get(ident, f"thread {ident}"), overflow.pop(ident, 0)))

    @property
    def buffer(self) -> Any:
        """The wrapped stream's byte buffer, teed too (bytes decoded incrementally)."""
        inner_buffer = self.inner.buffer
        tee = self._buffer
        if tee is None or tee.inner is not inner_buffer:
            tee = BufferTee(inner_buffer, self)
            vars(self)["_buffer"] = tee
        return tee

    def __getattr__(self, name: str) -> Any:
        return getattr(vars(self)["inner"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        """Our own names (and patches of our methods, like IPython's ``write`` tee for
        the cell history) stay on the wrapper; everything else is the stream's."""
        if name in self._own or hasattr(type(self), name):
            object.__setattr__(self, name, value)
        else:
            setattr(self.inner, name, value)

    def __delattr__(self, name: str) -> None:
        if name in vars(self):
            object.__delattr__(self, name)
        else:
            delattr(self.inner, name)

    def __iter__(self) -> Any:
        return iter(self.inner)

    def __repr__(self) -> str:
        return f"<taskscope tee of {self.inner!r}>"


def _line_item(tee: StreamTee | dict[str, Any], line: str, thread: str | None, dropped: int) -> Item:
    """The queue item of one complete output line."""
    own = tee if isinstance(tee, dict) else vars(tee)
    return ("line", _now(), own["stream"], own["levelno"], line, thread or _current_thread().name, dropped)


def _line_writer(own: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[..., None]]:
    """The tee's ``write`` (hot path) and ``take`` (line splitting), over its own dict."""
    partial: dict[int, list[str]] = own["_partial"]
    overflow: dict[int, int] = own["_overflow"]
    inner = own["inner"]
    writer: Writer = own["writer"]
    line_cap: int = own["line_cap"]
    stream: str = own["stream"]
    levelno: int = own["levelno"]
    queue, queue_size, wake_at, wake = writer.queue, writer.queue_size, writer.wake_at, writer.wake

    def write(text: str) -> Any:
        """Write through, then keep the text: the hot path of every ``print``.

        A piece without a line end is only appended to this thread's pending list (no
        string building); a line end sends the joined line(s) to the queue.
        """
        written = inner.write(text)
        if own["capturing"]:
            try:
                if "\n" in text or "\r" in text:
                    take(text)
                elif text:
                    ident = _get_ident()
                    pending = partial.get(ident)
                    if pending is None:
                        partial[ident] = [text]
                    elif len(pending) < _MAX_PIECES:
                        pending.append(text)
                    else:
                        take(text)
            except Exception:  # noqa: BLE001 - output must never fail because of us
                pass
        return written

    def take(text: str, thread: str | None = None) -> None:
        """Add ``text`` to this thread's pending line; enqueue every line it completes.

        A pending line rewritten by CRs (progress bars) keeps only its last state; one
        longer than ``line_cap`` keeps its head and counts the rest, cut at the line end:
        one row per line, memory bounded. Output of taskscope's own threads is dropped.
        """
        if type(text) is not str or not text:
            return
        ident = _get_ident()
        pieces = partial.pop(ident, None)
        if ident in quiet_threads:
            return
        lines = (text if pieces is None else "".join(pieces) + text).split("\n")
        rest = lines.pop()
        for line in lines:  # writer.offer, inlined: this runs for every printed line
            dropped = overflow.pop(ident, 0) if overflow else 0
            waiting = len(queue)
            if waiting >= queue_size:
                writer.count_drop()
                continue
            queue.append(("line", _now(), stream, levelno, line, thread or _current_thread().name, dropped))
            if waiting + 1 == wake_at:
                wake.set()
        if rest:
            if "\r" in rest:
                rest = _keep_from_last_cr(rest)
            if len(rest) > line_cap:
                overflow[ident] = overflow.get(ident, 0) + len(rest) - line_cap
                rest = rest[:line_cap]
            partial[ident] = [rest]

    return write, take


class BufferTee:
    """``sys.stdout.buffer`` as before, its bytes decoded per thread into the text tee."""

    def __init__(self, inner: Any, text: StreamTee) -> None:
        self.inner = inner
        self.text = text
        self._decoders: dict[int, Any] = {}

    def write(self, data: Any) -> Any:
        written = self.inner.write(data)
        if self.text.capturing:
            try:
                decoder = self._decoders.get(_get_ident())
                if decoder is None:
                    decoder = self._decoders[_get_ident()] = safe.decoder()
                self.text.take(decoder.decode(bytes(data)))
            except Exception:  # noqa: BLE001
                pass
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class FdWatch:
    """ipykernel's fd-level output (``os.write(1, ...)``, C extensions, subprocesses).

    ipykernel 7 points fd 1/2 at a pipe and a watcher thread reads it, then calls its
    ``OutStream.write`` directly (not ``sys.stdout``). We shadow that one instance's
    ``write`` with a function that tees only the watcher thread's writes (our
    ``StreamTee`` already sees the others). The text is what the cell shows: ipykernel
    decoded it.

    IPython's ``run_cell`` patches ``sys.stdout.write`` for the cell and puts it back
    after: in the cell that calls ``start()`` that is the OutStream, so our ``write``
    is replaced at the end of that cell. :meth:`ensure` (each writer tick) puts it back.
    """

    def __init__(self, outstream: Any, tee: StreamTee) -> None:
        self.outstream = outstream
        self.tee = tee
        self.fd: int | None = getattr(outstream, "_original_stdstream_fd", None)
        self.label = f"fd {self.fd if self.fd is not None else '?'}"
        self._watcher: threading.Thread = outstream.watch_fd_thread
        self._had_own = False
        self._previous: Any = None
        self.write: Callable[[str], Any] | None = None
        self.ensure()

    @staticmethod
    def applies(stream: Any) -> bool:
        """Whether ``stream`` is an ipykernel OutStream that watches its fd."""
        return bool(getattr(stream, "_should_watch", False)) and getattr(stream, "watch_fd_thread", None) is not None

    def ensure(self) -> None:
        """(Re)install our ``write`` on the OutStream, wrapping whatever it is now."""
        own = vars(self.outstream)
        if self.write is not None and own.get("write") is self.write:
            return
        self._had_own = "write" in own
        self._previous = own.get("write")
        original = self.outstream.write
        watcher, tee, label = self._watcher, self.tee, self.label

        def write(text: str) -> Any:
            written = original(text)
            if tee.capturing and _get_ident() == watcher.ident:
                try:
                    tee.take(text, label)
                except Exception:  # noqa: BLE001
                    pass
            return written

        self.write = write
        self.outstream.write = write

    def remove(self) -> None:
        """Put the instance's ``write`` back as we last found it, if it is still ours."""
        if vars(self.outstream).get("write") is not self.write:
            return
        if self._had_own:
            self.outstream.write = self._previous
        else:
            del self.outstream.write


# --- warnings and exceptions ---------------------------------------------------------------

_module_of_file: dict[str, str] = {}


def module_for_file(filename: str) -> str:
    """The module a warning came from, by its file; ``__main__`` for notebook cells."""
    found = _module_of_file.get(filename)
    if found is None:
        found = _module_of_file[filename] = _find_module(filename)
    return found


def _find_module(filename: str) -> str:
    for name, module in list(sys.modules.copy().items()):
        if getattr(module, "__file__", None) == filename:
            return "__main__" if name == "__main__" else name
    base = os.path.basename(os.path.dirname(filename))
    if filename.startswith("<") or base.startswith("ipykernel_"):
        return "__main__"  # IPython cells: <ipython-input-...> or /tmp/ipykernel_<pid>/<hash>.py
    marker = f"site-packages{os.sep}"
    if marker in filename:
        relative = filename.split(marker, 1)[1].rsplit(".", 1)[0]
        return relative.replace(os.sep, ".").removesuffix(".__init__")
    return "py.warnings"


@converter("warning")
def _warning_row(item: Item, caps: Caps) -> Row:
    """Convert: a shown warning into a WARNING row named after the warning's module."""
    _, created, message, category, filename, lineno, thread = item
    name = getattr(category, "__name__", "Warning")
    logger = module_for_file(safe.safe_str(filename))
    msg = f"{name}: {safe.safe_str(message)}"
    where = f"{filename}:{lineno}"
    return make_row(
        created, logging.WARNING, sources.source_of(logger), logger, msg, caps, thread=thread,
        detail=f"  {where}",
        extra=safe.to_json({"category": name, "filename": safe.safe_str(filename), "lineno": lineno}, caps.extra),
    )


@converter("exception")
def _exception_row(item: Item, caps: Caps) -> Row:
    """Convert: an uncaught exception into an ERROR row with its traceback."""
    _, created, exc, logger, thread, extra = item
    name = type(exc).__name__
    msg = f"{name}: {safe.safe_str(exc)}" if not isinstance(exc, RecursionError) else f"{name}"
    return make_row(
        created, logging.ERROR, sources.source_of(logger), logger, msg, caps, thread=thread,
        detail=format_exception(exc),
        extra=safe.to_json({"exception": name, **extra}, caps.extra),
    )


class Capture:
    """Everything installed for one recording: install once, uninstall exactly once."""

    def __init__(
        self,
        writer: Writer,
        *,
        user_level: int = logging.DEBUG,
        library_level: int = logging.INFO,
        streams: bool = True,
        warnings_: bool = True,
        exceptions: bool = True,
        nonpropagating: tuple[str, ...] = NONPROPAGATING,
        tag: Any = None,
    ) -> None:
        self.writer = writer
        thresholds = {
            sources.USER: user_level,
            sources.LIBRARY: library_level,
            sources.RUNTIME: library_level,
            sources.SYSTEM_SOURCE: library_level,
        }
        self.handler = CaptureHandler(writer, thresholds, tag)
        self.policy = self.handler.policy = LevelPolicy(self.handler, user_level, library_level)
        self._want_streams = streams
        self._want_warnings = warnings_
        self._want_exceptions = exceptions
        self._nonpropagating = tuple(nonpropagating)
        self._on_loggers: dict[str, logging.Logger] = {}
        self.tees: dict[str, StreamTee] = {}
        self._fd: list[FdWatch] = []
        self._undo: list[Callable[[], None]] = []
        self.installed = False

    # Installing.

    def install(self) -> None:
        """Put every hook in place; each one registers how to undo itself."""
        self._install_logging()
        if self._want_streams:
            self._install_streams()
        if self._want_warnings:
            self._install_warnings()
        if self._want_exceptions:
            self._install_exceptions()
        self.installed = True

    def _install_logging(self) -> None:
        root = logging.root
        root.handlers.insert(0, self.handler)  # first on root: a raising handler after us can't stop us
        self._undo.append(lambda: _remove_handler(root, self.handler))
        self.policy.apply()
        self._undo.append(self.policy.undo)
        sources.on_mark(self._on_user_logger)
        self._undo.append(lambda: sources.off_mark(self._on_user_logger))
        self.writer.tick_hooks.append(self.policy.recheck)
        self._undo.append(lambda: _discard(self.writer.tick_hooks, self.policy.recheck))
        self._patch(logging, "basicConfig", self._basic_config(logging.basicConfig))
        if self._nonpropagating:
            self._handle_nonpropagating()
            self.writer.tick_hooks.append(self._handle_nonpropagating)
            self._undo.append(lambda: _discard(self.writer.tick_hooks, self._handle_nonpropagating))
            self._undo.append(self._leave_nonpropagating)

    def _handle_nonpropagating(self) -> None:
        """Our handler also on the named loggers while they do not propagate to the root.

        distributed gives its ``distributed`` logger its own console handler and
        ``propagate = False`` (in every worker, and in the kernel when it was imported
        before ``start()``): its records never reach the root. While that holds our
        handler sits on that logger too; it leaves as soon as the logger propagates, so
        no record is taken twice. Checked at install and on each writer tick.
        """
        for name in self._nonpropagating:
            logger = logging.root.manager.loggerDict.get(name)
            if not isinstance(logger, logging.Logger):
                continue
            ours = self.handler in logger.handlers
            if not logger.propagate and not ours:
                logger.handlers.insert(0, self.handler)
                self._on_loggers[name] = logger
            elif logger.propagate and ours:
                _remove_handler(logger, self.handler)
                self._on_loggers.pop(name, None)

    @contextmanager
    def stepped_aside(self) -> Iterator[None]:
        """While inside, our handler is not on the root logger (then guard new handlers).

        For a library that sets up its console logging only when the root logger has no
        handler (distributed does, when it is imported): it then does what it would do
        without taskscope.
        """
        root = logging.root
        _remove_handler(root, self.handler)
        try:
            yield
        finally:
            if self.installed and self.handler not in root.handlers:
                root.handlers.insert(0, self.handler)
                self.policy.guard_handlers()

    def _leave_nonpropagating(self) -> None:
        for logger in self._on_loggers.values():
            _remove_handler(logger, self.handler)
        self._on_loggers.clear()

    def _on_user_logger(self, name: str) -> None:
        """A user logger was registered: classify it again and apply the user level now."""
        if not self.installed:
            return
        self.handler.forget_classes()
        self.policy.apply_user(name)

    def _basic_config(self, original: Callable[..., None]) -> Callable[..., None]:
        """``logging.basicConfig`` that works as if taskscope were not on the root logger.

        basicConfig does nothing when root has a handler, and ours always is; so we step
        aside for the call, and the StreamHandler it makes writes to the real stream.
        """
        capture = self

        def basicConfig(**kwargs: Any) -> None:
            root = logging.root
            with quiet():
                _remove_handler(root, capture.handler)
                capture.policy.undo()
                try:
                    original(**kwargs)
                finally:
                    root.handlers.insert(0, capture.handler)
                    capture._untee_handlers(root.handlers)
                    capture.policy.apply()

        basicConfig.__doc__ = original.__doc__
        basicConfig.__wrapped__ = original  # type: ignore[attr-defined]
        return basicConfig

    def _untee_handlers(self, handlers: Iterable[logging.Handler]) -> None:
        """StreamHandlers made on our tee write to the real stream (their lines are records)."""
        tees = {id(t): t for t in self.tees.values()}
        for handler in handlers:
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and id(stream) in tees:
                handler.stream = tees[id(stream)].inner

    def _install_streams(self) -> None:
        cap = self.writer.caps.msg
        for name, levelno in (("stdout", logging.INFO), ("stderr", logging.WARNING)):
            inner = getattr(sys, name)
            if inner is None:
                continue
            tee = StreamTee(inner, name, levelno, self.writer, cap)
            self.tees[name] = tee
            self._patch(sys, name, tee)
            if FdWatch.applies(inner):
                watch = FdWatch(inner, tee)
                self._fd.append(watch)
                self._undo.append(watch.remove)
                self.writer.tick_hooks.append(watch.ensure)
                self._undo.append(lambda w=watch: _discard(self.writer.tick_hooks, w.ensure))
        self._ensure_fd_before_cells()

    def _ensure_fd_before_cells(self) -> None:
        """Before each cell, re-assert the fd watches (see :class:`FdWatch`): no race with the tick."""
        shell = _ipython_shell()
        if shell is None or not self._fd:
            return

        def pre_execute() -> None:
            for watch in self._fd:
                try:
                    watch.ensure()
                except Exception:  # noqa: BLE001
                    pass

        self._on_event(shell, "pre_execute", pre_execute)

    def _install_warnings(self) -> None:
        """``warnings.showwarning`` chained: a WARNING row, then the display as before."""
        previous = warnings.showwarning
        capture = self

        def showwarning(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
            if capture.installed and _get_ident() not in quiet_threads:
                capture.writer.offer(
                    ("warning", _now(), message, category, filename, lineno, _current_thread().name)
                )
            with quiet():
                previous(message, category, filename, lineno, file, line)

        self._patch(warnings, "showwarning", showwarning)

    def _install_exceptions(self) -> None:
        shell = _ipython_shell()
        if shell is not None:
            self._install_cell_errors(shell)
        else:
            self._install_excepthook()

    def _install_cell_errors(self, shell: Any) -> None:
        """IPython: an uncaught exception in a cell is ``result.error_in_exec`` after the cell.

        ``post_run_cell`` leaves IPython's own traceback display untouched (unlike
        ``set_custom_exc``) and runs once per (non-silent) cell.
        """
        capture = self

        def post_run_cell(result: Any) -> None:
            if not capture.installed:
                return
            try:
                error = getattr(result, "error_in_exec", None) or getattr(result, "error_before_exec", None)
                if error is None:
                    return
                info = getattr(result, "info", None)
                extra = {"execution_count": getattr(result, "execution_count", None),
                         "cell_id": getattr(info, "cell_id", None)}
                capture.writer.offer(("exception", _now(), error, "__main__", _current_thread().name, extra))
            except Exception:  # noqa: BLE001
                pass

        self._on_event(shell, "post_run_cell", post_run_cell)

    def _on_event(self, shell: Any, event: str, callback: Callable[..., None]) -> None:
        """Register an IPython event callback; unregister it at uninstall."""
        shell.events.register(event, callback)
        self._undo.append(lambda: _unregister(shell, event, callback))

    def _install_excepthook(self) -> None:
        """Outside IPython: ``sys.excepthook`` chained to the one we found."""
        previous = sys.excepthook
        capture = self

        def excepthook(etype: type[BaseException], value: BaseException, tb: Any) -> None:
            if capture.installed:
                try:
                    capture.writer.offer(("exception", _now(), value, "__main__", _current_thread().name, {}))
                except Exception:  # noqa: BLE001
                    pass
            with quiet():
                previous(etype, value, tb)

        self._patch(sys, "excepthook", excepthook)

    def _patch(self, owner: Any, name: str, value: Any) -> None:
        """Set ``owner.name``; at uninstall put the old one back if ours is still there.

        If someone replaced ours meanwhile, theirs stays; ours (which they may call)
        passes through, since it checks ``installed``.
        """
        previous = getattr(owner, name)
        setattr(owner, name, value)

        def undo() -> None:
            if getattr(owner, name) is value:
                setattr(owner, name, previous)

        self._undo.append(undo)

    def watched_fds(self) -> list[int]:
        """The fds whose output (ipykernel's capture pipes) becomes rows, labelled ``fd N``."""
        return [watch.fd for watch in self._fd if watch.fd is not None]

    # Uninstalling.

    def uninstall(self) -> None:
        """Store pending partial lines, then undo every change in reverse order.

        Also undoes a half-done :meth:`install` (whatever registered its undo).
        """
        if not self.installed and not self._undo:
            return
        self.installed = False
        for tee in self.tees.values():
            tee.flush_partial()
        for undo in reversed(self._undo):
            try:
                undo()
            except Exception:  # noqa: BLE001 - undo the rest regardless
                pass
        self._undo.clear()
        for tee in self.tees.values():
            object.__setattr__(tee, "capturing", False)  # a kept reference passes through


def _ipython_shell() -> Any:
    """The running IPython shell, without importing IPython where it is not in use."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:  # noqa: BLE001
        return None


def _remove_handler(logger: logging.Logger, handler: logging.Handler) -> None:
    if handler in logger.handlers:
        logger.removeHandler(handler)


def _discard(items: list[Any], value: Any) -> None:
    if value in items:
        items.remove(value)


def _unregister(shell: Any, event: str, callback: Callable[..., Any]) -> None:
    try:
        shell.events.unregister(event, callback)
    except ValueError:
        pass
