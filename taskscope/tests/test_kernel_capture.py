"""Capture in a real ipykernel: cell output unchanged, rows stored, rows survive SIGKILL.

The kernel runs without PYTEST_CURRENT_TEST, so ipykernel watches fd 1/2 as it does under
JupyterLab (``os.write(1, ...)`` reaches the cell through its fd watcher thread).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from taskscope.tests.conftest import Execution, Kernel, read_meta, read_rows

CELL = r'''
import logging, os, sys, time, warnings
warnings.simplefilter("always")
print("printed line")
print("partial", end="")
print(" done")
sys.stderr.write("err line\n")
logging.getLogger("kt.lib").warning("library warning")
warnings.warn("kernel warning")
os.write(1, b"fd line\n")
os.write(2, b"fd err line\n")
time.sleep(0.5)  # ipykernel's fd watcher forwards the fd lines while the cell still runs
'''


def output_of(execution: Execution) -> dict[str, Any]:
    """What the front end shows for a cell: its stream texts and errors, and any stream
    text that went to another cell meanwhile (ipykernel routes by parent header)."""
    return {
        "stdout": execution.streams("stdout"),
        "stderr": execution.streams("stderr"),
        "errors": [(m["content"]["ename"], m["content"]["evalue"]) for m in execution.of_type("error")],
        "stray streams": [m["content"] for m in execution.others if m["msg_type"] == "stream"],
    }


def store_rows(kernel: Kernel, where: str = "1=1") -> list[dict[str, Any]]:
    """Flush in the kernel, then read its store file from here."""
    assert kernel.evaluate("__import__('taskscope').runtime.flush()") is True
    return read_rows(kernel.evaluate("str(__import__('taskscope').runtime.store_path())"), where)


def test_cell_output_is_the_same_with_capture_on(kernel: Kernel) -> None:
    kernel.run_ok("import taskscope as ts; ts.stop()")
    before = output_of(kernel.run_ok(CELL))
    kernel.run_ok("ts.start()")
    after = output_of(kernel.run_ok(CELL))
    assert before["stdout"] == "printed line\npartial done\nfd line\n"
    assert "err line\n" in before["stderr"] and "library warning\n" in before["stderr"]
    assert "UserWarning: kernel warning" in before["stderr"] and "fd err line\n" in before["stderr"]
    assert after["stdout"] == before["stdout"] and after["stderr"] == before["stderr"]
    assert before["stray streams"] == after["stray streams"] == []


def test_every_kind_of_output_is_a_row(kernel: Kernel) -> None:
    kernel.run_ok("import taskscope as ts; ts.start()")
    kernel.run_ok(CELL)
    kernel.run_ok("log = ts.logger.getLogger('kt.user'); log.debug('user debug line')\n"
                  "logging.getLogger('kt.lib').info('library info line')")
    rows = store_rows(kernel, "seq > (SELECT MAX(seq) FROM rows WHERE msg = 'taskscope started')")
    got = {(r["source"], r["logger"], r["level"], r["msg"], r["thread"]) for r in rows}
    assert {
        ("print", "stdout", "INFO", "printed line", "MainThread"),
        ("print", "stdout", "INFO", "partial done", "MainThread"),
        ("print", "stderr", "WARNING", "err line", "MainThread"),
        ("library", "kt.lib", "WARNING", "library warning", "MainThread"),
        ("user", "__main__", "WARNING", "UserWarning: kernel warning", "MainThread"),
        ("print", "stdout", "INFO", "fd line", "fd 1"),
        ("print", "stderr", "WARNING", "fd err line", "fd 2"),
        ("user", "kt.user", "DEBUG", "user debug line", "MainThread"),
        ("library", "kt.lib", "INFO", "library info line", "MainThread"),
    } <= got
    # the lines logging's last resort and the warning display wrote are not print rows too
    assert not [r for r in rows if r["source"] == "print" and ("library warning" in r["msg"] or "kernel warning" in r["msg"])]


def test_an_uncaught_cell_exception_is_an_error_row_and_still_shown(kernel: Kernel) -> None:
    kernel.run_ok("import taskscope as ts; ts.stop()")
    before = output_of(kernel.execute("def inner():\n    raise ValueError('kernel boom')\ninner()"))
    kernel.run_ok("ts.start()")
    failed = kernel.execute("def inner():\n    raise ValueError('kernel boom')\ninner()")
    after = output_of(failed)
    assert before == after and after["errors"] == [("ValueError", "kernel boom")]
    assert failed.reply["content"]["status"] == "error"
    rows = store_rows(kernel, "levelno = 40 AND msg = 'ValueError: kernel boom'")
    assert rows and rows[-1]["source"] == "user" and rows[-1]["logger"] == "__main__"
    assert "Traceback (most recent call last)" in rows[-1]["text"] and "in inner" in rows[-1]["text"]
    assert '"execution_count": ' in rows[-1]["extra"]


def test_background_thread_output_still_goes_to_the_latest_cell(kernel: Kernel) -> None:
    def run(start: str) -> Execution:
        """A thread started in one cell prints while the next cell runs."""
        kernel.run_ok(f"import taskscope as ts, threading; {start}\n"
                      "go = threading.Event()\n"
                      "t = threading.Thread(target=lambda: (go.wait(), print('from the thread')))\n"
                      "t.start()")
        return kernel.run_ok("import time; go.set(); t.join(); time.sleep(0.3)")

    off = run("ts.stop()")
    on = run("ts.start()")
    assert off.streams("stdout") == on.streams("stdout") == "from the thread\n"
    rows = store_rows(kernel, "msg = 'from the thread'")
    assert rows and rows[-1]["thread"].startswith("Thread-")


def test_the_session_knows_its_kernel(kernel: Kernel) -> None:
    status = kernel.evaluate("__import__('taskscope').start()")
    path = Path(status["store"])
    assert path.parent == kernel.home / "sessions" and path.name == f"{status['session_id']}.sqlite"
    meta = read_meta(path)
    assert meta["kernel_id"] == kernel.kernel_id and meta["pid"] == str(kernel.pid)
    assert status["recording"] is True and {"levels", "rows", "rate", "dropped", "sources"} <= status.keys()


def test_rows_flushed_before_sigkill_are_in_the_store(make_kernel: Any) -> None:
    kernel = make_kernel()
    kernel.run_ok("import taskscope as ts, logging\nts.start()\n"
                  "log = ts.logger.getLogger('doomed')\n"
                  "for i in range(2000):\n    log.info('row %d', i)\n")
    assert kernel.evaluate("ts.runtime.flush()") is True
    path = kernel.evaluate("str(ts.runtime.store_path())")
    kernel.kill()
    rows = read_rows(path, "logger = 'doomed'")  # opening the file recovers the WAL
    assert [r["msg"] for r in rows] == [f"row {i}" for i in range(2000)]


TIGHT_LOOP = r'''
import threading, taskscope as ts
ts.stop(); ts.runtime.clear(); ts.start()
_log = ts.logger.getLogger("kt.tight")
def _loop(n, name):
    for i in range(n):
        _log.info("%s %d", name, i)
_loop(200_000, "main")
_threads = [threading.Thread(target=_loop, args=(50_000, f"t{k}")) for k in range(4)]
for _t in _threads: _t.start()
for _t in _threads: _t.join()
'''


def test_a_tight_loop_in_a_cell_loses_no_row(kernel: Kernel) -> None:
    """One thread, then four, logging as fast as they can with the default settings: the
    writer keeps up (or the loop waits for it); nothing is dropped (issue 13, part 1)."""
    execution = kernel.execute(TIGHT_LOOP, timeout=600)
    assert execution.reply["content"]["status"] == "ok", execution.reply["content"]
    rows = store_rows(kernel, "logger = 'kt.tight'")
    assert kernel.evaluate("ts.status()['dropped']") == 0
    by_name: dict[str, list[int]] = {}
    for r in rows:
        name, i = r["msg"].split()
        by_name.setdefault(name, []).append(int(i))
    assert by_name == {"main": list(range(200_000)), **{f"t{k}": list(range(50_000)) for k in range(4)}}
