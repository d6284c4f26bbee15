"""The read end of the ``actions`` table: action filters become SQL, and the selects that
``dataset.actions()``, ``dataset.tree()`` and ``dataset.to_eliot()`` are built on.

Filters (:data:`~taskscope.record.vocabulary.ACTION_FILTERS`, all optional, combined with
AND; every value a bound parameter):

- ``type``, ``logger``: a glob over the action's type (``logger`` is ``get()``'s name for
  it: an action's rows have its type as their logger).
- ``task``, ``worker``, ``hostname``, ``cell``: the action's own columns, as ``get()``
  matches the rows' (:mod:`taskscope.store.query`).
- ``since``, ``until``: when it started.
- ``level``, ``source``, ``text``: matched against its start row (a cell has none, so
  these leave cells out); ``text`` also finds the error of a failed action.
- ``status``: started, succeeded or failed (or a list).
- ``parent``: the actions directly inside these ids (``""``: the roots).
- ``action``: these actions and every action nested below them.
- ``min_duration``: ran at least this long: seconds, a timedelta or ``"10ms"``/``"2s"``
  (a started action has no duration yet and is left out).

A store written before the ``actions`` table existed holds no action: every select here
returns nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from typing import Any

from ..record.columns import ACTION_NAMES
from ..record.vocabulary import ACTION_FILTERS, ACTION_SOURCE, ACTION_STATUSES
from . import query
from .actions import EVENT_MARK
from .query import Clause, Where

__all__ = [
    "ACTION_NAMES", "action_where", "check_keys", "children_counts", "has_actions", "select_action_rows",
    "select_actions", "select_tree",
]

#: The start row of an action (``actions.seq``), for the filters matched against it.
_START_ROW = "EXISTS (SELECT 1 FROM rows WHERE rows.seq = actions.seq AND {})"


def _start_row(clause: Clause) -> Clause:
    """``clause`` (a condition over ``rows``) asked of the action's start row."""
    def on_start_row(value: Any, name: str) -> Where:
        inner = clause(value, name)
        return Where(_START_ROW.format(inner.sql), inner.params)

    return on_start_row


def _text(value: Any, name: str) -> Where:
    """The start row's message or text, or the error, holds ``value`` (case-insensitive)."""
    inner = _start_row(query.text_clause)(value, name)
    return Where(f"({inner.sql} OR ts_icontains(error, ?))", [*inner.params, value.casefold()])


def _min_duration(value: Any, name: str) -> Where:
    return Where("duration >= ?", [query.duration_seconds(value, name)])


_CLAUSES: dict[str, Clause] = {
    "logger": query.glob_clause("type"),
    "level": _start_row(query.level_clause),
    "source": _start_row(query.exact_clause("source")),
    "task": query.glob_clause("task"),
    "worker": query.exact_clause("worker"),
    "hostname": query.exact_clause("hostname"),
    "text": _text,
    "since": query.time_clause(">=", "started"),
    "until": query.time_clause("<", "started"),
    "action": query.action_tree_clause,  # these actions and every one nested below them
    "cell": query.cell_clause(),
    "type": query.glob_clause("type"),
    "status": query.exact_clause("status", ACTION_STATUSES),
    "parent": query.exact_clause("parent"),
    "min_duration": _min_duration,
}


def check_keys(filters: Mapping[str, Any], what: str = "filter") -> None:
    """Raise :class:`query.FilterKeyError` (a ValueError) naming a key that is no action filter."""
    query.check_keys(filters, what, ACTION_FILTERS)


def action_where(filters: Mapping[str, Any]) -> Where:
    """Validate action filters and build their condition over ``actions``."""
    check_keys(filters)
    return query.combine(filters, _CLAUSES)


def has_actions(conn: sqlite3.Connection) -> bool:
    """Has this store an ``actions`` table (a session before actions has none)?"""
    return query.has_table(conn, "actions")


def _select(conn: sqlite3.Connection) -> str:
    return "SELECT " + ", ".join(query.select_list(conn, "actions", ACTION_NAMES)) + " FROM actions"


#: Order of actions: by start, those not known to have started last, then by id.
_ORDER = "ORDER BY started IS NULL, started, seq, action"


def select_actions(
    conn: sqlite3.Connection, filters: Mapping[str, Any], limit: int | None = None
) -> list[tuple[Any, ...]]:
    """Matching actions as tuples in ACTION_NAMES order, by start; ``limit`` keeps the newest."""
    condition = action_where(filters)
    limit = query.check_limit(limit)
    if not has_actions(conn) or limit == 0:
        return []
    sql = f"{_select(conn)} WHERE {condition.sql} {_ORDER}"
    if limit is None:
        return query.fetchall(conn, sql, condition.params)
    newest = f"{_select(conn)} WHERE {condition.sql} ORDER BY started IS NOT NULL, started DESC, seq DESC, action DESC"
    return query.fetchall(conn, f"{newest} LIMIT ?", [*condition.params, limit])[::-1]


def _tree_ids(condition: Where) -> Where:
    """The ids of a tree: the matching actions, every action below them and every one
    above them up to its root (so the chain to a root shows)."""
    sql = (
        "WITH RECURSIVE matched(id) AS (SELECT action FROM actions WHERE " + condition.sql + "),"
        " below(id) AS (SELECT id FROM matched UNION"
        " SELECT actions.action FROM actions JOIN below ON actions.parent = below.id),"
        " above(id) AS (SELECT id FROM matched UNION"
        " SELECT actions.parent FROM actions JOIN above ON actions.action = above.id WHERE actions.parent != '')"
        " SELECT id FROM below UNION SELECT id FROM above"
    )
    return Where(sql, list(condition.params))


def select_tree(
    conn: sqlite3.Connection, filters: Mapping[str, Any], cap: int | None = None
) -> tuple[list[tuple[Any, ...]], int]:
    """The actions of a tree (see :func:`_tree_ids`) in ACTION_NAMES order, by start, at
    most ``cap`` of them (the first started: a parent starts before what runs inside it),
    and how many there are in all."""
    condition = action_where(filters)
    cap = query.check_limit(cap, "cap")
    if not has_actions(conn):
        return [], 0
    ids = _tree_ids(condition)
    total = int(query.fetchall(conn, f"SELECT count(*) FROM ({ids.sql})", ids.params)[0][0])
    sql = f"{_select(conn)} WHERE action IN ({ids.sql}) {_ORDER}"
    if cap is not None:
        sql, params = f"{sql} LIMIT ?", [*ids.params, cap]
    else:
        params = ids.params
    return query.fetchall(conn, sql, params), total


def children_counts(conn: sqlite3.Connection, ids: Iterable[str]) -> dict[str, int]:
    """How many actions run directly inside each of ``ids`` (those with none left out)."""
    wanted = list(ids)
    if not wanted or not has_actions(conn):
        return {}
    counts: dict[str, int] = {}
    step = 500  # well under SQLite's variable limit
    for at in range(0, len(wanted), step):
        part = wanted[at:at + step]
        sql = (f"SELECT parent, count(*) FROM actions WHERE parent IN ({', '.join('?' * len(part))})"
               " GROUP BY parent")
        counts.update({parent: int(n) for parent, n in query.fetchall(conn, sql, part)})
    return counts


#: What :func:`select_action_rows` returns of each row, in this order.
ACTION_ROW_NAMES: tuple[str, ...] = ("seq", "created", "level", "logger", "msg", "action", "extra")


def select_action_rows(conn: sqlite3.Connection, filters: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    """The log rows inside the actions of a tree (:func:`select_tree`'s, uncapped), in seq
    order, as :data:`ACTION_ROW_NAMES`; an action's own start and end rows are left out
    (they are the actions table's rows)."""
    condition = action_where(filters)
    if not has_actions(conn) or "action" not in query.table_columns(conn, "rows"):
        return []
    ids = _tree_ids(condition)
    columns = ", ".join(query.select_list(conn, "rows", ACTION_ROW_NAMES))
    sql = (f"SELECT {columns} FROM rows WHERE action IN ({ids.sql})"
           " AND NOT (source = ? AND substr(coalesce(extra, ''), 1, ?) = ?) ORDER BY seq")
    return query.fetchall(conn, sql, [*ids.params, ACTION_SOURCE, len(EVENT_MARK), EVENT_MARK])
