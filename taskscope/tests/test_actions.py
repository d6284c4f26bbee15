"""Actions written: ts.action, ts.log_call, cells as roots, every row's action and cell.

In-process tests start a real recording and read the store file; the cell tests run a
real ipykernel.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import numpy as np
import pytest

from taskscope.tests.conftest import Kernel, read_actions, read_rows


def recorded(runtime: Any) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """Flush, then the rows and the actions (by type, the last of each) of the session."""
    assert runtime.flush() is True
    path = runtime.store_path()
    actions = read_actions(path)
    return read_rows(path), {a["type"]: a for a in actions}


def test_log_call_records_inputs_result_duration_and_nesting(fresh_runtime: Any) -> None:
    import taskscope as ts

    ts.start()
    log = ts.logger.getLogger("calc")

    @ts.log_call
    def multiply(a: int, b: int) -> int:
        log.info("multiplying %d by %d", a, b)
        return a * 0

    @ts.log_call
    def multiplysum(a: int, b: int, c: int) -> int:
        return multiply(a, b) + multiply(b, c)

    assert multiplysum(1, 2, 4) == 0
    rows, actions = recorded(fresh_runtime)
    outer = actions["multiplysum"]
    assert (outer["status"], json.loads(outer["fields"]), json.loads(outer["result"])) == (
        "succeeded", {"a": 1, "b": 2, "c": 4}, 0)
    inner = read_actions(fresh_runtime.store_path(), "type = 'multiply'")
    assert [json.loads(a["fields"]) for a in inner] == [{"a": 1, "b": 2}, {"a": 2, "b": 4}]
    assert {a["parent"] for a in inner} == {outer["action"]}
    assert outer["parent"] == "" and outer["duration"] >= sum(a["duration"] for a in inner) > 0
    assert outer["finished"] == pytest.approx(outer["started"] + outer["duration"], abs=0.05)
    said = [r for r in rows if r["logger"] == "calc"]
    assert [r["action"] for r in said] == [a["action"] for a in inner]
    starts = [r for r in rows if r["source"] == "action" and r["logger"] == "multiply"]
    assert [r["msg"] for r in starts][:2] == ["multiply started: a=1, b=2", "multiply succeeded in "
                                              + starts[1]["msg"].split(" in ", 1)[1]]
    assert starts[1]["msg"].endswith("-> 0")


def test_include_args_and_include_result(fresh_runtime: Any) -> None:
    import taskscope as ts

    ts.start()

    @ts.log_call(include_args=["n"], include_result=False)
    def simulate(n: int, big_array: Any) -> list[int]:
        return [n] * 3

    assert simulate(3, np.zeros(5)) == [3, 3, 3]
    _, actions = recorded(fresh_runtime)
    assert json.loads(actions["simulate"]["fields"]) == {"n": 3}
    assert actions["simulate"]["result"] is None and actions["simulate"]["status"] == "succeeded"


def test_an_exception_is_recorded_and_reraised_unchanged(fresh_runtime: Any) -> None:
    import taskscope as ts

    ts.start()
    raised = ZeroDivisionError("division by zero <b>")

    @ts.log_call
    def divide(x: int) -> float:
        raise raised

    with pytest.raises(ZeroDivisionError) as caught:
        divide(1)
    assert caught.value is raised
    rows, actions = recorded(fresh_runtime)
    failed = actions["divide"]
    assert failed["status"] == "failed" and failed["error"] == "ZeroDivisionError: division by zero <b>"
    end = [r for r in rows if r["action"] == failed["action"] and r["level"] == "ERROR"]
    assert len(end) == 1 and "Traceback (most recent call last)" in end[0]["text"]
    assert "raise raised" in end[0]["text"]


def test_methods_skip_self_and_star_args_are_kept(fresh_runtime: Any) -> None:
    import taskscope as ts

    ts.start()

    class Model:
        @ts.log_call
        def fit(self, x: int, *rest: int, scale: float = 1.0) -> int:
            return x

        @classmethod
        @ts.log_call
        def make(cls, name: str) -> str:
            return name

    assert Model().fit(1, 2, 3, scale=0.5) == 1 and Model.make("m") == "m"
    _, actions = recorded(fresh_runtime)
    fit = actions["Model.fit"]
    assert json.loads(fit["fields"]) == {"x": 1, "rest": [2, 3], "scale": 0.5}
    make = actions["Model.make"]
    assert json.loads(make["fields"]) == {"name": "m"}


def test_inputs_go_through_the_safe_conversion_and_are_frozen_at_the_call(fresh_runtime: Any) -> None:
    import taskscope as ts

    ts.start()

    class Evil:
        def __repr__(self) -> str:
            raise RuntimeError("no repr for you")

    @ts.log_call
    def take(items: list[int], evil: Evil, array: Any) -> Evil:
        items.append(99)  # after the call started: the record shows what was passed
        return evil

    given = [1, 2]
    assert isinstance(take(given, Evil(), np.arange(20_000)), Evil)
    _, actions = recorded(fresh_runtime)
    fields = json.loads(actions["take"]["fields"])
    assert fields["items"] == [1, 2]
    assert fields["evil"].startswith("<taskscope: repr() of") and "RuntimeError" in fields["evil"]
    assert "20000" in json.dumps(fields["array"]) and len(json.dumps(fields["array"])) < 2000
    assert json.loads(actions["take"]["result"]) == fields["evil"]


def test_ts_action_fields_log_and_success_fields(fresh_runtime: Any) -> None:
    import taskscope as ts

    ts.start()
    with ts.action("load", path="/data/x.csv") as act:
        act.log("header read", rows=12)
        act.add_success_fields(rows=12)
        print("inside load")
    with pytest.raises(KeyError), ts.action("parse"):
        raise KeyError("column")
    rows, actions = recorded(fresh_runtime)
    load = actions["load"]
    assert (load["status"], json.loads(load["fields"]), json.loads(load["result"])) == (
        "succeeded", {"path": "/data/x.csv"}, {"rows": 12})
    logged = next(r for r in rows if r["msg"] == "header read")
    assert logged["action"] == load["action"] == act.id and json.loads(logged["extra"]) == {"rows": 12}
    assert next(r for r in rows if r["msg"] == "inside load")["action"] == load["action"]
    assert actions["parse"]["status"] == "failed" and actions["parse"]["error"] == "KeyError: 'column'"


def test_async_functions_and_tasks_keep_their_own_action(fresh_runtime: Any) -> None:
    import taskscope as ts

    ts.start()
    log = ts.logger.getLogger("aio")

    @ts.log_call
    async def fetch(n: int) -> int:
        await asyncio.sleep(0.01 * (3 - n))
        log.info("fetched %d", n)
        return n * 10

    async def main() -> list[int]:
        async with ts.action("crawl", pages=3):
            return list(await asyncio.gather(*(fetch(n) for n in range(3))))

    assert asyncio.run(main()) == [0, 10, 20]
    rows, _ = recorded(fresh_runtime)
    fetches = read_actions(fresh_runtime.store_path(), "type = 'fetch'")
    crawl = read_actions(fresh_runtime.store_path(), "type = 'crawl'")[0]
    assert sorted(json.loads(a["result"]) for a in fetches) == [0, 10, 20]
    assert {a["parent"] for a in fetches} == {crawl["action"]}
    by_action = {a["action"]: json.loads(a["fields"])["n"] for a in fetches}
    for row in (r for r in rows if r["logger"] == "aio"):
        assert row["msg"] == f"fetched {by_action[row['action']]}"


def test_a_thread_inherits_the_action_only_when_wrapped(fresh_runtime: Any) -> None:
    import taskscope as ts

    ts.start()
    log = ts.logger.getLogger("threads")

    def work(name: str) -> None:
        log.info(name)

    with ts.action("outer") as outer:
        for target in (work, ts.preserve_context(work)):
            thread = threading.Thread(target=target, args=("plain" if target is work else "wrapped",))
            thread.start()
            thread.join()
    rows, _ = recorded(fresh_runtime)
    got = {r["msg"]: r["action"] for r in rows if r["logger"] == "threads"}
    assert got == {"plain": "", "wrapped": outer.id}


def test_not_recording_a_decorated_function_is_a_plain_call(fresh_runtime: Any) -> None:
    import taskscope as ts

    @ts.log_call
    def double(x: int) -> int:
        return 2 * x

    with ts.action("idle") as act:
        assert double(2) == 4
        act.log("nobody listens")
    assert act.id == ""
    ts.start()
    assert double(3) == 6
    _, actions = recorded(fresh_runtime)
    assert list(actions) == ["double"] and json.loads(actions["double"]["fields"]) == {"x": 3}


# --- in a real kernel ---------------------------------------------------------------------------


def test_each_cell_is_a_root_with_its_count_and_id(kernel: Kernel) -> None:
    kernel.run_ok("import taskscope as ts\nts.start()\nlog = ts.logger.getLogger('cells')")
    kernel.run_ok("@ts.log_call\ndef f(x):\n    log.info('in f %s', x)\n    return x\n", cell_id="cell-a")
    counted = kernel.run_ok("f(1)\nprint('after f')", cell_id="cell-b")
    count = counted.reply["content"]["execution_count"]
    failed = kernel.execute("log.warning('about to fail')\n1/0", cell_id="cell-c")
    assert failed.reply["content"]["status"] == "error"
    assert kernel.evaluate("ts.runtime.flush()") is True
    path = kernel.evaluate("str(ts.runtime.store_path())")
    cells = {json.loads(a["fields"])["cell_id"]: a for a in read_actions(path, "type = 'cell'")}
    assert {"cell-a", "cell-b", "cell-c"} <= set(cells)
    b, c = cells["cell-b"], cells["cell-c"]
    assert b["cell"] == f"{count}:cell-b" and b["status"] == "succeeded" and b["parent"] == ""
    assert json.loads(b["fields"]) == {"execution_count": count, "cell_id": "cell-b", "code": "f(1)"}
    assert c["cell"] == f"{count + 1}:cell-c" and c["status"] == "failed"
    assert c["error"] == "ZeroDivisionError: division by zero"
    f = read_actions(path, "type = 'f'")[0]
    assert f["parent"] == b["action"] and f["cell"] == b["cell"]
    rows = read_rows(path, "logger IN ('cells', 'stdout') OR source = 'user' AND msg LIKE 'ZeroDivision%'")
    where = {r["msg"]: (r["action"], r["cell"]) for r in rows}
    assert where["in f 1"] == (f["action"], b["cell"])
    assert where["after f"] == (b["action"], b["cell"])
    assert where["about to fail"] == (c["action"], c["cell"])
    assert where["ZeroDivisionError: division by zero"] == (c["action"], c["cell"])


def test_an_action_open_when_the_kernel_is_killed_stays_started(make_kernel: Any) -> None:
    kernel = make_kernel()
    kernel.run_ok("import taskscope as ts, threading\nts.start()\n"
                  "_act = ts.action('long job', n=3)\n_act.__enter__()\n"
                  "ts.logger.getLogger('job').info('working')")
    assert kernel.evaluate("ts.runtime.flush()") is True
    path = kernel.evaluate("str(ts.runtime.store_path())")
    kernel.kill()
    job = read_actions(path, "type = 'long job'")
    assert len(job) == 1
    assert (job[0]["status"], job[0]["finished"], job[0]["duration"]) == ("started", None, None)
    assert json.loads(job[0]["fields"]) == {"n": 3}
    assert [r["action"] for r in read_rows(path, "logger = 'job'")] == [job[0]["action"]]
