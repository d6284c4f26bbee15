"""W1: what capture adds to an emitting call, in a plain process and in a real ipykernel.

Prints figures; never passes or fails on time. Each figure is a ratio against a baseline
measured in the same process, alternating on/off runs and keeping the best of each:

- ``logger.info``: the same logger with a NullHandler, capture off vs on.
  "hot path" runs keep the writer asleep (large interval, queue big enough), so they
  show only what the emitting thread pays; "with writer" runs let it drain meanwhile
  (on 2 cores it competes for the GIL) for the cost end to end.
- ``print()``: to the stream the process has (an in-memory sink in the plain process,
  ipykernel's OutStream in the kernel) vs the same through the tee.
- a disabled call (``logger.debug`` on a library logger): capture off vs on.
- formatting choice: ``logger.info("%s", a_list)`` (mutable args: formatted on the hot
  path) vs ``logger.info("%s", an_int)`` (deferred to the writer).

Targets (docs/architecture.md): <= 1 us added per record, <= 1.5 us per print, disabled calls unchanged.

    .venv/bin/python bench/w1_emit_cost.py [--n 200000] [--no-kernel]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the checkout, installed or not

import argparse
import io
import json
import logging
import os
import tempfile
import time
from typing import Any, Callable

HERE = Path(__file__).resolve()


def _best_per_call(fn: Callable[[int], None], n: int, repeat: int) -> float:
    """The best of ``repeat`` timings of ``fn(n)``, in microseconds per call.

    The minimum of many short runs is the figure least disturbed by other load on the
    machine (the cost of the call itself, not of what else ran meanwhile).
    """
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - start)
    return best / n * 1e6


def _info_int(log: logging.Logger) -> Callable[[int], None]:
    def run(n: int) -> None:
        for i in range(n):
            log.info("value %d", i)
    return run


def _info_plain(log: logging.Logger) -> Callable[[int], None]:
    def run(n: int) -> None:
        for _ in range(n):
            log.info("a plain message")
    return run


def _info_list(log: logging.Logger) -> Callable[[int], None]:
    data = [1, 2, 3]

    def run(n: int) -> None:
        for _ in range(n):
            log.info("value %s", data)
    return run


def _debug_disabled(log: logging.Logger) -> Callable[[int], None]:
    def run(n: int) -> None:
        for i in range(n):
            log.debug("not shown %d", i)
    return run


def _prints(n: int) -> None:
    for i in range(n):
        print("line", i)  # four writes: "line", " ", str(i), "\n"


def _prints_one(n: int) -> None:
    for _ in range(n):
        print("one preformatted line")  # two writes: the text, "\n"


def measure(n: int = 200_000, repeat: int = 5, print_n: int | None = None) -> dict[str, Any]:
    """Every W1 figure in this process (plain or kernel); rows go to a temporary store."""
    import taskscope
    from taskscope import runtime

    print_n = print_n or n
    log = logging.getLogger("bench.emit")  # a library logger
    log.setLevel(logging.INFO)
    log.addHandler(logging.NullHandler())
    quiet = logging.getLogger("bench.quiet")  # library logger left at its natural level
    hot = {"flush_interval": 3600.0, "batch_size": 10**9, "queue_size": 10**8}
    cases = {
        "info %d": _info_int(log),
        "info plain": _info_plain(log),
        "info %s list (eager format)": _info_list(log),
        "debug disabled": _debug_disabled(quiet),
    }
    results: dict[str, Any] = {"n": n, "print_n": print_n, "taskscope": taskscope.__version__,
                               "from": str(Path(taskscope.__file__).resolve().parent)}
    for label, options in (("hot path", hot), ("with writer", {})):
        for name, fn in cases.items():
            results[f"{name} [{label}]"] = _on_off(runtime, fn, n, repeat, options)
    results["print('line', i) [hot path]"] = _on_off(runtime, _prints, print_n, repeat, hot, sink=True)
    results["print('line', i) [with writer]"] = _on_off(runtime, _prints, print_n, repeat, {}, sink=True)
    results["print(text) [hot path]"] = _on_off(runtime, _prints_one, print_n, repeat, hot, sink=True)
    results["print(text) [with writer]"] = _on_off(runtime, _prints_one, print_n, repeat, {}, sink=True)
    return results


def _on_off(runtime: Any, fn: Callable[[int], None], n: int, repeat: int,
            options: dict[str, Any], sink: bool = False, rounds: int = 3) -> dict[str, float]:
    """Best us/call with capture off and on (alternating rounds), and the difference.

    Each round times ``repeat`` runs of ``n // repeat`` calls off, then on. With ``sink``
    outside a kernel, stdout is a fresh in-memory sink (the tee wraps it when capture
    starts); in a kernel it is ipykernel's own OutStream.
    """
    in_kernel = hasattr(sys.stdout, "set_parent")
    per_run = max(1, n // repeat)
    off: list[float] = []
    on: list[float] = []
    for _ in range(rounds):
        for capture, timings in ((False, off), (True, on)):
            saved = sys.stdout
            if sink and not in_kernel:
                sys.stdout = io.StringIO()
            try:
                if capture:
                    runtime.start(**options)
                timings.append(_best_per_call(fn, per_run, repeat))
            finally:
                if capture:
                    runtime.stop()
                    runtime._reset()
                sys.stdout = saved
    best_off, best_on = min(off), min(on)
    return {"off_us": round(best_off, 3), "on_us": round(best_on, 3),
            "added_us": round(best_on - best_off, 3), "ratio": round(best_on / best_off, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000, help="calls per case and round")
    parser.add_argument("--repeat", type=int, default=10, help="short runs per round (best is kept)")
    parser.add_argument("--no-kernel", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["TASKSCOPE_HOME"] = home
        plain = measure(args.n, args.repeat)
        _report("plain process", plain)
        if not args.no_kernel:
            _report("real ipykernel", _in_kernel(home, args.n, args.repeat))


def _in_kernel(home: str, n: int, repeat: int) -> dict[str, Any]:
    """Run :func:`measure` inside a real ipykernel (python3 kernelspec) and return its figures."""
    from _kernel import in_kernel

    code = (
        f"import runpy, json\n"
        f"_w1 = runpy.run_path({str(HERE)!r})\n"
        f"_w1_result = json.dumps(_w1['measure']({n}, {repeat}, print_n={min(n, 10_000)}))\n"
    )
    return in_kernel(code, "_w1_result", {"TASKSCOPE_HOME": home})


def _report(where: str, results: dict[str, Any]) -> None:
    print(f"\nW1 emit cost, {where} (calls per case and round: {results['n']}, prints: {results['print_n']});"
          " us per call, best of short runs")
    print(f"  taskscope {results['taskscope']} from {results['from']}")
    print(f"  {'case':40s} {'off':>8s} {'on':>8s} {'added':>8s} {'ratio':>6s}")
    for name, figures in results.items():
        if isinstance(figures, dict):
            print(f"  {name:40s} {figures['off_us']:8.3f} {figures['on_us']:8.3f} "
                  f"{figures['added_us']:8.3f} {figures['ratio']:6.2f}")


if __name__ == "__main__":
    main()
