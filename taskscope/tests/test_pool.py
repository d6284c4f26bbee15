"""Process pools: rows from real child processes (fork and spawn) over ZeroMQ.

Functions run in the children are module functions (spawned children import this
module by name).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import pytest

import taskscope as ts
from taskscope.remote import pool
from taskscope import runtime
from taskscope.remote import wire
from taskscope.remote import receiver as receivers
from taskscope.record.rows import HOSTNAME
from taskscope.remote.wire import encode
from taskscope.tests.conftest import read_rows


def wait_rows(predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        runtime.flush()
        rows = read_rows(runtime.store_path())
        if predicate(rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"rows never matched; {len(rows)}: " + "\n".join(str((r["pid"], r["logger"], r["msg"][:80])) for r in rows))
        time.sleep(0.1)


def extra(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["extra"]) if row["extra"] else {}


# --- functions run in the children ----------------------------------------------------------


def work(i: int) -> dict[str, Any]:
    logging.getLogger("tspool.lib").info("pool info %d", i)
    print("pool print", i)
    warnings.warn(f"pool warned {i}", UserWarning, stacklevel=1)
    return {"pid": os.getpid(), "name": multiprocessing.current_process().name, "installed": pool.installed()}


def shout(i: int, tag: str) -> int:
    """One line on stdout and one on stderr (test_pool_kernel.py: each must be one row)."""
    print(f"{tag} says {i}")
    print(f"{tag} complains {i}", file=sys.stderr)
    return os.getpid()


def item_key(i: int) -> str:
    return f"item-{i}"


def fail(i: int) -> None:
    raise KeyError(f"no item {i}")


def die_after_a_flush(i: int) -> None:
    log = logging.getLogger("tspool.die")
    log.warning("flushed before dying")
    time.sleep(1.0)  # several flush intervals
    log.warning("maybe lost: sent with the next batch, which never comes")
    os.kill(os.getpid(), signal.SIGKILL)


def flood(n: int) -> int:
    log = logging.getLogger("tspool.flood")
    for i in range(n):
        log.info("flood %d", i)
    return os.getpid()


def fork_and_report(_: int) -> dict[str, Any]:
    """Fork a grandchild: it must not capture with (or touch) its parent's socket."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            logging.getLogger("tspool.grandchild").warning("from a grandchild")
            os.write(write, json.dumps({"installed": pool.installed(),
                                        "capture": pool._state.capture is not None}).encode())
        finally:
            os._exit(0)
    os.close(write)
    data = os.read(read, 1000)
    os.waitpid(child, 0)
    return {"grandchild": json.loads(data), "parent_installed": pool.installed()}


def late_logger_level(name: str) -> tuple[int, int]:
    """This child's pid and whether DEBUG of ``name`` is taken now (then logs one)."""
    log = logging.getLogger(name)
    if log.isEnabledFor(logging.DEBUG):
        log.debug("late debug from %d", os.getpid())
        return os.getpid(), 1
    return os.getpid(), 0


def my_init(path: str, text: str) -> None:
    with open(path, "a") as f:
        f.write(f"{text} {os.getpid()}\n")


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_process_pool_executor_children_send_rows(fresh_runtime: Any, method: str) -> None:
    runtime.start()
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(2, mp_context=context, initializer=ts.pool.initializer,
                             initargs=ts.pool.initargs()) as executor:
        results = list(executor.map(ts.pool.task(work, key=item_key), range(4)))
    assert all(r["installed"] for r in results)
    rows = wait_rows(lambda rs: sum(r["logger"] == "tspool.lib" for r in rs) == 4
                     and sum(r["logger"] == "taskscope.task" and '"finished"' in (r["extra"] or "") for r in rs) == 4)
    for i, result in enumerate(results):
        mine = [r for r in rows if r["task"] == f"item-{i}"]
        by = {(r["logger"], r["msg"]): r for r in mine}
        row = by[("tspool.lib", f"pool info {i}")]
        assert (row["pid"], row["worker"], row["hostname"]) == (result["pid"], result["name"], HOSTNAME)
        assert ("stdout", f"pool print {i}") in by
        assert any(r["msg"] == f"UserWarning: pool warned {i}" for r in mine)
        life = [extra(r)["event"] for r in mine if r["logger"] == "taskscope.task"]
        assert life == ["started", "finished"]
    assert all(r["pid"] != os.getpid() for r in rows if r["logger"] == "tspool.lib")


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_multiprocessing_pool_children_send_rows(fresh_runtime: Any, method: str) -> None:
    runtime.start(pools=False)  # set up by hand only: plain calls have no task id (test_pool_auto.py: with)
    # close() + join(): the children end normally and ship everything (the end of a
    # `with` block: test_a_with_pool_block_keeps_every_row)
    workers = multiprocessing.get_context(method).Pool(2, initializer=ts.pool.initializer,
                                                       initargs=ts.pool.initargs())
    try:
        results = workers.map(work, range(3))
        with pytest.raises(KeyError):
            workers.apply(ts.pool.task(fail, name="failing"), (7,))
    finally:
        workers.close()
        workers.join()
    rows = wait_rows(lambda rs: sum(r["logger"] == "tspool.lib" for r in rs) == 3
                     and any(extra(r).get("event") == "erred" for r in rs))
    pids = {r["pid"] for r in results}
    assert {r["pid"] for r in rows if r["logger"] == "tspool.lib"} <= pids
    assert all(r["task"] == "" for r in rows if r["logger"] == "tspool.lib")  # no task() wrapper: no id
    [erred] = [r for r in rows if extra(r).get("event") == "erred"]
    assert erred["task"].startswith("failing-") and erred["level"] == "ERROR"
    assert "KeyError: 'no item 7'" in erred["text"] and "Traceback" in erred["text"]


def test_joblib_loky_workers_send_rows(fresh_runtime: Any) -> None:
    import joblib

    runtime.start()
    results = joblib.Parallel(n_jobs=2, backend="loky", initializer=ts.pool.initializer,
                              initargs=ts.pool.initargs())(joblib.delayed(work)(i) for i in range(3))
    rows = wait_rows(lambda rs: sum(r["logger"] == "tspool.lib" for r in rs) == 3)
    assert all(r["installed"] and r["name"].startswith("LokyProcess") for r in results)
    assert {r["worker"] for r in rows if r["logger"] == "tspool.lib"} <= {r["name"] for r in results}


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_user_logger_registered_after_the_pool_started_is_user_in_its_children(
        fresh_runtime: Any, method: str) -> None:
    name = f"tspool.late.{method}"
    runtime.start()
    context = multiprocessing.get_context(method)
    with ProcessPoolExecutor(2, mp_context=context, initializer=ts.pool.initializer,
                             initargs=ts.pool.initargs()) as executor:
        before = list(executor.map(late_logger_level, [name] * 4))
        assert {taken for _, taken in before} == {0}  # a library logger: INFO and up
        children = set(executor._processes)  # started: ProcessPoolExecutor keeps them by pid
        ts.logger.getLogger(name)
        # Each child reads the news on its writer's next tick: ask until every one has it.
        deadline = time.monotonic() + 30
        told: set[int] = set()
        while told != children and time.monotonic() < deadline:
            told |= {pid for pid, taken in executor.map(late_logger_level, [name] * 8) if taken}
    assert told == children and len(children) == 2
    rows = wait_rows(lambda rs: {r["pid"] for r in rs if r["logger"] == name} == children)
    late = [r for r in rows if r["logger"] == name]
    assert {(r["source"], r["level"]) for r in late} == {("user", "DEBUG")}


def test_a_child_killed_mid_batch_loses_at_most_that_batch(fresh_runtime: Any) -> None:
    runtime.start()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                             initializer=ts.pool.initializer, initargs=ts.pool.initargs()) as executor:
        with pytest.raises(BrokenProcessPool):
            executor.submit(die_after_a_flush, 1).result(timeout=60)
    rows = wait_rows(lambda rs: any(r["msg"] == "flushed before dying" for r in rs))
    assert runtime.flush() and runtime.status()["recording"]  # the kernel goes on as before


def test_initargs_chain_the_users_initializer(fresh_runtime: Any, tmp_path: Any) -> None:
    marks = tmp_path / "marks"
    args = ts.pool.initargs(then=my_init, args=(str(marks), "not recording"))
    assert args[0] is None  # not recording: the children capture nothing
    with ProcessPoolExecutor(1, initializer=ts.pool.initializer, initargs=args) as executor:
        assert executor.submit(work, 0).result()["installed"] is False
    runtime.start()
    args = ts.pool.initargs(then=my_init, args=(str(marks), "recording"))
    with ProcessPoolExecutor(1, initializer=ts.pool.initializer, initargs=args) as executor:
        assert executor.submit(work, 0).result()["installed"] is True
    assert [line.split()[0] for line in marks.read_text().splitlines()] == ["not", "recording"]


def test_a_process_forked_from_a_child_does_not_capture(fresh_runtime: Any) -> None:
    runtime.start()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                             initializer=ts.pool.initializer, initargs=ts.pool.initargs()) as executor:
        result = executor.submit(fork_and_report, 0).result(timeout=60)
    assert result == {"grandchild": {"installed": False, "capture": False}, "parent_installed": True}
    runtime.stop()
    assert not any(r["logger"] == "tspool.grandchild" for r in read_rows(runtime.store_path()))


def test_the_kernels_socket_does_not_cross_a_fork(fresh_runtime: Any) -> None:
    runtime.start()
    receiver = receivers.receiver()
    assert receiver is not None and receiver.address.startswith("tcp://127.0.0.1:")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.write(write, json.dumps([receivers._receiver is None, runtime.status()["recording"]]).encode())
        finally:
            os._exit(0)
    os.close(write)
    assert json.loads(os.read(read, 100)) == [True, False]
    os.waitpid(child, 0)
    assert receivers.receiver() is receiver and receiver.running  # the kernel's is untouched


def test_a_pool_flood_is_counted_stored_plus_dropped(fresh_runtime: Any) -> None:
    runtime.start()
    n = 20_000
    args = ts.pool.initargs(queue_size=500, flush_interval=0.5, lifecycle=False)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                             initializer=ts.pool.initializer, initargs=args) as executor:
        child = executor.submit(flood, n).result(timeout=60)

    def counted(rs: list[dict[str, Any]]) -> tuple[int, int]:
        stored = sum(r["logger"] == "tspool.flood" for r in rs)
        dropped = sum(extra(r)["dropped"] for r in rs if r["pid"] == child and r["msg"].endswith("rows dropped (queue full at 500 rows)"))
        return stored, dropped

    rows = wait_rows(lambda rs: sum(counted(rs)) == n)
    stored, dropped = counted(rows)
    assert stored > 0 and dropped > 0


# --- the receiver: loopback, token, no pickle, size cap ------------------------------------


def push(address: str, frames: list[bytes]) -> None:
    import zmq

    context = zmq.Context()
    sock = context.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 2000)
    sock.connect(address)
    sock.send_multipart(frames)
    sock.close()
    context.term()


def batch(msg: str) -> bytes:
    row = (("WARNING", 30, "library", "tspool.raw", "t", "", None), time.time(), msg, None, None)
    return encode({"v": 1, "k": "pool", "w": "raw", "h": "elsewhere", "p": 4242, "n": 1, "f": False}, [row])


def test_the_receiver_takes_only_our_messages(fresh_runtime: Any) -> None:
    import pickle

    runtime.start()
    receiver = receivers.receiver()
    assert receiver is not None
    token = receiver.token.encode()
    push(receiver.address, [wire.MAGIC, b"0" * len(token), batch("wrong token")])
    push(receiver.address, [wire.MAGIC, token, pickle.dumps({"rows": []})])
    push(receiver.address, [b"something else", token, batch("wrong magic")])
    push(receiver.address, [wire.MAGIC, token, batch("accepted")])
    rows = wait_rows(lambda rs: any(r["msg"] == "accepted" for r in rs) and receiver.inbox.rejected == 3)
    assert not any(r["msg"] in ("wrong token", "wrong magic") for r in rows)
    [accepted] = [r for r in rows if r["msg"] == "accepted"]
    assert (accepted["hostname"], accepted["pid"], accepted["worker"]) == ("elsewhere", 4242, "raw")
    rejected = [r for r in rows if r["source"] == "system" and "rejected" in r["msg"]]
    assert rejected and "wrong token" in rejected[0]["msg"]


def test_the_receiver_refuses_messages_above_its_cap(fresh_runtime: Any) -> None:
    runtime.start()
    receiver = receivers.ZmqReceiver(max_message=4096)
    receiver.start()
    try:
        big = batch("x" * 50_000 + os.urandom(20_000).hex())
        assert len(big) > 4096
        push(receiver.address, [wire.MAGIC, receiver.token.encode(), big])
        push(receiver.address, [wire.MAGIC, receiver.token.encode(), batch("small after big")])
        rows = wait_rows(lambda rs: any(r["msg"] == "small after big" for r in rs))
        assert not any(r["msg"].startswith("xxxx") for r in rows)
    finally:
        receiver.stop()


def test_a_port_that_cannot_be_bound_costs_the_capture_not_the_pool(fresh_runtime: Any) -> None:
    import socket

    runtime.start()
    running = receivers.receiver()
    assert running is not None and ts.pool.initargs(port=running.bound_port)[0] is not None  # reused
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        blocked = ts.pool.initargs(port=taken.getsockname()[1])
    assert blocked[0] is None
    with ProcessPoolExecutor(1, initializer=ts.pool.initializer, initargs=blocked) as executor:
        assert executor.submit(work, 0).result()["installed"] is False
    runtime.flush()
    assert any("pool processes will not be captured" in r["msg"] for r in read_rows(runtime.store_path()))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_terminating_a_pool_never_hangs_on_its_children(fresh_runtime: Any, method: str) -> None:
    """`with Pool(...)` ends in Pool.terminate: SIGTERM to each child, then a join. A child
    that swallowed the signal (as an interrupted flush once did) hung the user's cell."""
    runtime.start()
    for _ in range(3):
        with multiprocessing.get_context(method).Pool(2, initializer=ts.pool.initializer,
                                                      initargs=ts.pool.initargs()) as workers:
            results = workers.map(work, range(4))
            children = list(workers._pool)
        # terminate joined them: every child has ended (a hang fails by the test timeout)
        assert all(child.exitcode is not None for child in children)
        assert {r["pid"] for r in results} <= {child.pid for child in children}


def tagged(i: int, round_: int) -> int:
    for j in range(20):
        logging.getLogger("tspool.with").warning("round %d task %d row %d", round_, i, j)
    return os.getpid()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_with_pool_block_keeps_every_row(fresh_runtime: Any, method: str) -> None:
    """The end of `with Pool()`: the task handler's sentinels start the children's normal
    exit (which ships their rows) and Pool.terminate's SIGTERM can come in the middle of
    it. That SIGTERM once ended the child at once, losing all its rows; now the exit in
    progress finishes first, still bounded (test above)."""
    runtime.start()
    rounds = 6
    for round_ in range(rounds):
        with multiprocessing.get_context(method).Pool(2, initializer=ts.pool.initializer,
                                                      initargs=ts.pool.initargs()) as workers:
            workers.starmap(tagged, [(i, round_) for i in range(3)])
    rows = wait_rows(lambda rs: sum(r["logger"] == "tspool.with" for r in rs) >= rounds * 3 * 20, timeout=20)
    got = {r["msg"] for r in rows if r["logger"] == "tspool.with"}
    assert got == {f"round {k} task {i} row {j}" for k in range(rounds) for i in range(3) for j in range(20)}
