"""W4: reading a large session as a DataFrame, against a raw ``sqlite3`` fetch of the same rows.

Prints figures; never passes or fails on time.

A session store of ROWS realistic rows is written with the real ``Store`` in a temporary
``TASKSCOPE_HOME`` (varied loggers, levels, sources, messages of typical length with some
non-ASCII text, one row in ``--extra-every`` with an ``extra`` dict, one in 500 with a
traceback, a third from Dask workers with a task key). It is then read the way a user reads
an earlier session, ``ts.logger.dataset.open(session_id).get()``, and, in the same run, by
``sqlite3``'s ``SELECT * FROM rows`` + ``fetchall()`` (the floor: every value as a Python
object, no DataFrame). Each is timed ``--rounds`` times, alternating, best round shown.

Memory: the tracemalloc peak during one more ``get()`` (Python and NumPy allocations, not
SQLite's page cache; not timed, tracemalloc slows allocation), set against the resulting
DataFrame's ``memory_usage(deep=True).sum()``; the raw fetch's peak is shown beside it.

Targets (issue 13): <= 1.5 us/row for 1M rows; peak memory <= 2x the DataFrame.

    .venv/bin/python bench/w4_dataset_read.py [--rows 1000000] [--extra-every 5] [--rounds 2]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, installed or not

import argparse
import gc
import os
import sqlite3
import tempfile
import time
import tracemalloc
from typing import Any, Callable

BATCH = 10_000

LOGGERS = [("app", "user"), ("app.io", "user"), ("distributed.worker", "library"),
           ("stdout", "print"), ("urllib3.connectionpool", "library"), ("app.model", "user")]
LEVELS = [10, 20, 20, 20, 20, 30, 20, 40]
WORDS = ["loaded", "processed", "wrote", "fetched", "skipped", "retried", "cached", "computed"]
TRACEBACK = "Traceback (most recent call last):\n" + "".join(
    f'  File "/srv/app/pipeline/stage{i}.py", line {40 + i}, in run\n    result = step{i}(batch, options)\n'
    for i in range(6)
) + "ValueError: could not convert the 'amount' field of row 1182 to float: 'n/a'"


def build_store(rows: int, extra_every: int) -> str:
    """Write ``rows`` rows into a new session under $TASKSCOPE_HOME; its session id."""
    from taskscope.record import rows as record
    from taskscope.record import safe
    from taskscope.record.rows import Caps
    from taskscope.store import sqlite as store

    caps = Caps()
    session_id = store.new_session_id()
    target = store.Store(store.session_path(session_id), {
        "session_id": session_id, "kernel_id": "w4", "started": str(time.time()),
        "hostname": record.HOSTNAME, "pid": str(os.getpid()), "taskscope_version": "w4",
    })
    target.open()
    start = time.time() - rows * 1e-3
    workers = [f"tcp://127.0.0.1:{40000 + w}" for w in range(4)]
    for at in range(0, rows, BATCH):
        batch = []
        for i in range(at, min(rows, at + BATCH)):
            logger, source = LOGGERS[i % len(LOGGERS)]
            levelno = LEVELS[i % len(LEVELS)]
            remote = i % 3 == 0
            word = WORDS[i % len(WORDS)]
            msg = (f"{word} batch {i // 100} of 'sales_2024', {i % 977} rows in {i % 13 * 0.37:.2f}s"
                   + (" (température élevée, 数据 ok)" if i % 11 == 0 else ""))
            extra = None
            if i % extra_every == 0:
                extra = safe.to_json({"table": "sales", "rows": i % 977, "elapsed": round(i % 13 * 0.37, 2),
                                      "tags": ["etl", word], "ok": i % 7 != 0}, caps.extra)
            batch.append(record.make_row(
                start + i * 1e-3, levelno, source, logger, msg, caps,
                thread="ThreadPoolExecutor-0_0" if remote else "MainThread",
                detail=TRACEBACK if i % 500 == 0 else "", extra=extra,
                pid=5000 + i % 4 if remote else os.getpid(),
                worker=workers[i % 4] if remote else "",
                task=f"('process-{i % 50:02x}', {i % 100})" if remote else "",
            ))
        target.write(batch)
    target.close()
    return session_id


def raw_fetch(path: Path) -> list[tuple[Any, ...]]:
    """The floor: every stored value as a Python object, nothing else."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT * FROM rows").fetchall()
    finally:
        conn.close()


def timed(action: Callable[[], Any]) -> float:
    gc.collect()
    start = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def traced_peak(action: Callable[[], Any]) -> tuple[int, Any]:
    """(tracemalloc peak above the start, the result)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    result = action()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--extra-every", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["TASKSCOPE_HOME"] = home
        import pandas as pd

        import taskscope as ts

        started = time.perf_counter()
        session_id = build_store(args.rows, args.extra_every)
        dataset = ts.logger.dataset.open(session_id)
        path = dataset.path
        assert path is not None
        print(f"\nW4 dataset read: {args.rows:,} rows (1 in {args.extra_every} with extra), "
              f"{path.stat().st_size / 2**20:.0f} MiB store, written in {time.perf_counter() - started:.1f} s;"
              f" pandas {pd.__version__}; best of {args.rounds} rounds")
        raw_fetch(path)  # the file into the page cache, for both
        raw = got = float("inf")
        for _ in range(args.rounds):
            raw = min(raw, timed(lambda: raw_fetch(path)))
            got = min(got, timed(dataset.get))
        raw_peak, rows = traced_peak(lambda: raw_fetch(path))
        count = len(rows)
        del rows
        peak, frame = traced_peak(dataset.get)
        size = int(frame.memory_usage(deep=True).sum())
        assert len(frame) == count == args.rows, (len(frame), count)
        print(f"  {'':34s} {'us/row':>7s} {'rows/s':>12s} {'vs raw':>7s}")
        for name, seconds in (("raw sqlite3 SELECT * fetchall", raw), ("dataset.open(id).get()", got)):
            print(f"  {name:34s} {seconds / count * 1e6:7.2f} {count / seconds:12,.0f} {seconds / raw:7.2f}")
        print(f"  memory (tracemalloc peak): get() {peak / 2**20:,.0f} MiB, raw fetch {raw_peak / 2**20:,.0f} MiB;"
              f" DataFrame memory_usage(deep=True) {size / 2**20:,.0f} MiB; get() peak / frame = {peak / size:.2f}")
        print("  dtypes: " + ", ".join(f"{name} {dtype}" for name, dtype in frame.dtypes.items()))


if __name__ == "__main__":
    main()
