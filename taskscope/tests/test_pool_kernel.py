"""In a real ipykernel: a process pool's children print; each line is one row, the child's.

A spawned child inherits the kernel's fd 1/2 (ipykernel's capture pipes): its lines reach
the notebook and the kernel's fd capture as well as the child's own capture. A forked
child's ``sys.stdout`` is ipykernel's stream, which sends to the kernel by its own pipe.
Either way the notebook shows each line and the store has it once, with the child's pid
and task id.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from taskscope.tests.conftest import Kernel, read_rows
from taskscope.tests.test_dask_kernel import wait_rows

CELL = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
import taskscope as ts
from taskscope.tests.test_pool import shout
ts.start()
with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context({method!r}), initializer=ts.pool.initializer,
                         initargs=ts.pool.initargs()) as ex:
    pids = sorted(set(ex.map(ts.pool.task(shout), range(3), [{method!r}] * 3)))
"""


@pytest.mark.parametrize("method", ["spawn", "fork"])
def test_each_line_a_pool_child_prints_is_one_row_with_its_task(kernel: Kernel, method: str) -> None:
    execution = kernel.run_ok(CELL.format(method=method))
    store = Path(kernel.evaluate("str(ts.runtime.store_path())"))
    pids = kernel.evaluate("pids")
    wait_rows(kernel, store, f"msg LIKE '{method} complains %' AND task != ''", 3)
    later = kernel.run_ok("ts.stop()")  # every row the kernel held back is stored now
    for stream, verb in (("stdout", "says"), ("stderr", "complains")):
        rows = read_rows(store, f"logger = '{stream}' AND msg LIKE '{method} {verb} %'")
        assert sorted(r["msg"] for r in rows) == [f"{method} {verb} {i}" for i in range(3)]
        assert all(r["pid"] in pids and r["task"].startswith("shout-") for r in rows)
        notebook = "".join(m["content"]["text"] for e in (execution, later) for m in e.messages + e.others
                           if m["msg_type"] == "stream" and m["content"]["name"] == stream)
        assert all(f"{method} {verb} {i}" in notebook for i in range(3)), notebook  # (lines may interleave)
