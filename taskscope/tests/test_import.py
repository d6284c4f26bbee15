"""`import taskscope` runs in every kernel the front end talks to: it must stay light."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_loads_neither_pandas_nor_numpy() -> None:
    code = (
        "import json, sys, taskscope, taskscope.bridge\n"
        "print(json.dumps({m: m in sys.modules for m in ('pandas', 'numpy', 'distributed')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"pandas": False, "numpy": False, "distributed": False}


def test_dask_module_is_an_attribute_on_first_use() -> None:
    code = (
        "import json, taskscope as ts\n"
        "print(json.dumps(ts.dask.attached()))\n"
        "try:\n"
        "    ts.no_such_thing\n"
        "except AttributeError as error:\n"
        "    print(error)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    attached, missing = out.stdout.splitlines()
    assert json.loads(attached) == []
    assert missing == "module 'taskscope' has no attribute 'no_such_thing'"


def test_dataset_loads_pandas_when_asked() -> None:
    code = (
        "import json, sys, taskscope\n"
        "frame = taskscope.logger.dataset.get()\n"
        "print(json.dumps({'pandas': 'pandas' in sys.modules, 'columns': list(frame.columns)}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout)
    assert result["pandas"] is True
    assert result["columns"][:3] == ["seq", "created", "level"]
