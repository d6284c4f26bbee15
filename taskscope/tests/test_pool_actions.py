"""Actions across process pools: a task submitted inside an action is a ``pool:task``
child action in the child process (taskscope.remote.pool_actions, remote.autopool).

Real pools of 2 (ProcessPoolExecutor with fork and spawn, multiprocessing.Pool, joblib's
loky), and a real ipykernel for cells. Functions run in the children are module
functions (spawned children import this module by name).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

import taskscope as ts
from taskscope import runtime
from taskscope.remote import pool
from taskscope.tests.conftest import Kernel, read_actions, read_rows

LOGGER = "tspool.actions"
FAILING = 3


# --- functions run in the children ----------------------------------------------------------


@ts.log_call
def double(x: int) -> int:
    logging.getLogger(LOGGER).info("double %d", x)
    return 2 * x


def step(i: int) -> int:
    """Logs, prints and calls a ``log_call`` function; item FAILING raises."""
    logging.getLogger(LOGGER).info("step %d", i)
    print("step print", i)
    if i == FAILING:
        raise ValueError(f"step {i} failed")
    return double(i)


def pair(i: int, j: int) -> int:
    return step(i) + j


class Unshowable:
    """An argument whose repr raises."""

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def sized(data: list[int], odd: Unshowable, *, label: str) -> int:
    return len(data)


# --- helpers ---------------------------------------------------------------------------------


def wait_actions(ready: Callable[[list[dict[str, Any]]], bool], timeout: float = 60.0) -> list[dict[str, Any]]:
    """The session's actions once ``ready`` says so (flushing the kernel's side each time)."""
    deadline = time.monotonic() + timeout
    while True:
        runtime.flush()
        actions = read_actions(runtime.store_path())
        if ready(actions):
            return actions
        if time.monotonic() > deadline:
            raise AssertionError("actions never matched:\n" + "\n".join(
                str((a["type"], a["status"], a["parent"], a["fields"])) for a in actions))
        time.sleep(0.1)


def fields(action: dict[str, Any]) -> dict[str, Any]:
    return json.loads(action["fields"]) if action["fields"] else {}


def tasks_under(actions: list[dict[str, Any]], parent: str) -> dict[int, dict[str, Any]]:
    """The finished ``pool:task`` actions of ``step`` directly under ``parent``, by its argument."""
    return {fields(a)["args"][0]: a for a in actions if a["type"] == "pool:task" and a["parent"] == parent
            and a["status"] != "started" and fields(a)["function"] == "step"}


def all_finished(parent: str, values: list[int]) -> Callable[[list[dict[str, Any]]], bool]:
    """Every task of ``values`` under ``parent`` finished, and the ``double`` inside each that succeeded."""
    def ready(actions: list[dict[str, Any]]) -> bool:
        tasks = tasks_under(actions, parent)
        inner = {a["parent"] for a in actions if a["type"] == "double" and a["status"] == "succeeded"}
        return set(values) <= set(tasks) and all(
            t["action"] in inner for i, t in tasks.items() if i != FAILING)
    return ready


def check_tasks(actions: list[dict[str, Any]], parent: str, values: list[int], cell: str = "") -> None:
    """Each value's call is one ``pool:task`` action under ``parent`` in a child, with its
    task id and function; ``double`` nests under it; the rows inside carry the right action;
    the failing one is failed with its error and has no ``double``."""
    tasks = tasks_under(actions, parent)
    assert sorted(tasks) == sorted(values)
    rows = read_rows(runtime.store_path(), "pid != ?", (os.getpid(),))
    for i, task in tasks.items():
        given = fields(task)
        assert given["function"] == "step" and given["task"] == task["task"]
        assert task["task"].startswith("step-") and task["worker"] and task["pid"] != os.getpid()
        assert task["cell"] == cell and task["duration"] is not None and task["seq"] is not None
        inside = [a for a in actions if a["parent"] == task["action"]]
        mine = {(r["logger"], r["msg"]): r for r in rows if r["task"] == task["task"]}
        assert mine[(LOGGER, f"step {i}")]["action"] == task["action"]
        assert mine[("stdout", f"step print {i}")]["action"] == task["action"]
        assert all(r["cell"] == cell for r in mine.values())
        if i == FAILING:
            assert task["status"] == "failed" and task["error"] == f"ValueError: step {i} failed"
            assert inside == []
            [erred] = [r for (logger, msg), r in mine.items() if logger == "taskscope.task" and " erred " in msg]
            assert erred["action"] == task["action"] and "Traceback" in erred["text"]
            continue
        assert task["status"] == "succeeded" and task["error"] is None
        [inner] = inside
        assert inner["type"] == "double" and fields(inner) == {"x": i} and json.loads(inner["result"]) == 2 * i
        assert inner["task"] == task["task"] and inner["pid"] == task["pid"] and inner["cell"] == cell
        assert mine[(LOGGER, f"double {i}")]["action"] == inner["action"]


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_process_pool_executor_tasks_are_pool_task_actions_under_the_submitting_action(
        fresh_runtime: Any, method: str) -> None:
    runtime.start()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method)) as executor:
        with ts.action("batch") as batch:
            futures = [executor.submit(step, i) for i in range(3)] + [executor.submit(step, FAILING)]
            mapped = list(executor.map(step, [4, 5]))
            with pytest.raises(ValueError, match="step 3 failed"):  # the task's own exception, unchanged
                futures[-1].result(timeout=60)
            assert [f.result(timeout=60) for f in futures[:3]] + mapped == [0, 2, 4, 8, 10]
        outside = executor.submit(step, 6).result(timeout=60)
    assert outside == 12
    actions = wait_actions(lambda acts: all_finished(batch.id, [0, 1, 2, 3, 4, 5])(acts)
                           and all_finished("", [6])(acts))
    check_tasks(actions, batch.id, [0, 1, 2, FAILING, 4, 5])
    check_tasks(actions, "", [6])  # submitted outside any action: a root
    [batch_row] = [a for a in actions if a["action"] == batch.id]
    assert batch_row["type"] == "batch" and batch_row["status"] == "succeeded"


def test_multiprocessing_pool_tasks_are_pool_task_actions(fresh_runtime: Any) -> None:
    runtime.start()
    workers = multiprocessing.get_context("fork").Pool(2)
    try:
        with ts.action("batch") as batch:
            got = [workers.apply(step, (0,)), workers.apply_async(step, (1,)).get(timeout=60),
                   *workers.map(step, [2]), *workers.imap_unordered(step, [4]), workers.starmap(pair, [(5, 1)])[0]]
            with pytest.raises(ValueError, match="step 3 failed"):
                workers.apply_async(step, (FAILING,)).get(timeout=60)
        assert got == [0, 2, 4, 8, 11]
        assert workers.apply(step, (6,)) == 12
    finally:
        workers.close()
        workers.join()
    actions = wait_actions(lambda acts: all_finished(batch.id, [0, 1, 2, 3, 4])(acts)
                           and all_finished("", [6])(acts)
                           and any(a["type"] == "pool:task" and fields(a)["function"] == "pair" for a in acts))
    check_tasks(actions, batch.id, [0, 1, 2, FAILING, 4])
    check_tasks(actions, "", [6])
    [starred] = [a for a in actions if a["type"] == "pool:task" and fields(a)["function"] == "pair"]
    assert starred["parent"] == batch.id and fields(starred)["args"] == [5, 1]


def test_joblib_tasks_are_pool_task_actions_also_those_dispatched_from_its_threads(fresh_runtime: Any) -> None:
    """joblib sends the first 2 * n_jobs batches from the call and the rest from its callback
    threads: each is a child of the action open at the call."""
    import joblib

    runtime.start()
    values = [v for v in range(16) if v != FAILING]
    with ts.action("batch") as batch:
        assert joblib.Parallel(n_jobs=2, backend="loky", batch_size=1)(
            joblib.delayed(step)(i) for i in values) == [2 * i for i in values]
        # joblib SIGKILLs its workers when a task fails: what they had not sent yet is lost
        # (flush_interval's worth), but the failing task's own rows are sent before it returns
        wait_actions(all_finished(batch.id, values))
        with pytest.raises(ValueError, match="step 3 failed"):
            joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(step)(i) for i in [FAILING])
    assert joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(step)(i) for i in [16]) == [32]
    actions = wait_actions(lambda acts: all_finished(batch.id, [*values, FAILING])(acts)
                           and all_finished("", [16])(acts))
    check_tasks(actions, batch.id, [*values, FAILING])
    check_tasks(actions, "", [16])
    assert {a["worker"].split("-")[0] for a in actions if a["type"] == "pool:task"} == {"LokyProcess"}


def test_a_task_of_the_users_is_given_the_action_in_a_copy(fresh_runtime: Any) -> None:
    runtime.start()
    mine = ts.pool.task(step, key=None)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as executor:
        with ts.action("first") as first:
            assert executor.submit(mine, 0).result(timeout=60) == 0
        with ts.action("second") as second:
            assert list(executor.map(mine, [1])) == [2]
    assert mine.where is None  # the user's object is not changed
    actions = wait_actions(lambda acts: all_finished(first.id, [0])(acts) and all_finished(second.id, [1])(acts))
    check_tasks(actions, first.id, [0])
    check_tasks(actions, second.id, [1])


def test_without_lifecycle_rows_the_calls_nest_under_the_submitting_action(fresh_runtime: Any) -> None:
    """``initargs(lifecycle=False)``: no task rows, so no pool:task action to carry; rows and
    actions inside a call belong to the action it was submitted in."""
    runtime.start()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"), initializer=ts.pool.initializer,
                             initargs=ts.pool.initargs(lifecycle=False)) as executor:
        with ts.action("batch") as batch:
            assert executor.submit(step, 1).result(timeout=60) == 2
    actions = wait_actions(lambda acts: any(a["type"] == "double" and a["status"] == "succeeded" for a in acts))
    assert not any(a["type"] == "pool:task" for a in actions)
    [inner] = [a for a in actions if a["type"] == "double"]
    assert inner["parent"] == batch.id
    [logged] = read_rows(runtime.store_path(), "logger = ? AND msg = 'step 1'", (LOGGER,))
    assert logged["action"] == batch.id and logged["task"].startswith("step-")


def test_arguments_are_summarised_at_a_bounded_size(fresh_runtime: Any) -> None:
    runtime.start()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as executor:
        with ts.action("batch") as batch:
            assert executor.submit(sized, list(range(100_000)), Unshowable(), label="x" * 10_000).result(60) == 100_000
    actions = wait_actions(lambda acts: any(a["type"] == "pool:task" and a["status"] == "succeeded" for a in acts))
    [task] = [a for a in actions if a["type"] == "pool:task"]
    given = fields(task)
    assert task["parent"] == batch.id and given["function"] == "sized"
    data, odd = given["args"]
    assert data.startswith("[0, 1, 2") and len(data) < 300
    assert "Unshowable" in odd  # its repr raised: a marked stand-in
    assert len(given["kwargs"]["label"]) < 300
    assert len(task["fields"]) < 1000


def test_a_pool_made_while_not_recording_sends_no_submitting_action(fresh_runtime: Any) -> None:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork")) as executor:
        with ts.action("not recorded"):
            assert executor.submit(step, 1).result(timeout=60) == 2
            assert executor.submit(pool.installed).result(timeout=60) is False


# --- in a real kernel ---------------------------------------------------------------------------


def test_a_pool_task_submitted_in_a_cell_is_a_child_of_the_cell(kernel: Kernel) -> None:
    kernel.run_ok("import multiprocessing\nfrom concurrent.futures import ProcessPoolExecutor\n"
                  "import taskscope as ts\nfrom taskscope.tests.test_pool_actions import step\nts.start()")
    ran = kernel.run_ok("with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context('spawn')) as ex:\n"
                        "    results = list(ex.map(step, [0, 1]))", cell_id="pool-cell")
    cell = f"{ran.reply['content']['execution_count']}:pool-cell"
    assert kernel.evaluate("results") == [0, 2]
    path = Path(kernel.evaluate("str(ts.runtime.store_path())"))
    deadline = time.monotonic() + 60
    while True:
        assert kernel.evaluate("ts.runtime.flush()") is True
        actions = read_actions(path)
        tasks = [a for a in actions if a["type"] == "pool:task" and a["status"] == "succeeded"]
        if len(tasks) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    [root] = [a for a in actions if a["type"] == "cell" and a["cell"] == cell]
    assert len(tasks) == 2 and all(t["parent"] == root["action"] and t["cell"] == cell for t in tasks)
    rows = read_rows(path, "logger = ?", (LOGGER,))
    assert {r["msg"] for r in rows} == {"step 0", "step 1", "double 0", "double 1"}
    assert all(r["cell"] == cell and r["pid"] != kernel.pid for r in rows)
    by_task = {t["task"]: t["action"] for t in tasks}
    assert all(r["action"] == by_task[r["task"]] for r in rows if r["msg"].startswith("step"))
