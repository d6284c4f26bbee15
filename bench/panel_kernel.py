"""Kernel side of the log panel benchmarks (bench/panel_bench.spec.ts).

Imported into the benchmark notebook's kernel: fills the recording session's store with
ready-made rows as fast as the writer takes them, and emits log lines through the real
capture path at a steady rate from a background thread.
"""

from __future__ import annotations

import json
import threading
import time

import taskscope as ts
from taskscope import runtime

CHUNK = 50_000  # below the collector's queue bound (100k): nothing is dropped


def fill(n: int) -> str:
    """Store ``n`` more rows (every 10th a WARNING); JSON with the time it took."""
    started = time.perf_counter()
    done = 0
    while done < n:
        k = min(CHUNK, n - done)
        base = runtime.status()["last_seq"]
        rows = [
            {
                "level": "WARNING" if (base + i) % 10 == 0 else "INFO",
                "levelno": 30 if (base + i) % 10 == 0 else 20,
                "logger": f"bench.mod{i % 7}",
                "msg": f"bench row {base + i} lorem ipsum dolor sit amet, consectetur adipiscing elit",
                "task": f"work-{i % 100}",
            }
            for i in range(k)
        ]
        accepted = runtime.enqueue_rows(rows)
        if accepted != k:
            raise RuntimeError(f"queue took {accepted} of {k} rows")
        if not runtime.flush(120):
            raise RuntimeError("the writer did not store a chunk in 120 s")
        done += k
    seconds = time.perf_counter() - started
    return json.dumps({"rows": n, "seconds": seconds, "stored": runtime.status()["rows"]})


def emit(rate: float, seconds: float, logger: str = "bench.tail") -> None:
    """Log ``rate`` lines a second for ``seconds`` from a thread, in 10 ms steps."""

    def run() -> None:
        log = ts.logger.getLogger(logger)
        step = 0.01
        per_step = max(1, round(rate * step))
        n = 0
        deadline = time.time() + seconds
        due = time.time()
        while time.time() < deadline:
            for _ in range(per_step):
                log.info("tail row %d", n)
                n += 1
            due += step
            time.sleep(max(0.0, due - time.time()))
        done.set()

    done = threading.Event()
    emit.done = done  # type: ignore[attr-defined]
    threading.Thread(target=run, name="bench-emit", daemon=True).start()
