"""The kernel end of the comm protocol, checked against the examples the jest suite also checks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from taskscope.frontend import bridge
from taskscope._version import __version__

EXAMPLES = json.loads(
    (Path(__file__).resolve().parents[2] / "docs" / "protocol-examples.json").read_text()
)
PLACEHOLDERS: dict[str, Any] = {"<string>": str, "<boolean>": bool, "<integer>": int}
STATUS_KEYS = {"recording", "rows", "rate", "dropped", "levels", "sources", "store", "session_id", "error"}


def matches(actual: Any, expected: Any) -> bool:
    """Whether a reply matches an example, where placeholders stand for any value of a type."""
    if expected == "<status>":
        return isinstance(actual, dict) and STATUS_KEYS <= actual.keys() and isinstance(actual["recording"], bool)
    if isinstance(expected, str) and expected in PLACEHOLDERS:
        kind = PLACEHOLDERS[expected]
        return isinstance(actual, kind) and not (kind is int and isinstance(actual, bool))
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) and all(
            matches(a, e) for a, e in zip(actual, expected))
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(matches(actual[k], v) for k, v in expected.items())
        )
    return actual == expected and type(actual) is type(expected)


@pytest.mark.parametrize("exchange", EXAMPLES["exchanges"], ids=lambda e: e["name"])
def test_examples(exchange: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKSCOPE_HOME", str(tmp_path))
    reply = bridge.handle(exchange["request"])
    assert matches(reply, exchange["reply"]), reply
    json.dumps(reply)  # every reply is JSON


def test_hello_names_this_version() -> None:
    assert bridge.handle({"op": "hello"})["taskscope_version"] == __version__


def test_failing_handler_becomes_error_reply(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(msg: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("handler broke")

    monkeypatch.setitem(bridge._HANDLERS, "boom", boom)
    reply = bridge.handle({"op": "boom", "id": 9})
    assert reply["op"] == "error" and reply["id"] == 9
    assert "handler broke" in reply["message"]


def test_register_outside_a_kernel_is_false() -> None:
    assert bridge.register() is False


def test_matcher_rejects_wrong_types() -> None:
    assert not matches({"op": "hello", "recording": "yes"}, {"op": "hello", "recording": "<boolean>"})
    assert not matches({"op": "hello"}, {"op": "hello", "version": 1})
    assert not matches(True, 1)


def test_status_tells_the_newest_seq_across_stop_and_start(fresh_runtime: Any) -> None:
    from taskscope import runtime

    runtime.start(streams=False)
    logging.getLogger("bridge.test").warning("one")
    runtime.flush()
    first = runtime.status()["last_seq"]
    runtime.stop()
    runtime.start(streams=False)
    runtime.flush()
    again = bridge.handle({"op": "status"})["status"]["last_seq"]
    runtime.stop()
    assert first >= 2  # "started" and our warning
    assert again > first  # the store's numbering went on, and status says so


def test_query_without_total_and_index_ops_page_the_live_store(fresh_runtime: Any) -> None:
    """The log panel's two reads: block starts by position (index), blocks without a count."""
    from taskscope import runtime

    runtime.start(streams=False)
    log = logging.getLogger("bridge.index")
    for i in range(25):
        (log.warning if i % 5 == 0 else log.info)("row %d", i)
    runtime.flush()
    last = runtime.status()["last_seq"]

    dense = bridge.handle({"op": "index", "id": 1, "every": 10})
    assert dense["op"] == "index" and dense["id"] == 1 and dense["dense"] is True
    assert dense["seqs"] == [] and dense["last_seq"] == last
    assert dense["count"] == last - dense["first_seq"] + 1

    warnings = bridge.handle({"op": "index", "filter": {"logger": "bridge.*", "level": "WARNING"}, "every": 2})
    page = bridge.handle({"op": "query", "filter": {"logger": "bridge.*", "level": "WARNING"},
                          "after_seq": warnings["seqs"][1] - 1, "limit": 2, "with_total": False})
    assert page["op"] == "rows" and page["total"] is None
    assert [r["msg"] for r in page["rows"]] == ["row 10", "row 15"]
    assert warnings["count"] == 5 and warnings["dense"] is False and len(warnings["seqs"]) == 3

    tail = bridge.handle({"op": "index", "filter": {"logger": "bridge.*"}, "every": 10,
                          "after_seq": page["rows"][0]["seq"], "skip": 3})
    assert tail["count"] == 14 and len(tail["seqs"]) == 2  # rows 11..24; numbers 3 and 13
    assert bridge.handle({"op": "query", "limit": 1})["total"] == runtime.status()["rows"]
    runtime.stop()


@pytest.mark.parametrize(
    "request_",
    [{"op": "index"}, {"op": "index", "every": 0}, {"op": "index", "every": 5, "skip": -1},
     {"op": "index", "every": True}, {"op": "index", "every": 5, "after_seq": "x"},
     {"op": "index", "every": 5, "filter": {"lvl": 1}}, {"op": "index", "every": 5, "filter": []},
     {"op": "query", "with_total": "no"}],
)
def test_index_and_with_total_reject_bad_fields(request_: dict[str, Any]) -> None:
    reply = bridge.handle({**request_, "id": 3})
    assert reply["op"] == "error" and reply["id"] == 3
