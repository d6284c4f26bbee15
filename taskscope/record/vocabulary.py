"""The words both sides of taskscope use, written once: sources, levels, filter keys, the
duration grammar, the characters never shown as they are, and ``start()``'s options.

The front end gets them from ``src/generated/record.ts`` (``scripts/generate_ts.py``
writes it from here and from :mod:`taskscope.record.columns`); a test fails when the two
differ. Plain data only: this module imports nothing of taskscope (it names the SYSTEM level to
logging, so every reader knows it).
"""

from __future__ import annotations

import logging
from typing import Any

#: taskscope's own rows (started, stopped, N rows dropped) have this level.
SYSTEM = 999
logging.addLevelName(SYSTEM, "SYSTEM")

#: Level names a filter offers, lowest first, with their numbers.
LEVELS: tuple[tuple[str, int], ...] = (
    ("DEBUG", 10), ("INFO", 20), ("WARNING", 30), ("ERROR", 40), ("CRITICAL", 50), ("SYSTEM", SYSTEM),
)

USER, LIBRARY, RUNTIME, PRINT, SYSTEM_SOURCE = "user", "library", "runtime", "print", "system"
#: An action's start and end rows (``ts.log_call``, ``ts.action``, Dask and pool tasks).
ACTION_SOURCE = "action"
#: Where a row comes from (the ``source`` column).
SOURCES: tuple[str, ...] = (USER, LIBRARY, RUNTIME, PRINT, SYSTEM_SOURCE, ACTION_SOURCE)

#: An action's ``status``: started (and not finished: running, or its process died).
STARTED, SUCCEEDED, FAILED = "started", "succeeded", "failed"
ACTION_STATUSES: tuple[str, ...] = (STARTED, SUCCEEDED, FAILED)

#: The filters of ``dataset.get()``, the inline table and the log panel, in this order.
FILTERS: tuple[str, ...] = (
    "logger", "level", "source", "task", "worker", "hostname", "text", "since", "until",
)
#: Row filters of ``dataset.get()`` beyond :data:`FILTERS` (the panel's filter bar has
#: the others): the rows of one action (and the actions inside it), or of one cell.
TRACE_FILTERS: tuple[str, ...] = ("action", "cell")
#: The filters of ``dataset.actions()`` and ``dataset.tree()``: ``get()``'s (matched
#: against the action's own start row; ``logger`` matches its type), and these.
ACTION_FILTERS: tuple[str, ...] = (
    *FILTERS, *TRACE_FILTERS, "type", "status", "parent", "min_duration",
)

#: A relative time ("30s", "10min", "1.5 hours"): amount, then unit (case-insensitive).
#: The same text is a Python and a JavaScript regular expression.
DURATION = (
    r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*"
    r"(ms|s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)\s*$"
)
#: Seconds per unit, by ``ms`` or the unit's first letter.
UNIT_SECONDS: dict[str, float] = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

#: Direction overrides and isolates, other invisible controls and line separators: log
#: text could reorder or hide what is shown around it, so views spell them out as
#: ``<U+XXXX>``. The same text is a Python and a JavaScript character class.
INVISIBLE = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]"

#: ``start()``'s options and their defaults (docs/capture.md explains each).
START_OPTIONS: dict[str, Any] = {
    "queue_size": 100_000,      # items waiting for the writer; then see overflow
    "overflow": "block",        # queue full: "block" waits for room (at most 1 s a call), "drop" counts a drop
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
    "pools": True,              # capture process pools made while recording, with no set-up (docs/remote.md)
}

#: The extension's settings (schema/plugin.json) that are ``start()`` options, by setting.
SETTING_OPTIONS: dict[str, str] = {
    "captureLevel": "library_level",
    "userLevel": "user_level",
    "capturePrint": "streams",
    "captureWarnings": "warnings",
    "capturePools": "pools",
}
