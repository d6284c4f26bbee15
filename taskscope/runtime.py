"""Turning recording on and off in this process, and asking how it goes.

    import taskscope as ts
    ts.start()        # capture everything into this session's store
    ts.status()       # {'recording': True, 'rows': ..., 'levels': {...}, ...}
    ts.stop()         # every hook put back as found; the rows stay in the store

One session per process: the first ``start()`` picks the store file
``$TASKSCOPE_HOME/sessions/<YYYYmmdd-HHMMSS>-<id>.sqlite``; a later ``start()`` in the
same process appends to the same file. A forked child starts with no session.
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import record
from ._version import __version__
from .capture import Capture, parse_level
from .collector import Collector, Item, Subscriber, converter
from .record import Caps, Row
from .store import Store, new_session_id, session_path

__all__ = [
    "DEFAULTS", "clear", "enqueue_items", "enqueue_rows", "flush", "mode", "options", "start", "status",
    "stop", "store_path", "subscribe", "unsubscribe",
]

#: start()'s options and their defaults (docs/capture.md explains each).
DEFAULTS: dict[str, Any] = {
    "queue_size": 100_000,      # items waiting for the writer; beyond it rows are counted dropped
    "user_level": "DEBUG",      # capture level of user loggers (getLogger names, __main__)
    "library_level": "INFO",    # capture level of every other logger
    "msg_cap": 64 * 1024,       # characters of msg kept; the rest cut with a marker
    "text_cap": 256 * 1024,     # characters of text (line + traceback) kept
    "extra_cap": 64 * 1024,     # characters of extra's JSON kept
    "flush_interval": 0.1,      # seconds between the writer's batches
    "batch_size": 1000,         # queued items that wake the writer before the interval
    "streams": True,            # capture print()/sys.stdout/sys.stderr
    "warnings": True,           # capture warnings.warn
    "exceptions": True,         # capture uncaught exceptions (cells, sys.excepthook)
    "indexes": (),              # secondary indexes of the store (see store.INDEXES)
}


@dataclass
class _Session:
    """This process's session: its id, file and the parts that run while recording."""

    session_id: str
    path: Path
    collector: Collector
    options: dict[str, Any] = field(default_factory=dict)
    capture: Capture | None = None


_lock = threading.RLock()
_session: _Session | None = None
_subscribers: list[Subscriber] = []
_atexit_registered = False


# --- the public API -----------------------------------------------------------------------


def start(**options: Any) -> dict[str, Any]:
    """Start recording (idempotent) and return :func:`status`.

    Called while recording with different options, it restarts the capture with them.
    Raises ``TypeError`` for an unknown option and ``RuntimeError`` when the store
    cannot be opened (an unwritable ``TASKSCOPE_HOME``).
    """
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown taskscope option(s): {', '.join(sorted(unknown))}")
    with _lock:
        session = _session
        if session is not None and session.capture is not None:
            if all(session.options.get(k) == v for k, v in options.items()):
                return status()
            _stop_locked()
        merged = {**DEFAULTS, **(session.options if session else {}), **options}
        _start_locked(_validated(merged))
    return status()


def stop() -> dict[str, Any]:
    """Stop recording (idempotent): every hook put back as found, every queued row stored."""
    with _lock:
        _stop_locked()
    return status()


def mode(logging: bool = True) -> dict[str, Any]:  # noqa: A002 - omega-ml's spelling
    """``mode(logging=True)`` starts recording, ``mode(logging=False)`` stops it."""
    return start() if logging else stop()


def status() -> dict[str, Any]:
    """Whether we record, and counts of what is stored (per level and source), rate, drops."""
    session = _session
    if session is None:
        return {
            "recording": False, "levels": {}, "rows": 0, "rate": 0.0, "dropped": 0, "sources": {},
            "store": None, "session_id": None, "queued": 0, "error": None, "last_seq": 0,
            "workers": [], "deduplicated": 0,
        }
    collector = session.collector
    recording = session.capture is not None
    return {
        "recording": recording,
        "levels": dict(collector.levels),
        "rows": collector.stored,
        "rate": round(collector.rate(), 1) if recording else 0.0,
        "dropped": collector.dropped,
        "sources": dict(collector.sources),
        "store": str(session.path),
        "session_id": session.session_id,
        "queued": len(collector.queue),
        "error": collector.error,
        "last_seq": collector.last_seq,
        "workers": list(collector.workers),
        "deduplicated": collector.deduplicated,
    }


def flush(timeout: float = 5.0) -> bool:
    """Block until every row enqueued before the call is committed; False on timeout.

    True at once when not recording (stop already stored everything).
    """
    session = _session
    if session is None or not session.collector.running:
        return True
    return session.collector.flush(timeout)


def store_path() -> Path | None:
    """This session's store file (also after stop); None if this process never started."""
    session = _session
    return session.path if session is not None else None


def clear(timeout: float = 5.0) -> bool:
    """Delete every row of this session (through the writer while recording); seq continues."""
    with _lock:
        session = _session
        if session is None:
            return True
        if session.collector.running:
            return session.collector.clear(timeout)
        return _clear_stopped(session)


def enqueue_rows(rows: Sequence[Mapping[str, Any]]) -> int:
    """Queue ready-made rows (DESIGN.md columns but seq) from other processes; how many fit.

    Used by the bridge and the remote transports (Dask workers, pool children). The
    rows are made safe on the writer thread; rows beyond the queue's room count as
    dropped. Nothing is queued (0) while not recording.
    """
    session = _session
    if session is None or session.capture is None:
        return 0
    items: list[Item] = [("dict", row) for row in rows]
    return session.collector.offer_many(items)


def enqueue_items(items: Sequence[Item], *, own: bool = False) -> int:
    """Queue collector items (``(tag, ...)``, see :mod:`taskscope.collector`); how many fit.

    For the remote transports, whose converters finish the rows on the writer thread.
    ``own``: taskscope's own few rows (a worker lost, a message rejected), queued past
    the bound. Nothing is queued (0) while not recording.
    """
    session = _session
    if session is None or session.capture is None:
        return 0
    if own:
        for item in items:
            session.collector.offer_own(item)
        return len(items)
    return session.collector.offer_many(items)


@contextmanager
def logging_stepped_aside() -> Iterator[None]:
    """While inside, taskscope's handler is off the root logger (see Capture.stepped_aside)."""
    session = _session
    capture = session.capture if session is not None else None
    if capture is None:
        yield
        return
    with capture.stepped_aside():
        yield


def options() -> dict[str, Any] | None:
    """The options of the recording session (a copy), None while not recording."""
    session = _session
    if session is None or session.capture is None:
        return None
    return dict(session.options)


def subscribe(callback: Subscriber) -> None:
    """Call ``callback(first_seq, last_seq, counts)`` after each committed batch.

    It runs on the writer thread: keep it cheap (the bridge throttles to ~10/s itself).
    ``counts`` is ``{"levels": {...}, "sources": {...}}`` of that batch. Exceptions
    in it are swallowed. Subscriptions outlive stop/start.
    """
    with _lock:
        if callback not in _subscribers:
            _subscribers.append(callback)
        if _session is not None:
            _session.collector.subscribe(callback)


def unsubscribe(callback: Subscriber) -> None:
    """Stop calling ``callback``."""
    with _lock:
        if callback in _subscribers:
            _subscribers.remove(callback)
        if _session is not None:
            _session.collector.unsubscribe(callback)


# --- inside -------------------------------------------------------------------------------


def _validated(options: dict[str, Any]) -> dict[str, Any]:
    """Options with levels as numbers checked; ValueError names a bad one."""
    for key in ("user_level", "library_level"):
        parse_level(options[key])
    for key in ("queue_size", "msg_cap", "text_cap", "extra_cap", "batch_size"):
        if not isinstance(options[key], int) or options[key] < 1:
            raise ValueError(f"{key} must be a positive int, not {options[key]!r}")
    options["indexes"] = tuple(options["indexes"])
    return options


def _start_locked(options: dict[str, Any]) -> None:
    global _session
    fresh = _session is None
    session = _session = _session or _new_session(options)
    session.options = options
    collector = session.collector
    _configure(collector, options)
    collector.sink = Store(session.path, _meta(session), options["indexes"])
    try:
        collector.start()
    except RuntimeError:
        if fresh:
            _session = None  # a store that never opened is no session
        raise
    capture = Capture(
        collector,
        user_level=parse_level(options["user_level"]),
        library_level=parse_level(options["library_level"]),
        streams=options["streams"],
        warnings_=options["warnings"],
        exceptions=options["exceptions"],
    )
    try:
        capture.install()
    except BaseException:
        capture.uninstall()
        collector.stop()
        raise
    session.capture = capture
    _system(collector, "taskscope started", {"pid": os.getpid(), "version": __version__})
    _register_atexit()
    _transports().on_start()


def _stop_locked(timeout: float = 10.0) -> None:
    session = _session
    if session is None or session.capture is None:
        return
    _transports().on_stop()  # remote rows still arriving are stored before the writer ends
    capture, session.capture = session.capture, None
    capture.uninstall()
    _system(session.collector, "taskscope stopped", {"rows": session.collector.stored})
    session.collector.stop(timeout)


def _transports() -> Any:
    """:mod:`taskscope.transports` (Dask attach, pool receiver), imported when first needed."""
    from . import transports

    return transports


def _new_session(options: dict[str, Any]) -> _Session:
    session_id = new_session_id()
    collector = Collector(_NoStore())
    for callback in _subscribers:
        collector.subscribe(callback)
    return _Session(session_id, session_path(session_id), collector, options)


def _configure(collector: Collector, options: Mapping[str, Any]) -> None:
    """Apply the options that live on the collector (before its writer starts)."""
    collector.queue_size = options["queue_size"]
    collector.wake_at = options["batch_size"]
    collector.interval = options["flush_interval"]
    collector.caps = Caps(msg=options["msg_cap"], text=options["text_cap"], extra=options["extra_cap"])


def _meta(session: _Session) -> dict[str, str]:
    """The facts written once into the store's meta table."""
    return {
        "session_id": session.session_id,
        "kernel_id": _kernel_id(),
        "started": repr(time.time()),
        "hostname": record.HOSTNAME,
        "pid": str(os.getpid()),
        "taskscope_version": __version__,
    }


def _kernel_id() -> str:
    """The kernel's id from its connection file name (``kernel-<id>.json``), else ''."""
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    if kernelapp is None:
        return ""
    try:
        if not kernelapp.IPKernelApp.initialized():
            return ""
        connection_file = kernelapp.IPKernelApp.instance().connection_file
    except Exception:  # noqa: BLE001
        return ""
    name = os.path.basename(str(connection_file))
    found = re.fullmatch(r"kernel-(.+)\.json", name)
    return found.group(1) if found else os.path.splitext(name)[0]


def _system(collector: Collector, msg: str, extra: Mapping[str, Any]) -> None:
    """Queue a SYSTEM row (started, stopped)."""
    collector.offer_own(("row", record.system_row(msg, collector.caps, extra)))


@converter("dict")
def _dict_row(item: Item, caps: Caps) -> Row:
    """Convert: a ready-made row dict (enqueue_rows) made safe."""
    return record.row_from_dict(item[1], caps)


def _clear_stopped(session: _Session) -> bool:
    """Clear while not recording: no writer thread, so this thread opens the store briefly."""
    store = Store(session.path, _meta(session), session.options.get("indexes", ()))
    store.open()
    try:
        store.clear()
    finally:
        store.close()
    collector = session.collector
    collector.stored = 0
    collector.levels.clear()
    collector.sources.clear()
    return True


class _NoStore:
    """The sink of a collector before its first start."""

    path = None

    def open(self) -> None:
        raise RuntimeError("no store configured")

    def write(self, rows: Sequence[Row]) -> tuple[int, int]:
        raise RuntimeError("no store configured")

    def clear(self) -> None:
        raise RuntimeError("no store configured")

    def close(self) -> None:
        pass

    def forget(self) -> None:
        pass


def _at_exit() -> None:
    """At interpreter exit: store what is queued and put the hooks back."""
    try:
        with _lock:
            _stop_locked(timeout=5.0)
    except Exception:  # noqa: BLE001 - never fail an exit
        pass


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        atexit.register(_at_exit)
        _atexit_registered = True


def _after_fork_in_child() -> None:
    """A forked child has no writer thread and must not touch the parent's connection.

    It starts without a session: hooks are put back, nothing is recorded until it calls
    ``start()`` itself (the process-pool transport does that).
    """
    global _session, _lock
    _lock = threading.RLock()
    session, _session = _session, None
    if session is None:
        return
    session.collector.after_fork_in_child()
    if session.capture is not None:
        capture, session.capture = session.capture, None
        try:
            capture.uninstall()
        except Exception:  # noqa: BLE001
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)



def _reset() -> None:
    """Stop and forget this process's session, so the next start() opens a new file.

    For tests (each gets its own store) and tools; not part of the public API.
    """
    global _session
    with _lock:
        _stop_locked()
        _session = None
