"""The emitting side of remote capture: a Dask worker process or a pool child.

A :class:`RemoteCapture` is the kernel's capture (:class:`taskscope.capture.hooks.Capture`:
logging, print, warnings) feeding a :class:`~taskscope.writer.core.Writer` with a
different pipeline: :class:`ColumnPipeline` gathers each batch into
:class:`~taskscope.remote.wire.Columns` and hands it to a :class:`BatchSink`, which
encodes it (:func:`~taskscope.remote.wire.encode`) and ships it to the kernel (Dask:
``worker.log_event``; pools: a ZeroMQ PUSH socket).

The task running in the emitting thread is taken at the call, on the hot path: by the
logging handler itself, and by the queue (:func:`tagging_queue`) for prints and warnings.
The kernel's own capture pays nothing for it.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Mapping
from typing import Any

from ..capture.hooks import Capture
from ..capture.logs import LOG_AT
from ..record import safe
from ..record.columns import CONTEXT
from ..record.context import NOWHERE, Action
from ..record.rows import HOSTNAME, Caps, WireRow, make_row, system_row
from ..record.sources import RUNTIME, TASK_LOGGER, mark_user_logger
from ..writer.core import CONVERTERS, DROP, QUEUE_FULL, Drops, Item, Writer, converter
from ..writer.quiet import quiet
from .console import shared_streams
from .wire import MAX_MESSAGE, VERSION, Columns, encode

#: Where a row context (the CONTEXT fields, then the task's run_id) holds the task; the
#: action and cell follow it, last before the run_id.
_TASK_AT = CONTEXT.index("task")
assert CONTEXT[_TASK_AT + 1:] == ("action", "cell")

#: The action of each run of a task here, by ``(key, run_id)``: a row of the task made
#: outside any action of its own nests under it. Rows are built on the writer thread a
#: little after the task ended, so entries stay (the oldest go past the bound).
TASK_ACTIONS: OrderedDict[tuple[Any, Any], Action] = OrderedDict()
MAX_TASK_ACTIONS = 65_536


def remember_task_action(key: Any, run_id: Any, action: Action) -> None:
    """Rows of ``key``'s run ``run_id`` without an action of their own belong to ``action``."""
    TASK_ACTIONS[(key, run_id)] = action
    if len(TASK_ACTIONS) > MAX_TASK_ACTIONS:
        TASK_ACTIONS.popitem(last=False)


# --- the task running in the emitting thread ---------------------------------------------

class TaskTag:
    """Where the task running in a thread is found: ``getattr(local, attr)`` (a
    thread-local the task runner sets) and, for Dask, ``runs[key]`` (its run_id)."""

    def __init__(self, local: Any, attr: str, runs: Mapping[Any, int] | None = None) -> None:
        self.local = local
        self.attr = attr
        self.runs = runs


def tagging_queue(tag: TaskTag) -> deque:  # type: ignore[type-arg]
    """The collector's queue in a remote process: each item is tagged with the task
    running in the thread that appends it.

    The stream tee and warnings append through here, on the emitting thread, so the tag
    is the task that was running at the call even when the row is built later (the
    logging handler tags its own items, flat: ``"tlog"``, and appends past this). The
    kernel's own queue is a plain deque and pays nothing. (A
    class per queue: ``append`` reads its three names from the closure, the cheapest
    lookup Python has, on the hot path.)
    """
    local, attr, runs = tag.local, tag.attr, tag.runs
    plain_append = deque.append

    class TaggingQueue(deque):  # type: ignore[type-arg]
        def append(self, item: Any) -> None:
            if type(item) is tuple:
                key = getattr(local, attr, None)
                if key is not None:
                    item = ("task", key, runs.get(key) if runs is not None else None, item)
            plain_append(self, item)

    return TaggingQueue()


def _task_where(where: tuple[str, str], key: Any, run_id: Any) -> tuple[str, str]:
    """A row's ``(action, cell)``: outside an action of its own, its task run's action."""
    if where[0] or not TASK_ACTIONS or key is None:
        return where
    try:
        action = TASK_ACTIONS.get((key, run_id))
    except TypeError:  # an unhashable key
        return where
    return where if action is None else action.where


def _in_task(context: tuple[Any, ...], task: str, run_id: int | None, key: Any = None) -> tuple[Any, ...]:
    """``context`` (the CONTEXT fields, then run_id) of a row of ``task``'s run ``run_id``
    (key ``key``)."""
    where = _task_where(context[_TASK_AT + 1:-1], key, run_id)  # type: ignore[arg-type]
    return (*context[:_TASK_AT], task, *where, run_id)


def key_text(key: Any) -> str:
    """A Dask key (a str, or a tuple like ``('x-abc', 0, 1)``) as the ``task`` column shows it."""
    return key if type(key) is str else safe.safe_str(key)


@converter("task")
def _tagged_row(item: Item, caps: Caps) -> WireRow:
    """Convert (remote only): an item tagged with its task; its context gets the key and run_id."""
    _, key, run_id, inner = item
    context, created, msg, text, extra = CONVERTERS[inner[0]](inner, caps)
    return (_in_task(context, key_text(key), run_id, key), created, msg, text, extra)


@converter("tlog")
def _task_log_row(item: Item, caps: Caps) -> WireRow:
    """Convert (remote only): a log record with the task running where it was emitted."""
    context, created, msg, text, extra = CONVERTERS["log"](item, caps)
    key, run_id = item[LOG_AT["task"]], item[LOG_AT["run_id"]]
    task = "" if key is None else key_text(key)
    return (_in_task(context, task, run_id, key), created, msg, text, extra)


@converter("life")
def _life_row(item: Item, caps: Caps) -> WireRow:
    """Convert: a task lifecycle event (started, finished, erred, ...) into a runtime row."""
    _, created, levelno, event, key, run_id, thread, fields, detail, where, envelope = item
    name = key_text(key)
    extra = {**envelope, "event": event, "key": name, **fields}  # the envelope first (store.actions)
    msg = f"task {name} {event}"
    if "duration" in fields:
        msg += f" in {fields['duration']:.3f} s"
    if "exception" in fields:
        msg += f": {fields['exception']}"
    context, created, msg, text, extra_json = make_row(
        created, levelno, RUNTIME, TASK_LOGGER, msg, caps,
        thread=thread, detail=detail, extra=safe.to_json(extra, caps.extra), where=where,
    )
    return (_in_task(context, name, run_id), created, msg, text, extra_json)


def life_item(event: str, key: Any, run_id: int | None, *, levelno: int = logging.INFO,
              thread: str = "", detail: str = "", where: tuple[str, str] = NOWHERE,
              envelope: Mapping[str, Any] | None = None, **fields: Any) -> Item:
    """The queue item of one task lifecycle event (built into a row on the writer);
    ``where`` and ``envelope``: the task's action (see ``remote.dask_actions``)."""
    return ("life", time.time(), levelno, event, key, run_id, thread, fields, detail, where, envelope or {})


# --- the sink: batches to the kernel -------------------------------------------------------


class RunningDrops(Drops):
    """A remote process's drop count, told as running totals in every message's header
    (``d``, and ``dr`` by reason), never as a row inside a message: a message the kernel
    drops whole, or one lost on the way, then takes no count with it (the kernel says the
    difference: :class:`taskscope.remote.inbox.SenderDrops`)."""

    #: Distinct reasons kept; further ones are added up as "other reasons".
    MAX_REASONS = 16

    def __init__(self, queue_size: int) -> None:
        super().__init__()
        self.by_reason: dict[str, int] = {}
        self._queue_full = f"queue full at {queue_size} rows"

    def count(self, n: int = 1, why: str = QUEUE_FULL) -> None:
        if n <= 0:
            return
        said = self._queue_full if why == QUEUE_FULL else why
        with self._lock:
            self.total += n
            if said not in self.by_reason and len(self.by_reason) >= self.MAX_REASONS:
                said = "other reasons"
            self.by_reason[said] = self.by_reason.get(said, 0) + n

    def report(self, caps: Caps, queue_size: int) -> None:  # type: ignore[override]
        """No drop row: every header says the totals."""
        return None

    def running(self) -> tuple[int, dict[str, int]]:
        """The totals so far: rows dropped, and by reason."""
        with self._lock:
            return self.total, dict(self.by_reason)


class BatchSink:
    """Ships each batch of a remote process's rows to the kernel.

    Subclasses implement :meth:`ship` (one encoded message holding ``rows`` rows; False
    when it had to be dropped, e.g. a full send buffer) and may override :meth:`open` /
    :meth:`shutdown` (called on the writer thread) and :meth:`forget` (after a fork). A
    batch too large for one message is split; rows that could not be shipped are counted
    as dropped by the writer, and every message's header carries the running totals
    (:class:`RunningDrops`), so the kernel learns of them with the next message.
    """

    kind = "remote"

    def __init__(self, worker: str = "", max_message: int = MAX_MESSAGE) -> None:
        self.header: dict[str, Any] = {
            "v": VERSION, "k": self.kind, "w": worker, "h": HOSTNAME, "p": os.getpid(), "n": 0, "f": False,
        }
        self.max_message = max_message
        self.writer: Writer | None = None
        self.shipped = 0  # messages
        self.told = 0  # the drop total of the last message shipped

    def bind(self, writer: Writer) -> None:
        self.writer = writer

    # Writer thread.

    def open(self) -> None:
        """Connect (in the writer thread). Nothing to do by default."""

    def send(self, columns: Columns) -> None:
        """Ship one batch (split into several messages when it is too large)."""
        self._send(columns)

    def close(self) -> None:
        """The writer is ending: send the final (empty) message, then disconnect."""
        try:
            self._send(Columns(), final=True)
        finally:
            self.shutdown()

    def forget(self) -> None:
        """After a fork: drop the parent's connections without touching them."""

    def shutdown(self) -> None:
        """Disconnect (in the writer thread)."""

    # Shipping.

    def ship(self, payload: bytes, rows: int) -> bool:
        raise NotImplementedError

    def untold(self) -> bool:
        """Whether rows were dropped since the last message shipped (one must go, rows or not)."""
        drops = self.writer.drops if self.writer is not None else None
        return isinstance(drops, RunningDrops) and drops.total != self.told

    def _stamp(self, header: dict[str, Any]) -> None:
        """The running drop totals into ``header``."""
        drops = self.writer.drops if self.writer is not None else None
        if isinstance(drops, RunningDrops):
            header["d"], header["dr"] = drops.running()

    def _send(self, columns: Columns, final: bool = False) -> None:
        header = self.header
        header["n"] += 1
        header["f"] = final
        self._stamp(header)
        try:
            payload = encode(header, columns)
        except (TypeError, ValueError):
            payload = encode(header, [_plain_row(row) for row in columns.rows()])
        if len(payload) > self.max_message and len(columns) > 1:
            header["n"] -= 1
            rows = columns.rows()
            half = len(rows) // 2
            first, second = Columns.of(rows[:half]), Columns.of(rows[half:])
            first.l = columns.l
            self._send(first)
            self._send(second, final)
            return
        if len(payload) > self.max_message:
            self._dropped(len(columns), f"a row larger than a message may be ({self.max_message} bytes)")
            self._stamp(header)
            payload = encode(header, [system_row(
                f"a row of {len(payload)} bytes (compressed) was larger than a message may be",
                Caps(wire=True), {"max_message": self.max_message})])
        try:
            ok = self.ship(payload, len(columns))
        except Exception:  # noqa: BLE001 - a transport failure costs this batch only
            ok = False
        if ok:
            self.shipped += 1
            self.told = header.get("d", 0)
        else:  # never sent: its number is free again (no gap for the kernel to report)
            header["n"] -= 1
            self._dropped(len(columns))

    def _dropped(self, n: int, why: str = "not sent: the connection to the kernel is busy or closed") -> None:
        """``n`` rows were not sent (the next message's drop totals say so)."""
        writer = self.writer
        if writer is not None and n:
            writer.count_drop(n, why)


def _plain_row(row: WireRow) -> WireRow:
    """A row whose values JSON could not take (should not happen) made plain."""
    def plain(v: Any) -> Any:
        return v if v is None or type(v) in (str, int, float) else safe.safe_str(v)

    context, created, msg, text, extra = row
    return (tuple(plain(v) for v in context), float(created), plain(msg), plain(text), plain(extra))


# --- the remote pipeline: items into columns, columns to the sink -----------------------------


class ColumnPipeline:
    """A remote process's writer pipeline: each batch of items becomes one
    :class:`~taskscope.remote.wire.Columns` (rows as :data:`~taskscope.record.rows.WireRow`:
    the writer's caps say ``wire``), shipped by a :class:`BatchSink`; no per-level counts
    (the kernel keeps them)."""

    def __init__(self, sink: BatchSink) -> None:
        self.sink = sink
        self.stored = 0  # rows handed to the sink
        self._writer: Writer | None = None

    @property
    def where(self) -> str:
        return f"its {self.sink.kind} connection to the kernel"

    def bind(self, writer: Writer) -> None:
        self._writer = writer
        writer.drops = RunningDrops(writer.queue_size)  # told in every header, not in rows
        self.sink.bind(writer)

    def open(self) -> None:
        self.sink.open()

    def build(self, items: list[Item], final: bool) -> Columns:
        """The columns of ``items``: a plain log record (the bulk: no traceback, stack or
        extra) goes straight in, its message formatted here; any other item is converted
        to a row first."""
        writer = self._writer
        assert writer is not None
        columns = Columns()
        index, refs, created, msgs = columns.index, columns.c, columns.t, columns.m
        numbers: dict[tuple[Any, ...], int] = {}  # the item's own fields -> context number
        cap = writer.caps.msg
        convert, add = writer.convert, columns.append
        # a log item's fields (capture.logs.LOG_ITEM), as locals: the loop runs per record
        CREATED, LEVELNO, LEVEL, LOGGER, MSG, ARGS, THREAD, EXC_INFO, EXC_TEXT, STACK, EXTRA, SOURCE, WHERE, TASK, \
            RUN_ID = (LOG_AT[name] for name in (
                "created", "levelno", "level", "logger", "msg", "args", "thread", "exc_info", "exc_text",
                "stack_info", "extra", "source", "where", "task", "run_id"))
        for item in items:
            tag = item[0]
            if tag != "tlog" and tag != "log" or item[EXC_INFO] is not None or item[EXC_TEXT] is not None \
                    or item[STACK] is not None or item[EXTRA] is not None:
                if tag == ECHO:
                    columns.l.append((item[1], item[2]))
                else:
                    add(convert(item))
                continue
            task, run_id = (item[TASK], item[RUN_ID]) if tag == "tlog" else ("", None)
            msg, args = item[MSG], item[ARGS]
            if type(msg) is not str:
                msg = safe.format_message(msg, args)
            elif args:  # arguments of immutable types only (see capture._frozen): no user code runs
                try:
                    msg = msg % args
                except Exception:  # noqa: BLE001 - the marked text says what went wrong
                    msg = safe.format_message(msg, args)
            if len(msg) > cap:
                msg = safe.cut(msg, cap)
            # The context as the item has it (a Dask key is a hashable tuple): its text
            # (key_text) is made once per context, not once per record.
            raw = (item[LEVEL], item[LEVELNO], item[SOURCE], item[LOGGER], item[THREAD], task, type(task),
                   run_id, item[WHERE])  # 1 == True
            try:
                number = numbers.get(raw)
            except TypeError:  # an unhashable task key: no shortcut
                raw, number = None, None
            if number is None:
                where = _task_where(item[WHERE], task, run_id)
                fields = {"level": item[LEVEL], "levelno": item[LEVELNO], "source": item[SOURCE],
                          "logger": item[LOGGER], "thread": item[THREAD] or "",
                          "task": task if type(task) is str else "" if task is None else key_text(task),
                          "action": where[0], "cell": where[1]}
                context = (*(fields.get(name, "") for name in CONTEXT), run_id)  # once per context
                number = index.get(context)
                if number is None:
                    number = index[context] = len(index)
                if raw is not None:
                    numbers[raw] = number
            refs.append(number)
            created.append(item[CREATED])
            msgs.append(msg)
        return columns

    def send(self, columns: Columns, report: WireRow | None) -> None:
        """One message (the sink splits what is too large); also an empty one when rows
        were dropped since the last, to carry the totals. ``report`` is always None: the
        drops travel in every header (:class:`RunningDrops`)."""
        if not columns and not columns.l and not self.sink.untold():
            return
        writer = self._writer
        assert writer is not None
        try:
            self.sink.send(columns)
        except Exception as exc:  # noqa: BLE001 - lose this batch, not the thread
            writer.error = f"{type(exc).__name__}: {exc}"
            writer.count_drop(len(columns), f"not sent: {type(exc).__name__}")
            return
        self.stored += len(columns)

    def clear(self) -> None:
        """Nothing to clear: the rows live in the kernel's store."""

    def close(self) -> None:
        self.sink.close()

    def forget(self) -> None:
        self.sink.forget()


#: The tag of a queue item that is a console echo, ``(ECHO, kernel fd, line)``: a line
#: this process wrote to a console it shares with the kernel, of a record it sends as a row.
ECHO = "echo"

#: A remote process's console fds by the name of the stream that writes to them.
_STREAM_FDS = {"stdout": 1, "stderr": 2}


class ConsoleEcho(logging.Filter):
    """On a logging handler that writes to a console shared with the kernel (Dask's own
    console handler in a LocalCluster worker): each record it writes that we also send as
    a row is announced as echo lines, so the kernel's fd capture does not store it twice.

    Added after the handler's other filters (after :class:`~taskscope.capture.logs.LevelGuard`):
    only what the handler really writes is echoed.
    """

    def __init__(self, capture: RemoteCapture, handler: logging.Handler) -> None:
        super().__init__()
        self.capture = capture
        self.handler = handler

    def filter(self, rec: logging.LogRecord) -> bool:  # type: ignore[override]
        try:
            if self.capture.capture.handler.takes(rec):
                self.capture.echo(getattr(self.handler, "stream", None), self.handler.format(rec))
        except Exception:  # noqa: BLE001 - a filter must never raise into user code
            pass
        return True


class RemoteCapture:
    """Capture in this process (a worker or pool child), batches shipped by ``sink``.

    ``tag`` (optional) finds the task running in the calling thread.
    """

    def __init__(self, sink: BatchSink, options: Mapping[str, Any], tag: TaskTag | None = None) -> None:
        self.options = dict(options)
        self.sink = sink
        caps = Caps(*options["caps"], wire=True)
        batch = int(options["batch_size"])
        self.writer = Writer(
            ColumnPipeline(sink), queue_size=int(options["queue_size"]), wake_at=batch,
            interval=float(options["flush_interval"]), max_batch=batch, caps=caps,
            queue=tagging_queue(tag) if tag is not None else None,
            overflow=str(options.get("overflow", DROP)),
        )
        for name in options.get("user_loggers", ()):
            mark_user_logger(name)
        self.capture = Capture(
            self.writer,
            user_level=int(options["user_level"]),
            library_level=int(options["library_level"]),
            streams=bool(options["streams"]),
            warnings_=bool(options["warnings"]),
            exceptions=False,
            tag=tag,
        )
        self.runtime_level = int(options["library_level"])
        self.running = False
        self.shared = shared_streams(options.get("console") or {})
        if self.shared:
            sink.header["cs"] = dict(self.shared)
        self._rebuffered: list[Any] = []
        #: our console fd -> the kernel fd it writes into
        self._echo_fds = {_STREAM_FDS[name]: fd for name, fd in self.shared.items() if name in _STREAM_FDS}
        self._looked_at: weakref.WeakSet[logging.Handler] = weakref.WeakSet()
        self._echoing: list[tuple[logging.Handler, ConsoleEcho]] = []

    def start(self, what: str) -> None:
        """Start the writer and install the capture; a SYSTEM row says ``what`` started."""
        self.writer.start()
        self._line_buffer()
        try:
            self.capture.install()
        except BaseException:
            self.capture.uninstall()
            self._unbuffer()
            self.writer.stop()
            raise
        self.running = True
        if self._echo_fds:
            self.capture.handler.echo = self.echo
            self._echo_handlers()
            self.writer.tick_hooks.append(self._echo_handlers)
        self.system(f"taskscope capture started in {what}", {"pid": os.getpid(), "console_shared": self.shared})
        self.writer.wake.set()  # the kernel learns at once whether our console is its own

    def stop(self, what: str, timeout: float = 5.0) -> None:
        """Put every hook back, ship what is queued (a final message) and end the writer."""
        if not self.running:
            return
        self.running = False
        with quiet():
            self.capture.uninstall()
            self._unecho()
            self._unbuffer()
            self.system(f"taskscope capture stopped in {what}", {"pid": os.getpid()})
            self.writer.stop(timeout)

    def echo(self, stream: Any, text: str) -> None:
        """``text`` went to ``stream``: if that is a console shared with the kernel, queue
        its lines as echoes (the bound of the queue holds; nothing else is done here)."""
        try:
            fd = self._echo_fds.get(stream.fileno())
        except Exception:  # noqa: BLE001 - not a real stream: not the kernel's console
            return
        queue = self.writer.queue
        if fd is None or len(queue) >= self.writer.queue_size:
            return
        for line in text.split("\n"):
            deque.append(queue, (ECHO, fd, line))  # deque's own append: an echo is no task's row

    def _echo_handlers(self) -> None:
        """Put a :class:`ConsoleEcho` on each handler that writes to a shared console
        (at start, and for new handlers on each writer tick)."""
        for logger in [logging.root, *list(logging.root.manager.loggerDict.values())]:
            for handler in list(getattr(logger, "handlers", ())):
                if handler in self._looked_at or handler is self.capture.handler:
                    continue
                self._looked_at.add(handler)
                stream = getattr(handler, "stream", None)
                try:
                    shared = not isinstance(handler, logging.FileHandler) and stream.fileno() in self._echo_fds
                except Exception:  # noqa: BLE001 - no fd: not a console
                    shared = False
                if shared:
                    echo = ConsoleEcho(self, handler)
                    handler.addFilter(echo)
                    self._echoing.append((handler, echo))

    def _unecho(self) -> None:
        for handler, echo in self._echoing:
            handler.removeFilter(echo)
        self._echoing.clear()
        self._looked_at = weakref.WeakSet()
        self.capture.handler.echo = None
        if self._echo_handlers in self.writer.tick_hooks:
            self.writer.tick_hooks.remove(self._echo_handlers)

    def _line_buffer(self) -> None:
        """A stream shared with the kernel's console is flushed at each line end, so a line
        reaches the kernel's pipe about when its row does (the text is unchanged)."""
        for name in self.shared:
            stream = getattr(sys, name)
            if getattr(stream, "line_buffering", True) is False and hasattr(stream, "reconfigure"):
                try:
                    stream.reconfigure(line_buffering=True)
                except Exception:  # noqa: BLE001 - buffered as before
                    continue
                self._rebuffered.append(stream)

    def _unbuffer(self) -> None:
        for stream in self._rebuffered:
            try:
                stream.reconfigure(line_buffering=False)
            except Exception:  # noqa: BLE001
                pass
        self._rebuffered.clear()

    def system(self, msg: str, extra: Mapping[str, Any]) -> None:
        self.writer.offer_own(("row", system_row(msg, self.writer.caps, extra)))

    def life(self, item: Item) -> None:
        """Queue a lifecycle event, if runtime rows are captured at its level."""
        if item[2] >= self.runtime_level:
            self.writer.offer(item)


def traceback_detail(exception_text: str, traceback_text: str) -> str:
    """An erred Dask task's traceback as a log file shows one, from the worker's texts."""
    head = "Traceback (most recent call last):\n" if traceback_text else ""
    return f"{head}{traceback_text}{exception_text}"
