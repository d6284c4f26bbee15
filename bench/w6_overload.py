"""W6: producers that outrun the store for a long time: memory stays bounded, every drop is counted.

Prints figures; never passes or fails on time. The store is slowed on purpose to
``--capacity`` rows/s (a sleep in ``Store.write`` in proportion to its rows) while one
thread logs as fast as it can for ``--seconds``, first with ``overflow="drop"``, then with
the default ``overflow="block"``, each in a fresh process. Printed for each: records
emitted, stored, dropped, emitted / (stored + dropped) (1.00: nothing lost untold), the
producer's rate against the store's capacity, and the process's peak RSS growth over its
RSS just after ``start()``, against the queue's bound in bytes (``queue_size`` x the bytes
one queued record holds, measured here with tracemalloc).

    .venv/bin/python bench/w6_overload.py [--seconds 60] [--capacity 10000]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, installed or not

import argparse
import json
import os
import subprocess
import tempfile
from typing import Any

HERE = Path(__file__).resolve()
CHECKOUT = HERE.parents[1]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def run(seconds: float, capacity: int, overflow: str) -> dict[str, Any]:
    """In the measured process: slow the store, flood it for ``seconds``, account."""
    import gc
    import threading
    import time
    import tracemalloc

    import taskscope as ts
    from taskscope import runtime
    from taskscope.store import sqlite

    write = sqlite.Store.write
    slow = threading.Event()
    slow.set()

    def slowed(self: Any, rows: Any) -> Any:
        if slow.is_set():
            time.sleep(len(rows) / capacity)
        return write(self, rows)

    sqlite.Store.write = slowed  # type: ignore[method-assign]
    ts.start(overflow=overflow)
    log = ts.logger.getLogger("w6")
    queue_size = runtime.options()["queue_size"]  # type: ignore[index]
    gc.collect()
    # bytes one queued record holds: a burst measured while the writer sleeps in write()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    probe = 2000
    for i in range(probe):
        log.info("row %d", i)
    per_item = (tracemalloc.get_traced_memory()[0] - before) / probe
    tracemalloc.stop()
    base = _rss()
    peak = base
    emitted = probe
    end = time.monotonic() + seconds
    info = log.info
    start = time.perf_counter()
    while time.monotonic() < end:
        for i in range(1000):
            info("row %d", i)
        emitted += 1000
        if emitted % 50_000 < 1000:
            peak = max(peak, _rss())
    wall = time.perf_counter() - start
    peak = max(peak, _rss())
    slow.clear()  # the store at full speed again, so the backlog is stored promptly
    runtime.flush(120)
    status = ts.stop()
    return {"overflow": overflow, "emitted": emitted, "stored": status["sources"].get("user", 0),
            "dropped": status["dropped"], "rate": (emitted - probe) / wall, "capacity": capacity,
            "peak_growth": peak - base, "bound": queue_size * per_item, "per_item": per_item}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--capacity", type=int, default=10_000, help="rows/s the slowed store takes")
    args = parser.parse_args()
    print(f"W6 overload: the store slowed to {args.capacity:,} rows/s, one thread logging for {args.seconds:g} s")
    print(f"  {'overflow':8s} {'emitted':>10s} {'stored':>10s} {'dropped':>10s} {'accounted':>9s} "
          f"{'rate/cap':>8s} {'peak RSS +MiB':>13s} {'bound MiB':>9s} {'B/item':>7s}")
    for overflow in ("drop", "block"):
        code = (f"import runpy, json, sys; sys.path.insert(0, {str(CHECKOUT)!r}); "
                f"print(json.dumps(runpy.run_path({str(HERE)!r})['run']({args.seconds}, {args.capacity}, "
                f"{overflow!r})))")
        with tempfile.TemporaryDirectory() as home:
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 env={**os.environ, "TASKSCOPE_HOME": home})
        r = json.loads(out.stdout.strip().splitlines()[-1])
        accounted = r["emitted"] / max(1, r["stored"] + r["dropped"])
        print(f"  {r['overflow']:8s} {r['emitted']:10,d} {r['stored']:10,d} {r['dropped']:10,d} {accounted:9.2f} "
              f"{r['rate'] / r['capacity']:8.1f} {r['peak_growth'] / 2**20:13.1f} {r['bound'] / 2**20:9.1f} "
              f"{r['per_item']:7.0f}", flush=True)


if __name__ == "__main__":
    main()
