"""The kernel end of the comm bridge: target ``taskscope``, JSON messages with an ``op``.

The front end runs ``taskscope.bridge.register()`` silently, then opens a comm to the
target. Requests are answered on the shell thread; status is pushed to every open comm
by one pusher thread, at most ``MAX_PUSH_RATE`` times a second however many rows arrive,
each push numbered so a front end that missed one asks for ``status`` again
(docs/protocol.md). Handlers never raise into the kernel: a bad message gets ``error``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from ..runtime import clear, start, status, stop, store_path, subscribe
from .._version import __version__
from ..store import action_query, query

TARGET = "taskscope"
PROTOCOL_VERSION = 1
#: Status pushes a second at most, far below the server's IOPub limit (1000 msgs/s).
MAX_PUSH_RATE = 10.0
#: Seconds between checks that catch state changed outside the bridge (``ts.start()`` in a cell).
HEARTBEAT = 1.0

_log = logging.getLogger("taskscope.bridge")

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class _Pusher:
    """Sends status to the open comms from one daemon thread, throttled and numbered."""

    def __init__(self) -> None:
        self.comms: list[Any] = []
        self.seq = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: dict[str, Any] | None = None

    def add(self, comm: Any) -> None:
        with self._lock:
            self.comms.append(comm)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="taskscope-bridge", daemon=True)
                self._thread.start()
        subscribe(self.on_batch)

    def remove(self, comm: Any) -> None:
        with self._lock:
            if comm in self.comms:
                self.comms.remove(comm)

    def on_batch(self, first_seq: int, last_seq: int, counts: Any) -> None:
        """Runs on the writer thread after each commit: only wake the pusher."""
        self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    def status_message(self, push: bool = False) -> dict[str, Any]:
        """A status message; only pushes advance ``seq``, so every comm sees 1, 2, 3...
        and a gap means a push was lost. Replies carry the current ``seq``."""
        with self._lock:
            if push:
                self.seq += 1
            seq = self.seq
        return {"op": "status", "version": PROTOCOL_VERSION, "seq": seq, "status": _status()}

    def _run(self) -> None:
        interval = 1.0 / MAX_PUSH_RATE
        while True:
            woken = self._wake.wait(HEARTBEAT)
            self._wake.clear()
            with self._lock:
                comms = list(self.comms)
            if not comms:
                continue
            state = _status()
            if not woken and state == self._last:
                continue
            self._last = state
            message = self.status_message(push=True)
            message["status"] = state
            for comm in comms:
                _send(comm, message)
            self._wake.wait(0)  # keep a wake that came in while sending
            threading.Event().wait(interval)


_pusher = _Pusher()


def _status() -> dict[str, Any]:
    """status() without the parts that change on every call."""
    state = status()
    state.pop("queued", None)
    return state


def _send(comm: Any, message: dict[str, Any]) -> None:
    try:
        comm.send(message)
    except Exception:  # a closed comm or a kernel shutting down: nothing to tell
        _log.debug("taskscope could not send on a comm", exc_info=True)


def _hello(msg: dict[str, Any]) -> dict[str, Any]:
    state = _status()
    return {
        "op": "hello", "taskscope_version": __version__, "recording": state["recording"],
        "status": state, "seq": _pusher.seq,
    }


def _status_op(msg: dict[str, Any]) -> dict[str, Any]:
    return _pusher.status_message()


def _options(msg: dict[str, Any]) -> dict[str, Any]:
    options = msg.get("options", {})
    if not isinstance(options, dict):
        raise ValueError("options must be an object")
    return options


def _start(msg: dict[str, Any]) -> dict[str, Any]:
    start(**_options(msg))
    _pusher.poke()
    return _pusher.status_message()


def _stop(msg: dict[str, Any]) -> dict[str, Any]:
    stop()
    _pusher.poke()
    return _pusher.status_message()


def _clear(msg: dict[str, Any]) -> dict[str, Any]:
    clear()
    _pusher.poke()
    return _pusher.status_message()


def _cursor(msg: dict[str, Any], name: str) -> int | None:
    value = msg.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer or null")
    return value


def _filters(msg: dict[str, Any]) -> dict[str, Any]:
    """The request's filter, checked: a bad one is an error even before anything is stored."""
    filters = msg.get("filter", {})
    if not isinstance(filters, dict):
        raise ValueError("filter must be an object")
    query.where(filters)
    return filters


def _query(msg: dict[str, Any]) -> dict[str, Any]:
    filters = _filters(msg)
    after, before = _cursor(msg, "after_seq"), _cursor(msg, "before_seq")
    limit = query.check_limit(msg.get("limit", 500), maximum=query.MAX_PAGE_ROWS)
    # No flush here: a page must never wait on the writer; rows committed later are
    # announced by the status push and fetched with after_seq.
    path = store_path()
    with_total = msg.get("with_total", True)
    if not isinstance(with_total, bool):
        raise ValueError("with_total must be a boolean")
    in_action = msg.get("in_action")
    if in_action is not None:
        query.direct_rows_clause(in_action)  # checked before anything is read
    if path is None or not path.exists():  # never started, or the writer has not opened it yet
        return {"op": "rows", **query.empty_page(with_total)}
    page = query.query_page(
        path, filters, after_seq=after, before_seq=before, limit=limit,
        newest_first=bool(msg.get("newest_first", False)), with_total=with_total, in_action=in_action,
    )
    return {"op": "rows", **page}


def _index(msg: dict[str, Any]) -> dict[str, Any]:
    """Block starts for a view that shows rows by position (query.seq_index)."""
    filters = _filters(msg)
    every, skip = msg.get("every"), msg.get("skip", 0)
    for name, value, least in (("every", every, 1), ("skip", skip, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}")
    after = _cursor(msg, "after_seq")
    path = store_path()
    if path is None or not path.exists():
        path = None  # seq_index answers "nothing stored" for a store that is not there yet
    return {"op": "index", **query.seq_index(path, filters, every, after_seq=after, skip=skip)}


def _actions(msg: dict[str, Any]) -> dict[str, Any]:
    """One page of the actions directly inside ``parent`` (action_query.action_page)."""
    parent, filters = msg.get("parent"), msg.get("filter", {})
    sort, descending = msg.get("sort", "started"), msg.get("descending", False)
    offset, limit = msg.get("offset", 0), msg.get("limit", 500)
    action_query.check_page(parent, filters, sort, descending, offset, limit)
    reply = {"op": "actions", "parent": parent, "offset": offset, "actions": [], "total": 0}
    path = store_path()
    if path is None or not path.exists():
        return reply
    with query.connection(path) as conn:
        page = action_query.action_page(conn, parent, filters, sort, descending, offset, limit)
    return {**reply, **page}


_HANDLERS: dict[str, Handler] = {
    "hello": _hello, "status": _status_op, "start": _start, "stop": _stop,
    "clear": _clear, "query": _query, "index": _index, "actions": _actions,
}


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
        _send(comm, handle(msg.get("content", {}).get("data")))

    def on_close(msg: dict[str, Any]) -> None:
        _pusher.remove(comm)

    comm.on_msg(on_msg)
    comm.on_close(on_close)
    _keep_requests_on_their_subshell(comm)
    _send(comm, handle({"op": "hello"}))
    _pusher.add(comm)


def _keep_requests_on_their_subshell(comm: Any) -> None:
    """Let each request run on the subshell the front end sent it to.

    JupyterLab sends a comm target's messages on a subshell of their own, so that a toggle
    works while a long cell runs. ipykernel 7 instead routes a comm's messages to the
    subshell it last published from; our pushes publish from the pusher thread with the
    main shell's parent, which would send every later request to the busy main shell.
    """
    comm._reply_subshell_for = lambda data, default: default


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
