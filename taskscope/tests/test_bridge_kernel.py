"""The bridge in a real ipykernel: requests sent on a subshell are answered while the main
shell runs a long cell (JupyterLab sends a comm target's messages on a subshell)."""

from __future__ import annotations

import queue
import time
import uuid
from typing import Any

from taskscope.tests.conftest import Kernel


def _send(kernel: Kernel, channel: Any, msg_type: str, content: dict[str, Any],
          subshell_id: str | None = None) -> str:
    msg = kernel.client.session.msg(msg_type, content)
    if subshell_id is not None:
        msg["header"]["subshell_id"] = subshell_id
    channel.send(msg)
    return msg["header"]["msg_id"]


def _iopub_until(kernel: Kernel, done: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """IOPub messages in arrival order, up to and including the first that ``done`` accepts."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            msg = kernel.client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        seen.append(msg)
        if done(msg):
            return seen
    raise TimeoutError("the awaited IOPub message did not come")


def test_start_on_a_subshell_is_answered_while_a_long_cell_runs(kernel: Kernel) -> None:
    kernel.run_ok("import taskscope.bridge as b; b.register()")
    _send(kernel, kernel.client.control_channel, "create_subshell_request", {})
    subshell = kernel.client.get_control_msg(timeout=30)["content"]["subshell_id"]
    comm_id = uuid.uuid4().hex
    _send(kernel, kernel.client.shell_channel, "comm_open",
          {"comm_id": comm_id, "target_name": "taskscope", "data": {"op": "hello"}})
    _iopub_until(kernel, lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"]["op"] == "hello")
    # a push from the pusher thread: the case that used to pull later requests to the main shell
    _iopub_until(kernel, lambda m: m["msg_type"] == "comm_msg" and m["content"]["data"]["op"] == "status")

    cell = kernel.client.execute("import time; time.sleep(3)")
    _iopub_until(kernel, lambda m: m["msg_type"] == "execute_input" and m["parent_header"].get("msg_id") == cell)
    _send(kernel, kernel.client.shell_channel, "comm_msg",
          {"comm_id": comm_id, "data": {"op": "start", "id": 1}}, subshell_id=subshell)
    seen = _iopub_until(
        kernel, lambda m: m["msg_type"] == "status" and m["parent_header"].get("msg_id") == cell
        and m["content"]["execution_state"] == "idle")
    replies = [i for i, m in enumerate(seen)
               if m["msg_type"] == "comm_msg" and m["content"]["data"].get("id") == 1]
    assert replies, "no reply to start while the cell ran"
    assert seen[replies[0]]["content"]["data"]["status"]["recording"] is True
    # answered before the main shell went idle: it did not wait for the cell
    assert replies[0] < len(seen) - 1
    kernel.run_ok("import taskscope; taskscope.stop()")
