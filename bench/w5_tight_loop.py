"""W5: a tight logging loop, as a user runs it: does every row get stored, and at what cost?

Prints figures; never passes or fails on time. Each variant runs in a fresh process (a
plain ``python`` and a real ipykernel), the loop ``log.info("row %d", i)`` from 1 or 4
threads, default ``start()`` settings unless the variant says otherwise:

- ``none``: no capture (the same logger, no handler): the baseline of the same invocation;
- ``block``: capture with the default ``overflow="block"``;
- ``drop``: capture with ``overflow="drop"`` (what taskscope did before ``overflow``).

For each: rows stored and dropped, the loop's wall time and its ratio to ``none``, and the
CPU the process added per record (every thread: the loop's and the writer's; measured
until ``flush()`` says every row is committed) against ``none``.

Issue 13's targets: 0 rows lost for 1,000,000 records from 1 and from 4 threads, in a plain
script and in a real kernel; CPU added per record <= 4 us.

    .venv/bin/python bench/w5_tight_loop.py [--n 1000000] [--no-kernel]
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

VARIANTS: tuple[tuple[str, dict[str, Any] | None], ...] = (
    ("none", None), ("block", {}), ("drop", {"overflow": "drop"}),
)


def loop(n: int, threads: int, options: dict[str, Any] | None) -> dict[str, Any]:
    """Log ``n`` records from ``threads`` threads (with capture when ``options`` is not
    None) and return what was stored and what it cost. Runs in the measured process."""
    import logging
    import threading
    import time

    import taskscope as ts
    from taskscope import runtime

    if options is not None:
        ts.start(**options)
        log = ts.logger.getLogger("w5")
    else:
        log = logging.getLogger("w5")
        log.setLevel(logging.DEBUG)
        log.propagate = False  # no handler at all: what the calls cost by themselves
    per_thread = n // threads
    barrier = threading.Barrier(threads + 1)

    def work() -> None:
        info = log.info
        barrier.wait()
        for i in range(per_thread):
            info("row %d", i)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    cpu0 = time.process_time()
    barrier.wait()
    start = time.perf_counter()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - start
    stored = dropped = 0
    if options is not None:
        runtime.flush(120)
        status = ts.status()
        stored, dropped = status["sources"].get("user", 0), status["dropped"]
    cpu = time.process_time() - cpu0
    if options is not None:
        ts.stop()
    return {"n": per_thread * threads, "wall": wall, "cpu": cpu, "stored": stored, "dropped": dropped}


def _plain(n: int, threads: int, options: dict[str, Any] | None, home: str) -> dict[str, Any]:
    code = (f"import runpy, json, sys; sys.path.insert(0, {str(CHECKOUT)!r}); "
            f"print(json.dumps(runpy.run_path({str(HERE)!r})['loop']({n}, {threads}, {options!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "TASKSCOPE_HOME": home})
    return json.loads(out.stdout.strip().splitlines()[-1])


def _kernel(n: int, threads: int, options: dict[str, Any] | None, home: str) -> dict[str, Any]:
    from _kernel import in_kernel

    code = (f"import runpy, json\n"
            f"_w5 = json.dumps(runpy.run_path({str(HERE)!r})['loop']({n}, {threads}, {options!r}))\n")
    return in_kernel(code, "_w5", {"TASKSCOPE_HOME": home, "PYTHONPATH": str(CHECKOUT)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="records per variant")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--no-kernel", action="store_true")
    args = parser.parse_args()
    places = [("plain process", _plain)] + ([] if args.no_kernel else [("real ipykernel", _kernel)])
    print(f"W5 tight loop: {args.n:,} log.info calls a variant, default settings unless named; "
          "CPU: the whole process until every row is committed")
    for where, run in places:
        for threads in args.threads:
            print(f"\n  {where}, {threads} thread(s)")
            print(f"  {'variant':8s} {'stored':>10s} {'dropped':>10s} {'loop s':>8s} {'vs none':>8s}"
                  f" {'cpu us/rec':>11s} {'added':>8s}")
            base: dict[str, Any] | None = None
            for name, options in VARIANTS:
                with tempfile.TemporaryDirectory() as home:
                    r = run(args.n, threads, options, home)
                per = r["cpu"] / r["n"] * 1e6
                if base is None:
                    base = r
                added = per - base["cpu"] / base["n"] * 1e6
                print(f"  {name:8s} {r['stored'] if options is not None else '-':>10} "
                      f"{r['dropped'] if options is not None else '-':>10} {r['wall']:8.2f} "
                      f"{r['wall'] / base['wall']:8.2f} {per:11.2f} {added:8.2f}", flush=True)


if __name__ == "__main__":
    main()
