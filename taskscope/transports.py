"""The kernel's end of remote capture: batches in, rows into this session's store.

Two transports bring the messages of :mod:`taskscope.remote` to the kernel:

- Dask workers: ``worker.log_event`` on a private topic -> scheduler ->
  ``client.subscribe_topic`` (see :mod:`taskscope.dask`);
- process pools and other processes: ZeroMQ PUSH -> :class:`ZmqReceiver`'s PULL socket.

Both hand each message to an :class:`Inbox`, on their own thread (the Dask client's
event loop, the receiver thread), which only decodes it and queues its rows. The rows are
checked and finished on the collector's writer thread (:func:`_remote_row`), which also
numbers the attempts of a task: Dask reuses a key when it retries or recomputes a task,
and gives each dispatch a new ``run_id``; the first run_id seen for a key is attempt 1,
the next attempt 2, and so on (``extra`` gets ``attempt`` and ``run_id``).

:func:`on_start` / :func:`on_stop` are called by the runtime as recording starts and
ends: they set up the automatic Dask attach and stop every transport.
"""

from __future__ import annotations

import hmac
import importlib.abc
import importlib.machinery
import json
import logging
import os
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

from . import record, runtime, safe
from .collector import BATCH, Item, converter, quiet
from .record import Caps, Row
from .remote import MAX_MESSAGE, TASK_LOGGER, MessageError, decode

#: The first frame of every ZeroMQ message (the token is the second, the batch the third).
MAGIC = b"taskscope/1"

_SOURCES = frozenset(record.SOURCES)

#: Task keys whose attempts are remembered; beyond it the oldest tenth is forgotten.
MAX_KEYS = 1_000_000


class Inbox:
    """Where one transport's messages arrive: decoding, accounting, attempt numbers.

    :meth:`receive` runs on the transport's thread and only decodes and queues;
    everything that keeps state per task runs on the writer thread (converters).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.messages = 0
        self.bytes = 0
        self.rows = 0
        self.rejected = 0
        self.lost_messages = 0
        self._next: dict[tuple[str, int], int] = {}
        self._finals: dict[str, int] = {}
        self._finals_changed = threading.Condition()
        self._rejects_reported = 0.0
        # Writer thread only: key -> [(first run_id, attempt), ...] of keys run again.
        self._attempts: dict[str, list[tuple[int, int]]] = {}
        self._plain_extra: dict[tuple[int, int], str] = {}

    # --- the transport's thread --------------------------------------------------------

    def receive(self, payload: Any) -> int:
        """Decode one message and queue its rows; how many were queued. Never raises."""
        try:
            message = decode(payload)
        except MessageError as exc:
            self.reject(f"a message was rejected: {exc}")
            return 0
        except Exception as exc:  # noqa: BLE001
            self.reject(f"a message was rejected: {type(exc).__name__}")
            return 0
        self.messages += 1
        self.bytes += len(payload)
        origin = (
            safe.safe_str(message.get("h") or ""),
            _int(message.get("p")),
            safe.safe_str(message.get("w") or ""),
        )
        self._count_batch(origin, message.get("n"), bool(message.get("f")))
        message["cs"] = shared = _shared(message.get("cs"))
        if shared:
            source = (self.kind, origin[2], origin[1])
            if message.get("f"):
                CONSOLE.leave(source)
            else:
                CONSOLE.join(source)
        try:
            items = self._items(origin, message)
        except (TypeError, ValueError, IndexError, KeyError):
            self.reject(f"a malformed message from {origin[2] or origin[0]} (pid {origin[1]}) was rejected")
            items = []
        queued = _offer_batch(items[0]) if items else 0
        self.rows += queued
        if message.get("f"):
            with self._finals_changed:
                self._finals[origin[2]] = self._finals.get(origin[2], 0) + 1
                self._finals_changed.notify_all()
        return queued

    def _count_batch(self, origin: tuple[str, int, str], number: Any, final: bool) -> None:
        """Messages of one sender are numbered 1, 2, ...: a gap means messages were lost."""
        if type(number) is not int:
            return
        key = (origin[2], origin[1])
        expected = self._next.get(key, 1)
        if number > expected:
            missing = number - expected
            self.lost_messages += missing
            runtime.enqueue_items([("row", self._system(
                origin, f"{missing} message(s) from {origin[2] or origin[0]} (pid {origin[1]}) were lost "
                        "on the way: their rows are missing",
                {"lost_messages": missing}))], own=True)
        if final:
            self._next.pop(key, None)
        else:
            self._next[key] = max(expected, number + 1)

    def reject(self, why: str) -> None:
        """Count a rejected message; say so in a SYSTEM row at most once a second."""
        self.rejected += 1
        now = time.monotonic()
        if now - self._rejects_reported >= 1.0:
            self._rejects_reported = now
            runtime.enqueue_items([("row", record.system_row(
                f"{self.kind}: {why} ({self.rejected} rejected so far)", Caps(),
                {"rejected": self.rejected, "transport": self.kind}))])

    def lost_worker(self, worker: str, keys: Sequence[Any], expected: bool) -> None:
        """The scheduler removed ``worker``; ``keys`` were running there (transport thread)."""
        CONSOLE.leave(worker=worker)
        runtime.enqueue_items([("remote-lost", worker, [safe.safe_str(k) for k in keys], expected)], own=True)

    def new_attempt(self, key: Any, run_id: Any, attempt: Any, cause: Any, worker: Any) -> None:
        """The scheduler dispatches ``key`` again (transport thread): queued in order, so
        the writer knows the attempt before any row of that run arrives."""
        if type(run_id) is int and type(attempt) is int:
            runtime.enqueue_items([("remote-attempt", self, safe.safe_str(key), run_id, attempt,
                                    safe.safe_str(cause), safe.safe_str(worker))], own=True)

    def wait_finals(self, workers: Sequence[str], timeout: float) -> bool:
        """Wait until each of ``workers`` sent its final message (at detach)."""
        deadline = time.monotonic() + timeout
        with self._finals_changed:
            while True:
                if all(self._finals.get(w, 0) > 0 for w in workers):
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._finals_changed.wait(left)

    def _items(self, origin: tuple[str, int, str], message: dict[str, Any]) -> list[Item]:
        """The queue item of one message: all its rows, built on the writer (:meth:`batch_rows`).

        Raises (the message is rejected whole) when a row points at no context.
        """
        refs = message["c"]
        if refs and (not _all_of(refs, int) or min(refs) < 0 or max(refs) >= len(message["ctx"])):
            raise IndexError("a row points at no context")
        return [(BATCH, len(refs), self, origin, message)] if refs or message.get("l") else []

    # --- the writer thread ---------------------------------------------------------------

    def batch_rows(self, origin: tuple[str, int, str], message: dict[str, Any], caps: Caps) -> list[Row]:
        """The rows of one message, checked and finished, with its sender's hostname, pid
        and worker: column by column when every value is as expected (the per-row work is
        then SQLite's and ``zip``'s), else row by row."""
        if "l" in message:
            _console_echoes(_echoes(message["l"]))
        if not message["c"]:
            return []
        contexts = [_context(c) for c in message["ctx"]]
        texts = _sparse(message["x"], len(message["c"]), caps.text)
        extras = _sparse(message["e"], len(message["c"]), caps.extra)
        if None in contexts or texts is None or extras is None or not _plain_columns(message, caps):
            rows = self._slow_rows(origin, contexts, message, caps)
        else:
            rows = self._column_rows(origin, contexts, message, texts, extras, caps)  # type: ignore[arg-type]
        if message.get("cs") and any(c is None or c[2] == record.PRINT for c in contexts):
            _console_lines(message["cs"], rows)
        return rows

    def _column_rows(self, origin: tuple[str, int, str], contexts: list[tuple[Any, ...]], message: dict[str, Any],
                     texts: list[tuple[int, str]], extras: list[tuple[int, str]], caps: Caps) -> list[Row]:
        """The rows of a message whose values were checked column by column."""
        refs, created, msgs = message["c"], message["t"], message["m"]
        pick = _picker(refs)
        levels, levelnos, sources, loggers, threads, tasks, _ = (pick(list(f)) for f in zip(*contexts))
        lines = _lines(created, pick([f" {c[0]} {c[3]}: " for c in contexts]), msgs, caps)
        for at, text in texts:
            lines[at] = text
        row_extras = list(pick([self._context_extra(c) for c in contexts]))
        for at, extra in extras:
            task, run_id = contexts[refs[at]][5:7]
            row_extras[at] = self._with_attempt(task, run_id, extra) if task and run_id is not None else extra
        n = len(refs)
        hostname, pid, worker = origin
        return list(zip(created, levels, levelnos, sources, loggers, msgs, lines, repeat(hostname, n),
                        repeat(pid, n), threads, repeat(worker, n), tasks, row_extras))

    def _context_extra(self, context: tuple[Any, ...]) -> str | None:
        """``extra`` of a row of ``context`` that has none of its own: its attempt, in a task."""
        task, run_id = context[5], context[6]
        return self._with_attempt(task, run_id, None) if task and run_id is not None else None

    def _slow_rows(self, origin: tuple[str, int, str], contexts: list[tuple[Any, ...] | None],
                   message: dict[str, Any], caps: Caps) -> list[Row]:
        """A message with an unexpected value somewhere: each row checked on its own."""
        texts = dict(entry for entry in message["x"] if _entry(entry))
        extras = dict(entry for entry in message["e"] if _entry(entry))
        rows = []
        for i, (c, t, m) in enumerate(zip(message["c"], message["t"], message["m"])):
            try:
                rows.append(self.row(origin, contexts[c], t, m, texts.get(i), extras.get(i), caps))
            except Exception as exc:  # noqa: BLE001 - e.g. a time no calendar has: this row only
                rows.append(self._system(origin, f"a row could not be built: {type(exc).__name__}", {}))
        return rows

    def row(self, origin: tuple[str, int, str], context: tuple[Any, ...] | None, created: Any, msg: Any,
            text: Any, extra: Any, caps: Caps) -> Row:
        """One received row, checked and finished, with its sender's hostname, pid, worker."""
        hostname, pid, worker = origin
        if context is None or not (
                type(created) is float and type(msg) is str and len(msg) <= caps.msg + 200
                and (text is None or (type(text) is str and len(text) <= caps.text + 200))
                and (extra is None or (type(extra) is str and len(extra) <= caps.extra + 200))):
            return self._slow_row(origin, context, created, msg, text, extra, caps)
        level, levelno, source, logger, thread, task, run_id = context
        if text is None:
            text = record.head_text(created, level, logger, msg, caps)
        if task and run_id is not None:
            extra = self._with_attempt(task, run_id, extra)
        return (created, level, levelno, source, logger, msg, text, hostname, pid, thread, worker, task, extra)

    def _slow_row(self, origin: tuple[str, int, str], context: tuple[Any, ...] | None, created: Any,
                  msg: Any, text: Any, extra: Any, caps: Caps) -> Row:
        """A row with an unexpected value somewhere: every field made safe on its own."""
        fields = ("level", "levelno", "source", "logger", "thread", "task")
        data = dict(zip(fields, context or ()))
        data.update(created=created, msg=msg, text=text, extra=extra,
                    hostname=origin[0], pid=origin[1], worker=origin[2])
        if data.get("source") not in _SOURCES:
            data["source"] = None
        return record.row_from_dict(data, caps)

    def _with_attempt(self, task: str, run_id: int, extra: str | None) -> str:
        """``extra`` with the attempt number of this run of ``task`` (and its run_id)."""
        attempt = 1
        marks = self._attempts.get(task)
        if marks is not None:
            for first_run, number in marks:
                if run_id >= first_run:
                    attempt = number
        if extra is None:  # the common case: one string per run, made once
            made = self._plain_extra.get((attempt, run_id))
            if made is None:
                if len(self._plain_extra) > 10_000:
                    self._plain_extra.clear()
                made = self._plain_extra[(attempt, run_id)] = _merge_extra(None, attempt, run_id)
            return made
        return _merge_extra(extra, attempt, run_id)

    def attempt_row(self, key: str, run_id: int, attempt: int, cause: str, worker: str) -> Row:
        """Dask dispatches ``key`` again (run ``run_id`` on): a lifecycle row says why.

        Runs are numbered in dispatch order on the scheduler, so rows of an earlier
        attempt that arrive later still get their own attempt number.
        """
        marks = self._attempts.get(key)
        if marks is None:
            if len(self._attempts) >= MAX_KEYS:
                for old in list(self._attempts)[: MAX_KEYS // 10]:
                    del self._attempts[old]
            marks = self._attempts[key] = []
        marks.append((run_id, attempt))
        marks.sort()
        event, why = ("retried", "after an error") if cause == "erred" else ("rescheduled", f"({cause})")
        extra = {"event": event, "key": key, "attempt": attempt, "run_id": run_id, "cause": cause}
        return record.make_row(
            time.time(), logging.WARNING, record.RUNTIME, TASK_LOGGER,
            f"task {key} {event} {why}: attempt {attempt}" + (f" on {worker}" if worker else ""), Caps(),
            thread="", extra=json.dumps(extra), worker=worker, task=key,
        )

    def _system(self, origin: tuple[str, int, str], msg: str, extra: Mapping[str, Any]) -> Row:
        row = record.system_row(msg, Caps(), {**extra, "transport": self.kind})
        return (*row[:7], origin[0], origin[1], row[9], origin[2], row[11], row[12])


def _merge_extra(extra: str | None, attempt: int, run_id: int) -> str:
    """``extra`` (JSON text) with ``"attempt"`` and ``"run_id"`` added (ours win on parse)."""
    tail = f'"attempt": {attempt}, "run_id": {run_id}'
    if extra is None:
        return "{" + tail + "}"
    if extra.startswith("{") and extra.endswith("}"):
        return extra[:-1] + (", " if len(extra) > 2 else "") + tail + "}"
    return '{"extra": ' + json.dumps(extra) + ", " + tail + "}"


@converter(BATCH)
def _remote_rows(item: Item, caps: Caps) -> list[Row]:
    """Convert: the rows of one message from a remote process (see :meth:`Inbox.batch_rows`)."""
    _, _, inbox, origin, message = item
    return inbox.batch_rows(origin, message, caps)


def _console_lines(shared: Mapping[str, int], rows: list[Row]) -> None:
    """Tell :data:`CONSOLE` the print rows of a process whose streams are the kernel's fds."""
    now = time.monotonic()
    for row in rows:
        if row[3] == record.PRINT and row[4] in shared:
            CONSOLE.remote_line(shared[row[4]], row[5], now)


def _console_echoes(echoes: list[tuple[int, str]]) -> None:
    """Tell :data:`CONSOLE` the lines a process's logging wrote to the kernel's fds (the
    rows of those records came in the same message or an earlier one)."""
    now = time.monotonic()
    for fd, line in echoes:
        CONSOLE.remote_line(fd, line, now)


def _echoes(value: Any) -> list[tuple[int, str]]:
    """A message's ``l`` (console echoes, ``[[fd, line], ...]``) checked; [] if absent or odd."""
    if type(value) is not list or len(value) > 100_000:
        return []
    return [(entry[0], entry[1]) for entry in value
            if type(entry) is list and len(entry) == 2 and entry[0] in (1, 2) and type(entry[1]) is str]


def _offer_batch(item: Item) -> int:
    """Queue a message's rows (one item) if they fit in the session's queue; how many."""
    session = runtime._session  # the collector itself: its bound counts rows, not items
    if session is None or session.capture is None:
        return 0
    return item[1] if session.collector.offer_batch(item, item[1]) else 0


def _all_of(values: list[Any], kind: type) -> bool:
    """Whether every value is exactly of type ``kind`` (one pass in C)."""
    return not values or set(map(type, values)) == {kind}


def _plain_columns(message: dict[str, Any], caps: Caps) -> bool:
    """Whether a message's times and messages are what the column path takes as they are."""
    created, msgs = message["t"], message["m"]
    return not created or (_all_of(created, float) and _times(created) and _all_of(msgs, str)
            and max(map(len, msgs)) <= caps.msg + 200)


def _times(created: list[float]) -> bool:
    """Whether every time is a number a calendar shows (no NaN, no year 10000)."""
    total = sum(created)
    return total == total and 0 <= min(created) and max(created) < 1e11


def _entry(entry: Any) -> bool:
    """An ``x``/``e`` entry: ``[row index, text]``."""
    return type(entry) is list and len(entry) == 2 and type(entry[0]) is int and type(entry[1]) is str


def _sparse(entries: list[Any], rows: int, cap: int) -> list[tuple[int, str]] | None:
    """The ``x``/``e`` entries of a message, checked; None if one is not as expected."""
    out = []
    for entry in entries:
        if not _entry(entry) or not 0 <= entry[0] < rows or len(entry[1]) > cap + 200:
            return None
        out.append((entry[0], entry[1]))
    return out


def _picker(refs: list[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """Per row, the value of its context: ``pick(per_context)`` (``itemgetter``: one C call)."""
    if len(refs) == 1:
        only = refs[0]
        return lambda values: (values[only],)
    return itemgetter(*refs)


#: ``.mmm``: the milliseconds of a stamp, made once.
_MILLIS = [f".{ms:03d}" for ms in range(1000)]


def _lines(created: Sequence[float], mids: Sequence[str], msgs: Sequence[str], caps: Caps) -> list[str]:
    """The ``text`` of rows without a traceback, as :func:`taskscope.record.head_text`
    writes it: stamp, then `` LEVEL logger: `` (``mids``, made once per context), then msg."""
    heads: dict[int, str] = {}

    def head(whole: int) -> str:
        made = heads[whole] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(whole))
        return made

    stamps = [(heads.get(w := int(t)) or head(w)) + _MILLIS[int((t - w) * 1000)] for t in created]
    lines = list(map("".join, zip(stamps, mids, msgs)))
    if max(map(len, lines)) > caps.text:
        lines = [safe.cut(line, caps.text) for line in lines]
    return lines


def _context(value: Any) -> tuple[Any, ...] | None:
    """A row context from the wire, checked: ``(level, levelno, source, logger, thread,
    task, run_id)``; None if it is not one (its rows then take the slow path)."""
    if type(value) is not list or len(value) != 7:
        return None
    level, levelno, source, logger, thread, task, run_id = value
    if (type(level) is str and type(levelno) is int and source in _SOURCES and type(logger) is str
            and type(thread) is str and type(task) is str and (run_id is None or type(run_id) is int)
            and len(logger) <= 1000 and len(thread) <= 1000 and len(task) <= 10_000):
        return (level, levelno, source, logger, thread, task, run_id)
    return None


@converter("remote-attempt")
def _attempt_row(item: Item, caps: Caps) -> Row:
    """Convert: the scheduler dispatches a task again (see :meth:`Inbox.attempt_row`)."""
    _, inbox, key, run_id, attempt, cause, worker = item
    return inbox.attempt_row(key, run_id, attempt, cause, worker)


@converter("remote-lost")
def _lost_row(item: Item, caps: Caps) -> Row:
    """Convert: the scheduler removed a worker (SYSTEM row, with the tasks it was running)."""
    _, worker, keys, expected = item
    what = "left" if expected else "was lost"
    running = f"; {len(keys)} task(s) were running there and will run again: {', '.join(keys[:20])}" if keys else ""
    row = record.system_row(f"Dask worker {worker} {what}{running}", caps,
                            {"worker": worker, "expected": expected, "tasks": keys[:1000], "transport": "dask"})
    return (*row[:10], worker, row[11], row[12])


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


# --- console sharing: one row per printed line -------------------------------------------

#: The thread label of the kernel's fd-captured lines (see ``capture.FdWatch``) -> fd.
_FD_LABELS = {"fd 1": 1, "fd 2": 2}


class ConsoleDedup:
    """The kernel's fd output that a remote process also sent as its own print rows.

    A LocalCluster worker or a spawned pool child started from the kernel writes to the
    kernel's fd 1/2 (ipykernel's pipes): each of its printed lines reaches the notebook
    unchanged and the kernel's capture as an ``fd 1`` row, and arrives again as the
    worker's own print row (with worker and task). Such a process says so in its
    messages (``cs``: which of its streams is which kernel fd); a Dask attachment or a
    pool handed the kernel's fd identities counts as one from the start (its processes'
    first lines may come before their first message). While one is attached, the
    writer holds the kernel's fd rows at most :data:`HOLD` seconds; a remote print row
    of the same fd and text takes the place of one (counted as deduplicated, not as a
    drop), in either order of arrival. Unmatched rows are stored after the hold with
    their own time, and all of them at stop. Writer thread, but for :meth:`join`/:meth:`leave`.
    """

    HOLD = 1.5  # seconds an fd row waits for its remote twin
    EXPECT = 10.0  # seconds a remote print row waits for its fd twin
    LIMIT = 10_000  # rows held, and remote lines remembered, at most

    def __init__(self) -> None:
        self.sources: set[tuple[str, str, int]] = set()
        self._held: deque[list[Any]] = deque()  # [deadline, key, row, settled]
        self._by_key: dict[tuple[int, str], deque[list[Any]]] = {}
        self._expected: dict[tuple[int, str], deque[float]] = {}
        self._remembered = 0

    def join(self, source: tuple[str, str, int]) -> None:
        """A console-sharing process sends (transport thread): fd rows are held from now."""
        if source not in self.sources:
            self.sources.add(source)
            session = runtime._session
            if session is not None:
                session.collector.row_filter = self.filter

    def leave(self, source: tuple[str, str, int] | None = None, worker: str | None = None) -> None:
        """``source`` sent its last message (or every source of ``worker`` is gone; both
        None: all of them)."""
        for known in list(self.sources):
            if source is None and worker is None or known == source or known[1] == worker:
                self.sources.discard(known)

    def remote_line(self, fd: int, text: str, now: float) -> bool:
        """A remote print row of ``text`` on kernel fd ``fd``: settle its held fd twin,
        or remember it for the twin still to come. True if a held row was settled."""
        key = (fd, text)
        waiting = self._by_key.get(key)
        while waiting:
            entry = waiting.popleft()
            if not entry[3]:
                entry[3] = True
                _count_deduplicated(1)
                return True
        if self._remembered >= self.LIMIT:
            self._expected.clear()
            self._remembered = 0
        self._expected.setdefault(key, deque()).append(now + self.EXPECT)
        self._remembered += 1
        return False

    def filter(self, rows: list[Row], final: bool) -> list[Row]:
        """The collector's row filter: ``rows`` without the fd rows held or settled now,
        after the held rows whose time is up (all of them when ``final``)."""
        if not (self.sources or self._held):
            return rows
        now = time.monotonic()
        kept = rows
        if self.sources and not _FD_LABELS.keys().isdisjoint(map(_thread_of, rows)):
            kept = [row for row in rows if not self._took(row, now)]
        released = self._release(now, final)
        return released + kept if released else kept

    def _took(self, row: Row, now: float) -> bool:
        """Whether ``row`` (a kernel row) is an fd line now held or found a copy."""
        fd = _FD_LABELS.get(row[9])
        if fd is None or row[3] != record.PRINT or row[10]:
            return False
        key = (fd, row[5])
        expected = self._expected.get(key)
        while expected and expected[0] < now:
            expected.popleft()
        if expected:
            expected.popleft()
            self._remembered -= 1
            _count_deduplicated(1)
            return True
        entry = [now + self.HOLD, key, row, False]
        self._held.append(entry)
        self._by_key.setdefault(key, deque()).append(entry)
        return True

    def _release(self, now: float, final: bool) -> list[Row]:
        """The held rows whose hold is over (or beyond the limit), oldest first."""
        held, out = self._held, []
        while held and (final or held[0][0] <= now or len(held) > self.LIMIT):
            entry = held.popleft()
            waiting = self._by_key.get(entry[1])
            if waiting and waiting[0] is entry:
                waiting.popleft()
            if waiting is not None and not waiting:
                del self._by_key[entry[1]]
            if not entry[3]:  # settled ones were counted when their twin came
                entry[3] = True
                out.append(entry[2])
        return out


_thread_of = itemgetter(9)
CONSOLE = ConsoleDedup()


def _count_deduplicated(n: int) -> None:
    session = runtime._session
    if session is not None:
        session.collector.deduplicated += n


def _shared(value: Any) -> dict[str, int] | None:
    """A message's ``cs`` (``{"stdout": 1, ...}``) checked; None if absent or odd."""
    if type(value) is not dict or not value:
        return None
    if all(name in ("stdout", "stderr") and type(fd) is int for name, fd in value.items()):
        return value
    return None


# --- ZeroMQ: process pools and other processes -------------------------------------------


class ZmqReceiver:
    """The kernel's PULL socket for pool children, on its own thread.

    Bound to ``host`` (127.0.0.1 unless asked otherwise) on a random port. Each message
    is three frames: :data:`MAGIC`, this session's token (checked on every message, in
    constant time) and one batch (:func:`taskscope.remote.encode`, at most
    ``max_message`` bytes: ZeroMQ refuses larger ones before they are read).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_message: int = MAX_MESSAGE) -> None:
        self.host = host
        self.port = port
        self.max_message = max_message
        self.token = secrets.token_hex(16)
        self.inbox = Inbox("pool")
        self.address = ""
        self.bound_port = 0
        self.error: str | None = None
        self._stopping = threading.Event()
        self._bound = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="taskscope-zmq", daemon=True)
        self._thread.start()
        if not self._bound.wait(timeout) or self.error:
            raise RuntimeError(f"taskscope could not bind its ZeroMQ socket on {self.host}: {self.error}")

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        with quiet():  # nothing this thread logs is captured
            self._serve()

    def _serve(self) -> None:
        import zmq

        context = zmq.Context()
        sock = context.socket(zmq.PULL)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, self.max_message + 64)
            sock.setsockopt(zmq.RCVHWM, 10_000)
            if self.port:
                sock.bind(f"tcp://{self.host}:{self.port}")
                port = self.port
            else:
                port = sock.bind_to_random_port(f"tcp://{self.host}")
            self.bound_port = port
            self.address = f"tcp://{self.host}:{port}"
        except Exception as exc:  # noqa: BLE001 - reported to start()
            self.error = f"{type(exc).__name__}: {exc}"
            sock.close(0)
            context.term()
            self._bound.set()
            return
        self._bound.set()
        token = self.token.encode("ascii")
        try:
            while not self._stopping.is_set():
                if not sock.poll(100):
                    continue
                while True:
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        self._handle(frames, token)
                    except Exception as exc:  # noqa: BLE001 - one bad message must not end the receiver
                        self.error = f"{type(exc).__name__}: {exc}"
        finally:
            sock.close(0)
            context.term()

    def _handle(self, frames: list[bytes], token: bytes) -> None:
        if len(frames) != 3 or frames[0] != MAGIC:
            self.inbox.reject("a message that is not taskscope's was rejected")
        elif not hmac.compare_digest(frames[1], token):
            self.inbox.reject("a message with a wrong token was rejected")
        elif len(frames[2]) > self.max_message:
            self.inbox.reject(f"a message above {self.max_message} bytes was rejected")
        else:
            self.inbox.receive(frames[2])


_receiver: ZmqReceiver | None = None
_receiver_lock = threading.Lock()
_forgotten: list[Any] = []  # a forked child's copies of the parent's objects: never touched


def receiver(host: str = "127.0.0.1", port: int = 0) -> ZmqReceiver | None:
    """This session's ZeroMQ receiver, started on first use; None while not recording.

    The running one is kept while ``host`` and ``port`` (0: any) match it; asked for
    another address, it is replaced (pools made earlier then lose their connection).
    """
    global _receiver
    if not runtime.status()["recording"]:
        return None
    with _receiver_lock:
        current = _receiver
        if current is not None and current.running and current.host == host and port in (0, current.bound_port):
            return current
        if current is not None:
            current.stop()
            CONSOLE.leave(("pool", current.address, 0))
        started = ZmqReceiver(host, port)
        started.start()
        _receiver = started
    runtime.enqueue_items([("row", record.system_row(
        f"taskscope listens for pool processes on {started.address}", Caps(),
        {"address": started.address}))], own=True)
    return started


def _stop_receiver() -> None:
    global _receiver
    with _receiver_lock:
        current, _receiver = _receiver, None
    if current is not None:
        current.stop()
        CONSOLE.leave(("pool", current.address, 0))


# --- recording starts and stops ------------------------------------------------------------

#: The client preload (a public Dask hook) that attaches every Client made while recording.
PRELOAD = "taskscope.dask"


def on_start() -> None:
    """Recording started: attach Dask clients (now and when made); never raises."""
    try:
        _watch_imports()
        _add_preload()
        if "distributed" in sys.modules:
            from . import dask as ts_dask

            ts_dask._attach_default()
    except Exception as exc:  # noqa: BLE001 - recording goes on without Dask
        _report(f"taskscope could not set up Dask capture: {type(exc).__name__}: {exc}")


def on_stop() -> None:
    """Recording is about to stop: detach every Dask client, close the pool receiver."""
    try:
        ts_dask = sys.modules.get("taskscope.dask")
        if ts_dask is not None:
            ts_dask._detach_all()
    except Exception as exc:  # noqa: BLE001
        _report(f"taskscope could not detach from Dask: {type(exc).__name__}: {exc}")
    finally:
        _unwatch_imports()
        _remove_preload()
        _stop_receiver()
        CONSOLE.leave()  # the rows still held are stored as the writer stops


def _add_preload() -> None:
    """Make every Dask Client created from now on run :mod:`taskscope.dask`'s ``dask_setup``
    (if dask's config is not imported yet, :class:`_ImportWatch` does it when it is)."""
    config = sys.modules.get("dask.config")
    if config is None:
        return
    current = _as_list(config.get("distributed.client.preload", default=[]))
    if PRELOAD not in current:
        config.set({"distributed.client.preload": [*current, PRELOAD]})


def _remove_preload() -> None:
    """Undo :func:`_add_preload` (other preloads stay)."""
    config = sys.modules.get("dask.config")
    if config is None:
        return
    try:
        current = _as_list(config.get("distributed.client.preload", default=[]))
    except Exception:  # noqa: BLE001
        return
    if PRELOAD in current:
        config.set({"distributed.client.preload": [n for n in current if n != PRELOAD]})


class _WrappedLoader(importlib.abc.Loader):
    """Runs a module through ``around(exec_module, module)`` (see :class:`_ImportWatch`)."""

    def __init__(self, loader: Any, around: Any) -> None:
        self.loader = loader
        self.around = around

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        self.around(self.loader.exec_module, module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)


def _run_stepped_aside(exec_module: Any, module: Any) -> None:
    """distributed.config adds its stderr handler (and ``propagate = False``) to the
    ``distributed`` logger only if the root logger has no handler, and ours is there:
    distributed's messages would vanish from the notebook. It runs with ours stepped
    aside. (Its records are captured all the same: ``Capture._handle_nonpropagating``.)"""
    with runtime.logging_stepped_aside():
        exec_module(module)


def _run_then_add_preload(exec_module: Any, module: Any) -> None:
    """dask's config, once it exists, gets our client preload."""
    exec_module(module)
    try:
        _add_preload()
    except Exception:  # noqa: BLE001 - never fail the user's import
        pass


class _ImportWatch(importlib.abc.MetaPathFinder):
    """First on ``sys.meta_path`` while recording (until both are imported): runs
    ``dask.config`` and ``distributed.config`` with the wrappers above, so that importing
    dask after ``start()`` behaves as if it came before, and distributed's console
    logging is what it would be without taskscope. Nothing leaves this process (an
    environment variable would reach every subprocess)."""

    AROUND = {"dask.config": _run_then_add_preload, "distributed.config": _run_stepped_aside}

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        around = self.AROUND.get(fullname)
        if around is None:
            return None
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        except Exception:  # noqa: BLE001
            return None
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return None
        spec.loader = _WrappedLoader(spec.loader, around)
        return spec


_watch = _ImportWatch()


def _watch_imports() -> None:
    if not all(name in sys.modules for name in _ImportWatch.AROUND) and _watch not in sys.meta_path:
        sys.meta_path.insert(0, _watch)


def _unwatch_imports() -> None:
    while _watch in sys.meta_path:
        sys.meta_path.remove(_watch)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _report(msg: str, extra: Mapping[str, Any] | None = None) -> None:
    """A SYSTEM row from the transports (never raises)."""
    try:
        runtime.enqueue_items([("row", record.system_row(msg, Caps(), extra))], own=True)
    except Exception:  # noqa: BLE001
        pass


def _after_fork_in_child() -> None:
    """A forked child must not touch the parent's socket, thread or Dask clients."""
    global _receiver, _receiver_lock
    _receiver_lock = threading.Lock()
    if _receiver is not None:
        _forgotten.append(_receiver)
        _receiver = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
