"""Dask distributed: the logs, prints and warnings of every worker's tasks as rows.

    import taskscope as ts
    ts.start()
    client = distributed.Client()      # attached at once (see below)
    client.map(work, range(100))       # each task's logging/print/warnings -> rows
    ts.attach(other_client)            # by hand, for a client made before start()
    ts.detach(other_client)

What attaching does (:func:`attach`):

1. A scheduler plugin (``TopicJanitor``, sent by value: the scheduler needs no taskscope)
   subscribes this client to a topic private to this attachment (``taskscope-<random>``),
   empties that topic's event log as each event is delivered (the scheduler keeps the last
   1000 events of every topic; ours then holds none, and no other client can read them
   with ``get_events``), and tells us when a worker leaves.
2. A worker plugin (:class:`WorkerCapture`) installs capture in every worker process:
   present ones, later joiners and workers a nanny restarted. Each worker's rows go in
   batches (every ``flush_interval`` or ``batch_size`` rows, zlib-compressed msgpack) through
   ``worker.log_event(topic, ...)`` to the scheduler, which forwards them to this client.
3. ``client.subscribe_topic(topic, handler)``: the handler runs on the client's event
   loop and only decodes and queues (:class:`taskscope.remote.inbox.Inbox`).

Automatic attach: ``start()`` attaches the default client if there is one, and adds this
module to Dask's ``distributed.client.preload`` config (a documented Dask hook that runs
``dask_setup(client)`` inside every ``Client`` as it starts, before the constructor
returns; if dask is not imported yet, as soon as its config is), so every client made
while recording is attached before it can submit work. ``dask_teardown`` detaches it
as it closes; ``stop()`` detaches every client.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

from distributed.diagnostics.plugin import SchedulerPlugin, WorkerPlugin
from distributed.protocol.pickle import dumps

from ..record.rows import HOSTNAME
from ..record.sources import mark_user_logger, on_mark
from ..session import session as sessions
from ..writer.quiet import quiet
from .console import CONSOLE
from .dask_actions import TaskActions, trace_submissions, untrace_submissions
from .emitter import BatchSink, RemoteCapture, TaskTag, life_item, traceback_detail
from .inbox import Inbox
from .options import for_session

__all__ = ["WorkerCapture", "attach", "attached", "dask_setup", "dask_teardown", "detach"]

#: How long attach/detach wait for the scheduler and workers before they give up.
TIMEOUT = 10.0

# --- the worker side -----------------------------------------------------------------------

try:
    from distributed.worker import thread_state as _thread_state
except ImportError:  # pragma: no cover - older distributed
    from distributed.threadpoolexecutor import thread_state as _thread_state


class DaskSink(BatchSink):
    """Ships a worker's batches with ``worker.log_event(topic, payload)``.

    ``log_event`` must run on the worker's event loop: the writer thread hands each
    message over with ``loop.add_callback``. At most ``max_pending`` messages wait for the
    loop; beyond that a batch is dropped (counted) rather than held.
    """

    kind = "dask"

    def __init__(self, worker: Any, topic: str, max_message: int, max_pending: int = 64) -> None:
        super().__init__(worker.address, max_message)
        self.worker = worker
        self.topic = topic
        self.max_pending = max_pending
        self._handed = 0  # written by the writer thread only
        self._done = 0  # written by the loop only

    def ship(self, payload: bytes, rows: int) -> bool:
        if self._handed - self._done >= self.max_pending:
            return False
        self._handed += 1
        self.worker.loop.add_callback(self._on_loop, payload, rows)
        return True

    def _on_loop(self, payload: bytes, rows: int) -> None:
        """On the worker's event loop: hand the message to the scheduler stream."""
        self._done += 1
        with quiet():
            try:
                stream = self.worker.batched_stream
                if stream is None or stream.comm is None or stream.comm.closed():
                    self._dropped(rows, "not sent: no connection to the scheduler")  # log_event would drop it silently
                    return
                self.worker.log_event(self.topic, payload)
            except Exception as exc:  # noqa: BLE001 - the rows are lost, the worker goes on
                self._dropped(rows, f"not sent: {type(exc).__name__}")


class WorkerCapture(WorkerPlugin):
    """Installs taskscope's capture in a Dask worker process (``setup``), removes it
    (``teardown``) and turns task transitions into lifecycle rows.

    Only plain data is pickled: the topic, the options and which process the kernel is
    (a worker running inside the kernel's own process is captured by the kernel).
    """

    idempotent = False

    def __init__(self, name: str, topic: str, options: Mapping[str, Any], kernel: tuple[str, int]) -> None:
        self.name = name
        self.topic = topic
        self.options = dict(options)
        self.kernel = tuple(kernel)

    def setup(self, worker: Any) -> None:
        self._run_ids: dict[Any, int | None] = {}  # key -> run_id, while it runs here
        self._began: dict[Any, float] = {}
        self._capture: RemoteCapture | None = None
        self._worker = worker
        if (HOSTNAME, os.getpid()) == self.kernel:
            return  # a worker thread in the kernel's process: the kernel's capture has its rows
        sink = DaskSink(worker, self.topic, int(self.options["max_message"]))
        capture = RemoteCapture(sink, self.options, tag=TaskTag(_thread_state, "key", self._run_ids))
        capture.start(f"Dask worker {worker.address}")
        self._capture = capture
        self._lifecycle = bool(self.options.get("lifecycle", True))
        self._actions = TaskActions(_thread_state)
        self._actions.install()

    def teardown(self, worker: Any) -> None:
        capture = getattr(self, "_capture", None)
        self._capture = None
        if capture is not None:
            self._actions.uninstall()
            capture.stop(f"Dask worker {worker.address}")

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        capture = getattr(self, "_capture", None)
        if capture is None or not self._lifecycle:
            return
        try:
            self._transition(capture, key, start, finish)
        except Exception:  # noqa: BLE001 - never disturb the worker's state machine
            pass

    def _transition(self, capture: RemoteCapture, key: Any, start: str, finish: str) -> None:
        if finish == "executing":
            ts = self._worker.state.tasks.get(key)
            run_id = getattr(ts, "run_id", None)
            self._run_ids[key] = run_id
            self._began[key] = time.time()
            where, envelope = self._actions.open(key, run_id, ts)
            capture.life(life_item("started", key, run_id, where=where, envelope=envelope))
            return
        if start not in ("executing", "long-running", "cancelled", "resumed") or key not in self._run_ids:
            return
        if finish in ("long-running", "cancelled", "resumed"):
            return  # still running in its thread
        run_id = self._run_ids.pop(key)
        began = self._began.pop(key, time.time())
        ts = self._worker.state.tasks.get(key)
        duration = _duration(ts, began)
        text = (getattr(ts, "exception_text", "") or "") if finish == "error" else ""
        where, envelope = self._actions.close(key, finish != "memory", text or f"task {finish}")
        if finish == "memory":
            capture.life(life_item("finished", key, run_id, duration=duration, where=where, envelope=envelope))
        elif finish == "error":
            capture.life(life_item(
                "erred", key, run_id, levelno=logging.ERROR, duration=duration, exception=text,
                detail=traceback_detail(text, getattr(ts, "traceback_text", "") or ""),
                where=where, envelope=envelope,
            ))
        elif finish == "rescheduled":
            capture.life(life_item("rescheduled", key, run_id, levelno=logging.WARNING, duration=duration,
                                   where=where, envelope=envelope))
        else:
            capture.life(life_item(f"ended ({finish})", key, run_id, duration=duration,
                                   where=where, envelope=envelope))


def _duration(ts: Any, began: float) -> float:
    """The task's compute time from the worker's start/stop log, else since it began."""
    for entry in reversed(getattr(ts, "startstops", None) or ()):
        if entry.get("action") == "compute":
            return round(float(entry["stop"]) - float(entry["start"]), 6)
    return round(time.time() - began, 6)


# --- the scheduler side (sent by value) -----------------------------------------------------


def _janitor_class() -> type:
    """The scheduler plugin class, made in a function so cloudpickle sends it by value:
    the scheduler needs distributed, not taskscope."""

    class TopicJanitor(SchedulerPlugin):
        """Subscribes our client to our topic, keeps the topic's event log empty, tells
        the topic when a worker leaves, and cleans up when our client goes away."""

        def __init__(self, name: str, topic: str, client_id: str, worker_plugin: str) -> None:
            self.name = name
            self.topic = topic
            self.client_id = client_id
            self.worker_plugin = worker_plugin
            self.control = f"{topic}-control"  # as control_topic(): by value, the scheduler has no taskscope
            self.scheduler: Any = None
            self.runs: dict[Any, int] = {}  # key -> times it went to processing
            self.exits: dict[Any, str] = {}  # key -> stimulus of its last exit from processing

        def transition(self, key: Any, start: str, finish: str, *args: Any, stimulus_id: str = "",
                       **kwargs: Any) -> None:
            """Number the dispatches of each key: the second and later are announced on our
            topic before the task reaches its worker (so before any of its rows)."""
            if finish == "processing":
                runs = self.runs[key] = self.runs.get(key, 0) + 1
                if runs > 1:
                    ts = self.scheduler.tasks.get(key)
                    exit = self.exits.get(key, "")
                    cause = "erred" if exit.startswith("task-erred") else (exit.rsplit("-", 1)[0] or "again")
                    where = getattr(getattr(ts, "processing_on", None), "address", "")
                    self.scheduler.log_event(self.topic, {
                        "taskscope": "attempt", "key": str(key), "run_id": getattr(ts, "run_id", None),
                        "attempt": runs, "cause": cause, "worker": where,
                    })
            elif start == "processing" and finish != "memory":
                self.exits[key] = stimulus_id or ""
            if finish == "forgotten":
                self.runs.pop(key, None)
                self.exits.pop(key, None)

        async def start(self, scheduler: Any) -> None:
            self.scheduler = scheduler
            scheduler.subscribe_topic(self.topic, self.client_id)

        def log_event(self, topic: str, msg: Any) -> None:
            if topic == self.topic:
                self.scheduler._broker.truncate(topic)  # delivered already; keep nothing
            elif topic == self.control:
                # Our kernel's worker plugin with new options (a user logger registered
                # after attach): the workers that join or restart from now on get it.
                self.scheduler._broker.truncate(topic)
                if (isinstance(msg, dict) and msg.get("taskscope") == "plugin"
                        and self.worker_plugin in self.scheduler.worker_plugins):
                    self.scheduler.worker_plugins[self.worker_plugin] = msg["plugin"]
            elif topic == "all" and isinstance(msg, dict) and msg.get("action") == "remove-worker":
                self.scheduler.log_event(self.topic, {
                    "taskscope": "remove-worker",
                    "worker": str(msg.get("worker", "")),
                    "processing": [str(k) for k in list(msg.get("processing-tasks") or ())[:1000]],
                    "expected": bool(msg.get("expected")),
                })

        def remove_client(self, scheduler: Any, client: str) -> None:
            if client == self.client_id:
                asyncio.ensure_future(self._clean_up(scheduler))

        async def _clean_up(self, scheduler: Any) -> None:
            """Our client went away without detaching: stop the capture in the workers,
            let their last messages arrive (dropped: nobody listens), then leave."""
            try:
                if self.worker_plugin in scheduler.worker_plugins:
                    await scheduler.unregister_worker_plugin(None, name=self.worker_plugin)
                await asyncio.sleep(1.0)
            finally:
                scheduler.unsubscribe_topic(self.topic, self.client_id)
                scheduler._broker.truncate(self.topic)
                scheduler.remove_plugin(name=self.name)

    return TopicJanitor


def control_topic(topic: str) -> str:
    """The topic on which the kernel sends its janitor new worker plugin options."""
    return f"{topic}-control"


# --- the kernel side -----------------------------------------------------------------------


class Attachment:
    """One attached client: its topic, plugin names and inbox."""

    def __init__(self, client: Any, options: Mapping[str, Any], auto: bool) -> None:
        token = secrets.token_hex(12)
        self.client = weakref.ref(client)
        self.client_id = client.id
        self.scheduler = _scheduler_address(client)
        self.topic = f"taskscope-{token}"
        self.name = f"taskscope-{token}"
        self.janitor = f"taskscope-janitor-{token}"
        self.options = dict(options)
        self.auto = auto
        self.inbox = Inbox("dask")
        self.janitor_ok = False
        self.workers: list[str] = []

    def handle(self, event: Any) -> None:
        """The topic handler, on the client's event loop: decode and queue, nothing else."""
        try:
            payload = event[1]
            if isinstance(payload, dict):
                kind = payload.get("taskscope")
                if kind == "attempt":
                    self.inbox.new_attempt(payload.get("key"), payload.get("run_id"), payload.get("attempt"),
                                           payload.get("cause"), payload.get("worker"))
                elif kind == "remove-worker":
                    self.inbox.lost_worker(payload["worker"], payload.get("processing", ()),
                                           bool(payload.get("expected")))
                return
            self.inbox.receive(payload)
        except Exception:  # noqa: BLE001 - never raise on the client's loop
            pass


_attachments: dict[str, Attachment] = {}  # by client id

#: A client in these states still talks to its scheduler ("closing": dask_teardown runs then).
_CONNECTED = ("running", "closing")
_lock = threading.RLock()


def attach(client: Any = None, **options: Any) -> Any:
    """Capture the logs, prints and warnings of ``client``'s workers (default: the default client).

    Options (default: the recording session's): ``flush_interval``, ``batch_size``
    (at most 1000), ``queue_size``, ``user_level``, ``library_level``, ``streams``,
    ``warnings``, ``lifecycle`` (task started/finished/erred rows), ``max_message``.
    Returns ``{"attached": True/False, "topic": ..., "workers": [...], "reason": ...}``;
    for an asynchronous client, an awaitable of that. Never raises on a cluster problem
    (a SYSTEM row says what went wrong); raises TypeError/ValueError for bad options.
    """
    client = client if client is not None else _default_client()
    if client is None:
        return {"attached": False, "reason": "no Dask client"}
    merged = for_session(**options)
    if getattr(client, "asynchronous", False):
        return _attach(client, merged, auto=False)
    try:
        return client.sync(_attach, client, merged, False, callback_timeout=2 * TIMEOUT + 5)
    except Exception as exc:  # noqa: BLE001
        _system(f"taskscope could not attach to the Dask client: {type(exc).__name__}: {exc}")
        return {"attached": False, "reason": f"{type(exc).__name__}: {exc}"}


def detach(client: Any = None) -> Any:
    """Remove the capture from ``client``'s workers (their streams and handlers put back),
    after storing every row they sent; the default client when none is given."""
    client = client if client is not None else _default_client()
    if client is None:
        return {"detached": False, "reason": "no Dask client"}
    if getattr(client, "asynchronous", False):
        return _detach(client)
    try:
        return client.sync(_detach, client, callback_timeout=3 * TIMEOUT + 5)
    except Exception as exc:  # noqa: BLE001
        with _lock:
            _attachments.pop(client.id, None)
        return {"detached": False, "reason": f"{type(exc).__name__}: {exc}"}
    finally:
        session = sessions.last()
        if session is not None:
            session.flush()  # what the workers sent is stored when detach() returns


def attached() -> list[dict[str, Any]]:
    """The attached clients: id, scheduler, topic, workers, messages (and their bytes) and rows received."""
    with _lock:
        items = list(_attachments.values())
    return [{
        "client": a.client_id, "scheduler": a.scheduler, "topic": a.topic, "auto": a.auto,
        "workers": list(a.workers), "messages": a.inbox.messages, "bytes": a.inbox.bytes, "rows": a.inbox.rows,
        "lost_messages": a.inbox.lost_messages, "rejected": a.inbox.rejected,
    } for a in items]


async def _attach(client: Any, options: Mapping[str, Any], auto: bool) -> dict[str, Any]:
    if sessions.current() is None:
        return {"attached": False, "reason": "not recording"}
    trace_submissions()  # graphs sent while recording carry the action they were sent in
    with _lock:
        existing = _attachments.get(client.id) or next(
            (a for a in _attachments.values() if a.scheduler == _scheduler_address(client)
             and a.client() is not None and a.client().status == "running"), None)
        if existing is not None:
            return {"attached": True, "topic": existing.topic, "workers": list(existing.workers),
                    "reason": "already attached" + ("" if existing.client_id == client.id
                                                     else f" through client {existing.client_id}")}
        attachment = Attachment(client, options, auto)
        _attachments[client.id] = attachment
    try:
        client.subscribe_topic(attachment.topic, attachment.handle)
        try:
            await client.scheduler.register_scheduler_plugin(
                plugin=dumps(_janitor_class()(attachment.janitor, attachment.topic, client.id, attachment.name)),
                name=attachment.janitor, idempotent=False,
            )
            attachment.janitor_ok = True
        except Exception as exc:  # noqa: BLE001 - rows still flow; the scheduler keeps 1000 events
            _system(f"taskscope: the scheduler refused its plugin ({type(exc).__name__}: {exc}); worker losses "
                    "are not reported and the scheduler keeps the last 1000 batches of the topic")
            await asyncio.sleep(0.2)  # let the subscription reach the scheduler first
        if options.get("console"):  # workers started from here may share our console
            CONSOLE.join(("dask", attachment.topic, 0))
        plugin = WorkerCapture(attachment.name, attachment.topic, options, (HOSTNAME, os.getpid()))
        registering = asyncio.ensure_future(client.scheduler.register_worker_plugin(
            plugin=dumps(plugin), name=attachment.name, idempotent=False))
        try:
            responses = await asyncio.wait_for(asyncio.shield(registering), TIMEOUT)
        except asyncio.TimeoutError:
            # A worker that does not answer: the scheduler has the plugin (every worker gets
            # it as it answers or joins), so the attachment stands.
            responses = {}
            _system(f"taskscope: some workers of {attachment.scheduler} did not answer within {TIMEOUT:g} s;"
                    " they get the capture when they do")
    except Exception as exc:  # noqa: BLE001
        await _undo(client, attachment)
        _system(f"taskscope could not attach to Dask scheduler {attachment.scheduler}: {type(exc).__name__}: {exc}")
        return {"attached": False, "reason": f"{type(exc).__name__}: {exc}"}
    failed = {w: r for w, r in responses.items() if r.get("status") != "OK"}
    attachment.workers = sorted(w for w in responses if w not in failed)
    _system(
        f"taskscope attached to Dask scheduler {attachment.scheduler} ({len(attachment.workers)} worker(s))"
        + (f"; {len(failed)} worker(s) failed to set up: {', '.join(sorted(failed))}" if failed else ""),
        {"scheduler": attachment.scheduler, "topic": attachment.topic, "workers": attachment.workers,
         "failed": {w: str(r.get("exception_text") or r.get("text") or r)[:500] for w, r in failed.items()},
         "auto": auto},
    )
    return {"attached": True, "topic": attachment.topic, "workers": list(attachment.workers),
            "reason": "" if not failed else f"{len(failed)} worker(s) failed"}


async def _detach(client: Any) -> dict[str, Any]:
    with _lock:
        attachment = _attachments.get(client.id)
    if attachment is None:
        return {"detached": False, "reason": "not attached"}
    workers: list[str] = []
    if client.status in _CONNECTED:
        try:
            responses = await asyncio.wait_for(
                client.scheduler.unregister_worker_plugin(name=attachment.name), TIMEOUT)
            workers = sorted(w for w, r in responses.items() if r.get("status") == "OK")
        except Exception as exc:  # noqa: BLE001 - a hung or dead worker: wait for the others' rows
            workers = list(attachment.workers)
            _system(f"taskscope: detaching from {attachment.scheduler} was not clean "
                    f"({type(exc).__name__} {exc}); waiting at most {TIMEOUT:g} s for the workers' last rows")
        # Each worker's teardown ships a final message: store everything before it.
        await asyncio.get_running_loop().run_in_executor(None, attachment.inbox.wait_finals, workers, TIMEOUT)
    await _undo(client, attachment)
    return {"detached": True, "workers": workers}


async def _undo(client: Any, attachment: Attachment) -> None:
    """Forget the attachment: the janitor and the subscription go (best effort)."""
    CONSOLE.leave(("dask", attachment.topic, 0))
    with _lock:
        if _attachments.get(client.id) is attachment:
            del _attachments[client.id]
    if client.status not in _CONNECTED:
        return
    try:
        if attachment.janitor_ok:
            await asyncio.wait_for(client.scheduler.unregister_scheduler_plugin(name=attachment.janitor), TIMEOUT)
    except Exception:  # noqa: BLE001
        pass
    try:
        client.unsubscribe_topic(attachment.topic)
    except Exception:  # noqa: BLE001
        pass
    client._event_handlers.pop(attachment.topic, None)


# --- user loggers registered while attached ------------------------------------------------


#: How long ``ts.logger.getLogger`` waits for the attached workers to learn a new user
#: logger, so that tasks submitted right after it log at the user level.
SHARE_WAIT = 2.0


def _on_user_logger(name: str) -> None:
    """``ts.logger.getLogger(name)`` while attached: the workers learn it too.

    Schedules :func:`_share_user_loggers` on each attached client's loop; from any other
    thread, waits for it at most :data:`SHARE_WAIT` seconds. Never raises.
    """
    with _lock:
        items = list(_attachments.values())
    waiting = []
    for attachment in items:
        try:
            client = attachment.client()
            if client is None or client.status != "running":
                continue
            names = set(attachment.options.get("user_loggers") or ())
            attachment.options["user_loggers"] = sorted(names | {name})
            loop = client.loop.asyncio_loop
            shared = asyncio.run_coroutine_threadsafe(_share_user_loggers(client, attachment), loop)
            if not _on_loop(loop):
                waiting.append(shared)
        except Exception:  # noqa: BLE001 - the kernel's own capture has the logger anyway
            pass
    deadline = time.monotonic() + SHARE_WAIT
    for shared in waiting:
        try:
            shared.result(max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - late or failed: it still goes on in the background
            pass


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


on_mark(_on_user_logger)


async def _share_user_loggers(client: Any, attachment: Attachment) -> None:
    """Give the scheduler a worker plugin with the new names (for workers that join or
    restart later), then mark them in the present workers."""
    names = list(attachment.options["user_loggers"])
    try:
        if attachment.janitor_ok:
            plugin = WorkerCapture(attachment.name, attachment.topic, attachment.options,
                                   (HOSTNAME, os.getpid()))
            await client.scheduler.log_event(topic=control_topic(attachment.topic),
                                             msg={"taskscope": "plugin", "plugin": dumps(plugin)})
        await asyncio.wait_for(client._run(mark_user_loggers, names, on_error="ignore"), TIMEOUT)
    except Exception as exc:  # noqa: BLE001
        _system(f"taskscope: could not tell the workers of {attachment.scheduler} about user loggers "
                f"{', '.join(names)}: {type(exc).__name__}: {exc}")


def mark_user_loggers(names: list[str]) -> None:
    """In a worker: these loggers are the user's (source ``user``, the user capture level)."""
    for name in names:
        mark_user_logger(name)


def _scheduler_address(client: Any) -> str:
    try:
        return str(client.scheduler.address)
    except Exception:  # noqa: BLE001
        return ""


def _default_client() -> Any:
    try:
        from distributed.client import default_client

        return default_client()
    except (ValueError, ImportError):
        return None


def _system(msg: str, extra: Mapping[str, Any] | None = None) -> None:
    """A SYSTEM row, while recording."""
    session = sessions.current()
    if session is not None:
        session.system(msg, extra)


# --- automatic: start/stop and Dask's client preload --------------------------------------


async def dask_setup(client: Any) -> None:
    """Dask's client preload hook: attach a client created while recording (never raises)."""
    try:
        if sessions.current() is not None:
            await _attach(client, for_session(), auto=True)
    except Exception as exc:  # noqa: BLE001
        _system(f"taskscope could not attach a new Dask client: {type(exc).__name__}: {exc}")


async def dask_teardown(client: Any) -> None:
    """Dask's client preload hook at close: detach (store what the workers sent)."""
    try:
        if client.id in _attachments:
            await _detach(client)
    except Exception:  # noqa: BLE001
        pass


def attach_default() -> None:
    """At ``start()``: attach the default client, if there is one."""
    client = _default_client()
    if client is None or client.status != "running":
        return
    if getattr(client, "asynchronous", False):  # its loop is ours to schedule on, not to wait for
        client.loop.add_callback(_attach, client, for_session(), True)
        return
    client.sync(_attach, client, for_session(), True, callback_timeout=2 * TIMEOUT + 5)


def detach_all() -> None:
    """At ``stop()``: detach every attached client (bounded by TIMEOUT each)."""
    untrace_submissions()
    with _lock:
        items = list(_attachments.values())
    for attachment in items:
        client = attachment.client()
        if client is None or client.status != "running":
            with _lock:
                _attachments.pop(attachment.client_id, None)
            continue
        if getattr(client, "asynchronous", False):
            client.loop.add_callback(_detach, client)
            continue
        try:
            client.sync(_detach, client, callback_timeout=3 * TIMEOUT + 5)
        except Exception:  # noqa: BLE001
            with _lock:
                _attachments.pop(attachment.client_id, None)


def _after_fork_in_child() -> None:
    """A forked child does not own the parent's clients."""
    global _lock
    _lock = threading.RLock()
    _attachments.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
