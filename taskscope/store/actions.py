"""The ``actions`` table: one row per action, kept from the actions' start and end rows.

An action leaves two rows in the log table (source ``action``): its start row (the row's
own ``action`` column is its id; ``extra`` holds its parent and inputs) and its end row
(status, duration, result or error). :func:`events_of` picks those out of a batch and
:func:`upsert` folds them into ``actions`` in the batch's own transaction, so the table
always agrees with the rows, whichever process (kernel, Dask worker, pool child) sent
them. A cell has no rows: its start and end come as :data:`Event` values directly
(``Session.note_action``). Start and end may arrive in either order (a worker's start
row can come after the kernel saw the end): each upsert sets only its own columns.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from ..record.actions import ATTEMPT, DURATION, ERROR, EVENT_MARK, FIELDS, PARENT, RESULT, STATUS, TYPE
from ..record.columns import ACTION_COLUMNS, AT
from ..record.rows import Row
from ..record.vocabulary import ACTION_SOURCE, RUNTIME, STARTED

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS actions(\n    "
    + ",\n    ".join(f"{column.name} {column.sql}" for column in ACTION_COLUMNS)
    + "\n);\nCREATE INDEX IF NOT EXISTS actions_parent ON actions(parent, started);\n"
)

#: ``("start", action, parent, type, started, fields, task, worker, cell, hostname, pid,
#: thread, seq)`` or ``("end", action, status, finished, duration, result, error)``;
#: ``fields`` and ``result`` are JSON text or None.
Event = tuple[Any, ...]

_START = (
    "INSERT INTO actions(action, parent, type, status, started, fields, task, worker, cell,"
    " hostname, pid, thread, seq) VALUES (?, ?, ?, 'started', ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(action) DO UPDATE SET parent = excluded.parent, type = excluded.type,"
    " started = excluded.started, fields = excluded.fields, task = excluded.task,"
    " worker = excluded.worker, cell = excluded.cell, hostname = excluded.hostname,"
    " pid = excluded.pid, thread = excluded.thread, seq = excluded.seq"
)
_END = (
    "INSERT INTO actions(action, status, finished, duration, result, error)"
    " VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT(action) DO UPDATE SET status = excluded.status,"
    " finished = excluded.finished, duration = excluded.duration,"
    " result = excluded.result, error = excluded.error"
)

_SOURCE, _EXTRA = AT["source"], AT["extra"]
#: The sources whose rows may be an action's: its own, and a Dask task's lifecycle rows.
SOURCES = frozenset({ACTION_SOURCE, RUNTIME})


def events_of(rows: Sequence[Row], first_seq: int) -> list[Event]:
    """The action events among ``rows``, stored from seq ``first_seq`` on (in order)."""
    events: list[Event] = []
    for at, row in enumerate(rows):
        if row[_SOURCE] not in SOURCES:
            continue
        extra = row[_EXTRA]
        if not extra or not extra.startswith(EVENT_MARK):
            continue
        event = _event(row, extra, first_seq + at)
        if event is not None:
            events.append(event)
    return events


def _event(row: Row, extra: str, seq: int) -> Event | None:
    """One row's event; None if its envelope is not one (it stays a plain row)."""
    try:
        data = json.loads(extra)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    status, action = data.get(STATUS), row[AT["action"]]
    if not action or not isinstance(status, str):
        return None
    if status == STARTED:
        fields = data.get(FIELDS)
        if ATTEMPT in data and TYPE in data and isinstance(fields, dict):  # a task's run
            fields[ATTEMPT] = data[ATTEMPT]
        return (
            "start", action, _text(data.get(PARENT)), _text(data.get(TYPE)) or row[AT["logger"]],
            row[AT["created"]], _json(fields), row[AT["task"]], row[AT["worker"]], row[AT["cell"]],
            row[AT["hostname"]], row[AT["pid"]], row[AT["thread"]], seq,
        )
    duration = data.get(DURATION)
    return (
        "end", action, status, row[AT["created"]],
        duration if isinstance(duration, (int, float)) else None,
        _json(data.get(RESULT)), _text(data.get(ERROR)) or None,
    )


def upsert(conn: sqlite3.Connection, events: Iterable[Event]) -> None:
    """Fold ``events`` into the actions table (inside the caller's transaction): all the
    starts in one statement, then all the ends. Order does not matter: a start never
    touches the status an end set, an end never touches what a start set."""
    starts: list[Event] = []
    ends: list[Event] = []
    for event in events:
        (starts if event[0] == "start" else ends).append(event[1:])
    if starts:
        conn.executemany(_START, starts)
    if ends:
        conn.executemany(_END, ends)


def _json(value: object) -> str | None:
    """A parsed envelope value as JSON text again (None stays None)."""
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""
