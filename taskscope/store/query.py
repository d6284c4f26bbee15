"""The one place where filters become SQL.

Every user value reaches SQLite as a bound parameter, never through string formatting.
The dataset API, the inline display and the comm bridge all go through this module, so a
filter means the same thing in a DataFrame, in a cell's output and in the log panel.

Filters (all optional, combined with AND):

- ``logger``, ``task``: a glob (``*`` any run, ``?`` one character; everything else is
  literal) or a list of globs (OR).
- ``level``: this level or above; a name (case-insensitive, ``SYSTEM`` is 999) or an int.
- ``source``, ``worker``, ``hostname``: an exact value or a list of values (OR); ``""``
  also matches a missing value.
- ``text``: case-insensitive substring of ``msg`` or ``text``.
- ``since`` (inclusive), ``until`` (exclusive): a datetime (naive means local time), a
  pandas Timestamp, a date (local midnight), epoch seconds, a timedelta or a string such as
  ``"10min"``/``"2h"``/``"30s"``/``"1d"`` (that long ago), ``"now"``, or an ISO datetime.
- ``action`` (:data:`TRACE_FILTERS`): an action id or a list of them: the rows of those
  actions and of every action nested below them (the ``actions`` table's parent links).
- ``cell``: a cell, as the ``cell`` column holds it (``"<execution count>:<cell id>"``):
  an execution count (``3`` or ``"3"``) matches ``"3"`` and ``"3:<any id>"``, a cell id
  the part after the ``:``, ``"3:<id>"`` just that. A list is OR.

A store written before a column or the ``actions`` table existed reads a filter on it as
matching nothing (``action``, ``cell``), never as an error.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import contextmanager
from functools import lru_cache
from datetime import date, datetime, time as dtime, timedelta
from pathlib import Path
from typing import Any, Iterator, NamedTuple, TypeVar

from ..record.actions import EVENT_MARK
from ..record.columns import NAMES as COLUMNS
from ..record.vocabulary import (
    ACTION_SOURCE, DURATION, FILTERS, RUNTIME, SOURCES, SYSTEM as SYSTEM_LEVEL, TRACE_FILTERS, UNIT_SECONDS,
)

__all__ = [
    "COLUMNS", "FILTERS", "MAX_PAGE_ROWS", "SYSTEM_LEVEL", "Where", "check_keys", "check_limit", "connect",
    "connection", "count", "empty_page", "has_rows_table", "is_int", "json_safe", "level_number", "parse_extra",
    "query_page", "read_meta", "read_batches", "row_dict", "select_rows", "seq_index", "to_epoch", "where",
    "BATCH_ROWS", "EXTRA_JSON", "parse_extras", "ROW_FILTERS", "FilterKeyError", "Clause", "glob_clause",
    "exact_clause", "level_clause", "text_clause", "time_clause", "cell_clause", "duration_seconds",
    "fetchall", "has_table", "table_columns", "select_list", "combine", "action_tree_clause",
    "direct_rows_clause", "event_row_sql",
]

#: Every filter ``get()`` takes: :data:`FILTERS` and the trace filters (``action``, ``cell``).
ROW_FILTERS: tuple[str, ...] = (*FILTERS, *TRACE_FILTERS)

MAX_PAGE_ROWS = 10_000
#: Rows a reader takes from the cursor at a time (:func:`read_batches`): few enough that
#: the values a batch made are still in the CPU's cache when they are put into columns
#: (W4: 4096 reads 1M rows ~20% faster than 65536).
BATCH_ROWS = 4_096
#: What :func:`read_batches` tells of a row's ``extra``: 1 where it is text that SQLite's
#: ``json_valid`` accepts (parse them together: :func:`parse_extras`), 0 for anything else
#: (NULL, text that is not JSON).
EXTRA_JSON = 1

T = TypeVar("T")

_DURATION = re.compile(DURATION, re.IGNORECASE)


class Where(NamedTuple):
    """A SQL condition (``"1"`` when unfiltered) and its bound parameters."""

    sql: str
    params: list[Any]


#: A filter's SQL: ``clause(value, filter name)``.
Clause = Callable[[Any, str], Where]


class FilterKeyError(TypeError, ValueError):
    """A filter name that is not one: a TypeError (a wrong keyword), and a ValueError."""


# ---------------------------------------------------------------- value parsing


def is_int(value: Any) -> bool:
    """An integer (NumPy's too), but not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def level_number(value: Any, name: str = "level") -> int:
    """A level name (case-insensitive) or int as logging's number; SYSTEM is 999."""
    if not (is_int(value) or isinstance(value, str)):
        raise TypeError(f"{name} must be a level name or an int, not {type(value).__name__}")
    if not isinstance(value, str):
        if value < 0:
            raise ValueError(f"{name} must be >= 0, got {value}")
        return int(value)
    key = value.strip().upper()
    if key.isdigit():
        return int(key)
    levels = _level_names()
    if key not in levels:
        raise ValueError(f"{name}: unknown level {value!r}; use one of {', '.join(levels)} or an int")
    return levels[key]


def _level_names() -> dict[str, int]:
    """logging's level names, upper-cased: custom ones and SYSTEM (record registers it) too."""
    mapping = getattr(logging, "getLevelNamesMapping", lambda: dict(logging._nameToLevel))()
    names = {str(k).upper(): int(v) for k, v in mapping.items()}
    return dict(sorted(names.items(), key=lambda item: item[1]))


def to_epoch(value: Any, name: str = "since", now: float | None = None) -> float:
    """A point in time as epoch seconds; see the module docstring for the accepted forms."""
    now = time.time() if now is None else now
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected a time, got a bool")
    if isinstance(value, numbers.Real):
        if not math.isfinite(value):
            raise ValueError(f"{name}: epoch seconds must be finite, got {value!r}")
        return float(value)
    if isinstance(value, datetime):
        return _datetime_epoch(value)
    if isinstance(value, date):
        return datetime.combine(value, dtime()).timestamp()
    if isinstance(value, timedelta):
        return now - value.total_seconds()
    if isinstance(value, str):
        return _string_epoch(value, name, now)
    raise TypeError(
        f"{name}: expected a datetime, epoch seconds or a string like '10min', "
        f"not {type(value).__name__}"
    )


def _datetime_epoch(value: datetime) -> float:
    """Aware datetimes as they say; naive ones (pandas Timestamps too) as local time."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.timestamp()
    # datetime.combine gives a plain datetime: a naive pandas Timestamp's own .timestamp()
    # would read it as UTC.
    return datetime.combine(value.date(), value.time()).timestamp()


def _string_epoch(value: str, name: str, now: float) -> float:
    text = value.strip()
    if text.lower() == "now":
        return now
    seconds = _duration_text(text)
    if seconds is not None:
        return now - seconds
    iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        return _datetime_epoch(datetime.fromisoformat(iso))
    except ValueError:
        raise ValueError(
            f"{name}: cannot read {value!r} as a time; use e.g. '10min', '2h', '30s', '1d', "
            "an ISO datetime such as '2024-05-01 12:30', a datetime or epoch seconds"
        ) from None


def _duration_text(text: str) -> float | None:
    """``"10min"``, ``"2 s"``, ``"10ms"`` (the DURATION grammar) as seconds; None if not one."""
    match = _DURATION.match(text)
    if not match:
        return None
    amount, unit = float(match.group(1)), match.group(2).lower()
    return amount * UNIT_SECONDS["ms" if unit == "ms" else unit[0]]


def duration_seconds(value: Any, name: str = "min_duration") -> float:
    """A length of time as seconds >= 0: a number of seconds, a timedelta or a string such
    as ``"10ms"``, ``"2s"``, ``"1.5 min"``."""
    if isinstance(value, timedelta):
        seconds: float | None = value.total_seconds()
    elif isinstance(value, numbers.Real) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _duration_text(value)
        if seconds is None:
            raise ValueError(f"{name}: cannot read {value!r} as a duration; use e.g. '10ms', '2s', '1min' or seconds")
    else:
        raise TypeError(f"{name} must be seconds, a timedelta or a string like '10ms', not {type(value).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite duration >= 0, got {value!r}")
    return seconds


def _strings(value: Any, name: str) -> list[str]:
    """One string or a non-empty list/tuple/set of strings, as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        if not items:
            raise ValueError(f"{name}: an empty list matches nothing; leave {name} out instead")
        for item in items:
            if not isinstance(item, str):
                raise TypeError(f"{name}: expected strings, got {type(item).__name__}")
        return sorted(items) if isinstance(value, (set, frozenset)) else items
    raise TypeError(f"{name} must be a string or a list of strings, not {type(value).__name__}")


# ---------------------------------------------------------------- SQL clauses


def _glob_pattern(pattern: str) -> str:
    """Our glob (only ``*`` and ``?`` special) as a SQLite GLOB: ``[`` made literal."""
    return pattern.replace("[", "[[]")


def glob_clause(column: str) -> Callable[[Any, str], Where]:
    def clause(value: Any, name: str) -> Where:
        parts, params = [], []
        for pattern in _strings(value, name):
            if "\x00" in pattern:  # SQLite's GLOB ends a pattern at a NUL: Python matches it
                parts.append(f"ts_glob({column}, ?)")
                params.append(pattern)
            elif "*" in pattern or "?" in pattern:
                # ... and a value at a NUL: a value holding one is matched whole in Python
                parts.append(f"({column} GLOB ? OR (instr({column}, char(0)) AND ts_glob({column}, ?)))")
                params.extend([_glob_pattern(pattern), pattern])
            else:
                parts.append(f"{column} = ?")
                params.append(pattern)
        return Where("(" + " OR ".join(parts) + ")", params)

    return clause


def exact_clause(column: str, allowed: Iterable[str] | None = None) -> Callable[[Any, str], Where]:
    def clause(value: Any, name: str) -> Where:
        values = _strings(value, name)
        if allowed is not None:
            values = [_checked_choice(v, allowed, name) for v in values]
        marks = ", ".join("?" * len(values))
        return Where(f"coalesce({column}, '') IN ({marks})", values)

    return clause


def _checked_choice(value: str, allowed: Iterable[str], name: str) -> str:
    choice = value.strip().lower()
    if choice not in allowed:
        raise ValueError(f"{name}: unknown value {value!r}; use one of {', '.join(allowed)}")
    return choice


def level_clause(value: Any, name: str) -> Where:
    return Where("levelno >= ?", [level_number(value, name)])


def text_clause(value: Any, name: str) -> Where:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name}: an empty string matches everything; leave {name} out instead")
    needle = value.casefold()
    if value.isascii() and "\x00" not in value:
        like = "%" + re.sub(r"([\\%_])", r"\\\1", value) + "%"
        # LIKE reads a stored value only up to a NUL: one holding a NUL is searched in Python
        return Where("(msg LIKE ? ESCAPE '\\' OR text LIKE ? ESCAPE '\\'"
                     " OR (instr(msg, char(0)) AND ts_icontains(msg, ?))"
                     " OR (instr(text, char(0)) AND ts_icontains(text, ?)))", [like, like, needle, needle])
    # SQLite's LIKE folds ASCII case only and ends at a NUL: these needles go through Python.
    return Where("(ts_icontains(msg, ?) OR ts_icontains(text, ?))", [needle, needle])


def time_clause(operator: str, column: str = "created") -> Clause:
    def clause(value: Any, name: str) -> Where:
        return Where(f"{column} {operator} ?", [to_epoch(value, name)])

    return clause


def cell_clause(column: str = "cell") -> Clause:
    """A cell as the module docstring says: ``"3"`` is ``"3"`` or ``"3:*"``, a cell id the
    part after the ``:``, ``"3:<id>"`` exactly that."""
    def clause(value: Any, name: str) -> Where:
        many = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
        parts, params = [], []
        for cell in _strings([str(int(v)) if is_int(v) else v for v in many], name):
            if ":" in cell or not cell:
                parts.append(f"{column} = ?")
                params.append(cell)
            elif cell.isdigit():  # an execution count, with or without the cell id after it
                parts.append(f"({column} = ? OR substr({column}, 1, ?) = ?)")
                params.extend([cell, len(cell) + 1, f"{cell}:"])
            else:  # a cell id
                parts.append(f"substr({column}, instr({column}, ':') + 1) = ? AND instr({column}, ':')")
                params.append(cell)
        return Where("(" + " OR ".join(f"({part})" for part in parts) + ")", params)

    return clause


_CLAUSES: dict[str, Callable[[Any, str], Where]] = {
    "logger": glob_clause("logger"),
    "level": level_clause,
    "source": exact_clause("source", SOURCES),
    "task": glob_clause("task"),
    "worker": exact_clause("worker"),
    "hostname": exact_clause("hostname"),
    "text": text_clause,
    "since": time_clause(">="),
    "until": time_clause("<"),
}


def check_keys(filters: Mapping[str, Any], what: str = "filter", valid: tuple[str, ...] = ROW_FILTERS) -> None:
    """Raise :class:`FilterKeyError` naming any key that is not one of ``valid``."""
    if not isinstance(filters, Mapping):
        raise TypeError(f"filters must be a mapping of filter names to values, not {type(filters).__name__}")
    unknown = [key for key in filters if key not in valid]
    if unknown:
        raise FilterKeyError(
            f"unknown {what} {', '.join(map(repr, unknown))}; valid filters: {', '.join(valid)}"
        )


def combine(filters: Mapping[str, Any], clauses: Mapping[str, Clause]) -> Where:
    """The AND of ``clauses[key](value)`` for each filter given (None values left out)."""
    parts: list[str] = []
    params: list[Any] = []
    for key, clause in clauses.items():
        value = filters.get(key)
        if value is None:
            continue
        part = clause(value, key)
        parts.append(part.sql)
        params.extend(part.params)
    return Where(" AND ".join(parts) or "1", params)


def where(filters: Mapping[str, Any], conn: sqlite3.Connection | None = None) -> Where:
    """Validate filters and build their SQL condition over ``rows``; ``None`` values are
    left out. With the store's connection, the trace filters fit what it holds (an older
    store has no ``action``/``cell`` column or ``actions`` table: they match nothing);
    without one, the condition is for a store of today's schema."""
    check_keys(filters)
    return combine(filters, {**_CLAUSES, **_trace_clauses(conn)})


def _trace_clauses(conn: sqlite3.Connection | None) -> dict[str, Clause]:
    """The ``action`` and ``cell`` clauses for this store."""
    columns = set(COLUMNS) if conn is None else table_columns(conn, "rows")
    action: Clause
    if "action" not in columns:
        action = _nothing
    elif conn is None or has_table(conn, "actions"):
        action = action_tree_clause
    else:  # the column without the table: just the actions named
        action = exact_clause("action")
    return {"action": action, "cell": cell_clause() if "cell" in columns else _nothing}


def _nothing(value: Any, name: str) -> Where:
    """A filter on what this store does not hold: no row matches it."""
    return Where("0", [])


def action_tree_clause(value: Any, name: str) -> Where:
    """Rows of the named actions and of every action nested below them (the recursive CTE
    follows ``actions.parent``, indexed)."""
    ids = _strings(value, name)
    seeds = ", ".join("(?)" for _ in ids)
    return Where(
        "action IN (WITH RECURSIVE below(id) AS (VALUES " + seeds
        + " UNION SELECT actions.action FROM actions JOIN below ON actions.parent = below.id)"
        " SELECT id FROM below)", ids)


def event_row_sql() -> Where:
    """A row that is an action's start or end (its ``extra`` an action envelope, from an
    action or a Dask task's lifecycle): the actions table's, not a row logged inside it."""
    return Where("(source IN (?, ?) AND substr(coalesce(extra, ''), 1, ?) = ?)",
                 [ACTION_SOURCE, RUNTIME, len(EVENT_MARK), EVENT_MARK])


def direct_rows_clause(action: Any, name: str = "in_action") -> Where:
    """Rows logged directly inside ``action`` (not inside an action nested in it), its own
    start and end rows left out."""
    if not isinstance(action, str) or not action:
        raise ValueError(f"{name} must be a non-empty string (an action id)")
    event = event_row_sql()
    return Where(f"action = ? AND NOT {event.sql}", [action, *event.params])


def check_limit(limit: Any, name: str = "limit", maximum: int | None = None) -> int | None:
    """A row limit: None (no limit) or an int >= 0 (at most ``maximum``)."""
    if limit is None:
        return None
    if not is_int(limit):
        raise TypeError(f"{name} must be an int or None, not {type(limit).__name__}")
    if limit < 0:
        raise ValueError(f"{name} must be >= 0, got {limit}")
    if maximum is not None and limit > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {limit}")
    return int(limit)


# ---------------------------------------------------------------- connections


def connect(path: str | Path) -> sqlite3.Connection:
    """A read-only connection to a session store, also one whose writer was killed.

    ``mode=ro`` reads the WAL of a live or SIGKILLed writer without ever checkpointing
    (closing a read-write connection last would rewrite the file). Where SQLite cannot open
    read-only (e.g. it may not create the -shm file), fall back to ``query_only``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no taskscope store at {path}")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError:
        conn = sqlite3.connect(str(path), check_same_thread=False)
        conn.execute("PRAGMA query_only = 1")
    _prepare(conn)
    return conn


def _prepare(conn: sqlite3.Connection) -> None:
    """Register the SQL functions our conditions use (idempotent)."""
    conn.create_function("ts_icontains", 2, _icontains, deterministic=True)
    conn.create_function("ts_glob", 2, _glob, deterministic=True)


def _icontains(haystack: str | None, needle: str) -> bool:
    return haystack is not None and needle in haystack.casefold()


def _glob(value: str | None, pattern: str) -> bool:
    """Our glob (``*`` any run, ``?`` one character) over the whole value, NULs included."""
    return value is not None and _glob_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


@contextmanager
def connection(conn_or_path: sqlite3.Connection | str | Path) -> Iterator[sqlite3.Connection]:
    """Use a caller's connection as is, or open (and close) one for a path."""
    if isinstance(conn_or_path, sqlite3.Connection):
        _prepare(conn_or_path)
        yield conn_or_path
        return
    conn = connect(conn_or_path)
    try:
        yield conn
    finally:
        conn.close()


def fetchall(conn: sqlite3.Connection, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    """Run a query; text that is not valid UTF-8 is decoded with replacement, not fatal."""
    return _decoding(conn, lambda: conn.execute(sql, params).fetchall())


def _decoding(conn: sqlite3.Connection, read: Callable[[], T]) -> T:
    """``read()``; where stored text is not valid UTF-8, ``read()`` again from the start with
    such text decoded with replacement (the slow decoder, only for a store that needs it)."""
    try:
        return read()
    except sqlite3.OperationalError as exc:
        if "decode" not in str(exc).lower():
            raise
    previous = conn.text_factory
    conn.text_factory = lambda raw: raw.decode("utf-8", "replace")
    try:
        return read()
    finally:
        conn.text_factory = previous


def has_rows_table(conn: sqlite3.Connection) -> bool:
    """False for a store the writer has created but not yet given its schema."""
    return has_table(conn, "rows")


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    """Has the store this table (an older one may lack a table added since)?"""
    found = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
    return found.fetchone() is not None


def table_columns(conn: sqlite3.Connection, table: str) -> set[str]:
    """The columns a table of this store has (none if it has no such table)."""
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def select_list(conn: sqlite3.Connection, table: str, names: Iterable[str]) -> list[str]:
    """``names`` as a SELECT names them from ``table``; one the store lacks reads as NULL
    (a session written before that column was declared still opens)."""
    have = table_columns(conn, table)
    return [name if name in have else f"NULL AS {name}" for name in names]


def _columns(conn: sqlite3.Connection) -> list[str]:
    """Every column in COLUMNS order as a SELECT names it (see :func:`select_list`)."""
    return select_list(conn, "rows", COLUMNS)


def _select(conn: sqlite3.Connection) -> str:
    """``SELECT`` of every column in COLUMNS order (see :func:`_columns`)."""
    return "SELECT " + ", ".join(_columns(conn)) + " FROM rows"


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    """The store's ``meta`` table as a dict (empty when there is none yet)."""
    try:
        return {str(k): v for k, v in conn.execute("SELECT key, value FROM meta").fetchall()}
    except sqlite3.OperationalError:
        return {}


# ---------------------------------------------------------------- queries


def select_rows(
    conn: sqlite3.Connection, filters: Mapping[str, Any], limit: int | None = None
) -> list[tuple[Any, ...]]:
    """Matching rows as tuples in COLUMNS order, seq ascending; ``limit`` keeps the newest."""
    condition = where(filters, conn)
    limit = check_limit(limit)
    if not has_rows_table(conn) or limit == 0:
        return []
    select = _select(conn)
    if limit is None:
        return fetchall(conn, f"{select} WHERE {condition.sql} ORDER BY seq", condition.params)
    sql = f"{select} WHERE {condition.sql} ORDER BY seq DESC LIMIT ?"
    return fetchall(conn, sql, [*condition.params, limit])[::-1]


def read_batches(
    conn: sqlite3.Connection,
    filters: Mapping[str, Any],
    limit: int | None,
    consume: Callable[[Iterator[list[tuple[Any, ...]]]], T],
    size: int | None = None,
) -> T:
    """``consume(batches)``: the rows :func:`select_rows` returns, as lists of at most ``size``
    rows (default :data:`BATCH_ROWS`) from one statement (one snapshot), so a reader never
    holds every row as a tuple.

    Each row is in COLUMNS order followed by whether its ``extra`` is JSON
    (:data:`EXTRA_JSON`), as SQLite's JSON parser tells in C: those can be parsed many at
    once (:func:`parse_extras`). Where stored text is not valid UTF-8, ``consume`` is called
    once more from the start, that text decoded with replacement.
    """
    where(filters)  # bad filters fail before the store is looked at
    limit = check_limit(limit)
    if not has_rows_table(conn) or limit == 0:
        return consume(iter(()))
    condition = where(filters, conn)
    columns = _columns(conn)
    extra = columns[COLUMNS.index("extra")].split(" AS ")[0]  # ``extra``, or NULL in a store without it
    sql = f"SELECT {', '.join(columns)}, {_extra_kind(conn, extra)} FROM rows WHERE {condition.sql}"
    params = list(condition.params)
    if limit is None:
        sql += " ORDER BY seq"
    else:
        sql = f"SELECT * FROM ({sql} ORDER BY seq DESC LIMIT ?) ORDER BY seq"
        params.append(limit)

    def read() -> T:
        cursor = conn.execute(sql, params)
        try:
            return consume(iter(lambda: cursor.fetchmany(size or BATCH_ROWS), []))
        finally:
            cursor.close()

    return _decoding(conn, read)


def _extra_kind(conn: sqlite3.Connection, extra: str) -> str:
    """The SQL of an ``extra`` value's kind: 1 (:data:`EXTRA_JSON`) where SQLite's JSON
    parser accepts it, else 0; without SQLite's JSON functions, always 0."""
    return f"ifnull(json_valid({extra}), 0)" if extra != "NULL" and _has_json(conn) else "0"


def _has_json(conn: sqlite3.Connection) -> bool:
    """Has this SQLite its JSON functions (built in since 3.38, optional before)?"""
    try:
        conn.execute("SELECT json_valid('1')").fetchone()
    except sqlite3.OperationalError:
        return False
    return True


def count(conn: sqlite3.Connection, filters: Mapping[str, Any], in_action: str | None = None) -> int:
    """How many rows match, counted by SQLite (no row leaves the database); ``in_action``:
    only those directly inside that action (:func:`direct_rows_clause`)."""
    where(filters)
    if not has_rows_table(conn):
        return 0
    condition = _in_action(where(filters, conn), conn, in_action)
    return int(fetchall(conn, f"SELECT count(*) FROM rows WHERE {condition.sql}", condition.params)[0][0])


def _in_action(condition: Where, conn: sqlite3.Connection | None, in_action: str | None) -> Where:
    """``condition`` AND the rows directly inside ``in_action`` (none in a store without
    the action column)."""
    if in_action is None:
        return condition
    direct = direct_rows_clause(in_action)
    if conn is not None and "action" not in table_columns(conn, "rows"):
        direct = _nothing(in_action, "in_action")
    return Where(f"{condition.sql} AND {direct.sql}", [*condition.params, *direct.params])


def query_page(
    conn_or_path: sqlite3.Connection | str | Path,
    filters: Mapping[str, Any],
    after_seq: int | None = None,
    before_seq: int | None = None,
    limit: int = 500,
    newest_first: bool = False,
    *,
    with_total: bool = True,
    in_action: str | None = None,
) -> dict[str, Any]:
    """One page of matching rows, by keyset paging on ``seq`` (never OFFSET); with
    ``in_action``, only the rows logged directly inside that action (its start and end
    rows, and the rows of the actions nested in it, left out).

    Returns ``{"rows": [dict, ...], "total": int | None, "first_seq": int | None,
    "last_seq": int | None}``: rows are JSON-safe dicts keyed by COLUMNS (``created`` in
    epoch seconds, ``extra`` parsed), ordered by seq ascending, or descending with
    ``newest_first``; ``total`` counts every row matching ``filters`` regardless of the
    cursors (None when ``with_total`` is false); ``first_seq``/``last_seq`` are the seq of
    ``rows[0]``/``rows[-1]`` (None when empty). The next page in the same direction is
    ``after_seq=last_seq`` (ascending) or ``before_seq=last_seq`` (newest first).
    """
    _paged(_in_action(where(filters), None, in_action), after_seq, before_seq)
    limit = check_limit(limit, maximum=MAX_PAGE_ROWS)
    order = "DESC" if newest_first else "ASC"
    with connection(conn_or_path) as conn:
        if not has_rows_table(conn):
            return empty_page(with_total)
        condition = _paged(_in_action(where(filters, conn), conn, in_action), after_seq, before_seq)
        sql = f"{_select(conn)} WHERE {condition.sql} ORDER BY seq {order} LIMIT ?"
        rows = [row_dict(row) for row in fetchall(conn, sql, [*condition.params, limit])]
        total = count(conn, filters, in_action) if with_total else None
    return {
        "rows": rows,
        "total": total,
        "first_seq": rows[0]["seq"] if rows else None,
        "last_seq": rows[-1]["seq"] if rows else None,
    }


def seq_index(
    conn_or_path: sqlite3.Connection | str | Path | None,
    filters: Mapping[str, Any],
    every: int,
    after_seq: int | None = None,
    skip: int = 0,
) -> dict[str, Any]:
    """Where rows sit by position: the seq of every ``every``-th matching row.

    Number the rows matching ``filters`` with seq above ``after_seq`` 0, 1, 2, ... in seq
    order; ``seqs`` holds the seq of rows ``skip``, ``skip + every``, ... and ``count`` how
    many there are. A view that shows rows by position (the log panel's grid) keeps these
    block starts and reads block ``b`` as a keyset page from ``seqs[b] - 1``: a jump to any
    position costs one page, never an OFFSET.

    With no filter the answer needs no scan (``dense`` true, ``seqs`` empty): the writer
    numbers rows consecutively and ``clear()`` deletes them all, so the stored seqs run
    without a gap from the first to the last, and row ``n`` has seq ``first_seq + n``.
    A filtered index reads the matching seqs once (about a count's cost, ~0.1 s at 1M rows).
    """
    if not is_int(every) or every < 1:
        raise ValueError(f"every must be an int >= 1, got {every!r}")
    if not is_int(skip) or skip < 0:
        raise ValueError(f"skip must be an int >= 0, got {skip!r}")
    condition = where(filters)
    dense = condition.sql == "1"
    paged = _paged(condition, after_seq, None)
    answer: dict[str, Any] = {"count": 0, "first_seq": None, "last_seq": None, "dense": dense, "seqs": []}
    if conn_or_path is None:  # no store yet: nothing is stored
        return answer
    with connection(conn_or_path) as conn:
        if not has_rows_table(conn):
            return answer
        paged = _paged(where(filters, conn), after_seq, None)
        if dense:
            ends = [
                fetchall(conn, f"SELECT seq FROM rows WHERE {paged.sql} ORDER BY seq {order} LIMIT 1", paged.params)
                for order in ("ASC", "DESC")
            ]
            if ends[0]:
                first, last = int(ends[0][0][0]), int(ends[1][0][0])
                answer.update(count=last - first + 1, first_seq=first, last_seq=last)
            return answer
        seqs: list[int] = []
        n = 0
        first = last = None
        for (seq,) in conn.execute(f"SELECT seq FROM rows WHERE {paged.sql} ORDER BY seq", paged.params):
            if n >= skip and (n - skip) % every == 0:
                seqs.append(seq)
            if first is None:
                first = seq
            last = seq
            n += 1
    answer.update(count=n, first_seq=first, last_seq=last, seqs=seqs)
    return answer


def empty_page(with_total: bool = True) -> dict[str, Any]:
    """The query_page answer when there are no rows to page."""
    return {"rows": [], "total": 0 if with_total else None, "first_seq": None, "last_seq": None}


def _paged(condition: Where, after_seq: Any, before_seq: Any) -> Where:
    """Add the keyset cursors to a condition."""
    parts, params = [condition.sql], list(condition.params)
    for name, operator, value in (("after_seq", ">", after_seq), ("before_seq", "<", before_seq)):
        if value is None:
            continue
        if not is_int(value):
            raise TypeError(f"{name} must be an int or None, not {type(value).__name__}")
        parts.append(f"seq {operator} ?")
        params.append(int(value))
    return Where(" AND ".join(parts), params)


# ---------------------------------------------------------------- JSON


def parse_extra(raw: Any) -> Any:
    """The ``extra`` column as Python values; text that is not JSON is kept as text."""
    if raw is None or not isinstance(raw, (str, bytes)):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_extras(texts: list[str]) -> list[Any] | None:
    """Many ``extra`` values SQLite's ``json_valid`` accepted, parsed by one ``json.loads``
    of them joined into an array (a call per row costs as much as the parse); None where
    that array does not parse back into exactly as many values (SQLite and Python disagree
    on what JSON is): then parse each with :func:`parse_extra`.

    Each accepted text is one complete value, so joined by commas none can merge with its
    neighbour. Parsed together, equal keys are one string object, not one per row.
    """
    try:
        values = json.loads("[" + ",".join(texts) + "]")
    except (ValueError, TypeError, RecursionError):  # TypeError: a blob SQLite took for JSON
        return None
    return values if len(values) == len(texts) else None


def json_safe(value: Any) -> Any:
    """A value that ``json.dumps(..., allow_nan=False)`` accepts: no NaN, bytes or objects."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        return _datetime_epoch(value)
    return str(value)


def row_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """One stored row as a JSON-safe dict keyed by COLUMNS."""
    record = dict(zip(COLUMNS, row))
    record["extra"] = parse_extra(record["extra"])
    return {key: json_safe(value) for key, value in record.items()}
