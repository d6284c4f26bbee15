"""The bounded queue between emitting code and the store, and the one thread that writes.

Emitting code (the capture's hot path) only appends an *item* to a ``deque``: a tuple
``(tag, *fields)``; the converter registered for the tag builds the row later, on the
writer thread. ``deque.append`` and ``len`` are atomic under the GIL, so the hot path
takes no lock; when the queue is full the item is counted as dropped and the caller
moves on. The count is exact (a lock only on that rare path), so
``emitted == stored + dropped`` always holds. A remote process's message comes as one
item standing for its rows (:meth:`Collector.offer_batch`): the bound counts its rows.

The writer thread wakes every ``interval`` seconds (or when ``wake_at`` items are
waiting), turns items into rows, stores them in batched transactions, updates the
status counters and tells subscribers. Flush, clear and stop requests travel through
the same queue as :class:`Marker` objects, so "every row enqueued before the call" is
exactly "every item before the marker".
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, Protocol

from . import record
from .record import Caps, Row

#: Threads that are running taskscope's own code: nothing they log or print is captured.
#: The writer thread is always in it. A set of idents: one C-level lookup on the hot path.
quiet_threads: set[int] = set()


@contextmanager
def quiet() -> Iterator[None]:
    """While inside, this thread's logging and output are not captured (no re-entry)."""
    ident = threading.get_ident()
    if ident in quiet_threads:
        yield
        return
    quiet_threads.add(ident)
    try:
        yield
    finally:
        quiet_threads.discard(ident)


Item = tuple[Any, ...]

#: Why most drops happen (the emitting side found the queue full): the default reason.
QUEUE_FULL = "queue full"
Convert = Callable[[Item, Caps], "Row | None"]
Subscriber = Callable[[int, int, dict[str, dict[str, int]]], None]

#: How each kind of item becomes a row, by the tag an item starts with. A tag (a str),
#: not the function itself: a tuple holding only strings and numbers is untracked by the
#: cyclic GC, so a full queue costs the collector nothing; one holding a function is not.
CONVERTERS: dict[str, Convert] = {}


def converter(tag: str) -> Callable[[Convert], Convert]:
    """Register the function that turns items tagged ``tag`` into rows (on the writer)."""
    def register(convert: Convert) -> Convert:
        CONVERTERS[tag] = convert
        return convert
    return register


_level_of = itemgetter(1)
_source_of = itemgetter(3)
_worker_of = itemgetter(record.FIELDS.index("worker"))


class Sink(Protocol):
    """What the writer thread writes to (a :class:`taskscope.store.Store`)."""

    def open(self) -> None: ...
    def write(self, rows: Sequence[Row]) -> tuple[int, int]: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    def forget(self) -> None: ...


class Marker:
    """A request to the writer thread, answered when every item before it is handled."""

    __slots__ = ("action", "done")

    def __init__(self, action: str) -> None:
        self.action = action
        self.done = threading.Event()


#: The tag of an item standing for many rows: ``(BATCH, rows, ...)`` (see ``offer_batch``).
BATCH = "batch"
#: At most this many worker addresses are remembered for status (a status goes to the
#: browser ten times a second; a cluster that churns through workers must not grow it).
MAX_WORKERS = 256


@converter("row")
def ready_row(item: Item, caps: Caps) -> Row:
    """Items that already carry a finished row: ``("row", row)``."""
    return item[1]


class Collector:
    """The queue, the writer thread and the counters of one recording session."""

    def __init__(
        self,
        sink: Sink,
        *,
        queue_size: int = 100_000,
        wake_at: int = 1000,
        interval: float = 0.1,
        max_batch: int = 10_000,
        caps: Caps = Caps(),
    ) -> None:
        self.sink = sink
        self.queue: deque[Item | Marker] = deque()
        self.queue_size = max(1, int(queue_size))
        self.wake_at = max(1, int(wake_at))
        self.wake = threading.Event()
        self.interval = interval
        self.max_batch = max_batch
        self.caps = caps
        self.error: str | None = None
        self.stored = 0
        self.last_seq = 0  # seq of the newest committed row: front ends fetch rows after theirs
        self.levels: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        #: Remote workers whose rows were stored, in the order they first sent one.
        self.workers: dict[str, None] = {}
        self.tick_hooks: list[Callable[[], None]] = []
        #: ``filter(rows, final) -> rows`` on the writer before each write (see ``_store``).
        self.row_filter: Callable[[list[Row], bool], list[Row]] | None = None
        self.deduplicated = 0  # rows a row_filter found to be copies of others (not drops)
        self._subscribers: list[Subscriber] = []
        self._drops = 0
        self._drops_reported = 0
        self._drop_reasons: Counter[str] = Counter()  # since the last drop row
        self._report: tuple[Row, int, Counter[str]] | None = None  # the last drop row made
        self._drop_lock = threading.Lock()
        self._batch_lock = threading.Lock()
        self._batched_in = 0  # rows of batch items enqueued (under _batch_lock)
        self._batched_out = 0  # ... and taken by the writer (writer thread only)
        self._samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()

    # --- the emitting side (any thread) ------------------------------------------------

    def offer(self, item: Item) -> bool:
        """Enqueue one item, or count it dropped when the queue is full. Never blocks."""
        queue = self.queue
        waiting = len(queue)
        if waiting >= self.queue_size:
            self.count_drop()
            return False
        queue.append(item)
        if waiting + 1 == self.wake_at:
            self.wake.set()
        return True

    def offer_many(self, items: Sequence[Item]) -> int:
        """Enqueue what fits of ``items``; the rest is counted dropped. How many went in."""
        room = max(0, self.queue_size - len(self.queue))
        taken = items[:room]
        self.queue.extend(taken)
        if len(taken) < len(items):
            self.count_drop(len(items) - len(taken))
        if len(self.queue) >= self.wake_at:
            self.wake.set()
        return len(taken)

    def offer_batch(self, item: Item, rows: int) -> bool:
        """Enqueue one item that stands for ``rows`` rows (``(BATCH, rows, ...)``, whose
        converter returns a list of rows), if they fit: the bound counts rows, not items.
        A batch that does not fit is counted dropped whole. Never blocks."""
        with self._batch_lock:
            waiting = len(self.queue) + self._batched_in - self._batched_out
            if waiting + rows > self.queue_size:
                self.count_drop(rows)
                return False
            self._batched_in += rows
            self.queue.append(item)
        if waiting + rows >= self.wake_at:
            self.wake.set()
        return True

    def offer_own(self, item: Item) -> None:
        """Enqueue taskscope's own row (started, stopped) past the bound: a few per session,
        and never counted with (or instead of) the user's rows."""
        self.queue.append(item)

    def count_drop(self, n: int = 1, why: str = QUEUE_FULL) -> None:
        """Count ``n`` items that could not be kept, and why (the drop row says it)."""
        if n <= 0:
            return
        with self._drop_lock:
            self._drops += n
            self._drop_reasons[why] += n

    @property
    def dropped(self) -> int:
        """Items dropped since this collector started."""
        return self._drops

    # --- requests (any thread) ---------------------------------------------------------

    def request(self, action: str, timeout: float) -> bool:
        """Put a marker behind every item enqueued so far; wait until the writer did it."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return False
        marker = Marker(action)
        self.queue.append(marker)
        self.wake.set()
        return marker.done.wait(timeout)

    def flush(self, timeout: float = 5.0) -> bool:
        """True once every item enqueued before the call is committed to the store."""
        return self.request("flush", timeout)

    def clear(self, timeout: float = 5.0) -> bool:
        """Delete the session's rows (after storing what is queued); counters restart."""
        return self.request("clear", timeout)

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(first_seq, last_seq, counts)`` on the writer thread after each commit."""
        if callback not in self._subscribers:
            self._subscribers = [*self._subscribers, callback]

    def unsubscribe(self, callback: Subscriber) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        self._subscribers = [s for s in self._subscribers if s != callback]

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the writer thread and wait until the store is open (raise if it cannot be)."""
        self._opened.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run, name="taskscope-writer", daemon=True)
        self._thread.start()
        if not self._opened.wait(timeout) or self.error is not None:
            raise RuntimeError(f"taskscope could not open its store {getattr(self.sink, 'path', '')}: {self.error}")

    def stop(self, timeout: float = 10.0) -> bool:
        """Store everything queued, close the store and end the writer thread."""
        thread = self._thread
        if thread is None:
            return True
        done = self.request("stop", timeout)
        thread.join(timeout)
        self._thread = None
        return done and not thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the writer thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def after_fork_in_child(self) -> None:
        """In a forked child: the parent's thread and connection are not ours; start empty."""
        self._thread = None
        self.queue = deque()
        self.wake = threading.Event()
        self._drop_lock = threading.Lock()
        self._batch_lock = threading.Lock()
        self._batched_in = self._batched_out = 0
        self._opened = threading.Event()
        self.sink.forget()

    # --- status ------------------------------------------------------------------------

    def rate(self) -> float:
        """Rows stored per second over the last few seconds."""
        samples = list(self._samples)
        if len(samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    # --- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        """The writer thread: quiet for its whole life (its ident is reused after it ends)."""
        ident = threading.get_ident()
        quiet_threads.add(ident)
        try:
            self._serve()
        finally:
            quiet_threads.discard(ident)

    def _serve(self) -> None:
        """Open the store, then drain every tick until asked to stop."""
        try:
            self.sink.open()
        except Exception as exc:  # noqa: BLE001 - reported to start()
            self.error = f"{type(exc).__name__}: {exc}"
            self._opened.set()
            return
        # a reopened store continues its numbering: so does last_seq
        self.last_seq = max(self.last_seq, getattr(self.sink, "next_seq", 1) - 1)
        self._opened.set()
        try:
            stopping = False
            while not stopping:
                self.wake.wait(self.interval)
                self.wake.clear()
                stopping = self._drain()
                self._tick()
        finally:
            self.sink.close()

    def _tick(self) -> None:
        """Once per wake: a rate sample and the periodic hooks (never raising)."""
        self._samples.append((time.monotonic(), self.stored))
        while len(self._samples) > 2 and self._samples[-1][0] - self._samples[0][0] > 5.0:
            self._samples.popleft()
        for hook in list(self.tick_hooks):
            try:
                hook()
            except Exception:  # noqa: BLE001 - a hook must not end the writer
                pass

    def _drain(self) -> bool:
        """Store every queued item, in batches; answer markers in order. True on stop.

        A stop marker is answered last, after the stragglers that raced with stop
        (already past the capture's check when it was removed) are stored too.
        """
        popleft = self.queue.popleft
        items: list[Item] = []
        stop: Marker | None = None
        while True:
            try:
                item = popleft()
            except IndexError:
                break
            if type(item) is tuple:
                items.append(item)
                if len(items) >= self.max_batch:
                    self._store(items, report=False)
                    items = []
            elif item.action == "stop":  # type: ignore[union-attr]
                stop = item  # type: ignore[assignment]
            else:  # rows held back by a row filter go before a clear, with the others
                self._store(items, final=item.action == "clear")  # type: ignore[union-attr]
                items = []
                self._answer(item)  # type: ignore[arg-type]
        self._store(items, final=stop is not None)
        if stop is not None:
            stop.done.set()
        return stop is not None

    def _store(self, items: list[Item], report: bool = True, final: bool = False) -> None:
        """Build the rows of ``items`` and write them (with the drop report, if ``report``),
        at most ``max_batch`` rows a transaction. ``row_filter`` (if set) may hold rows
        back for a while and hand them in later; ``final``: it must hand in all (stop)."""
        rows = self._rows(items)
        if self.row_filter is not None:
            try:
                rows = self.row_filter(rows, final)
            except Exception as exc:  # noqa: BLE001 - store the rows unfiltered, not lose them
                self.error = f"{type(exc).__name__}: {exc}"
        if report:
            rows = self._with_drop_report(rows)
        step = self.max_batch
        for at in range(0, len(rows), step):
            self._write(rows[at:at + step] if len(rows) > step else rows)

    def _rows(self, items: list[Item]) -> list[Row]:
        """The rows of ``items``; a batch item (see :meth:`offer_batch`) gives a list of them."""
        rows: list[Row] = []
        append, extend, convert = rows.append, rows.extend, self._convert
        for item in items:
            row = convert(item)
            if type(row) is list:
                extend(row)
                self._batched_out += item[1]
            else:
                append(row)
        return rows

    def _convert(self, item: Item) -> Row:
        """One item's row; a converter that fails still leaves a marked row behind."""
        try:
            row = CONVERTERS[item[0]](item, self.caps)
        except Exception as exc:  # noqa: BLE001 - never lose the batch for one item
            row = None
            failure = exc
        else:
            if row is not None:
                return row
            failure = None
        if item[0] == BATCH:  # its rows are lost: counted, and no longer waiting
            self._batched_out += item[1]
            self.count_drop(item[1], "a message's rows could not be built")
        what = f"a row could not be built: {type(failure).__name__}" if failure else "a row could not be built"
        return record.system_row(what, self.caps)

    def _with_drop_report(self, rows: list[Row]) -> list[Row]:
        """``rows`` plus a SYSTEM row "N rows dropped" when drops happened since the last one."""
        dropped = self._drops
        if dropped == self._drops_reported:
            return rows
        new = dropped - self._drops_reported
        self._drops_reported = dropped
        with self._drop_lock:
            reasons, self._drop_reasons = self._drop_reasons, Counter()
        said = {(f"queue full at {self.queue_size} rows" if why == QUEUE_FULL else why): n
                for why, n in reasons.items()}
        why = "; ".join(said) if len(said) == 1 else "; ".join(f"{why}: {n}" for why, n in said.items())
        row = record.system_row(
            f"{new} rows dropped ({why})", self.caps,
            {"dropped": new, "dropped_total": dropped, "reasons": said},
        )
        self._report = (row, new, reasons)
        rows.append(row)
        return rows

    def _lost_report(self, rows: Sequence[Any]) -> int:
        """``rows`` could not be kept: if the last drop row is among them, it is made
        again next time (with these rows' own drop). How many of ``rows`` were that row."""
        report = self._report
        if report is None or not rows or rows[-1] is not report[0]:
            return 0
        return self._unreport()

    def _unreport(self) -> int:
        """Take the last drop row back: its drops go into the next one. 1 (that row)."""
        report, self._report = self._report, None
        if report is None:
            return 0
        with self._drop_lock:
            self._drops_reported -= report[1]
            self._drop_reasons.update(report[2])
        return 1

    def _write(self, rows: list[Row]) -> None:
        """Commit one batch, count it and tell subscribers; a failed write counts as drops."""
        if not rows:
            return
        try:
            first, last = self.sink.write(rows)
        except Exception as exc:  # noqa: BLE001 - e.g. disk full: lose this batch, not the thread
            self.error = f"{type(exc).__name__}: {exc}"
            self.count_drop(len(rows) - self._lost_report(rows), f"the store could not write them: {type(exc).__name__}")
            return
        levels = Counter(map(_level_of, rows))
        sources = Counter(map(_source_of, rows))
        self.stored += len(rows)
        self.last_seq = max(self.last_seq, last)
        self.levels.update(levels)
        self.sources.update(sources)
        self._note_workers(rows)
        self._notify(first, last, {"levels": dict(levels), "sources": dict(sources)})

    def _note_workers(self, rows: list[Row]) -> None:
        """Remember the remote workers in a batch (a remote batch comes from one worker)."""
        for worker in set(map(_worker_of, rows)):
            if worker and worker not in self.workers and len(self.workers) < MAX_WORKERS:
                self.workers[worker] = None

    def _notify(self, first: int, last: int, counts: dict[str, dict[str, int]]) -> None:
        """Call every subscriber; their exceptions are swallowed."""
        for callback in self._subscribers:
            try:
                callback(first, last, counts)
            except Exception:  # noqa: BLE001 - a subscriber must not stop the writer
                pass

    def _answer(self, marker: Marker) -> None:
        """Carry out a flush or clear request after the rows before it are stored."""
        try:
            if marker.action == "clear":
                self.sink.clear()
                self.stored = 0
                self.levels.clear()
                self.sources.clear()
                self.workers.clear()
                self._samples.clear()
        except Exception as exc:  # noqa: BLE001 - reported through status, not raised here
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            marker.done.set()
