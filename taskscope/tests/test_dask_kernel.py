"""In a real ipykernel: a cell makes a LocalCluster client while recording; the workers'
rows land in the kernel's store, attached with nothing but ``ts.start()``.

The workers inherit the kernel's fd 1/2 (ipykernel's capture pipes): their prints show in
the notebook as before, and each printed line is one row, the worker's own (with worker
and task), not a second one from the kernel's fd capture.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from taskscope.tests.conftest import Execution, Kernel, read_rows

CELL = """
import logging, sys
import taskscope as ts
ts.start()
from distributed import Client, LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True,
                       dashboard_address=None, host="127.0.0.1")
client = Client(cluster)

def work(i):
    logging.getLogger("kernel.work").warning("from the worker %d", i)
    print("worker print", i)
    print("worker complaint", i, file=sys.stderr)
    logging.getLogger("distributed.worker").warning("dask says %d", i)  # its console handler shows it
    return i

print(client.gather(client.map(work, range(3))))
"""


def wait_rows(kernel: Kernel, store: Path, where: str, n: int) -> list[dict[str, Any]]:
    """The rows matching ``where`` once there are ``n`` of them (or after a minute)."""
    deadline = time.monotonic() + 60
    while True:
        kernel.run_ok("ts.runtime.flush()")
        rows = read_rows(store, where)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def shown(executions: list[Execution], name: str) -> str:
    """Everything the notebook got on stream ``name`` during these executions."""
    return "".join(m["content"]["text"] for e in executions for m in e.messages + e.others
                   if m["msg_type"] == "stream" and m["content"]["name"] == name)


def test_a_cluster_made_in_a_cell_sends_its_rows_to_the_kernel(kernel: Kernel) -> None:
    executions = [kernel.run_ok(CELL)]
    assert "[0, 1, 2]" in executions[0].streams("stdout")
    store = Path(kernel.evaluate("str(ts.runtime.store_path())"))
    rows = wait_rows(kernel, store, "logger = 'kernel.work'", 3)
    assert sorted(r["msg"] for r in rows) == [f"from the worker {i}" for i in range(3)]
    worker_pid = kernel.evaluate("list(client.run(__import__('os').getpid).values())[0]")
    assert {r["pid"] for r in rows} == {worker_pid} != {kernel.pid}
    assert all(r["worker"].startswith("tcp://127.0.0.1:") and r["task"].startswith("work-") for r in rows)
    assert all(json.loads(r["extra"])["attempt"] == 1 for r in rows)
    attached: Any = kernel.evaluate("[a['auto'] for a in __import__('taskscope.dask').dask.attached()]")
    assert attached == [True]
    wait_rows(kernel, store, "msg LIKE 'worker complaint %' AND worker != ''", 3)
    executions.append(kernel.run_ok("ts.stop(); client.close(); cluster.close()"))  # every held row stored
    stopped = read_rows(store, "msg LIKE 'taskscope capture stopped in Dask worker%'")
    assert len(stopped) == 1
    started = read_rows(store, "msg LIKE 'taskscope capture started in Dask worker%'")
    assert json.loads(started[0]["extra"])["console_shared"] == {"stdout": 1, "stderr": 2}
    for stream, text in (("stdout", "worker print"), ("stderr", "worker complaint")):
        printed = read_rows(store, f"logger = '{stream}' AND msg LIKE '{text} %'")
        assert sorted(r["msg"] for r in printed) == [f"{text} {i}" for i in range(3)]  # each line once...
        assert all(r["pid"] == worker_pid and r["task"].startswith("work-") for r in printed)  # ...the worker's
        assert all(f"{text} {i}\n" in shown(executions, stream) for i in range(3))  # the notebook shows them
    # Dask's own console handler writes its log lines to the shared stderr: each is one
    # row, the worker's log row, not a second one from the kernel's fd 2.
    said = read_rows(store, "msg LIKE '%dask says %'")
    assert sorted((r["logger"], r["msg"]) for r in said) == [("distributed.worker", f"dask says {i}") for i in range(3)]
    assert all(r["pid"] == worker_pid and r["source"] == "runtime" for r in said)
    assert all(f"distributed.worker - WARNING - dask says {i}\n" in shown(executions, "stderr") for i in range(3))
    # With no handler of its own, the worker's warning is printed by logging's last
    # resort (taskscope's stand-in for it) to the same stderr: one row, too.
    warned = read_rows(store, "msg LIKE '%from the worker %'")
    assert sorted((r["logger"], r["msg"]) for r in warned) == [("kernel.work", f"from the worker {i}") for i in range(3)]
    assert all(f"from the worker {i}\n" in shown(executions, "stderr") for i in range(3))
    assert kernel.evaluate("ts.status()['deduplicated']") >= 12
