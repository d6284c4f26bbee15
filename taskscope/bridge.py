"""The kernel end of the comm bridge: target ``taskscope``, JSON messages with an ``op``.

The front end runs ``taskscope.bridge.register()`` silently, then opens a comm to the
target. Handlers never raise into the kernel: a bad message gets an ``error`` reply.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from ._version import __version__

TARGET = "taskscope"
PROTOCOL_VERSION = 1

_log = logging.getLogger("taskscope.bridge")

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _hello(msg: dict[str, Any]) -> dict[str, Any]:
    return {"op": "hello", "taskscope_version": __version__, "recording": False}


_HANDLERS: dict[str, Handler] = {"hello": _hello}


def error_reply(message: str, request: Any = None) -> dict[str, Any]:
    """An ``error`` op naming what was wrong with the request."""
    reply: dict[str, Any] = {"op": "error", "version": PROTOCOL_VERSION, "message": message}
    if isinstance(request, dict) and "id" in request:
        reply["id"] = request["id"]
    return reply


def handle(msg: Any) -> dict[str, Any]:
    """Answer one front-end message; never raises."""
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        return error_reply("message must be an object with a string 'op'", msg)
    handler = _HANDLERS.get(msg["op"])
    if handler is None:
        return error_reply(f"unknown op {msg['op']!r}", msg)
    try:
        reply = handler(msg)
    except Exception as exc:  # the bridge must never take the kernel down
        _log.debug("taskscope bridge handler failed", exc_info=True)
        return error_reply(f"{type(exc).__name__}: {exc}", msg)
    reply["version"] = PROTOCOL_VERSION
    if "id" in msg:
        reply["id"] = msg["id"]
    return reply


def _on_open(comm: Any, open_msg: dict[str, Any]) -> None:
    def on_msg(msg: dict[str, Any]) -> None:
        comm.send(handle(msg.get("content", {}).get("data")))

    comm.on_msg(on_msg)
    comm.send(handle({"op": "hello"}))


def register(kernel: Any = None) -> bool:
    """Register the comm target in this kernel; idempotent. False outside a kernel."""
    if kernel is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
        kernel = getattr(shell, "kernel", None)
    manager = getattr(kernel, "comm_manager", None)
    if manager is None:
        return False
    manager.register_target(TARGET, _on_open)
    return True
