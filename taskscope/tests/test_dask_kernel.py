"""In a real ipykernel: a cell makes a LocalCluster client while recording; the workers'
rows land in the kernel's store, attached with nothing but ``ts.start()``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from taskscope.tests.conftest import Kernel, read_rows

CELL = """
import logging
import taskscope as ts
ts.start()
from distributed import Client, LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                       dashboard_address=None, host="127.0.0.1")
client = Client(cluster)

def work(i):
    logging.getLogger("kernel.work").warning("from the worker %d", i)
    print("worker print", i)
    return i

print(client.gather(client.map(work, range(3))))
"""


def test_a_cluster_made_in_a_cell_sends_its_rows_to_the_kernel(kernel: Kernel) -> None:
    execution = kernel.run_ok(CELL)
    assert "[0, 1, 2]" in execution.streams("stdout")
    store = Path(kernel.evaluate("str(ts.runtime.store_path())"))
    deadline = time.monotonic() + 60
    while True:
        kernel.run_ok("ts.runtime.flush()")
        rows = read_rows(store, "logger = 'kernel.work'")
        if len(rows) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(r["msg"] for r in rows) == [f"from the worker {i}" for i in range(3)]
    worker_pid = kernel.evaluate("list(client.run(__import__('os').getpid).values())[0]")
    assert {r["pid"] for r in rows} == {worker_pid} != {kernel.pid}
    assert all(r["worker"].startswith("tcp://127.0.0.1:") and r["task"].startswith("work-") for r in rows)
    assert all(json.loads(r["extra"])["attempt"] == 1 for r in rows)
    prints = read_rows(store, "logger = 'stdout' AND msg LIKE 'worker print %'")
    remote = [r for r in prints if r["worker"]]
    assert len(remote) == 3 and all(r["task"].startswith("work-") for r in remote)
    # The workers write to the kernel's own stdout (a LocalCluster's processes inherit it),
    # which the kernel captures too, as output of its fd 1: those rows have no worker.
    assert all(r["thread"] == "fd 1" and r["pid"] == kernel.pid for r in prints if not r["worker"])
    attached: Any = kernel.evaluate("[a['auto'] for a in __import__('taskscope.dask').dask.attached()]")
    assert attached == [True]
    kernel.run_ok("ts.stop(); client.close(); cluster.close()")
    stopped = read_rows(store, "msg LIKE 'taskscope capture stopped in Dask worker%'")
    assert len(stopped) == 1
