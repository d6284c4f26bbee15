"""The kernel's pipeline: items become rows, rows go into the session's store.

Row filters (the console deduplication of :mod:`taskscope.remote.console`) see each
batch before it is written and may hold rows back for a while; the counters the status
shows (rows, levels, sources, workers, last seq) and the subscribers (the comm bridge)
follow every commit.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Protocol

from ..record.columns import AT
from ..record.rows import Row
from .core import Item

if TYPE_CHECKING:
    from .core import Writer

#: ``callback(first_seq, last_seq, {"levels": {...}, "sources": {...}})`` after a commit.
Subscriber = Callable[[int, int, dict[str, dict[str, int]]], None]
#: ``filter(rows, final) -> rows``: may hold rows back and hand them in later; ``final``:
#: it must hand in all (stop, clear).
RowFilter = Callable[[list[Row], bool], list[Row]]

#: At most this many worker addresses are remembered for status (a status goes to the
#: browser ten times a second; a cluster that churns through workers must not grow it).
MAX_WORKERS = 256

_level_of = itemgetter(AT["level"])
_source_of = itemgetter(AT["source"])
_worker_of = itemgetter(AT["worker"])


class Sink(Protocol):
    """Where rows are written (a :class:`taskscope.store.sqlite.Store`)."""

    def open(self) -> None: ...
    def write(self, rows: Sequence[Row], events: Sequence[tuple[Any, ...]] = ()) -> tuple[int, int]: ...
    def clear(self) -> None: ...
    def close(self) -> None: ...
    def forget(self) -> None: ...


class RowPipeline:
    """Rows into a :class:`Sink`, at most the writer's ``max_batch`` rows (and the sink's
    ``rows_per_write``) a transaction."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.stored = 0
        self.last_seq = 0  # seq of the newest committed row: front ends fetch rows after theirs
        self.levels: Counter[str] = Counter()
        self.sources: Counter[str] = Counter()
        #: Remote workers whose rows were stored, in the order they first sent one.
        self.workers: dict[str, None] = {}
        self.deduplicated = 0  # rows a filter found to be copies of others (not drops)
        self.filters: list[RowFilter] = []
        self._subscribers: list[Subscriber] = []
        self._writer: Writer | None = None
        #: Action events without rows (cells), written with the next batch (any thread appends).
        self._notes: deque[tuple[Any, ...]] = deque()

    @property
    def where(self) -> str:
        return f"its store {getattr(self.sink, 'path', '')}"

    def bind(self, writer: Writer) -> None:
        self._writer = writer

    def subscribe(self, callback: Subscriber) -> None:
        """Call ``callback(first_seq, last_seq, counts)`` on the writer thread after each commit."""
        if callback not in self._subscribers:
            self._subscribers = [*self._subscribers, callback]

    def unsubscribe(self, callback: Subscriber) -> None:
        """Stop calling ``callback``; unknown callbacks are ignored."""
        self._subscribers = [s for s in self._subscribers if s != callback]

    def note(self, event: tuple[Any, ...]) -> None:
        """An action event for the actions table, stored with the next batch."""
        self._notes.append(event)

    def add_filter(self, row_filter: RowFilter) -> None:
        """Let ``row_filter`` see (and hold back) each batch before it is written."""
        if row_filter not in self.filters:
            self.filters.append(row_filter)

    # --- the Pipeline protocol (writer thread) ----------------------------------------------

    def open(self) -> None:
        self.sink.open()
        # a reopened store continues its numbering: so does last_seq
        self.last_seq = max(self.last_seq, getattr(self.sink, "next_seq", 1) - 1)

    def build(self, items: list[Item], final: bool) -> list[Row]:
        writer = self._writer
        assert writer is not None
        rows = writer.rows_of(items)
        for row_filter in self.filters:
            try:
                rows = row_filter(rows, final)
            except Exception as exc:  # noqa: BLE001 - store the rows unfiltered, not lose them
                writer.error = f"{type(exc).__name__}: {exc}"
        return rows

    def send(self, rows: list[Row], report: Row | None) -> None:
        if report is not None:
            rows.append(report)
        assert self._writer is not None
        step = min(self._writer.max_batch, getattr(self.sink, "rows_per_write", self._writer.max_batch))
        events = self._take_notes()
        if events and not rows:
            self._write_events(events)
        for at in range(0, len(rows), step):
            self._write(rows[at:at + step] if len(rows) > step else rows, report, events if at == 0 else [])

    def clear(self) -> None:
        self.sink.clear()
        self.stored = 0
        self.levels.clear()
        self.sources.clear()
        self.workers.clear()

    def close(self) -> None:
        self.sink.close()

    def forget(self) -> None:
        self.sink.forget()

    # --- inside ----------------------------------------------------------------------------

    def _take_notes(self) -> list[tuple[Any, ...]]:
        notes, popleft = self._notes, self._notes.popleft
        return [popleft() for _ in range(len(notes))] if notes else []

    def _write_events(self, events: list[tuple[Any, ...]]) -> None:
        """Action events alone (a cell with no rows yet)."""
        try:
            self.sink.write([], events)
        except Exception as exc:  # noqa: BLE001 - lose the events, not the thread
            assert self._writer is not None
            self._writer.error = f"{type(exc).__name__}: {exc}"

    def _write(self, rows: list[Row], report: Row | None, events: list[tuple[Any, ...]]) -> None:
        """Commit one batch, count it and tell subscribers; a failed write counts as drops."""
        if not rows:
            return
        writer = self._writer
        assert writer is not None
        try:
            first, last = self.sink.write(rows, events) if events else self.sink.write(rows)
        except Exception as exc:  # noqa: BLE001 - e.g. disk full: lose this batch, not the thread
            writer.error = f"{type(exc).__name__}: {exc}"
            with_report = report is not None and rows[-1] is report and writer.drops.is_last_report(report)
            writer.lost(len(rows), f"the store could not write them: {type(exc).__name__}", with_report)
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
