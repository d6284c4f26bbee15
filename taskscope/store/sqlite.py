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
from operator import itemgetter
from pathlib import Path

from ..record import safe
from ..record.columns import AT, COLUMNS, FIELDS
from ..record.rows import Row
from ..record.vocabulary import ACTION_SOURCE
from . import actions
from .actions import Event

#: The tables, from the record's declaration (:mod:`taskscope.record.columns`).
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS rows(\n    "
    + ",\n    ".join(f"{column.name} {column.sql}" for column in COLUMNS)
    + "\n);\nCREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);\n"
    + actions.SCHEMA
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
#: One row's placeholders, numbered by SQLite: one past the largest seq.
_VALUES = f"({', '.join('?' * len(FIELDS))})"
#: Rows one INSERT takes at most. Python's sqlite3 lets other threads run (releases the
#: GIL) around each statement's step and reset; a thread logging in a tight loop then
#: keeps the GIL for the interpreter's switch interval (5 ms) before the writer gets it
#: back. So a batch goes in as few statements as SQLite's variable limit allows: at 100
#: rows a statement the writer stored ~19k rows/s against such a loop (W5).
MAX_ROWS_PER_STATEMENT = 4096
#: The smallest statement: a batch's remainder is padded to a power of two from here, so
#: a handful of prepared statements (SQLite's statement cache keeps them) serve every size.
_MIN_ROWS_PER_STATEMENT = 16


def _insert_sql(rows: int, padded: bool) -> str:
    """An INSERT of ``rows`` rows; ``padded``: all-NULL padding rows among them are skipped
    (``created`` is never NULL in a real row). A plain VALUES list is the cheaper of the two."""
    values = _VALUES + f", {_VALUES}" * (rows - 1)
    if not padded:
        return f"INSERT INTO rows({', '.join(FIELDS)}) VALUES {values}"
    return (f"INSERT INTO rows({', '.join(FIELDS)}) SELECT * FROM (VALUES {values}) "
            f"WHERE column{FIELDS.index('created') + 1} IS NOT NULL")


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
    hostname, pid, taskscope_version) and ``next_seq`` as of the last clear or close; a
    reopened store continues the numbering from it or from the highest stored seq.
    """

    def __init__(self, path: Path, meta: Mapping[str, str], indexes: Sequence[str] = ()) -> None:
        self.path = Path(path)
        self._meta = dict(meta)
        self._indexes = tuple(indexes)
        self._conn: sqlite3.Connection | None = None
        self._next_seq = 1
        self._numbered = True  # SQLite's next rowid is our next seq (false after a clear)
        #: Rows one :meth:`write` takes (one INSERT statement, one transaction).
        self.rows_per_write = MAX_ROWS_PER_STATEMENT

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
        _add_missing_columns(conn)
        for name in self._indexes:
            conn.execute(INDEXES[name])
        conn.executemany("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", self._meta.items())
        self._conn = conn
        self._next_seq, highest = self._read_next_seq(conn)
        self._numbered = highest + 1 == self._next_seq
        variables = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.rows_per_write = _power_of_two_at_most(
            max(_MIN_ROWS_PER_STATEMENT, min(MAX_ROWS_PER_STATEMENT, variables // len(FIELDS))))

    @staticmethod
    def _read_next_seq(conn: sqlite3.Connection) -> tuple[int, int]:
        """``next_seq`` (from meta, never below one past the highest stored seq), and
        the highest stored seq."""
        found = conn.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        highest = conn.execute("SELECT MAX(seq) FROM rows").fetchone()[0] or 0
        stored = int(found[0]) if found else 1
        return max(stored, highest + 1), highest

    def write(self, rows: Sequence[Row], events: Sequence[Event] = ()) -> tuple[int, int]:
        """Store ``rows`` in one transaction (two right after a clear); the (first, last)
        seq they got. Up to :attr:`rows_per_write` rows is one statement: the fewest
        times the writer lets go of the GIL. The actions among them (their start and end
        rows) and ``events`` (actions without rows: cells) go into the actions table in
        the same transaction.

        A batch with a lone surrogate somewhere (UTF-8 cannot hold it) is cleaned and
        written again: the fast path never scans strings.
        """
        if not rows and not events:
            return (self._next_seq, self._next_seq - 1)
        try:
            return self._write(rows, events)
        except UnicodeEncodeError:
            return self._write([clean_row(row) for row in rows], [clean_row(event) for event in events])

    def _write(self, rows: Sequence[Row], events: Sequence[Event]) -> tuple[int, int]:
        """One statement, or a transaction of several for more than :attr:`rows_per_write`
        or with actions."""
        step = self.rows_per_write
        if ACTION_SOURCE in map(_source_of, rows):
            events = [*actions.events_of(rows, self._next_seq), *events]
        if len(rows) <= step and not events:
            return self._insert(rows)
        conn = self._connection()
        before = self._next_seq, self._numbered
        conn.execute("BEGIN")
        try:
            first, last = self._insert(rows[:step]) if rows else (self._next_seq, self._next_seq - 1)
            for at in range(step, len(rows), step):
                last = self._insert(rows[at:at + step])[1]
            actions.upsert(conn, events)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            self._next_seq, self._numbered = before
            raise
        return first, last

    def _insert(self, rows: Sequence[Row]) -> tuple[int, int]:
        """One INSERT statement (its own transaction): SQLite numbers the rows one past
        the largest seq, which is ours except right after a clear, when the first row
        is given its seq in a transaction of its own. ``lastrowid`` says what they got.
        """
        conn = self._connection()
        first = self._next_seq
        if not self._numbered:
            conn.execute(_INSERT, (*rows[0], first))
            self._next_seq = first + 1
            self._numbered = True
            rows = rows[1:]
            if not rows:
                return first, first
        else:
            first = 0  # what SQLite gives the first row, below
        size = max(_MIN_ROWS_PER_STATEMENT, _power_of_two_at_least(len(rows)))
        values = list(chain.from_iterable(rows))
        if size > len(rows):
            values.extend(_PADDING * (size - len(rows)))
        last = conn.execute(_insert_sql_cached(size, size > len(rows)), values).lastrowid
        first = first or last - len(rows) + 1
        self._next_seq = last + 1
        return first, last

    def clear(self) -> None:
        """Delete every row; seq numbering continues where it was."""
        conn = self._connection()
        conn.execute("BEGIN")
        conn.execute("DELETE FROM rows")
        conn.execute("DELETE FROM actions")
        self._save_next_seq(conn)
        conn.execute("COMMIT")
        self._numbered = False

    def close(self) -> None:
        """Close the connection (in the writer thread)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                self._save_next_seq(conn)
            finally:
                conn.close()

    def forget(self) -> None:
        """Drop the connection without touching it: in a forked child, it is the parent's."""
        self._conn = None

    def _save_next_seq(self, conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('next_seq', ?)", (str(self._next_seq),))

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn


_source_of = itemgetter(AT["source"])


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """A file written before a column existed gets it (NULL in its old rows)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(rows)")}
    for column in COLUMNS:
        if column.name not in have:
            conn.execute(f"ALTER TABLE rows ADD COLUMN {column.name} {column.sql}")


#: One padding row's values (all NULL: skipped by the INSERT's WHERE).
_PADDING = (None,) * len(FIELDS)
_SQL_BY_SIZE: dict[tuple[int, bool], str] = {}


def _insert_sql_cached(rows: int, padded: bool) -> str:
    """The same str object for a size each time (SQLite's statement cache is keyed by it)."""
    sql = _SQL_BY_SIZE.get((rows, padded))
    if sql is None:
        sql = _SQL_BY_SIZE[rows, padded] = _insert_sql(rows, padded)
    return sql


def _power_of_two_at_least(n: int) -> int:
    return 1 << (n - 1).bit_length()


def _power_of_two_at_most(n: int) -> int:
    return 1 << (n.bit_length() - 1)


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


def clean_row(row: Row) -> Row:
    """The row with every string made UTF-8-safe (lone surrogates escaped)."""
    return tuple(safe.clean(v) if isinstance(v, str) else v for v in row)
