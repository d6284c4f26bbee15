"""The writer core: a bounded queue between emitting code and one writer thread.

Emitting code (the capture's hot path) only appends an *item* to a ``deque``: a tuple
``(tag, *fields)``; the converter registered for the tag builds the row later, on the
writer thread. ``deque.append`` and ``len`` are atomic under the GIL, so the hot path
takes no lock; when the queue is full the item is counted as dropped (:class:`Drops`)
and the caller moves on, so ``emitted == stored + dropped`` always holds. A remote
process's message comes as one item standing for its rows (:meth:`Writer.offer_batch`):
the bound counts its rows.

The writer thread wakes every ``interval`` seconds (or when ``wake_at`` items are
waiting) and hands the items to its :class:`Pipeline`, which says what they become and
where they go: rows into the session's store in the kernel
(:class:`taskscope.writer.rows.RowPipeline`), columns to a sink in a remote process
(:class:`taskscope.remote.emitter.ColumnPipeline`). Flush, clear and stop requests travel
through the same queue as :class:`Marker` objects, so "every row enqueued before the
call" is exactly "every item before the marker".
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..record.rows import Caps, Row, system_row
from .quiet import quiet_threads

_get_ident = threading.get_ident
Item = tuple[Any, ...]

#: Why most drops happen (the emitting side found the queue full): the default reason.
QUEUE_FULL = "queue full"

#: What an emitting thread does when it finds the queue full (``start(overflow=...)``):
#: wait until the writer has taken items, at most :data:`MAX_BLOCK` seconds, or drop.
BLOCK, DROP = "block", "drop"
OVERFLOWS = (BLOCK, DROP)
#: The longest one emitting call waits for room. Past it the writer counts as stalled
#: (a store that does not take rows): calls drop at once until it takes items again.
MAX_BLOCK = 1.0
Convert = Callable[[Item, Caps], Any]

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


@converter("row")
def ready_row(item: Item, caps: Caps) -> Row:
    """Items that already carry a finished row: ``("row", row)``."""
    return item[1]


#: The tag of an item standing for many rows: ``(BATCH, rows, ...)`` (see ``offer_batch``);
#: its converter returns a list of rows.
BATCH = "batch"


class Marker:
    """A request to the writer thread, answered when every item before it is handled."""

    __slots__ = ("action", "done")

    def __init__(self, action: str) -> None:
        self.action = action
        self.done = threading.Event()


class Drops:
    """Items that could not be kept, counted with why, and the SYSTEM row that says so.

    Counting takes a lock: only on the rare paths (a full queue, a failed write). The
    row :meth:`report` makes travels in a batch that may itself be lost: then
    :meth:`unreport` puts its drops back, to be said by the next one.
    """

    def __init__(self) -> None:
        self.total = 0
        self._reported = 0
        self._reasons: Counter[str] = Counter()  # since the last report
        self._last: tuple[Row, int, Counter[str]] | None = None  # the last report made
        self._lock = threading.Lock()

    def count(self, n: int = 1, why: str = QUEUE_FULL) -> None:
        """Count ``n`` items that could not be kept, and why."""
        if n <= 0:
            return
        with self._lock:
            self.total += n
            self._reasons[why] += n

    def report(self, caps: Caps, queue_size: int) -> Row | None:
        """A SYSTEM row "N rows dropped (why)" if drops happened since the last one."""
        total = self.total
        if total == self._reported:
            return None
        new = total - self._reported
        self._reported = total
        with self._lock:
            reasons, self._reasons = self._reasons, Counter()
        said = {(f"queue full at {queue_size} rows" if why == QUEUE_FULL else why): n
                for why, n in reasons.items()}
        row = drop_row(new, total, said, caps)
        self._last = (row, new, reasons)
        return row

    def is_last_report(self, row: Any) -> bool:
        """Whether ``row`` is the last report made (and not taken back)."""
        return self._last is not None and row is self._last[0]

    def unreport(self) -> int:
        """Take the last report back: its drops go into the next one. 1 (that row), or 0."""
        last, self._last = self._last, None
        if last is None:
            return 0
        with self._lock:
            self._reported -= last[1]
            self._reasons.update(last[2])
        return 1

    def after_fork_in_child(self) -> None:
        self._lock = threading.Lock()


def drop_row(new: int, total: int, said: Mapping[str, int], caps: Caps, **extra: Any) -> Any:
    """The SYSTEM row "N rows dropped (why: n; ...)"; ``said``: rows by reason, as told."""
    why = "; ".join(said) if len(said) == 1 else "; ".join(f"{why}: {n}" for why, n in said.items())
    return system_row(f"{new} rows dropped ({why})", caps,
                      {"dropped": new, "dropped_total": total, "reasons": dict(said), **extra})


class Pipeline(Protocol):
    """What a :class:`Writer` makes of its items and where it sends them (writer thread).

    ``build`` turns a run of items into one batch (``final``: the last before stop, so
    nothing may be held back); ``send`` stores or ships it with the drop report row, if
    any, and counts what it could not keep through ``writer.lost``.
    """

    #: Rows sent or stored so far (the writer's rate samples read it).
    stored: int

    def bind(self, writer: Writer) -> None: ...
    def open(self) -> None: ...
    def build(self, items: list[Item], final: bool) -> Any: ...
    def send(self, batch: Any, report: Row | None) -> None: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    def forget(self) -> None: ...


class Writer:
    """The queue, the drop count and the writer thread of one process's capture."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        queue_size: int = 100_000,
        wake_at: int = 1000,
        interval: float = 0.1,
        max_batch: int = 10_000,
        caps: Caps = Caps(),
        queue: deque[Any] | None = None,
        overflow: str = DROP,
    ) -> None:
        self.pipeline = pipeline
        self.queue: deque[Item | Marker] = deque() if queue is None else queue
        self.queue_size = max(1, int(queue_size))
        self.wake_at = max(1, int(wake_at))
        self.wake = threading.Event()
        self.interval = interval
        self.max_batch = max_batch
        self.caps = caps
        self.overflow = overflow
        self.error: str | None = None
        self.drops = Drops()
        self._room = threading.Event()  # set by the writer thread whenever it took items
        self._stalled = False  # a wait for room timed out; cleared when items are taken
        self._ident: int | None = None  # the writer thread's (it never waits for itself)
        self.tick_hooks: list[Callable[[], None]] = []
        self._batch_lock = threading.Lock()
        self._batched_in = 0  # rows of batch items enqueued (under _batch_lock)
        self._batched_out = 0  # ... and taken by the writer (writer thread only)
        self._samples: deque[tuple[float, int]] = deque(maxlen=64)
        self._thread: threading.Thread | None = None
        self._opened = threading.Event()
        pipeline.bind(self)

    # --- the emitting side (any thread) ------------------------------------------------

    def offer(self, item: Item) -> bool:
        """Enqueue one item; when the queue is full, see :meth:`make_room`."""
        queue = self.queue
        waiting = len(queue)
        if waiting >= self.queue_size and not self.make_room():
            return False
        queue.append(item)
        if waiting + 1 == self.wake_at:
            self.wake.set()
        return True

    def make_room(self) -> bool:
        """The queue is full: True once there is room for one more item.

        With ``overflow="block"`` the calling thread waits (releasing the GIL, so the
        writer runs at full speed) until the writer takes items, at most
        :data:`MAX_BLOCK` seconds. Otherwise, past that bound, on the writer thread
        itself, or when no writer runs: one item is counted dropped and False returned.
        A ``KeyboardInterrupt`` while waiting counts the item dropped and goes on up.
        """
        if self.overflow == BLOCK and not self._stalled and _get_ident() != self._ident and self.running:
            room = self._room
            room.clear()
            self.wake.set()
            try:
                if len(self.queue) < self.queue_size or room.wait(MAX_BLOCK):
                    return True
            except BaseException:
                self.drops.count()
                raise
            self._stalled = True
        self.drops.count()
        return False

    def offer_many(self, items: Sequence[Item]) -> int:
        """Enqueue what fits of ``items``; the rest is counted dropped. How many went in."""
        room = max(0, self.queue_size - len(self.queue))
        taken = items[:room]
        self.queue.extend(taken)
        if len(taken) < len(items):
            self.drops.count(len(items) - len(taken))
        if len(self.queue) >= self.wake_at:
            self.wake.set()
        return len(taken)

    def offer_batch(self, item: Item, rows: int) -> bool:
        """Enqueue one item that stands for ``rows`` rows (``(BATCH, rows, ...)``), if they
        fit: the bound counts rows, not items. A batch that does not fit is counted
        dropped whole. Never blocks."""
        with self._batch_lock:
            waiting = len(self.queue) + self._batched_in - self._batched_out
            if waiting + rows > self.queue_size:
                self.drops.count(rows)
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
        self.drops.count(n, why)

    @property
    def dropped(self) -> int:
        """Items dropped since this writer started."""
        return self.drops.total

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
        """True once every item enqueued before the call is sent or stored."""
        return self.request("flush", timeout)

    def clear(self, timeout: float = 5.0) -> bool:
        """Ask the pipeline to clear (after handling what is queued)."""
        return self.request("clear", timeout)

    # --- lifecycle ---------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start the writer thread and wait until the pipeline is open (raise if it cannot be)."""
        self._opened.clear()
        self.error = None
        self._thread = threading.Thread(target=self._run, name="taskscope-writer", daemon=True)
        self._thread.start()
        if not self._opened.wait(timeout) or self.error is not None:
            raise RuntimeError(f"taskscope could not open {getattr(self.pipeline, 'where', 'its sink')}: {self.error}")

    def stop(self, timeout: float = 10.0) -> bool:
        """Handle everything queued, close the pipeline and end the writer thread."""
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
        self.queue = type(self.queue)()
        self.wake = threading.Event()
        self.drops.after_fork_in_child()
        self._room = threading.Event()
        self._stalled = False
        self._ident = None
        self._batch_lock = threading.Lock()
        self._batched_in = self._batched_out = 0
        self._opened = threading.Event()
        self.pipeline.forget()

    # --- status ------------------------------------------------------------------------

    def rate(self) -> float:
        """Rows stored (or sent) per second over the last few seconds."""
        samples = list(self._samples)
        if len(samples) < 2:
            return 0.0
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    # --- for pipelines (writer thread) ---------------------------------------------------

    def rows_of(self, items: list[Item]) -> list[Row]:
        """The rows of ``items``; a batch item (see :meth:`offer_batch`) gives a list of them."""
        rows: list[Row] = []
        append, extend, convert = rows.append, rows.extend, self.convert
        for item in items:
            row = convert(item)
            if type(row) is list:
                extend(row)
                self._batched_out += item[1]
            else:
                append(row)
        return rows

    def convert(self, item: Item) -> Any:
        """One item's row; a converter that fails still leaves a marked row behind."""
        try:
            row = CONVERTERS[item[0]](item, self.caps)
        except Exception as exc:  # noqa: BLE001 - never lose the batch for one item
            row = None
            failure: Exception | None = exc
        else:
            if row is not None:
                return row
            failure = None
        if item[0] == BATCH:  # its rows are lost: counted, and no longer waiting
            self._batched_out += item[1]
            self.drops.count(item[1], "a message's rows could not be built")
        what = f"a row could not be built: {type(failure).__name__}" if failure else "a row could not be built"
        return system_row(what, self.caps)

    def lost(self, rows: int, why: str, with_report: bool) -> None:
        """``rows`` rows of a batch could not be kept; ``with_report``: the drop report row
        was among them (it is made again, with these drops, next time)."""
        if with_report:
            rows -= self.drops.unreport()
        self.drops.count(rows, why)

    # --- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        """The writer thread: quiet for its whole life (its ident is reused after it ends).

        It blocks SIGINT and SIGTERM, so the kernel delivers them to a thread that runs
        Python's handlers: one delivered here left a pool child's main thread waiting on
        its task queue's lock with the handler never run, and ``Pool.terminate`` (the end
        of every ``with Pool()``) joined that child for ever.
        """
        if hasattr(signal, "pthread_sigmask"):
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
        ident = self._ident = threading.get_ident()
        quiet_threads.add(ident)
        try:
            self._serve()
        finally:
            quiet_threads.discard(ident)
            self._room.set()  # nobody waits for a writer that is gone

    def _serve(self) -> None:
        """Open the pipeline, then drain every tick until asked to stop."""
        try:
            self.pipeline.open()
        except Exception as exc:  # noqa: BLE001 - reported to start()
            self.error = f"{type(exc).__name__}: {exc}"
            self._opened.set()
            return
        self._opened.set()
        try:
            stopping = False
            while not stopping:
                self.wake.wait(self.interval)
                self.wake.clear()
                stopping = self._drain()
                self._tick()
        finally:
            self.pipeline.close()

    def _tick(self) -> None:
        """Once per wake: a rate sample and the periodic hooks (never raising)."""
        self._samples.append((time.monotonic(), self.pipeline.stored))
        while len(self._samples) > 2 and self._samples[-1][0] - self._samples[0][0] > 5.0:
            self._samples.popleft()
        for hook in list(self.tick_hooks):
            try:
                hook()
            except Exception:  # noqa: BLE001 - a hook must not end the writer
                pass

    def _drain(self) -> bool:
        """Hand every queued item on, in batches; answer markers in order. True on stop.

        A stop marker is answered last, after the stragglers that raced with stop
        (already past the capture's check when it was removed) are handled too.
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
                    self._took()  # waiting threads refill while this batch is stored
                    self._send(items, report=False)
                    items = []
            elif isinstance(item, Marker):
                if item.action == "stop":
                    stop = item
                else:  # rows held back by the pipeline go before a clear, with the others
                    self._send(items, final=item.action == "clear")
                    items = []
                    self._answer(item)
        self._took()
        self._send(items, final=stop is not None)
        if stop is not None:
            stop.done.set()
        return stop is not None

    def _took(self) -> None:
        """Items were taken off the queue: wake the threads waiting for room."""
        self._stalled = False
        if not self._room.is_set():
            self._room.set()

    def _send(self, items: list[Item], report: bool = True, final: bool = False) -> None:
        """One batch of ``items`` through the pipeline, with the drop report if ``report``."""
        batch = self.pipeline.build(items, final)
        self.pipeline.send(batch, self.drops.report(self.caps, self.queue_size) if report else None)

    def _answer(self, marker: Marker) -> None:
        """Carry out a flush or clear request after the items before it are handled."""
        try:
            if marker.action == "clear":
                self.pipeline.clear()
                self._samples.clear()
        except Exception as exc:  # noqa: BLE001 - reported through status, not raised here
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            marker.done.set()
