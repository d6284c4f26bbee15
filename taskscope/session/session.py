"""The recording session of this process, and the small port the transports use.

A :class:`Session` is one store file and, while recording, the parts that fill it: a
:class:`~taskscope.writer.core.Writer` with its :class:`~taskscope.writer.rows.RowPipeline`
into the :class:`~taskscope.store.sqlite.Store`, and the
:class:`~taskscope.capture.hooks.Capture` that feeds it. ``taskscope.runtime`` starts
and stops it; everything else reaches it through :func:`current` and these methods:

- :meth:`Session.enqueue` / :meth:`Session.enqueue_own` / :meth:`Session.offer_batch`:
  items for the writer (bounded; taskscope's own few rows past the bound; a remote
  message standing for many rows); :meth:`Session.count_dropped` for rows refused
  before they reach the queue;
- :meth:`Session.system`: a SYSTEM row;
- :meth:`Session.add_row_filter` / :meth:`Session.count_deduplicated`: a look at each
  batch before it is stored (the console deduplication);
- :func:`on_start` / :func:`on_stop`: hooks run as recording starts and ends (Dask's
  automatic attach, the pool receiver).

One session per process: a second ``start()`` in the same process appends to the same
file. A forked child starts with none.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..capture.hooks import Capture
from ..capture.logs import parse_level
from ..record.rows import Caps, system_row
from ..store.sqlite import MAX_ROWS_PER_STATEMENT, Store
from ..writer.core import Item, Writer
from ..writer.rows import RowFilter, RowPipeline

Hook = Callable[[], None]


class Session:
    """One session: its id, store file, writer and (while recording) capture."""

    def __init__(self, session_id: str, path: Path, meta: Callable[[], dict[str, str]]) -> None:
        self.session_id = session_id
        self.path = path
        self.options: dict[str, Any] = {}
        self.capture: Capture | None = None
        self.rows = RowPipeline(_NoStore())
        # batches the size of the store's largest statement: one step each (see store.sqlite)
        self.writer = Writer(self.rows, max_batch=MAX_ROWS_PER_STATEMENT)
        self._meta = meta

    # --- the port ------------------------------------------------------------------------

    @property
    def recording(self) -> bool:
        return self.capture is not None

    def enqueue(self, items: Sequence[Item]) -> int:
        """Queue writer items (``(tag, ...)``, see :mod:`taskscope.writer.core`); how many
        fit (the rest are counted dropped)."""
        return self.writer.offer_many(items)

    def enqueue_own(self, items: Sequence[Item]) -> None:
        """Queue taskscope's own few rows (a worker lost, a message rejected) past the bound."""
        for item in items:
            self.writer.offer_own(item)

    def offer_batch(self, item: Item, rows: int) -> bool:
        """Queue one item standing for ``rows`` rows (a remote message) if they all fit."""
        return self.writer.offer_batch(item, rows)

    def count_dropped(self, n: int, why: str) -> None:
        """``n`` rows that arrived but could not be kept (a remote message refused whole)."""
        self.writer.count_drop(n, why)

    def system(self, msg: str, extra: Mapping[str, Any] | None = None) -> None:
        """A SYSTEM row: taskscope telling what it did."""
        self.writer.offer_own(("row", system_row(msg, self.writer.caps, extra)))

    def note_action(self, event: tuple[Any, ...]) -> None:
        """An action event with no row of its own (a cell's start or end, see
        ``store.actions.Event``): into the actions table with the next batch."""
        self.rows.note(event)

    def add_row_filter(self, row_filter: RowFilter) -> None:
        """Let ``row_filter`` see each batch before it is stored (idempotent)."""
        self.rows.add_filter(row_filter)

    def count_deduplicated(self, n: int) -> None:
        """``n`` rows were found to be copies of others (status says so; not drops)."""
        self.rows.deduplicated += n

    def watched_fds(self) -> list[int]:
        """The fds whose output becomes rows (ipykernel's pipes behind fd 1/2)."""
        capture = self.capture
        return capture.watched_fds() if capture is not None else []

    @contextmanager
    def logging_stepped_aside(self) -> Iterator[None]:
        """While inside, our handler is off the root logger (see Capture.stepped_aside)."""
        capture = self.capture
        if capture is None:
            yield
            return
        with capture.stepped_aside():
            yield

    def flush(self, timeout: float = 5.0) -> bool:
        """True once every item enqueued before the call is committed (at once when stopped)."""
        return not self.writer.running or self.writer.flush(timeout)

    def clear(self, timeout: float = 5.0) -> bool:
        """Delete every row (through the writer while recording); seq continues."""
        if self.writer.running:
            return self.writer.clear(timeout)
        store = Store(self.path, self._meta(), self.options.get("indexes", ()))
        store.open()
        try:
            store.clear()
        finally:
            store.close()
        self.rows.stored = 0
        self.rows.levels.clear()
        self.rows.sources.clear()
        return True

    # --- lifecycle (taskscope.runtime) ---------------------------------------------------

    def start(self, options: dict[str, Any]) -> None:
        """Open the store, start the writer, install the capture; raise if any fails
        (then the options are not kept: the next start uses the last good ones)."""
        writer = self.writer
        writer.queue_size = max(1, options["queue_size"])
        writer.overflow = options["overflow"]
        writer.wake_at = max(1, options["batch_size"])
        writer.interval = options["flush_interval"]
        writer.caps = Caps(msg=options["msg_cap"], text=options["text_cap"], extra=options["extra_cap"])
        self.rows.sink = Store(self.path, self._meta(), options["indexes"])
        writer.start()
        capture = Capture(
            writer,
            user_level=parse_level(options["user_level"]),
            library_level=parse_level(options["library_level"]),
            streams=options["streams"],
            warnings_=options["warnings"],
            exceptions=options["exceptions"],
            cells=self.note_action,
        )
        try:
            capture.install()
        except BaseException:
            capture.uninstall()
            writer.stop()
            raise
        self.options = options
        self.capture = capture

    def stop(self, timeout: float = 10.0) -> None:
        """Put every hook back, then store what is queued and end the writer."""
        capture, self.capture = self.capture, None
        if capture is not None:
            capture.uninstall()
        self.system("taskscope stopped", {"rows": self.rows.stored})
        self.writer.stop(timeout)

    def after_fork_in_child(self) -> None:
        """A forked child has no writer thread and must not touch the parent's store."""
        self.writer.after_fork_in_child()
        capture, self.capture = self.capture, None
        if capture is not None:
            try:
                capture.uninstall()
            except Exception:  # noqa: BLE001
                pass


class _NoStore:
    """The sink of a session's pipeline before its first start."""

    path = None

    def open(self) -> None:
        raise RuntimeError("no store configured")

    def write(self, rows: Sequence[Any], events: Sequence[Any] = ()) -> tuple[int, int]:
        raise RuntimeError("no store configured")

    def clear(self) -> None:
        raise RuntimeError("no store configured")

    def close(self) -> None:
        pass

    def forget(self) -> None:
        pass


# --- this process's session and the hooks around recording -----------------------------------

_last: Session | None = None
_start_hooks: list[Hook] = []
_stop_hooks: list[Hook] = []


def current() -> Session | None:
    """The recording session, None while not recording."""
    session = _last
    return session if session is not None and session.recording else None


def last() -> Session | None:
    """This process's session, recording or stopped; None if it never started one."""
    return _last


def replace(session: Session | None) -> None:
    """Make ``session`` this process's session (``taskscope.runtime`` only)."""
    global _last
    _last = session


def on_start(hook: Hook) -> None:
    """Run ``hook()`` each time recording has started (after the capture is installed)."""
    if hook not in _start_hooks:
        _start_hooks.append(hook)


def on_stop(hook: Hook) -> None:
    """Run ``hook()`` each time recording is about to stop (before the capture goes).

    Stop hooks run last registered first: what was set up on top of something is taken
    down before it."""
    if hook not in _stop_hooks:
        _stop_hooks.append(hook)


def run_start_hooks() -> None:
    _run(_start_hooks, "set up")


def run_stop_hooks() -> None:
    _run(_stop_hooks[::-1], "wind down")


def _run(hooks: list[Hook], what: str) -> None:
    """Run each hook; one that fails is said in a SYSTEM row and the others still run."""
    for hook in list(hooks):
        try:
            hook()
        except Exception as exc:  # noqa: BLE001 - recording goes on without that part
            session = _last
            if session is not None:
                session.system(f"taskscope could not {what} {getattr(hook, '__module__', '')}: "
                               f"{type(exc).__name__}: {exc}")


def _after_fork_in_child() -> None:
    """A forked child starts without a session: nothing is recorded until it calls
    ``start()`` itself (the process-pool transport does)."""
    global _last
    session, _last = _last, None
    if session is not None:
        session.after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
