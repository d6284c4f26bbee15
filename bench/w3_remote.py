"""W3: remote tasks end to end: Dask workers and a process pool, with and without capture.

Prints figures; never passes or fails. All variants run in one invocation, alternating
rounds, and the best round of each is shown.

Dask: a LocalCluster with 2 worker processes (1 thread each); TASKS tasks each log
RECORDS records on an INFO logger. Variants:

  (a) no capture: the records are made and dropped (no handler takes them);
  (b) Dask's own ``client.forward_logging()``: each record is an event to the client,
      counted by a handler there as it is handled;
  (c) taskscope: ``ts.start()`` attaches the client; done when every row is in the
      session's store (queryable by ``ts.logger.dataset``);
  (d) as (c), the tasks submitted inside ``ts.action(...)``: each task then runs as a
      ``dask:task`` child action (the action travels as a Dask annotation); the d/c
      ratio is what tracing into Dask adds (target: <= 5%).

Pool: a ProcessPoolExecutor of 2, the same tasks. Variants: (a) no capture, (b) the
standard library's way (``QueueHandler`` over a ``multiprocessing`` queue, a
``QueueListener`` in the parent), (c) taskscope's initializer (ZeroMQ).

Figures: records/s until every record arrived (c: is stored), wall time ratio c/a for
the computation and end to end, throughput ratio c/b, records lost, the CPU seconds
the kernel and the workers used (robust to other load on the machine, unlike wall
time), and what the scheduler holds for the transport's topic afterwards (events and
bytes) plus the RSS growth of the process hosting the scheduler.

    .venv/bin/python bench/w3_remote.py [--tasks 200] [--records 1000] [--rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, installed or not

import argparse
import logging
import logging.handlers
import multiprocessing
import os
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable

LOGGER = "bench.remote"


# --- what the tasks do -----------------------------------------------------------------------


def emit(task: int, records: int) -> int:
    """One task: ``records`` INFO records on the bench logger."""
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.INFO)
    info = log.info
    for j in range(records):
        info("record %d of task %d", j, task)
    return records


def queue_init(queue: Any) -> None:
    """Pool child, variant (b): the stdlib QueueHandler on the bench logger."""
    log = logging.getLogger(LOGGER)
    log.handlers[:] = [logging.handlers.QueueHandler(queue)]
    log.propagate = False


def cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except OSError:
            pass
    return total


def rss_of(pid: int) -> int:
    """Resident memory of a process, bytes (Linux)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class Counter(logging.Handler):
    """Counts the bench records that reach it (variant b's arrival)."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.count = 0
        self.done = threading.Event()
        self.expected = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()


def stored(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT COUNT(*) FROM rows WHERE logger = ?", (LOGGER,)).fetchone()[0]
    finally:
        conn.close()


def wait_stored(ts: Any, total: int, timeout: float = 300.0) -> int:
    """Wait until ``total`` bench rows are in the store (or nothing more comes).

    Polls the writer's count of committed rows (cheap) and counts the bench rows in the
    store (a scan of the table, in this process: measured CPU) only once that is enough.
    """
    deadline = time.monotonic() + timeout
    last, last_change = -1, time.monotonic()
    while True:
        ts.runtime.flush()
        n = stored(ts.runtime.store_path()) if ts.runtime.status()["rows"] >= total else 0
        if n >= total:
            return n
        progress = ts.runtime.status()["rows"]
        if progress != last:
            last, last_change = progress, time.monotonic()
        if time.monotonic() - last_change > 10 or time.monotonic() > deadline:
            return stored(ts.runtime.store_path())
        time.sleep(0.01)


# --- Dask --------------------------------------------------------------------------------


def scheduler_held(client: Any, prefix: str) -> tuple[int, int]:
    """Events and payload bytes the scheduler keeps for topics starting with ``prefix``."""

    def held(dask_scheduler: Any, prefix: str = prefix) -> tuple[int, int]:
        events = nbytes = 0
        for name, topic in dask_scheduler._broker._topics.items():
            if name.startswith(prefix):
                for _, msg in topic.events:
                    events += 1
                    nbytes += len(msg) if isinstance(msg, (bytes, str)) else len(repr(msg))
        return events, nbytes

    return tuple(client.run_on_scheduler(held))  # type: ignore[return-value]


def dask_round(client: Any, variant: str, tasks: int, records: int, ts: Any) -> dict[str, Any]:
    total = tasks * records
    counter = None
    if variant == "b":
        counter = Counter()
        counter.expected = total
        log = logging.getLogger(LOGGER)
        log.handlers[:] = [counter]
        log.propagate = False
        log.setLevel(logging.INFO)
        client.forward_logging(LOGGER, level=logging.INFO)
    if variant in "cd":
        ts.runtime._reset()
        ts.start()
    rss0 = rss_of(os.getpid())
    workers = list(client.run(os.getpid).values())
    kernel_cpu, workers_cpu = cpu_of([os.getpid()]), cpu_of(workers)
    start = time.perf_counter()
    if variant == "d":
        with ts.action("w3 job", tasks=tasks):
            futures = client.map(emit, range(tasks), records=records, pure=False)
            client.gather(futures)
    else:
        futures = client.map(emit, range(tasks), records=records, pure=False)
        client.gather(futures)
    computed = time.perf_counter() - start
    if variant == "a":
        arrived, done = total, computed
    elif variant == "b":
        counter.done.wait(300)
        done = time.perf_counter() - start
        arrived = counter.count
    else:
        arrived = wait_stored(ts, total)
        done = time.perf_counter() - start
    kernel_cpu, workers_cpu = cpu_of([os.getpid()]) - kernel_cpu, cpu_of(workers) - workers_cpu
    held = scheduler_held(client, "taskscope-" if variant in "cd" else "forwarded-log-record")
    messages = ts.dask.attached()[0] if variant in "cd" else {"messages": 0, "bytes": 0}
    rss = rss_of(os.getpid()) - rss0
    if variant == "b":
        client.unforward_logging(LOGGER)
        logging.getLogger(LOGGER).handlers[:] = []
        logging.getLogger(LOGGER).propagate = True
    if variant in "cd":
        ts.stop()
    del futures
    return {"computed": computed, "done": done, "arrived": arrived, "lost": total - arrived,
            "kernel_cpu": kernel_cpu, "workers_cpu": workers_cpu, "messages": messages["messages"],
            "message_bytes": messages["bytes"], "held_events": held[0], "held_bytes": held[1], "rss": rss}


# --- pool --------------------------------------------------------------------------------


def pool_round(variant: str, tasks: int, records: int, ts: Any) -> dict[str, Any]:
    total = tasks * records
    context = multiprocessing.get_context("fork")
    initializer: Callable[..., None] | None = None
    initargs: tuple[Any, ...] = ()
    listener = None
    counter = None
    if variant == "b":
        queue = context.Queue()
        counter = Counter()
        counter.expected = total
        listener = logging.handlers.QueueListener(queue, counter)
        listener.start()
        initializer, initargs = queue_init, (queue,)
    if variant == "c":
        ts.runtime._reset()
        ts.start()
        initializer, initargs = ts.pool.initializer, ts.pool.initargs()
    with ProcessPoolExecutor(2, mp_context=context, initializer=initializer, initargs=initargs) as executor:
        executor.submit(int, 0).result()  # the children are up: time the work, not the start
        list(executor.map(int, range(4)))
        children = list(executor._processes)
        kernel_cpu, workers_cpu = cpu_of([os.getpid()]), cpu_of(children)
        start = time.perf_counter()
        list(executor.map(emit, range(tasks), [records] * tasks, chunksize=1))
        computed = time.perf_counter() - start
        if variant == "c":
            arrived = wait_stored(ts, total)
        elif variant == "b":
            counter.done.wait(300)
            arrived = counter.count
        else:
            arrived = total
        done = time.perf_counter() - start
        kernel_cpu, workers_cpu = cpu_of([os.getpid()]) - kernel_cpu, cpu_of(children) - workers_cpu
    if listener is not None:
        listener.stop()
    if variant == "c":
        ts.stop()
    return {"computed": computed, "done": done, "arrived": arrived, "lost": total - arrived,
            "kernel_cpu": kernel_cpu, "workers_cpu": workers_cpu}


# --- report ------------------------------------------------------------------------------


def best(rounds: list[dict[str, Any]], key: str = "done") -> dict[str, Any]:
    return min(rounds, key=lambda r: r[key])


def report(title: str, results: dict[str, list[dict[str, Any]]], total: int, labels: dict[str, str]) -> None:
    print(f"\n{title} ({total:,} records per round; best of {len(results['a'])} rounds)")
    print(f"  {'variant':44} {'compute s':>10} {'end-to-end s':>13} {'records/s':>11} {'lost':>6}"
          f" {'CPU s: kernel':>14} {'workers':>8}")
    for variant, label in labels.items():
        r = best(results[variant])
        rate = r["arrived"] / r["done"] if r["done"] else 0.0
        print(f"  ({variant}) {label:40} {r['computed']:10.3f} {r['done']:13.3f} {rate:11,.0f} {r['lost']:6d}"
              f" {r['kernel_cpu']:14.2f} {r['workers_cpu']:8.2f}")
    a, b, c = (best(results[v]) for v in "abc")
    print(f"  c/a wall time, computation (gather returns):      {c['computed'] / a['computed']:.2f}")
    print(f"  c/a wall time, end to end (every row stored):    {c['done'] / a['done']:.2f}")
    rate_b = b["arrived"] / b["done"]
    rate_c = c["arrived"] / c["done"]
    print(f"  c/b throughput (records/s until all arrived):    {rate_c / rate_b:.2f}")
    cpu = {v: best(results[v])["kernel_cpu"] + best(results[v])["workers_cpu"] for v in "abc"}
    print(f"  CPU seconds, kernel + workers: a {cpu['a']:.2f}, b {cpu['b']:.2f}, c {cpu['c']:.2f}"
          f" (c/a {cpu['c'] / cpu['a']:.2f}; per record added by c: {(cpu['c'] - cpu['a']) / total * 1e6:.1f} us)")
    for v in "bc":
        r, base = best(results[v]), best(results["a"])
        print(f"  CPU per record added by {v}: kernel {(r['kernel_cpu'] - base['kernel_cpu']) / total * 1e6:.1f} us,"
              f" workers {(r['workers_cpu'] - base['workers_cpu']) / total * 1e6:.1f} us")
    print(f"  records lost: b {max(r['lost'] for r in results['b'])}, c {max(r['lost'] for r in results['c'])}"
          " (worst round)")
    if "held_events" in c:
        print(f"  scheduler keeps for the topic afterwards: b {b['held_events']} events / {b['held_bytes']:,} bytes,"
              f" c {c['held_events']} events / {c['held_bytes']:,} bytes")
        size = c["message_bytes"] / max(1, c["messages"])
        print(f"  c sent {c['messages']} messages of {size / 1024:.1f} KiB on average ({c['arrived'] / max(1, c['messages']):.0f}"
              f" rows each); without taskscope's scheduler plugin the scheduler would keep the last 1000:"
              f" ~{1000 * size / 2**20:.1f} MiB at this size, at most 1000 x 8 MiB (the message cap)")
        print(f"  RSS growth of the process hosting the scheduler (and client): "
              f"b {max(r['rss'] for r in results['b']) / 2**20:.1f} MiB, c {max(r['rss'] for r in results['c']) / 2**20:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--records", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-pool", action="store_true")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--variants", default="abcd",
                        help="run only these variants (the report needs a, b and c; d is Dask only)")
    args = parser.parse_args()
    os.environ.setdefault("TASKSCOPE_HOME", tempfile.mkdtemp(prefix="taskscope-w3-"))

    import distributed

    import taskscope as ts
    import taskscope.dask  # noqa: F401 - ts.dask.attached() in the report

    total = args.tasks * args.records
    print(f"W3 remote capture: {args.tasks} tasks x {args.records} records, 2 worker processes, "
          f"taskscope {ts.__version__}, distributed {distributed.__version__}, {os.cpu_count()} cores")
    if not args.no_dask:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, host="127.0.0.1") as cluster, \
                distributed.Client(cluster) as client:
            client.gather(client.map(emit, range(4), records=10, pure=False))  # warm up imports
            results: dict[str, list[dict[str, Any]]] = {v: [] for v in "abcd"}
            for _ in range(args.rounds):
                for variant in args.variants:
                    results[variant].append(dask_round(client, variant, args.tasks, args.records, ts))
                    print(f"  dask ({variant}): {results[variant][-1]}", flush=True)
            if set("abc") <= set(args.variants):
                report("Dask LocalCluster", results, total, {
                "a": "no capture", "b": "client.forward_logging()", "c": "taskscope (log_event batches)"})
            if set("cd") <= set(args.variants):
                c, d = best(results["c"]), best(results["d"])
                print(f"  (d) inside ts.action (dask:task actions): compute {d['computed']:.3f} s,"
                      f" end to end {d['done']:.3f} s; d/c: compute {d['computed'] / c['computed']:.3f},"
                      f" end to end {d['done'] / c['done']:.3f} (target <= 1.05)")
    if not args.no_pool:
        results = {"a": [], "b": [], "c": []}
        for _ in range(args.rounds):
            for variant in args.variants.replace("d", ""):
                results[variant].append(pool_round(variant, args.tasks, args.records, ts))
                print(f"  pool ({variant}): {results[variant][-1]}", flush=True)
        if set("abc") <= set(args.variants):
            report("ProcessPoolExecutor(2), fork", results, total, {
            "a": "no capture", "b": "stdlib QueueHandler + QueueListener", "c": "taskscope (ZeroMQ batches)"})


if __name__ == "__main__":
    main()
