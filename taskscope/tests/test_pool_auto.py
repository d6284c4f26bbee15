"""Pools with no set-up: while recording, pools made in the kernel without taskscope's
initializer are captured and their calls are tasks (taskscope.remote.autopool).

Real pools of 2 (fork, spawn, forkserver; ProcessPoolExecutor, multiprocessing.Pool,
joblib's loky). Functions run in the children are module functions (spawned children
import this module by name).
"""

from __future__ import annotations

import inspect
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.pool import Pool, ThreadPool
from pathlib import Path
from typing import Any

import pytest

import taskscope as ts
from taskscope import runtime
from taskscope.remote import pool
from taskscope.tests.conftest import Kernel, read_rows
from taskscope.tests.test_pool import extra, wait_rows

LOGGER = "tspool.auto"


# --- functions run in the children ----------------------------------------------------------


def work(i: int) -> dict[str, Any]:
    logging.getLogger(LOGGER).info("auto info %d", i)
    print("auto print", i)
    warnings.warn(f"auto warned {i}", UserWarning, stacklevel=1)
    return {"pid": os.getpid(), "name": multiprocessing.current_process().name,
            "installed": pool.installed(), "task": getattr(pool._current, "task", None)}


def fail(i: int) -> None:
    raise KeyError(f"no item {i}")


def item_key(i: int) -> str:
    return f"item-{i}"


def mark(path: str, text: str) -> None:
    """A user's initializer: says whether taskscope's ran before it."""
    with open(path, "a") as f:
        f.write(f"{text} {os.getpid()} {pool.installed()}\n")


def marks(path: Path) -> list[tuple[str, int, bool]]:
    if not path.exists():
        return []
    return [(t, int(p), i == "True") for t, p, i in (line.split() for line in path.read_text().splitlines())]


# --- helpers ---------------------------------------------------------------------------------


def task_rows(rows: list[dict[str, Any]], results: list[dict[str, Any]]) -> None:
    """Each result's call has its own task id, and its rows carry it: the log line, the
    print, the warning and exactly one started and one finished row, from that child."""
    ids = [r["task"] for r in results]
    assert all(ids) and len(set(ids)) == len(ids)
    for result in results:
        mine = [r for r in rows if r["task"] == result["task"]]
        assert {(r["pid"], r["worker"]) for r in mine} == {(result["pid"], result["name"])}
        msgs = {(r["logger"], r["msg"]) for r in mine}
        i = next(int(m.split()[-1]) for lg, m in msgs if lg == LOGGER)
        assert ("stdout", f"auto print {i}") in msgs
        assert any(m == f"UserWarning: auto warned {i}" for _, m in msgs)
        assert [extra(r)["event"] for r in mine if r["logger"] == "taskscope.task"] == ["started", "finished"]


def logged(rows: list[dict[str, Any]]) -> int:
    return sum(r["logger"] == LOGGER for r in rows)


def joblib_run(values: range, path: Path, **kwargs: Any) -> list[dict[str, Any]]:
    import joblib

    return joblib.Parallel(n_jobs=2, backend="loky", initializer=mark, initargs=(str(path), "joblib"),
                           **kwargs)(joblib.delayed(work)(i) for i in values)


PATCHED = {
    ProcessPoolExecutor: ("__init__", "submit", "map"),
    Pool: ("__init__", "apply", "apply_async", "map", "map_async", "imap", "imap_unordered", "starmap",
           "starmap_async"),
}


def class_attributes() -> dict[tuple[type, str], Any]:
    from joblib.executor import MemmappingExecutor

    found = {(cls, name): cls.__dict__.get(name) for cls, names in PATCHED.items() for name in names}
    for name in ("get_memmapping_executor", "submit"):
        found[(MemmappingExecutor, name)] = MemmappingExecutor.__dict__.get(name)
    return found


# --- tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_process_pool_executor_is_captured_with_no_initializer(fresh_runtime: Any, method: str) -> None:
    runtime.start()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context(method)) as executor:
        results = list(executor.map(work, range(2)))
        results.append(executor.submit(work, 2).result(timeout=60))
        with pytest.raises(KeyError):
            executor.submit(fail, 3).result(timeout=60)
    assert all(r["installed"] for r in results)
    rows = wait_rows(lambda rs: logged(rs) == 3 and any(extra(r).get("event") == "erred" for r in rs))
    task_rows(rows, results)
    [erred] = [r for r in rows if extra(r).get("event") == "erred"]
    assert erred["task"].startswith(f"fail-{erred['pid']}-") and "KeyError: 'no item 3'" in erred["text"]
    # map's chunks are not tasks of their own: every task row is one of these four calls
    assert {r["task"] for r in rows if r["logger"] == "taskscope.task"} == {r["task"] for r in results} | {erred["task"]}


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_a_multiprocessing_pool_is_captured_with_no_initializer(fresh_runtime: Any, method: str) -> None:
    runtime.start()
    workers = multiprocessing.get_context(method).Pool(2)
    try:
        results = [workers.apply(work, (0,)), workers.apply_async(work, (1,)).get(timeout=60),
                   *workers.map(work, [2]), *workers.imap(work, [3]), *workers.starmap(work, [(4,)])]
        with pytest.raises(KeyError):
            workers.apply_async(fail, (5,)).get(timeout=60)
    finally:
        workers.close()  # the children end normally and ship everything
        workers.join()
    assert all(r["installed"] for r in results)
    assert {r["name"].split("-")[0] for r in results} <= {"ForkPoolWorker", "SpawnPoolWorker", "ForkServerPoolWorker"}
    rows = wait_rows(lambda rs: logged(rs) == 5 and any(extra(r).get("event") == "erred" for r in rs))
    task_rows(rows, results)  # apply (which calls apply_async) is one task, not two
    assert sum(extra(r).get("event") == "erred" for r in rows) == 1


def test_joblib_loky_is_captured_and_its_executor_renewed_at_start_and_stop(fresh_runtime: Any,
                                                                            tmp_path: Path) -> None:
    """joblib reuses its loky executor while Parallel's arguments are the same: the one made
    before start() captures nothing, so recording gets a fresh one, which is reused for the
    recording, and stop() a fresh one again (each made with the same user initializer)."""
    path = tmp_path / "marks"
    before = joblib_run(range(2), path)
    assert not any(r["installed"] for r in before)
    runtime.start()
    during = joblib_run(range(2, 4), path)
    ts.logger.getLogger("tspool.auto.late")  # a new user logger changes no argument joblib compares
    during += joblib_run(range(4, 6), path)
    assert all(r["installed"] and r["name"].startswith("LokyProcess") for r in during)
    rows = wait_rows(lambda rs: logged(rs) == 4)
    task_rows(rows, during)
    runtime.stop()
    after = joblib_run(range(6, 8), path)
    assert not any(r["installed"] for r in after)
    # the user's initializer ran in every worker, after ours: captured only while recording
    installed = {pid: i for _, pid, i in marks(path)}
    phases = [{r["pid"] for r in phase} for phase in (before, during, after)]
    assert [{installed[pid] for pid in phase} for phase in phases] == [{False}, {True}, {False}]
    assert not (phases[0] & phases[1]) and not (phases[1] & phases[2])  # a fresh executor each time
    assert sum(installed.values()) <= 2  # one executor of 2 workers for both calls while recording
    assert logged(read_rows(runtime.store_path())) == 4  # none from before or after


def test_the_pools_own_initializer_runs_after_ours(fresh_runtime: Any, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    runtime.start()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"), initializer=mark,
                             initargs=(str(path), "executor")) as executor:
        assert executor.submit(work, 0).result(timeout=60)["installed"]
    # positional, as multiprocessing.Pool() itself calls the class
    workers = multiprocessing.get_context("spawn").Pool(2, mark, (str(path), "pool"))
    try:
        assert workers.apply(work, (1,))["installed"]
    finally:
        workers.close()
        workers.join()
    seen = marks(path)
    assert {text for text, _, _ in seen} == {"executor", "pool"}
    assert sum(text == "pool" for text, _, _ in seen) == 2
    assert all(installed for _, _, installed in seen)


def test_a_pool_set_up_by_hand_is_not_set_up_twice(fresh_runtime: Any, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    runtime.start()
    initargs = ts.pool.initargs(then=mark, args=(str(path), "hand"))
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=ts.pool.initializer,
                             initargs=initargs) as executor:
        assert executor._initargs is initargs  # as given: not wrapped in a second initializer
        keyed = executor.submit(ts.pool.task(work, key=item_key), 7).result(timeout=60)
        plain = executor.submit(work, 8).result(timeout=60)
    assert keyed["task"] == "item-7" and plain["task"].startswith(f"work-{plain['pid']}-")
    rows = wait_rows(lambda rs: logged(rs) == 2)
    task_rows(rows, [keyed, plain])  # a task(fn) given is not wrapped again: one started row
    seen = marks(path)
    assert seen and len({pid for _, pid, _ in seen}) == len(seen) and all(i for _, _, i in seen)


def test_turned_off_no_pool_is_captured(fresh_runtime: Any, tmp_path: Path) -> None:
    path = tmp_path / "marks"
    unpatched = class_attributes()
    runtime.start(pools=False)
    assert class_attributes() == unpatched
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as executor:
        result = executor.submit(work, 0).result(timeout=60)
    assert result["installed"] is False and result["task"] is None
    assert not any(r["installed"] for r in joblib_run(range(2), path))
    assert not any(installed for _, _, installed in marks(path))
    runtime.flush()
    assert logged(read_rows(runtime.store_path())) == 0
    assert runtime.status()["recording"]


def test_stop_puts_the_classes_back_and_pools_made_before_or_after_are_untouched(fresh_runtime: Any) -> None:
    unpatched = class_attributes()
    signatures = {key: inspect.signature(getattr(*key)) for key in unpatched}
    early = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork"))
    try:
        runtime.start()
        patched = class_attributes()
        assert all(patched[key] is not value for key, value in unpatched.items())
        # the signatures users (and IDEs) see are the pools' own
        assert {key: inspect.signature(getattr(key[0], key[1])) for key in signatures} == signatures
        result = early.submit(work, 0).result(timeout=60)
        assert result["installed"] is False and result["task"] is None
        runtime.stop()
        assert class_attributes() == unpatched
        runtime.start()
        runtime.stop()
        assert class_attributes() == unpatched  # nothing stacks over several recordings
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as late:
            result = late.submit(work, 1).result(timeout=60)
        assert result["installed"] is False and result["task"] is None
    finally:
        early.shutdown()
    assert logged(read_rows(runtime.store_path())) == 0


def current_task(_: Any = None) -> Any:
    return getattr(pool._current, "task", None)


def test_a_wrong_call_fails_as_without_taskscope_and_thread_pools_are_left_alone(fresh_runtime: Any) -> None:
    runtime.start()
    with pytest.raises(TypeError, match="initializer must be a callable"):
        ProcessPoolExecutor(2, initializer=5)
    with pytest.raises(TypeError, match="initializer must be a callable"):
        multiprocessing.get_context("fork").Pool(2, 5)
    with pytest.raises(TypeError):
        ProcessPoolExecutor(2, no_such_argument=1)
    with ThreadPool(2) as threads:
        assert threads._initializer is None and threads.apply(current_task) is None
    with pytest.raises(TypeError, match="pools must be True or False"):
        runtime.start(pools="no")
    assert runtime.options()["pools"] is True  # a refused start changes nothing


def test_joblib_imported_after_start_is_captured(tmp_path: Path) -> None:
    code = """if True:
        import json, sys
        import taskscope as ts
        imported_before = "joblib" in sys.modules
        ts.start()
        import joblib
        from taskscope.tests.test_pool_auto import work
        out = joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(work)(i) for i in range(2))
        ts.stop()
        print(json.dumps([imported_before, [bool(r["installed"] and r["task"]) for r in out]]))
    """
    env = {**os.environ, "TASKSCOPE_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env,
                         timeout=120)
    assert json.loads(out.stdout.splitlines()[-1]) == [False, [True, True]]


def test_a_set_up_that_fails_costs_the_capture_not_the_pool(fresh_runtime: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault injected (the real patching does not fail here): start() goes on, a SYSTEM
    row says why, and pools work as without taskscope."""
    from taskscope.remote import autopool

    def broken() -> None:
        raise RuntimeError("no pools today")

    monkeypatch.setattr(autopool, "_patch_stdlib", broken)
    assert runtime.start()["recording"]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as executor:
        result = executor.submit(work, 0).result(timeout=60)
    assert result["installed"] is False and result["task"] is None
    runtime.flush()
    assert any("could not set up taskscope.remote.autopool: RuntimeError: no pools today" in r["msg"]
               for r in read_rows(runtime.store_path()))


def test_lifecycle_rows_off_by_hand_keep_the_task_id(fresh_runtime: Any) -> None:
    """initargs(lifecycle=False): calls keep their task id, without started/finished rows
    (ts.pool.task sent them regardless before)."""
    runtime.start()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=ts.pool.initializer,
                             initargs=ts.pool.initargs(lifecycle=False)) as executor:
        result = executor.submit(ts.pool.task(work, key=item_key), 1).result(timeout=60)
        executor.submit(work, 2).result(timeout=60)  # made a task with no set-up: no rows either
    rows = wait_rows(lambda rs: logged(rs) == 2)
    assert result["task"] == "item-1" and {r["task"] for r in rows if r["msg"] == "auto info 1"} == {"item-1"}
    assert not any(r["logger"] == "taskscope.task" for r in rows)


KERNEL_CELL = """
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
import joblib
import taskscope as ts
from taskscope.tests.test_pool_auto import work
ts.start()
with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as ex:
    results = list(ex.map(work, range(2)))
results += joblib.Parallel(n_jobs=2, backend="loky")(joblib.delayed(work)(i) for i in range(2, 4))
"""


def test_in_a_real_kernel_pools_are_captured_with_no_set_up(kernel: Kernel) -> None:
    from taskscope.tests.test_dask_kernel import wait_rows as wait_kernel_rows

    kernel.run_ok(KERNEL_CELL)
    store = Path(kernel.evaluate("str(ts.runtime.store_path())"))
    results = kernel.evaluate("results")
    rows = wait_kernel_rows(kernel, store, f"logger = '{LOGGER}' AND task != ''", 4)
    kernel.run_ok("ts.stop()")
    assert all(r["installed"] for r in results)
    assert sorted((r["task"], r["pid"], r["worker"]) for r in rows) == \
        sorted((r["task"], r["pid"], r["name"]) for r in results)
