"""Dask distributed: rows from real worker processes of a real LocalCluster.

One cluster (2 worker processes, 1 thread each, nannies) for the module; each test
starts its own recording session (its own store), which attaches the default client,
and stops it, which detaches. Functions run on the workers are module functions
(imported there by name).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import distributed
import pytest

import taskscope as ts
from taskscope.remote import dask as ts_dask
from taskscope import runtime
from taskscope.tests.conftest import read_rows


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as started:
        yield started


@pytest.fixture(scope="module")
def client(cluster: Any) -> Iterator[Any]:
    with distributed.Client(cluster) as made:
        yield made


@pytest.fixture
def recording(client: Any, fresh_runtime: Any) -> Iterator[Any]:
    """A recording session with ``client`` attached (it is the default client)."""
    client.wait_for_workers(2, timeout=60)
    runtime.start()
    assert [a["client"] for a in ts_dask.attached()] == [client.id]
    yield client
    runtime.stop()
    assert ts_dask.attached() == []


def wait_rows(predicate: Callable[[list[dict[str, Any]]], bool], where: str = "1=1",
              timeout: float = 60.0) -> list[dict[str, Any]]:
    """The session's rows once ``predicate(rows)`` holds (remote rows arrive in batches)."""
    deadline = time.monotonic() + timeout
    while True:
        runtime.flush()
        rows = read_rows(runtime.store_path(), where)
        if predicate(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"rows never matched; last {len(rows)}: {rows[-5:]}")
        time.sleep(0.1)


def extra(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["extra"]) if row["extra"] else {}


# --- functions run on the workers ------------------------------------------------------------


def emit_everything(i: int) -> dict[str, Any]:
    logging.getLogger("tsdask.lib").info("library info %d", i)
    logging.getLogger("tsdask.lib").debug("library debug %d (below the capture level)", i)
    logging.getLogger("tsdask.mine").debug("user debug %d", i)
    print("printed", i)
    print("to stderr", i, file=sys.stderr)
    warnings.warn(f"warned {i}", RuntimeWarning, stacklevel=1)
    logging.getLogger("tsdask.lib").info("with extra", extra={"size": i})
    import threading

    from distributed import get_worker

    return {"pid": os.getpid(), "address": get_worker().address, "thread": threading.current_thread().name}


def console_of(fn: Callable[[], None]) -> dict[str, str]:
    """What ``fn`` writes to this worker's fd 1 and 2 (the worker's console)."""
    import tempfile

    out: dict[str, str] = {}
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    files = {fd: tempfile.TemporaryFile() for fd in (1, 2)}
    try:
        for fd, f in files.items():
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(f.fileno(), fd)
        fn()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
    for fd, f in files.items():
        f.seek(0)
        out[str(fd)] = f.read().decode()
        f.close()
    return out


def console_check() -> dict[str, str]:
    def emit() -> None:
        print("console line")
        logging.getLogger("tsdask.quiet").info("an INFO nobody showed before")
        logging.getLogger("tsdask.quiet").warning("a WARNING shown by the last resort")
        logging.getLogger("distributed.worker").info("a distributed INFO its handler hides")
        logging.getLogger("distributed.worker").warning("a distributed WARNING its handler shows")

    return console_of(emit)


def worker_hooks() -> dict[str, Any]:
    import taskscope.capture.hooks as capture

    root = logging.getLogger()
    return {
        "stdout": type(sys.stdout).__name__,
        "stderr": type(sys.stderr).__name__,
        "ours": sum(isinstance(h, capture.CaptureHandler) for h in root.handlers),
        "root_level": root.level,
        "showwarning": getattr(warnings.showwarning, "__module__", ""),
        "guards": sum(isinstance(f, capture.LevelGuard) for h in logging.getLogger("distributed").handlers
                      for f in h.filters),
    }


def fail_until(counter: str, failures: int) -> str:
    """Fail the first ``failures`` calls (counted in a file shared by the workers)."""
    path = Path(counter)
    n = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(n))
    logging.getLogger("tsdask.retry").warning("call %d", n)
    if n <= failures:
        raise ValueError(f"failure {n}")
    return n


def wait_to_be_killed(marker: str) -> int:
    """First run: log, let the flush happen, tell the test our pid, sleep until killed.
    The rerun (after the kill) finds the marker and returns at once."""
    path = Path(marker)
    log = logging.getLogger("tsdask.kill")
    if path.exists():
        log.warning("rerun after the kill")
        return os.getpid()
    log.warning("before the kill")
    print("printed before the kill")
    time.sleep(1.0)  # several flush intervals: these rows are shipped
    path.write_text(str(os.getpid()))
    time.sleep(120)
    return -1


def flood(n: int) -> int:
    log = logging.getLogger("tsdask.flood")
    for i in range(n):
        log.info("flood %d", i)
    return n


def pid() -> int:
    return os.getpid()


# --- tests -----------------------------------------------------------------------------------


def test_logging_print_and_warnings_of_tasks_become_rows(recording: Any) -> None:
    client = recording
    ts.logger.getLogger("tsdask.mine")  # a user logger in the kernel: user on the workers too
    futures = client.map(emit_everything, range(4))
    info = client.gather(futures)
    keys = [f.key for f in futures]
    rows = wait_rows(lambda rs: sum(r["logger"] == "tsdask.lib" and r["msg"].startswith("with extra") for r in rs) == 4
                     and sum(r["logger"] == "taskscope.task" and '"finished"' in (r["extra"] or "") for r in rs) == 4)
    remote = [r for r in rows if r["worker"]]
    for i, (key, where) in enumerate(zip(keys, info)):
        mine = [r for r in remote if r["task"] == key]
        by = {(r["logger"], r["msg"]): r for r in mine}
        assert ("tsdask.lib", f"library info {i}") in by
        assert ("tsdask.mine", f"user debug {i}") in by
        assert ("stdout", f"printed {i}") in by and ("stderr", f"to stderr {i}") in by
        assert not any("below the capture level" in r["msg"] for r in mine)
        row = by[("tsdask.lib", f"library info {i}")]
        assert (row["worker"], row["pid"], row["thread"]) == (where["address"], where["pid"], where["thread"])
        assert row["hostname"] and row["source"] == "library" and row["level"] == "INFO"
        assert by[("tsdask.mine", f"user debug {i}")]["source"] == "user"
        assert by[("stdout", f"printed {i}")]["source"] == "print"
        assert by[("stderr", f"to stderr {i}")]["level"] == "WARNING"
        warned = [r for r in mine if r["msg"] == f"RuntimeWarning: warned {i}"]
        assert len(warned) == 1 and warned[0]["level"] == "WARNING"
        assert extra(by[("tsdask.lib", "with extra")])["size"] == i
        assert all(extra(r)["attempt"] == 1 and isinstance(extra(r)["run_id"], int) for r in mine)
        events = [extra(r)["event"] for r in mine if r["logger"] == "taskscope.task"]
        assert events == ["started", "finished"]
    finished = [r for r in remote if r["logger"] == "taskscope.task" and extra(r)["event"] == "finished"]
    assert all(r["source"] == "runtime" and extra(r)["duration"] >= 0 for r in finished)
    joined = [r for r in rows if r["msg"].startswith("taskscope capture started in Dask worker")]
    assert {r["worker"] for r in joined} == set(client.scheduler_info()["workers"])
    # status names the workers that sent rows (the panel's worker filter offers them)
    assert set(runtime.status()["workers"]) == {r["worker"] for r in remote}


def log_late(i: int) -> int:
    logging.getLogger("tsdask.late").debug("late debug %d", i)
    return os.getpid()


def test_a_user_logger_registered_while_attached_is_user_in_present_and_later_workers(
        recording: Any) -> None:
    """A cluster of its own (it grows; the module's cluster stays as it is)."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                                  dashboard_address="127.0.0.1:0", host="127.0.0.1") as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        assert client.id in [a["client"] for a in ts_dask.attached()]  # attached as it was made
        ts.logger.getLogger("tsdask.late")  # after attach: returns once the workers know it
        first = client.gather(client.map(log_late, range(2), pure=False))
        late = "logger = 'tsdask.late'"
        rows = wait_rows(lambda rs: len(rs) == 2, late)
        assert {r["pid"] for r in rows} == set(first)
        assert {(r["source"], r["level"]) for r in rows} == {("user", "DEBUG")}
        # A worker that joins now gets the plugin from the scheduler: with the new logger in it.
        present = set(client.scheduler_info()["workers"])
        cluster.scale(2)
        client.wait_for_workers(2, timeout=60)
        (joined,) = set(client.scheduler_info()["workers"]) - present
        second = client.gather(client.map(log_late, range(2, 4), workers=[joined], pure=False))
        assert set(second).isdisjoint(first)
        rows = wait_rows(lambda rs: len(rs) == 4, late)
        assert {r["pid"] for r in rows[2:]} == set(second)
        assert {(r["source"], r["level"]) for r in rows} == {("user", "DEBUG")}


def test_the_workers_console_shows_what_it_showed_before(recording: Any) -> None:
    client = recording
    [worker] = list(client.scheduler_info()["workers"])[:1]
    console = client.submit(console_check, workers=[worker], pure=False).result()
    assert "console line" in console["1"]
    assert "an INFO nobody showed before" not in console["1"] + console["2"]
    assert "a WARNING shown by the last resort" in console["2"]
    assert "a distributed WARNING its handler shows" in console["2"]
    assert "a distributed INFO its handler hides" not in console["2"]
    rows = wait_rows(lambda rs: any(r["msg"] == "a distributed WARNING its handler shows" for r in rs))
    assert {"console line", "an INFO nobody showed before", "a WARNING shown by the last resort",
            "a distributed INFO its handler hides"} <= {r["msg"] for r in rows if r["worker"] == worker}


def test_stop_removes_the_plugin_and_restores_the_workers(client: Any, fresh_runtime: Any) -> None:
    client.wait_for_workers(2, timeout=60)
    before = client.run(worker_hooks)
    runtime.start()
    during = client.run(worker_hooks)
    assert all(h["stdout"] == "StreamTee" and h["ours"] == 1 and h["guards"] >= 1 for h in during.values())
    runtime.stop()
    after = client.run(worker_hooks)
    assert after == before
    assert not any(name.startswith("taskscope-") for name in client.run_on_scheduler(
        lambda dask_scheduler: list(dask_scheduler.worker_plugins) + list(dask_scheduler.plugins)))
    rows = read_rows(runtime.store_path())
    stopped = [r for r in rows if r["msg"].startswith("taskscope capture stopped in Dask worker")]
    assert len(stopped) == 2 and rows[-1]["msg"] == "taskscope stopped"


def test_detach_and_attach_by_hand(recording: Any) -> None:
    client = recording
    assert ts.detach(client)["detached"] is True
    assert ts_dask.attached() == []
    client.submit(flood, 3, pure=False).result()
    assert ts.attach(client)["attached"] is True
    again = ts.attach(client)
    assert again["attached"] is True and again["reason"] == "already attached"
    key = client.submit(flood, 5, pure=False).key
    rows = wait_rows(lambda rs: sum(r["task"] == key and r["logger"] == "tsdask.flood" for r in rs) == 5)
    assert not any(r["logger"] == "tsdask.flood" and r["task"] != key for r in rows)


def test_a_client_made_while_recording_is_attached(recording: Any, cluster: Any) -> None:
    ts.detach(recording)
    with distributed.Client(cluster, set_as_default=False) as second:
        [attachment] = ts_dask.attached()
        assert attachment["client"] == second.id and attachment["auto"] is True
        key = second.submit(flood, 2, pure=False).key
        wait_rows(lambda rs: sum(r["task"] == key and r["logger"] == "tsdask.flood" for r in rs) == 2)
    assert ts_dask.attached() == []  # detached as it closed (dask_teardown)


def test_an_asynchronous_client_is_attached_and_detached_by_awaiting(recording: Any, cluster: Any) -> None:
    import asyncio

    ts.detach(recording)

    async def main() -> str:
        async with distributed.Client(cluster.scheduler_address, asynchronous=True,
                                      set_as_default=False) as aclient:
            [attachment] = ts_dask.attached()  # made while recording: attached as it started
            assert attachment["client"] == aclient.id and attachment["auto"] is True
            assert (await ts.detach(aclient))["detached"] is True
            assert (await ts.attach(aclient))["attached"] is True
            future = aclient.submit(flood, 2, pure=False)
            await future
            return str(future.key)

    key = asyncio.run(main())
    assert ts_dask.attached() == []  # closed: detached by dask_teardown
    wait_rows(lambda rs: sum(r["task"] == key and r["logger"] == "tsdask.flood" for r in rs) == 2)


def test_retries_are_new_attempts_with_lifecycle_rows(recording: Any, tmp_path: Path) -> None:
    client = recording
    future = client.submit(fail_until, str(tmp_path / "count"), 2, retries=2, pure=False)
    assert future.result() == 3
    key = future.key
    # Each worker sends on its own timer: wait for all three calls and eight lifecycle rows.
    rows = wait_rows(lambda rs: sum(r["task"] == key and r["logger"] == "tsdask.retry" for r in rs) == 3
                     and sum(r["task"] == key and r["logger"] == "taskscope.task" for r in rs) == 8)
    mine = [r for r in rows if r["task"] == key]
    calls = [r for r in mine if r["logger"] == "tsdask.retry"]
    # Rows of different workers arrive in any order; each carries its own attempt.
    assert sorted((r["msg"], extra(r)["attempt"]) for r in calls) == [("call 1", 1), ("call 2", 2), ("call 3", 3)]
    assert len({extra(r)["run_id"] for r in calls}) == 3
    life = sorted((extra(r)["attempt"], extra(r)["event"]) for r in mine if r["logger"] == "taskscope.task")
    assert life == [(1, "erred"), (1, "started"), (2, "erred"), (2, "retried"), (2, "started"),
                    (3, "finished"), (3, "retried"), (3, "started")]
    erred = sorted((r for r in mine if extra(r).get("event") == "erred"), key=lambda r: extra(r)["attempt"])
    assert all(r["level"] == "ERROR" and r["source"] == "runtime" for r in erred)
    assert "ValueError('failure 1')" in erred[0]["msg"] and "Traceback" in erred[0]["text"]
    assert "fail_until" in erred[0]["text"]


def test_other_clients_on_the_scheduler_get_none_of_our_rows(recording: Any, cluster: Any) -> None:
    client = recording
    [ours] = ts_dask.attached()
    with distributed.Client(cluster, set_as_default=False) as other:
        seen: list[Any] = []
        other.subscribe_topic("all", seen.append)
        other.subscribe_topic(ours["topic"].replace("taskscope-", "taskscope-x"), seen.append)
        key = client.submit(flood, 50, pure=False).key
        wait_rows(lambda rs: sum(r["task"] == key and r["logger"] == "tsdask.flood" for r in rs) == 50)
        assert not any(isinstance(e[1], bytes) for e in seen)
        assert other.get_events(ours["topic"]) == ()  # the scheduler keeps none of our batches


def test_a_flood_is_counted_stored_plus_dropped(recording: Any) -> None:
    client = recording
    ts.detach(client)
    # A small queue in each worker that drops, flushed twice a second: most of a flood is dropped.
    assert ts.attach(client, queue_size=500, flush_interval=0.5, lifecycle=False, overflow="drop")["attached"]
    n = 20_000
    workers = list(client.scheduler_info()["workers"])
    client.gather([client.submit(flood, n, pure=False, workers=[w]) for w in workers])

    def reported(rs: list[dict[str, Any]]) -> dict[str, int]:
        return {w: sum(extra(r)["dropped"] for r in rs if r["worker"] == w and r["msg"].endswith(
            "rows dropped (queue full at 500 rows)")) for w in workers}

    def complete(rs: list[dict[str, Any]]) -> bool:
        dropped = reported(rs)
        return all(dropped[w] + sum(r["worker"] == w and r["logger"] == "tsdask.flood" for r in rs) == n
                   for w in workers)

    rows = wait_rows(complete)
    assert all(d > 0 for d in reported(rows).values())
    assert runtime.status()["dropped"] == 0  # the kernel's own queue kept everything it got


def test_a_flood_into_a_small_blocking_queue_keeps_every_row(recording: Any) -> None:
    """The default overflow in a worker too: a task that logs faster than its writer
    ships waits for room instead of losing rows."""
    client = recording
    ts.detach(client)
    assert ts.attach(client, queue_size=500, flush_interval=0.5, lifecycle=False)["attached"]
    n = 20_000
    workers = list(client.scheduler_info()["workers"])
    client.gather([client.submit(flood, n, pure=False, workers=[w]) for w in workers])
    rows = wait_rows(lambda rs: all(sum(r["worker"] == w and r["logger"] == "tsdask.flood" for r in rs) == n
                                    for w in workers))
    assert not [r for r in rows if "rows dropped" in r["msg"]]
    for w in workers:
        numbers = [int(r["msg"].split()[-1]) for r in rows if r["worker"] == w and r["logger"] == "tsdask.flood"]
        assert numbers == list(range(n))


def test_the_kernel_never_waits_on_a_stopped_worker(recording: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that does not answer (SIGSTOP) costs the kernel nothing while recording,
    and stop() gives up on it after the timeout, with the other worker's rows stored."""
    client = recording
    monkeypatch.setattr(ts_dask, "TIMEOUT", 2.0)
    pids = client.run(pid)
    frozen, other = sorted(pids)
    os.kill(pids[frozen], signal.SIGSTOP)
    try:
        logging.getLogger("tsdask.kernel").warning("the kernel logs on")
        key = client.submit(flood, 3, workers=[other], pure=False).key
        wait_rows(lambda rs: sum(r["task"] == key and r["logger"] == "tsdask.flood" for r in rs) == 3
                  and any(r["msg"] == "the kernel logs on" for r in rs))
        assert runtime.stop()["recording"] is False
    finally:
        os.kill(pids[frozen], signal.SIGCONT)
    rows = read_rows(runtime.store_path())
    assert any("was not clean" in r["msg"] for r in rows)
    assert any(r["worker"] == other and r["msg"].startswith("taskscope capture stopped") for r in rows)
    assert rows[-1]["msg"] == "taskscope stopped"
    runtime.start()  # the fixture stops it again


def test_attaching_does_not_wait_on_a_stopped_worker_beyond_the_timeout(
        recording: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = recording
    monkeypatch.setattr(ts_dask, "TIMEOUT", 2.0)
    ts.detach(client)
    pids = client.run(pid)
    frozen, other = sorted(pids)
    os.kill(pids[frozen], signal.SIGSTOP)
    try:
        result = ts.attach(client)
        assert result["attached"] is True
    finally:
        os.kill(pids[frozen], signal.SIGCONT)
    keys = {w: client.submit(flood, 2, workers=[w], pure=False).key for w in (frozen, other)}
    rows = wait_rows(lambda rs: all(sum(r["task"] == k and r["logger"] == "tsdask.flood" for r in rs) == 2
                                    for k in keys.values()))
    assert any("did not answer within 2 s" in r["msg"] for r in rows)
    # The late worker got the capture when it answered: its rows are there too.
    assert {r["worker"] for r in rows if r["task"] == keys[frozen]} == {frozen}


def test_a_kernel_that_dies_attached_leaves_no_capture_behind(cluster: Any, client: Any, tmp_path: Path) -> None:
    """Another "kernel" attaches to our cluster and is killed: the scheduler plugin sees its
    client go and removes the worker plugin, so the workers stop capturing."""
    import subprocess
    import textwrap

    client.wait_for_workers(2, timeout=60)
    before = client.run(worker_hooks)
    code = textwrap.dedent(f"""
        import sys, time
        import taskscope as ts
        ts.start()
        from distributed import Client
        client = Client({cluster.scheduler_address!r})
        print("attached", len(ts.dask.attached()), flush=True)
        time.sleep(600)
    """)
    env = {**os.environ, "TASKSCOPE_HOME": str(tmp_path)}
    env.pop("PYTEST_CURRENT_TEST", None)
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert other.stdout is not None and other.stdout.readline().strip() == "attached 1"
        assert all(h["ours"] == 1 for h in client.run(worker_hooks).values())
    finally:
        other.kill()
        other.wait()

    def ours_on_scheduler() -> list[str]:
        return [name for name in client.run_on_scheduler(
            lambda dask_scheduler: [*dask_scheduler.worker_plugins, *dask_scheduler.plugins])
            if name.startswith("taskscope-")]

    deadline = time.monotonic() + 60
    while client.run(worker_hooks) != before or ours_on_scheduler():
        assert time.monotonic() < deadline, (client.run(worker_hooks), ours_on_scheduler())
        time.sleep(0.2)


def test_kill_9_a_worker_mid_task(recording: Any, tmp_path: Path) -> None:
    client = recording
    marker = tmp_path / "killed"
    future = client.submit(wait_to_be_killed, str(marker), pure=False)
    key = future.key
    deadline = time.monotonic() + 60
    while not marker.exists() or not marker.read_text():
        assert time.monotonic() < deadline and not future.done()
        time.sleep(0.05)
    victim = int(marker.read_text())
    before_kill = set(client.run(pid).values())
    os.kill(victim, signal.SIGKILL)
    rerun_pid = future.result(timeout=120)
    assert rerun_pid != victim
    rows = wait_rows(lambda rs: any(r["msg"] == "rerun after the kill" for r in rs))
    mine = [r for r in rows if r["task"] == key]
    before = [r for r in mine if r["msg"] in ("before the kill", "printed before the kill")]
    assert len(before) == 2 and all(r["pid"] == victim and extra(r)["attempt"] == 1 for r in before)
    lost = [r for r in rows if r["source"] == "system" and "was lost" in r["msg"]]
    assert len(lost) == 1 and key in extra(lost[0])["tasks"]
    assert lost[0]["worker"] == before[0]["worker"]
    rerun = [r for r in mine if r["msg"] == "rerun after the kill"]
    assert len(rerun) == 1 and extra(rerun[0])["attempt"] == 2 and rerun[0]["pid"] == rerun_pid
    again = [r for r in mine if extra(r).get("event") == "rescheduled"]
    assert len(again) == 1 and extra(again[0])["attempt"] == 2
    # The nanny restarts the killed worker, and the plugin is installed there again.
    client.wait_for_workers(2, timeout=60)
    pids = set(client.run(pid).values())
    assert victim not in pids
    [new_pid] = pids - before_kill
    wait_rows(lambda rs: any(r["pid"] == new_pid and r["msg"].startswith("taskscope capture started") for r in rs))
    [new_worker] = [w for w, p in client.run(pid).items() if p == new_pid]
    key = client.submit(flood, 3, pure=False, workers=[new_worker]).key
    rows = wait_rows(lambda rs: sum(r["task"] == key and r["logger"] == "tsdask.flood" for r in rs) == 3)
    assert {r["pid"] for r in rows if r["task"] == key} == {new_pid}


def test_importing_distributed_while_recording_keeps_its_console_logging(tmp_path: Path) -> None:
    """distributed sets up its stderr handler only on a bare root logger: ``import
    distributed`` after ``start()`` must do what it does without taskscope, and its
    records (``propagate = False``) are rows all the same."""
    import subprocess
    import textwrap

    code = textwrap.dedent("""
        import json, logging, sys
        import taskscope as ts
        ts.start()
        import distributed
        log = logging.getLogger("distributed")
        shape = {"propagate": log.propagate, "level": log.level,
                 "handlers": [type(h).__name__ for h in log.handlers if type(h).__name__ != "CaptureHandler"]}
        logging.getLogger("distributed.worker").warning("a distributed warning")
        ts.runtime.flush()
        import sqlite3
        rows = [r[0] for r in sqlite3.connect(ts.runtime.store_path()).execute("select logger from rows")]
        ts.stop()
        print(json.dumps({"shape": shape, "captured": "distributed.worker" in rows,
                          "after": [type(h).__name__ for h in log.handlers]}))
    """)
    env = {**os.environ, "TASKSCOPE_HOME": str(tmp_path)}
    env.pop("PYTEST_CURRENT_TEST", None)
    plain = subprocess.run([sys.executable, "-c", "import json, logging, distributed; log = logging.getLogger("
                            "'distributed'); print(json.dumps({'propagate': log.propagate, 'level': log.level, "
                            "'handlers': [type(h).__name__ for h in log.handlers]}))"],
                           capture_output=True, text=True, check=True, env=env)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["shape"] == json.loads(plain.stdout) == {"propagate": False, "level": 20, "handlers": ["StreamHandler"]}
    assert result["captured"] is True
    assert result["after"] == ["StreamHandler"]
    assert "a distributed warning" in out.stderr  # distributed's own console handler showed it
