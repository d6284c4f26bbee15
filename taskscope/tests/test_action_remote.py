"""Actions across processes: a notebook cell -> a ``@ts.log_call`` -> Dask tasks on a
LocalCluster with worker processes -> actions inside the tasks; a retried task; Eliot's
actions in the kernel and in a worker, rendered back by ``eliot-tree``.

Everything runs for real: an ipykernel, a LocalCluster (processes, 127.0.0.1), Eliot.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from taskscope.tests.conftest import Kernel, eliot_tree_text, read_actions, read_rows
from taskscope.tests.test_dask_kernel import wait_rows

SETUP = """
import logging, os, tempfile
import taskscope as ts
ts.start()
from distributed import Client, LocalCluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                       dashboard_address=None, host="127.0.0.1")
client = Client(cluster)
marker = os.path.join(tempfile.mkdtemp(), "failed-once")

def step(i):
    logging.getLogger("job.step").warning("step %d outside", i)
    with ts.action("worker part", i=i) as act:
        act.log("halfway", i=i)
        print("printed in worker part", i)
    return i * 10

def flaky(marker):
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise ValueError("the first attempt fails")
    return "second attempt worked"
"""

RUN = """
@ts.log_call
def pipeline(n):
    results = client.gather(client.map(step, range(n)))
    again = client.submit(flaky, marker, retries=1, pure=False).result()
    return results, again

print(pipeline(3))
"""


def _by_id(actions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {a["action"]: a for a in actions}


def test_a_cell_traces_into_dask_tasks_and_the_actions_inside_them(make_kernel: Any) -> None:
    kernel: Kernel = make_kernel()
    kernel.run_ok(SETUP, cell_id="setup-cell")
    ran = kernel.run_ok(RUN, cell_id="run-cell")
    assert "([0, 10, 20], 'second attempt worked')" in ran.streams("stdout")
    count = ran.reply["content"]["execution_count"]
    store = Path(kernel.evaluate("str(ts.runtime.store_path())"))
    wait_rows(kernel, store, "logger = 'taskscope.task' AND msg LIKE 'task % finished%'", 4)
    wait_rows(kernel, store, "source = 'action' AND logger = 'worker part'", 6)
    actions = read_actions(store)
    cell = next(a for a in actions if a["type"] == "cell" and a["cell"] == f"{count}:run-cell")
    pipeline = next(a for a in actions if a["type"] == "pipeline")
    assert pipeline["parent"] == cell["action"] and pipeline["cell"] == cell["cell"]
    assert pipeline["status"] == "succeeded" and json.loads(pipeline["fields"]) == {"n": 3}

    tasks = [a for a in actions if a["type"] == "dask:task"]
    steps = [t for t in tasks if t["task"].startswith("step-")]
    assert len(steps) == 3 and {t["parent"] for t in steps} == {pipeline["action"]}
    assert all(t["status"] == "succeeded" and t["worker"].startswith("tcp://127.0.0.1:") for t in steps)
    assert all(t["cell"] == cell["cell"] and t["pid"] != kernel.pid for t in steps)
    assert all(json.loads(t["fields"])["key"] == t["task"] for t in steps)

    # three levels below the cell: pipeline (kernel) -> dask:task -> worker part (worker)
    parts = [a for a in actions if a["type"] == "worker part"]
    by_id = _by_id(actions)
    assert sorted(json.loads(p["fields"])["i"] for p in parts) == [0, 1, 2]
    for part in parts:
        task = by_id[part["parent"]]
        assert task["type"] == "dask:task" and task["task"] == part["task"] and task["worker"] == part["worker"]
        assert by_id[task["parent"]] is pipeline and part["cell"] == cell["cell"]

    # rows inside a task nest under its run's action, or the action open in it
    rows = read_rows(store, "worker != '' AND (logger IN ('job.step', 'worker part', 'stdout'))")
    task_of = {t["task"]: t["action"] for t in steps}
    part_of = {p["task"]: p["action"] for p in parts}
    outside = [r for r in rows if r["logger"] == "job.step"]
    inside = [r for r in rows if r["msg"].startswith(("halfway", "printed in worker part"))]
    assert len(outside) == 3 and len(inside) == 6
    assert all(r["action"] == task_of[r["task"]] and r["cell"] == cell["cell"] for r in outside)
    assert all(r["action"] == part_of[r["task"]] and r["cell"] == cell["cell"] for r in inside)

    # the retried task: each attempt its own child of pipeline, the first failed
    attempts = sorted((t for t in tasks if t["task"].startswith("flaky-")), key=lambda t: t["started"])
    assert [(json.loads(t["fields"])["attempt"], t["status"]) for t in attempts] == [(1, "failed"), (2, "succeeded")]
    assert {t["parent"] for t in attempts} == {pipeline["action"]}
    assert "the first attempt fails" in attempts[0]["error"]
    assert attempts[0]["action"] != attempts[1]["action"] and len({t["task"] for t in attempts}) == 1

    tree = kernel.evaluate("ts.logger.dataset.tree(type='pipeline')._repr_mimebundle_()['text/plain']")
    assert "pipeline/SUCCEEDED" in tree and tree.count("dask:task/") == 5 and tree.count("worker part/") == 3
    assert "dask:task/FAILED" in tree


ELIOT = """
import eliot

def eliot_in_worker(x):
    with eliot.start_action(action_type="worker eliot", x=x):
        eliot.log_message(message_type="worker says", x=x)
    return x

@eliot.log_call
def eliot_double(x):
    eliot.log_message(message_type="doubling", x=x)
    return 2 * x

with eliot.start_action(action_type="eliot outer", n=2) as outer:
    eliot_double(2)
    print(client.submit(eliot_in_worker, 5, pure=False).result())
    outer.add_success_fields(done=True)
"""


def test_eliot_actions_in_the_kernel_and_in_workers_are_taskscope_actions(make_kernel: Any, tmp_path: Path) -> None:
    kernel: Kernel = make_kernel()
    kernel.run_ok(SETUP)
    ran = kernel.run_ok(ELIOT, cell_id="eliot-cell")
    assert "5" in ran.streams("stdout")
    store = Path(kernel.evaluate("str(ts.runtime.store_path())"))
    wait_rows(kernel, store, "source = 'action' AND logger = 'worker eliot'", 2)
    actions = read_actions(store)
    by_id = _by_id(actions)
    outer = next(a for a in actions if a["type"] == "eliot outer")
    double = next(a for a in actions if a["type"].endswith("eliot_double"))
    worker = next(a for a in actions if a["type"] == "worker eliot")
    assert by_id[outer["parent"]]["type"] == "cell" and by_id[outer["parent"]]["cell"].endswith(":eliot-cell")
    assert json.loads(outer["result"]) == {"done": True} and json.loads(outer["fields"]) == {"n": 2}
    assert double["parent"] == outer["action"] and json.loads(double["result"]) == 4
    task = by_id[worker["parent"]]
    assert task["type"] == "dask:task" and task["parent"] == outer["action"] and worker["pid"] != kernel.pid
    said = read_rows(store, "msg IN ('doubling', 'worker says')")
    assert {r["msg"]: r["action"] for r in said} == {"doubling": double["action"], "worker says": worker["action"]}

    path = tmp_path / "trace.log"
    written = kernel.evaluate(f"ts.logger.dataset.to_eliot({str(path)!r})")
    assert written > 0
    with path.open() as lines:
        drawing, errors = eliot_tree_text([json.loads(line) for line in lines])
    assert errors == []
    for name in ("eliot outer", "eliot_double", "dask:task", "worker eliot"):
        assert name in drawing
    assert drawing.index("eliot outer") < drawing.index("dask:task") < drawing.index("worker eliot")
