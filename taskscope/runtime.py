"""Turning recording on and off in this process, and asking how it goes.

    import taskscope as ts
    ts.start()        # capture everything into this session's store
    ts.status()       # {'recording': True, 'rows': ..., 'levels': {...}, ...}
    ts.stop()         # every hook put back as found; the rows stay in the store

One session per process (:mod:`taskscope.session.session`): the first ``start()`` picks
the store file ``$TASKSCOPE_HOME/sessions/<YYYYmmdd-HHMMSS>-<id>.sqlite``; a later
``start()`` in the same process appends to the same file. A forked child starts with no
session. Remote transports hook into starting and stopping through the session's port
(:mod:`taskscope.remote.autoattach` and :mod:`taskscope.remote.autopool` are registered here).
"""

from __future__ import annotations

import atexit
import os
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .capture.logs import parse_level
from .record import rows as record
from .record.rows import Caps, Row
from .record.vocabulary import START_OPTIONS
from .remote import autoattach, autopool
from .session import session as sessions
from .session.session import Session
from .store.sqlite import INDEXES, new_session_id, session_path
from .writer.core import OVERFLOWS, Item, converter
from .writer.rows import Subscriber

__all__ = [
    "DEFAULTS", "clear", "enqueue_rows", "flush", "mode", "options", "start", "status",
    "stop", "store_path", "subscribe", "unsubscribe",
]

#: start()'s options and their defaults (docs/capture.md explains each).
DEFAULTS: dict[str, Any] = START_OPTIONS
#: The writer's wake interval, in seconds: below it the writer thread would spin.
MIN_FLUSH_INTERVAL, MAX_FLUSH_INTERVAL = 0.001, 86400.0

_lock = threading.RLock()
_subscribers: list[Subscriber] = []
_atexit_registered = False

sessions.on_start(autoattach.on_start)
sessions.on_stop(autoattach.on_stop)
sessions.on_start(autopool.on_start)
sessions.on_stop(autopool.on_stop)


# --- the public API -----------------------------------------------------------------------


def start(**options: Any) -> dict[str, Any]:
    """Start recording (idempotent) and return :func:`status`.

    Called while recording with different options, it restarts the capture with them.
    Raises ``TypeError`` for an unknown option, ``TypeError``/``ValueError`` for a bad
    value (then nothing changes: recording goes on as it was, or stays off), and
    ``RuntimeError`` when the store cannot be opened (an unwritable ``TASKSCOPE_HOME``).
    """
    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise TypeError(f"unknown taskscope option(s): {', '.join(sorted(unknown))}")
    with _lock:
        session = sessions.last()
        # every option checked before anything changes: a refused start leaves recording as it was
        merged = _validated({**DEFAULTS, **(session.options if session else {}), **options})
        if session is not None and session.recording:
            if all(session.options.get(k) == v for k, v in options.items()):
                return status()
            _stop_locked()
        _start_locked(merged)
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
    session = sessions.last()
    if session is None:
        return {
            "recording": False, "levels": {}, "rows": 0, "rate": 0.0, "dropped": 0, "sources": {},
            "store": None, "session_id": None, "queued": 0, "error": None, "last_seq": 0,
            "workers": [], "deduplicated": 0,
        }
    writer, rows = session.writer, session.rows
    recording = session.recording
    return {
        "recording": recording,
        "levels": dict(rows.levels),
        "rows": rows.stored,
        "rate": round(writer.rate(), 1) if recording else 0.0,
        "dropped": writer.dropped,
        "sources": dict(rows.sources),
        "store": str(session.path),
        "session_id": session.session_id,
        "queued": len(writer.queue),
        "error": writer.error,
        "last_seq": rows.last_seq,
        "workers": list(rows.workers),
        "deduplicated": rows.deduplicated,
    }


def flush(timeout: float = 5.0) -> bool:
    """Block until every row enqueued before the call is committed; False on timeout.

    True at once when not recording (stop already stored everything).
    """
    session = sessions.last()
    return True if session is None else session.flush(timeout)


def store_path() -> Path | None:
    """This session's store file (also after stop); None if this process never started."""
    session = sessions.last()
    return session.path if session is not None else None


def clear(timeout: float = 5.0) -> bool:
    """Delete every row of this session (through the writer while recording); seq continues."""
    with _lock:
        session = sessions.last()
        return True if session is None else session.clear(timeout)


def enqueue_rows(rows: Sequence[Mapping[str, Any]]) -> int:
    """Queue ready-made rows (the record's columns but seq, as dicts) from elsewhere; how many fit.

    The rows are made safe on the writer thread; rows beyond the queue's room count as
    dropped. Nothing is queued (0) while not recording.
    """
    session = sessions.current()
    return 0 if session is None else session.enqueue([("dict", row) for row in rows])


def options() -> dict[str, Any] | None:
    """The options of the recording session (a copy), None while not recording."""
    session = sessions.current()
    return None if session is None else dict(session.options)


def subscribe(callback: Subscriber) -> None:
    """Call ``callback(first_seq, last_seq, counts)`` after each committed batch.

    It runs on the writer thread: keep it cheap (the bridge throttles to ~10/s itself).
    ``counts`` is ``{"levels": {...}, "sources": {...}}`` of that batch. Exceptions
    in it are swallowed. Subscriptions outlive stop/start.
    """
    with _lock:
        if callback not in _subscribers:
            _subscribers.append(callback)
        session = sessions.last()
        if session is not None:
            session.rows.subscribe(callback)


def unsubscribe(callback: Subscriber) -> None:
    """Stop calling ``callback``."""
    with _lock:
        if callback in _subscribers:
            _subscribers.remove(callback)
        session = sessions.last()
        if session is not None:
            session.rows.unsubscribe(callback)


# --- inside -------------------------------------------------------------------------------


def _validated(options: dict[str, Any]) -> dict[str, Any]:
    """A checked copy of ``start()``'s options; TypeError or ValueError names a bad one."""
    for key in ("user_level", "library_level"):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise TypeError(f"{key} must be a level name or an int, not {type(value).__name__}")
        parse_level(value)
    for key in ("queue_size", "msg_cap", "text_cap", "extra_cap", "batch_size"):
        value = options[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{key} must be a positive int, not {value!r}")
    if options["overflow"] not in OVERFLOWS:
        raise ValueError(f"overflow must be one of {', '.join(map(repr, OVERFLOWS))}, not {options['overflow']!r}")
    interval = options["flush_interval"]
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
            or not MIN_FLUSH_INTERVAL <= interval <= MAX_FLUSH_INTERVAL:
        raise ValueError(f"flush_interval must be seconds from {MIN_FLUSH_INTERVAL} to {MAX_FLUSH_INTERVAL:g}, "
                         f"not {interval!r}")
    for key in ("streams", "warnings", "exceptions", "pools"):
        if not isinstance(options[key], bool):
            raise TypeError(f"{key} must be True or False, not {options[key]!r}")
    indexes = options["indexes"]
    if isinstance(indexes, str) or not isinstance(indexes, (list, tuple, set, frozenset)):
        raise TypeError(f"indexes must be a list of index names, not {indexes!r}")
    unknown = sorted(str(name) for name in indexes if name not in INDEXES)
    if unknown:
        raise ValueError(f"unknown index(es) {', '.join(unknown)}; use some of {', '.join(INDEXES)}")
    return {**options, "indexes": tuple(indexes)}


def _start_locked(options: dict[str, Any]) -> None:
    session = sessions.last()
    fresh = session is None
    if session is None:
        session = _new_session()
        sessions.replace(session)
    try:
        session.start(options)
    except RuntimeError:
        if fresh:
            sessions.replace(None)  # a store that never opened is no session
        raise
    session.system("taskscope started", {"pid": os.getpid(), "version": __version__})
    _register_atexit()
    sessions.run_start_hooks()


def _stop_locked(timeout: float = 10.0) -> None:
    session = sessions.current()
    if session is None:
        return
    sessions.run_stop_hooks()  # remote rows still arriving are stored before the writer ends
    session.stop(timeout)


def _new_session() -> Session:
    session_id = new_session_id()
    path = session_path(session_id)
    started = repr(time.time())

    def meta() -> dict[str, str]:
        """The facts written once into the store's meta table."""
        return {
            "session_id": session_id, "kernel_id": _kernel_id(), "started": started,
            "hostname": record.HOSTNAME, "pid": str(os.getpid()), "taskscope_version": __version__,
        }

    session = Session(session_id, path, meta)
    for callback in _subscribers:
        session.rows.subscribe(callback)
    return session


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


@converter("dict")
def _dict_row(item: Item, caps: Caps) -> Row:
    """Convert: a ready-made row dict (enqueue_rows) made safe."""
    return record.row_from_dict(item[1], caps)


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
    """The lock may have been held by another thread at the fork: a new one."""
    global _lock
    _lock = threading.RLock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _reset() -> None:
    """Stop and forget this process's session, so the next start() opens a new file.

    For tests (each gets its own store) and tools; not part of the public API.
    """
    with _lock:
        _stop_locked()
        sessions.replace(None)
