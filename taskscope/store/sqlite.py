"""The session's SQLite file: one writer, batched transactions, ``seq`` from a counter.

Only the collector's writer thread touches a :class:`Store` after :meth:`Store.open`:
SQLite connections are opened in the thread that uses them and never cross a fork.
WAL with ``synchronous=NORMAL`` means a committed batch survives the process being
killed (SIGKILL), and readers (the query side) never block the writer.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from ..record import safe
from ..record.columns import COLUMNS, FIELDS
from ..record.rows import Row

#: The tables, from the record's declaration (:mod:`taskscope.record.columns`).
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rows(\n    "
    + ",\n    ".join(f"{column.name} {column.sql}" for column in COLUMNS)
    + "\n);\nCREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);\n"
)

#: Secondary indexes. Paging is by ``seq`` (the rowid: free); W2 measures what these cost.
#: None by default: a filtered keyset page scans forward by seq and stops at LIMIT, which
#: is fast for the filters a log view uses, while each index costs ingest rate.
INDEXES: dict[str, str] = {
    "rows_levelno": "CREATE INDEX IF NOT EXISTS rows_levelno ON rows(levelno)",
    "rows_logger": "CREATE INDEX IF NOT EXISTS rows_logger ON rows(logger)",
    "rows_task": "CREATE INDEX IF NOT EXISTS rows_task ON rows(task)",
    "rows_created": "CREATE INDEX IF NOT EXISTS rows_created ON rows(created)",
}

#: 16 KiB pages: appending rows of a few hundred bytes ingests ~10-30% faster than with
#: SQLite's default 4 KiB (W2), and the query side reads long runs of rows by seq.
PAGE_SIZE = 16384

#: A row's values (FIELDS order), then its seq.
_INSERT = f"INSERT INTO rows({', '.join(FIELDS)}, seq) VALUES ({', '.join('?' * (len(FIELDS) + 1))})"
#: The same, numbered by SQLite: one past the largest seq (the row before it in the batch).
_VALUES = f"({', '.join('?' * len(FIELDS))})"
_INSERT_NEXT = f"INSERT INTO rows({', '.join(FIELDS)}) VALUES {_VALUES}"
#: Rows a multi-row INSERT takes (a dozen or so values each: far below SQLite's 32766 variables).
_CHUNK = 100
_INSERT_CHUNK = _INSERT_NEXT + f", {_VALUES}" * (_CHUNK - 1)


def new_session_id() -> str:
    """``<YYYYmmdd-HHMMSS>-<short id>``: sorts by start time, unique per process."""
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"


def home() -> Path:
    """``$TASKSCOPE_HOME``, else the platform's user data directory for taskscope."""
    configured = os.environ.get("TASKSCOPE_HOME")
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("taskscope"))


def session_path(session_id: str, root: Path | None = None) -> Path:
    """Where the session's store file lives."""
    return (root or home()) / "sessions" / f"{session_id}.sqlite"


class Store:
    """The writer's end of one session file.

    ``meta`` holds the session facts written once (session_id, kernel_id, started,
    hostname, pid, taskscope_version); ``next_seq`` is kept up to date in the same
    transaction as every batch, so a reopened store continues the numbering.
    """

    def __init__(self, path: Path, meta: Mapping[str, str], indexes: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self._meta = dict(meta)
        self._indexes = tuple(indexes)
        self._conn: sqlite3.Connection | None = None
        self._next_seq = 1

    @property
    def next_seq(self) -> int:
        """The seq the next stored row gets."""
        return self._next_seq

    def open(self) -> None:
        """Create or reopen the file; call in the writer thread."""
        _private(self.path)
        conn = sqlite3.connect(self.path, isolation_level=None)
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")  # takes effect on a new file only
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(SCHEMA)
        for name in self._indexes:
            conn.execute(INDEXES[name])
        conn.executemany("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", self._meta.items())
        self._conn = conn
        self._next_seq = self._read_next_seq(conn)

    @staticmethod
    def _read_next_seq(conn: sqlite3.Connection) -> int:
        """``next_seq`` from meta, never below one past the highest stored seq."""
        found = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        highest = conn.execute("SELECT MAX(seq) FROM rows").fetchone()[0] or 0
        stored = int(found[0]) if found else 1
        return max(stored, highest + 1)

    def write(self, rows: Sequence[Row]) -> tuple[int, int]:
        """Store ``rows`` in one transaction; the (first, last) seq they got.

        A batch with a lone surrogate somewhere (UTF-8 cannot hold it) is rolled back,
        cleaned and written again: the fast path never scans strings.
        """
        if not rows:
            return (self._next_seq, self._next_seq - 1)
        try:
            return self._insert(rows)
        except UnicodeEncodeError:
            return self._insert([clean_row(row) for row in rows])

    def _insert(self, rows: Sequence[Row]) -> tuple[int, int]:
        """One transaction: rows with consecutive seqs, and the new ``next_seq``.

        Only the first row is given its seq: SQLite numbers each following row one past
        the largest rowid, so the rows are bound as they are (no tuple per row made
        here). Checked before the commit; a surprise falls back to explicit seqs.
        """
        conn = self._connection()
        first = self._next_seq
        last = first + len(rows) - 1
        conn.execute("BEGIN")
        try:
            conn.execute(_INSERT, (*rows[0], first))
            if last > first:
                _insert_next(conn, rows[1:])
                if conn.execute("SELECT last_insert_rowid()").fetchone()[0] != last:
                    conn.execute("ROLLBACK")
                    conn.execute("BEGIN")
                    conn.executemany(_INSERT, map(_with_seq, rows, range(first, last + 1)))
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('next_seq', ?)", (str(last + 1),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._next_seq = last + 1
        return first, last

    def clear(self) -> None:
        """Delete every row; seq numbering continues where it was."""
        conn = self._connection()
        conn.execute("BEGIN")
        conn.execute("DELETE FROM rows")
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('next_seq', ?)", (str(self._next_seq),))
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (in the writer thread)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def forget(self) -> None:
        """Drop the connection without touching it: in a forked child, it is the parent's."""
        self._conn = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn


def _private(path: Path) -> None:
    """``path`` and its folder for the user alone (0600 in 0700): logs often hold secrets.

    SQLite gives the -wal and -shm files the database file's mode. The folder is ours
    (``<home>/sessions``); a file or folder we cannot change keeps its mode.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
    for target, mode in ((path.parent, 0o700), (path, 0o600)):
        try:
            if target.stat().st_mode & 0o777 != mode:
                os.chmod(target, mode)
        except OSError:
            pass


def _insert_next(conn: sqlite3.Connection, rows: Sequence[Row]) -> None:
    """Insert ``rows`` numbered by SQLite: :data:`_CHUNK` rows a statement (one step
    for many rows, ~12% less than ``executemany`` a row in W2's terms), the rest one by one."""
    full = len(rows) - len(rows) % _CHUNK
    for at in range(0, full, _CHUNK):
        conn.execute(_INSERT_CHUNK, list(chain.from_iterable(rows[at:at + _CHUNK])))
    if full < len(rows):
        conn.executemany(_INSERT_NEXT, rows[full:])


def _with_seq(row: Row, seq: int) -> tuple[Any, ...]:
    """The row's values followed by its seq, as ``_INSERT`` binds them."""
    return (*row, seq)


def clean_row(row: Row) -> Row:
    """The row with every string made UTF-8-safe (lone surrogates escaped)."""
    return tuple(safe.clean(v) if isinstance(v, str) else v for v in row)
