"""W2: how fast rows go into the session store, and what storing them costs in memory.

Prints figures; never passes or fails on time.

1. Store only: ready rows written by ``Store.write`` in the writer's batch size, without
   secondary indexes and with each one of ``store.INDEXES`` (and all of them), as
   rows/s and as a ratio against the no-index run of the same invocation.
2. End to end: ``logger.info`` calls from one thread while recording, until
   ``runtime.flush()`` says every row is committed: rows/s, hot path and writer together.
3. Memory: the process's RSS growth per row while 1M rows go through capture into the
   store (measured after the flush, so the queue is empty again).

Targets (docs/architecture.md): >= 250k rows/s into the store; <= 60 B of RSS growth per row.

    .venv/bin/python bench/w2_store_ingest.py [--rows 1000000]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, installed or not

import argparse
import gc
import logging
import os
import resource
import tempfile
import time

from taskscope import runtime
from taskscope.record import rows as record
from taskscope.record.rows import Caps
from taskscope.store import sqlite as store

#: The kernel writer's batch: one INSERT statement (store/sqlite.py).
BATCH = getattr(store, "MAX_ROWS_PER_STATEMENT", 10_000)


def rss_bytes() -> int:
    """The process's resident set size now (Linux /proc; ru_maxrss elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def batches(total: int) -> list[list[record.Row]]:
    """Rows like a computation's log: varied loggers, levels and message lengths."""
    caps = Caps()
    loggers = ["app", "app.io", "distributed.worker", "stdout", "lib.net"]
    levels = [10, 20, 20, 20, 30, 40]
    now = time.time()
    result: list[list[record.Row]] = []
    for start in range(0, total, BATCH):
        result.append([
            record.make_row(now + i * 1e-5, levels[i % 6], "user", loggers[i % 5],
                            f"processed item {i} of the batch with some detail", caps, thread="MainThread")
            for i in range(start, min(total, start + BATCH))
        ])
    return result


def store_only(directory: Path, rows: list[list[record.Row]], indexes: tuple[str, ...], runs: int = 3) -> float:
    """Best rows/s of Store.write into a fresh file with ``indexes`` over ``runs`` runs.

    The disk's latency varies a lot from run to run here; the best run is the figure
    least disturbed by it.
    """
    return max(_store_run(directory / f"run{n}", rows, indexes) for n in range(runs))


def _store_run(directory: Path, rows: list[list[record.Row]], indexes: tuple[str, ...]) -> float:
    path = directory / f"w2-{'-'.join(indexes) or 'none'}.sqlite"
    target = store.Store(path, {"session_id": "w2"}, indexes)
    target.open()
    count = sum(len(b) for b in rows)
    start = time.perf_counter()
    for batch in rows:
        target.write(batch)
    elapsed = time.perf_counter() - start
    target.close()
    return count / elapsed


def end_to_end(total: int) -> tuple[float, float]:
    """(rows/s, RSS bytes per row) for ``total`` logger.info calls captured and stored."""
    log = logging.getLogger("w2.pipeline")
    log.setLevel(logging.INFO)
    log.propagate = True
    runtime.start(queue_size=max(100_000, total // 4))
    # warm up once so one-time allocations (caches, the page cache) are not counted per row
    for i in range(20_000):
        log.info("warm up %d", i)
    runtime.flush(timeout=120)
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    emitted = 0
    while emitted < total:
        # stay under the queue bound: this measures throughput, not drops
        chunk = min(50_000, total - emitted)
        for i in range(emitted, emitted + chunk):
            log.info("processed item %d of the batch", i)
        emitted += chunk
        if runtime.status()["queued"] > runtime.DEFAULTS["queue_size"] // 2:
            runtime.flush(timeout=120)
    runtime.flush(timeout=600)
    elapsed = time.perf_counter() - start
    gc.collect()
    after = rss_bytes()
    dropped = runtime.status()["dropped"]
    runtime.stop()
    runtime._reset()
    if dropped:
        print(f"  (note: {dropped} rows dropped during the end-to-end run)")
    return total / elapsed, (after - before) / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--store-rows", type=int, default=300_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["TASKSCOPE_HOME"] = home
        directory = Path(home)
        rows = batches(args.store_rows)
        print(f"\nW2 store ingest: {args.store_rows} ready rows, batches of {BATCH}, WAL + synchronous=NORMAL,"
              f" {store.PAGE_SIZE // 1024} KiB pages; best of 3 runs")
        baseline = store_only(directory, rows, ())
        print(f"  {'indexes':32s} {'rows/s':>10s} {'vs none':>8s}")
        print(f"  {'none (default)':32s} {baseline:10,.0f} {1.0:8.2f}")
        for name in store.INDEXES:
            rate = store_only(directory, rows, (name,))
            print(f"  {name:32s} {rate:10,.0f} {rate / baseline:8.2f}")
        every = store_only(directory, rows, tuple(store.INDEXES))
        print(f"  {'all of them':32s} {every:10,.0f} {every / baseline:8.2f}")
        del rows
        rate, per_row = end_to_end(args.rows)
        print(f"\nW2 end to end: {args.rows:,} logger.info calls captured and stored (one emitting thread)")
        print(f"  rows/s (emit + writer, until flushed): {rate:10,.0f}")
        print(f"  RSS growth per row stored:             {per_row:10.1f} B")


if __name__ == "__main__":
    main()
