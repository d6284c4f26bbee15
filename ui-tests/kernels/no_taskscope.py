"""Start a real ipykernel in which ``import taskscope`` fails as if it were not installed.

Used by the ``taskscope-absent`` kernelspec that jupyter_server_test_config.py registers:
the UI tests need a Python kernel without taskscope, and the venv's interpreter is the only
one here with ipykernel (taskscope is installed there editable, through a .pth path entry).
"""

import importlib.abc
import sys


class _HideTaskscope(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname == "taskscope" or fullname.startswith("taskscope."):
            raise ModuleNotFoundError(f"No module named {fullname!r}", name=fullname)
        return None


sys.meta_path.insert(0, _HideTaskscope())
# The script's folder is not a place to import from.
sys.path[:] = [p for p in sys.path if p not in ("", sys.path[0])]

from ipykernel import kernelapp  # noqa: E402

kernelapp.launch_new_instance()
