"""The kernel's end of remote capture: messages in, rows into this session's store.

Two transports bring the messages of :mod:`taskscope.remote.emitter` to the kernel:

- Dask workers: ``worker.log_event`` on a private topic -> scheduler ->
  ``client.subscribe_topic`` (see :mod:`taskscope.remote.dask`);
- process pools and other processes: ZeroMQ PUSH -> the PULL socket of
  :mod:`taskscope.remote.receiver`.

Both hand each message to an :class:`Inbox`, on their own thread (the Dask client's
event loop, the receiver thread), which only decodes it and offers it to the session as
one batch item. The rows are checked and finished on the writer thread
(:meth:`Inbox.batch_rows`), which also numbers the attempts of a task: Dask reuses a key
when it retries or recomputes a task, and gives each dispatch a new ``run_id``; the first
run_id seen for a key is attempt 1, the next attempt 2, and so on (``extra`` gets
``attempt`` and ``run_id``).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

from ..record import safe
from ..record.columns import BY_NAME, CONTEXT, FIELDS, ORIGIN
from ..record.rows import Caps, Row, head_text, make_row, replace, row_from_dict, system_row
from ..record.sources import PRINT, RUNTIME, SOURCES, TASK_LOGGER
from ..session import session as sessions
from ..writer.core import BATCH, Item, converter, drop_row
from .console import CONSOLE
from .wire import MessageError, decode_sized

_SOURCES = frozenset(SOURCES)

#: Task keys whose attempts are remembered; beyond it the oldest tenth is forgotten.
MAX_KEYS = 1_000_000

#: Senders (worker, pid) whose message numbers and drop totals are remembered; beyond it
#: the oldest tenth is forgotten (a sender ends with a final message, which forgets it).
MAX_SENDERS = 100_000

#: What the messages of one inbox waiting for the kernel's writer may cost, in bytes
#: (inflated bytes plus 64 a value: :func:`taskscope.remote.wire.decode_sized`); a message
#: beyond it is dropped whole and counted, as when the queue's rows are full.
MAX_QUEUED_BYTES = 256 * 1024 * 1024

#: The tag of the one queue item (past the bound) that turns senders' new drop totals into rows.
DROPS = "remote-drops"

#: Where a context (``CONTEXT`` fields, then the task's run_id) holds what the inbox reads.
_LEVEL, _SOURCE, _LOGGER, _TASK = (CONTEXT.index(name) for name in ("level", "source", "logger", "task"))
_RUN_ID = len(CONTEXT)
#: A row's fields, by name, from a dict of them (one C call).
_fields_of = itemgetter(*FIELDS)
_ROW_SOURCE, _ROW_LOGGER, _ROW_MSG = (FIELDS.index(name) for name in ("source", "logger", "msg"))


class Inbox:
    """Where one transport's messages arrive: decoding, accounting, attempt numbers.

    :meth:`receive` runs on the transport's thread and only decodes and queues;
    everything that keeps state per task runs on the writer thread (converters).
    """

    def __init__(self, kind: str, max_queued: int = MAX_QUEUED_BYTES) -> None:
        self.kind = kind
        self.messages = 0
        self.bytes = 0
        self.rows = 0
        self.dropped = 0  # rows of messages the kernel could not queue
        self.rejected = 0
        self.refused = 0  # connections refused in their handshake (the transport counts)
        self.lost_messages = 0
        self.max_queued = max_queued
        self.queued_bytes = 0  # what the queued messages cost (under _queued_lock)
        self._queued_lock = threading.Lock()
        self.sender_drops = SenderDrops(self)
        self._next: dict[tuple[str, int], int] = {}
        self._finals: dict[str, int] = {}
        self._finals_changed = threading.Condition()
        self._said: dict[str, float] = {}  # when rejections / refusals were last said
        # Writer thread only: key -> [(first run_id, attempt), ...] of keys run again.
        self._attempts: dict[str, list[tuple[int, int]]] = {}
        self._plain_extra: dict[tuple[int, int], str] = {}

    # --- the transport's thread --------------------------------------------------------

    def receive(self, payload: Any) -> int:
        """Decode one message and queue its rows; how many were queued. Never raises."""
        try:
            message, cost = decode_sized(payload)
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
            items = self._items(origin, message, cost)
        except (TypeError, ValueError, IndexError, KeyError):
            self.reject(f"a malformed message from {origin[2] or origin[0]} (pid {origin[1]}) was rejected")
            items = []
        queued = self._offer(items[0]) if items else 0
        self.rows += queued
        if self.sender_drops.seen(origin, message) and not _own((DROPS, 0, self)):
            self.sender_drops.unqueue()  # not recording: the next message tries again
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
            _own(("row", self._system(
                origin, f"{missing} message(s) from {origin[2] or origin[0]} (pid {origin[1]}) were lost "
                        "on the way: their rows are missing",
                {"lost_messages": missing})))
        if final:
            self._next.pop(key, None)
        else:
            if key not in self._next:
                _forget_oldest(self._next)
            self._next[key] = max(expected, number + 1)

    def _offer(self, item: Item) -> int:
        """Queue a message's rows (one item) if they fit in the session's queue and its
        cost in :attr:`max_queued`; how many. A message that does not fit is counted
        dropped whole (its cost is given back as the writer takes it: :func:`_remote_rows`)."""
        session = sessions.current()
        if session is None:
            return 0
        rows, cost = item[1], item[-1]
        with self._queued_lock:
            fits = self.queued_bytes + cost <= self.max_queued
            if fits:
                self.queued_bytes += cost
        if fits and session.offer_batch(item, rows):
            return rows
        if fits:
            self.release(cost)
        else:
            session.count_dropped(rows, f"remote messages waiting above {self.max_queued / 2**20:g} MiB")
        self.dropped += rows
        return 0

    def release(self, cost: int) -> None:
        """A queued message left the queue (the writer took it)."""
        with self._queued_lock:
            self.queued_bytes -= cost

    def reject(self, why: str) -> None:
        """Count a rejected message; say so in a SYSTEM row at most once a second."""
        self.rejected += 1
        self._say("rejected", f"{why} ({self.rejected} rejected so far)", self.rejected)

    def refuse(self, why: str) -> None:
        """Count a connection refused in its handshake (nothing it sent came in); said at
        most once a second."""
        self.refused += 1
        self._say("refused", f"{why} ({self.refused} refused so far)", self.refused)

    def _say(self, what: str, msg: str, count: int) -> None:
        """A SYSTEM row, at most one a second for each ``what``; the rest are counted only."""
        now = time.monotonic()
        if now - self._said.get(what, -1.0) >= 1.0:
            self._said[what] = now
            session = sessions.current()
            if session is not None:
                session.enqueue([("row", system_row(f"{self.kind}: {msg}", Caps(),
                                                    {what: count, "transport": self.kind}))])

    def lost_worker(self, worker: str, keys: Sequence[Any], expected: bool) -> None:
        """The scheduler removed ``worker``; ``keys`` were running there (transport thread)."""
        CONSOLE.leave(worker=worker)
        _own(("remote-lost", worker, [safe.safe_str(k) for k in keys], expected))

    def new_attempt(self, key: Any, run_id: Any, attempt: Any, cause: Any, worker: Any) -> None:
        """The scheduler dispatches ``key`` again (transport thread): queued in order, so
        the writer knows the attempt before any row of that run arrives."""
        if type(run_id) is int and type(attempt) is int:
            _own(("remote-attempt", self, safe.safe_str(key), run_id, attempt,
                  safe.safe_str(cause), safe.safe_str(worker)))

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

    def _items(self, origin: tuple[str, int, str], message: dict[str, Any], cost: int = 0) -> list[Item]:
        """The queue item of one message: all its rows, built on the writer (:meth:`batch_rows`),
        and what it costs while it waits.

        Raises (the message is rejected whole) when a row points at no context.
        """
        refs = message["c"]
        if refs and (not _all_of(refs, int) or min(refs) < 0 or max(refs) >= len(message["ctx"])):
            raise IndexError("a row points at no context")
        return [(BATCH, len(refs), self, origin, message, cost)] if refs or message.get("l") else []

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
        if message.get("cs") and any(c is None or c[_SOURCE] == PRINT for c in contexts):
            _console_lines(message["cs"], rows)
        return rows

    def _column_rows(self, origin: tuple[str, int, str], contexts: list[tuple[Any, ...]], message: dict[str, Any],
                     texts: list[tuple[int, str]], extras: list[tuple[int, str]], caps: Caps) -> list[Row]:
        """The rows of a message whose values were checked column by column."""
        refs, created, msgs = message["c"], message["t"], message["m"]
        pick = _picker(refs)
        n = len(refs)
        columns: dict[str, Any] = dict(zip(CONTEXT, (pick(list(field)) for field in zip(*contexts))))
        columns.update(zip(ORIGIN, (repeat(value, n) for value in origin)))
        lines = _lines(created, pick([f" {c[_LEVEL]} {c[_LOGGER]}: " for c in contexts]), msgs, caps)
        for at, text in texts:
            lines[at] = text
        row_extras = list(pick([self._context_extra(c) for c in contexts]))
        for at, extra in extras:
            context = contexts[refs[at]]
            task, run_id = context[_TASK], context[_RUN_ID]
            row_extras[at] = self._with_attempt(task, run_id, extra) if task and run_id is not None else extra
        columns.update(created=created, msg=msgs, text=lines, extra=row_extras)
        return list(zip(*_fields_of(columns)))

    def _context_extra(self, context: tuple[Any, ...]) -> str | None:
        """``extra`` of a row of ``context`` that has none of its own: its attempt, in a task."""
        task, run_id = context[_TASK], context[_RUN_ID]
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
        if context is None or not (
                type(created) is float and type(msg) is str and len(msg) <= caps.msg + 200
                and (text is None or (type(text) is str and len(text) <= caps.text + 200))
                and (extra is None or (type(extra) is str and len(extra) <= caps.extra + 200))):
            return self._slow_row(origin, context, created, msg, text, extra, caps)
        fields: dict[str, Any] = dict(zip(CONTEXT, context))
        fields.update(zip(ORIGIN, origin))
        if text is None:
            text = head_text(created, context[_LEVEL], context[_LOGGER], msg, caps)
        task, run_id = context[_TASK], context[_RUN_ID]
        if task and run_id is not None:
            extra = self._with_attempt(task, run_id, extra)
        fields.update(created=created, msg=msg, text=text, extra=extra)
        return _fields_of(fields)

    def _slow_row(self, origin: tuple[str, int, str], context: tuple[Any, ...] | None, created: Any,
                  msg: Any, text: Any, extra: Any, caps: Caps) -> Row:
        """A row with an unexpected value somewhere: every field made safe on its own."""
        data = dict(zip(CONTEXT, context or ()))
        data.update(zip(ORIGIN, origin))
        data.update(created=created, msg=msg, text=text, extra=extra)
        if data.get("source") not in _SOURCES:
            data["source"] = None
        return row_from_dict(data, caps)

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
        return make_row(
            time.time(), logging.WARNING, RUNTIME, TASK_LOGGER,
            f"task {key} {event} {why}: attempt {attempt}" + (f" on {worker}" if worker else ""), Caps(),
            thread="", extra=json.dumps(extra), worker=worker, task=key,
        )

    def _system(self, origin: tuple[str, int, str], msg: str, extra: Mapping[str, Any]) -> Row:
        row = system_row(msg, Caps(), {**extra, "transport": self.kind})
        return replace(row, **dict(zip(ORIGIN, origin)))


class SenderDrops:
    """The rows each sender dropped, from the running totals every message's header carries
    (``d``, and ``dr`` by reason), and what of them the kernel has said in rows.

    A sender's drops are said by the kernel, not by a row inside a message: a message the
    kernel drops whole (its queue full), or one lost on the way, takes no count with it;
    the next message's total says it, by difference. The transport thread notes each
    header (:meth:`seen`); one queue item (:data:`DROPS`, past the queue's bound, at most
    one waiting) turns what is new into a SYSTEM row per sender on the writer (:meth:`rows`).
    """

    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox
        self._lock = threading.Lock()
        # (worker, pid) -> (origin, total, by reason, final): headers with news, not said yet
        self._latest: dict[tuple[str, int], tuple[tuple[str, int, str], int, dict[str, int], bool]] = {}
        # (worker, pid) -> (total, by reason) said in rows so far
        self._said: dict[tuple[str, int], tuple[int, dict[str, int]]] = {}
        self._queued = False

    def seen(self, origin: tuple[str, int, str], message: Mapping[str, Any]) -> bool:
        """Note one message's header (transport thread); True when a :data:`DROPS` item must
        be queued (there is news and none is waiting)."""
        total, final = message.get("d"), bool(message.get("f"))
        if type(total) is not int or not 0 <= total < 1 << 62:
            return False
        key = (origin[2], origin[1])
        with self._lock:
            latest = self._latest.get(key)
            said = self._said.get(key, (0, {}))[0]
            if total <= (latest[1] if latest else said) and not (final and latest):
                if final and latest is None:
                    self._said.pop(key, None)  # nothing to say: the sender is done
                return False
            self._latest[key] = (origin, max(total, latest[1] if latest else 0), _reasons(message.get("dr")),
                                 final)
            if self._queued:
                return False
            self._queued = True
            return True

    def unqueue(self) -> None:
        """The :data:`DROPS` item could not be queued (not recording)."""
        with self._lock:
            self._queued = False

    def rows(self) -> list[Row]:
        """On the writer: a SYSTEM row per sender with drops not said yet."""
        told = []
        with self._lock:
            self._queued = False  # news from now on needs a new item
            latest, self._latest = self._latest, {}
            for key, (origin, total, reasons, final) in latest.items():
                said_total, said_reasons = self._said.get(key, (0, {}))
                if total < said_total:  # a new capture in the same process counts from 0
                    said_total, said_reasons = 0, {}
                if total > said_total:
                    told.append((origin, total - said_total, total, reasons, said_reasons))
                if final:
                    self._said.pop(key, None)
                else:
                    if key not in self._said:
                        _forget_oldest(self._said)
                    self._said[key] = (total, reasons)
        return [self._row(*entry) for entry in told]

    def _row(self, origin: tuple[str, int, str], new: int, total: int, reasons: dict[str, int],
             before: dict[str, int]) -> Row:
        said = {why: n - before.get(why, 0) for why, n in reasons.items() if n > before.get(why, 0)}
        untold = new - sum(said.values())
        if untold > 0:
            said["the sender did not say why"] = untold
        row = drop_row(new, total, said, Caps(), transport=self.inbox.kind)
        return replace(row, **dict(zip(ORIGIN, origin)))


def _reasons(value: Any) -> dict[str, int]:
    """A header's ``dr`` (``{why: rows so far}``) checked: at most 64 reasons of 200 characters."""
    if type(value) is not dict:
        return {}
    return {safe.cut(why, 200): n for why, n in list(value.items())[:64]
            if type(why) is str and type(n) is int and 0 < n < 1 << 62}


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
    _, _, inbox, origin, message, cost = item
    inbox.release(cost)
    return inbox.batch_rows(origin, message, caps)


@converter(DROPS)
def _sender_drop_rows(item: Item, caps: Caps) -> list[Row]:
    """Convert: the senders' drops since their last row (see :class:`SenderDrops`)."""
    return item[2].sender_drops.rows()


def _console_lines(shared: Mapping[str, int], rows: list[Row]) -> None:
    """Tell :data:`CONSOLE` the print rows of a process whose streams are the kernel's fds."""
    now = time.monotonic()
    for row in rows:
        if row[_ROW_SOURCE] == PRINT and row[_ROW_LOGGER] in shared:
            CONSOLE.remote_line(shared[row[_ROW_LOGGER]], row[_ROW_MSG], now)


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


def _own(item: Item) -> bool:
    """Queue one of taskscope's own items (past the bound), while recording; whether it was."""
    session = sessions.current()
    if session is None:
        return False
    session.enqueue_own([item])
    return True


def _forget_oldest(remembered: dict[Any, Any], limit: int = MAX_SENDERS) -> None:
    """Make room for one more key: at ``limit``, the oldest tenth is forgotten."""
    if len(remembered) >= limit:
        for old in list(remembered)[: max(1, limit // 10)]:
            del remembered[old]


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
    """The ``text`` of rows without a traceback, as :func:`taskscope.record.rows.head_text`
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


#: Per context field, the Python type it must have (by its SQLite type) and the most
#: characters a text may have before its rows take the slow path.
_CONTEXT_TYPES = tuple(int if BY_NAME[name].sql.startswith("INTEGER") else str for name in CONTEXT)
_CONTEXT_LONGEST = tuple({"logger": 1000, "thread": 1000}.get(name, 10_000) for name in CONTEXT)


def _context(value: Any) -> tuple[Any, ...] | None:
    """A row context from the wire, checked: the :data:`CONTEXT` fields, then the task's
    ``run_id``; None if it is not one (its rows then take the slow path)."""
    if type(value) is not list or len(value) != _RUN_ID + 1:
        return None
    run_id = value[_RUN_ID]
    if run_id is not None and type(run_id) is not int or value[_SOURCE] not in _SOURCES:
        return None
    for field, kind, longest in zip(value, _CONTEXT_TYPES, _CONTEXT_LONGEST):
        if type(field) is not kind or kind is str and len(field) > longest:
            return None
    return tuple(value)


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
    row = system_row(f"Dask worker {worker} {what}{running}", caps,
                     {"worker": worker, "expected": expected, "tasks": keys[:1000], "transport": "dask"})
    return replace(row, worker=worker)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _shared(value: Any) -> dict[str, int] | None:
    """A message's ``cs`` (``{"stdout": 1, ...}``) checked; None if absent or odd."""
    if type(value) is not dict or not value:
        return None
    if all(name in ("stdout", "stderr") and type(fd) is int for name, fd in value.items()):
        return value
    return None

