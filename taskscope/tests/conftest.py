"""Shared fixtures: a private TASKSCOPE_HOME for every test, a clean runtime, real kernels.

- ``taskscope_home`` (autouse): ``$TASKSCOPE_HOME`` is a fresh temporary directory, so no
  test ever writes to the real user data directory.
- ``fresh_runtime``: the runtime stopped and without a session before and after the test,
  so each test gets its own store file.
- ``kernel`` (one per test module) and ``make_kernel`` (one per call, for tests that
  kill theirs): a real ipykernel started with jupyter_client, with its own
  TASKSCOPE_HOME; see :class:`Kernel` for ``execute``/``evaluate``.
"""

from __future__ import annotations

import ast
import json
import os
import queue
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest


@pytest.fixture(autouse=True)
def taskscope_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$TASKSCOPE_HOME`` set to a temporary directory for this test."""
    home = tmp_path / "taskscope-home"
    monkeypatch.setenv("TASKSCOPE_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def no_loky_executor_left() -> Iterator[None]:
    """After a test that ran joblib's loky backend, shut its reusable executor down.

    joblib keeps the executor (its manager and queue-feeder threads, its worker processes)
    for the next call. A ``fork`` pool made by a later test copies whatever lock those
    threads held at that instant, and its child can then hang at exit, and with it
    ``Pool.terminate`` (the end of every ``with Pool()``): forking a process that runs
    threads, not something of ours (it hung test_pool's ``with Pool()`` test now and then).
    """
    yield
    module = sys.modules.get("joblib.externals.loky.reusable_executor")
    executor = getattr(module, "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True, kill_workers=True)


@pytest.fixture
def fresh_runtime(taskscope_home: Path) -> Iterator[Any]:
    """The runtime module, stopped and session-less before and after the test."""
    from taskscope import runtime

    runtime._reset()
    yield runtime
    runtime._reset()


def read_rows(path: Path | str, where: str = "1=1", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of a store file as dicts, in seq order (a separate reader connection)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM rows WHERE {where} ORDER BY seq", params)]
    finally:
        conn.close()


def read_actions(path: Path | str, where: str = "1=1") -> list[dict[str, Any]]:
    """The actions table of a store file as dicts, in start order."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(f"SELECT * FROM actions WHERE {where} ORDER BY started")]
    finally:
        conn.close()


def eliot_tree_text(messages: Any) -> tuple[str, list[str]]:
    """What the real ``eliot-tree`` draws for Eliot ``messages`` (no colour), and its errors."""
    from eliottree import get_theme, render_tasks, tasks_from_iterable

    out: list[str] = []
    errors: list[str] = []
    render_tasks(out.append, tasks_from_iterable(messages), theme=get_theme(dark_background=True, colored=None),
                 write_err=errors.append)
    return "".join(out), errors


def read_meta(path: Path | str) -> dict[str, str]:
    """The meta table of a store file."""
    conn = sqlite3.connect(path)
    try:
        return dict(conn.execute("SELECT key, value FROM meta"))
    finally:
        conn.close()


# --- real kernels ----------------------------------------------------------------------------


@dataclass
class Execution:
    """What one execute_request produced: the reply and its iopub messages."""

    msg_id: str
    reply: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    others: list[dict[str, Any]] = field(default_factory=list)  # iopub meanwhile, other parents

    def streams(self, name: str) -> str:
        """All text of one stream (stdout/stderr) of this execution, concatenated."""
        return "".join(m["content"]["text"] for m in self.messages
                       if m["msg_type"] == "stream" and m["content"]["name"] == name)

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] == msg_type]


class Kernel:
    """A real ipykernel (the venv's python3 kernel) and a blocking client to it."""

    def __init__(self, home: Path) -> None:
        from jupyter_client.manager import KernelManager

        self.home = home
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        env["TASKSCOPE_HOME"] = str(home)  # the kernel writes its store here
        # Without PYTEST_CURRENT_TEST ipykernel watches fd 1/2 as it does in JupyterLab.
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        self.pid = self.evaluate("__import__('os').getpid()")

    @property
    def kernel_id(self) -> str:
        """The id in the connection file's name, as the kernel sees it."""
        name = os.path.basename(self.manager.connection_file)
        return name.removeprefix("kernel-").removesuffix(".json")

    def execute(self, code: str, timeout: float = 60, cell_id: str | None = None, **kwargs: Any) -> Execution:
        """Run a cell; gather its iopub messages until the kernel is idle again.

        ``cell_id``: sent as JupyterLab sends it (the request's ``metadata.cellId``).
        """
        if cell_id is None:
            msg_id = self.client.execute(code, **kwargs)
        else:
            content = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                       "allow_stdin": False, "stop_on_error": True, **kwargs}
            msg = self.client.session.msg("execute_request", content, metadata={"cellId": cell_id})
            self.client.shell_channel.send(msg)
            msg_id = msg["header"]["msg_id"]
        reply = self.client.get_shell_msg(timeout=timeout)
        while reply["parent_header"].get("msg_id") != msg_id:
            reply = self.client.get_shell_msg(timeout=timeout)
        execution = Execution(msg_id, reply)
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no idle status for {code!r}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                execution.others.append(msg)
                continue
            execution.messages.append(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return execution

    def evaluate(self, expression: str) -> Any:
        """The value of a Python expression in the kernel (JSON-able), without printing."""
        execution = self.execute(
            "", silent=False, store_history=False,
            user_expressions={"value": f"__import__('json').dumps({expression})"},
        )
        result = execution.reply["content"]["user_expressions"]["value"]
        if result.get("status") != "ok":
            raise RuntimeError(f"{expression!r} failed in the kernel: {result}")
        return json.loads(ast.literal_eval(result["data"]["text/plain"]))

    def run_ok(self, code: str, cell_id: str | None = None) -> Execution:
        """Execute ``code`` and fail the test if the cell raised."""
        execution = self.execute(code, cell_id=cell_id)
        assert execution.reply["content"]["status"] == "ok", execution.reply["content"]
        return execution

    def kill(self) -> None:
        """SIGKILL the kernel process (no atexit, no flush) and wait until it is gone."""
        os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while self.manager.is_alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not self.manager.is_alive()

    def shutdown(self) -> None:
        try:
            self.client.stop_channels()
        finally:
            if self.manager.is_alive():
                self.manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    """One real ipykernel for the test module, with its own TASKSCOPE_HOME."""
    started = Kernel(tmp_path_factory.mktemp("kernel-home"))
    yield started
    started.shutdown()


@pytest.fixture
def make_kernel(tmp_path: Path) -> Iterator[Callable[[], Kernel]]:
    """Start as many real kernels as the test needs; all are shut down after it."""
    kernels: list[Kernel] = []

    def make() -> Kernel:
        started = Kernel(tmp_path / f"kernel-home-{len(kernels)}")
        kernels.append(started)
        return started

    yield make
    for started in kernels:
        started.shutdown()


PYTHON = sys.executable
