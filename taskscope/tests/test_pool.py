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
import subprocess
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
    args = ts.pool.initargs(queue_size=500, flush_interval=0.5, lifecycle=False, overflow="drop")
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


def test_a_pool_flood_into_a_small_blocking_queue_keeps_every_row(fresh_runtime: Any) -> None:
    """The default overflow: the child's task waits for room instead of losing rows."""
    runtime.start()
    n = 20_000
    args = ts.pool.initargs(queue_size=500, flush_interval=0.5, lifecycle=False)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                             initializer=ts.pool.initializer, initargs=args) as executor:
        executor.submit(flood, n).result(timeout=60)
    rows = wait_rows(lambda rs: sum(r["logger"] == "tspool.flood" for r in rs) == n)
    assert [int(r["msg"].split()[-1]) for r in rows if r["logger"] == "tspool.flood"] == list(range(n))
    assert not [r for r in rows if "rows dropped" in r["msg"]]


def test_a_child_whose_messages_the_kernel_drops_whole_still_accounts_for_every_row(fresh_runtime: Any) -> None:
    """The child drops (its queue is small) and the kernel drops the child's messages whole
    (its queue is smaller than two messages and drained twice a second). A child's drop
    count used to travel as a row in a message, lost with it; every header now carries the
    child's running total, and the kernel says the difference."""
    runtime.start(queue_size=600, batch_size=100_000, flush_interval=0.5)
    n = 20_000
    args = ts.pool.initargs(queue_size=300, batch_size=250, flush_interval=0.02, lifecycle=False,
                            overflow="drop")
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"),
                             initializer=ts.pool.initializer, initargs=args) as executor:
        child = executor.submit(flood, n).result(timeout=60)
    receiver = receivers.receiver()
    assert receiver is not None

    def told(rs: list[dict[str, Any]]) -> int:  # what the kernel said the child dropped
        return sum(extra(r)["dropped"] for r in rs if r["pid"] == child and r["msg"].endswith(
            "rows dropped (queue full at 300 rows)"))

    def kept(rs: list[dict[str, Any]]) -> int:  # the child's rows, of the flood and its own
        return sum(r["pid"] == child and (r["logger"] == "tspool.flood" or "taskscope capture" in r["msg"])
                   for r in rs)

    # the child emitted n rows and two of its own (capture started, stopped)
    rows = wait_rows(lambda rs: kept(rs) + told(rs) + runtime.status()["dropped"] == n + 2)
    assert told(rows) > 0 and runtime.status()["dropped"] > 0  # both queues overflowed
    assert runtime.status()["dropped"] == receiver.inbox.dropped  # the kernel dropped whole messages only
    assert sum(r["logger"] == "tspool.flood" for r in rows) > 0


# --- the receiver: loopback, authenticated connections, no pickle, size and byte caps --------


def secure(sock: Any, credentials: dict[str, str] | None) -> None:
    """Give a PUSH socket the receiver's credentials (as a pool child's sink does), or none."""
    import zmq

    if credentials is None:
        return
    if credentials["mechanism"] == "curve":
        sock.setsockopt(zmq.CURVE_SERVERKEY, credentials["server_key"].encode())
        sock.setsockopt(zmq.CURVE_PUBLICKEY, credentials["public_key"].encode())
        sock.setsockopt(zmq.CURVE_SECRETKEY, credentials["secret_key"].encode())
    else:
        sock.setsockopt(zmq.PLAIN_USERNAME, credentials["username"].encode())
        sock.setsockopt(zmq.PLAIN_PASSWORD, credentials["password"].encode())


def push(receiver: Any, frames: list[bytes], credentials: dict[str, str] | None = None) -> None:
    import zmq

    context = zmq.Context()
    sock = context.socket(zmq.PUSH)
    sock.setsockopt(zmq.LINGER, 2000)
    secure(sock, receiver.credentials if credentials is None else credentials)
    sock.connect(receiver.address)
    sock.send_multipart(frames)
    sock.close()
    context.term()


def batch(msg: str) -> bytes:
    row = (("WARNING", 30, "library", "tspool.raw", "t", "", None), time.time(), msg, None, None)
    return encode({"v": 1, "k": "pool", "w": "raw", "h": "elsewhere", "p": 4242, "n": 1, "f": False}, [row])


def wrong_keys(receiver: Any) -> dict[str, str]:
    """CURVE keys of a peer that knows the server's public key (not a secret) but not ours."""
    import zmq

    public, secret = zmq.curve_keypair()
    return {**receiver.credentials, "public_key": public.decode(), "secret_key": secret.decode()}


#: A peer in its own process: connects with the given credentials (none: ZeroMQ's NULL
#: mechanism), says "ready", and on each line from stdin sends ``frames`` messages of
#: ``size`` bytes (one buffer, zero-copy, in frames as ours are sent: the peer's memory
#: stays small) or, with size 0, floods small valid batches until killed. With ``raw``, it
#: opens that many TCP connections instead, each greeting as a CURVE client would, then
#: announcing a handshake command of ``size`` bytes and sending it.
PEER = """if True:
    import json, socket, struct, sys, threading, zmq
    from taskscope.tests.test_pool import batch, secure
    from taskscope.remote.wire import MAGIC, frames
    spec = json.loads(sys.argv[1])

    def raw(port):
        greeting = b"\\xff" + bytes(8) + b"\\x7f" + bytes([3, 0]) + b"CURVE".ljust(20, bytes(1)) + bytes(32)
        try:
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(greeting + b"\\x06" + struct.pack(">Q", spec["size"]) + b"\\x05HELLO")
                s.sendall(bytes(spec["size"] - 6))
                s.recv(1)
        except OSError:
            pass

    if spec["raw"]:
        print("ready", flush=True)
        sys.stdin.readline()
        port = int(spec["address"].rsplit(":", 1)[1])
        threads = [threading.Thread(target=raw, args=(port,)) for _ in range(spec["raw"])]
        for t in threads:
            t.start()
        print("sent", flush=True)
        sys.stdin.readline()
        sys.exit()
    context = zmq.Context()
    sock = context.socket(zmq.PUSH)
    sock.setsockopt(zmq.SNDHWM, 1_000_000)
    sock.setsockopt(zmq.LINGER, 0)
    secure(sock, spec["credentials"])
    sock.connect(spec["address"])
    print("ready", flush=True)
    while sys.stdin.readline():
        if spec["size"]:
            message = frames(b"junk" * (spec["size"] // 4))
            for _ in range(spec["frames"]):
                try:  # a peer refused in its handshake has no pipe left: a send would block
                    sock.send_multipart(message, flags=zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    pass
        else:
            message = batch("flood")
            while True:
                try:
                    sock.send_multipart([MAGIC, message], flags=zmq.NOBLOCK)
                except zmq.Again:
                    pass
        print("sent", flush=True)
"""


class Peer:
    def __init__(self, receiver: Any, credentials: dict[str, str] | None, frames: int = 0, size: int = 0,
                 raw: int = 0) -> None:
        spec = {"address": receiver.address, "credentials": credentials, "frames": frames, "size": size, "raw": raw}
        self.process = subprocess.Popen([sys.executable, "-c", PEER, json.dumps(spec)], text=True,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.expect("ready")

    def expect(self, line: str) -> None:
        assert self.process.stdout is not None
        assert self.process.stdout.readline().strip() == line

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def close(self) -> None:
        self.process.kill()
        self.process.wait()


def rss(field: str = "VmRSS") -> int:
    """This process's resident memory (``VmHWM``: its peak since :func:`reset_peak`), bytes."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(field + ":"))


def reset_peak() -> int:
    """Start measuring the peak RSS afresh (Linux: clear_refs 5); the RSS now."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return rss()


def hold_the_gil() -> int:
    """What a busy cell does to the receiver's thread: one long C call, no GIL released
    (ZeroMQ's own I/O thread, without the GIL, goes on reading the network meanwhile)."""
    return sum(range(150_000_000))


def test_the_receiver_takes_only_our_messages(fresh_runtime: Any) -> None:
    import pickle

    runtime.start()
    receiver = receivers.receiver()
    assert receiver is not None and receiver.credentials["mechanism"] == "curve"
    push(receiver, [wire.MAGIC, pickle.dumps({"rows": []})])
    push(receiver, [b"something else", batch("wrong magic")])
    push(receiver, [wire.MAGIC, b"an old token", batch("three frames")])
    push(receiver, [wire.MAGIC, batch("accepted")])
    rows = wait_rows(lambda rs: any(r["msg"] == "accepted" for r in rs) and receiver.inbox.rejected == 3)
    assert not any(r["msg"] in ("wrong magic", "three frames") for r in rows)
    [accepted] = [r for r in rows if r["msg"] == "accepted"]
    assert (accepted["hostname"], accepted["pid"], accepted["worker"]) == ("elsewhere", 4242, "raw")
    rejected = [r for r in rows if r["source"] == "system" and "rejected" in r["msg"]]
    assert rejected and "1 rejected so far" in rejected[0]["msg"]


def test_a_peer_without_the_sessions_key_gets_nothing_in(fresh_runtime: Any) -> None:
    """Wrong-token 8 MiB frames used to be buffered whole (10,000 per connection) before
    the token was looked at: sent while a cell held the GIL, they grew the kernel by GBs.
    Now ZeroMQ refuses such a peer in its handshake: nothing it sends is read, and the
    handshake itself takes no large command (frames are at most MAX_FRAME bytes)."""
    runtime.start()
    receiver = receivers.receiver()
    assert receiver is not None
    frames, size = 24, 8 * 1024 * 1024
    peers = [Peer(receiver, None, frames, size),  # no key at all
             Peer(receiver, wrong_keys(receiver), frames, size),  # the server's key, a wrong own key
             Peer(receiver, None, size=size, raw=16)]  # 16 handshakes, each with an 8 MiB command
    try:
        before = reset_peak()
        for peer in peers:
            peer.go()
        for peer in peers:
            peer.expect("sent")
        hold_the_gil()
        deadline = time.monotonic() + 30
        while receiver.inbox.refused < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        grown = rss("VmHWM") - before
    finally:
        for peer in peers:
            peer.close()
    assert receiver.inbox.refused >= 1  # the keyed handshake was refused by our ZAP handler
    assert (receiver.inbox.messages, receiver.inbox.rejected) == (0, 0)  # nothing came in
    assert grown < 64 * 1024 * 1024, f"the kernel grew by {grown >> 20} MiB"  # 3 x 192 MiB were sent
    push(receiver, [wire.MAGIC, batch("a keyed peer still gets in")])
    rows = wait_rows(lambda rs: any(r["msg"] == "a keyed peer still gets in" for r in rs))
    refused = [r for r in rows if r["source"] == "system" and "refused so far" in r["msg"]]
    assert refused and "without this session's key" in refused[0]["msg"]


def test_what_an_authenticated_peer_can_make_the_kernel_hold_is_bounded_in_bytes(fresh_runtime: Any) -> None:
    """A keyed peer sends 48 frames of 8 MiB while the receiver's thread cannot run:
    ZeroMQ holds at most RCVHWM + 1 of them (the rest wait in TCP and in the sender)."""
    runtime.start()
    receiver = receivers.receiver()
    assert receiver is not None
    frames, size = 48, 8 * 1024 * 1024
    peer = Peer(receiver, receiver.credentials, frames, size)
    try:
        push(receiver, [wire.MAGIC, batch("connected")])
        before = reset_peak()
        peer.go()
        peer.expect("sent")
        hold_the_gil()
        deadline = time.monotonic() + 60
        while receiver.inbox.rejected < frames and time.monotonic() < deadline:
            time.sleep(0.1)
        grown = rss("VmHWM") - before
    finally:
        peer.close()
    assert receiver.inbox.rejected == frames  # each came in (junk: rejected), in turn
    bound = (receivers.RCVHWM + 1) * (wire.MAX_MESSAGE + 64) + 32 * 1024 * 1024
    assert grown < bound, f"the kernel grew by {grown >> 20} MiB (bound {bound >> 20} MiB; 384 MiB were sent)"


def test_stop_closes_the_socket_under_a_flood(fresh_runtime: Any) -> None:
    """The receiver used to drain its socket before it looked at the stop flag: under a
    flood, stop() gave up after 5 s and the port listened on."""
    import socket

    runtime.start()
    receiver = receivers.receiver()
    assert receiver is not None
    peer = Peer(receiver, receiver.credentials)
    try:
        peer.go()
        deadline = time.monotonic() + 60
        while receiver.inbox.messages < 2000 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.inbox.messages >= 2000  # flooding
        thread = receiver._thread
        assert thread is not None
        runtime.stop()
        assert not thread.is_alive()
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", receiver.bound_port))
    finally:
        peer.close()


def test_plain_where_curve_is_missing_admits_only_the_password(fresh_runtime: Any) -> None:
    """libzmq without CURVE: PLAIN with a password made per receiver, loopback only."""
    runtime.start()
    with pytest.raises(ValueError, match="PLAIN"):
        receivers.ZmqReceiver("0.0.0.0", mechanism="plain")
    receiver = receivers.ZmqReceiver(mechanism="plain")
    receiver.start()
    try:
        push(receiver, [wire.MAGIC, batch("wrong password")], {**receiver.credentials, "password": "guess"})
        push(receiver, [wire.MAGIC, batch("right password")])
        wait_rows(lambda rs: any(r["msg"] == "right password" for r in rs))
        assert receiver.inbox.refused >= 1 and receiver.inbox.messages == 1
    finally:
        receiver.stop()


def test_the_receiver_refuses_messages_above_its_cap(fresh_runtime: Any) -> None:
    runtime.start()
    receiver = receivers.ZmqReceiver(max_message=4096)
    receiver.start()
    try:
        big = batch("x" * 50_000 + os.urandom(20_000).hex())
        assert len(big) > 4096
        push(receiver, [wire.MAGIC, big])
        push(receiver, [wire.MAGIC, batch("small after big")])
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
