"""Reading actions: dataset.actions(), tree(), to_eliot(), and get(action=, cell=).

The stores are real: rows written by :class:`taskscope.store.sqlite.Store`, the actions
table folded from those rows by the writer's own :func:`taskscope.store.actions.events_of`
and :func:`~taskscope.store.actions.upsert` in one transaction (a cell's start and end as
events, as the session notes them), read back through :class:`Dataset`.
"""

from __future__ import annotations

import html
import io
import json
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from taskscope.record.columns import ACTION_NAMES, COLUMNS
from taskscope.record.rows import Caps, Row, make_row, replace
from taskscope.record.vocabulary import ACTION_FILTERS, ACTION_SOURCE
from taskscope.store import action_query, actions, query
from taskscope.store.sqlite import Store
from taskscope.views import dataset as ds
from taskscope.views.actions import MAX_NODES, MIME_TYPE, ActionTree
from taskscope.tests.conftest import eliot_tree_text

B = 1_700_000_000.0
META = {"session_id": "s-actions", "kernel_id": "", "started": str(B), "hostname": "host-a",
        "pid": "42", "taskscope_version": "0.1.0"}


def _row(created: float, msg: str, *, logger: str = "app", source: str = "user", levelno: int = 20,
         action: str = "", cell: str = "", extra: dict[str, Any] | None = None, **more: Any) -> Row:
    return make_row(created, levelno, source, logger, msg, Caps(), thread="MainThread", where=(action, cell),
                    extra=json.dumps(extra) if extra is not None else None, hostname="host-a", pid=42, **more)


def _start(created: float, kind: str, action: str, parent: str, fields: dict[str, Any], **more: Any) -> Row:
    return _row(created, f"{kind} started", logger=kind, source=ACTION_SOURCE, action=action,
                extra={"action_status": "started", "action_parent": parent, "fields": fields}, **more)


def _end(created: float, kind: str, action: str, status: str, duration: float, cell: str = "",
         **envelope: Any) -> Row:
    return _row(created, f"{kind} {status}", logger=kind, source=ACTION_SOURCE, action=action, cell=cell,
                levelno=40 if status == "failed" else 20,
                extra={"action_status": status, "duration": duration, **envelope})


def write_actions(path: Path, rows: list[Row], events: list[actions.Event] = ()) -> Path:
    """Store ``rows`` with the store's writer: it folds their action events (and
    ``events``, a cell's) into the actions table in the rows' transaction."""
    store = Store(path, META)
    store.open()
    store.write(rows, events)
    store.close()
    return path


CELL = "1:c1"
#: A cell with load (and parse inside it, which fails) and save (still running) inside it,
#: and report, a root outside any cell, on a worker.
ROWS = [
    _row(B, "before anything"),                                                           # 1
    _start(B + 1, "load", "a1", "cell-1", {"path": "x.csv"}, cell=CELL),                  # 2
    _row(B + 1.1, "loaded header", action="a1", cell=CELL),                               # 3
    _start(B + 1.2, "parse", "a2", "a1", {"text": "x"}, cell=CELL),                       # 4
    _row(B + 1.25, "parsing x", levelno=30, action="a2", cell=CELL),                      # 5
    _end(B + 1.3, "parse", "a2", "failed", 0.1, error="ValueError: bad", cell=CELL),      # 6
    _end(B + 1.5, "load", "a1", "succeeded", 0.5, result=10, cell=CELL),                  # 7
    _start(B + 2, "save", "a3", "cell-1", {"n": 2}, cell=CELL),                           # 8
    replace(_start(B + 3, "report", "a4", "", {}, task="report-1", worker="tcp://w1"),
            hostname="host-b", levelno=30, level="WARNING"),                              # 9
    replace(_end(B + 5.5, "report", "a4", "succeeded", 2.5), task="report-1", worker="tcp://w1"),  # 10
    _row(B + 6, "in cell 12", cell="12:c12"),                                             # 11
    _row(B + 7, "in cell 2", cell="2"),                                                   # 12
]
CELL_EVENTS = [
    ("start", "cell-1", "", "cell", B + 0.5, json.dumps({"execution_count": 1, "cell_id": "c1", "code": "run()"}),
     "", "", CELL, "host-a", 42, "MainThread", None),
    ("end", "cell-1", "succeeded", B + 2.5, 2.0, None, None),
]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return write_actions(tmp_path / "s.sqlite", ROWS, CELL_EVENTS)


@pytest.fixture
def data(store: Path) -> ds.Dataset:
    return ds.Dataset(store)


def ids(data: ds.Dataset, **filters: Any) -> list[str]:
    return data.actions(**filters)["action"].tolist()


def seqs(data: ds.Dataset, **filters: Any) -> list[int]:
    return data.get(**filters)["seq"].tolist()


# ---------------------------------------------------------------- actions()


def test_actions_have_the_declared_columns_and_dtypes(data: ds.Dataset) -> None:
    frame = data.actions()
    assert tuple(frame.columns) == ACTION_NAMES
    assert frame["action"].tolist() == ["cell-1", "a1", "a2", "a3", "a4"]  # by start
    rows = data.get()
    assert frame["type"].dtype == rows["logger"].dtype == frame["error"].dtype  # pandas' text dtype
    assert str(frame["started"].dtype) == str(rows["created"].dtype)  # local tz-aware datetime
    assert frame["started"].dt.tz is not None
    assert frame["duration"].dtype == "float64" and frame["pid"].dtype == "Int64" and frame["seq"].dtype == "Int64"
    one = frame.set_index("action")
    assert one.loc["a1", "fields"] == {"path": "x.csv"} and one.loc["a1", "result"] == 10
    assert one.loc["a1", "started"] == ds.local_times([B + 1]).iloc[0]
    assert one.loc["a1", "finished"] == ds.local_times([B + 1.5]).iloc[0]
    assert (one.loc["a1", "status"], one.loc["a1", "parent"], one.loc["a1", "seq"]) == ("succeeded", "cell-1", 2)
    assert one.loc["a2", "error"] == "ValueError: bad" and one.loc["a2", "status"] == "failed"
    assert one.loc["a3", "status"] == "started" and pd.isna(one.loc["a3", "duration"])
    assert pd.isna(one.loc["a3", "finished"]) and one.loc["a3", "result"] is None
    assert one.loc["cell-1", "fields"] == {"execution_count": 1, "cell_id": "c1", "code": "run()"}
    assert pd.isna(one.loc["cell-1", "seq"]) and one.loc["cell-1", "cell"] == CELL
    assert (one.loc["a4", "worker"], one.loc["a4", "task"], one.loc["a4", "hostname"]) == (
        "tcp://w1", "report-1", "host-b")
    assert data.actions(limit=2)["action"].tolist() == ["a3", "a4"]  # the newest, oldest first


def test_each_action_filter(data: ds.Dataset) -> None:
    assert ids(data, type="pa*") == ["a2"]
    assert ids(data, type=["load", "save"]) == ["a1", "a3"]
    assert ids(data, logger="load") == ["a1"]  # get()'s name for the type
    assert ids(data, status="failed") == ["a2"]
    assert ids(data, status="started") == ["a3"]
    assert ids(data, status=["succeeded"]) == ["cell-1", "a1", "a4"]
    assert ids(data, parent="") == ["cell-1", "a4"]
    assert ids(data, parent="cell-1") == ["a1", "a3"]
    assert ids(data, action="a1") == ["a1", "a2"]  # it and what ran inside it
    assert ids(data, action="cell-1") == ["cell-1", "a1", "a2", "a3"]
    assert ids(data, cell="1") == ids(data, cell=1) == ids(data, cell="c1") == ids(data, cell=CELL) \
        == ["cell-1", "a1", "a2", "a3"]
    assert ids(data, cell="") == ["a4"]
    assert ids(data, task="report-*") == ["a4"]
    assert ids(data, worker="tcp://w1") == ["a4"]
    assert ids(data, hostname="host-b") == ["a4"]
    assert ids(data, since=B + 1.1) == ["a2", "a3", "a4"]
    assert ids(data, until=B + 1) == ["cell-1"]
    assert ids(data, level="WARNING") == ["a4"]  # its start row's level; a cell has no row
    assert ids(data, source="action") == ["a1", "a2", "a3", "a4"]
    assert ids(data, text="REPORT started") == ["a4"]  # the start row's message
    assert ids(data, text="bad") == ["a2"]  # the error
    assert ids(data, min_duration=1) == ["cell-1", "a4"]
    assert ids(data, min_duration="200ms") == ["cell-1", "a1", "a4"]
    assert ids(data, min_duration="2.2s") == ["a4"]
    assert ids(data, min_duration=timedelta(milliseconds=50)) == ["cell-1", "a1", "a2", "a4"]
    assert ids(data, type="*", status="succeeded", parent="cell-1") == ["a1"]  # AND
    assert data.filter(cell="1").actions()["action"].tolist() == ["cell-1", "a1", "a2", "a3"]  # the view's filter


def test_unknown_and_bad_action_filters_say_what_is_valid(data: ds.Dataset) -> None:
    with pytest.raises(ValueError, match="unknown actions\\(\\) filter 'kind'") as raised:
        data.actions(kind="load")
    assert all(name in str(raised.value) for name in ACTION_FILTERS)
    with pytest.raises(ValueError, match="unknown actions\\(\\) filter 'duration'"):
        data.tree(duration=1)
    with pytest.raises(ValueError, match="status: unknown value 'done'"):
        data.actions(status="done")
    with pytest.raises(ValueError, match="min_duration: cannot read '10 parsecs'"):
        data.actions(min_duration="10 parsecs")
    with pytest.raises(ValueError, match="min_duration must be a finite duration >= 0"):
        data.actions(min_duration=-1)
    with pytest.raises(ValueError, match="unknown filter 'type'"):  # a row filter it is not
        data.get(type="load")


# ---------------------------------------------------------------- tree()


def test_tree_nests_three_levels_by_start(data: ds.Dataset) -> None:
    tree = data.tree()
    assert isinstance(tree, ActionTree) and len(tree) == 5 and not tree.truncated
    cell, report = tree.roots
    assert (cell["action"], report["action"]) == ("cell-1", "a4")
    assert [c["action"] for c in cell["children"]] == ["a1", "a3"]
    assert [c["action"] for c in cell["children"][0]["children"]] == ["a2"]


def test_a_failed_action_marks_its_chain_to_the_root(data: ds.Dataset) -> None:
    marked = {node["action"]: node["failed_chain"] for node, _depth, _last in data.tree().walk()}
    assert marked == {"cell-1": True, "a1": True, "a2": True, "a3": False, "a4": False}


def test_the_text_is_eliot_tree_like(data: ds.Dataset) -> None:
    assert data.tree().lines() == [
        "cell-1",
        '└── cell/SUCCEEDED  ⧖ 2.000s  execution_count=1, cell_id="c1", code="run()"',
        '    ├── load/SUCCEEDED  ⧖ 0.500s  path="x.csv" → 10',
        '    │   └── parse/FAILED  ⧖ 0.100s  text="x"  ✗ ValueError: bad',
        '    └── save/STARTED  n=2',
        "",
        "a4",
        "└── report/SUCCEEDED  ⧖ 2.500s",
    ]
    assert str(data.tree()) == "\n".join(data.tree().lines())


def test_a_tree_holds_the_matches_what_is_inside_them_and_the_chain_above(data: ds.Dataset) -> None:
    def shown(tree: ActionTree) -> list[str]:
        return [node["action"] for node, _depth, _last in tree.walk()]

    assert shown(data.tree(status="failed")) == ["cell-1", "a1", "a2"]  # the chain to its root
    assert shown(data.tree(type="load")) == ["cell-1", "a1", "a2"]  # and what ran inside
    assert shown(data.tree(parent="")) == ["cell-1", "a1", "a2", "a3", "a4"]
    assert shown(data.tree(type="nothing")) == [] and data.tree(type="nothing").lines() == ["no matching actions"]


def test_the_bundle_is_the_tree_json(data: ds.Dataset) -> None:
    bundle = data.tree()._repr_mimebundle_()
    assert set(bundle) == {MIME_TYPE, "text/html", "text/plain"}
    tree = json.loads(json.dumps(bundle[MIME_TYPE], allow_nan=False))
    assert (tree["version"], tree["total"], tree["truncated"]) == (1, 5, False)
    cell = tree["nodes"][0]
    assert list(cell) == ["action", "parent", "type", "status", "started", "duration", "fields", "result",
                          "error", "task", "worker", "cell", "children", "failed_chain"]
    assert (cell["action"], cell["started"], cell["duration"], cell["failed_chain"]) == ("cell-1", B + 0.5, 2.0, True)
    load = cell["children"][0]
    assert (load["type"], load["result"], load["fields"]) == ("load", 10, {"path": "x.csv"})
    parse = load["children"][0]
    assert (parse["status"], parse["error"], parse["children"], parse["parent"]) == ("failed", "ValueError: bad", [], "a1")
    assert tree["nodes"][1]["worker"] == "tcp://w1" and tree["nodes"][1]["failed_chain"] is False
    assert bundle["text/plain"] == str(data.tree())
    only = data.tree()._repr_mimebundle_(include=["text/plain"])
    assert list(only) == ["text/plain"]


def test_the_html_escapes_every_piece_of_log_text(tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    path = write_actions(tmp_path / "x.sqlite", [
        _start(B, evil, "x1", "", {evil: evil}),
        _start(B + 1, "inner", "x2", "x1", {}),
        _end(B + 2, "inner", "x2", "failed", 1.0, error=f'ValueError: <img src=x onerror="{evil}">'),
        _end(B + 3, evil, "x1", "succeeded", 3.0, result=evil),
    ])
    page = ds.Dataset(path).tree()._repr_mimebundle_()["text/html"]
    assert "<script" not in page and "<img" not in page and 'onerror="' not in page
    assert page.count(html.escape(evil)) >= 3  # type, field name and value, result
    assert html.escape('<img src=x onerror="', quote=True) in page
    assert page.count("<li") == 2 and page.count("</li>") == 2 and page.count("<ul") == page.count("</ul>") == 2
    assert "color:#b00020;font-weight:bold" in page  # the failed action, marked


def test_a_large_tree_is_cut_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "big.sqlite"
    write_actions(path, [_row(B, "one row")], [
        ("start", "root", "", "batch", B, None, "", "", "", "host-a", 42, "MainThread", None),
        *(("start", f"c{i:05d}", "root", "item", B + 1 + i / 1e4, json.dumps({"i": i}), "", "", "", "host-a", 42,
           "MainThread", None) for i in range(MAX_NODES + 50)),
    ])
    tree = ds.Dataset(path).tree()
    assert (len(tree), tree.total, tree.truncated) == (MAX_NODES, MAX_NODES + 51, True)
    bundle = tree._repr_mimebundle_()
    assert bundle[MIME_TYPE]["truncated"] is True and bundle[MIME_TYPE]["total"] == MAX_NODES + 51
    assert len(bundle[MIME_TYPE]["nodes"][0]["children"]) == MAX_NODES - 1
    lines = tree.lines()
    assert lines[1] == "└── batch/STARTED  (+51 inside not shown)"
    assert lines[-1].startswith("… truncated: 10,000 of 10,051 actions shown")
    assert "truncated: 10,000 of 10,051" in bundle["text/html"]


# ---------------------------------------------------------------- to_eliot()


def test_to_eliot_is_rendered_by_eliot_tree(data: ds.Dataset, tmp_path: Path) -> None:
    target = tmp_path / "eliot.log"
    assert data.to_eliot(target) == 11  # 2 messages a finished action, 1 the running one, 2 rows
    messages = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    levels = {(m["task_uuid"], m.get("action_type") or m["message_type"], m.get("action_status", "")): m["task_level"]
              for m in messages}
    assert levels == {
        ("cell-1", "cell", "started"): [1],
        ("cell-1", "load", "started"): [2, 1],
        ("cell-1", "app", ""): levels[("cell-1", "app", "")],
        ("cell-1", "parse", "started"): [2, 3, 1],
        ("cell-1", "parse", "failed"): [2, 3, 3],
        ("cell-1", "load", "succeeded"): [2, 4],
        ("cell-1", "save", "started"): [3, 1],
        ("cell-1", "cell", "succeeded"): [4],
        ("a4", "report", "started"): [1],
        ("a4", "report", "succeeded"): [2],
    }
    rows = {m["message"]: m["task_level"] for m in messages if "message_type" in m}
    assert rows == {"loaded header": [2, 2], "parsing x": [2, 3, 2]}
    failed = next(m for m in messages if m.get("action_status") == "failed")
    assert (failed["exception"], failed["reason"], failed["timestamp"]) == ("ValueError", "bad", B + 1.3)
    assert next(m for m in messages if m.get("action_type") == "load" and m["action_status"] == "started")["path"] == "x.csv"

    text, errors = eliot_tree_text(messages)
    assert errors == []  # eliot-tree formatted every node and value
    lines = text.splitlines()

    def line_of(needle: str) -> str:
        return next(line for line in lines if needle in line)

    def depth(line: str) -> int:
        return len(line) - len(line.lstrip(" │├└─"))

    assert "cell-1" in text and "a4" in text
    assert depth(line_of("cell/1 ⇒ started")) < depth(line_of("load/2/1 ⇒ started")) \
        < depth(line_of("parse/2/3/1 ⇒ started"))
    assert "parse/2/3/3 ⇒ failed" in text and "ValueError" in text and "save/3/1 ⇒ started" in text
    assert "app/2/3/2" in text and "parsing x" in text  # a row inside parse, as a message
    assert "report/1 ⇒ started" in text and "report/2 ⇒ succeeded" in text


def test_to_eliot_takes_filters_and_an_open_file(data: ds.Dataset) -> None:
    out = io.StringIO()
    assert data.to_eliot(out, type="report") == 2
    assert [json.loads(line)["action_type"] for line in out.getvalue().splitlines()] == ["report", "report"]
    with pytest.raises(ValueError, match="unknown actions\\(\\) filter 'limit'"):
        data.to_eliot(io.StringIO(), limit=3)


# ---------------------------------------------------------------- get(action=, cell=)


def test_get_action_holds_the_rows_of_every_action_below_it(data: ds.Dataset) -> None:
    assert seqs(data, action="a2") == [4, 5, 6]
    assert seqs(data, action="a1") == [2, 3, 4, 5, 6, 7]
    assert seqs(data, action="cell-1") == [2, 3, 4, 5, 6, 7, 8]
    assert seqs(data, action=["a2", "a4"]) == [4, 5, 6, 9, 10]
    assert seqs(data, action="a1", level="WARNING") == [5, 6]
    assert seqs(data, action="nothing") == []
    assert data.count(action="a1") == 6
    assert [r["seq"] for r in data.page()["rows"]] == list(range(1, 13))
    assert [r["seq"] for r in data.filter(action="a2").page()["rows"]] == [4, 5, 6]
    assert query.seq_index(data.path, {"action": "a1"}, every=2)["seqs"] == [2, 4, 6]


def test_get_cell_matches_the_execution_count_or_the_cell_id(data: ds.Dataset) -> None:
    in_cell_1 = [2, 3, 4, 5, 6, 7, 8]
    assert seqs(data, cell="1") == seqs(data, cell=1) == seqs(data, cell="c1") == seqs(data, cell=CELL) == in_cell_1
    assert seqs(data, cell="12") == seqs(data, cell="c12") == [11]  # "1" is not "12"
    assert seqs(data, cell="2") == [12]
    assert seqs(data, cell=["2", "12"]) == [11, 12]
    assert seqs(data, cell="1:other") == []
    assert seqs(data, cell="") == [1, 9, 10]


def test_a_store_from_before_actions_reads_as_having_none(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    older = [name for name in (c.name for c in COLUMNS) if name not in ("action", "cell")]
    conn.execute(f"CREATE TABLE rows({', '.join(older)})")
    conn.execute(f"INSERT INTO rows(seq, created, level, levelno, source, logger, msg) VALUES (1, {B}, 'INFO', 20,"
                 " 'user', 'app', 'old row')")
    conn.commit()
    conn.close()
    old = ds.Dataset(path)
    frame = old.actions(type="*")
    assert tuple(frame.columns) == ACTION_NAMES and len(frame) == 0
    assert frame["started"].dt.tz is not None and frame["duration"].dtype == "float64"
    assert old.get(action="a1").empty and old.get(cell="1").empty and old.count(action="a1") == 0
    assert old.get()["msg"].tolist() == ["old row"] and old.get()["action"].isna().all()
    assert old.tree().lines() == ["no matching actions"] and len(old.tree()) == 0
    out = io.StringIO()
    assert old.to_eliot(out) == 0 and out.getvalue() == ""


def test_a_store_with_the_columns_but_no_actions_table_matches_the_named_action(tmp_path: Path) -> None:
    path = write_actions(tmp_path / "half.sqlite", ROWS)
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DROP TABLE actions")
    conn.close()
    half = ds.Dataset(path)
    with query.connection(path) as read:
        assert not action_query.has_actions(read)
    assert seqs(half, action="a2") == [4, 5, 6] and seqs(half, action="a1") == [2, 3, 7]  # no nesting known
    assert half.actions().empty and len(half.tree()) == 0
    assert seqs(half, cell="c1") == [2, 3, 4, 5, 6, 7, 8]


# ---------------------------------------------------------------- with the real writer


def test_actions_recorded_by_the_runtime_read_back_as_a_tree(fresh_runtime: Any, tmp_path: Path) -> None:
    """ts.action and ts.log_call in a live session, read by actions(), tree(), get(action=)."""
    import taskscope as ts

    @ts.log_call
    def double(x: int) -> int:
        ts.logger.getLogger("views.live").info("doubling %d", x)
        return 2 * x

    ts.start()
    try:
        with ts.action("outer", n=2):
            double(3)
            with pytest.raises(KeyError):
                with ts.action("lookup", key="k"):
                    raise KeyError("k")
        data = ts.logger.dataset
        frame = data.actions(type=["outer", "*double", "lookup"])
        assert frame["type"].str.rpartition(".")[2].tolist() == ["outer", "double", "lookup"]
        outer, dbl, lookup = frame["action"].tolist()
        assert frame["parent"].tolist()[1:] == [outer, outer]
        assert frame["status"].tolist() == ["succeeded", "succeeded", "failed"]  # pytest.raises kept outer
        assert frame["result"].iloc[1] == 6 and frame["error"].iloc[2].startswith("KeyError")
        assert data.get(action=dbl, source="user")["msg"].tolist() == ["doubling 3"]
        assert "doubling 3" in data.get(action=outer)["msg"].tolist()
        tree = data.tree(type="lookup")
        chain = [(node["type"], node["failed_chain"]) for node, _depth, _last in tree.walk()]
        assert chain[-2:] == [("outer", True), ("lookup", True)]
        out = io.StringIO()
        data.to_eliot(out, action=outer)
        drawing, errors = eliot_tree_text([json.loads(line) for line in out.getvalue().splitlines()])
        assert errors == [] and drawing.count("\n└── ") == 1  # one root, the two actions and the row below it
    finally:
        ts.stop()
