"""Session stores written directly with the store's schema, for the dataset/query/display tests.

These are real SQLite files in WAL mode with the schema of ``taskscope.store``, filled
with chosen rows, so the query side is tested on exact data, without the capture half.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from taskscope.store.sqlite import SCHEMA, session_path

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50, "SYSTEM": 999}
BASE_TIME = 1_700_000_000.0


def row(seq: int | None = None, **fields: Any) -> dict[str, Any]:
    """A row with plausible defaults; ``extra`` given as a dict is stored as JSON."""
    level = fields.pop("level", "INFO")
    record: dict[str, Any] = {
        "seq": seq, "created": BASE_TIME + (seq or 0), "level": level,
        "levelno": LEVELS.get(level, 20), "source": "user", "logger": "mylogger",
        "msg": f"message {seq}", "text": None, "hostname": "host-a", "pid": 4242,
        "thread": "MainThread", "worker": "", "task": "", "extra": None, "action": "", "cell": "",
    }
    record.update(fields)
    if record["text"] is None:
        record["text"] = f"{record['level']}:{record['logger']}:{record['msg']}"
    if isinstance(record["extra"], (dict, list)):
        record["extra"] = json.dumps(record["extra"])
    return record


def write_store(
    path: Path,
    rows: list[dict[str, Any]],
    session_id: str = "sess-0001",
    started: float = BASE_TIME,
    **meta: Any,
) -> Path:
    """Create (or extend) a store file with these rows and meta, WAL mode, and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        insert_rows(conn, rows)
        values = {"session_id": session_id, "kernel_id": f"kernel-{session_id}", "started": started,
                  "hostname": "host-a", "pid": 4242, "taskscope_version": "0.1.0", **meta}
        conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()])
        conn.commit()
    finally:
        conn.close()
    return path


def insert_rows(conn: sqlite3.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert rows (seq None lets SQLite number them)."""
    columns = list(row().keys())
    marks = ", ".join("?" * len(columns))
    conn.executemany(
        f"INSERT INTO rows({', '.join(columns)}) VALUES ({marks})",
        [[r[c] for c in columns] for r in rows],
    )


def session_file(home: Path, stamp: str, short_id: str) -> Path:
    """Where the store keeps session ``<stamp>-<short id>`` under ``home``."""
    return session_path(f"{stamp}-{short_id}", home)


@contextmanager
def local_timezone(name: str) -> Iterator[None]:
    """Run with this process's local time zone set to ``name`` ($TZ), restored after."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = name
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = old
        time.tzset()
