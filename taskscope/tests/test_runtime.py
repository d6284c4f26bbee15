"""The runtime API: start/stop/status/mode/flush/clear/store_path/enqueue_rows/subscribe.

Warnings, uncaught exceptions and interpreter exit are checked in fresh Python processes:
pytest itself records warnings and owns sys.excepthook.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from taskscope.record import rows as record
from taskscope import runtime
from taskscope._version import __version__
from taskscope.tests.conftest import read_meta, read_rows

STATUS_KEYS = {"recording", "levels", "rows", "rate", "dropped", "sources", "store", "session_id"}


def run_python(code: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with TASKSCOPE_HOME=home."""
    env = {**os.environ, "TASKSCOPE_HOME": str(home)}
    env.pop("PYTEST_CURRENT_TEST", None)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env=env)


def only_store(home: Path) -> Path:
    files = list((home / "sessions").glob("*.sqlite"))
    assert len(files) == 1, files
    return files[0]


def test_status_before_any_start(fresh_runtime: Any) -> None:
    status = runtime.status()
    assert STATUS_KEYS <= status.keys()
    assert (status["recording"], status["rows"], status["store"], status["session_id"]) == (False, 0, None, None)
    assert runtime.store_path() is None
    assert runtime.flush() is True


def test_start_is_idempotent_and_returns_status(fresh_runtime: Any, taskscope_home: Path) -> None:
    first = runtime.start()
    second = runtime.start()
    assert STATUS_KEYS <= first.keys() and first["recording"] and second["recording"]
    assert first["session_id"] == second["session_id"]
    path = runtime.store_path()
    assert path is not None and path.parent == taskscope_home / "sessions"
    assert path.name == f"{first['session_id']}.sqlite" and first["store"] == str(path)
    assert runtime.flush()
    started = [r for r in read_rows(path) if r["msg"] == "taskscope started"]
    assert len(started) == 1 and (started[0]["level"], started[0]["levelno"], started[0]["source"]) == ("SYSTEM", 999, "system")
    runtime.stop()
    assert runtime.stop()["recording"] is False  # idempotent too


def test_meta_of_a_plain_process_session(fresh_runtime: Any) -> None:
    status = runtime.start()
    runtime.stop()
    meta = read_meta(runtime.store_path())
    assert meta["session_id"] == status["session_id"] and meta["kernel_id"] == ""
    assert meta["pid"] == str(os.getpid()) and meta["hostname"] == record.HOSTNAME
    assert meta["taskscope_version"] == __version__ and abs(float(meta["started"]) - time.time()) < 600


def test_a_later_start_appends_to_the_same_session_file(fresh_runtime: Any) -> None:
    log = logging.getLogger("__main__")
    runtime.start()
    log.info("first")
    runtime.stop()
    path = runtime.store_path()
    assert runtime.store_path() == path  # still known after stop
    runtime.start()
    log.info("second")
    runtime.stop()
    assert runtime.store_path() == path
    rows = read_rows(path)
    assert [r["msg"] for r in rows] == ["taskscope started", "first", "taskscope stopped",
                                        "taskscope started", "second", "taskscope stopped"]
    assert [r["seq"] for r in rows] == list(range(1, 7))


def test_mode_is_start_and_stop(fresh_runtime: Any) -> None:
    assert runtime.mode(logging=True)["recording"] is True
    assert runtime.mode(logging=False)["recording"] is False


def test_status_counts_levels_sources_and_rate(fresh_runtime: Any) -> None:
    log = logging.getLogger("__main__")
    runtime.start()
    for i in range(300):
        log.info("n %d", i)
    log.warning("w")
    assert runtime.flush()
    time.sleep(0.3)  # a few writer ticks: rate is measured over them
    log.info("one more")
    assert runtime.flush()
    status = runtime.status()
    runtime.stop()
    assert status["levels"] == {"SYSTEM": 1, "INFO": 301, "WARNING": 1}
    assert status["sources"] == {"system": 1, "user": 302}
    assert status["rows"] == 303 and status["dropped"] == 0 and status["rate"] > 0


def test_options_are_checked(fresh_runtime: Any) -> None:
    with pytest.raises(TypeError, match="unknown taskscope option"):
        runtime.start(nonsense=1)
    with pytest.raises(ValueError, match="unknown logging level"):
        runtime.start(user_level="LOUD")
    with pytest.raises(ValueError, match="queue_size"):
        runtime.start(queue_size=0)
    assert runtime.status()["recording"] is False


REFUSED = [
    {"queue_size": -1}, {"batch_size": 0}, {"user_level": "NOPE"}, {"library_level": None}, {"msg_cap": "big"},
    {"indexes": ["nope"]}, {"indexes": "rows_task"}, {"flush_interval": "soon"}, {"flush_interval": -1},
    {"flush_interval": 0}, {"flush_interval": float("nan")}, {"streams": "yes"}, {"warnings": None},
]


@pytest.mark.parametrize("bad", REFUSED, ids=lambda bad: "-".join(f"{k}={v!r}" for k, v in bad.items()))
def test_a_refused_start_changes_nothing(fresh_runtime: Any, bad: dict[str, Any]) -> None:
    """A bad value is refused before anything changes: recording goes on with the options
    it had, and nothing of the refused call is remembered for a later start."""
    runtime.start(flush_interval=0.05)
    before = runtime.options()
    with pytest.raises((TypeError, ValueError)):
        runtime.start(**bad)
    assert runtime.status()["recording"] is True and runtime.options() == before
    logging.getLogger("__main__").info("recorded after the refusal")
    assert runtime.flush()
    assert "recorded after the refusal" in [r["msg"] for r in read_rows(runtime.store_path())]
    runtime.stop()
    with pytest.raises((TypeError, ValueError)):
        runtime.start(**bad)  # refused while stopped too: still stopped
    assert runtime.status()["recording"] is False
    assert runtime.start()["recording"] is True and runtime.options() == before
    runtime.stop()


def test_start_with_new_options_restarts_the_capture(fresh_runtime: Any) -> None:
    runtime.start()
    log = logging.getLogger("__main__")
    runtime.start(user_level="WARNING")
    log.info("not captured any more")
    log.warning("captured")
    assert runtime.flush()
    rows = [r["msg"] for r in read_rows(runtime.store_path()) if r["source"] != "system"]
    runtime.stop()
    assert rows == ["captured"]


def test_an_unwritable_home_fails_start_and_installs_nothing(fresh_runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("TASKSCOPE_HOME", str(blocker))
    stdout, handlers = sys.stdout, logging.root.handlers[:]
    with pytest.raises(RuntimeError, match="could not open its store"):
        runtime.start()
    assert sys.stdout is stdout and logging.root.handlers == handlers
    assert runtime.status()["recording"] is False and runtime.store_path() is None


def test_flush_makes_rows_enqueued_before_it_visible(fresh_runtime: Any) -> None:
    runtime.start(flush_interval=30.0)  # the writer would not wake by itself in this test
    logging.getLogger("__main__").info("just logged")
    assert runtime.flush(timeout=10)
    assert "just logged" in [r["msg"] for r in read_rows(runtime.store_path())]
    runtime.stop()


def test_clear_deletes_rows_and_seq_continues(fresh_runtime: Any) -> None:
    log = logging.getLogger("__main__")
    runtime.start()
    log.info("a")
    log.info("b")
    assert runtime.flush()
    assert runtime.clear()
    assert read_rows(runtime.store_path()) == [] and runtime.status()["rows"] == 0
    log.info("c")
    assert runtime.flush()
    rows = read_rows(runtime.store_path())
    assert [(r["seq"], r["msg"]) for r in rows] == [(4, "c")]
    runtime.stop()
    assert runtime.clear()  # while stopped: done directly on the file
    assert read_rows(runtime.store_path()) == []
    runtime.start()
    assert runtime.flush()
    assert [r["seq"] for r in read_rows(runtime.store_path())] == [6]  # "stopped" was 5, cleared


def test_enqueue_rows_stores_ready_made_rows_made_safe(fresh_runtime: Any) -> None:
    runtime.start()
    taken = runtime.enqueue_rows([
        {"created": 1_700_000_000.5, "level": "INFO", "levelno": 20, "source": "user", "logger": "w",
         "msg": "from a worker", "hostname": "node-7", "pid": 99, "thread": "t", "worker": "tcp://w:1",
         "task": "work-1", "extra": {"duration": 0.5}},
        {"msg": "bad \udcff", "levelno": "not a number", "created": "never", "extra": object()},
    ])
    assert taken == 2
    assert runtime.flush()
    rows = [r for r in read_rows(runtime.store_path()) if r["source"] != "system"]
    runtime.stop()
    first, second = rows
    assert {k: first[k] for k in ("created", "level", "logger", "msg", "hostname", "pid", "worker", "task", "extra")} == {
        "created": 1_700_000_000.5, "level": "INFO", "logger": "w", "msg": "from a worker", "hostname": "node-7",
        "pid": 99, "worker": "tcp://w:1", "task": "work-1", "extra": '{"duration": 0.5}'}
    assert first["text"].endswith("INFO w: from a worker")
    assert second["msg"] == "bad \\udcff" and second["levelno"] == 20 and second["extra"].startswith('"<object')
    assert runtime.enqueue_rows([{"msg": "not recording"}]) == 0


def test_subscribers_hear_every_commit_and_may_fail(fresh_runtime: Any) -> None:
    heard: list[tuple[int, int, dict[str, Any]]] = []
    threads: set[str] = set()

    def listener(first: int, last: int, counts: dict[str, Any]) -> None:
        heard.append((first, last, counts))
        threads.add(threading.current_thread().name)

    def broken(first: int, last: int, counts: dict[str, Any]) -> None:
        raise RuntimeError("subscriber broke")

    runtime.subscribe(broken)
    runtime.subscribe(listener)
    try:
        runtime.start()
        logging.getLogger("__main__").warning("x")
        assert runtime.flush()
        runtime.unsubscribe(listener)
        logging.getLogger("__main__").warning("y")
        assert runtime.flush()
        runtime.stop()
    finally:
        runtime.unsubscribe(broken)
        runtime.unsubscribe(listener)
    assert heard[0][0] == 1 and heard[-1][1] == 2
    assert sum(sum(c["levels"].values()) for _, _, c in heard) == 2
    assert threads == {"taskscope-writer"}


def test_a_forked_child_has_no_session(fresh_runtime: Any) -> None:
    runtime.start()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once
        try:
            report = {"store": str(runtime.store_path()), "recording": runtime.status()["recording"],
                      "stdout_restored": not hasattr(sys.stdout, "collector"),
                      "handlers": [type(h).__name__ for h in logging.root.handlers]}
            os.write(write, json.dumps(report).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    report = json.loads(os.read(read, 65536))
    os.close(read)
    assert report == {"store": "None", "recording": False, "stdout_restored": True,
                      "handlers": [type(h).__name__ for h in logging.root.handlers if type(h).__name__ != "CaptureHandler"]}
    assert runtime.status()["recording"] is True  # the parent goes on
    logging.getLogger("__main__").info("parent still records")
    assert runtime.flush()
    assert "parent still records" in [r["msg"] for r in read_rows(runtime.store_path())]
    runtime.stop()


# --- in fresh processes -------------------------------------------------------------------------


def test_warnings_become_rows_and_are_still_shown(tmp_path: Path) -> None:
    done = run_python("""
        import warnings, taskscope
        taskscope.start()
        warnings.warn("careful now")
        warnings.warn("old api", PendingDeprecationWarning)  # filtered out by default: not shown, no row
        taskscope.stop()
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("UserWarning: careful now") == 1 and "old api" not in done.stderr
    rows = read_rows(only_store(tmp_path), "levelno = 30")
    assert [(r["source"], r["logger"], r["msg"]) for r in rows] == [("user", "__main__", "UserWarning: careful now")]
    assert json.loads(rows[0]["extra"])["category"] == "UserWarning"
    assert not read_rows(only_store(tmp_path), "source = 'print'")  # the shown warning is not a print row too


def test_an_uncaught_exception_is_a_row_and_still_printed(tmp_path: Path) -> None:
    done = run_python("""
        import taskscope
        taskscope.start()
        def fail():
            raise ValueError("bad value")
        fail()
    """, tmp_path)
    assert done.returncode == 1
    assert done.stderr.count("ValueError: bad value") == 1 and "Traceback (most recent call last)" in done.stderr
    rows = read_rows(only_store(tmp_path), "levelno = 40")  # stored by the exit-time flush
    assert [(r["source"], r["logger"], r["msg"]) for r in rows] == [("user", "__main__", "ValueError: bad value")]
    assert "in fail" in rows[0]["text"] and json.loads(rows[0]["extra"]) == {"exception": "ValueError"}
    assert not read_rows(only_store(tmp_path), "source = 'print'")


def test_interpreter_exit_stores_what_is_queued(tmp_path: Path) -> None:
    done = run_python("""
        import logging, taskscope
        taskscope.start(flush_interval=3600.0, batch_size=10**9)
        for i in range(5000):
            logging.getLogger("__main__").info("row %d", i)
        print("no line end", end="")
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    rows = read_rows(only_store(tmp_path))
    assert len([r for r in rows if r["logger"] == "__main__"]) == 5000
    assert [r["msg"] for r in rows if r["source"] == "print"] == ["no line end"]
    assert rows[-1]["msg"] == "taskscope stopped"


def test_a_failed_install_puts_back_what_it_had_done(fresh_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    monkeypatch.delattr(sys, "excepthook")  # the last hook cannot be chained: install fails there
    before = (sys.stdout, sys.stderr, warnings.showwarning, logging.basicConfig, logging.root.handlers[:], logging.root.level)
    with pytest.raises(AttributeError):
        runtime.start()
    after = (sys.stdout, sys.stderr, warnings.showwarning, logging.basicConfig, logging.root.handlers[:], logging.root.level)
    assert after == before and all(a is b for a, b in zip(after[:4], before[:4]))
    assert runtime.status()["recording"] is False
