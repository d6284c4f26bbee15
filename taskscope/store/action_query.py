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
from ..record.vocabulary import ACTION_FILTERS, ACTION_SOURCE, ACTION_STATUSES, FAILED
from . import query
from .actions import EVENT_MARK
from .query import Clause, Where

__all__ = [
    "ACTION_NAMES", "MAX_PAGE_ACTIONS", "SORTS", "action_page", "action_where", "check_keys", "children_counts",
    "failed_chains", "has_actions", "row_counts", "select_action_rows", "select_actions", "select_tree",
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


def children_counts(conn: sqlite3.Connection, ids: Iterable[str], within: Where | None = None) -> dict[str, int]:
    """How many actions run directly inside each of ``ids`` (those with none left out);
    ``within``: only actions that meet this condition count."""
    wanted = list(ids)
    if not wanted or not has_actions(conn):
        return {}
    extra = "" if within is None or within.sql == "1" else f" AND {within.sql}"
    extra_params = [] if not extra or within is None else list(within.params)
    counts: dict[str, int] = {}
    for part in _parts(wanted):
        sql = (f"SELECT parent, count(*) FROM actions WHERE parent IN ({', '.join('?' * len(part))}){extra}"
               " GROUP BY parent")
        counts.update({parent: int(n) for parent, n in query.fetchall(conn, sql, [*part, *extra_params])})
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


#: Actions one :func:`action_page` gives at most.
MAX_PAGE_ACTIONS = 2_000
#: The orders of siblings :func:`action_page` knows: by start, or by duration (an action
#: still started has none yet: it comes last either way).
SORTS = ("started", "duration")
_SORT_SQL = {
    ("started", False): _ORDER,
    ("started", True): "ORDER BY started IS NULL, started DESC, seq DESC, action DESC",
    ("duration", False): "ORDER BY duration IS NULL, duration, started, seq, action",
    ("duration", True): "ORDER BY duration IS NULL, duration DESC, started, seq, action",
}


def action_page(
    conn: sqlite3.Connection,
    parent: str,
    filters: Mapping[str, Any],
    sort: str = "started",
    descending: bool = False,
    offset: int = 0,
    limit: int = 500,
) -> dict[str, Any]:
    """One page of the actions directly inside ``parent`` (``""``: the roots), for a view
    that opens a tree one level at a time (the log panel's tree).

    With ``filters``, the siblings are those :func:`select_tree` would show (the matching
    actions, every action inside them and the chain above them), counted alike. Returns
    ``{"actions": [dict, ...], "total": int}``: each action keyed by ACTION_NAMES
    (``fields``/``result`` parsed JSON), plus ``children`` (actions directly inside it, of
    the same tree), ``rows`` (log rows directly inside it, its own start and end rows
    left out) and ``failed_chain`` (it failed, or an action somewhere inside it did).
    ``total`` counts the siblings, all pages together.
    """
    condition = check_page(parent, filters, sort, descending, offset, limit)
    if not has_actions(conn):
        return {"actions": [], "total": 0}
    within = _within(condition)
    siblings = f"parent = ? AND {within.sql}"
    params = [parent, *within.params]
    total = int(query.fetchall(conn, f"SELECT count(*) FROM actions WHERE {siblings}", params)[0][0])
    sql = f"{_select(conn)} WHERE {siblings} {_SORT_SQL[sort, descending]} LIMIT ? OFFSET ?"
    actions = [dict(zip(ACTION_NAMES, row)) for row in query.fetchall(conn, sql, [*params, limit, offset])]
    ids = [str(action["action"]) for action in actions]
    children = children_counts(conn, ids, within)
    rows = row_counts(conn, ids, [action["seq"] for action in actions])
    failed = failed_chains(conn, ids)
    for action in actions:
        name = str(action["action"])
        action["fields"] = query.parse_extra(action["fields"])
        action["result"] = query.parse_extra(action["result"])
        action.update(children=children.get(name, 0), rows=rows.get(name, 0), failed_chain=name in failed)
    return {"actions": [query.json_safe(action) for action in actions], "total": total}


def check_page(
    parent: Any, filters: Mapping[str, Any], sort: Any, descending: Any, offset: Any, limit: Any
) -> Where:
    """Check :func:`action_page`'s arguments (a ValueError or TypeError naming the bad
    one); the filters' condition."""
    if not isinstance(parent, str):
        raise ValueError("parent must be a string ('' for the roots)")
    if not isinstance(filters, Mapping):
        raise ValueError("filter must be an object")
    condition = action_where(filters)
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, got {sort!r}")
    if not isinstance(descending, bool):
        raise ValueError("descending must be a boolean")
    if not query.is_int(offset) or offset < 0:
        raise ValueError(f"offset must be an int >= 0, got {offset!r}")
    if query.check_limit(limit, maximum=MAX_PAGE_ACTIONS) is None:
        raise ValueError("limit must be an int")
    return condition


def _within(condition: Where) -> Where:
    """The actions of the tree of ``condition`` (all of them when it is no filter)."""
    if condition.sql == "1":
        return condition
    ids = _tree_ids(condition)
    return Where(f"action IN ({ids.sql})", ids.params)


def _parts(ids: list[str], step: int = 500) -> Iterable[list[str]]:
    """``ids`` in parts well under SQLite's variable limit."""
    return (ids[at:at + step] for at in range(0, len(ids), step))


def row_counts(conn: sqlite3.Connection, ids: list[str], seqs: Iterable[Any] = ()) -> dict[str, int]:
    """How many log rows were logged directly inside each of ``ids`` (their own start and
    end rows left out; those with none left out). ``seqs``, the actions' start rows, bound
    the scan from below (rows has no index on ``action``: its rows come after its start)."""
    if not ids or "action" not in query.table_columns(conn, "rows"):
        return {}
    starts = list(seqs)
    lowest = min(starts) if starts and all(query.is_int(seq) for seq in starts) else 0
    event = query.event_row_sql()
    counts: dict[str, int] = {}
    for part in _parts(ids):
        sql = (f"SELECT action, count(*) FROM rows WHERE seq >= ? AND action IN ({', '.join('?' * len(part))})"
               f" AND NOT {event.sql} GROUP BY action")
        counts.update({a: int(n) for a, n in query.fetchall(conn, sql, [lowest, *part, *event.params])})
    return counts


def failed_chains(conn: sqlite3.Connection, ids: list[str]) -> set[str]:
    """Those of ``ids`` on a failed chain: failed, or above a failed action."""
    if not ids or not has_actions(conn):
        return set()
    up = ("WITH RECURSIVE up(id) AS (SELECT action FROM actions WHERE status = ?"
          " UNION SELECT actions.parent FROM actions JOIN up ON actions.action = up.id"
          " WHERE actions.parent != '')")
    found: set[str] = set()
    for part in _parts(ids):
        sql = f"{up} SELECT id FROM up WHERE id IN ({', '.join('?' * len(part))})"
        found.update(str(row[0]) for row in query.fetchall(conn, sql, [FAILED, *part]))
    return found
