"""`import taskscope` runs in every kernel the front end talks to: it must stay light."""

from __future__ import annotations

import json
import subprocess
import sys


def test_import_loads_neither_pandas_nor_numpy() -> None:
    code = (
        "import json, sys, taskscope, taskscope.bridge\n"
        "print(json.dumps({m: m in sys.modules for m in ('pandas', 'numpy')}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {"pandas": False, "numpy": False}


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
