"""The kernel's ZeroMQ PULL socket, where process pools and other processes send.

Started on first use while recording (:func:`receiver`, from ``taskscope.pool.initargs``)
and stopped when recording stops (a stop hook on the session's port).
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
from typing import Any

from ..session import session as sessions
from ..writer.quiet import quiet
from .console import CONSOLE
from .inbox import Inbox
from .wire import MAGIC, MAX_MESSAGE


class ZmqReceiver:
    """The kernel's PULL socket for pool children, on its own thread.

    Bound to ``host`` (127.0.0.1 unless asked otherwise) on a random port. Each message
    is three frames: :data:`MAGIC`, this session's token (checked on every message, in
    constant time) and one batch (:func:`taskscope.remote.wire.encode`, at most
    ``max_message`` bytes: ZeroMQ refuses larger ones before they are read).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_message: int = MAX_MESSAGE) -> None:
        self.host = host
        self.port = port
        self.max_message = max_message
        self.token = secrets.token_hex(16)
        self.inbox = Inbox("pool")
        self.address = ""
        self.bound_port = 0
        self.error: str | None = None
        self._stopping = threading.Event()
        self._bound = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 10.0) -> None:
        self._thread = threading.Thread(target=self._run, name="taskscope-zmq", daemon=True)
        self._thread.start()
        if not self._bound.wait(timeout) or self.error:
            raise RuntimeError(f"taskscope could not bind its ZeroMQ socket on {self.host}: {self.error}")

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        with quiet():  # nothing this thread logs is captured
            self._serve()

    def _serve(self) -> None:
        import zmq

        context = zmq.Context()
        sock = context.socket(zmq.PULL)
        try:
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, self.max_message + 64)
            sock.setsockopt(zmq.RCVHWM, 10_000)
            if self.port:
                sock.bind(f"tcp://{self.host}:{self.port}")
                port = self.port
            else:
                port = sock.bind_to_random_port(f"tcp://{self.host}")
            self.bound_port = port
            self.address = f"tcp://{self.host}:{port}"
        except Exception as exc:  # noqa: BLE001 - reported to start()
            self.error = f"{type(exc).__name__}: {exc}"
            sock.close(0)
            context.term()
            self._bound.set()
            return
        self._bound.set()
        token = self.token.encode("ascii")
        try:
            while not self._stopping.is_set():
                if not sock.poll(100):
                    continue
                while True:
                    try:
                        frames = sock.recv_multipart(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        self._handle(frames, token)
                    except Exception as exc:  # noqa: BLE001 - one bad message must not end the receiver
                        self.error = f"{type(exc).__name__}: {exc}"
        finally:
            sock.close(0)
            context.term()

    def _handle(self, frames: list[bytes], token: bytes) -> None:
        if len(frames) != 3 or frames[0] != MAGIC:
            self.inbox.reject("a message that is not taskscope's was rejected")
        elif not hmac.compare_digest(frames[1], token):
            self.inbox.reject("a message with a wrong token was rejected")
        elif len(frames[2]) > self.max_message:
            self.inbox.reject(f"a message above {self.max_message} bytes was rejected")
        else:
            self.inbox.receive(frames[2])


_receiver: ZmqReceiver | None = None
_receiver_lock = threading.Lock()
_forgotten: list[Any] = []  # a forked child's copies of the parent's objects: never touched


def receiver(host: str = "127.0.0.1", port: int = 0) -> ZmqReceiver | None:
    """This session's ZeroMQ receiver, started on first use; None while not recording.

    The running one is kept while ``host`` and ``port`` (0: any) match it; asked for
    another address, it is replaced (pools made earlier then lose their connection).
    """
    global _receiver
    session = sessions.current()
    if session is None:
        return None
    with _receiver_lock:
        current = _receiver
        if current is not None and current.running and current.host == host and port in (0, current.bound_port):
            return current
        if current is not None:
            current.stop()
            CONSOLE.leave(("pool", current.address, 0))
        started = ZmqReceiver(host, port)
        started.start()
        _receiver = started
    session.system(f"taskscope listens for pool processes on {started.address}", {"address": started.address})
    return started


def stop_receiver() -> None:
    """Close the receiver (recording stops: a hook on the session's port)."""
    global _receiver
    with _receiver_lock:
        current, _receiver = _receiver, None
    if current is not None:
        current.stop()
        CONSOLE.leave(("pool", current.address, 0))


sessions.on_stop(stop_receiver)


def _after_fork_in_child() -> None:
    """A forked child must not touch the parent's socket or thread."""
    global _receiver, _receiver_lock
    _receiver_lock = threading.Lock()
    if _receiver is not None:
        _forgotten.append(_receiver)
        _receiver = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
