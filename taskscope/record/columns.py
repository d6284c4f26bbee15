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
