"""Actions one level at a time, for the log panel's tree: action_query.action_page, the
rows directly inside an action (query_page(in_action=...)) and the bridge's `actions` op.

The store is test_action_views' (real rows through Store.write, the actions table folded
by the writer): cell-1 holds load (a1, which holds parse a2, failed) and save (a3, still
started); report (a4) is a root outside any cell.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from taskscope.record.columns import ACTION_NAMES
from taskscope.store import action_query, query
from taskscope.frontend import bridge
from taskscope.tests.test_action_views import CELL_EVENTS, ROWS, B, _end, _row, _start, write_actions


@pytest.fixture
def conn(tmp_path: Path) -> Any:
    path = write_actions(tmp_path / "s.sqlite", ROWS, CELL_EVENTS)
    with query.connection(path) as read:
        yield read


def page(conn: sqlite3.Connection, parent: str, **options: Any) -> list[str]:
    filters = options.pop("filters", {})
    return [a["action"] for a in action_query.action_page(conn, parent, filters, **options)["actions"]]


def test_a_page_holds_the_children_with_their_counts_and_failed_chain(conn: sqlite3.Connection) -> None:
    roots = action_query.action_page(conn, "", {})
    assert roots["total"] == 2 and [a["action"] for a in roots["actions"]] == ["cell-1", "a4"]
    cell, report = roots["actions"]
    assert set(ACTION_NAMES) | {"children", "rows", "failed_chain"} == cell.keys()
    assert (cell["children"], cell["rows"], cell["failed_chain"]) == (2, 0, True)
    assert cell["fields"] == {"execution_count": 1, "cell_id": "c1", "code": "run()"}  # parsed JSON
    assert (report["children"], report["rows"], report["failed_chain"]) == (0, 0, False)
    inside = {a["action"]: a for a in action_query.action_page(conn, "cell-1", {})["actions"]}
    assert list(inside) == ["a1", "a3"]
    # load: one row of its own ("loaded header"; its start/end rows and parse's rows are not)
    assert (inside["a1"]["children"], inside["a1"]["rows"], inside["a1"]["failed_chain"]) == (1, 1, True)
    assert inside["a1"]["result"] == 10 and inside["a1"]["duration"] == 0.5
    assert (inside["a3"]["failed_chain"], inside["a3"]["status"], inside["a3"]["duration"]) == (False, "started", None)
    parse = action_query.action_page(conn, "a1", {})["actions"][0]
    assert (parse["action"], parse["rows"], parse["failed_chain"], parse["error"]) == ("a2", 1, True, "ValueError: bad")
    json.dumps(roots, allow_nan=False)  # all of it is JSON


def test_siblings_sort_by_duration_and_page_by_offset(tmp_path: Path) -> None:
    durations = [0.3, 0.1, 2.0, None, 0.7]
    rows = []
    for i, duration in enumerate(durations):
        rows.append(_start(B + i, "work", f"w{i}", "", {"i": i}))
        if duration is not None:
            rows.append(_end(B + i + duration, "work", f"w{i}", "succeeded", duration))
    with query.connection(write_actions(tmp_path / "d.sqlite", rows)) as conn:
        assert page(conn, "") == ["w0", "w1", "w2", "w3", "w4"]  # by start
        assert page(conn, "", descending=True) == ["w4", "w3", "w2", "w1", "w0"]
        assert page(conn, "", sort="duration") == ["w1", "w0", "w4", "w2", "w3"]  # a running one last
        assert page(conn, "", sort="duration", descending=True) == ["w2", "w4", "w0", "w1", "w3"]
        assert page(conn, "", sort="duration", descending=True, offset=1, limit=2) == ["w4", "w0"]
        assert action_query.action_page(conn, "", {}, offset=4, limit=10)["total"] == 5
        assert page(conn, "", offset=9) == []


def test_a_filter_keeps_the_tree_of_its_matches(conn: sqlite3.Connection) -> None:
    # status=failed: parse, and the chain above it; the other actions are not siblings
    assert page(conn, "", filters={"status": "failed"}) == ["cell-1"]
    cell = action_query.action_page(conn, "", {"status": "failed"})["actions"][0]
    assert cell["children"] == 1  # only load of its two is in the tree
    assert page(conn, "cell-1", filters={"status": "failed"}) == ["a1"]
    assert page(conn, "a1", filters={"status": "failed"}) == ["a2"]
    assert page(conn, "", filters={"worker": "tcp://w1"}) == ["a4"]


@pytest.mark.parametrize("bad, message", [
    ({"parent": None}, "parent must be a string"),
    ({"sort": "size"}, "sort must be one of started, duration"),
    ({"descending": "yes"}, "descending must be a boolean"),
    ({"offset": -1}, "offset must be an int >= 0"),
    ({"limit": action_query.MAX_PAGE_ACTIONS + 1}, "limit must be <="),
    ({"filters": {"kind": "x"}}, "unknown filter 'kind'"),
    ({"filters": {"status": "done"}}, "status: unknown value 'done'"),
])
def test_bad_page_arguments_are_named(conn: sqlite3.Connection, bad: dict[str, Any], message: str) -> None:
    arguments = {"parent": "", "filters": {}, "sort": "started", "descending": False, "offset": 0, "limit": 10, **bad}
    with pytest.raises((ValueError, TypeError), match=message):
        action_query.action_page(conn, arguments.pop("parent"), arguments.pop("filters"), **arguments)


def test_rows_directly_inside_an_action(tmp_path: Path) -> None:
    path = write_actions(tmp_path / "s.sqlite", ROWS, CELL_EVENTS)
    direct = query.query_page(path, {}, in_action="a1")
    assert [r["msg"] for r in direct["rows"]] == ["loaded header"] and direct["total"] == 1
    assert [r["msg"] for r in query.query_page(path, {}, in_action="a2")["rows"]] == ["parsing x"]
    # the query filter's action= holds the nested ones and the start/end rows, in_action not
    assert query.query_page(path, {"action": "a1"})["total"] == 6
    assert query.query_page(path, {"level": "WARNING"}, in_action="a2")["total"] == 1
    assert query.query_page(path, {"level": "ERROR"}, in_action="a2")["total"] == 0
    with pytest.raises(ValueError, match="in_action must be a non-empty string"):
        query.query_page(path, {}, in_action="")


def test_the_bridge_answers_actions_from_the_recording_store(fresh_runtime: Any) -> None:
    import taskscope as ts

    fresh_runtime.start(streams=False)

    @ts.log_call
    def inner(n: int) -> int:
        logging.getLogger("app").info("inside inner %d", n)
        if n == 2:
            raise ValueError("two")
        return n

    @ts.log_call
    def outer() -> None:
        for n in (1, 2):
            try:
                inner(n)
            except ValueError:
                pass

    outer()
    fresh_runtime.flush()
    roots = bridge.handle({"op": "actions", "id": 3, "parent": "", "limit": 10})
    assert (roots["op"], roots["id"], roots["parent"], roots["offset"], roots["total"]) == ("actions", 3, "", 0, 1)
    top = roots["actions"][0]
    assert (top["type"], top["children"], top["failed_chain"]) == ("outer", 2, True)
    kids = bridge.handle({"op": "actions", "parent": top["action"], "sort": "duration", "descending": True})
    assert sorted(a["fields"]["n"] for a in kids["actions"]) == [1, 2]
    assert [a["failed_chain"] for a in kids["actions"] if a["fields"]["n"] == 2] == [True]
    assert all(a["rows"] == 1 for a in kids["actions"])
    rows = bridge.handle({"op": "query", "in_action": kids["actions"][0]["action"]})
    assert rows["op"] == "rows" and rows["total"] == 1 and rows["rows"][0]["msg"].startswith("inside inner")


@pytest.mark.parametrize("request_", [
    {"op": "actions", "id": 1},  # no parent
    {"op": "actions", "id": 1, "parent": "", "limit": 100_000},
    {"op": "actions", "id": 1, "parent": "", "filter": {"status": "done"}},
    {"op": "actions", "id": 1, "parent": "", "filter": []},
    {"op": "actions", "id": 1, "parent": "", "offset": True},
    {"op": "query", "id": 1, "in_action": 5},
])
def test_bad_actions_requests_get_an_error(request_: dict[str, Any], fresh_runtime: Any) -> None:
    reply = bridge.handle(request_)
    assert reply["op"] == "error" and reply["id"] == 1, reply


def test_a_page_of_many_siblings_counts_their_rows(tmp_path: Path) -> None:
    rows = [_start(B, "batch", "root", "", {})]
    for i in range(1200):  # more than one part of the IN lists
        rows += [_start(B + 1 + i, "item", f"i{i}", "root", {"i": i}),
                 *[_row(B + 1 + i, f"row {k}", action=f"i{i}") for k in range(i % 3)],
                 _end(B + 1.5 + i, "item", f"i{i}", "failed" if i == 1100 else "succeeded", 0.5)]
    with query.connection(write_actions(tmp_path / "m.sqlite", rows)) as conn:
        got = action_query.action_page(conn, "root", {}, limit=2000)
        assert got["total"] == 1200 and len(got["actions"]) == 1200
        assert [a["rows"] for a in got["actions"][:6]] == [0, 1, 2, 0, 1, 2]
        assert [a["action"] for a in got["actions"] if a["failed_chain"]] == ["i1100"]
        assert action_query.action_page(conn, "", {})["actions"][0]["failed_chain"] is True
