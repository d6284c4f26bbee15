"""The kernel's ZeroMQ PULL socket, where process pools and other processes send.

Started on first use while recording (:func:`receiver`, from ``taskscope.pool.initargs``)
and stopped when recording stops (a stop hook on the session's port).

Only processes given this receiver's credentials (through ``initargs``) get a message in:
ZeroMQ authenticates each connection in its handshake (CURVE, or PLAIN on loopback where
libzmq has no CURVE) and asks this thread's ZAP handler, which admits only this session's
client key. A peer without it never gets past the handshake, so nothing it sends is read.
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
from .wire import MAGIC, MAX_FRAME, MAX_MESSAGE

#: Messages ZeroMQ holds for one connection before it stops reading it (TCP then holds
#: back, then the sender's own queue, which drops and counts). With ``max_message`` bytes
#: a message, ZeroMQ holds at most (RCVHWM + 1) x max_message per connection (from a
#: sender that sends messages as ours do; see docs/security.md).
RCVHWM = 8

#: The kernel's TCP receive buffer per connection (SO_RCVBUF; Linux doubles it).
RCVBUF = 1024 * 1024

#: Milliseconds a connection has to finish its handshake, else it is closed.
HANDSHAKE_IVL = 5000

#: Where libzmq asks whether a connection may in (RFC 27, per context).
ZAP_ENDPOINT = "inproc://zeromq.zap.01"

#: Messages taken off the socket before the stop flag and the ZAP socket are looked at again.
_BURST = 64

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ZmqReceiver:
    """The kernel's PULL socket for pool children, on its own thread.

    Bound to ``host`` (127.0.0.1 unless asked otherwise) on a random port. Connections
    authenticate with ``mechanism`` ("curve": a server keypair and one client keypair
    made for this receiver; "plain": a random password, loopback only, as PLAIN sends it
    in clear); :attr:`credentials` is what a sender needs. Each message is :data:`MAGIC`
    and one batch (:func:`taskscope.remote.wire.encode`, at most ``max_message`` bytes) in
    frames of at most :data:`~taskscope.remote.wire.MAX_FRAME` bytes
    (:func:`taskscope.remote.wire.frames`: ZeroMQ refuses a larger frame before it is
    read, handshakes included). There is no
    per-message token: the handshake already proved the sender holds this receiver's
    credentials, which travel to the same processes the same way a token would.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, max_message: int = MAX_MESSAGE,
                 mechanism: str | None = None) -> None:
        import zmq
        from zmq.utils import z85

        self.host = host
        self.port = port
        self.max_message = max_message
        self.mechanism = mechanism or ("curve" if zmq.has("curve") else "plain")
        if self.mechanism == "curve":
            self._server_public, self._server_secret = zmq.curve_keypair()
            public, secret = zmq.curve_keypair()
            self._allowed = [z85.decode(public)]  # ZAP gives the client's key in binary
            self.credentials = {"mechanism": "curve", "server_key": self._server_public.decode("ascii"),
                                "public_key": public.decode("ascii"), "secret_key": secret.decode("ascii")}
        elif self.mechanism == "plain":
            if host not in _LOOPBACK:
                raise ValueError("libzmq has no CURVE here, and PLAIN sends its password in clear: "
                                 "pool capture binds to loopback only")
            password = secrets.token_hex(16)
            self._allowed = [b"taskscope", password.encode("ascii")]
            self.credentials = {"mechanism": "plain", "username": "taskscope", "password": password}
        else:
            raise ValueError(f"unknown mechanism {mechanism!r}")
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
        """Close the socket: when this returns, the port is closed (unless the thread is
        stuck in one message for ``timeout`` seconds)."""
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
        zap = context.socket(zmq.REP)
        sock = context.socket(zmq.PULL)
        try:
            zap.setsockopt(zmq.LINGER, 0)
            zap.bind(ZAP_ENDPOINT)  # before the socket: no connection is ever admitted unasked
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, min(MAX_FRAME, self.max_message) + 64)
            sock.setsockopt(zmq.RCVHWM, RCVHWM)
            sock.setsockopt(zmq.RCVBUF, RCVBUF)
            sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_IVL)
            if self.mechanism == "curve":
                sock.setsockopt(zmq.CURVE_SERVER, 1)
                sock.setsockopt(zmq.CURVE_SECRETKEY, self._server_secret)
            else:
                sock.setsockopt(zmq.PLAIN_SERVER, 1)
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
            zap.close(0)
            context.term()
            self._bound.set()
            return
        self._bound.set()
        poller = zmq.Poller()
        poller.register(zap, zmq.POLLIN)
        poller.register(sock, zmq.POLLIN)
        try:
            while not self._stopping.is_set():
                ready = dict(poller.poll(100))
                if zap in ready:
                    self._authenticate(zap, zmq)
                if sock in ready:
                    self._drain(sock, zmq)
        finally:
            sock.close(0)
            zap.close(0)
            context.term()  # returns once both are closed: the port no longer listens

    def _drain(self, sock: Any, zmq: Any) -> None:
        """Up to :data:`_BURST` messages, each handed to the inbox."""
        for _ in range(_BURST):
            if self._stopping.is_set():
                return
            try:
                frames = sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                self._handle(frames)
            except Exception as exc:  # noqa: BLE001 - one bad message must not end the receiver
                self.error = f"{type(exc).__name__}: {exc}"

    def _handle(self, frames: list[bytes]) -> None:
        if len(frames) < 2 or frames[0] != MAGIC:
            self.inbox.reject("a message that is not taskscope's was rejected")
        elif sum(map(len, frames)) - len(MAGIC) > self.max_message:
            self.inbox.reject(f"a message above {self.max_message} bytes was rejected")
        else:
            self.inbox.receive(frames[1] if len(frames) == 2 else b"".join(frames[1:]))

    def _authenticate(self, zap: Any, zmq: Any) -> None:
        """Answer libzmq's ZAP requests (RFC 27): only this receiver's credentials pass."""
        while True:
            try:
                request = zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            # version, request id, domain, address, routing id, mechanism, credentials...
            ok = (len(request) == 6 + len(self._allowed) and request[0] == b"1.0"
                  and request[5] == self.mechanism.upper().encode()
                  and all(hmac.compare_digest(given, allowed)
                          for given, allowed in zip(request[6:], self._allowed)))
            request_id = request[1] if len(request) > 1 else b""
            zap.send_multipart([b"1.0", request_id, b"200" if ok else b"400",
                                b"OK" if ok else b"not this session's key", b"taskscope" if ok else b"", b""])
            if not ok:
                address = request[3].decode("ascii", "replace") if len(request) > 3 else "?"
                self.inbox.refuse(f"a connection from {address} without this session's key was refused")


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
