"""Nothing goes missing unaccounted: rows emitted = rows stored + rows counted as dropped."""

from __future__ import annotations

import json
import logging
import sys
import threading
from typing import Any

import pytest

from taskscope.record import rows as record
from taskscope.record import sources
from taskscope import runtime
from taskscope.record.rows import Caps
from taskscope.tests.conftest import read_rows

THREADS = 4
PER_THREAD = 5000


def flood(emit: Any) -> None:
    """``emit(thread_index, i)`` from several threads at once, all released together."""
    barrier = threading.Barrier(THREADS)

    def work(index: int) -> None:
        barrier.wait()
        for i in range(PER_THREAD):
            emit(index, i)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_a_flooded_tiny_queue_that_drops_accounts_for_every_record(fresh_runtime: Any) -> None:
    sources.mark_user_logger("flood")
    logs = [logging.getLogger(f"flood.t{n}") for n in range(THREADS)]
    runtime.start(queue_size=50, batch_size=10, flush_interval=0.05, overflow="drop")
    flood(lambda n, i: logs[n].info("row %d", i))
    status = runtime.stop()
    rows = read_rows(runtime.store_path())
    stored = [r for r in rows if r["source"] == "user"]
    emitted = THREADS * PER_THREAD
    assert status["dropped"] > 0 and len(stored) > 0  # the queue really overflowed
    assert len(stored) + status["dropped"] == emitted
    reported = sum(int(r["msg"].split()[0]) for r in rows if r["msg"].endswith("rows dropped (queue full at 50 rows)"))
    assert reported == status["dropped"]  # and every drop was told in a SYSTEM row
    for n in range(THREADS):  # what was kept of each thread is in its order
        numbers = [int(r["msg"].split()[1]) for r in stored if r["logger"] == f"flood.t{n}"]
        assert numbers == sorted(numbers)


def test_a_flooded_tiny_queue_that_blocks_keeps_every_record(fresh_runtime: Any) -> None:
    """The default overflow: a thread that finds the queue full waits for the writer."""
    sources.mark_user_logger("flood")
    logs = [logging.getLogger(f"flood.t{n}") for n in range(THREADS)]
    runtime.start(queue_size=50, batch_size=10, flush_interval=0.05)
    assert runtime.options()["overflow"] == "block"
    flood(lambda n, i: logs[n].info("row %d", i))
    status = runtime.stop()
    stored = read_rows(runtime.store_path(), "source = 'user'")
    assert status["dropped"] == 0
    for n in range(THREADS):  # every row of each thread, in its order
        numbers = [int(r["msg"].split()[1]) for r in stored if r["logger"] == f"flood.t{n}"]
        assert numbers == list(range(PER_THREAD))


@pytest.mark.parametrize("overflow", ["drop", "block"])
def test_a_flood_of_prints_accounts_for_every_line(fresh_runtime: Any, overflow: str) -> None:
    class Null:
        def write(self, text: str) -> int:
            return len(text)

        def flush(self) -> None:
            pass

    saved = sys.stdout
    sys.stdout = Null()  # type: ignore[assignment]
    try:
        runtime.start(queue_size=50, batch_size=10, flush_interval=0.05, overflow=overflow)
        flood(lambda n, i: print("line", n, i))
        status = runtime.stop()
    finally:
        sys.stdout = saved
    stored = read_rows(runtime.store_path(), "source = 'print'")
    assert (status["dropped"] > 0) if overflow == "drop" else (status["dropped"] == 0)
    assert len(stored) + status["dropped"] == THREADS * PER_THREAD
    assert all(r["msg"].startswith("line ") and len(r["msg"].split()) == 3 for r in stored)  # whole lines only


def test_a_stalled_store_makes_a_blocking_queue_drop_and_count(monkeypatch: pytest.MonkeyPatch) -> None:
    """Block is a bounded wait: a store that takes nothing costs one wait, then drops
    are counted at once until the writer takes items again; nothing is lost untold."""
    from taskscope.writer import core
    from taskscope.writer.rows import RowPipeline

    monkeypatch.setattr(core, "MAX_BLOCK", 0.2)
    release = threading.Event()

    class Stalled:
        def __init__(self) -> None:
            self.rows: list[tuple[Any, ...]] = []

        def open(self) -> None: ...
        def clear(self) -> None: ...
        def close(self) -> None: ...
        def forget(self) -> None: ...

        def write(self, rows: Any) -> tuple[int, int]:
            release.wait(30)
            first = len(self.rows) + 1
            self.rows.extend(rows)
            return first, len(self.rows)

    sink = Stalled()
    writer = core.Writer(RowPipeline(sink), queue_size=20, wake_at=5, interval=0.01, overflow=core.BLOCK)
    writer.start()
    try:
        taken = sum(writer.offer(("row", record.system_row(f"row {i}", Caps()))) for i in range(200))
        assert writer.dropped > 0 and taken + writer.dropped == 200
        release.set()
        writer.flush(10)
        assert writer.offer(("row", record.system_row("after", Caps())))  # the stall is over
        writer.flush(10)
    finally:
        release.set()
        writer.stop(10)
    kept = [r[5] for r in sink.rows if r[5].startswith("row ")]
    assert len(kept) == taken and kept == sorted(kept, key=lambda m: int(m.split()[1]))
    assert [r[5] for r in sink.rows if r[5] == "after"] == ["after"]
    told = sum(int(r[5].split()[0]) for r in sink.rows if "rows dropped" in r[5])
    assert told == writer.dropped


def test_a_refused_overflow_changes_nothing(fresh_runtime: Any) -> None:
    runtime.start()
    with pytest.raises(ValueError, match="overflow"):
        runtime.start(overflow="wait")
    assert runtime.status()["recording"] and runtime.options()["overflow"] == "block"
    runtime.stop()


def test_remote_rows_beyond_the_queue_are_counted(fresh_runtime: Any) -> None:
    runtime.start(queue_size=100, flush_interval=30.0)
    taken = runtime.enqueue_rows([{"msg": f"remote {i}"} for i in range(250)])
    status = runtime.stop()
    stored = [r for r in read_rows(runtime.store_path()) if r["msg"].startswith("remote ")]
    assert taken == len(stored) and taken + status["dropped"] == 250


def test_remote_batches_beyond_the_queue_are_counted_whole(fresh_runtime: Any) -> None:
    """A message's rows are one queue item, but the bound counts its rows."""
    from taskscope.remote.wire import encode
    from taskscope.remote.inbox import Inbox

    runtime.start(queue_size=100, flush_interval=30.0)
    inbox = Inbox("test")
    header = {"v": 1, "k": "test", "w": "w", "h": "far", "p": 7, "n": 0, "f": False}
    context = ("INFO", 20, "library", "far.lib", "T", "", None)
    taken = []
    for n in range(1, 4):
        rows = [(context, 1.7e9 + i, f"remote {n}.{i}", None, None) for i in range(40)]
        taken.append(inbox.receive(encode({**header, "n": n}, rows)))
    status = runtime.stop()
    stored = [r for r in read_rows(runtime.store_path()) if r["msg"].startswith("remote ")]
    assert taken == [40, 40, 0] and len(stored) == 80 and status["dropped"] == 40


def test_remote_messages_beyond_the_inbox_byte_bound_are_counted_whole(fresh_runtime: Any) -> None:
    """The queue's bound counts rows; what queued messages cost in bytes is bounded too
    (a few rows can be large), and given back as the writer takes them."""
    from taskscope.remote.inbox import Inbox
    from taskscope.remote.wire import decode_sized, encode

    runtime.start(queue_size=100_000, flush_interval=30.0)
    header = {"v": 1, "k": "test", "w": "w", "h": "far", "p": 7, "n": 0, "f": False}
    context = ("INFO", 20, "library", "far.lib", "T", "", None)
    rows = [(context, 1.7e9 + i, "x" * 1000 + str(i), None, None) for i in range(100)]
    cost = decode_sized(encode(header, rows))[1]
    inbox = Inbox("test", max_queued=int(2.5 * cost))
    taken = [inbox.receive(encode(header, rows)) for _ in range(3)]
    assert taken == [100, 100, 0] and inbox.queued_bytes == 2 * cost
    runtime.flush()
    assert inbox.queued_bytes == 0  # the writer took them
    assert inbox.receive(encode(header, rows)) == 100
    status = runtime.stop()
    stored = read_rows(runtime.store_path())
    assert sum(r["msg"].startswith("xxx") for r in stored) == 300 and status["dropped"] == inbox.dropped == 100
    assert any("remote messages waiting above" in r["msg"] for r in stored if "rows dropped" in r["msg"])


def test_the_drop_row_says_why_the_rows_were_dropped() -> None:
    """A full queue and a failed write are different stories: the drop row tells each."""
    from taskscope.writer.core import Writer
    from taskscope.writer.rows import RowPipeline

    class FailingOnce:
        def __init__(self) -> None:
            self.rows: list[tuple[Any, ...]] = []
            self.failed = False

        def open(self) -> None: ...
        def clear(self) -> None: ...
        def close(self) -> None: ...
        def forget(self) -> None: ...

        def write(self, rows: Any) -> tuple[int, int]:
            if not self.failed:
                self.failed = True
                raise OSError("disk full")
            first = len(self.rows) + 1
            self.rows.extend(rows)
            return first, len(self.rows)

    sink = FailingOnce()
    collector = Writer(RowPipeline(sink), queue_size=3, interval=60)
    collector.start()
    try:
        for i in range(5):
            collector.offer(("row", record.system_row(f"row {i}", Caps())))  # 2 find the queue full
        collector.flush(10)  # the first batch fails to write: 3 more dropped
        collector.offer(("row", record.system_row("after", Caps())))
        collector.flush(10)
    finally:
        collector.stop(10)
    report = [r for r in sink.rows if "rows dropped" in r[5]]
    assert [r[5] for r in report] == [
        "5 rows dropped (queue full at 3 rows: 2; the store could not write them: OSError: 3)"]
    assert json.loads(report[0][12])["reasons"] == {"queue full at 3 rows": 2,
                                                   "the store could not write them: OSError": 3}
    assert collector.dropped == 5 and [r[5] for r in sink.rows if r[5] == "after"] == ["after"]


def test_the_writer_thread_leaves_sigint_and_sigterm_to_the_main_thread(fresh_runtime: Any) -> None:
    """A process-directed signal that lands on the writer thread is handled in Python only
    when the main thread runs bytecode: a pool child waiting on its task queue's lock then
    never ended on Pool.terminate's SIGTERM. The writer blocks both, so they go elsewhere."""
    import signal

    runtime.start()
    writer = next(t for t in threading.enumerate() if t.name == "taskscope-writer")
    with open(f"/proc/self/task/{writer.native_id}/status") as f:
        blocked = int(next(line for line in f if line.startswith("SigBlk:")).split()[1], 16)
    runtime.stop()
    assert blocked & (1 << (signal.SIGTERM - 1)) and blocked & (1 << (signal.SIGINT - 1))
