"""W8: what a pool task's action costs: tiny tasks through a ProcessPoolExecutor.

Prints figures; never passes or fails. All variants run in one invocation, alternating
rounds, and the best round of each is shown.

TASKS tasks that do nothing (``return i``) through ``ProcessPoolExecutor(2)`` (fork; made
while recording, so taskscope sets it up: every call is a task with its ``started`` and
``finished`` rows). Variants:

  (a) not recording: the pool as without taskscope;
  (b) recording, the task rows without actions: the children's ``pool:task`` actions
      switched off (what taskscope did before tasks were actions; forked children
      inherit the switch);
  (c) recording, each call a ``pool:task`` action, submitted outside any action (roots);
  (d) as (c), submitted inside ``ts.action("batch")``: each a child of it.

Figures: seconds until ``map`` returned and until every task's rows are stored, CPU
seconds of the kernel and of the two children (robust to other load, unlike wall time),
and per task: CPU added against (a) and against (b) (the action's own cost: a task's
fields made in the child, a larger envelope on its two rows, two upserts in the kernel).

    .venv/bin/python bench/w8_pool_actions.py [--tasks 2000] [--rounds 3]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, installed or not

import argparse
import multiprocessing
import os
import sqlite3
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from typing import Any

from w3_remote import cpu_of  # this folder is the script's: /proc CPU of the children


def tiny(i: int) -> int:
    return i


def count(path: Path, sql: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


FINISHED = "SELECT COUNT(*) FROM rows WHERE logger = 'taskscope.task' AND msg LIKE '% finished%'"
POOL_TASKS = "SELECT COUNT(*) FROM actions WHERE type = 'pool:task'"


def stored_so_far(ts: Any, sql: str) -> int:
    """What the session's store holds so far (the store outlives a stop and a start)."""
    ts.runtime.flush()
    try:
        return count(ts.runtime.store_path(), sql)
    except sqlite3.OperationalError:  # no such table yet
        return 0


def wait_finished(ts: Any, rows: int, timeout: float = 300.0) -> None:
    """Until ``rows`` tasks' ``finished`` rows are in the store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stored_so_far(ts, FINISHED) >= rows:
            return
        time.sleep(0.02)
    raise RuntimeError("the task rows never all arrived")


def one_round(variant: str, tasks: int, ts: Any) -> dict[str, Any]:
    from taskscope.remote import pool

    recording = variant != "a"
    plain_open = pool._open_action
    if variant == "b":
        pool._open_action = lambda *args: (None, None)  # the children fork with it
    try:
        finished0 = actions0 = 0
        if recording:
            ts.start()
            finished0 = stored_so_far(ts, FINISHED)
        executor = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
        list(executor.map(tiny, range(4)))  # the children are up
        if recording:
            wait_finished(ts, finished0 + 4)
            finished0, actions0 = finished0 + 4, stored_so_far(ts, POOL_TASKS)
        pids = list(executor._processes)  # noqa: SLF001 - the children, for their CPU
        kernel0, workers0 = time.process_time(), cpu_of(pids)
        began = time.perf_counter()
        with ts.action("batch") if variant == "d" else nullcontext():
            done = sum(executor.map(tiny, range(tasks)))
        computed = time.perf_counter() - began
        if recording:
            wait_finished(ts, finished0 + tasks)
        finished = time.perf_counter() - began
        kernel, workers = time.process_time() - kernel0, cpu_of(pids) - workers0
        executor.shutdown()
        actions = 0
        if recording:
            actions = stored_so_far(ts, POOL_TASKS) - actions0
            ts.stop()
    finally:
        pool._open_action = plain_open
    assert done == tasks * (tasks - 1) // 2
    return {"computed": computed, "done": finished, "kernel_cpu": kernel, "workers_cpu": workers,
            "actions": actions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("TASKSCOPE_HOME", tempfile.mkdtemp(prefix="taskscope-w8-"))

    import taskscope as ts

    print(f"W8 pool task actions: {args.tasks} tiny tasks through ProcessPoolExecutor(2, fork), "
          f"taskscope {ts.__version__}, {os.cpu_count()} cores")
    labels = {"a": "not recording", "b": "recording, task rows without actions",
              "c": "recording, pool:task actions (roots)", "d": "as c, inside ts.action('batch')"}
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in labels}
    for _ in range(args.rounds):
        for variant in labels:
            results[variant].append(one_round(variant, args.tasks, ts))
            print(f"  ({variant}): {results[variant][-1]}", flush=True)

    def best(variant: str, key: str) -> float:
        return min(r[key] for r in results[variant])

    n = args.tasks
    print(f"\n{n:,} tasks per round; best of {args.rounds} rounds")
    print(f"  {'variant':44} {'map s':>8} {'stored s':>9} {'CPU s: kernel':>14} {'children':>9} {'actions':>8}")
    for variant, label in labels.items():
        print(f"  ({variant}) {label:40} {best(variant, 'computed'):8.3f} {best(variant, 'done'):9.3f}"
              f" {best(variant, 'kernel_cpu'):14.3f} {best(variant, 'workers_cpu'):9.3f}"
              f" {max(r['actions'] for r in results[variant]):8d}")
    cpu = {v: best(v, "kernel_cpu") + best(v, "workers_cpu") for v in labels}
    for variant in "cd":
        print(f"  {variant}/b end to end (every row stored):   {best(variant, 'done') / best('b', 'done'):.2f};"
              f" CPU {cpu[variant] / cpu['b']:.2f}")
    for variant in "bcd":
        against_b = "" if variant == "b" else (
            f"; against (b): kernel {(best(variant, 'kernel_cpu') - best('b', 'kernel_cpu')) / n * 1e6:+.1f} us,"
            f" children {(best(variant, 'workers_cpu') - best('b', 'workers_cpu')) / n * 1e6:+.1f} us")
        print(f"  CPU per task added by ({variant}) against (a): {(cpu[variant] - cpu['a']) / n * 1e6:+.1f} us{against_b}")
    print("  (CPU from /proc in clock ticks, 10 ms: at this size a tick is "
          f"{0.01 / n * 1e6:.1f} us a task; run --tasks 20000 for finer figures)")


if __name__ == "__main__":
    main()
