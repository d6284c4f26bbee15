"""The wire and the kernel's inbox: messages, checks, attempts, splitting, preload config.

The transports themselves (Dask, ZeroMQ) run end to end in test_dask.py / test_pool.py.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import subprocess
import sys
import time
import zlib
from typing import Any

import pytest

from taskscope.record import rows as record
from taskscope.record import sources
from taskscope import runtime
from taskscope.remote import console as consoles
from taskscope.remote import inbox as inboxes
from taskscope.remote import receiver as receivers
from taskscope.session.session import current as current_session
from taskscope.writer.core import CONVERTERS, Writer
from taskscope.record.rows import Caps
from taskscope.remote.emitter import BatchSink, ColumnPipeline, RemoteCapture
from taskscope.remote.options import remote_options
from taskscope.remote.wire import Columns, MessageError, decode, encode
from taskscope.tests.conftest import read_rows
from taskscope.remote.inbox import Inbox, _context, _merge_extra

HEADER = {"v": 1, "k": "test", "w": "tcp://w:1", "h": "far", "p": 77, "n": 1, "f": False}
ORIGIN = ("far", 77, "tcp://w:1")
WIRE = Caps(wire=True)


def wire_row(msg: str, *, task: str = "", run_id: int | None = None, detail: str = "",
             extra: str | None = None, created: float | None = None) -> Any:
    context, created_, msg_, text, extra_ = record.make_row(
        created or time.time(), logging.INFO, sources.LIBRARY, "lib.x", msg, WIRE,
        thread="T", detail=detail, extra=extra, task=task)
    return ((*context[:-1], run_id), created_, msg_, text, extra_)  # the context's last field is run_id


def finished(inbox: Inbox, message: bytes, caps: Caps = Caps()) -> list[tuple[Any, ...]]:
    """The rows of one message as the kernel's writer would store them."""
    return [row for item in inbox._items(ORIGIN, decode(message)) for row in CONVERTERS[item[0]](item, caps)]


class ListSink(BatchSink):
    kind = "list"

    def __init__(self, max_message: int = 1 << 20) -> None:
        super().__init__("w0", max_message)
        self.messages: list[bytes] = []

    def ship(self, payload: bytes, rows: int) -> bool:
        self.messages.append(payload)
        return True


# --- the wire ----------------------------------------------------------------------------


def test_a_message_round_trips_and_the_kernel_finishes_each_row() -> None:
    rows = [wire_row("plain"), wire_row("with a traceback", detail="Traceback: here"),
            wire_row("with extra", extra='{"size": 3}'), wire_row("in a task", task="t-1", run_id=5)]
    message = decode(encode(HEADER, rows))
    assert len(message["ctx"]) == 2  # the rows outside a task share one context
    out = finished(Inbox("test"), encode(HEADER, rows))
    plain, traced, extra, tasked = out
    expected = record.make_row(rows[0][1], logging.INFO, sources.LIBRARY, "lib.x", "plain", Caps(), thread="T")
    assert plain[:7] == expected[:7]  # the kernel writes the same line the worker would have
    assert plain[7:11] == ("far", 77, "T", "tcp://w:1")
    assert traced[6].endswith("Traceback: here")
    assert json.loads(extra[12]) == {"size": 3}
    assert tasked[11] == "t-1" and json.loads(tasked[12]) == {"attempt": 1, "run_id": 5}


def test_an_empty_final_message_decodes() -> None:
    message = decode(encode({**HEADER, "f": True}, []))
    assert message["f"] is True and message["c"] == []


@pytest.mark.parametrize("payload, why", [
    ("not bytes", "bytes"),
    (b"not zlib at all", "zlib"),
    (zlib.compress(b"{not json"), "JSON"),
    (zlib.compress(json.dumps({"v": 99, "c": []}).encode()), "version"),
    (zlib.compress(json.dumps({**HEADER, "ctx": [], "c": [0], "t": [], "m": [], "x": [], "e": []}).encode()),
     "lengths"),
    (pickle.dumps({"rows": []}), "zlib"),
])
def test_what_is_not_a_message_is_rejected(payload: Any, why: str) -> None:
    with pytest.raises(MessageError, match=why):
        decode(payload)


def test_a_zip_bomb_is_refused_before_it_inflates() -> None:
    bomb = zlib.compress(b" " * (8 << 20), 9)
    with pytest.raises(MessageError, match="inflates to more than"):
        decode(bomb, max_inflated=1 << 20)


def test_unexpected_values_cost_their_field_not_the_row() -> None:
    good = wire_row("fine")
    bad_context = (("INFO", "twenty", "library", "lib.x", "T", "", None), time.time(), "bad level number", None, None)
    bad_msg = (good[0], time.time(), {"not": "text"}, None, None)
    bad_source = (("INFO", 20, "made-up", "lib.x", "T", "", None), time.time(), "odd source", None, None)
    huge = (good[0], time.time(), "x" * 200_000, None, None)
    out = finished(Inbox("test"), encode(HEADER, [good, bad_context, bad_msg, bad_source, huge]))
    assert [r[5] for r in out[:2]] == ["fine", "bad level number"]
    assert out[1][2] == logging.INFO  # levelno made an int again
    assert isinstance(out[2][5], str) and "not" in out[2][5]
    assert out[3][3] == "library"  # an unknown source is classified by logger name
    assert len(out[4][5]) < 70_000 and "cut" in out[4][5]
    assert all(r[7:11:3] == ("far", "tcp://w:1") for r in out)


def test_a_malformed_message_is_rejected_whole(fresh_runtime: Any) -> None:
    runtime.start()
    inbox = Inbox("test")
    broken = {**HEADER, "ctx": [], "c": [3], "t": [1.0], "m": ["points at no context"], "x": [], "e": []}
    assert inbox.receive(zlib.compress(json.dumps(broken).encode())) == 0
    assert inbox.rejected == 1
    runtime.flush()
    rows = read_rows(runtime.store_path())
    assert any("malformed message" in r["msg"] for r in rows)
    assert not any(r["msg"] == "points at no context" for r in rows)


# --- attempts --------------------------------------------------------------------------


def test_attempts_follow_the_schedulers_dispatches_not_arrival_order() -> None:
    inbox = Inbox("test")
    caps = Caps()
    retried = inbox.attempt_row("k-1", 12, 2, "erred", "tcp://w:2")
    assert retried[3] == "runtime" and retried[4] == "taskscope.task" and "retried after an error" in retried[5]
    assert json.loads(retried[12]) == {"event": "retried", "key": "k-1", "attempt": 2, "run_id": 12, "cause": "erred"}
    inbox.attempt_row("k-1", 20, 3, "handle-worker-cleanup", "tcp://w:3")
    # Rows arrive in any order; each run_id keeps its attempt.
    late_first = finished(inbox, encode(HEADER, [wire_row("a", task="k-1", run_id=7),
                                                 wire_row("c", task="k-1", run_id=21),
                                                 wire_row("b", task="k-1", run_id=13)]), caps)
    assert [json.loads(r[12])["attempt"] for r in late_first] == [1, 3, 2]
    other = finished(inbox, encode(HEADER, [wire_row("other", task="k-2", run_id=30)]), caps)
    assert json.loads(other[0][12])["attempt"] == 1


@pytest.mark.parametrize("extra, expected", [
    (None, {"attempt": 2, "run_id": 9}),
    ('{}', {"attempt": 2, "run_id": 9}),
    ('{"size": 1, "attempt": "mine"}', {"size": 1, "attempt": 2, "run_id": 9}),
    ('[1, 2]', {"extra": "[1, 2]", "attempt": 2, "run_id": 9}),
])
def test_the_attempt_is_merged_into_extra(extra: str | None, expected: dict[str, Any]) -> None:
    assert json.loads(_merge_extra(extra, 2, 9)) == expected


# --- gaps, splitting, drops -------------------------------------------------------------


def test_a_gap_in_message_numbers_is_reported(fresh_runtime: Any) -> None:
    runtime.start()
    inbox = Inbox("test")
    inbox.receive(encode({**HEADER, "n": 1}, [wire_row("one")]))
    inbox.receive(encode({**HEADER, "n": 4}, [wire_row("four")]))
    runtime.flush()
    rows = read_rows(runtime.store_path())
    [gap] = [r for r in rows if "were lost on the way" in r["msg"]]
    assert json.loads(gap["extra"])["lost_messages"] == 2 and gap["worker"] == "tcp://w:1"
    assert inbox.lost_messages == 2


def test_a_batch_too_large_for_one_message_is_split() -> None:
    sink = ListSink(max_message=4000)
    rows = [wire_row(f"row {i} " + os.urandom(40).hex()) for i in range(300)]
    sink.send(Columns.of(rows))
    assert len(sink.messages) > 2 and all(len(m) <= 4000 for m in sink.messages)
    messages = [decode(m) for m in sink.messages]
    assert [m["n"] for m in messages] == list(range(1, len(messages) + 1))
    assert [msg for m in messages for msg in m["m"]] == [r[2] for r in rows]


def test_a_row_larger_than_a_message_is_dropped_and_said() -> None:

    sink = ListSink(max_message=2000)
    collector = Writer(ColumnPipeline(sink), caps=WIRE)
    sink.send(Columns.of([wire_row(os.urandom(4000).hex())]))
    assert collector.dropped == 1
    [message] = [decode(m) for m in sink.messages]
    assert "larger than a message may be" in message["m"][0]


# --- the capture in a remote process -----------------------------------------------------


def test_a_remote_capture_ships_rows_and_puts_everything_back() -> None:
    before = (sys.stdout, sys.stderr, list(logging.root.handlers), logging.root.level)
    sink = ListSink()
    capture = RemoteCapture(sink, remote_options(None, flush_interval=0.05))
    capture.start("a test")
    try:
        logging.getLogger("remote.test").warning("shipped %d", 1)
        print("printed remotely")
    finally:
        capture.stop("a test")
    assert (sys.stdout, sys.stderr, list(logging.root.handlers), logging.root.level) == before
    messages = [decode(m) for m in sink.messages]
    assert messages[-1]["f"] is True and messages[-1]["m"] == []
    msgs = [m for message in messages for m in message["m"]]
    assert msgs[0] == "taskscope capture started in a test" and msgs[-1] == "taskscope capture stopped in a test"
    assert "shipped 1" in msgs and "printed remotely" in msgs


def test_remote_options_follow_the_kernels() -> None:
    options = remote_options({"user_level": "INFO", "library_level": "WARNING", "batch_size": 5000,
                              "msg_cap": 100, "flush_interval": 0.25}, lifecycle=False)
    assert (options["user_level"], options["library_level"]) == (logging.INFO, logging.WARNING)
    assert options["batch_size"] == 1000 and options["caps"][0] == 100
    assert options["flush_interval"] == 0.25 and options["lifecycle"] is False
    with pytest.raises(TypeError, match="unknown remote option"):
        remote_options(None, colour="blue")
    with pytest.raises(ValueError, match="queue_size"):
        remote_options(None, queue_size=0)


# --- recording starts and stops: the Dask client preload --------------------------------


def test_the_client_preload_is_set_while_recording_and_removed_after(tmp_path: Any) -> None:
    """dask imported after start() gets the preload at import, in this process only
    (no environment variable for subprocesses); the user's own preloads stay."""
    code = """if True:
        import json, os, sys
        import taskscope as ts
        ts.start()
        import dask
        during = dask.config.get("distributed.client.preload")
        env = os.environ.get("DASK_DISTRIBUTED__CLIENT__PRELOAD")
        ts.stop()
        after = dask.config.get("distributed.client.preload")
        ts.start()  # dask imported now: the config gets it at once
        again = dask.config.get("distributed.client.preload")
        ts.stop()
        print(json.dumps([during, env, after, again, dask.config.get("distributed.client.preload"),
                          any(type(f).__name__ == "ImportWatch" for f in sys.meta_path)]))
    """
    env = {**os.environ, "TASKSCOPE_HOME": str(tmp_path), "DASK_DISTRIBUTED__CLIENT__PRELOAD": '["mine"]'}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    during, seen_env, after, again, final, watching = json.loads(out.stdout)
    assert during == ["mine", "taskscope.dask"] and seen_env == '["mine"]'
    assert after == ["mine"] and again == ["mine", "taskscope.dask"] and final == ["mine"]
    assert watching is False


def test_no_receiver_while_not_recording(fresh_runtime: Any) -> None:
    assert receivers.receiver() is None
    from taskscope.remote import pool

    assert pool.initargs()[0] is None


def test_a_message_that_could_not_be_sent_is_counted_as_dropped_rows_not_a_gap() -> None:

    class Refusing(ListSink):
        refuse = True

        def ship(self, payload: bytes, rows: int) -> bool:
            if self.refuse:
                return False
            return super().ship(payload, rows)

    sink = Refusing()
    collector = Writer(ColumnPipeline(sink), caps=WIRE)
    sink.send(Columns.of([wire_row("refused"), wire_row("refused too")]))
    sink.refuse = False
    sink.send(Columns.of([wire_row("sent")]))
    assert collector.dropped == 2
    assert [decode(m)["n"] for m in sink.messages] == [1]


# --- columns: the fast paths build what the row-by-row paths build ----------------------


def test_messages_are_msgpack_and_json_only_where_a_string_cannot_be_utf8() -> None:
    packed = encode(HEADER, [wire_row("plain")])
    assert zlib.decompress(packed)[:1] != b"{"  # msgpack
    odd = encode(HEADER, [wire_row("lone \udcff surrogate")])
    assert zlib.decompress(odd)[:1] == b"{"  # ASCII JSON keeps it as an escape
    assert decode(packed)["m"] == ["plain"] and decode(odd)["m"] == ["lone \udcff surrogate"]


def test_a_msgpack_extension_type_is_rejected() -> None:
    import msgpack

    payload = zlib.compress(msgpack.packb({**HEADER, "ctx": [], "c": [], "t": [], "m": [],
                                           "x": [], "e": [msgpack.ExtType(1, b"code?")]}))
    with pytest.raises(MessageError, match="neither JSON nor msgpack"):
        decode(payload)


def test_the_kernels_column_path_builds_the_rows_its_row_path_builds() -> None:
    now = time.time()
    rows = [wire_row(f"row {i}", task="k-1" if i % 3 else "", run_id=4 if i % 3 else None,
                     detail="Traceback: x" if i % 5 == 0 else "", extra='{"n": 1}' if i % 4 == 0 else None,
                     created=now + i * 0.0004) for i in range(40)]
    message = decode(encode(HEADER, rows))
    inbox = Inbox("test")
    contexts = [_context(c) for c in message["ctx"]]
    assert inbox.batch_rows(ORIGIN, message, Caps()) == inbox._slow_rows(ORIGIN, contexts, message, Caps())


def test_a_message_with_an_odd_value_takes_the_row_path_and_keeps_its_other_rows() -> None:
    rows = [wire_row("good"), (wire_row("x")[0], float("nan"), "no time", None, None), wire_row("good too")]
    out = finished(Inbox("test"), encode(HEADER, rows))
    assert [r[5] for r in out] == ["good", "a row could not be built: ValueError", "good too"]


def test_the_workers_column_path_builds_the_columns_its_row_path_builds() -> None:
    """Log records go straight into columns; the same items converted one by one agree."""
    import threading

    from taskscope.writer.quiet import quiet_threads
    from taskscope.remote.emitter import TaskTag

    local = threading.local()
    sink = ListSink()
    capture = RemoteCapture(sink, remote_options(None, flush_interval=60.0), tag=TaskTag(local, "key", {"t-9": 2}))
    collector = capture.writer
    log = logging.getLogger("remote.columns")
    log.handlers[:], log.propagate = [capture.capture.handler], False  # ours alone: pytest's would format
    try:
        log.warning("outside a task %d", 1)
        local.key = "t-9"
        log.warning("in a task %s", "x")
        log.warning("with extra", extra={"size": 3})
        log.warning("odd %d", "not a number")
        log.warning("%s", [1, 2])  # mutable: formatted at the call
        local.key = ("tuple-key", 0)
        log.warning("a tuple key")
    finally:
        log.handlers[:], log.propagate = [], True
        local.key = None
    items = [item for item in collector.queue if type(item) is tuple]
    quiet_threads.add(threading.get_ident())
    try:
        fast = collector.pipeline.build(items, final=False)
        slow = Columns.of(collector.convert(item) for item in items)
    finally:
        quiet_threads.discard(threading.get_ident())
    assert len(fast) == 6 and fast.fields() == slow.fields()
    assert fast.m[3].startswith("odd %d <taskscope: message not formatted")


# --- console sharing: the kernel's fd copy of a worker's line is not a second row ---------


def fd_row(text: str, fd: int = 1) -> tuple[Any, ...]:
    return record.make_row(time.time(), logging.INFO, sources.PRINT, "stdout", text, Caps(), thread=f"fd {fd}")


def test_a_held_fd_line_gives_way_to_its_remote_twin_in_either_order(fresh_runtime: Any) -> None:
    from taskscope.remote.console import ConsoleDedup

    runtime.start()
    console = ConsoleDedup()
    console.join(("dask", "tcp://w:1", 7))
    own = record.make_row(time.time(), logging.INFO, sources.USER, "mine", "kernel's own", Caps())
    first, unmatched, other_fd = fd_row("fd first"), fd_row("nobody's twin"), fd_row("remote first", fd=2)
    assert console.filter([own, first], False) == [own]  # held
    assert console.remote_line(1, "fd first", time.monotonic())  # its twin settles it
    assert not console.remote_line(1, "remote first", time.monotonic())  # remembered for the fd line
    assert console.filter([fd_row("remote first"), unmatched, other_fd], False) == []
    console.leave(("dask", "tcp://w:1", 7))
    assert console.filter([fd_row("after the worker left")], False)[0][5] == "after the worker left"
    released = console.filter([], True)  # at stop every held row is stored, with its own time
    assert released == [unmatched, other_fd]
    assert runtime.status()["deduplicated"] == 2


def test_two_processes_lines_interleaved_on_the_fd_give_way_to_their_remote_rows(fresh_runtime: Any) -> None:
    """Two children print at once to the kernel's fd 2: ``print`` writes the text and the
    newline apart, so the fd reads "AB" and "" where each child sent its own row."""
    from taskscope.remote.console import ConsoleDedup

    runtime.start()
    console = ConsoleDedup()
    console.join(("pool", "SpawnProcess-1", 9))
    console.HOLD = 0.0
    for text in ("spawn complains 1", "spawn complains 0"):
        assert not console.remote_line(2, text, time.monotonic())  # the children's rows came first
    merged, blank, later = fd_row("spawn complains 1spawn complains 0", 2), fd_row("", 2), fd_row("", 2)
    mixed = fd_row("spawn complains 1 and more", 2)  # not lines end to end: kept
    assert console.filter([merged, blank, mixed, later], False) == [mixed, later]  # one blank owed, not two
    assert runtime.status()["deduplicated"] == 3


def test_fd_lines_wait_only_while_a_console_sharing_process_is_attached(fresh_runtime: Any) -> None:
    from taskscope.remote.console import ConsoleDedup

    runtime.start()
    console = ConsoleDedup()
    line = fd_row("plain")
    assert console.filter([line], False) == [line]  # nobody shares the console: no wait
    console.join(("pool", "SpawnProcess-1", 9))
    assert console.filter([line], False) == [] and console.filter([], True) == [line]  # held, then stored
    console.HOLD = 0.0
    assert console.filter([line], False) == [line]  # a hold that is over: stored at the next write


def test_a_clear_takes_the_held_fd_lines_with_it(fresh_runtime: Any) -> None:
    runtime.start()
    console = consoles.CONSOLE
    console.join(("pool", "SpawnProcess-9", 99))
    try:
        print_fd = current_session().capture.tees["stdout"].take  # as the fd watch feeds a line
        print_fd("held before the clear\n", "fd 1")
        runtime.flush()
        runtime.clear()
        print_fd("after the clear\n", "fd 1")
    finally:
        console.leave(("pool", "SpawnProcess-9", 99))
    runtime.stop()  # the line still held is stored at stop
    assert [r["msg"] for r in read_rows(runtime.store_path(), "thread = 'fd 1'")] == ["after the clear"]


def test_console_echoes_settle_held_fd_rows_and_odd_ones_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A remote logging handler's console lines (``l``) settle the kernel's fd copies; a
    message with only echoes has no rows; an odd echo is skipped, not the message."""
    from taskscope.remote.wire import Columns

    console = consoles.ConsoleDedup()
    monkeypatch.setattr(inboxes, "CONSOLE", console)
    columns = Columns()
    columns.l = [(2, "12:00:00 - distributed.worker - INFO - hello"), (2, "")]
    message = decode(encode(HEADER, columns))
    message["l"] += [[7, "no such fd"], ["2", "fd not an int"], [2], "not a pair"]
    assert finished(Inbox("test"), encode(HEADER, Columns())) == []
    inbox = Inbox("test")
    assert [row for item in inbox._items(ORIGIN, message) for row in CONVERTERS[item[0]](item, Caps())] == []
    assert set(console._expected) == {(2, "12:00:00 - distributed.worker - INFO - hello"), (2, "")}


def test_every_message_carries_the_senders_running_drop_totals(fresh_runtime: Any) -> None:
    """A worker's drops travel as running totals in every header, not as a row in one
    message: the kernel says what is new, also after a message that was never sent, and
    an empty message carries drops when there are no rows to send."""

    class Refusing(ListSink):
        refuse = 1

        def ship(self, payload: bytes, rows: int) -> bool:
            if self.refuse:
                self.refuse -= 1
                return False
            return super().ship(payload, rows)

    sink = Refusing()
    collector = Writer(ColumnPipeline(sink), queue_size=2, interval=60.0, caps=WIRE)
    collector.start()
    try:
        for i in range(3):  # the third finds the queue full
            collector.offer(("row", record.system_row(f"row {i}", WIRE)))
        collector.flush(10)  # 2 rows: not sent
        collector.offer(("row", record.system_row("row 3", WIRE)))
        collector.flush(10)
        collector.count_drop(4, "lost elsewhere")
        collector.flush(10)  # no rows: an empty message with the totals
    finally:
        collector.stop(10)
    headers = [decode(m) for m in sink.messages]
    busy = "not sent: the connection to the kernel is busy or closed"
    # at once after the unsent one, then with row 3, then for the 4, then the final message
    assert [(h["m"], h["d"]) for h in headers] == [([], 3), (["row 3"], 3), ([], 7), ([], 7)]
    assert headers[2]["dr"] == {"queue full at 2 rows": 1, busy: 2, "lost elsewhere": 4}
    runtime.start()
    inbox = Inbox("test")
    for message in sink.messages:
        inbox.receive(message)
        runtime.flush()  # (news that wait together are said in one row)
    runtime.stop()
    said = [r for r in read_rows(runtime.store_path()) if "rows dropped" in r["msg"]]
    assert [r["msg"] for r in said] == [f"3 rows dropped (queue full at 2 rows: 1; {busy}: 2)",
                                        "4 rows dropped (lost elsewhere)"]
    assert {(r["worker"], r["pid"]) for r in said} == {("w0", os.getpid())}
    assert [json.loads(r["extra"])["dropped_total"] for r in said] == [3, 7]


def test_a_senders_drops_are_told_though_the_kernel_dropped_its_message(fresh_runtime: Any) -> None:
    """The kernel's queue refuses a message whole: the count of drops in its header is
    not lost with it (the next header's total says it); odd totals are ignored."""
    runtime.start(queue_size=100, flush_interval=30.0)
    inbox = Inbox("test")
    header = {**HEADER, "dr": {"queue full at 9 rows": 5}}
    assert inbox.receive(encode({**header, "n": 1, "d": 5}, [wire_row(f"big {i}") for i in range(150)])) == 0
    assert inbox.receive(encode({**HEADER, "n": 2, "d": "many", "dr": [1]}, [wire_row("odd")])) == 1
    assert inbox.receive(encode({**header, "n": 3, "d": 7, "dr": {"queue full at 9 rows": 6, "busy": 1}},
                                [wire_row("small")])) == 1
    status = runtime.stop()
    rows = read_rows(runtime.store_path())
    said = [json.loads(r["extra"]) for r in rows if "rows dropped" in r["msg"] and r["worker"] == "tcp://w:1"]
    assert sum(e["dropped"] for e in said) == 7 and said[-1]["dropped_total"] == 7
    assert status["dropped"] == inbox.dropped == 150
    assert [r["msg"] for r in rows if r["worker"] == "tcp://w:1" and "dropped" not in r["msg"]] == ["odd", "small"]


def test_a_small_message_of_many_tiny_values_is_rejected_before_it_is_built() -> None:
    """Decode amplification: 30 KiB that would unpack into 30 million empty lists (each
    ~56 bytes in the kernel) is refused at the values budget; a full batch is not."""
    import msgpack

    many = msgpack.packb({**HEADER, "ctx": [], "c": [], "t": [], "m": [], "x": [], "e": [],
                          "pad": [[[]] * 100_000] * 300})
    payload = zlib.compress(many, 9)
    assert len(payload) < 64 * 1024
    with pytest.raises(MessageError, match="more than"):
        decode(payload)
    as_json = zlib.compress(json.dumps({**HEADER, "ctx": [], "c": [], "t": [], "m": [], "x": [], "e": [],
                                        "pad": [[]] * 3_000_000}).encode(), 9)
    with pytest.raises(MessageError, match="more than"):
        decode(as_json)
    full = encode(HEADER, [wire_row(f"row {i}", extra='{"i": 1}') for i in range(1000)])
    assert len(decode(full)["m"]) == 1000
