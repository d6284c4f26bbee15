"""The server extension: a real jupyter_server, a real kernel, a real websocket.

Whether Nagle is off cannot be read from the client's end of the socket, so the test
checks the server's own account (its debug line, written after ``set_nodelay`` returned)
for the kernel whose websocket the test opened, and that the websocket still carries the
kernel's replies.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import websocket  # websocket-client, a jupyter_server dependency

from jupyter_server.services.kernels.connection.channels import ZMQChannelsWebsocketConnection

from taskscope.server import NoDelayConnection, connection_class_for

TOKEN = "taskscope-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, port: int, log: Path) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, method=method,
            headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            return json.loads(reply.read() or b"{}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / "server.log"
    command = [
        sys.executable, "-m", "jupyter_server", "--no-browser", "--log-level=DEBUG",
        "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
        "--ServerApp.allow_root=True",  # CI runs as root
        f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}",
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                env=dict(os.environ, JUPYTER_RUNTIME_DIR=str(tmp_path / "rt")))
    started = Server(port, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                started.api("/api/status")
                break
            except OSError:
                assert proc.poll() is None, started.log_text()
                assert time.monotonic() < deadline, started.log_text()
                time.sleep(0.2)
        yield started
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def kernel_info(ws: websocket.WebSocket) -> dict:
    """Send a kernel_info_request on the shell channel; return the reply's content."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "channel": "shell",
        "header": {"msg_id": msg_id, "msg_type": "kernel_info_request", "username": "test",
                   "session": uuid.uuid4().hex, "date": "", "version": "5.3"},
        "parent_header": {}, "metadata": {}, "content": {},
    }))
    while True:
        msg = json.loads(ws.recv())
        if msg["msg_type"] == "kernel_info_reply" and msg["parent_header"]["msg_id"] == msg_id:
            return msg["content"]


@pytest.mark.timeout(180)
def test_kernel_websocket_has_nagle_off(server: Server) -> None:
    log = server.log_text()
    assert "taskscope: kernel websockets without Nagle's delay" in log, log
    kernel = server.api("/api/kernels", "POST", {"name": "python3"})
    ws = websocket.create_connection(
        f"{server.url.replace('http', 'ws')}/api/kernels/{kernel['id']}/channels?token={TOKEN}",
        timeout=60,
    )
    try:
        assert kernel_info(ws)["status"] == "ok"
    finally:
        ws.close()
    assert f"taskscope: TCP_NODELAY on kernel websocket {kernel['id']}" in server.log_text()


def test_only_the_default_connection_class_is_replaced() -> None:
    assert connection_class_for(ZMQChannelsWebsocketConnection) is NoDelayConnection

    class Custom(ZMQChannelsWebsocketConnection):
        pass

    assert connection_class_for(Custom) is None
    assert connection_class_for("jupyter_server.gateway.connections.GatewayWebSocketConnection") is None
    assert connection_class_for(None) is None
