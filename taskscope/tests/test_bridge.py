"""The kernel end of the comm protocol, checked against the examples the jest suite also checks."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from taskscope import bridge
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
