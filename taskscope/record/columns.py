"""The record, declared once: the columns of a log row and how each is stored, read,
carried and shown.

Everything that knows the columns follows from :data:`COLUMNS`: the store's DDL and
INSERT (:mod:`taskscope.store.sqlite`), the positions of a built row (:data:`AT`), the
DataFrame's dtypes (:mod:`taskscope.views.dataset`), the rows a remote message carries
(:mod:`taskscope.remote.inbox`), and the front end's row type and column list
(``src/generated/record.ts``, written from here by ``scripts/generate_ts.py``; a test
fails when it is stale).

Adding a column: declare it here, fill it where rows are made (``rows.make_row`` and,
for remote rows, the context or row values a message carries), regenerate the
TypeScript file, and say what it holds in docs/architecture.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Where a remote message carries a column (docs/architecture.md, "The wire"):
#: ``store`` the kernel's store assigns it; ``row`` one value per row; ``context`` one value
#: per distinct context, shared by the rows that have it; ``origin`` once per message (the
#: sending process).
Wire = Literal["store", "row", "context", "origin"]
#: How a column is shown: ``grid`` a column of the log panel and the inline table;
#: ``detail`` only in a row's detail view (and CSV, DataFrame).
Shown = Literal["grid", "detail"]


@dataclass(frozen=True)
class Column:
    """One column of the record."""

    name: str
    #: SQLite column type.
    sql: str
    #: pandas dtype of the DataFrame column: ``text`` is pandas' string type of the day,
    #: ``datetime`` local tz-aware time from epoch seconds, ``json`` parsed JSON values.
    dtype: str
    #: TypeScript type of the value in the protocol's row (JSON).
    ts: str
    wire: Wire
    shown: Shown
    #: The label a person reads.
    title: str
    #: What it holds (docs and the generated TypeScript say it).
    doc: str


COLUMNS: tuple[Column, ...] = (
    Column("seq", "INTEGER PRIMARY KEY", "int64", "number", "store", "detail", "Seq",
           "order of arrival in this session's store, from 1"),
    Column("created", "REAL", "datetime", "number", "row", "grid", "Time",
           "when it was emitted, epoch seconds (shown as local time)"),
    Column("level", "TEXT", "text", "string", "context", "grid", "Level",
           "logging's level name; SYSTEM for taskscope's own rows"),
    Column("levelno", "INTEGER", "Int64", "number", "context", "detail", "Level number",
           "logging's level number; SYSTEM is 999"),
    Column("source", "TEXT", "text", "string", "context", "grid", "Source",
           "user, library, runtime, print or system"),
    Column("logger", "TEXT", "text", "string", "context", "grid", "Logger",
           "logger name; stdout/stderr for prints"),
    Column("msg", "TEXT", "text", "string", "row", "grid", "Message",
           "the message, formatted"),
    Column("text", "TEXT", "text", "string", "row", "detail", "Text",
           "the full line as a log file shows it, with the traceback"),
    Column("hostname", "TEXT", "text", "string", "origin", "detail", "Host",
           "the host it ran on"),
    Column("pid", "INTEGER", "Int64", "number | null", "origin", "detail", "Pid",
           "the process it ran in"),
    Column("thread", "TEXT", "text", "string", "context", "detail", "Thread",
           "the thread it ran in"),
    Column("worker", "TEXT", "text", "string", "origin", "grid", "Worker",
           "Dask worker address or pool process name; empty in the kernel"),
    Column("task", "TEXT", "text", "string", "context", "grid", "Task",
           "the Dask task key or pool task id running when it was emitted"),
    Column("extra", "TEXT", "json", "unknown", "row", "detail", "Extra",
           "structured fields, JSON"),
    Column("action", "TEXT", "text", "string", "context", "detail", "Action",
           "the innermost action open where it was emitted (docs/actions.md); empty outside any"),
    Column("cell", "TEXT", "text", "string", "context", "detail", "Cell",
           "the notebook cell that caused it: execution count, then ':' and the cell id when known"),
)

#: The column names in store order.
NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)
#: A row as it is built before the store numbers it: every column but ``seq``.
FIELDS: tuple[str, ...] = tuple(column.name for column in COLUMNS if column.wire != "store")
#: Where each field sits in a built row (a plain tuple in :data:`FIELDS` order: what
#: ``sqlite3`` binds fastest). Read a row by name: ``row[AT["task"]]``.
AT: dict[str, int] = {name: i for i, name in enumerate(FIELDS)}
#: The fields a remote message sends once per context, in the order a context lists them
#: (the task's ``run_id`` follows them: it numbers attempts and is not a column).
CONTEXT: tuple[str, ...] = tuple(column.name for column in COLUMNS if column.wire == "context")
#: The fields a remote message sends once, for the process that sent it.
ORIGIN: tuple[str, ...] = tuple(column.name for column in COLUMNS if column.wire == "origin")

BY_NAME: dict[str, Column] = {column.name: column for column in COLUMNS}


#: One action (docs/actions.md): the ``actions`` table, ``dataset.actions()``'s columns
#: and the front end's ``IAction``, in this order. ``action`` is the key.
ACTION_COLUMNS: tuple[Column, ...] = (
    Column("action", "TEXT PRIMARY KEY", "text", "string", "row", "grid", "Action",
           "the action's id, unique in the session"),
    Column("parent", "TEXT", "text", "string", "row", "detail", "Parent",
           "the id of the action it ran inside; empty for a root (a cell, or code outside any)"),
    Column("type", "TEXT", "text", "string", "row", "grid", "Type",
           "what it is: a log_call function's name, ts.action's type, cell, dask:task, pool:task"),
    Column("status", "TEXT", "text", "string", "row", "grid", "Status",
           "started (not finished: still running, or its process died), succeeded or failed"),
    Column("started", "REAL", "datetime", "number | null", "row", "grid", "Started",
           "when it started, epoch seconds"),
    Column("finished", "REAL", "datetime", "number | null", "row", "detail", "Finished",
           "when it finished, epoch seconds; empty while started"),
    Column("duration", "REAL", "float64", "number | null", "row", "grid", "Duration",
           "seconds from start to finish; empty while started"),
    Column("fields", "TEXT", "json", "unknown", "row", "grid", "Inputs",
           "its inputs: log_call's arguments, ts.action's fields, JSON"),
    Column("result", "TEXT", "json", "unknown", "row", "detail", "Result",
           "log_call's return value, or the fields add_success_fields recorded, JSON"),
    Column("error", "TEXT", "text", "string", "row", "detail", "Error",
           "the exception of a failed action: type and message (the traceback is on its row)"),
    Column("task", "TEXT", "text", "string", "row", "detail", "Task",
           "the Dask task key or pool task id it ran in"),
    Column("worker", "TEXT", "text", "string", "row", "detail", "Worker",
           "Dask worker address or pool process name; empty in the kernel"),
    Column("cell", "TEXT", "text", "string", "row", "detail", "Cell",
           "the notebook cell that caused it (as the rows' cell column)"),
    Column("hostname", "TEXT", "text", "string", "row", "detail", "Host", "the host it ran on"),
    Column("pid", "INTEGER", "Int64", "number | null", "row", "detail", "Pid", "the process it ran in"),
    Column("thread", "TEXT", "text", "string", "row", "detail", "Thread", "the thread it started in"),
    Column("seq", "INTEGER", "Int64", "number | null", "row", "detail", "Seq",
           "seq of its start row in the log table; empty for a cell (cells have no rows)"),
)
ACTION_NAMES: tuple[str, ...] = tuple(column.name for column in ACTION_COLUMNS)
