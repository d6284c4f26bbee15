"""The emitting side of remote capture: a Dask worker process or a pool child.

A :class:`RemoteCapture` is the kernel's capture (:class:`taskscope.capture.Capture`:
logging, print, warnings) with a different end: its collector's writer thread does not
write SQLite, it gathers each batch into :class:`Columns` and hands it to a
:class:`BatchSink`, which encodes it (msgpack, zlib) and ships it to the kernel (Dask:
``worker.log_event``; pools: a ZeroMQ PUSH socket).

The task running in the emitting thread is taken at the call, on the hot path: by the
logging handler itself, and by the queue (:func:`tagging_queue`) for prints and warnings.
The kernel's own capture pays nothing for it.

Wire format of one message (:func:`encode`): a zlib-compressed msgpack map (ASCII JSON
where msgpack is not installed), plain data only, no pickle::

    {"v": 1, "k": kind, "w": worker, "h": hostname, "p": pid, "n": message number,
     "f": final?, "cs": {"stdout": kernel fd, ...} (only from a process sharing the
     kernel's console, see :func:`shared_streams`),
     "ctx": [[level, levelno, source, logger, thread, task, run_id], ...],
     "c": [context index per row], "t": [created per row], "m": [msg per row],
     "x": [[row index, text], ...], "e": [[row index, extra JSON], ...],
     "l": [[kernel fd, line], ...] (only when there are some: lines this process's logging
          handlers wrote to the kernel's console, see :class:`ConsoleEcho`)}

Columns, and what rows share (their context) once per message: the emitting process
builds no row tuple per record and formats each message once; the kernel turns the
columns into rows with ``zip``. ``text`` is sent only where it is more than the line (a
traceback); the kernel writes the rest. A task's ``run_id`` is Dask's number for one
dispatch of it (the kernel turns it into an attempt 1, 2, ...).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import weakref
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import record, safe
from .capture import Capture
from .collector import CONVERTERS, Collector, Item, converter, quiet
from .record import Caps, WireRow

try:  # a dependency of distributed; pool children without it send JSON
    import msgpack as _msgpack
except ImportError:  # pragma: no cover - depends on the environment
    _msgpack = None  # type: ignore[assignment]

#: Protocol version of :func:`encode`'s messages.
VERSION = 1

#: The logger name of task lifecycle rows (source ``runtime``).
TASK_LOGGER = "taskscope.task"

#: A message (one compressed batch) is at most this many bytes; bigger batches are split.
MAX_MESSAGE = 8 * 1024 * 1024

#: The kernel inflates a message to at most this many bytes (a zip bomb gets no further).
MAX_INFLATED = 64 * 1024 * 1024

#: Options of a remote capture, as the kernel sends them (all plain data).
DEFAULT_OPTIONS: dict[str, Any] = {
    "user_level": logging.DEBUG,
    "library_level": logging.INFO,
    "caps": [Caps().msg, Caps().text, Caps().extra],
    "flush_interval": 0.1,
    "batch_size": 1000,
    "queue_size": 100_000,
    "streams": True,
    "warnings": True,
    "user_loggers": [],
    "lifecycle": True,
    "max_message": MAX_MESSAGE,
    "console": {},
}


def remote_options(options: Mapping[str, Any] | None = None, **overrides: Any) -> dict[str, Any]:
    """The options a remote capture gets: the kernel session's, then ``overrides``.

    ``options`` are the kernel's ``start()`` options (levels as names or numbers).
    """
    from .capture import parse_level

    merged = dict(DEFAULT_OPTIONS)
    if options:
        merged["user_level"] = parse_level(options.get("user_level", merged["user_level"]))
        merged["library_level"] = parse_level(options.get("library_level", merged["library_level"]))
        merged["caps"] = [options.get("msg_cap", merged["caps"][0]), options.get("text_cap", merged["caps"][1]),
                          options.get("extra_cap", merged["caps"][2])]
        for key in ("flush_interval", "queue_size", "streams", "warnings"):
            if key in options:
                merged[key] = options[key]
        merged["batch_size"] = min(int(options.get("batch_size", 1000)), 1000)
    merged["user_loggers"] = sorted(record.user_logger_names())
    merged["console"] = kernel_console()
    unknown = set(overrides) - set(DEFAULT_OPTIONS)
    if unknown:
        raise TypeError(f"unknown remote option(s): {', '.join(sorted(unknown))}")
    merged.update(overrides)
    for key in ("user_level", "library_level"):
        merged[key] = parse_level(merged[key])
    for key in ("batch_size", "queue_size", "max_message"):
        if not isinstance(merged[key], int) or merged[key] < 1:
            raise ValueError(f"{key} must be a positive int, not {merged[key]!r}")
    return merged


# --- console sharing -----------------------------------------------------------------------


def kernel_console() -> dict[str, list[int]]:
    """In the kernel: ``{fd: [st_dev, st_ino]}`` of the fds whose output the kernel's
    capture records (ipykernel's pipes behind fd 1/2); empty when there are none."""
    from . import runtime

    session = runtime._session
    capture = session.capture if session is not None else None
    found: dict[str, list[int]] = {}
    for fd in capture.watched_fds() if capture is not None else ():
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        found[str(fd)] = [st.st_dev, st.st_ino]
    return found


def shared_streams(console: Mapping[str, Sequence[int]]) -> dict[str, int]:
    """In a remote process: which of ``sys.stdout``/``sys.stderr`` write into the kernel's
    captured fds (``console``, from :func:`kernel_console`), as ``{stream: kernel fd}``.

    A LocalCluster worker or a spawned pool child started from the kernel inherits
    ipykernel's pipes as its fd 1/2, so its output also reaches the kernel as fd output.
    (A forked child's ``sys.stdout`` is ipykernel's own stream, which sends to the
    kernel another way: its ``fileno()`` is not the pipe, and it is not shared.)
    """
    kernel = {tuple(ident): int(fd) for fd, ident in (console or {}).items()}
    shared: dict[str, int] = {}
    for name in ("stdout", "stderr"):
        try:
            st = os.fstat(getattr(sys, name).fileno())
        except Exception:  # noqa: BLE001 - no fd (None, StringIO, ...): not shared
            continue
        fd = kernel.get((st.st_dev, st.st_ino))
        if fd is not None:
            shared[name] = fd
    return shared


# --- the wire ------------------------------------------------------------------------------


class Columns:
    """A batch of :data:`~taskscope.record.WireRow` as a message carries it: each distinct
    context once (``ctx``), per row its context index (``c``), created (``t``) and msg
    (``m``); texts (``x``) and extras (``e``) only where a row has one, by row index.

    The remote writer fills the columns straight from queue items (no row tuple per
    record); :meth:`append` takes a finished row for the rarer kinds.
    """

    __slots__ = ("index", "c", "t", "m", "x", "e", "l")

    def __init__(self) -> None:
        self.index: dict[tuple[Any, ...], int] = {}
        self.c: list[int] = []
        self.t: list[float] = []
        self.m: list[str] = []
        self.x: list[tuple[int, str]] = []
        self.e: list[tuple[int, str]] = []
        self.l: list[tuple[int, str]] = []  # (kernel fd, line): console echoes, not rows

    @classmethod
    def of(cls, rows: Iterable[WireRow]) -> Columns:
        columns = cls()
        for row in rows:
            columns.append(row)
        return columns

    def __len__(self) -> int:
        return len(self.t)

    def append(self, row: WireRow) -> None:
        context, created, msg, text, extra = row
        at = len(self.t)
        number = self.index.get(context)
        if number is None:
            number = self.index[context] = len(self.index)
        self.c.append(number)
        self.t.append(created)
        self.m.append(msg)
        if text is not None:
            self.x.append((at, text))
        if extra is not None:
            self.e.append((at, extra))

    def rows(self) -> list[WireRow]:
        """The rows again (to split a batch, or make its values plain)."""
        contexts = list(self.index)
        texts, extras = dict(self.x), dict(self.e)
        return [(contexts[c], t, m, texts.get(i), extras.get(i))
                for i, (c, t, m) in enumerate(zip(self.c, self.t, self.m))]

    def fields(self) -> dict[str, Any]:
        fields = {"ctx": list(self.index), "c": self.c, "t": self.t, "m": self.m, "x": self.x, "e": self.e}
        if self.l:
            fields["l"] = self.l
        return fields


def encode(header: Mapping[str, Any], rows: Columns | Sequence[WireRow]) -> bytes:
    """One message: ``header`` plus ``rows`` in columns, packed with msgpack (ASCII JSON
    where msgpack is not installed, or a string holds a lone surrogate), compressed
    with zlib level 1.

    Neither format runs code on the other side, unlike pickle; JSON's ASCII escapes keep
    lone surrogates (the store shows them).
    """
    columns = rows if isinstance(rows, Columns) else Columns.of(rows)
    message = {**header, **columns.fields()}
    if _msgpack is not None:
        try:
            return zlib.compress(_msgpack.packb(message), 1)
        except (UnicodeEncodeError, OverflowError):
            pass
    text = json.dumps(message, ensure_ascii=True, separators=(",", ":"))
    return zlib.compress(text.encode("ascii"), 1)


class MessageError(ValueError):
    """A message that is not one of ours: too large, not zlib, not msgpack/JSON, wrong shape."""


def decode(payload: bytes, max_inflated: int = MAX_INFLATED) -> dict[str, Any]:
    """The header and columns of a message; :class:`MessageError` when it is not a valid one."""
    if not isinstance(payload, (bytes, bytearray, memoryview)):
        raise MessageError(f"a message is bytes, not {type(payload).__name__}")
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(payload, max_inflated)
    except zlib.error as exc:
        raise MessageError(f"not a zlib stream: {exc}") from None
    if inflater.unconsumed_tail:
        raise MessageError(f"inflates to more than {max_inflated} bytes")
    message = _unpack(data)
    if type(message) is not dict or message.get("v") != VERSION:
        raise MessageError("not a taskscope batch (no version)")
    columns = [message.get(name) for name in ("ctx", "c", "t", "m", "x", "e")]
    if not all(type(column) is list for column in columns) or not len(columns[1]) == len(columns[2]) == len(columns[3]):
        raise MessageError("not a taskscope batch (columns missing or of different lengths)")
    return message


def _unpack(data: bytes) -> Any:
    """JSON (a ``{``) or msgpack (a map), plain data only: no extension types."""
    if data[:1] == b"{":
        try:
            return json.loads(data)
        except ValueError as exc:
            raise MessageError(f"not JSON: {exc}") from None
    if _msgpack is None:
        raise MessageError("not JSON (and msgpack is not installed)")
    try:
        return _msgpack.unpackb(data, raw=False, strict_map_key=True, ext_hook=_no_ext)
    except Exception as exc:  # noqa: BLE001 - any malformed input
        raise MessageError(f"neither JSON nor msgpack: {type(exc).__name__}") from None


def _no_ext(code: int, data: bytes) -> Any:
    raise ValueError(f"msgpack extension type {code} is not accepted")


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


def key_text(key: Any) -> str:
    """A Dask key (a str, or a tuple like ``('x-abc', 0, 1)``) as the ``task`` column shows it."""
    return key if type(key) is str else safe.safe_str(key)


@converter("task")
def _tagged_row(item: Item, caps: Caps) -> WireRow:
    """Convert (remote only): an item tagged with its task; its context gets the key and run_id."""
    _, key, run_id, inner = item
    context, created, msg, text, extra = CONVERTERS[inner[0]](inner, caps)
    return ((*context[:5], key_text(key), run_id), created, msg, text, extra)


@converter("tlog")
def _task_log_row(item: Item, caps: Caps) -> WireRow:
    """Convert (remote only): a log record with the task running where it was emitted."""
    context, created, msg, text, extra = CONVERTERS["log"](item[:14], caps)
    key = item[14]
    return ((*context[:5], "" if key is None else key_text(key), item[15]), created, msg, text, extra)


@converter("life")
def _life_row(item: Item, caps: Caps) -> WireRow:
    """Convert: a task lifecycle event (started, finished, erred, ...) into a runtime row."""
    _, created, levelno, event, key, run_id, thread, fields, detail = item
    name = key_text(key)
    extra = {"event": event, "key": name, **fields}
    msg = f"task {name} {event}"
    if "duration" in fields:
        msg += f" in {fields['duration']:.3f} s"
    if "exception" in fields:
        msg += f": {fields['exception']}"
    context, created, msg, text, extra_json = record.make_row(
        created, levelno, record.RUNTIME, TASK_LOGGER, msg, caps,
        thread=thread, detail=detail, extra=safe.to_json(extra, caps.extra),
    )
    return ((*context[:5], name, run_id), created, msg, text, extra_json)


def life_item(event: str, key: Any, run_id: int | None, *, levelno: int = logging.INFO,
              thread: str = "", detail: str = "", **fields: Any) -> Item:
    """The queue item of one task lifecycle event (built into a row on the writer)."""
    return ("life", time.time(), levelno, event, key, run_id, thread, fields, detail)


# --- the sink: batches to the kernel -------------------------------------------------------


class BatchSink:
    """A collector's sink that ships each batch of rows to the kernel instead of storing it.

    Subclasses implement :meth:`ship` (one encoded message holding ``rows`` rows; False
    when it had to be dropped, e.g. a full send buffer) and may override :meth:`open` / :meth:`shutdown`
    (called on the writer thread) and :meth:`forget` (after a fork). A batch too large
    for one message is split; rows that could not be shipped are counted as dropped, so
    the next batch's "N rows dropped" SYSTEM row tells the kernel.
    """

    kind = "remote"

    def __init__(self, worker: str = "", max_message: int = MAX_MESSAGE) -> None:
        self.header: dict[str, Any] = {
            "v": VERSION, "k": self.kind, "w": worker, "h": record.HOSTNAME, "p": os.getpid(), "n": 0, "f": False,
        }
        self.max_message = max_message
        self.collector: Collector | None = None
        self.shipped = 0  # messages
        self.path = None

    def bind(self, collector: Collector) -> None:
        self.collector = collector

    # The Sink protocol (writer thread).

    def open(self) -> None:
        """Connect (in the writer thread). Nothing to do by default."""

    def write(self, rows: Columns | Sequence[WireRow]) -> tuple[int, int]:
        columns = rows if isinstance(rows, Columns) else Columns.of(rows)
        self._send(columns)
        return (1, len(columns))

    def clear(self) -> None:
        """Nothing to clear: the rows live in the kernel's store."""

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

    def _send(self, columns: Columns, final: bool = False) -> None:
        header = self.header
        header["n"] += 1
        header["f"] = final
        try:
            payload = encode(header, columns)
        except (TypeError, ValueError):
            payload = encode(header, [_plain_row(row) for row in columns.rows()])
        if len(payload) > self.max_message and len(columns) > 1:
            header["n"] -= 1
            rows = columns.rows()
            half = len(rows) // 2
            first = Columns.of(rows[:half])
            first.l = columns.l
            self._send(first)
            self._send(Columns.of(rows[half:]), final)
            return
        if len(payload) > self.max_message:
            self._dropped(len(columns), f"a row larger than a message may be ({self.max_message} bytes)")
            payload = encode(header, [record.system_row(
                f"a row of {len(payload)} bytes (compressed) was larger than a message may be",
                Caps(wire=True), {"max_message": self.max_message})])
        try:
            ok = self.ship(payload, len(columns))
        except Exception:  # noqa: BLE001 - a transport failure costs this batch only
            ok = False
        if ok:
            self.shipped += 1
        else:  # never sent: its number is free again (no gap for the kernel to report)
            header["n"] -= 1
            self._dropped(len(columns), columns=columns)

    def _dropped(self, n: int, why: str = "not sent: the connection to the kernel is busy or closed",
                 columns: Columns | None = None) -> None:
        collector = self.collector
        if collector is None or not n:
            return
        if columns is not None and isinstance(collector, RemoteCollector):
            n -= collector.lost_report(columns)
        collector.count_drop(n, why)


def _plain_row(row: WireRow) -> WireRow:
    """A row whose values JSON could not take (should not happen) made plain."""
    def plain(v: Any) -> Any:
        return v if v is None or type(v) in (str, int, float) else safe.safe_str(v)

    context, created, msg, text, extra = row
    return (tuple(plain(v) for v in context), float(created), plain(msg), plain(text), plain(extra))


# --- the capture in a remote process -------------------------------------------------------


class RemoteCollector(Collector):
    """The collector of a remote process: its rows are :data:`~taskscope.record.WireRow`
    (its caps say ``wire``), gathered into :class:`Columns` and handed to the sink
    without the kernel's per-level counts."""

    def _rows(self, items: list[Item]) -> Columns:  # type: ignore[override]
        """The columns of ``items``: a plain log record (the bulk: no traceback, stack or
        extra) goes straight in, its message formatted here; any other item is converted
        to a row first."""
        columns = Columns()
        index, refs, created, msgs = columns.index, columns.c, columns.t, columns.m
        numbers: dict[tuple[Any, ...], int] = {}  # the item's own fields -> context number
        cap = self.caps.msg
        convert, add = self._convert, columns.append
        for item in items:
            tag = item[0]
            if tag != "tlog" and tag != "log" or item[9] is not None or item[10] is not None \
                    or item[11] is not None or item[12] is not None:
                if tag == ECHO:
                    columns.l.append((item[1], item[2]))
                else:
                    add(convert(item))
                continue
            task, run_id = (item[14], item[15]) if tag == "tlog" else ("", None)
            msg, args = item[5], item[6]
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
            raw = (item[3], item[2], item[13], item[4], item[7], task, type(task), run_id)  # 1 == True
            try:
                number = numbers.get(raw)
            except TypeError:  # an unhashable task key: no shortcut
                raw, number = None, None
            if number is None:
                context = (item[3], item[2], item[13], item[4], item[7] or "",
                           task if type(task) is str else "" if task is None else key_text(task), run_id)
                number = index.get(context)
                if number is None:
                    number = index[context] = len(index)
                if raw is not None:
                    numbers[raw] = number
            refs.append(number)
            created.append(item[1])
            msgs.append(msg)
        return columns

    def _write(self, rows: Columns) -> None:  # type: ignore[override]
        if not rows and not rows.l:
            return
        try:
            self.sink.write(rows)
        except Exception as exc:  # noqa: BLE001 - lose this batch, not the thread
            self.error = f"{type(exc).__name__}: {exc}"
            self.count_drop(len(rows) - self.lost_report(rows), f"not sent: {type(exc).__name__}")
            return
        self.stored += len(rows)

    def _store(self, items: list[Item], report: bool = True, final: bool = False) -> None:
        """One message per call (the sink splits what is too large)."""
        rows = self._rows(items)
        if report:
            self._report = None
            self._with_drop_report(rows)  # type: ignore[arg-type]
            if self._report is not None:  # the message carries it: lost with the message
                self._report = (rows, *self._report[1:])  # type: ignore[assignment]
        self._write(rows)

    def lost_report(self, columns: Columns) -> int:
        """``columns`` were not sent: their drop row (if they carry the last one) is made
        again with the next message. 1 if they did, else 0."""
        report = self._report
        if report is None or report[0] is not columns:
            return 0
        return self._unreport()


#: The tag of a queue item that is a console echo, ``(ECHO, kernel fd, line)``: a line
#: this process wrote to a console it shares with the kernel, of a record it sends as a row.
ECHO = "echo"

#: A remote process's console fds by the name of the stream that writes to them.
_STREAM_FDS = {"stdout": 1, "stderr": 2}


class ConsoleEcho(logging.Filter):
    """On a logging handler that writes to a console shared with the kernel (Dask's own
    console handler in a LocalCluster worker): each record it writes that we also send as
    a row is announced as echo lines, so the kernel's fd capture does not store it twice.

    Added after the handler's other filters (after :class:`~taskscope.capture.LevelGuard`):
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
        self.collector = RemoteCollector(
            sink, queue_size=int(options["queue_size"]), wake_at=batch,
            interval=float(options["flush_interval"]), max_batch=batch, caps=caps,
        )
        if tag is not None:
            self.collector.queue = tagging_queue(tag)
        sink.bind(self.collector)
        for name in options.get("user_loggers", ()):
            record.mark_user_logger(name)
        self.capture = Capture(
            self.collector,
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
        self.collector.start()
        self._line_buffer()
        try:
            self.capture.install()
        except BaseException:
            self.capture.uninstall()
            self._unbuffer()
            self.collector.stop()
            raise
        self.running = True
        if self._echo_fds:
            self.capture.handler.echo = self.echo
            self._echo_handlers()
            self.collector.tick_hooks.append(self._echo_handlers)
        self.system(f"taskscope capture started in {what}", {"pid": os.getpid(), "console_shared": self.shared})
        self.collector.wake.set()  # the kernel learns at once whether our console is its own

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
            self.collector.stop(timeout)

    def echo(self, stream: Any, text: str) -> None:
        """``text`` went to ``stream``: if that is a console shared with the kernel, queue
        its lines as echoes (the bound of the queue holds; nothing else is done here)."""
        try:
            fd = self._echo_fds.get(stream.fileno())
        except Exception:  # noqa: BLE001 - not a real stream: not the kernel's console
            return
        queue = self.collector.queue
        if fd is None or len(queue) >= self.collector.queue_size:
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
        if self._echo_handlers in self.collector.tick_hooks:
            self.collector.tick_hooks.remove(self._echo_handlers)

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
        self.collector.offer_own(("row", record.system_row(msg, self.collector.caps, extra)))

    def life(self, item: Item) -> None:
        """Queue a lifecycle event, if runtime rows are captured at its level."""
        if item[2] >= self.runtime_level:
            self.collector.offer(item)


def traceback_detail(exception_text: str, traceback_text: str) -> str:
    """An erred Dask task's traceback as a log file shows one, from the worker's texts."""
    head = "Traceback (most recent call last):\n" if traceback_text else ""
    return f"{head}{traceback_text}{exception_text}"
