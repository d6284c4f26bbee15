"""The Binder demo, headless: binder/environment.yml's pip packages and binder/postBuild
installed into a fresh venv, then binder/demo.ipynb run top to bottom with nbclient on that
venv's own kernel. The rows it should produce must be in the kernel's store: the kernel's
own, the Dask workers' (with worker and task, the retried task's two attempts) and the
process pool children's.

The install is the postBuild's: `pip install ".[dask]"` from a copy of the tracked files,
with pip pinned by requirements/constraints.txt (PIP_CONSTRAINT). The copy gets this
checkout's built labextension (`make` builds it before the tests), so the build hook finds
it up to date and skips npm; test_packaging.py builds it from scratch through the hook.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from nbclient import NotebookClient

from taskscope.tests.conftest import read_actions, read_rows
from taskscope.tests.test_packaging import ROOT, tracked_copy

KERNEL_NAME = "taskscope-demo-venv"
REPORT = "TASKSCOPE-DEMO-REPORT "
# appended to the demo: stop (every row stored) and say where the rows are
LAST_CELL = f"""
import json as _json
_status = ts.stop()
print({REPORT!r} + _json.dumps({{"store": str(ts.runtime.store_path()), "module": ts.__file__,
                                "pid": os.getpid(), "dropped": _status["dropped"]}}))
"""


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _source_copy(dest: Path) -> Path:
    """The tracked files, with this checkout's built labextension newer than src/."""
    src = tracked_copy(dest)
    built = ROOT / "taskscope" / "labextension"
    if (built / "package.json").is_file():
        shutil.copytree(built, src / "taskscope" / "labextension", symlinks=False)
        now = time.time()
        for path in (src / "taskscope" / "labextension").rglob("*"):
            os.utime(path, (now, now))
    return src


def _binder_install(tmp: Path) -> Path:
    """A fresh venv with environment.yml's pip packages, then binder/postBuild run in it."""
    src = _source_copy(tmp / "repo")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    env = {k: v for k, v in os.environ.items()
           if k not in ("HATCH_JUPYTER_BUILDER_SKIP_NPM", "PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        VIRTUAL_ENV=str(venv),
        PIP_CONSTRAINT=str(ROOT / "requirements" / "constraints.txt"),
    )
    environment = yaml.safe_load((src / "binder" / "environment.yml").read_text())
    pip_packages = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *pip_packages],
         env=env, timeout=900)
    _run(["bash", str(src / "binder" / "postBuild")], cwd=src, env=env, timeout=900)
    return venv


def _execute_demo(venv: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the demo (and LAST_CELL) on the venv's kernel; what LAST_CELL reported."""
    spec = tmp / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [str(venv / "bin" / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (demo venv)",
        "language": "python",
    }))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp / "jupyter"))
    # The kernel starts in an empty folder: the checkout's taskscope must not be importable.
    workdir = tmp / "work"
    workdir.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_CURRENT_TEST", "PYTHONPATH")}
    env["DEMO_FAST"] = "1"
    nb = nbformat.read(ROOT / "binder" / "demo.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the demo without outputs"
    nb.cells.append(nbformat.v4.new_code_cell(LAST_CELL))
    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=180, startup_timeout=120,
                            resources={"metadata": {"path": str(workdir)}})
    client.execute(env=env)  # raises CellExecutionError on the first cell that fails
    # what the reader sees where the story depends on it (rows stored before the query)
    assert "multiply/SUCCEEDED" in _output(nb, 'tree(type="multiplysum")')
    assert "a=1, b=6 → 0" in _output(nb, 'tree(type="multiplysum")')
    assert "ConnectionError" in _output(nb, 'tree(task=["process-*", "fetch-*"])')
    assert "150 part-7.csv" in _output(nb, "client.gather(chunks)")
    line = next(line for line in _output(nb, LAST_CELL).splitlines() if line.startswith(REPORT))
    return json.loads(line[len(REPORT):])


def _output(nb: Any, source: str) -> str:
    """The text output (streams and text/plain) of the code cell whose source has `source`."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and source in c.source]
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.outputs)


def _extra(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["extra"]) if row["extra"] else {}


@pytest.mark.timeout(1500)
def test_binder_install_runs_the_demo_and_stores_its_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    venv = _binder_install(tmp_path)
    assert (venv / "share/jupyter/labextensions/jupyterlab-taskscope/package.json").is_file()
    lab_config = json.loads((venv / "etc/jupyter/jupyter_lab_config.json").read_text())
    assert lab_config["LabApp"]["default_url"] == "/lab/tree/binder/demo.ipynb"
    listing = _run([str(venv / "bin" / "jupyter"), "labextension", "list"], timeout=120)
    line = next(l for l in (listing.stdout + listing.stderr).splitlines() if "jupyterlab-taskscope" in l)
    assert "enabled" in line and "OK" in line, line

    report = _execute_demo(venv, tmp_path, monkeypatch)
    assert Path(report["module"]).is_relative_to(venv), report  # the venv's install, not the checkout
    assert report["dropped"] == 0
    kernel_pid = report["pid"]
    rows = read_rows(report["store"])

    def where(**match: Any) -> list[dict[str, Any]]:
        return [r for r in rows if all(r[k] == v for k, v in match.items())]

    def in_kernel(row: dict[str, Any]) -> bool:
        return row["pid"] == kernel_pid and not row["worker"] and not row["task"]

    actions = read_actions(report["store"])
    by_id = {a["action"]: a for a in actions}

    def of_type(kind: str) -> list[dict[str, Any]]:
        return [a for a in actions if a["type"] == kind]

    # 1. the wrong result: each call's inputs and result, nested as they ran, in the kernel
    (outer,) = of_type("multiplysum")
    (add,), (multiply,) = of_type("add"), of_type("multiply")
    assert [(json.loads(a["fields"]), json.loads(a["result"])) for a in (outer, add, multiply)] == [
        ({"a": 1, "b": 2, "c": 4}, 0), ({"a": 2, "b": 4}, 6), ({"a": 1, "b": 6}, 0)]
    assert add["parent"] == multiply["parent"] == outer["action"]
    assert by_id[outer["parent"]]["type"] == "cell" and outer["pid"] == kernel_pid

    # 2. durations with their inputs: input 7 is the slow one
    simulate = of_type("simulate")
    assert sorted(json.loads(a["fields"])["n"] for a in simulate) == list(range(10))
    slowest = max(simulate, key=lambda a: a["duration"])
    assert json.loads(slowest["fields"]) == {"n": 7} and slowest["status"] == "succeeded"

    # 3. Dask: the workers' logs, prints and warnings, with worker and task
    worker_address = re.compile(r"^tcp://127\.0\.0\.1:\d+$")
    pipeline = where(logger="demo.pipeline")
    assert pipeline and all(
        worker_address.match(r["worker"]) and r["pid"] != kernel_pid and r["source"] == "user"
        for r in pipeline)
    for i in range(6):
        (processing,) = where(logger="demo.pipeline", msg=f"processing chunk {i}")
        assert processing["task"] == f"process-{i}" and _extra(processing)["attempt"] == 1
        (printed,) = [r for r in where(logger="stdout", msg=f"chunk {i}: {i * 10} values") if r["worker"]]
        assert printed["task"] == f"process-{i}" and printed["source"] == "print"
        assert worker_address.match(printed["worker"])
    (warned,) = [r for r in rows if r["task"] == "process-3" and r["level"] == "WARNING"]
    assert "chunk 3 has 2 missing values" in warned["msg"] and worker_address.match(warned["worker"])
    finished = [r for r in where(logger="taskscope.task") if _extra(r).get("event") == "finished"]
    assert sorted(r["task"] for r in finished if r["task"].startswith("process-")) == [
        f"process-{i}" for i in range(6)]
    assert all(isinstance(_extra(r)["duration"], (int, float)) for r in finished)

    # ...the retried task: attempt 1 erred, attempt 2 finished
    fetch = where(task="fetch-part-7")
    lifecycle = {(_extra(r)["event"], _extra(r)["attempt"]) for r in fetch if r["logger"] == "taskscope.task"}
    assert {("started", 1), ("erred", 1), ("retried", 2), ("started", 2), ("finished", 2)} <= lifecycle
    assert [(r["msg"], _extra(r)["attempt"]) for r in fetch if r["logger"] == "demo.pipeline"] == [
        ("download of part-7.csv timed out", 1), ("downloaded part-7.csv", 2)]
    (erred,) = [r for r in fetch if _extra(r).get("event") == "erred"]
    assert erred["level"] == "ERROR" and "ConnectionError('timed out fetching part-7.csv')" in erred["text"]
    assert all(worker_address.match(r["worker"]) for r in fetch)

    # 4. the Dask job as a trace: cell -> dask:task (each attempt) -> the worker's action
    tasks = {(json.loads(a["fields"])["key"], json.loads(a["fields"])["attempt"]): a for a in of_type("dask:task")}
    assert {("fetch-part-7", 1), ("fetch-part-7", 2)} | {(f"process-{i}", 1) for i in range(6)} == set(tasks)
    assert [tasks[("fetch-part-7", n)]["status"] for n in (1, 2)] == ["failed", "succeeded"]
    assert "timed out fetching part-7.csv" in tasks[("fetch-part-7", 1)]["error"]
    job_cell = {by_id[t["parent"]]["action"] for t in tasks.values()}
    assert len(job_cell) == 1 and by_id[job_cell.pop()]["type"] == "cell"
    transforms = of_type("transform")
    assert sorted(json.loads(a["fields"])["chunk"] for a in transforms) == list(range(6))
    for transform in transforms:
        task = by_id[transform["parent"]]
        assert task["type"] == "dask:task" and task["task"] == f"process-{json.loads(transform['fields'])['chunk']}"
        assert worker_address.match(transform["worker"]) and transform["worker"] == task["worker"]

    # 5. loggers in cells
    assert [(r["level"], r["msg"]) for r in where(logger="analysis")] == [
        ("DEBUG", "loading 3 samples"), ("INFO", "fitted model"),
        ("WARNING", "sample C has a negative value")]
    assert any(in_kernel(r) and "deprecated option" in r["msg"] and r["level"] == "WARNING" for r in rows)

    # 6. the process pool: rows from the children, with task ids and lifecycle
    for sample in "ABCD":
        task = where(task=f"measure-{sample}")
        assert {r["pid"] for r in task} != {kernel_pid} and len({r["pid"] for r in task}) == 1
        assert all(re.match(r"^(Fork|Spawn|Forkserver)Process-\d+$", r["worker"]) for r in task)
        assert [r["msg"] for r in task if r["logger"] == "demo.lab"] == [f"measuring sample {sample}"]
        assert any(r["logger"] == "stdout" and r["msg"] == f"sample {sample} measured" for r in task)
        assert [_extra(r)["event"] for r in task if r["logger"] == "taskscope.task"] == ["started", "finished"]
    assert any("below the detection limit" in r["msg"] for r in where(task="measure-C", level="WARNING"))

    # 7. the long run: every step a row, then its print
    steps = where(logger="demo.training", level="INFO")
    (trained,) = [r for r in where(logger="stdout") if r["msg"].startswith("trained ")]
    assert trained["msg"] == f"trained {len(steps)} steps" and len(steps) >= 1
